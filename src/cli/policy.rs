//! `casevault policy …`

use std::path::PathBuf;

use clap::Subcommand;

use super::Context;
use crate::error::Result;
use crate::policy::Policy;
use crate::tr;

#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    /// Check a policy directory (default: the shipped policy); errors name file, line, column.
    Check { dir: Option<PathBuf> },
    /// Show the tiers and templates of a policy directory (default: the shipped policy).
    Show { dir: Option<PathBuf> },
    /// Put the policy in DIR into force in the vault (admin; logged).
    Apply { dir: PathBuf },
}

pub fn run(ctx: &mut Context, cmd: PolicyCmd) -> Result<()> {
    let (dir, show) = match cmd {
        PolicyCmd::Check { dir } => (dir, false),
        PolicyCmd::Show { dir } => (dir, true),
        PolicyCmd::Apply { dir } => {
            let sources = Policy::read_sources(&dir)?;
            let mut s = ctx.session()?;
            let digest = crate::crypto::hex(&s.policy_apply(&sources)?);
            ctx.emit(
                &serde_json::json!({ "applied": true, "digest": digest }),
                || tr!("cli.policy_applied", digest = &digest[..16]),
            );
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
        .map(|t| serde_json::json!({"kind": t.kind, "label_zh": t.label_zh, "label_en": t.label_en, "default_tier": t.default_tier, "retention_years": t.retention_years}))
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
            }
        }
        t
    });
    Ok(())
}
