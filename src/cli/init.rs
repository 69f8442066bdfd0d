//! `casevault init`

use std::path::PathBuf;

use clap::Args;

use super::Context;
use crate::error::Result;
use crate::policy::Policy;
use crate::tr;
use crate::vault::{self, InitOptions};

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The agency's name (机构名称).
    #[arg(long)]
    pub agency: String,
    /// The first admin's staff name.
    #[arg(long)]
    pub admin: String,
    /// Where to write the recovery key, once (a new file; move it offline afterwards).
    #[arg(long)]
    pub recovery_out: PathBuf,
    /// Policy directory (default: the shipped policy).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Read the admin's new passphrase from this file (else $CASEVAULT_NEW_PASSPHRASE, else a prompt).
    #[arg(long)]
    pub new_passphrase_file: Option<PathBuf>,
}

pub fn run(ctx: &mut Context, a: InitArgs) -> Result<()> {
    let policy_sources = match &a.policy {
        Some(dir) => Policy::read_sources(dir)?,
        None => Policy::embedded_sources(),
    };
    let pass = ctx.new_passphrase(a.new_passphrase_file.as_deref(), &a.admin)?;
    vault::init(
        &ctx.vault,
        InitOptions {
            agency: a.agency.clone(),
            admin: a.admin.clone(),
            admin_passphrase: pass,
            policy_sources,
            recovery_out: a.recovery_out.clone(),
        },
    )?;
    let out = serde_json::json!({
        "vault": ctx.vault.root, "agency": a.agency, "admin": a.admin, "recovery_key": a.recovery_out,
    });
    ctx.emit(&out, || {
        tr!(
            "cli.init_done",
            vault = ctx.vault.root.display(),
            admin = a.admin,
            recovery = a.recovery_out.display()
        )
    });
    Ok(())
}
