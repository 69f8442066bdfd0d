//! Data-subject requests (`request.manage`): the list with due dates and overdue marks
//! (`/requests`), recording a request for a case's client (`/cases/{id}/requests`), and one
//! request (`/requests/{id}`): for an access request, what the package will hold, making it
//! (logged by the library; a caseworker's waits for a supervisor's checkpoint) and its
//! download; for a correction, the link to amend the record and closing it.
//!
//! The package is never written to disk here: the library returns the age ciphertext in
//! memory and it goes out as an attachment (`no-store`). A later download rebuilds the same
//! package from the inputs stored at commit (`request resend`), nothing logged twice.

use std::str::FromStr;

use maud::{html, Markup};
use secrecy::SecretString;

use crate::domain::time::{format_time, today, Date};
use crate::domain::{Authority, Request, RequestKind, RequestStatus};
use crate::error::{Error, Family};
use crate::policy::{Action, Role};
use crate::vault::{NewRequest, PackagePreview, PackageState, PackageTo, PastRecipient};
use crate::web::http::Response;
use crate::web::layout::{status_of, Ctx, Page};

pub fn route(ctx: &Ctx, method: &str, segs: &[&str]) -> Option<Page> {
    let num = |s: &str| s.parse::<i64>().ok().filter(|n| *n > 0);
    match (method, segs) {
        ("GET", ["requests"]) => Some(list(ctx)),
        ("GET", ["cases", id, "requests"]) => num(id).map(|id| new_form(ctx, id, None)),
        ("POST", ["cases", id, "requests"]) => {
            num(id).map(|id| ctx.once().and_then(|_| add(ctx, id)))
        }
        ("GET", ["requests", id]) => num(id).map(|id| show(ctx, id, None)),
        ("POST", ["requests", id, "package"]) => {
            num(id).map(|id| ctx.once().and_then(|_| package(ctx, id)))
        }
        ("POST", ["requests", id, "download"]) => num(id).map(|id| download(ctx, id)),
        ("POST", ["requests", id, "deny"]) => num(id).map(|id| deny(ctx, id)),
        ("POST", ["requests", id, "accept"]) => num(id).map(|id| accept(ctx, id)),
        ("POST", ["requests", id, "receipt"]) => num(id).map(|id| receipt(ctx, id)),
        _ => None,
    }
}

