//! The disclosure log's status (`log.verify`): the same in-vault verification as
//! `casevault log verify` (entries, checkpoints, signatures, witnesses' cosignatures, a tamper
//! alarm shown first), and for `log.read` the entries, newest first, 50 a page, with kinds
//! and legal bases in words as `log show` prints them.

use maud::{html, Markup};

use crate::cli::log::{basis_label, detail_label, kind_label};
use crate::domain::time::format_time;
use crate::policy::Action;
use crate::vault::disclosure::LogQuery;
use crate::web::layout::{Ctx, Page};

/// Entries per page.
pub const PAGE: usize = 50;

pub fn route(ctx: &Ctx, method: &str, segs: &[&str]) -> Option<Page> {
    match (method, segs) {
        ("GET", ["log"]) => Some(status(ctx, 1)),
        ("GET", ["log", "entries", "page", n]) => match n.parse::<usize>() {
            Ok(n) if n >= 1 => Some(status(ctx, n)),
            _ => None,
        },
        _ => None,
    }
}

/// What the verification found, in the request's language (made on the session thread).
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

fn status(ctx: &Ctx, page: usize) -> Page {
    ctx.require(Action::LogVerify)?;
    // A verification that cannot even run (a damaged log) is an alarm too, not an error page.
    let st = ctx.call(|s| -> std::result::Result<Status, String> {
        let r = s.log_verify(&[]).map_err(|e| e.to_string())?;
        let w = s.witness_check().map_err(|e| e.to_string())?;
        let latest = crate::log::latest_checkpoint(&s.conn)
            .map_err(|e| e.to_string())?
            .map(|c| c.0);
        Ok(Status {
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
        })
    })?;
    let entries = if ctx.me.may(Action::LogRead) {
        Some(ctx.run(move |s| {
            let rows = s.log_show(&LogQuery::default())?;
            let total = rows.len();
            let rows: Vec<Row> = rows
                .into_iter()
                .rev()
                .skip((page - 1) * PAGE)
                .take(PAGE)
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
            Ok((total, rows))
        })?)
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
            Ok(st) => (verification(ctx, st)),
        }
        @if let Some((total, rows)) = &entries {
            (entry_table(ctx, page, *total, rows))
        }
    };
    Ok(ctx.page(&ctx.t("web.log_title"), body))
}

fn verification(ctx: &Ctx, st: &Status) -> Markup {
    let covered = st.latest.is_some_and(|l| l >= st.size);
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
                tr { th { (ctx.t("web.log_entries")) } td { (st.size) } }
                tr { th { (ctx.t("web.log_latest_checkpoint")) } td {
                    @match st.latest {
                        Some(l) => (ctx.tr("web.log_checkpoint_size", &[("size", l.to_string())])),
                        None => (ctx.t("web.log_none")),
                    }
                } }
                tr { th { (ctx.t("web.log_covered")) } td {
                    @if covered {
                        (ctx.t("web.log_covered_yes"))
                    } @else {
                        span.waiting { (ctx.tr("web.log_covered_no", &[("count", (st.size - st.latest.unwrap_or(0)).to_string())])) }
                    }
                } }
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
