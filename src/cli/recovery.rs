//! `casevault recovery …`: the recovery key's shares.

use std::path::PathBuf;

use clap::Subcommand;

use super::Context;
use crate::error::Result;
use crate::tr;
use crate::vault::recovery::{RecoveryInput, ShareSpec};

#[derive(Subcommand, Debug)]
pub enum RecoveryCmd {
    /// Make a new set of shares of the same recovery key (admin; logged), e.g. after a
    /// holder leaves: old shares never combine with the new set, but still combine among
    /// themselves, so the holders must destroy them.
    Reshare {
        /// A share of the current set (repeat for at least its threshold), or the single
        /// recovery key file of a 1/1 vault.
        #[arg(long = "share", required = true)]
        share: Vec<PathBuf>,
        /// The new set: K of N shares rebuild the key.
        #[arg(long, value_name = "K/N")]
        shares: String,
        /// A new (or empty) folder for the new share files.
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(ctx: &mut Context, cmd: RecoveryCmd) -> Result<()> {
    match cmd {
        RecoveryCmd::Reshare { share, shares, out } => {
            let spec: ShareSpec = shares.parse()?;
            let input = RecoveryInput::read(&share, super::context::MAX_SMALL_FILE)?;
            let mut s = ctx.session()?;
            let r = s.recovery_reshare(input, spec, &out)?;
            ctx.emit(&r, || {
                tr!(
                    "recovery.reshare_done",
                    k = r.k,
                    n = r.n,
                    dir = out.display(),
                    set = r.set
                )
            });
        }
    }
    Ok(())
}