fn field(ctx: &Ctx, name: &str) -> String {
    ctx.req
        .form(name)
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn status_cell(ctx: &Ctx, r: &Request) -> Markup {
    html! {
        (r.status.label_in(ctx.lang))
        @if r.overdue {
            " " span.overdue { (ctx.t("web.req_overdue")) }
        }
    }
}

fn request_table(ctx: &Ctx, rows: &[&Request]) -> Markup {
    html! {
        table.requests {
            thead { tr {
                @for k in ["web.req_h_id", "web.req_h_kind", "web.h_client_number", "web.req_h_authority", "web.req_h_received", "web.req_h_due", "web.req_h_status"] {
                    th { (ctx.t(k)) }
                }
            } }
            tbody {
                @for r in rows {
                    tr class=[r.overdue.then_some("overdue")] {
                        td { a href=(format!("/requests/{}", r.id)) { (r.id) } }
                        td { (r.kind.label_in(ctx.lang)) }
                        td { (r.client_number) }
                        td { (r.authority.label_in(ctx.lang)) }
                        td { (r.received) }
                        td { (r.due) }
                        td { (status_cell(ctx, r)) }
                    }
                }
            }
        }
    }
}

/// `/requests`: open requests by due date (overdue marked), then the answered ones.
fn list(ctx: &Ctx) -> Page {
    ctx.require(Action::RequestManage)?;
    let rows = ctx.run(|s| s.request_list(None, false, false))?;
    let (open, closed): (Vec<&Request>, Vec<&Request>) =
        rows.iter().partition(|r| r.status == RequestStatus::Open);
    let overdue = open.iter().filter(|r| r.overdue).count();
    let body = html! {
        p { (ctx.t("web.req_how_to_add")) }
        h2 { (ctx.t("web.req_open")) }
        @if open.is_empty() {
            p { (ctx.t("web.req_none_open")) }
        } @else {
            @if overdue > 0 {
                p.overdue role="alert" { (ctx.tr("web.req_overdue_count", &[("count", overdue.to_string())])) }
            }
            (request_table(ctx, &open))
        }
        @if !closed.is_empty() {
            h2 { (ctx.t("web.req_closed")) }
            (request_table(ctx, &closed))
        }
    };
    Ok(ctx.page(&ctx.t("web.req_title"), body))
}

/// What the new-request form was given (re-shown, escaped, after a refusal).
#[derive(Default)]
struct Typed {
    kind: String,
    requester: String,
    authority: String,
    identity_check: String,
    received: String,
    record: String,
}

/// `/cases/{id}/requests`: the form to record a request from this case's client, with the
/// due dates the policy sets, and the client's requests so far.
fn new_form(ctx: &Ctx, case_id: i64, failed: Option<(u16, String, Typed)>) -> Page {
    ctx.require(Action::RequestManage)?;
    let (case, client, days, rows) = ctx.run(move |s| {
        let case = s.case_show(case_id)?;
        let client = s.client_show(&case.client_id.to_string())?;
        let r = &s.policy.requests;
        let days = (r.access_days, r.correction_days);
        let rows = s.request_list(Some(&client.id.to_string()), false, false)?;
        Ok((case, client, days, rows))
    })?;
    let (status, error, typed) = match failed {
        Some((st, e, t)) => (st, Some(e), t),
        None => (200, None, Typed::default()),
    };
    let received = if typed.received.is_empty() {
        today().to_string()
    } else {
        typed.received.clone()
    };
    let kind = if typed.kind.is_empty() {
        "access"
    } else {
        typed.kind.as_str()
    };
    let authority = if typed.authority.is_empty() {
        "self"
    } else {
        typed.authority.as_str()
    };
    let title = ctx.tr("web.req_new_title", &[("case", case.id.to_string())]);
    let body = html! {
        p {
            (ctx.tr("web.req_for_client", &[("number", client.data.number.clone()), ("name", client.data.name.clone())]))
            " " a href=(format!("/cases/{}", case.id)) { (ctx.tr("web.req_back_to_case", &[("case", case.id.to_string())])) }
        }
        p.policy { (ctx.tr("web.req_days", &[("access", days.0.to_string()), ("correction", days.1.to_string())])) }
        @if let Some(e) = &error { p.error role="alert" { (e) } }
        form.wizard method="post" action=(format!("/cases/{case_id}/requests")) autocomplete="off" {
            (ctx.csrf_field())
            label { (ctx.t("web.req_f_kind"))
                select name="kind" {
                    @for k in [RequestKind::Access, RequestKind::Correction] {
                        option value=(k.code()) selected[k.code() == kind] { (k.label_in(ctx.lang)) }
                    }
                }
            }
            label { (ctx.t("web.req_f_requester")) input name="requester" required value=(typed.requester); }
            label { (ctx.t("web.req_f_authority"))
                select name="authority" {
                    @for a in [Authority::Client, Authority::Guardian, Authority::Agent] {
                        option value=(a.code()) selected[a.code() == authority] { (a.label_in(ctx.lang)) }
                    }
                }
            }
            label { (ctx.t("web.req_f_identity_check")) input name="identity_check" value=(typed.identity_check); }
            label { (ctx.t("web.req_f_received")) input name="received" type="date" required value=(received); }
            label { (ctx.t("web.req_f_record")) input name="record" inputmode="numeric" value=(typed.record); }
            button type="submit" { (ctx.t("web.req_add")) }
        }
        @if !rows.is_empty() {
            h2 { (ctx.t("web.req_client_requests")) }
            (request_table(ctx, &rows.iter().collect::<Vec<_>>()))
        }
    };
    Ok(ctx.page_with(status, &title, body))
}

/// The status a refused form is shown with: 400 for bad input, the family's otherwise.
fn form_status(e: &Error) -> u16 {
    match e.family() {
        Family::Usage | Family::Refused => 400,
        f => status_of(f),
    }
}

fn add(ctx: &Ctx, case_id: i64) -> Page {
    ctx.require(Action::RequestManage)?;
    let typed = Typed {
        kind: field(ctx, "kind"),
        requester: field(ctx, "requester"),
        authority: field(ctx, "authority"),
        identity_check: field(ctx, "identity_check"),
        received: field(ctx, "received"),
        record: field(ctx, "record"),
    };
    let again = |msg: String, typed: Typed| new_form(ctx, case_id, Some((400, msg, typed)));
    let Some(kind) = RequestKind::parse(&typed.kind).filter(|k| *k != RequestKind::Partner) else {
        return again(ctx.t("web.req_bad_kind"), typed);
    };
    let Some(authority) = Authority::parse(&typed.authority).filter(|a| *a != Authority::Partner)
    else {
        return again(ctx.t("web.req_bad_authority"), typed);
    };
    let received = match typed.received.as_str() {
        "" => None,
        d => match Date::parse(d) {
            Some(d) => Some(d),
            None => return again(ctx.t("requests.bad_date"), typed),
        },
    };
    let record_id = match typed.record.as_str() {
        "" => None,
        r => match r.parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => return again(ctx.t("web.req_bad_record"), typed),
        },
    };
    let n = NewRequest {
        kind,
        client: String::new(),
        requester: typed.requester.clone(),
        authority,
        identity_check: typed.identity_check.clone(),
        received,
        record_id,
    };
    let added = ctx.call(move |s| {
        let case = s.case_show(case_id)?;
        s.request_add(&NewRequest {
            client: case.client_id.to_string(),
            ..n
        })
    })?;
    match added {
        Ok(r) => Ok(Response::see_other(format!("/requests/{}", r.id))),
        Err(e) if matches!(e.family(), Family::Usage | Family::Refused) => {
            let msg = crate::i18n::with_lang(ctx.lang, || e.to_string());
            new_form(ctx, case_id, Some((form_status(&e), msg, typed)))
        }
        Err(e) => Err(ctx.error(&e)),
    }
}

