//! The referral wizard (issue 13 item 2): consent → records → preview → export → download,
//! the referral list, a referral's page (downloads, resend) and a supervisor's release.
//!
//! The wizard's state travels in re-posted hidden fields holding numeric ids only (the
//! consent id, the index of the purpose in the consent, record ids); every step asks the
//! library again (`referral_candidates`, `referral_preview`, `referral_submit`), which checks
//! everything again: nothing posted is trusted. Packets are built in memory and kept in a
//! small in-memory cache (ciphertext encrypted to the partner, its signature and receipt) so
//! the packet and its signature downloaded one after the other are of the same build; a
//! missing entry is rebuilt by `referral_resend` (same disclosure, nothing logged). See
//! docs/web.md, "Referrals".

use std::sync::Mutex;
use std::time::{Duration, Instant};

use maud::{html, Markup};

use crate::domain::time::{format_time, now};
use crate::domain::{Consent, ConsentBar};
use crate::error::Error;
use crate::packet::BuiltPacket;
use crate::policy::{Action, Role};
use crate::vault::{Export, ExportRequest, ScopedRecord};
use crate::web::http::Response;
use crate::web::layout::{Ctx, Page};

pub fn route(ctx: &Ctx, method: &str, segs: &[&str]) -> Option<Page> {
    match (method, segs) {
        ("GET", ["referrals"]) => Some(list(ctx)),
        ("GET", ["cases", c, "referral"]) => Some(id(c).and_then(|c| consents(ctx, c, None))),
        ("POST", ["cases", c, "referral"]) => Some(id(c).and_then(|c| records(ctx, c, None))),
        ("POST", ["cases", c, "referral", "preview"]) => Some(id(c).and_then(|c| preview(ctx, c))),
        ("POST", ["cases", c, "referral", "export"]) => {
            Some(ctx.once().and_then(|_| id(c)).and_then(|c| export(ctx, c)))
        }
        ("GET", ["referrals", r]) => Some(id(r).and_then(|r| show(ctx, r))),
        ("GET", ["referrals", r, "release"]) => Some(id(r).and_then(|r| release_page(ctx, r))),
        ("POST", ["referrals", r, "release"]) => {
            Some(ctx.once().and_then(|_| id(r)).and_then(|r| release(ctx, r)))
        }
        ("GET", ["referrals", r, "download", what]) => {
            Some(id(r).and_then(|r| download(ctx, r, what)))
        }
        _ => None,
    }
}

/// A numeric path segment (anything else is not one of our paths).
fn id(seg: &str) -> Result<i64, Response> {
    seg.parse::<i64>()
        .ok()
        .filter(|n| *n > 0 && seg.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| Response::text(404, "not found\n"))
}

// ---------------------------------------------------------------------------------------
// The cache of built packets.

/// How long a built packet stays downloadable from memory (then it is rebuilt).
const KEEP: Duration = Duration::from_secs(30 * 60);
/// At most this many packets are kept (the oldest goes first).
const KEEP_MAX: usize = 16;

/// A built packet: ciphertext for the partner, signature and receipt; no plaintext. Kept
/// per referral, not per member: whoever may see the referral (the library decides at each
/// download) gets the same build, e.g. the caseworker after a supervisor's release.
struct Kept {
    referral: i64,
    at: Instant,
    packet_id: String,
    ciphertext: Vec<u8>,
    minisig: Vec<u8>,
    receipt: Vec<u8>,
}

static KEPT: Mutex<Vec<Kept>> = Mutex::new(Vec::new());

fn kept() -> std::sync::MutexGuard<'static, Vec<Kept>> {
    KEPT.lock().unwrap_or_else(|p| p.into_inner())
}

fn keep(referral: i64, b: BuiltPacket) {
    let mut k = kept();
    k.retain(|e| e.at.elapsed() < KEEP && e.referral != referral);
    while k.len() >= KEEP_MAX {
        k.remove(0);
    }
    k.push(Kept {
        referral,
        at: Instant::now(),
        packet_id: b.packet_id,
        ciphertext: b.ciphertext,
        minisig: b.minisig.into_bytes(),
        receipt: b.receipt_json,
    });
}

