//! `casevault record …`

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Map, Value};

use super::context::{read_input, table};
use super::Context;
use crate::domain::time::format_time;
use crate::error::{Error, Result};
use crate::tr;

#[derive(Subcommand, Debug)]
pub enum RecordCmd {
    /// Add a record: template fields as a JSON object (--fields FILE, `-` for stdin) and/or
    /// free text (--text, stored in the `note` field).
    Add {
        #[arg(long)]
        case: i64,
        /// Template kind: intake, service_plan, process, evaluation, closing, referral,
        /// supervision, risk_assessment, consent.
        #[arg(long)]
        kind: String,
        /// Raise the template's confidentiality tier (lowering it needs a supervisor).
        #[arg(long)]
        tier: Option<u8>,
        #[arg(long)]
        fields: Option<PathBuf>,
        #[arg(long)]
        text: Option<String>,
    },
    /// List a case's records (metadata only).
    List {
        #[arg(long)]
        case: i64,
    },
    /// Decrypt and show a record.
    Show { id: i64 },
    /// Append an amendment to a record (the original is kept).
    Amend {
        id: i64,
        #[arg(long)]
        fields: Option<PathBuf>,
        #[arg(long)]
        text: Option<String>,
        #[arg(long)]
        tier: Option<u8>,
    },
}

pub(super) fn content(fields: Option<PathBuf>, text: Option<String>) -> Result<Map<String, Value>> {
    let mut map = match fields {
        Some(p) => {
            let bytes = read_input(&p)?;
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(Error::Invalid(tr!("cli.fields_not_object"))),
                Err(e) => {
                    return Err(Error::Invalid(tr!(
                        "cli.bad_json",
                        line = e.line(),
                        column = e.column()
                    )))
                }
            }
        }
        None => Map::new(),
    };
    if let Some(t) = text {
        map.insert("note".into(), Value::String(t));
    }
    if map.is_empty() {
        return Err(Error::Invalid(tr!("cli.record_empty")));
    }
    Ok(map)
}

pub fn run(ctx: &mut Context, cmd: RecordCmd) -> Result<()> {
    match cmd {
        RecordCmd::Add {
            case,
            kind,
            tier,
            fields,
            text,
        } => {
            let fields = content(fields, text)?;
            let mut s = ctx.session()?;
            let m = s.record_add(&crate::vault::NewRecord {
                case_id: case,
                kind,
                tier,
                fields,
            })?;
            ctx.emit(&m, || {
                tr!(
                    "cli.record_added",
                    id = m.id,
                    case = m.case_id,
                    tier = m.tier
                )
            });
        }
        RecordCmd::Amend {
            id,
            fields,
            text,
            tier,
        } => {
            let fields = content(fields, text)?;
            let mut s = ctx.session()?;
            let m = s.record_amend(id, fields, tier)?;
            ctx.emit(&m, || tr!("cli.record_amended", id = m.id, original = id));
        }
        RecordCmd::List { case } => {
            let s = ctx.session()?;
            let rows = s.record_list(case)?;
            ctx.emit(&rows, || {
                let body: Vec<Vec<String>> = rows
                    .iter()
                    .map(|m| {
                        vec![
                            m.id.to_string(),
                            label(&s.policy, &m.kind),
                            m.tier.to_string(),
                            m.author.clone(),
                            format_time(m.created_at),
                            m.amends.map(|a| a.to_string()).unwrap_or_default(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "id".into(),
                        tr!("cli.h_kind"),
                        tr!("cli.h_tier"),
                        tr!("cli.h_author"),
                        tr!("cli.h_time"),
                        tr!("cli.h_amends"),
                    ],
                    &body,
                )
            });
        }
        RecordCmd::Show { id } => {
            let mut s = ctx.session()?;
            let r = s.record_show(id)?;
            let kind = label(&s.policy, &r.meta.kind);
            ctx.emit(&r, || {
                let mut t = format!(
                    "{} {} · {} · {} {} · {} · {}\n",
                    tr!("cli.h_record"),
                    r.meta.id,
                    kind,
                    tr!("cli.h_tier"),
                    r.meta.tier,
                    r.meta.author,
                    format_time(r.meta.created_at)
                );
                if let Some(a) = r.meta.amends {
                    t.push_str(&tr!("cli.amends_line", original = a));
                    t.push('\n');
                }
                t.push_str(&tr!("cli.signature_ok"));
                t.push('\n');
                for (k, v) in &r.fields {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    t.push_str(&format!("{k}: {v}\n"));
                }
                t
            });
        }
    }
    Ok(())
}

/// The template's label in the current language, or the kind itself.
fn label(policy: &crate::policy::Policy, kind: &str) -> String {
    match policy.template(kind) {
        Some(t) if crate::i18n::lang() == crate::i18n::Lang::Zh => t.label_zh.clone(),
        Some(t) => t.label_en.clone(),
        None => kind.to_string(),
    }
}
