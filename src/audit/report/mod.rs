//! Rendering an audit [`Report`](super::Report): Markdown and HTML for people, JSON for
//! machines. Every label comes from the i18n catalog (`src/i18n/audit.toml`).

mod html;
mod md;

pub use html::{figure_rows, html, verdict};
pub use md::{markdown, state_text};

use super::Report;

/// Output formats of `audit run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Md,
    Json,
    Html,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "md" | "markdown" => Some(Format::Md),
            "json" => Some(Format::Json),
            "html" => Some(Format::Html),
            _ => None,
        }
    }
}

/// The report in `format`.
pub fn render(r: &Report, format: Format) -> String {
    match format {
        Format::Md => markdown(r),
        Format::Json => json(r),
        Format::Html => html(r),
    }
}

/// The auditor's role for people (the stable name if unknown).
pub(crate) fn role_label(r: &Report) -> String {
    crate::policy::Role::parse(&r.role)
        .map(|x| x.label())
        .unwrap_or_else(|| r.role.clone())
}

/// The JSON report (schema: `docs/audit.md`).
pub fn json(r: &Report) -> String {
    let mut v = serde_json::to_value(r).unwrap_or(serde_json::Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "clean".into(),
            serde_json::Value::Bool(r.findings.is_empty()),
        );
        o.insert("complete".into(), serde_json::Value::Bool(!r.incomplete()));
        o.insert(
            "worst".into(),
            r.worst()
                .map(|w| serde_json::Value::String(w.as_str().into()))
                .unwrap_or(serde_json::Value::Null),
        );
    }
    serde_json::to_string_pretty(&v).unwrap_or_else(|_| "null".into()) + "\n"
}
