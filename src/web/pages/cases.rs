//! "My cases": the cases the member works on (all cases for a supervisor).

use std::collections::HashMap;

use maud::html;

use crate::policy::Action;
use crate::web::layout::{Ctx, Page};

pub fn route(ctx: &Ctx, method: &str, segs: &[&str]) -> Option<Page> {
    match (method, segs) {
        ("GET", ["cases"]) => Some(list(ctx)),
        _ => None,
    }
}

fn list(ctx: &Ctx) -> Page {
    ctx.require(Action::ClientRead)?;
    let (cases, clients) = ctx.run(|s| {
        let cases = s.case_list(None)?;
        let clients: HashMap<i64, (String, String)> = s
            .client_list()?
            .into_iter()
            .map(|c| (c.id, (c.data.number, c.data.name)))
            .collect();
        Ok((cases, clients))
    })?;
    let title = ctx.t("web.my_cases");
    let body = html! {
        @if cases.is_empty() {
            p { (ctx.t("web.no_cases")) }
        } @else {
            table {
                thead { tr {
                    @for k in ["web.h_case", "web.h_client_number", "web.h_client_name", "web.h_stage", "web.h_workers", "web.h_opened"] {
                        th { (ctx.t(k)) }
                    }
                } }
                tbody {
                    @for c in &cases {
                        @let (number, name) = clients.get(&c.client_id).map(|(n, m)| (n.as_str(), m.as_str())).unwrap_or(("", ""));
                        tr {
                            td { a href=(format!("/cases/{}", c.id)) { (c.id) } }
                            td { (number) }
                            td { (name) }
                            td { (c.stage.label_in(ctx.lang)) }
                            td { (c.workers.join(", ")) }
                            td { (crate::domain::time::format_time(c.opened_at)) }
                        }
                    }
                }
            }
        }
    };
    Ok(ctx.page(&title, body))
}
