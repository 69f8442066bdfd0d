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
    Show(CaseArg),
    /// Assign a worker to a case (supervisor).
    Assign {
        #[command(flatten)]
        case: CaseArg,
        #[command(flatten)]
        other: WorkerArg,
    },
    /// Unassign a worker; records added afterwards are out of their reach.
    Unassign {
        #[command(flatten)]
        case: CaseArg,
        #[command(flatten)]
        other: WorkerArg,
    },
    /// Move a case to its next stage (intake → assessment → plan → intervention → evaluation).
    Stage {
        #[command(flatten)]
        case: CaseArg,
        #[command(flatten)]
        other: StageArg,
    },
    /// Close a case (supervisor).
    Close(CaseArg),
}

/// A case id, as a positional CASE or as `--case` (the name every other command uses).
#[derive(clap::Args, Debug)]
pub struct CaseArg {
    /// The case id.
    #[arg(
        value_name = "CASE",
        required_unless_present = "case",
        conflicts_with = "case"
    )]
    id: Option<i64>,
    /// The case id (instead of the positional CASE).
    #[arg(long, value_name = "CASE")]
    case: Option<i64>,
}

impl CaseArg {
    fn get(&self) -> i64 {
        // clap makes exactly one of them present.
        self.id.or(self.case).unwrap_or_default()
    }
}

/// A staff name, positional or `--worker` (needed after `--case`: positionals fill in order).
#[derive(clap::Args, Debug)]
pub struct WorkerArg {
    /// The worker's staff name.
    #[arg(
        value_name = "WORKER",
        required_unless_present = "worker",
        conflicts_with = "worker"
    )]
    worker_name: Option<String>,
    /// The worker's staff name (instead of the positional WORKER).
    #[arg(long, value_name = "WORKER")]
    worker: Option<String>,
}

impl WorkerArg {
    fn get(self) -> String {
        self.worker_name.or(self.worker).unwrap_or_default()
    }
}

/// A stage code, positional or `--stage`.
#[derive(clap::Args, Debug)]
pub struct StageArg {
    /// The stage: assessment, plan, intervention, evaluation.
    #[arg(
        value_name = "STAGE",
        required_unless_present = "stage",
        conflicts_with = "stage"
    )]
    stage_name: Option<String>,
    /// The stage (instead of the positional STAGE).
    #[arg(long, value_name = "STAGE")]
    stage: Option<String>,
}

impl StageArg {
    fn get(self) -> String {
        self.stage_name.or(self.stage).unwrap_or_default()
    }
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
        CaseCmd::Show(c) => s.case_show(c.get())?,
        CaseCmd::Assign { case: c, other: w } => s.case_assign(c.get(), &w.get())?,
        CaseCmd::Unassign { case: c, other: w } => s.case_unassign(c.get(), &w.get())?,
        CaseCmd::Stage { case: c, other: st } => {
            let (case, stage) = (c.get(), st.get());
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
        CaseCmd::Close(c) => s.case_close(c.get())?,
    };
    ctx.emit(&case, || case_text(&case));
    Ok(())
}
