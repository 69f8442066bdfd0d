//! `casevault policy …`

use std::path::PathBuf;

use clap::Subcommand;

use super::Context;
use crate::error::Result;
use crate::policy::Policy;
use crate::tr;
use crate::vault::PolicyOutcome;

#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    /// Check a policy directory (default: the shipped policy); errors name file, line, column.
    Check { dir: Option<PathBuf> },
    /// Show the tiers and templates of a policy directory (default: the shipped policy), with
    /// each template's fields: label, type, required mark.
    Show { dir: Option<PathBuf> },
    /// Print a fill-in example for a kind (same as `record template`).
    Template(super::forms::TemplateArgs),
    /// Put the policy in DIR into force in the vault (admin; logged). A change that lowers
    /// protection on a vault with records needs `policy approve DIR` by a supervisor first.
    Apply { dir: PathBuf },
    /// Approve the policy in DIR as a supervisor, so that an admin may apply it (logged).
    Approve { dir: PathBuf },
}

pub fn run(ctx: &mut Context, cmd: PolicyCmd) -> Result<()> {
    let (dir, show) = match cmd {
        PolicyCmd::Check { dir } => (dir, false),
        PolicyCmd::Show { dir } => (dir, true),
        PolicyCmd::Apply { dir } => {
            let sources = Policy::read_sources(&dir)?;
            let mut s = ctx.session()?;
            let o = s.policy_apply(&sources)?;
            emit_outcome(ctx, &o, false);
            return Ok(());
        }
        PolicyCmd::Template(a) => return super::forms::run_template(ctx, a),
        PolicyCmd::Approve { dir } => {
            let sources = Policy::read_sources(&dir)?;
            let mut s = ctx.session()?;
            let o = s.policy_approve(&sources)?;
            emit_outcome(ctx, &o, true);
            return Ok(());
        }
    };
    let sources = match &dir {
        Some(d) => Policy::read_sources(d)?,
        None => Policy::embedded_sources(),
    };
    let p = Policy::from_sources(&sources)?;
    let tiers: Vec<serde_json::Value> = p
        .tiers
        .iter()
        .map(|t| serde_json::json!({"level": t.level, "name": t.name, "label_zh": t.label_zh, "label_en": t.label_en, "supervisor_only": t.supervisor_only}))
        .collect();
    let templates: Vec<serde_json::Value> = p
        .templates
        .values()
        .map(|t| serde_json::json!({"kind": t.kind, "label_zh": t.label_zh, "label_en": t.label_en, "default_tier": t.default_tier, "retention_years": t.retention_years, "fields": t.fields.iter().map(super::forms::field_json).collect::<Vec<_>>()}))
        .collect();
    let digest = crate::crypto::hex(&Policy::digest(&sources));
    let out = serde_json::json!({"valid": true, "digest": digest, "minor_age": p.minor_age, "tiers": tiers, "templates": templates});
    ctx.emit(&out, || {
        let mut t = tr!(
            "cli.policy_ok",
            files = sources.len(),
            digest = &digest[..16]
        );
        if show {
            t.push('\n');
            for tier in &p.tiers {
                t.push_str(&format!(
                    "  {} {} {} / {}{}\n",
                    tr!("cli.h_tier"),
                    tier.level,
                    tier.label_zh,
                    tier.label_en,
                    if tier.supervisor_only {
                        " (supervisor-only)"
                    } else {
                        ""
                    }
                ));
            }
            for tpl in p.templates.values() {
                t.push_str(&format!(
                    "  {:<16} {} / {} · {} {}\n",
                    tpl.kind,
                    tpl.label_zh,
                    tpl.label_en,
                    tr!("cli.h_tier"),
                    tpl.default_tier
                ));
                t.push_str(&tr!("forms.policy_fields"));
                t.push('\n');
                for line in super::forms::fields_table(tpl).lines() {
                    t.push_str(&format!("    {line}\n"));
                }
            }
        }
        t
    });
    Ok(())
}

/// Prints what `policy apply`/`approve` did: the changes, one per line, lowering ones marked.
fn emit_outcome(ctx: &mut Context, o: &PolicyOutcome, approve: bool) {
    let approval = o
        .approval
        .as_ref()
        .map(|(i, by)| serde_json::json!({ "log_index": i, "by": by }));
    let mut json = serde_json::json!({
        "digest": o.digest,
        "log_index": o.log_index,
        "lowers": o.lowers,
        "changes": o.changes.iter().map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            if let Some(m) = v.as_object_mut() {
                m.insert("lowers".into(), c.lowers().into());
                m.insert("summary".into(), c.short().into());
            }
            v
        }).collect::<Vec<_>>(),
        "approval": approval,
    });
    json[if approve { "approved" } else { "applied" }] = true.into();
    ctx.emit(&json, || {
        let mut t = if approve {
            tr!(
                "cli.policy_approved",
                digest = &o.digest[..16],
                index = o.log_index
            )
        } else {
            tr!("cli.policy_applied", digest = &o.digest[..16])
        };
        if let Some((i, by)) = &o.approval {
            t.push('\n');
            t.push_str(&tr!("cli.policy_cosigned", by = by, index = i));
        }
        t.push('\n');
        if o.changes.is_empty() {
            t.push_str(&tr!("cli.policy_no_changes"));
        } else {
            t.push_str(&tr!("cli.policy_changes"));
            for c in &o.changes {
                t.push_str(&format!(
                    "\n  {} {}",
                    if c.lowers() { "!" } else { "·" },
                    c.describe()
                ));
            }
        }
        t
    });
}
