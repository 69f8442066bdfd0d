//! `casevault audit run`: the confidentiality audit, for people (Markdown, HTML) and
//! machines (JSON). Exit code: 0 clean, 1 a finding at or above `--fail-on`, 2 the audit
//! could not run (or a check could not run, so the audit is incomplete).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::Context;
use crate::audit::{self, report::Format, Severity};
use crate::domain::time::Date;
use crate::error::{Error, Result};
use crate::tr;

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Run every check of the confidentiality audit (see docs/audit.md).
    Run(RunArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Report format: md (default), json or html. The global --json means json.
    #[arg(long)]
    pub format: Option<String>,
    /// Write the report to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Look only at disclosures and reads from this date on (YYYY-MM-DD).
    #[arg(long)]
    pub since: Option<String>,
    /// Exit 1 when a finding reaches this severity: low (default), medium, high, critical.
    #[arg(long, default_value = "low")]
    pub fail_on: String,
}

/// Exit codes of `audit run`.
pub const CLEAN: i32 = 0;
pub const FINDINGS: i32 = 1;
pub const COULD_NOT_RUN: i32 = 2;

/// Runs the command and returns the process exit code.
pub fn run(ctx: &mut Context, cmd: AuditCmd) -> i32 {
    match cmd {
        AuditCmd::Run(a) => match run_audit(ctx, a) {
            Ok(code) => code,
            Err(e) => {
                let msg = tr!("audit.could_not_run", error = e);
                let msg = super::context::terminal_safe(&msg);
                if ctx.json {
                    // The error's own code and ids; the exit stays the audit's own.
                    let j = crate::error::error_json(e.code(), &msg, COULD_NOT_RUN, e.fields());
                    crate::errln!("{j}");
                } else {
                    crate::errln!("casevault: {msg}");
                }
                COULD_NOT_RUN
            }
        },
    }
}

fn run_audit(ctx: &mut Context, a: RunArgs) -> Result<i32> {
    let format = match &a.format {
        Some(f) => {
            Format::parse(f).ok_or_else(|| Error::Invalid(tr!("audit.bad_format", value = f)))?
        }
        None if ctx.json => Format::Json,
        None => Format::Md,
    };
    let threshold = Severity::parse(&a.fail_on)
        .ok_or_else(|| Error::Invalid(tr!("audit.bad_severity", value = a.fail_on)))?;
    let since = match &a.since {
        Some(v) => {
            Some(Date::parse(v).ok_or_else(|| Error::Invalid(tr!("cli.bad_date", value = v)))?)
        }
        None => None,
    };
    if let Some(p) = &a.out {
        crate::vault::output::OutputSet::single(p).check(false)?;
    }
    let session = ctx.session()?;
    let report = audit::run(&session, &audit::Options { since })?;
    let text = audit::report::render(&report, format);
    match &a.out {
        Some(path) => {
            crate::vault::output::OutputSet::single(path).write(text.as_bytes(), &[], false)?;
            crate::errln!(
                "{}",
                tr!(
                    "audit.written",
                    path = path.display(),
                    count = report.findings.len()
                )
            );
        }
        // Markdown is for reading on a terminal: stored control characters are escaped.
        None if matches!(format, Format::Md) => {
            super::out::bytes(super::context::terminal_safe(&text).as_bytes())
        }
        None => super::out::bytes(text.as_bytes()),
    }
    for c in &report.checks {
        if let audit::CheckState::Failed(why) = &c.state {
            crate::errln!(
                "casevault: {}",
                tr!("audit.check_failed", check = c.id, error = why)
            );
        }
    }
    Ok(if report.incomplete() {
        COULD_NOT_RUN
    } else if report.reaches(threshold) {
        FINDINGS
    } else {
        CLEAN
    })
}
