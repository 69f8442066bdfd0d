//! The supervisor's queue (issue 13): what waits for a supervisor, each item with the action
//! the command line offers: supervisor-only notes nobody has read yet (read at
//! `/records/{id}`), closings to approve (`case close`), supervisor-only records a consent
//! covers but nobody approved yet (`referral approve`), caseworkers' exports waiting for
//! release (released by the referral screen at `/referrals/{id}/release`), new supervisors
//! waiting for an endorsement (`staff endorse`). Listings are the library's (`vault::queue`).

use std::collections::HashMap;

use maud::html;

use crate::domain::time::format_time;
use crate::domain::{Case, RecordMeta};
use crate::error::Family;
use crate::i18n::Lang;
use crate::policy::Role;
use crate::vault::queue::ApprovalWanted;
use crate::vault::PendingRelease;
use crate::web::http::Response;
use crate::web::layout::{status_of, Ctx, Page};

pub fn route(ctx: &Ctx, method: &str, segs: &[&str]) -> Option<Page> {
    let page = match (method, segs) {
        ("GET", ["queue"]) => return Some(guard(ctx).and_then(|_| show(ctx, None, 200))),
        ("POST", ["queue", "cases", id, "close"]) => {
            let id = id.parse::<i64>().ok()?;
            Action::Close(id)
        }
        ("POST", ["queue", "approve"]) => Action::Approve,
        ("POST", ["queue", "endorse"]) => Action::Endorse,
        _ => return None,
    };
    Some(guard(ctx).and_then(|_| act(ctx, page)))
}

enum Action {
    Close(i64),
    Approve,
    Endorse,
}

/// Supervisors only (the queue is not offered to other roles either).
fn guard(ctx: &Ctx) -> Result<(), Response> {
    if ctx.me.role == Role::Supervisor {
        Ok(())
    } else {
        Err(ctx.refusal(&ctx.t("web.not_for_role")))
    }
}

struct Queue {
    notes: Vec<RecordMeta>,
    closings: Vec<Case>,
    approvals: Vec<ApprovalWanted>,
    releases: Vec<PendingRelease>,
    enrolments: Vec<String>,
    /// Client id → (number, name).
    clients: HashMap<i64, (String, String)>,
    /// Case id → client id.
    case_client: HashMap<i64, i64>,
    kinds: HashMap<String, String>,
    tiers: HashMap<u8, String>,
}

