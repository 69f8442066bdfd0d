//! The disclosure log's status (`log.verify`): each view checks the head against the last
//! checkpoint and the remembered state (cheap, a tamper alarm shown first); "verify now"
//! (`POST /log/verify`) runs the same in-vault verification as `casevault log verify`
//! (entries, checkpoints, signatures, witnesses' cosignatures), kept nowhere but the response.
//! For `log.read`, the entries, newest first, 50 a page, each shown one's signature checked,
//! with kinds and legal bases in words as `log show` prints them.

use maud::{html, Markup};

use crate::cli::log::{basis_label, detail_label, kind_label};
use crate::domain::time::format_time;
use crate::policy::Action;
use crate::vault::disclosure::HeadStatus;
use crate::web::layout::{Ctx, Page};

/// Entries per page.
pub const PAGE: usize = 50;

pub fn route(ctx: &Ctx, method: &str, segs: &[&str]) -> Option<Page> {
    match (method, segs) {
        ("GET", ["log"]) => Some(status(ctx, 1, false)),
        ("GET", ["log", "entries", "page", n]) => match n.parse::<usize>() {
            // Beyond any log (the offset would overflow): not a page.
            Ok(n) if (1..=super::cases::MAX_PAGE).contains(&n) => Some(status(ctx, n, false)),
            _ => None,
        },
        ("POST", ["log", "verify"]) => Some(status(ctx, 1, true)),
        _ => None,
    }
}

/// What the full verification found, in the request's language (made on the session thread).
struct Status {
    ok: bool,
    size: u64,
    checkpoints_checked: u64,
    signatures_checked: u64,
    errors: Vec<String>,
    warnings: Vec<String>,
    /// The latest checkpoint's size.
    latest: Option<u64>,
    need: usize,
    witnessed: usize,
    checkpoints: usize,
    latest_ok: bool,
    invalid: Vec<String>,
}

/// The cheap check every view runs, or the full one the "verify now" button asks for.
enum Checked {
    Head(HeadStatus),
    Full(Status),
}

/// One entry as `log show` prints it.
struct Row {
    index: u64,
    time: String,
    kind: String,
    actor: String,
    client: String,
    recipient: String,
    basis: String,
    detail: String,
}

/// The full verification: every entry's signature, the tree, checkpoints, witnesses. Seconds
/// on a big log, so only on request; the result lives in this one response.
fn full(s: &crate::vault::Session) -> std::result::Result<Checked, String> {
    let r = s.log_verify(&[]).map_err(|e| e.to_string())?;
    let w = s.witness_check().map_err(|e| e.to_string())?;
    let latest = crate::log::latest_checkpoint(&s.conn)
        .map_err(|e| e.to_string())?
        .map(|c| c.0);
    Ok(Checked::Full(Status {
        ok: r.is_ok() && w.invalid.is_empty(),
        size: r.size,
        checkpoints_checked: r.checkpoints_checked,
        signatures_checked: r.signatures_checked,
        errors: r.errors.iter().map(|e| e.to_string()).collect(),
        warnings: r.warnings.iter().map(|e| e.to_string()).collect(),
        latest,
        need: w.need,
        witnessed: w.meeting_quorum,
        checkpoints: w.checkpoints,
        latest_ok: w.latest_ok,
        invalid: w.invalid,
    }))
}

fn status(ctx: &Ctx, page: usize, verify_now: bool) -> Page {
    ctx.require(Action::LogVerify)?;
    // A verification that cannot even run (a damaged log) is an alarm too, not an error page.
    let st = ctx.call(move |s| -> std::result::Result<Checked, String> {
        if verify_now {
            full(s)
        } else {
            s.log_head_status()
                .map(Checked::Head)
                .map_err(|e| e.to_string())
        }
    })?;
    let entries = if ctx.me.may(Action::LogRead) {
        // Only the shown entries are read, each one's signature checked: a bad one is an
        // alarm in place of the table.
        Some(
            ctx.call(move |s| -> std::result::Result<(usize, Vec<Row>), String> {
                let skip = ((page - 1) * PAGE) as u64;
                let (total, rows) = s.log_page(skip, PAGE as u64).map_err(|e| e.to_string())?;
                let rows = rows
                    .into_iter()
                    .map(|r| Row {
                        index: r.index,
                        time: format_time(r.time),
                        kind: kind_label(r.kind),
                        actor: r.actor,
                        client: r.client.unwrap_or_default(),
                        recipient: r.recipient,
                        basis: basis_label(&r.basis),
                        detail: detail_label(&r.detail),
                    })
                    .collect();
                Ok((total as usize, rows))
            })?,
        )
    } else if page > 1 {
        return Err(ctx.refusal(&ctx.t("web.not_for_role")));
    } else {
        None
    };
    let body = html! {
        @match &st {
            Err(why) => {
                p.alarm role="alert" { strong { (ctx.t("web.log_alarm")) } " " (why) }
            }
            Ok(Checked::Full(st)) => (verification(ctx, st)),
            Ok(Checked::Head(h)) => (head(ctx, h)),
        }
        form method="post" action="/log/verify" {
            (ctx.csrf_field())
            button type="submit" { (ctx.t("web.log_verify_now")) }
        }
        @match &entries {
            Some(Ok((total, rows))) => (entry_table(ctx, page, *total, rows)),
            Some(Err(why)) => {
                p.alarm role="alert" { strong { (ctx.t("web.log_alarm")) } " " (why) }
            }
            None => {}
        }
    };
    Ok(ctx.page(&ctx.t("web.log_title"), body))
}