/// What the request page needs besides the request (each part may be refused on its own:
/// a caseworker not assigned to every case of the client sees why instead of a preview).
struct Extra {
    preview: Option<Result<PackagePreview, String>>,
    state: Option<Result<PackageState, String>>,
    /// An accepted correction: who received the record before (to be sent a notice).
    notify: Option<Vec<PastRecipient>>,
}

fn show(ctx: &Ctx, id: i64, failed: Option<(u16, String)>) -> Page {
    ctx.require(Action::RequestManage)?;
    let may_read = ctx.me.may(Action::RecordRead);
    let (r, extra) = ctx.run(move |s| {
        let r = s.request_show(id)?;
        let msg = |e: Error| e.to_string();
        let access = r.kind == RequestKind::Access && may_read;
        let preview = (access && r.status == RequestStatus::Open)
            .then(|| s.request_package_preview(id).map_err(msg));
        let state = (access && r.status == RequestStatus::Fulfilled)
            .then(|| s.request_package_state(id).map_err(msg));
        let notify = match (r.status, r.record_id) {
            (RequestStatus::Accepted, Some(rec)) => Some(s.past_recipients(rec)?),
            _ => None,
        };
        Ok((
            r,
            Extra {
                preview,
                state,
                notify,
            },
        ))
    })?;
    let (status, error) = match failed {
        Some((s, e)) => (s, Some(e)),
        None => (200, None),
    };
    let title = ctx.tr(
        "web.req_one_title",
        &[
            ("id", r.id.to_string()),
            ("kind", r.kind.label_in(ctx.lang).to_string()),
        ],
    );
    let body = html! {
        p { a href="/requests" { (ctx.t("web.req_back")) } }
        @if let Some(e) = &error { p.error role="alert" { (e) } }
        (facts(ctx, &r))
        @if let Some(p) = &extra.preview {
            (preview(ctx, &r, p))
        }
        @if let Some(st) = &extra.state {
            (handover(ctx, &r, st))
        }
        @if r.kind == RequestKind::Correction && r.status == RequestStatus::Open {
            @if let Some(rec) = r.record_id {
                section {
                    h2 { (ctx.t("web.req_correct_h")) }
                    p { (ctx.t("web.req_correct_how")) }
                    p { a.button href=(format!("/records/{rec}/amend")) { (ctx.tr("web.req_amend_link", &[("record", rec.to_string())])) } }
                    form method="post" action=(format!("/requests/{}/accept", r.id)) {
                        (ctx.csrf_field())
                        label { (ctx.t("web.req_f_amendment")) input name="amendment" inputmode="numeric" required; }
                        button type="submit" { (ctx.t("web.req_accept")) }
                    }
                }
            }
        }
        @if let Some(n) = &extra.notify {
            section {
                h2 { (ctx.t("web.req_notify_h")) }
                @if n.is_empty() {
                    p { (ctx.t("web.req_notify_none")) }
                } @else {
                    ul { @for p in n { li { (p.recipient) " · " (p.date) } } }
                    p { (ctx.tr("web.req_notify_how", &[("id", r.id.to_string())])) }
                }
            }
        }
        @if r.status == RequestStatus::Open {
            (deny_form(ctx, &r))
        }
    };
    Ok(ctx.page_with(status, &title, body))
}

