//! `casevault import` and `casevault rekey`

use std::path::PathBuf;

use clap::Args;

use super::context::read_input;
use super::Context;
use crate::error::Result;
use crate::tr;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// JSON Lines file (`-` for stdin): client, case and record lines (see docs/import.md).
    pub file: PathBuf,
    /// Lines per transaction.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
}

#[derive(Args, Debug)]
pub struct RekeyArgs {
    /// Only this case (default: every case).
    #[arg(long)]
    pub case: Option<i64>,
}

pub fn run_import(ctx: &mut Context, a: ImportArgs) -> Result<()> {
    let data = zeroize::Zeroizing::new(read_input(&a.file, super::context::MAX_IMPORT_FILE)?);
    let mut s = ctx.session()?;
    let report = ctx.with_progress(|p| s.import(&data, a.batch, p))?;
    ctx.emit(&report, || {
        tr!(
            "cli.import_done",
            clients = report.clients,
            cases = report.cases,
            records = report.records,
            batches = report.batches,
            skipped = report.skipped_lines
        )
    });
    Ok(())
}

pub fn run_rekey(ctx: &mut Context, a: RekeyArgs) -> Result<()> {
    let mut s = ctx.session()?;
    let report = ctx.with_progress(|p| s.rekey(a.case, p))?;
    ctx.emit(&report, || {
        tr!(
            "cli.rekey_done",
            cases = report.cases,
            records = report.records
        )
    });
    Ok(())
}