fn show(ctx: &Ctx, error: Option<&str>, status: u16) -> Page {
    let lang = ctx.lang;
    let q = ctx.run(move |s| {
        let pick = |zh: &str, en: &str| if lang == Lang::En { en } else { zh }.to_string();
        Ok(Queue {
            notes: s.queue_notes()?,
            closings: s.queue_closings()?,
            approvals: s.queue_approvals()?,
            releases: s.referral_pending()?,
            enrolments: s.queue_enrolments()?,
            clients: s
                .client_list()?
                .into_iter()
                .map(|c| (c.id, (c.data.number, c.data.name)))
                .collect(),
            case_client: s
                .case_list(None)?
                .into_iter()
                .map(|c| (c.id, c.client_id))
                .collect(),
            kinds: s
                .policy
                .templates
                .values()
                .map(|t| (t.kind.clone(), pick(&t.label_zh, &t.label_en)))
                .collect(),
            tiers: s
                .policy
                .tiers
                .iter()
                .map(|t| (t.level, pick(&t.label_zh, &t.label_en)))
                .collect(),
        })
    })?;
    let kind = |k: &str| q.kinds.get(k).cloned().unwrap_or_else(|| k.to_string());
    let tier = |t: u8| match q.tiers.get(&t) {
        Some(l) => format!("{t} {l}"),
        None => t.to_string(),
    };
    let client_of = |case: i64| {
        q.case_client
            .get(&case)
            .and_then(|c| q.clients.get(c))
            .map(|(n, m)| format!("{m} ({n})"))
            .unwrap_or_default()
    };
    let case_link = |case: i64| {
        html! { a href=(format!("/cases/{case}")) { (ctx.tr("web.sv_case_n", &[("id", case.to_string())])) } }
    };
    let title = ctx.t("web.sv_queue_title");
    let body = html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        nav.queue-toc {
            a href="#notes" { (ctx.t("web.sv_q_notes")) " (" (q.notes.len()) ")" }
            a href="#closings" { (ctx.t("web.sv_q_closings")) " (" (q.closings.len()) ")" }
            a href="#approvals" { (ctx.t("web.sv_q_approvals")) " (" (q.approvals.len()) ")" }
            a href="#releases" { (ctx.t("web.sv_q_releases")) " (" (q.releases.len()) ")" }
            a href="#enrolments" { (ctx.t("web.sv_q_enrolments")) " (" (q.enrolments.len()) ")" }
        }

        section #notes {
            h2 { (ctx.t("web.sv_q_notes")) }
            p.note { (ctx.t("web.sv_q_notes_explain")) }
            @if q.notes.is_empty() { p { (ctx.t("web.sv_q_none")) } } @else {
                table { thead { tr {
                    @for k in ["web.sv_h_record", "web.sv_h_case", "web.sv_h_client", "web.sv_h_kind", "web.sv_h_tier", "web.sv_h_author", "web.sv_h_written"] { th { (ctx.t(k)) } }
                } } tbody {
                    @for m in &q.notes { tr {
                        td { a href=(format!("/records/{}", m.id)) { (ctx.tr("web.sv_read_record", &[("id", m.id.to_string())])) } }
                        td { (case_link(m.case_id)) }
                        td { (client_of(m.case_id)) }
                        td { (kind(&m.kind)) }
                        td { (tier(m.tier)) }
                        td { (m.author) }
                        td { (format_time(m.created_at)) }
                    } }
                } }
            }
        }

        section #closings {
            h2 { (ctx.t("web.sv_q_closings")) }
            p.note { (ctx.t("web.sv_q_closings_explain")) }
            @if q.closings.is_empty() { p { (ctx.t("web.sv_q_none")) } } @else {
                table { thead { tr {
                    @for k in ["web.sv_h_case", "web.sv_h_client", "web.sv_h_stage", "web.sv_h_workers", "web.sv_h_actions"] { th { (ctx.t(k)) } }
                } } tbody {
                    @for c in &q.closings { tr {
                        td { (case_link(c.id)) }
                        td { (client_of(c.id)) }
                        td { (c.stage.label_in(ctx.lang)) }
                        td { (c.workers.join("、")) }
                        td { form.inline method="post" action=(format!("/queue/cases/{}/close", c.id)) {
                            (ctx.csrf_field())
                            button type="submit" { (ctx.t("web.sv_close_button")) }
                        } }
                    } }
                } }
            }
        }

        section #approvals {
            h2 { (ctx.t("web.sv_q_approvals")) }
            p.note { (ctx.t("web.sv_q_approvals_explain")) }
            @if q.approvals.is_empty() { p { (ctx.t("web.sv_q_none")) } } @else {
                table { thead { tr {
                    @for k in ["web.sv_h_record", "web.sv_h_case", "web.sv_h_client", "web.sv_h_kind", "web.sv_h_consent", "web.sv_h_agency", "web.sv_h_actions"] { th { (ctx.t(k)) } }
                } } tbody {
                    @for a in &q.approvals { tr {
                        td { a href=(format!("/records/{}", a.record.id)) { (ctx.tr("web.sv_read_record", &[("id", a.record.id.to_string())])) } }
                        td { (case_link(a.case_id)) }
                        td { (client_of(a.case_id)) }
                        td { (kind(&a.record.kind)) " · " (tier(a.record.tier)) }
                        td { a href=(format!("/consents/{}", a.consent_id)) { (a.consent_id) } }
                        td { (a.agency) }
                        td { form.inline method="post" action="/queue/approve" {
                            (ctx.csrf_field())
                            input type="hidden" name="case" value=(a.case_id);
                            input type="hidden" name="consent" value=(a.consent_id);
                            input type="hidden" name="record" value=(a.record.id);
                            button type="submit" { (ctx.t("web.sv_approve_button")) }
                        } }
                    } }
                } }
            }
        }

        section #releases {
            h2 { (ctx.t("web.sv_q_releases")) }
            p.note { (ctx.t("web.sv_q_releases_explain")) }
            @if q.releases.is_empty() { p { (ctx.t("web.sv_q_none")) } } @else {
                table { thead { tr {
                    @for k in ["web.sv_h_release", "web.sv_h_case", "web.sv_h_agency", "web.sv_h_purpose", "web.sv_h_records", "web.sv_h_requested", "web.sv_h_actions"] { th { (ctx.t(k)) } }
                } } tbody {
                    @for r in &q.releases { tr {
                        td { (r.id) }
                        td { (case_link(r.case_id)) br; small { (client_of(r.case_id)) } }
                        td { (r.agency) br; small { a href=(format!("/consents/{}", r.consent_id)) { (ctx.tr("web.sv_consent_n", &[("id", r.consent_id.to_string())])) } } }
                        td { (r.purpose) }
                        td {
                            @for (i, m) in r.records.iter().enumerate() {
                                @if i > 0 { "、" }
                                a href=(format!("/records/{}", m.id)) { (m.id) } " " small { (kind(&m.kind)) " · " (tier(m.tier)) }
                            }
                            @if let Some(why) = &r.refused { p.error { (why) } }
                        }
                        td { (r.requested_by) br; small { (format_time(r.requested_at)) } }
                        td { a href=(format!("/referrals/{}/release", r.id)) { (ctx.t("web.sv_release_link")) } }
                    } }
                } }
            }
        }

        section #enrolments {
            h2 { (ctx.t("web.sv_q_enrolments")) }
            p.note { (ctx.t("web.sv_q_enrolments_explain")) }
            @if q.enrolments.is_empty() { p { (ctx.t("web.sv_q_none")) } } @else {
                @for n in &q.enrolments {
                    form.endorse method="post" action="/queue/endorse" {
                        (ctx.csrf_field())
                        input type="hidden" name="name" value=(n);
                        strong { (n) }
                        label { (ctx.t("web.sv_f_fingerprint")) input type="text" name="fingerprint" required autocomplete="off"; }
                        button type="submit" { (ctx.t("web.sv_endorse_button")) }
                    }
                }
            }
        }
        p.note { (ctx.t("web.sv_q_checkpoint_note")) }
    };
    Ok(ctx.page_with(status, &title, body))
}