fn facts(ctx: &Ctx, r: &Request) -> Markup {
    html! {
        table.facts {
            tbody {
                tr { th { (ctx.t("web.req_h_kind")) } td { (r.kind.label_in(ctx.lang)) } }
                tr { th { (ctx.t("web.h_client_number")) } td { (r.client_number) } }
                tr { th { (ctx.t("web.req_f_requester")) } td { (r.requester) } }
                tr { th { (ctx.t("web.req_h_authority")) } td { (r.authority.label_in(ctx.lang)) } }
                tr { th { (ctx.t("web.req_f_identity_check")) } td { (r.identity_check) } }
                tr { th { (ctx.t("web.req_h_received")) } td { (r.received) } }
                tr { th { (ctx.t("web.req_h_due")) } td { (r.due) } }
                tr { th { (ctx.t("web.req_h_status")) } td { (status_cell(ctx, r)) } }
                @if let Some(rec) = r.record_id {
                    tr { th { (ctx.t("web.req_f_record")) } td { (rec) } }
                }
                @if !r.response.is_empty() {
                    tr { th { (ctx.t("web.req_response")) } td { (r.response) } }
                }
                @if let Some(a) = r.amendment_id {
                    tr { th { (ctx.t("web.req_amendment")) } td { (a) } }
                }
                @if let Some(i) = r.log_index {
                    tr { th { (ctx.t("web.req_log_entry")) } td { (i) } }
                }
                @if let (Some(at), Some(by)) = (r.closed_at, &r.closed_by) {
                    tr { th { (ctx.t("web.req_closed_by")) } td { (by) " · " (format_time(at)) } }
                }
            }
        }
        @if !r.withheld.is_empty() {
            h2 { (ctx.t("web.req_withheld")) }
            ul {
                @for w in &r.withheld {
                    li { "#" (w.record_id) " (" (w.kind) "): "
                        (if ctx.lang == crate::i18n::Lang::En { &w.reason_en } else { &w.reason_zh }) }
                }
            }
        }
    }
}

