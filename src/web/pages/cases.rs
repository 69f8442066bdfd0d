//! "My cases": the cases the member works on (all cases for a supervisor), 50 a page, newest
//! first, under what needs attention on them (`Session::attention`).

use std::collections::HashMap;

use maud::{html, Markup};

use crate::domain::time::format_time;
use crate::policy::Action;
use crate::vault::{Attention, AttentionItem};
use crate::web::layout::{Ctx, Page};

/// Cases on one page.
pub const PER_PAGE: usize = 50;
/// The highest page number a path may name (50 million cases).
pub const MAX_PAGE: usize = 1_000_000;

pub fn route(ctx: &Ctx, method: &str, segs: &[&str]) -> Option<Page> {
    match (method, segs) {
        ("GET", ["cases"]) => Some(list(ctx, 1)),
        ("GET", ["cases", "page", raw]) => match raw.parse::<usize>() {
            // A page number beyond any vault (the offset would overflow) is simply not a page.
            Ok(n) if (1..=MAX_PAGE).contains(&n) && n.to_string() == *raw => Some(list(ctx, n)),
            _ => None,
        },
        _ => None,
    }
}

fn list(ctx: &Ctx, page: usize) -> Page {
    ctx.require(Action::ClientRead)?;
    let (cases, total, attention, clients) = ctx.run(move |s| {
        // The shown page is paged in SQL (newest first), with only its clients loaded.
        let shown = s.case_page((page - 1) * PER_PAGE, PER_PAGE)?;
        let read: Vec<i64> = shown.rows.iter().map(|(c, _)| c.id).collect();
        // Requests and consents needing attention may be on any of the member's cases.
        let all = s.case_list(None)?;
        let attention = s.attention(&all, &read)?;
        let clients: HashMap<i64, (String, String)> = shown
            .rows
            .iter()
            .map(|(_, c)| (c.id, (c.data.number.clone(), c.data.name.clone())))
            .collect();
        let cases: Vec<_> = shown.rows.into_iter().map(|(c, _)| c).collect();
        Ok((cases, shown.total, attention, clients))
    })?;
    let pages = total.div_ceil(PER_PAGE).max(1);
    if page > pages {
        return Err(crate::web::http::Response::text(404, "not found\n"));
    }
    let client = |id: i64| {
        clients
            .get(&id)
            .map(|(n, m)| (n.as_str(), m.as_str()))
            .unwrap_or(("", ""))
    };
    let title = ctx.t("web.my_cases");
    let body = html! {
        section.attention aria-labelledby="attention-h" {
            h2 #attention-h { (ctx.t("web.case.attention")) }
            @if attention.is_empty() {
                p { (ctx.t("web.case.attention_none")) }
            } @else {
                ul {
                    @for a in &attention {
                        @let (number, name) = client(a.client_id);
                        li class=(kind_class(a)) {
                            a href=(format!("/cases/{}", a.case_id)) {
                                (ctx.tr("web.case.case_n", &[("id", a.case_id.to_string())]))
                                " · " (number) " " (name)
                            }
                            "：" (describe(ctx, a))
                        }
                    }
                }
            }
            @if pages > 1 {
                p.note { (ctx.t("web.case.attention_page_note")) }
            }
        }
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
                        @let (number, name) = client(c.client_id);
                        tr {
                            td { a href=(format!("/cases/{}", c.id)) { (c.id) } }
                            td { (number) }
                            td { (name) }
                            td { (c.stage.label_in(ctx.lang)) }
                            td { (c.workers.join(", ")) }
                            td { (format_time(c.opened_at)) }
                        }
                    }
                }
            }
            (pager(ctx, page, pages))
        }
    };
    Ok(ctx.page(&title, body))
}

fn kind_class(a: &AttentionItem) -> &'static str {
    match a.what {
        Attention::OverdueRequest { .. } => "overdue-request",
        Attention::PlanReview { .. } => "plan-review",
        Attention::RedRisk { .. } => "red-risk",
        Attention::ConsentExpiring { .. } => "consent-expiring",
    }
}

fn describe(ctx: &Ctx, a: &AttentionItem) -> String {
    match &a.what {
        Attention::OverdueRequest { request, kind, due } => ctx.tr(
            "web.case.att_overdue",
            &[
                ("id", request.to_string()),
                ("kind", kind.label_in(ctx.lang).to_string()),
                ("due", due.to_string()),
            ],
        ),
        Attention::PlanReview { due, .. } => {
            ctx.tr("web.case.att_plan", &[("due", due.to_string())])
        }
        Attention::RedRisk { .. } => ctx.t("web.case.att_red"),
        Attention::ConsentExpiring {
            consent,
            agency,
            expires,
        } => ctx.tr(
            "web.case.att_consent",
            &[
                ("id", consent.to_string()),
                ("agency", agency.clone()),
                ("date", expires.to_string()),
            ],
        ),
    }
}

fn pager(ctx: &Ctx, page: usize, pages: usize) -> Markup {
    let href = |n: usize| {
        if n == 1 {
            "/cases".to_string()
        } else {
            format!("/cases/page/{n}")
        }
    };
    html! {
        @if pages > 1 {
            nav.pager aria-label=(ctx.t("web.case.pages")) {
                @if page > 1 {
                    a rel="prev" href=(href(page - 1)) { (ctx.t("web.case.prev")) }
                }
                span { (ctx.tr("web.case.page_of", &[("n", page.to_string()), ("of", pages.to_string())])) }
                @if page < pages {
                    a rel="next" href=(href(page + 1)) { (ctx.t("web.case.next")) }
                }
            }
        }
    }
}
