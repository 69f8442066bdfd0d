//! The confidentiality audit (`audit.run`): the same checks as `casevault audit run`, run
//! on request (`POST /audit/run`: on a big vault it takes seconds) and shown grouped by
//! severity. The result is not kept anywhere: it lives in this one response. The audit reads
//! metadata only, so the page holds no record content.

use maud::{html, Markup};

use crate::audit::{self, report, CheckState, Report, Severity};
use crate::policy::Action;
use crate::web::layout::{Ctx, Page};

pub fn route(ctx: &Ctx, method: &str, segs: &[&str]) -> Option<Page> {
    match (method, segs) {
        ("GET", ["audit"]) => Some(start(ctx)),
        ("POST", ["audit", "run"]) => Some(run(ctx)),
        _ => None,
    }
}

fn run_form(ctx: &Ctx) -> Markup {
    html! {
        form method="post" action="/audit/run" {
            (ctx.csrf_field())
            button type="submit" { (ctx.t("web.audit_run")) }
        }
    }
}

fn start(ctx: &Ctx) -> Page {
    ctx.require(Action::AuditRun)?;
    let body = html! {
        p { (ctx.t("web.audit_intro")) }
        (run_form(ctx))
    };
    Ok(ctx.page(&ctx.t("web.audit_title"), body))
}

fn run(ctx: &Ctx) -> Page {
    ctx.require(Action::AuditRun)?;
    let r = ctx.run(|s| audit::run(s, &audit::Options { since: None }))?;
    // The report's own labels (verdict, figures, check states) are catalog texts of the
    // current language: render them in the request's.
    let body = crate::i18n::with_lang(ctx.lang, || results(ctx, &r));
    Ok(ctx.page(&ctx.t("web.audit_title"), body))
}

fn sev_class(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "sev sev-critical",
        Severity::High => "sev sev-high",
        Severity::Medium => "sev sev-medium",
        Severity::Low => "sev sev-low",
    }
}

fn results(ctx: &Ctx, r: &Report) -> Markup {
    // A finding's id names its check, or extends it (`log.warning` of the check `log`).
    let title_of = |id: &str| {
        r.checks
            .iter()
            .filter(|c| id == c.id || id.starts_with(&format!("{}.", c.id)))
            .max_by_key(|c| c.id.len())
            .map(|c| c.title.clone())
            .unwrap_or_else(|| id.to_string())
    };
    html! {
        p.verdict role="status" {
            (report::verdict(r)) " "
            (ctx.tr("web.audit_when", &[("time", crate::domain::time::format_time(r.generated_at))]))
        }
        (run_form(ctx))
        @for sev in Severity::ALL.iter().rev() {
            @let found: Vec<_> = r.findings.iter().filter(|f| f.severity == *sev).collect();
            @if !found.is_empty() {
                section.findings data-severity=(sev.as_str()) {
                    h2 {
                        span class=(sev_class(*sev)) { (sev.label()) }
                        " " (ctx.tr("web.audit_count", &[("count", found.len().to_string())]))
                    }
                    ul {
                        @for f in found {
                            li.finding data-check=(f.check) {
                                strong { (title_of(f.check)) }
                                p { (f.what) }
                                @if !f.location.is_empty() {
                                    p.where { (ctx.t("web.audit_where")) " " (f.location.join("、")) }
                                }
                                p.fix { (ctx.t("web.audit_fix")) " " (f.fix) }
                            }
                        }
                    }
                }
            }
        }
        @if r.findings.is_empty() {
            p { (ctx.t("web.audit_no_findings")) }
        }
        h2 { (ctx.t("web.audit_checks")) }
        table {
            thead { tr {
                th { (ctx.t("web.audit_check")) } th { (ctx.t("web.audit_state")) } th { (ctx.t("web.audit_findings")) }
            } }
            tbody {
                @for c in &r.checks {
                    tr class=[matches!(c.state, CheckState::Failed(_)).then_some("failed")] {
                        td { (c.title) } td { (report::state_text(&c.state)) } td { (c.findings) }
                    }
                }
            }
        }
        h2 { (ctx.t("web.audit_figures")) }
        table.facts {
            tbody {
                @for (label, n) in report::figure_rows(&r.figures) {
                    tr { th { (label) } td { (n) } }
                }
            }
        }
    }
}