/// The target fields (the client's age key, or a passphrase told in person).
fn target_fields(ctx: &Ctx, optional_note: bool) -> Markup {
    html! {
        fieldset {
            legend { (ctx.t("web.req_target")) }
            @if optional_note { p { (ctx.t("web.req_target_stored")) } }
            label { (ctx.t("web.req_f_recipient")) input name="recipient" placeholder="age1…" spellcheck="false"; }
            p { (ctx.t("web.req_or")) }
            label { (ctx.t("web.req_f_passphrase")) input name="passphrase" type="password" autocomplete="new-password"; }
            label { (ctx.t("web.req_f_passphrase2")) input name="passphrase2" type="password" autocomplete="new-password"; }
        }
    }
}

/// What the package will hold, and the form that makes it.
fn preview(ctx: &Ctx, r: &Request, p: &Result<PackagePreview, String>) -> Markup {
    let p = match p {
        Ok(p) => p,
        Err(why) => {
            return html! { p.error role="alert" { (ctx.t("web.req_cannot_package")) " " (why) } }
        }
    };
    let given = p.records.iter().filter(|x| x.withheld.is_none()).count();
    html! {
        section.package {
            h2 { (ctx.t("web.req_package_h")) }
            p { (ctx.tr("web.req_package_counts", &[
                ("given", given.to_string()),
                ("withheld", (p.records.len() - given).to_string()),
                ("disclosures", p.disclosures.len().to_string()),
            ])) }
            @if !p.records.is_empty() {
                table {
                    thead { tr {
                        th { (ctx.t("web.req_h_record")) } th { (ctx.t("web.req_h_record_kind")) }
                        th { (ctx.t("web.req_h_date")) } th { (ctx.t("web.req_h_given")) }
                    } }
                    tbody {
                        @for x in &p.records {
                            tr class=[x.withheld.is_some().then_some("withheld")] {
                                td { "#" (x.meta.id) }
                                td { (if ctx.lang == crate::i18n::Lang::En { &x.kind_en } else { &x.kind_zh }) }
                                td { (format_time(x.meta.created_at)) }
                                td { @if x.withheld.is_some() { (ctx.t("web.req_withheld_tier")) } @else { (ctx.t("web.req_given")) } }
                            }
                        }
                    }
                }
            }
            p.note { (ctx.t("web.req_third_party_note")) }
            h3 { (ctx.tr("web.req_accounting_h", &[("from", p.lookback_from.to_string()), ("years", p.lookback_years.to_string())])) }
            @if p.disclosures.is_empty() {
                p { (ctx.t("web.req_none")) }
            } @else {
                ul {
                    @for d in &p.disclosures {
                        li { (d.date) " · " (d.recipient) " · " (d.kind)
                            @if let Some(pk) = &d.packet_id { " · " (pk) } }
                    }
                }
            }
            form.wizard method="post" action=(format!("/requests/{}/package", r.id)) autocomplete="off" {
                (ctx.csrf_field())
                (target_fields(ctx, false))
                @if ctx.me.role != Role::Supervisor {
                    p.waiting { (ctx.t("web.req_caseworker_waits")) }
                }
                p { (ctx.t("web.req_package_logged")) }
                button type="submit" { (ctx.t("web.req_make_package")) }
            }
        }
    }
}

/// A fulfilled access package: awaiting a checkpoint, or ready to download (again).
fn handover(ctx: &Ctx, r: &Request, st: &Result<PackageState, String>) -> Markup {
    match st {
        Err(why) => html! { p.error role="alert" { (why) } },
        Ok(st) if !st.covered => html! {
            section.awaiting role="status" {
                h2 { (ctx.t("web.req_awaiting_h")) }
                p { (ctx.t("web.req_awaiting_what")) }
            }
        },
        Ok(st) => html! {
            section.package {
                h2 { (ctx.t("web.req_download_h")) }
                p { (ctx.t("web.req_download_what")) }
                form.wizard method="post" action=(format!("/requests/{}/download", r.id)) autocomplete="off" {
                    (ctx.csrf_field())
                    (target_fields(ctx, st.stored_recipient))
                    button type="submit" { (ctx.t("web.req_download")) }
                }
                form method="post" action=(format!("/requests/{}/receipt", r.id)) {
                    (ctx.csrf_field())
                    p { (ctx.t("web.req_receipt_what")) }
                    button type="submit" { (ctx.t("web.req_receipt")) }
                }
            }
        },
    }
}

