//! `casevault init`

use std::path::PathBuf;

use clap::Args;

use super::Context;
use crate::error::Result;
use crate::policy::Policy;
use crate::tr;
use crate::vault::recovery::ShareSpec;
use crate::vault::{self, InitOptions};

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The agency's name (机构名称).
    #[arg(long)]
    pub agency: String,
    /// The first admin's staff name.
    #[arg(long)]
    pub admin: String,
    /// Where to write the recovery key, once: a new (or empty) folder that receives one file
    /// per share; with --recovery-shares 1/1 a new file holding the whole key. Hand each
    /// share to a different person and delete the files.
    #[arg(long)]
    pub recovery_out: PathBuf,
    /// Split the recovery key into N shares, any K of which rebuild it (K/N; 1/1 writes the
    /// single key file that stock `age -i` reads).
    #[arg(long, default_value = "2/3", value_name = "K/N")]
    pub recovery_shares: String,
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
    let spec: ShareSpec = a.recovery_shares.parse()?;
    let pass = ctx.new_passphrase(a.new_passphrase_file.as_deref(), &a.admin)?;
    vault::init(
        &ctx.vault,
        InitOptions {
            agency: a.agency.clone(),
            admin: a.admin.clone(),
            admin_passphrase: pass,
            policy_sources,
            recovery_out: a.recovery_out.clone(),
            recovery_shares: spec,
        },
    )?;
    let out = serde_json::json!({
        "vault": ctx.vault.root, "agency": a.agency, "admin": a.admin, "recovery_key": a.recovery_out,
        "recovery_shares": {"k": spec.k, "n": spec.n},
    });
    ctx.emit(&out, || {
        if spec.is_single() {
            tr!(
                "cli.init_done",
                vault = ctx.vault.root.display(),
                admin = a.admin,
                recovery = a.recovery_out.display()
            )
        } else {
            tr!(
                "recovery.init_done",
                vault = ctx.vault.root.display(),
                admin = a.admin,
                dir = a.recovery_out.display(),
                k = spec.k,
                n = spec.n
            )
        }
    });
    Ok(())
}
