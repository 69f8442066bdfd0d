//! The case page (`/cases/{id}`): the client's number and name, the stage (with the moves the
//! role may make), the workers (assign and unassign for `case.assign`), the timeline of
//! records and amendments (metadata only: no content is decrypted here), and links to the
//! other screens for what the role may do on the case.

use std::collections::HashMap;

use maud::{html, Markup};

use crate::domain::time::format_time;
use crate::domain::{Case, Client, RecordMeta, Stage};
use crate::error::{Error, Family};
use crate::policy::Action;
use crate::web::http::Response;
use crate::web::layout::{status_of, Ctx, Page};

pub fn route(ctx: &Ctx, method: &str, segs: &[&str]) -> Option<Page> {
    let id = |raw: &str| {
        raw.parse::<i64>()
            .ok()
            .filter(|n| *n > 0 && n.to_string() == raw)
    };
    match (method, segs) {
        ("GET", ["cases", raw]) => id(raw).map(|id| show(ctx, id, None)),
        ("POST", ["cases", raw, act @ ("stage" | "assign" | "unassign" | "close")]) => {
            id(raw).map(|id| act_on(ctx, id, act))
        }
        _ => None,
    }
}

/// The default templates in the order a case uses them (for the "new record" links).
const WORK_ORDER: &[&str] = &[
    "intake",
    "risk_assessment",
    "service_plan",
    "process",
    "supervision",
    "evaluation",
    "referral",
    "consent",
    "closing",
];

/// What the page shows, read in one call on the member's session.
struct View {
    case: Case,
    client: Client,
    records: Vec<RecordMeta>,
    /// Template kind → (zh, en) label, in the policy's order.
    kinds: Vec<(String, String, String)>,
    /// Tier level → (zh, en) label.
    tiers: HashMap<u8, (String, String)>,
    /// Tiers the member's role reads.
    readable: Vec<u8>,
}

fn load(ctx: &Ctx, id: i64) -> std::result::Result<View, Response> {
    ctx.run(move |s| {
        let case = s.case_show(id)?;
        let client = s.client_get(case.client_id)?;
        let records = s.record_list(id)?;
        let mut kinds: Vec<(String, String, String)> = s
            .policy
            .template_kinds()
            .into_iter()
            .filter_map(|k| s.policy.template(k))
            .map(|t| (t.kind.clone(), t.label_zh.clone(), t.label_en.clone()))
            .collect();
        // The order work follows; kinds of a policy's own come after, by name.
        let at = |k: &str| {
            WORK_ORDER
                .iter()
                .position(|w| *w == k)
                .unwrap_or(WORK_ORDER.len())
        };
        kinds.sort_by_key(|(k, _, _)| at(k));
        let tiers = s
            .policy
            .tiers
            .iter()
            .map(|t| (t.level, (t.label_zh.clone(), t.label_en.clone())))
            .collect();
        let readable = s.policy.readable_tiers(s.role);
        Ok(View {
            case,
            client,
            records,
            kinds,
            tiers,
            readable,
        })
    })
}

fn show(ctx: &Ctx, id: i64, error: Option<(u16, String)>) -> Page {
    ctx.require(Action::ClientRead)?;
    let v = load(ctx, id)?;
    let title = ctx.tr("web.case.title", &[("id", id.to_string())]);
    let (status, msg) = match error {
        Some((s, m)) => (s, Some(m)),
        None => (200, None),
    };
    let body = html! {
        @if let Some(m) = &msg { p.error role="alert" { (m) } }
        dl.case-facts {
            dt { (ctx.t("web.h_client_number")) } dd { (v.client.data.number) }
            dt { (ctx.t("web.h_client_name")) } dd { (v.client.data.name) }
            dt { (ctx.t("web.h_stage")) } dd.stage { (v.case.stage.label_in(ctx.lang)) }
            dt { (ctx.t("web.case.source")) } dd { (v.case.source.label_in(ctx.lang)) }
            dt { (ctx.t("web.h_opened")) } dd { (format_time(v.case.opened_at)) }
        }
        (actions(ctx, &v))
        (timeline(ctx, &v))
        div.case-side {
            (stage_form(ctx, &v.case))
            (workers(ctx, &v.case))
        }
    };
    Ok(ctx.page_with(status, &title, body))
}