fn deny_form(ctx: &Ctx, r: &Request) -> Markup {
    html! {
        section.deny {
            h2 { (ctx.t("web.req_deny_h")) }
            form method="post" action=(format!("/requests/{}/deny", r.id)) {
                (ctx.csrf_field())
                label { (ctx.t("web.req_f_reason")) textarea name="reason" required rows="3" {} }
                @if r.kind == RequestKind::Correction {
                    label { (ctx.t("web.req_f_statement")) textarea name="statement" rows="3" {} }
                }
                button type="submit" { (ctx.t("web.req_deny")) }
            }
        }
    }
}

/// The package target from the form: `Ok(None)` when neither field is filled.
fn target(ctx: &Ctx) -> Result<Option<PackageTo>, String> {
    let recipient = field(ctx, "recipient");
    let pass = ctx.req.form("passphrase").unwrap_or_default();
    let pass2 = ctx.req.form("passphrase2").unwrap_or_default();
    match (recipient.is_empty(), pass.is_empty()) {
        (false, false) => Err(ctx.t("web.req_two_targets")),
        (false, true) => age::x25519::Recipient::from_str(&recipient)
            .map(|r| Some(PackageTo::Recipient(r)))
            .map_err(|_| ctx.t("requests.bad_recipient")),
        (true, false) if *pass != *pass2 => Err(ctx.t("web.req_passphrases_differ")),
        (true, false) => Ok(Some(PackageTo::Passphrase(SecretString::from(
            pass.as_str().to_string(),
        )))),
        (true, true) => Ok(None),
    }
}

fn package_response(d: crate::vault::PackageDownload) -> Response {
    Response::attachment(
        "application/octet-stream",
        &format!("access-package-{}.age", d.request_id),
        d.cipher,
    )
}

/// Makes the package (the library logs it and closes the request) and sends it as a
/// download; if it is held (no checkpoint or witnesses yet), says so and where it will be.
fn package(ctx: &Ctx, id: i64) -> Page {
    ctx.require(Action::RequestManage)?;
    ctx.require(Action::RecordRead)?;
    let to = match target(ctx) {
        Ok(Some(t)) => t,
        Ok(None) => return show(ctx, id, Some((400, ctx.t("web.req_no_target")))),
        Err(e) => return show(ctx, id, Some((400, e))),
    };
    match ctx.call(move |s| s.request_fulfil_download(id, &to))? {
        Ok(d) => Ok(package_response(d)),
        Err(e @ (Error::AwaitingCheckpoint { .. } | Error::AwaitingWitnesses { .. })) => {
            let witnesses = matches!(e, Error::AwaitingWitnesses { .. });
            Ok(held(ctx, id, witnesses))
        }
        Err(e) if e.family() == Family::Usage => {
            let msg = crate::i18n::with_lang(ctx.lang, || e.to_string());
            show(ctx, id, Some((400, msg)))
        }
        Err(e) => Err(ctx.error(&e)),
    }
}

/// Logged and closed, but not released yet (202): what happens next and where.
fn held(ctx: &Ctx, id: i64, witnesses: bool) -> Response {
    let key = if witnesses {
        "web.req_held_witnesses"
    } else {
        "web.req_awaiting_what"
    };
    let body = html! {
        section.awaiting role="status" {
            p { strong { (ctx.t("web.req_awaiting_h")) } }
            p { (ctx.t(key)) }
            p { a href=(format!("/requests/{id}")) { (ctx.tr("web.req_back_to_request", &[("id", id.to_string())])) } }
        }
    };
    ctx.page_with(202, &ctx.t("web.req_awaiting_h"), body)
}