/// A queue action: the library call the CLI makes, then back to the queue (or the queue with
/// the translated refusal).
fn act(ctx: &Ctx, a: Action) -> Page {
    let field = |n: &str| {
        ctx.req
            .form(n)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let num = |n: &str| field(n).parse::<i64>().ok();
    let done: crate::error::Result<()> = match a {
        Action::Close(id) => ctx.call(move |s| s.case_close(id).map(|_| ()))?,
        Action::Approve => match (num("case"), num("consent"), num("record")) {
            (Some(case), Some(consent), Some(record)) => {
                ctx.call(move |s| s.referral_approve(case, consent, &[record]).map(|_| ()))?
            }
            _ => return show(ctx, Some(&ctx.t("web.sv_bad_request")), 400),
        },
        Action::Endorse => {
            let (name, fp) = (field("name"), field("fingerprint"));
            ctx.call(move |s| s.staff_endorse(&name, &fp).map(|_| ()))?
        }
    };
    match done {
        Ok(()) => Ok(Response::redirect("/queue")),
        Err(e) => {
            let status = match e.family() {
                Family::Alarm | Family::Other | Family::Busy => return Err(ctx.error(&e)),
                f => status_of(f),
            };
            let msg = crate::i18n::with_lang(ctx.lang, || e.to_string());
            show(ctx, Some(&msg), status)
        }
    }
}