/// The stages the case may move to now, as the role may move it (closing is its own action).
fn next_stages(ctx: &Ctx, case: &Case) -> Vec<Stage> {
    if !ctx.me.may(Action::RecordWrite) {
        return Vec::new();
    }
    Stage::ALL
        .iter()
        .copied()
        .filter(|s| *s != Stage::Closed && case.stage.may_move_to(*s))
        .collect()
}

fn stage_form(ctx: &Ctx, case: &Case) -> Markup {
    let next = next_stages(ctx, case);
    let close = ctx.me.may(Action::CaseClose) && case.stage.may_move_to(Stage::Closed);
    html! {
        @if !next.is_empty() || close {
            section.case-stage aria-labelledby="stage-h" {
                h2 #stage-h { (ctx.t("web.case.stage_change")) }
                @if !next.is_empty() {
                    form method="post" action=(format!("/cases/{}/stage", case.id)) {
                        (ctx.csrf_field())
                        label {
                            (ctx.t("web.case.f_stage"))
                            select name="stage" {
                                @for s in &next { option value=(s.code()) { (s.label_in(ctx.lang)) } }
                            }
                        }
                        button type="submit" { (ctx.t("web.case.stage_move")) }
                    }
                }
                @if close {
                    form method="post" action=(format!("/cases/{}/close", case.id)) {
                        (ctx.csrf_field())
                        button.danger type="submit" { (ctx.t("web.case.close")) }
                    }
                }
            }
        }
    }
}

fn workers(ctx: &Ctx, case: &Case) -> Markup {
    let assign = ctx.me.may(Action::CaseAssign);
    html! {
        section.case-workers aria-labelledby="workers-h" {
            h2 #workers-h { (ctx.t("web.h_workers")) }
            @if case.workers.is_empty() {
                p { (ctx.t("web.case.no_workers")) }
            } @else {
                ul {
                    @for w in &case.workers {
                        li {
                            (w)
                            @if assign {
                                form.inline method="post" action=(format!("/cases/{}/unassign", case.id)) {
                                    (ctx.csrf_field())
                                    input type="hidden" name="worker" value=(w);
                                    button type="submit" { (ctx.t("web.case.unassign")) }
                                }
                            }
                        }
                    }
                }
            }
            @if assign {
                form method="post" action=(format!("/cases/{}/assign", case.id)) autocomplete="off" {
                    (ctx.csrf_field())
                    label { (ctx.t("web.case.f_worker")) input type="text" name="worker" required; }
                    button type="submit" { (ctx.t("web.case.assign")) }
                }
            }
        }
    }
}

fn actions(ctx: &Ctx, v: &View) -> Markup {
    let id = v.case.id;
    let label = |zh: &str, en: &str| match ctx.lang {
        crate::i18n::Lang::Zh => zh.to_string(),
        crate::i18n::Lang::En => en.to_string(),
    };
    let write = ctx.me.may(Action::RecordWrite) && v.case.closed_at.is_none();
    html! {
        nav.case-actions aria-labelledby="actions-h" {
            h2 #actions-h { (ctx.t("web.case.actions")) }
            @if write {
                ul.record-kinds {
                    @for (kind, zh, en) in &v.kinds {
                        li { a href=(format!("/cases/{id}/records/new/{kind}")) {
                            (ctx.tr("web.case.new_record", &[("kind", label(zh, en))]))
                        } }
                    }
                }
            }
            ul {
                @if ctx.me.may(Action::ConsentManage) {
                    li { a href=(format!("/cases/{id}/consents")) { (ctx.t("web.case.consents")) } }
                }
                @if ctx.me.may(Action::ReferralExport) {
                    li { a href=(format!("/cases/{id}/referral")) { (ctx.t("web.case.referral")) } }
                }
                @if ctx.me.may(Action::RequestManage) {
                    li { a href=(format!("/cases/{id}/requests")) { (ctx.t("web.case.requests")) } }
                }
            }
        }
    }
}

