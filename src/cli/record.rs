//! `casevault record …`

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Map, Value};

use super::context::{read_json_input, table};
use super::Context;
use crate::domain::time::format_time;
use crate::domain::MAX_RECORD_ATTACHMENT_BYTES;
use crate::error::{Error, Result};
use crate::tr;
use crate::vault::NewAttachment;
use zeroize::Zeroizing;

#[derive(Subcommand, Debug)]
pub enum RecordCmd {
    /// Add a record: template fields as a JSON object (--fields FILE, `-` for stdin) and/or
    /// free text (--text, stored in the `note` field). With neither, on a terminal, the
    /// fields are asked one by one.
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
        /// The template's fields as a JSON object in FILE (`-`: standard input);
        /// `record template KIND` prints an example.
        #[arg(long, value_name = "FILE")]
        fields: Option<PathBuf>,
        /// Free text, kept in the record's `note` field.
        #[arg(long)]
        text: Option<String>,
        /// Attach a file (repeatable; at most 64 MiB each). Only its file name is kept.
        #[arg(long = "attach", value_name = "FILE")]
        attach: Vec<PathBuf>,
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
        /// Attach a file to the amendment (repeatable; at most 64 MiB each).
        #[arg(long = "attach", value_name = "FILE")]
        attach: Vec<PathBuf>,
    },
    /// Print a fill-in example for a kind: the fields with their labels, types and required
    /// marks, then example JSON for --fields (bare JSON under --json). Same as `policy template`.
    Template(super::forms::TemplateArgs),
    /// Write a record's attachment, decrypted and checked against its signed hash, to
    /// standard output. Refused when standard output is a terminal: pipe it to a viewer
    /// or redirect it yourself (casevault never writes plaintext files).
    Attachment {
        /// The record id.
        record: i64,
        /// The attachment's name, as `record show` lists it.
        name: String,
    },
}

/// Reads `--attach` files: the file name only (no directories), size-checked before reading.
fn read_attachments(paths: &[PathBuf]) -> Result<Vec<NewAttachment>> {
    use std::io::Read;
    let max = MAX_RECORD_ATTACHMENT_BYTES as u64;
    paths
        .iter()
        .map(|p| {
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| Error::Invalid(tr!("cli.attach_no_name", path = p.display())))?
                .to_string();
            let file = std::fs::File::open(p).map_err(|e| Error::io(p, e))?;
            let meta = file.metadata().map_err(|e| Error::io(p, e))?;
            if !meta.is_file() {
                return Err(Error::Invalid(tr!(
                    "cli.attach_not_file",
                    path = p.display()
                )));
            }
            let too_large = || {
                Error::Invalid(tr!(
                    "cli.attach_too_large",
                    path = p.display(),
                    max_mib = max >> 20
                ))
            };
            if meta.len() > max {
                return Err(too_large());
            }
            let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
            file.take(max + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::io(p, e))?;
            if bytes.len() as u64 > max {
                return Err(too_large());
            }
            Ok(NewAttachment { name, bytes })
        })
        .collect()
}

pub(super) fn content(fields: Option<PathBuf>, text: Option<String>) -> Result<Map<String, Value>> {
    let mut map = match fields {
        Some(p) => {
            let bytes = read_json_input(&p)?;
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
            attach,
        } => {
            use std::io::IsTerminal;
            // Neither --fields nor --text: ask on a terminal, else say how to give them.
            let ask = fields.is_none() && text.is_none();
            if ask && !std::io::stdin().is_terminal() {
                return Err(Error::Invalid(tr!("forms.need_fields", kind = kind)));
            }
            let given = if ask {
                None
            } else {
                Some(content(fields, text)?)
            };
            let attachments = read_attachments(&attach)?;
            let mut s = ctx.session()?;
            let fields = if let Some(given) = given {
                given
            } else {
                let t = super::forms::template(&s.policy, &kind)?;
                let asked = super::forms::ask_fields(
                    t,
                    &mut std::io::stdin().lock(),
                    &mut std::io::stderr(),
                )?;
                if asked.is_empty() {
                    return Err(Error::Invalid(tr!("cli.record_empty")));
                }
                asked
            };
            let m = s.record_add_with(
                &crate::vault::NewRecord {
                    case_id: case,
                    kind,
                    tier,
                    fields,
                },
                &attachments,
            )?;
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
            attach,
        } => {
            let fields = content(fields, text)?;
            let attachments = read_attachments(&attach)?;
            let mut s = ctx.session()?;
            let m = s.record_amend_with(id, fields, tier, &attachments)?;
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
                        tr!("cli.h_id"),
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
                if !r.attachments.is_empty() {
                    t.push_str(&tr!("cli.attachments_heading", count = r.attachments.len()));
                    t.push('\n');
                    for a in &r.attachments {
                        t.push_str(&format!("  {}  ({})\n", a.name, human_size(a.size)));
                    }
                }
                t
            });
        }
        RecordCmd::Template(a) => super::forms::run_template(ctx, a)?,
        RecordCmd::Attachment { record, name } => {
            use std::io::IsTerminal;
            // Checked before anything is decrypted.
            if std::io::stdout().is_terminal() {
                return Err(Error::Invalid(tr!("cli.attachment_to_terminal")));
            }
            let mut s = ctx.session()?;
            let (_, bytes) = s.record_attachment(record, &name)?;
            super::out::bytes(&bytes);
        }
    }
    Ok(())
}

/// Bytes as B, KiB or MiB.
fn human_size(n: u64) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1 << 20 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{:.1} MiB", n as f64 / 1048576.0),
    }
}

/// The template's label in the current language, or the kind itself.
fn label(policy: &crate::policy::Policy, kind: &str) -> String {
    match policy.template(kind) {
        Some(t) if crate::i18n::lang() == crate::i18n::Lang::Zh => t.label_zh.clone(),
        Some(t) => t.label_en.clone(),
        None => kind.to_string(),
    }
}
