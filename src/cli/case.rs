//! `casevault case …`

use clap::Subcommand;

use super::context::table;
use super::Context;
use crate::domain::time::format_time;
use crate::domain::{Case, Source, Stage};
use crate::error::{Error, Result};
use crate::tr;

#[derive(Subcommand, Debug)]
pub enum CaseCmd {
    /// Open a case for a client (by id or number).
    Open {
        client: String,
        /// self, other_person, referral, outreach, other.
        #[arg(long, default_value = "self")]
        source: String,
        /// Assign these workers (supervisors); a caseworker who opens a case is assigned to it.
        #[arg(long)]
        worker: Vec<String>,
    },
    /// List the cases you may see.
    List {
        #[arg(long)]
        client: Option<String>,
    },
    /// Show a case.
    Show { case: i64 },
    /// Assign a worker to a case (supervisor).
    Assign { case: i64, worker: String },
    /// Unassign a worker; records added afterwards are out of their reach.
    Unassign { case: i64, worker: String },
    /// Move a case to its next stage (intake → assessment → plan → intervention → evaluation).
    Stage { case: i64, stage: String },
    /// Close a case (supervisor).
    Close { case: i64 },
}

fn case_text(c: &Case) -> String {
    format!(
        "{}: {}\n{}: {}\n{}: {}\n{}: {}\n{}: {}\n{}: {}\n",
        tr!("cli.h_case"),
        c.id,
        tr!("cli.h_client"),
        c.client_id,
        tr!("cli.h_source"),
        c.source.label(),
        tr!("cli.h_stage"),
        c.stage.label(),
        tr!("cli.h_workers"),
        c.workers.join(", "),
        tr!("cli.h_opened"),
        format_time(c.opened_at),
    )
}

pub fn run(ctx: &mut Context, cmd: CaseCmd) -> Result<()> {
    let mut s = ctx.session()?;
    let case = match cmd {
        CaseCmd::Open {
            client,
            source,
            worker,
        } => {
            let src = Source::parse(&source).ok_or_else(|| {
                Error::Invalid(tr!(
                    "cli.bad_value",
                    what = "source",
                    value = source,
                    codes = Source::codes()
                ))
            })?;
            s.case_open(&client, src, &worker)?
        }
        CaseCmd::List { client } => {
            let rows = s.case_list(client.as_deref())?;
            ctx.emit(&rows, || {
                let body: Vec<Vec<String>> = rows
                    .iter()
                    .map(|c| {
                        vec![
                            c.id.to_string(),
                            c.client_id.to_string(),
                            c.stage.label().to_string(),
                            c.workers.join(","),
                            format_time(c.opened_at),
                        ]
                    })
                    .collect();
                table(
                    &[
                        tr!("cli.h_case"),
                        tr!("cli.h_client"),
                        tr!("cli.h_stage"),
                        tr!("cli.h_workers"),
                        tr!("cli.h_opened"),
                    ],
                    &body,
                )
            });
            return Ok(());
        }
        CaseCmd::Show { case } => s.case_show(case)?,
        CaseCmd::Assign { case, worker } => s.case_assign(case, &worker)?,
        CaseCmd::Unassign { case, worker } => s.case_unassign(case, &worker)?,
        CaseCmd::Stage { case, stage } => {
            let st = Stage::parse(&stage).ok_or_else(|| {
                Error::Invalid(tr!(
                    "cli.bad_value",
                    what = "stage",
                    value = stage,
                    codes = Stage::codes()
                ))
            })?;
            s.case_stage(case, st)?
        }
        CaseCmd::Close { case } => s.case_close(case)?,
    };
    ctx.emit(&case, || case_text(&case));
    Ok(())
}