/// The file `what` of a kept packet: (file name, bytes).
fn kept_file(referral: i64, what: &str) -> Option<(String, Vec<u8>)> {
    let k = kept();
    let e = k
        .iter()
        .find(|e| e.referral == referral && e.at.elapsed() < KEEP)?;
    let pid = &e.packet_id;
    match what {
        "packet" => Some((format!("{pid}.age"), e.ciphertext.clone())),
        "signature" => Some((format!("{pid}.age.minisig"), e.minisig.clone())),
        "receipt" => Some((format!("{pid}.receipt.json"), e.receipt.clone())),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// The wizard.

/// What the hidden fields carry between steps: numeric ids only.
struct Draft {
    consent: i64,
    /// Index of the purpose in the consent's purposes.
    purpose: usize,
    records: Vec<i64>,
}

impl Draft {
    fn hidden(&self, with_records: bool) -> Markup {
        html! {
            input type="hidden" name="consent" value=(self.consent);
            input type="hidden" name="purpose" value=(self.purpose);
            @if with_records {
                @for r in &self.records { input type="hidden" name="record" value=(r); }
            }
        }
    }
}

/// The consent and purpose posted, as numbers (`choice` is `consent:purpose` from step 1).
fn posted_draft(ctx: &Ctx) -> Option<Draft> {
    let num = |v: &str| v.trim().parse::<i64>().ok().filter(|n| *n >= 0);
    let (consent, purpose) = match ctx.req.form("choice") {
        Some(c) => {
            let (a, b) = c.split_once(':')?;
            (num(a)?, num(b)?)
        }
        None => (
            num(&ctx.req.form("consent")?)?,
            num(&ctx.req.form("purpose")?)?,
        ),
    };
    let mut records = Vec::new();
    for r in ctx.req.form_all("record") {
        records.push(num(&r)?);
    }
    Some(Draft {
        consent,
        purpose: usize::try_from(purpose).ok()?,
        records,
    })
}

fn bad_form(ctx: &Ctx) -> Response {
    ctx.page_with(
        400,
        &ctx.t("web.referral_title"),
        html! { p.error role="alert" { (ctx.t("web.referral_bad_form")) } },
    )
}

/// The steps, with the current one marked.
fn steps(ctx: &Ctx, at: usize) -> Markup {
    let keys = [
        "web.referral_step_consent",
        "web.referral_step_records",
        "web.referral_step_preview",
        "web.referral_step_done",
    ];
    html! {
        ol.steps {
            @for (i, k) in keys.iter().enumerate() {
                li aria-current=[(i == at).then_some("step")] { (ctx.t(k)) }
            }
        }
    }
}

/// Why a consent does not stand now, if it does not (the library's `Consent::permits`).
fn bar_text(ctx: &Ctx, c: &Consent, agency_active: bool) -> Option<String> {
    match c.permits(now()) {
        Err(ConsentBar::Revoked(at)) => {
            Some(ctx.tr("web.referral_bar_revoked", &[("date", format_time(at))]))
        }
        Err(ConsentBar::Expired) => Some(ctx.tr(
            "web.referral_bar_expired",
            &[("date", c.terms.expires_on.to_string())],
        )),
        Err(ConsentBar::NotYetSigned) => Some(ctx.t("web.referral_bar_not_yet")),
        Ok(()) if !agency_active => Some(ctx.t("web.referral_bar_agency")),
        Ok(()) => None,
    }
}

/// Step 1: the case client's consents; those that stand can be chosen (with one of their
/// purposes), the others say why not.
fn consents(ctx: &Ctx, case: i64, error: Option<String>) -> Page {
    ctx.require(Action::ReferralExport)?;
    let (case_row, list, agencies) = ctx.run(move |s| {
        let c = s.case_show(case)?;
        let list: Vec<Consent> = s.consents_of(c.client_id)?;
        let agencies: Vec<(i64, bool, String)> = s
            .agency_list()?
            .into_iter()
            .map(|a| {
                let key = crate::packet::PublicKey::parse(&a.minisign_pubkey)
                    .map(|k| k.key_id.to_string())
                    .unwrap_or_default();
                (a.id, a.active, key)
            })
            .collect();
        Ok((c, list, agencies))
    })?;
    let agency = |id: i64| agencies.iter().find(|a| a.0 == id);
    let title = ctx.tr("web.referral_case_title", &[("case", case.to_string())]);
    let status = if error.is_some() { 400 } else { 200 };
    let body = html! {
        (steps(ctx, 0))
        p { (ctx.tr("web.referral_client", &[("id", case_row.client_id.to_string())])) }
        @if let Some(e) = &error { p.error role="alert" { (e) } }
        @if list.is_empty() {
            p { (ctx.t("web.referral_no_consents")) }
        } @else {
            form.referral method="post" action=(format!("/cases/{case}/referral")) {
                (ctx.csrf_field())
                table {
                    thead { tr {
                        @for k in ["web.referral_h_choose", "web.referral_h_consent", "web.referral_h_agency",
                                   "web.referral_h_key", "web.referral_h_scope", "web.referral_h_period",
                                   "web.referral_h_state"] {
                            th { (ctx.t(k)) }
                        }
                    } }
                    tbody {
                        @for c in &list {
                            @let a = agency(c.agency_id);
                            @let bar = bar_text(ctx, c, a.is_some_and(|a| a.1));
                            tr.consent id=(format!("consent-{}", c.id)) {
                                td {
                                    @if bar.is_none() {
                                        @for (i, p) in c.terms.purposes.iter().enumerate() {
                                            label {
                                                input type="radio" name="choice" value=(format!("{}:{}", c.id, i)) required;
                                                " " (ctx.t("web.referral_purpose")) (p)
                                            }
                                        }
                                    } @else {
                                        "—"
                                    }
                                }
                                td { (c.id) }
                                td { (c.agency_name) }
                                td { code { (a.map(|a| a.2.as_str()).unwrap_or("")) } }
                                td {
                                    (c.terms.kinds.join(", ")) " · "
                                    (ctx.tr("web.referral_tiers", &[("tiers", c.terms.tiers.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", "))]))
                                }
                                td { (c.terms.signed_on.to_string()) " – " (c.terms.expires_on.to_string()) }
                                td {
                                    @match &bar {
                                        Some(why) => span.refused { (why) },
                                        None => span.ok { (ctx.t("web.referral_stands")) },
                                    }
                                }
                            }
                        }
                    }
                }
                button type="submit" { (ctx.t("web.referral_next")) }
            }
        }
    };
    Ok(ctx.page_with(status, &title, body))
}

/// Step 2 (the POST of step 1): the records the consent's scope covers, as the library
/// lists them; supervisor-only ones are marked.
fn records(ctx: &Ctx, case: i64, error: Option<String>) -> Page {
    ctx.require(Action::ReferralExport)?;
    let Some(d) = posted_draft(ctx) else {
        return consents(ctx, case, Some(ctx.t("web.referral_choose_consent")));
    };
    let consent = d.consent;
    let (offered, purposes, labels) = ctx.run(move |s| {
        let offered = s.referral_candidates(case, consent)?;
        let purposes = s.consent_show(consent)?.terms.purposes;
        // The policy's labels for kinds and tiers, in the request's language.
        let labels: Vec<(i64, String, String)> = offered
            .iter()
            .map(|r| {
                let m = &r.meta;
                let kind = s.policy.template(&m.kind).map(|t| t.label());
                let tier = s.policy.tier(m.tier).map(|t| t.label());
                (
                    m.id,
                    kind.unwrap_or_else(|| m.kind.clone()),
                    tier.unwrap_or_else(|| m.tier.to_string()),
                )
            })
            .collect();
        Ok((offered, purposes, labels))
    })?;
    let Some(purpose) = purposes.get(d.purpose) else {
        return Err(bad_form(ctx));
    };
    let supervisor = ctx.me.role == Role::Supervisor && ctx.me.may(Action::ReferralApprove);
    let title = ctx.tr("web.referral_case_title", &[("case", case.to_string())]);
    let status = if error.is_some() { 400 } else { 200 };
    let body = html! {
        (steps(ctx, 1))
        p { (ctx.tr("web.referral_under", &[("consent", consent.to_string()), ("purpose", purpose.clone())])) }
        @if let Some(e) = &error { p.error role="alert" { (e) } }
        @if offered.is_empty() {
            p { (ctx.t("web.referral_no_records")) }
        } @else {
            form.referral method="post" action=(format!("/cases/{case}/referral/preview")) {
                (ctx.csrf_field())
                (d.hidden(false))
                table {
                    thead { tr {
                        @for k in ["web.referral_h_choose", "web.referral_h_record", "web.referral_h_kind",
                                   "web.referral_h_tier", "web.referral_h_author", "web.referral_h_created",
                                   "web.referral_h_note"] {
                            th { (ctx.t(k)) }
                        }
                    } }
                    tbody {
                        @for r in &offered {
                            @let l = labels.iter().find(|l| l.0 == r.meta.id);
                            (record_row(ctx, r, l.map(|l| (l.1.as_str(), l.2.as_str())), d.records.contains(&r.meta.id)))
                        }
                    }
                }
                @if supervisor && offered.iter().any(|r| r.restricted && r.approved_by.is_none()) {
                    label {
                        input type="checkbox" name="approve" value="1";
                        " " (ctx.t("web.referral_approve_box"))
                    }
                }
                button type="submit" { (ctx.t("web.referral_to_preview")) }
            }
        }
    };
    Ok(ctx.page_with(status, &title, body))
}

fn record_row(ctx: &Ctx, r: &ScopedRecord, label: Option<(&str, &str)>, checked: bool) -> Markup {
    let m = &r.meta;
    let tier = m.tier.to_string();
    let (kind, tier) = label.unwrap_or((&m.kind, &tier));
    html! {
        tr.record id=(format!("record-{}", m.id)) {
            td { input type="checkbox" name="record" value=(m.id) checked[checked] aria-label=(m.id); }
            td { (m.id) }
            td { (kind) }
            td { (tier) }
            td { (m.author) }
            td { (format_time(m.created_at)) }
            td {
                @if r.restricted {
                    @match &r.approved_by {
                        Some(by) => span.restricted { (ctx.tr("web.referral_restricted_approved", &[("who", by.clone())])) },
                        None => span.restricted { (ctx.t("web.referral_restricted")) },
                    }
                }
            }
        }
    }
}

/// The export request the draft stands for (the agency is the consent's own).
fn request(ctx: &Ctx, case: i64, d: &Draft) -> Result<ExportRequest, Response> {
    let consent = d.consent;
    let c = ctx.run(move |s| s.consent_show(consent))?;
    let purpose = c
        .terms
        .purposes
        .get(d.purpose)
        .cloned()
        .ok_or_else(|| bad_form(ctx))?;
    Ok(ExportRequest {
        case_id: case,
        agency: c.agency_id.to_string(),
        consent_id: c.id,
        records: d.records.clone(),
        purpose,
        request_id: None,
        notice_for: None,
        release_of: None,
    })
}

/// The draft of a preview or export POST; no record chosen goes back to step 2 (an empty
/// list would mean "every record the consent covers" to the library).
fn chosen(ctx: &Ctx, case: i64) -> Result<(Draft, ExportRequest), Response> {
    let d = posted_draft(ctx).ok_or_else(|| bad_form(ctx))?;
    if d.records.is_empty() {
        return Err(
            match records(ctx, case, Some(ctx.t("web.referral_pick_one"))) {
                Ok(r) | Err(r) => r,
            },
        );
    }
    let req = request(ctx, case, &d)?;
    Ok((d, req))
}

/// Step 3: exactly what would leave, from the library's packet input.
fn preview(ctx: &Ctx, case: i64) -> Page {
    ctx.require(Action::ReferralExport)?;
    let (d, req) = chosen(ctx, case)?;
    if ctx.req.form("approve").as_deref().map(|v| v.as_str()) == Some("1") {
        // A supervisor approves the supervisor-only records chosen, as `referral approve`.
        ctx.require(Action::ReferralApprove)?;
        let (consent, ids) = (d.consent, d.records.clone());
        let restricted: Vec<i64> = ctx
            .run(move |s| s.referral_candidates(case, consent))?
            .into_iter()
            .filter(|r| r.restricted && r.approved_by.is_none() && ids.contains(&r.meta.id))
            .map(|r| r.meta.id)
            .collect();
        if !restricted.is_empty() {
            ctx.run(move |s| s.referral_approve(case, consent, &restricted))?;
        }
    }
    let r = req.clone();
    let p = ctx.run(move |s| s.referral_preview(&r))?;
    let title = ctx.tr("web.referral_case_title", &[("case", case.to_string())]);
    let releases_now = ctx.me.role == Role::Supervisor;
    let body = html! {
        (steps(ctx, 2))
        section.preview {
            h2 { (ctx.t("web.referral_preview_head")) }
            dl.facts {
                dt { (ctx.t("web.referral_h_agency")) } dd.agency { (p.agency.name) }
                dt { (ctx.t("web.referral_h_key")) } dd { code.key { (p.agency_key_id) } }
                dt { (ctx.t("web.referral_h_recipient")) } dd { code { (p.agency.age_recipient) } }
                dt { (ctx.t("web.referral_h_consent")) }
                dd { (ctx.tr("web.referral_consent_line", &[
                    ("id", p.consent.id.to_string()),
                    ("signer", p.consent.terms.signer_name.clone()),
                    ("from", p.consent.terms.signed_on.to_string()),
                    ("to", p.consent.terms.expires_on.to_string()),
                ])) }
                dt { (ctx.t("web.referral_h_purpose")) } dd { (p.purpose) }
                @if !p.approvers.is_empty() {
                    dt { (ctx.t("web.referral_h_approver")) } dd { (p.approvers.join(", ")) }
                }
            }
            p.notice { strong { (ctx.t("web.referral_will_log")) } }
            @for rec in &p.records {
                article.packet-record id=(format!("preview-{}", rec.id)) {
                    h3 { (ctx.tr("web.referral_record_head", &[("id", rec.id.clone()), ("kind", rec.kind_label.clone())])) }
                    p.meta { (ctx.tr("web.referral_record_meta", &[("tier", rec.tier.clone()), ("author", rec.author.clone()), ("created", rec.created.clone())])) }
                    table {
                        @if let serde_json::Value::Object(m) = &rec.content {
                            @for (k, v) in m {
                                tr { th { code { (k) } } td { (value_text(v)) } }
                            }
                        }
                    }
                }
            }
            @if !p.attachments.is_empty() {
                h3 { (ctx.t("web.referral_attachments")) }
                ul { @for (n, len) in &p.attachments { li { code { (n) } " (" (len) " B)" } } }
            }
            @for u in &p.unreadable {
                p.restricted { (ctx.tr("web.referral_unreadable", &[("id", u.id.to_string()), ("kind", u.kind.clone()), ("tier", u.tier.to_string())])) }
            }
        }
        form.referral method="post" action=(format!("/cases/{case}/referral/export")) {
            (ctx.csrf_field())
            (d.hidden(true))
            p { (ctx.t(if releases_now { "web.referral_export_now" } else { "web.referral_export_request" })) }
            button type="submit" { (ctx.t("web.referral_export_button")) }
        }
    };
    Ok(ctx.page(&title, body))
}

/// A field value as text (strings as they are, other JSON as JSON).
fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Step 4: the library's export (logs first, fails closed). A supervisor's goes out now; a
/// caseworker's waits for a supervisor's release.
fn export(ctx: &Ctx, case: i64) -> Page {
    ctx.require(Action::ReferralExport)?;
    let (_, req) = chosen(ctx, case)?;
    let done = ctx.call(move |s| s.referral_submit(&req))?;
    let title = ctx.tr("web.referral_case_title", &[("case", case.to_string())]);
    match done {
        Ok(Export::Released(b)) => {
            let (row, built) = *b;
            keep(row.id, built);
            Ok(Response::see_other(format!("/referrals/{}", row.id)))
        }
        Ok(Export::AwaitingRelease(rid)) => Ok(ctx.page(
            &title,
            html! {
                (steps(ctx, 3))
                p.notice role="status" { (ctx.tr("web.referral_awaiting_release", &[("id", rid.to_string())])) }
                p { a href="/referrals" { (ctx.t("web.referral_to_list")) } }
            },
        )),
        Err(e) => Err(committed_error(ctx, &e)),
    }
}

/// An error after the disclosure was committed (a checkpoint or witnesses still awaited)
/// says so and where the packet can be fetched later; other errors as usual.
fn committed_error(ctx: &Ctx, e: &Error) -> Response {
    match e {
        Error::AwaitingCheckpoint { log_index, .. }
        | Error::AwaitingWitnesses { log_index, .. } => {
            let msg = crate::i18n::with_lang(ctx.lang, || e.to_string());
            ctx.page_with(
                202,
                &ctx.t("web.referral_committed_title"),
                html! {
                    p.notice role="status" { (ctx.tr("web.referral_committed", &[("index", log_index.to_string())])) }
                    p { (msg) }
                    p { a href="/referrals" { (ctx.t("web.referral_to_list")) } }
                },
            )
        }
        _ => ctx.error(e),
    }
}

// ---------------------------------------------------------------------------------------
// The list, one referral, downloads, release.

fn list(ctx: &Ctx) -> Page {
    ctx.require(Action::ReferralExport)?;
    let (rows, pending) = ctx.run(|s| Ok((s.referral_list(None)?, s.referral_pending()?)))?;
    let supervisor = ctx.me.role == Role::Supervisor;
    let body = html! {
        @if !pending.is_empty() {
            h2 { (ctx.t("web.referral_pending_head")) }
            table.pending {
                thead { tr {
                    @for k in ["web.referral_h_release", "web.referral_h_case", "web.referral_h_agency",
                               "web.referral_h_records", "web.referral_h_requested_by", "web.referral_h_state"] {
                        th { (ctx.t(k)) }
                    }
                } }
                tbody {
                    @for p in &pending {
                        tr {
                            td {
                                @if supervisor { a href=(format!("/referrals/{}/release", p.id)) { (p.id) } }
                                @else { (p.id) }
                            }
                            td { (p.case_id) }
                            td { (p.agency) }
                            td { (p.records.iter().map(|r| r.id.to_string()).collect::<Vec<_>>().join(", ")) }
                            td { (p.requested_by) " · " (format_time(p.requested_at)) }
                            td {
                                @match &p.refused {
                                    Some(why) => span.refused { (why) },
                                    None => (ctx.t("web.referral_waiting")),
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { (ctx.t("web.referral_sent_head")) }
        @if rows.is_empty() {
            p { (ctx.t("web.referral_none")) }
        } @else {
            table.referrals {
                thead { tr {
                    @for k in ["web.referral_h_referral", "web.referral_h_case", "web.referral_h_agency",
                               "web.referral_h_consent", "web.referral_h_purpose", "web.referral_h_status",
                               "web.referral_h_sent"] {
                        th { (ctx.t(k)) }
                    }
                } }
                tbody {
                    @for r in &rows {
                        tr {
                            td { a href=(format!("/referrals/{}", r.id)) { (r.id) } }
                            td { (r.case_id) }
                            td { (r.agency_name) }
                            td { (r.consent_id) }
                            td { (r.purpose) }
                            td { (r.status) }
                            td { (r.sent_by) " · " (format_time(r.sent_at)) }
                        }
                    }
                }
            }
        }
    };
    Ok(ctx.page(&ctx.t("web.referral_list_title"), body))
}

/// One referral: what was sent and the downloads (rebuilt if the first download was lost).
fn show(ctx: &Ctx, id: i64) -> Page {
    ctx.require(Action::ReferralExport)?;
    let row = ctx
        .run(move |s| s.referral_list(None))?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| {
            ctx.error(&Error::NotFound {
                what: "referral",
                id: id.to_string(),
            })
        })?;
    let title = ctx.tr("web.referral_title_one", &[("id", id.to_string())]);
    let body = html! {
        (steps(ctx, 3))
        dl.facts {
            dt { (ctx.t("web.referral_h_case")) } dd { (row.case_id) }
            dt { (ctx.t("web.referral_h_agency")) } dd { (row.agency_name) }
            dt { (ctx.t("web.referral_h_consent")) } dd { (row.consent_id) }
            dt { (ctx.t("web.referral_h_purpose")) } dd { (row.purpose) }
            dt { (ctx.t("web.referral_h_records")) } dd.records { (row.records.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ")) }
            dt { (ctx.t("web.referral_h_status")) } dd { (row.status) }
            dt { (ctx.t("web.referral_h_packet")) } dd { code { (row.packet_id) } }
            dt { (ctx.t("web.referral_h_log")) } dd.log-index { (row.log_index) }
            dt { (ctx.t("web.referral_h_sent")) } dd { (row.sent_by) " · " (format_time(row.sent_at)) }
        }
        p.notice { (ctx.tr("web.referral_logged", &[("index", row.log_index.to_string())])) }
        h2 { (ctx.t("web.referral_downloads")) }
        p { (ctx.t("web.referral_download_hint")) }
        ul.downloads {
            li { a #dl-packet href=(format!("/referrals/{id}/download/packet")) download { (ctx.t("web.referral_dl_packet")) } }
            li { a #dl-signature href=(format!("/referrals/{id}/download/signature")) download { (ctx.t("web.referral_dl_signature")) } }
            li { a #dl-receipt href=(format!("/referrals/{id}/download/receipt")) download { (ctx.t("web.referral_dl_receipt")) } }
        }
    };
    Ok(ctx.page(&title, body))
}

/// A packet file as an attachment: the one built at export if still kept, otherwise rebuilt
/// by the library's resend (the same disclosure: checked against the log, nothing logged).
fn download(ctx: &Ctx, id: i64, what: &str) -> Page {
    ctx.require(Action::ReferralExport)?;
    if !matches!(what, "packet" | "signature" | "receipt") {
        return Err(Response::text(404, "not found\n"));
    }
    // Access is the library's question each time, kept or not.
    let visible = ctx
        .run(move |s| s.referral_list(None))?
        .iter()
        .any(|r| r.id == id);
    if !visible {
        return Err(ctx.error(&Error::NotFound {
            what: "referral",
            id: id.to_string(),
        }));
    }
    if kept_file(id, what).is_none() {
        let built = ctx
            .call(move |s| s.referral_resend(id))?
            .map_err(|e| committed_error(ctx, &e))?;
        keep(id, built.1);
    }
    let (name, bytes) = kept_file(id, what).ok_or_else(|| Response::text(404, "not found\n"))?;
    Ok(Response::attachment(
        "application/octet-stream",
        &name,
        bytes,
    ))
}

/// A supervisor's review of a caseworker's export request (`referral pending`), with the
/// release button; the digest binds the release to what is shown.
fn release_page(ctx: &Ctx, id: i64) -> Page {
    ctx.require(Action::ReferralApprove)?;
    if ctx.me.role != Role::Supervisor {
        return Err(ctx.refusal(&ctx.t("web.not_for_role")));
    }
    let p = ctx
        .run(|s| s.referral_pending())?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| {
            ctx.error(&Error::NotFound {
                what: "release request",
                id: id.to_string(),
            })
        })?;
    let title = ctx.tr("web.referral_release_title", &[("id", id.to_string())]);
    let body = html! {
        dl.facts {
            dt { (ctx.t("web.referral_h_case")) } dd { (p.case_id) }
            dt { (ctx.t("web.referral_h_agency")) } dd { (p.agency) }
            dt { (ctx.t("web.referral_h_consent")) } dd { (p.consent_id) }
            dt { (ctx.t("web.referral_h_purpose")) } dd { (p.purpose) }
            dt { (ctx.t("web.referral_h_requested_by")) } dd { (p.requested_by) " · " (format_time(p.requested_at)) }
            dt { (ctx.t("web.referral_h_digest")) } dd { code { (p.digest) } }
        }
        table {
            thead { tr { @for k in ["web.referral_h_record", "web.referral_h_kind", "web.referral_h_tier"] { th { (ctx.t(k)) } } } }
            tbody { @for r in &p.records { tr { td { (r.id) } td { (r.kind) } td { (r.tier) } } } }
        }
        @if let Some(why) = &p.refused {
            p.error role="alert" { (why) }
        } @else {
            p.notice { strong { (ctx.t("web.referral_will_log")) } }
            form method="post" action=(format!("/referrals/{id}/release")) {
                (ctx.csrf_field())
                input type="hidden" name="digest" value=(p.digest);
                button type="submit" { (ctx.t("web.referral_release_button")) }
            }
        }
    };
    Ok(ctx.page(&title, body))
}

/// The release itself: the library's `referral_release` (every check again, logged first).
fn release(ctx: &Ctx, id: i64) -> Page {
    ctx.require(Action::ReferralApprove)?;
    let digest = ctx
        .req
        .form("digest")
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| bad_form(ctx))?;
    let (row, built) = ctx
        .call(move |s| s.referral_release(id, &digest))?
        .map_err(|e| committed_error(ctx, &e))?;
    keep(row.id, built);
    Ok(Response::see_other(format!("/referrals/{}", row.id)))
}