fn timeline(ctx: &Ctx, v: &View) -> Markup {
    let label = |zh: &str, en: &str| match ctx.lang {
        crate::i18n::Lang::Zh => zh.to_string(),
        crate::i18n::Lang::En => en.to_string(),
    };
    let kind_label = |kind: &str| {
        v.kinds
            .iter()
            .find(|(k, _, _)| k == kind)
            .map(|(_, zh, en)| label(zh, en))
            .unwrap_or_else(|| kind.to_string())
    };
    let tier_label = |t: u8| {
        v.tiers
            .get(&t)
            .map(|(zh, en)| label(zh, en))
            .unwrap_or_else(|| t.to_string())
    };
    let mut amended_by: HashMap<i64, Vec<i64>> = HashMap::new();
    for r in &v.records {
        if let Some(a) = r.amends {
            amended_by.entry(a).or_default().push(r.id);
        }
    }
    html! {
        section.timeline aria-labelledby="timeline-h" {
            h2 #timeline-h { (ctx.t("web.case.timeline")) }
            @if v.records.is_empty() {
                p { (ctx.t("web.case.no_records")) }
            } @else {
                table {
                    thead { tr {
                        @for k in ["web.case.h_date", "web.case.h_record", "web.case.h_author", "web.case.h_tier", "web.case.h_amend"] {
                            th { (ctx.t(k)) }
                        }
                    } }
                    tbody {
                        @for r in &v.records {
                            @let readable = v.readable.contains(&r.tier);
                            tr.sealed[!readable] {
                                td { (format_time(r.created_at)) }
                                td {
                                    @if readable {
                                        a href=(format!("/records/{}", r.id)) {
                                            (kind_label(&r.kind)) " #" (r.id)
                                        }
                                    } @else {
                                        span.sealed { (ctx.t("web.case.sealed_row")) }
                                    }
                                }
                                td { (r.author) }
                                td { (tier_label(r.tier)) }
                                td {
                                    @if let Some(a) = r.amends {
                                        span.amends { (ctx.tr("web.case.amends", &[("id", a.to_string())])) }
                                    }
                                    @if let Some(by) = amended_by.get(&r.id) {
                                        @for b in by {
                                            " " span.amended { (ctx.tr("web.case.amended_by", &[("id", b.to_string())])) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A POST on the case: the library does it (and checks the role and assignment again);
/// afterwards the case page, or the page with the library's reason.
fn act_on(ctx: &Ctx, id: i64, act: &str) -> Page {
    ctx.require(match act {
        "stage" => Action::RecordWrite,
        "close" => Action::CaseClose,
        _ => Action::CaseAssign,
    })?;
    let field = |k: &str| {
        ctx.req
            .form(k)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let (stage, worker) = (field("stage"), field("worker"));
    let act = act.to_string();
    let done = ctx.call(move |s| -> crate::error::Result<Case> {
        match act.as_str() {
            "stage" => {
                let st = Stage::parse(&stage).ok_or_else(|| {
                    Error::Invalid(crate::tr!(
                        "cli.bad_value",
                        what = "stage",
                        value = stage,
                        codes = Stage::codes()
                    ))
                })?;
                s.case_stage(id, st)
            }
            "close" => s.case_close(id),
            "assign" => s.case_assign(id, &worker),
            _ => s.case_unassign(id, &worker),
        }
    })?;
    match done {
        Ok(_) => Ok(Response::see_other(format!("/cases/{id}"))),
        Err(e) => {
            let status = status_of(e.family());
            let msg = crate::i18n::with_lang(ctx.lang, || e.to_string());
            // Refusals (not assigned, not the role's) get the refusal page: the case page
            // itself may not be theirs to see.
            if matches!(e.family(), Family::Refused | Family::NotFound) {
                return Err(ctx.error(&e));
            }
            show(ctx, id, Some((status, msg)))
        }
    }
}
