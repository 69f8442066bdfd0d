//! The Markdown report: summary, checks, findings, disclosure tables.

use crate::audit::{CheckState, Report};
use crate::domain::time::format_time;
use crate::tr;

/// Escapes text for a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    s.push_str(&format!("# {}\n\n", tr!("audit.title", agency = r.agency)));
    s.push_str(&format!(
        "{}\n\n",
        tr!(
            "audit.meta",
            time = format_time(r.generated_at),
            auditor = r.auditor,
            role = super::role_label(r)
        )
    ));
    if let Some(since) = &r.since {
        s.push_str(&format!("{}\n\n", tr!("audit.since", date = since)));
    }
    s.push_str(&format!("## {}\n\n", tr!("audit.h.summary")));
    s.push_str(&format!("**{}**\n\n", super::html::verdict(r)));
    for (sev, n) in r.counts().into_iter().rev() {
        s.push_str(&format!("- {}: {}\n", sev.label(), n));
    }
    let f = &r.figures;
    s.push('\n');
    for (k, v) in super::html::figure_rows(f) {
        s.push_str(&format!("- {k}: {v}\n"));
    }
    s.push_str(&format!("\n## {}\n\n", tr!("audit.h.checks")));
    s.push_str(&format!(
        "| {} | {} | {} | {} |\n|---|---|---|---|\n",
        tr!("audit.col.check"),
        tr!("audit.col.title"),
        tr!("audit.col.state"),
        tr!("audit.col.findings")
    ));
    for c in &r.checks {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            c.id,
            cell(&c.title),
            cell(&state_text(&c.state)),
            c.findings
        ));
    }
    s.push_str(&format!("\n## {}\n\n", tr!("audit.h.findings")));
    if r.findings.is_empty() {
        s.push_str(&format!("{}\n", tr!("audit.none")));
    }
    for (i, f) in r.findings.iter().enumerate() {
        s.push_str(&format!(
            "### {}. [{}] `{}`\n\n",
            i + 1,
            f.severity.label(),
            f.check
        ));
        s.push_str(&format!("- {}: {}\n", tr!("audit.col.what"), f.what));
        if !f.location.is_empty() {
            s.push_str(&format!(
                "- {}: {}\n",
                tr!("audit.col.where"),
                f.location.join(", ")
            ));
        }
        s.push_str(&format!("- {}: {}\n\n", tr!("audit.col.fix"), f.fix));
    }
    s.push_str(&format!("\n## {}\n\n", tr!("audit.h.by_month")));
    table(&mut s, &tr!("audit.col.month"), &r.disclosures_by_month);
    s.push_str(&format!("\n## {}\n\n", tr!("audit.h.by_recipient")));
    table(
        &mut s,
        &tr!("audit.col.recipient"),
        &r.disclosures_by_recipient,
    );
    s
}

fn table(s: &mut String, head: &str, rows: &[(String, u64)]) {
    if rows.is_empty() {
        s.push_str(&format!("{}\n", tr!("audit.no_disclosures")));
        return;
    }
    s.push_str(&format!(
        "| {} | {} |\n|---|---:|\n",
        head,
        tr!("audit.col.count")
    ));
    for (k, n) in rows {
        s.push_str(&format!("| {} | {} |\n", cell(k), n));
    }
}

/// A check's state for people.
pub fn state_text(s: &CheckState) -> String {
    match s {
        CheckState::Ran => tr!("audit.state.ran"),
        CheckState::Skipped(why) => tr!("audit.state.skipped", reason = why),
        CheckState::Failed(why) => tr!("audit.state.failed", reason = why),
    }
}