/// The cheap check's result: the head, the remembered state, the latest checkpoint.
fn head(ctx: &Ctx, h: &HeadStatus) -> Markup {
    html! {
        @if h.errors.is_empty() {
            p.verified role="status" { (ctx.t("web.log_head_ok")) }
        } @else {
            div.alarm role="alert" {
                p { strong { (ctx.t("web.log_alarm")) } " " (ctx.t("web.log_alarm_what")) }
                ul { @for e in &h.errors { li { (e) } } }
            }
        }
        table.facts {
            tbody {
                (coverage(ctx, h.size, h.latest))
            }
        }
    }
}

/// Entries, the latest checkpoint and whether it covers them all.
fn coverage(ctx: &Ctx, size: u64, latest: Option<u64>) -> Markup {
    let covered = latest.is_some_and(|l| l >= size);
    html! {
        tr { th { (ctx.t("web.log_entries")) } td { (size) } }
        tr { th { (ctx.t("web.log_latest_checkpoint")) } td {
            @match latest {
                Some(l) => (ctx.tr("web.log_checkpoint_size", &[("size", l.to_string())])),
                None => (ctx.t("web.log_none")),
            }
        } }
        tr { th { (ctx.t("web.log_covered")) } td {
            @if covered {
                (ctx.t("web.log_covered_yes"))
            } @else {
                span.waiting { (ctx.tr("web.log_covered_no", &[("count", size.saturating_sub(latest.unwrap_or(0)).to_string())])) }
            }
        } }
    }
}

fn verification(ctx: &Ctx, st: &Status) -> Markup {
    html! {
        @if st.ok {
            p.verified role="status" { (ctx.t("web.log_verified")) }
        } @else {
            div.alarm role="alert" {
                p { strong { (ctx.t("web.log_alarm")) } " " (ctx.t("web.log_alarm_what")) }
                ul {
                    @for e in &st.errors { li { (e) } }
                    @for e in &st.invalid { li { (e) } }
                }
            }
        }
        table.facts {
            tbody {
                (coverage(ctx, st.size, st.latest))
                tr { th { (ctx.t("web.log_checked")) } td {
                    (ctx.tr("web.log_checked_counts", &[
                        ("checkpoints", st.checkpoints_checked.to_string()),
                        ("signatures", st.signatures_checked.to_string()),
                    ]))
                } }
                tr { th { (ctx.t("web.log_witnesses")) } td {
                    @if st.need == 0 && st.checkpoints <= 1 && st.invalid.is_empty() {
                        (ctx.t("web.log_no_witnesses"))
                    } @else {
                        (ctx.tr("web.log_witness_counts", &[
                            ("met", st.witnessed.to_string()),
                            ("total", st.checkpoints.to_string()),
                            ("need", st.need.to_string()),
                        ]))
                        @if st.need > 0 {
                            " · "
                            @if st.latest_ok { (ctx.t("web.log_latest_witnessed")) }
                            @else { (ctx.t("web.log_latest_not_witnessed")) }
                        }
                    }
                } }
            }
        }
        @if !st.warnings.is_empty() {
            h2 { (ctx.t("web.log_warnings")) }
            ul { @for w in &st.warnings { li { (w) } } }
        }
    }
}

fn entry_table(ctx: &Ctx, page: usize, total: usize, rows: &[Row]) -> Markup {
    let pages = total.div_ceil(PAGE).max(1);
    html! {
        h2 { (ctx.t("web.log_recent")) }
        @if rows.is_empty() {
            p { (ctx.t("web.log_none")) }
        } @else {
            table {
                thead { tr {
                    th { "#" }
                    @for k in ["web.log_h_time", "web.log_h_log_kind", "web.log_h_actor", "web.log_h_client", "web.log_h_recipient", "web.log_h_basis", "web.log_h_detail"] {
                        th { (ctx.t(k)) }
                    }
                } }
                tbody {
                    @for r in rows {
                        tr {
                            td { (r.index) } td { (r.time) } td { (r.kind) } td { (r.actor) }
                            td { (r.client) } td { (r.recipient) } td { (r.basis) } td { (r.detail) }
                        }
                    }
                }
            }
        }
        nav.pager aria-label=(ctx.t("web.log_pages")) {
            @if page > 1 {
                a rel="prev" href=(format!("/log/entries/page/{}", page - 1)) { (ctx.t("web.log_newer")) }
            }
            span { (ctx.tr("web.log_page_of", &[("page", page.to_string()), ("pages", pages.to_string())])) }
            @if page < pages {
                a rel="next" href=(format!("/log/entries/page/{}", page + 1)) { (ctx.t("web.log_older")) }
            }
        }
    }
}