/// A fulfilled package again: rebuilt from its stored inputs, checked against the logged
/// digest, nothing logged twice (the path after a failed or held download).
fn download(ctx: &Ctx, id: i64) -> Page {
    ctx.require(Action::RequestManage)?;
    ctx.require(Action::RecordRead)?;
    let to = match target(ctx) {
        Ok(t) => t,
        Err(e) => return show(ctx, id, Some((400, e))),
    };
    // Not covered by a checkpoint yet: held, as when it was made (no receipt exists yet).
    let got = ctx.call(move |s| {
        if !s.request_package_state(id)?.covered {
            return Ok(None);
        }
        s.request_download_again(id, to.as_ref()).map(Some)
    })?;
    match got {
        Ok(Some(d)) => Ok(package_response(d)),
        Ok(None) => Ok(held(ctx, id, false)),
        Err(e @ (Error::AwaitingCheckpoint { .. } | Error::AwaitingWitnesses { .. })) => {
            let witnesses = matches!(e, Error::AwaitingWitnesses { .. });
            Ok(held(ctx, id, witnesses))
        }
        Err(e) if e.family() == Family::Usage => {
            let msg = crate::i18n::with_lang(ctx.lang, || e.to_string());
            show(ctx, id, Some((400, msg)))
        }
        Err(e) => Err(ctx.error(&e)),
    }
}

/// The package's receipt (its log entry under a checkpoint), as the CLI writes it beside
/// the package: the client or anyone can check the disclosure was logged.
fn receipt(ctx: &Ctx, id: i64) -> Page {
    ctx.require(Action::RequestManage)?;
    ctx.require(Action::RecordRead)?;
    match ctx.call(move |s| s.request_receipt(id))? {
        Ok(json) => Ok(Response::attachment(
            "application/json",
            &format!("access-package-{id}.age.receipt.json"),
            json.into_bytes(),
        )),
        Err(e @ (Error::AwaitingCheckpoint { .. } | Error::AwaitingWitnesses { .. })) => {
            let witnesses = matches!(e, Error::AwaitingWitnesses { .. });
            Ok(held(ctx, id, witnesses))
        }
        Err(e) => Err(ctx.error(&e)),
    }
}

/// Closes a correction with the amendment written on the record's page.
fn accept(ctx: &Ctx, id: i64) -> Page {
    ctx.require(Action::RequestManage)?;
    let amendment = match field(ctx, "amendment").parse::<i64>() {
        Ok(n) if n > 0 => n,
        _ => return show(ctx, id, Some((400, ctx.t("web.req_bad_record")))),
    };
    match ctx.call(move |s| s.request_accept_amended(id, amendment))? {
        Ok(_) => Ok(Response::see_other(format!("/requests/{id}"))),
        Err(e)
            if matches!(
                e.family(),
                Family::Usage | Family::Refused | Family::NotFound
            ) =>
        {
            let msg = crate::i18n::with_lang(ctx.lang, || e.to_string());
            show(ctx, id, Some((400, msg)))
        }
        Err(e) => Err(ctx.error(&e)),
    }
}

fn deny(ctx: &Ctx, id: i64) -> Page {
    ctx.require(Action::RequestManage)?;
    let reason = field(ctx, "reason");
    let statement = field(ctx, "statement");
    let r = ctx.call(move |s| {
        let st = (!statement.is_empty()).then_some(statement.as_str());
        s.request_deny(id, &reason, st)
    })?;
    match r {
        Ok(_) => Ok(Response::see_other(format!("/requests/{id}"))),
        Err(e) if matches!(e.family(), Family::Usage | Family::Refused) => {
            let msg = crate::i18n::with_lang(ctx.lang, || e.to_string());
            show(ctx, id, Some((form_status(&e), msg)))
        }
        Err(e) => Err(ctx.error(&e)),
    }
}
