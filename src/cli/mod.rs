//! The `casevault` command line: argument parsing and printing over the library, one module
//! per subcommand. No rules live here; they live in [`crate::vault`].

mod agency;
mod agent;
mod audit;
mod case;
mod client;
mod consent;
mod context;
mod demo;
mod forms;
pub mod help;
mod import;
mod init;
pub(crate) mod log;
pub mod out;
mod packet;
mod policy;
mod record;
mod recovery;
mod referral;
mod request;
mod serve;
mod staff;
mod witness;

use std::path::PathBuf;

use clap::{FromArgMatches, Parser, Subcommand};

pub use context::Context;

use crate::tr;

/// casevault: an encrypted case-file vault for social-work agencies.
#[derive(Parser, Debug)]
#[command(name = "casevault", version, about, long_about = None)]
pub struct Cli {
    /// Vault directory (else $CASEVAULT_DIR, else ./vault).
    #[arg(long, global = true, env = "CASEVAULT_DIR", default_value = "vault")]
    pub vault: PathBuf,
    /// Acting staff member (else $CASEVAULT_USER).
    #[arg(long = "as", global = true, env = "CASEVAULT_USER")]
    pub actor: Option<String>,
    /// Read the passphrase from this file (else $CASEVAULT_PASSPHRASE, else a prompt).
    #[arg(long, global = true)]
    pub passphrase_file: Option<PathBuf>,
    /// Print results as JSON for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    /// Do not use a running agent's unlocked identity (also $CASEVAULT_AGENT=0).
    #[arg(long, global = true)]
    pub no_agent: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new vault with its first admin and a recovery key.
    Init(init::InitArgs),
    /// Build a demo vault in a temporary directory and walk through the main flow.
    Demo(demo::DemoArgs),
    /// Staff members: add, list, remove (offboarding), passwd, grant.
    #[command(subcommand)]
    Staff(staff::StaffCmd),
    /// Clients (服务对象): add, list, show, search.
    #[command(subcommand)]
    Client(client::ClientCmd),
    /// Cases (个案): open, list, show, assign, unassign, stage, close.
    #[command(subcommand)]
    Case(case::CaseCmd),
    /// Records: add, list, show, amend, template.
    #[command(subcommand)]
    Record(record::RecordCmd),
    /// Bulk import of clients, cases and records from JSON Lines.
    Import(import::ImportArgs),
    /// Re-encrypt the records of a case, or of the whole vault, under fresh case keys.
    Rekey(import::RekeyArgs),
    /// Disclosure log: show, verify (also offline), key, export.
    #[command(subcommand)]
    Log(log::LogCmd),
    /// Requests from clients, guardians and partners: add, list, show, fulfil, accept, deny.
    #[command(subcommand)]
    Request(request::RequestCmd),
    /// Policy: check files, show the policy in force.
    #[command(subcommand)]
    Policy(policy::PolicyCmd),
    /// Partner agencies: add, list, show, remove, keygen; our keys (key, inbound-key).
    #[command(subcommand)]
    Agency(agency::AgencyCmd),
    /// Consents (同意书): add, list, show, revoke, form.
    #[command(subcommand)]
    Consent(consent::ConsentCmd),
    /// Referrals (转介): export, approve, list, status.
    #[command(subcommand)]
    Referral(referral::ReferralCmd),
    /// Referral packets received: verify, open, import.
    #[command(subcommand)]
    Packet(packet::PacketCmd),
    /// Confidentiality audit: `audit run` (exit 0 clean, 1 findings, 2 could not run).
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// The recovery key's shares: reshare.
    #[command(subcommand)]
    Recovery(recovery::RecoveryCmd),
    /// Unlock once per work session: an agent holds your unlocked identity (start, unlock,
    /// lock, status, stop).
    #[command(subcommand)]
    Agent(agent::AgentCmd),
    /// Run a transparency-log witness for other agencies' logs: init, add-log, key, serve.
    #[command(subcommand)]
    Witness(witness::WitnessCmd),
    /// Serve the web interface on this computer (http://127.0.0.1:7390/ by default).
    Serve(serve::ServeArgs),
    /// Print a shell completion script to standard output, e.g.
    /// `casevault completions bash > /etc/bash_completion.d/casevault`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to standard output, e.g. `casevault man | man -l -`;
    /// `casevault man record` for one command's page.
    Man {
        /// A command (e.g. record) for its own page.
        command: Option<String>,
    },
}

/// Exit code of a tamper or log alarm: stored data fails its checks, a refused open (the log
/// is shorter than, or forks from, the head this installation remembers, `vault::remember`)
/// or a witness refusing our log.
pub const LOG_ALARM: i32 = crate::error::exit::ALARM;

/// Runs the CLI and returns the process exit code: 0 success, 1 failure, 2 bad usage,
/// 3 a disclosure waits for witnesses, 4 tamper or log alarm, 5 authentication, 6 refused
/// by policy or consent, 7 not found, 8 busy (docs/cli.md "Exit codes"; one mapping,
/// [`crate::error::Error::exit_code`]). `audit run` has its own: 0 clean, 1 findings, 2 the
/// audit could not run.
///
/// Output never decides the outcome of the work: a closed stdout (broken pipe) ends printing
/// quietly and leaves the code as it is; another stdout error (e.g. a full disk) is reported
/// once at the end and makes the code a failure.
pub fn main() -> i32 {
    // The command line with its help and errors from the catalog (see `help`).
    let mut cmd = help::command();
    let matches = match cmd.try_get_matches_from_mut(std::env::args_os()) {
        Ok(m) => m,
        Err(e) => return settle(clap_error(&e), 1),
    };
    if let Some(names) = help::help_request(&matches) {
        if help::print_help_for(&mut cmd, &names) {
            return settle(0, 1);
        }
        crate::errln!(
            "{}{}\n\n{}",
            tr!("clap.err.heading"),
            tr!("clap.err.unknown_command", name = names.join(" ")),
            tr!("clap.err.more")
        );
        return settle(2, 1);
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return settle(clap_error(&e), 1),
    };
    // Every command may hold unlocked keys: none of them leaves a core dump (best effort).
    let _ = crate::agent::harden();
    let mut ctx = Context::new(&cli);
    let json = cli.json;
    let result = match cli.command {
        Command::Init(a) => init::run(&mut ctx, a),
        Command::Demo(a) => demo::run(&mut ctx, a),
        Command::Staff(c) => staff::run(&mut ctx, c),
        Command::Client(c) => client::run(&mut ctx, c),
        Command::Case(c) => case::run(&mut ctx, c),
        Command::Record(c) => record::run(&mut ctx, c),
        Command::Import(a) => import::run_import(&mut ctx, a),
        Command::Rekey(a) => import::run_rekey(&mut ctx, a),
        Command::Policy(c) => policy::run(&mut ctx, c),
        Command::Log(c) => log::run(&mut ctx, c),
        Command::Agency(c) => agency::run(&mut ctx, c),
        Command::Consent(c) => consent::run(&mut ctx, c),
        Command::Referral(c) => referral::run(&mut ctx, c),
        Command::Packet(c) => packet::run(&mut ctx, c),
        Command::Request(c) => request::run(&mut ctx, c),
        Command::Recovery(c) => recovery::run(&mut ctx, c),
        Command::Witness(c) => witness::run(&mut ctx, c),
        Command::Agent(c) => agent::run(&mut ctx, c),
        Command::Serve(a) => serve::run(&mut ctx, a),
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut help::command(), "casevault", &mut buf);
            out::bytes(&buf);
            Ok(())
        }
        Command::Man { command } => man_page(command),
        Command::Audit(c) => {
            let code = audit::run(&mut ctx, c);
            // A report that could not be written is an audit that could not run.
            return settle(code, audit::COULD_NOT_RUN);
        }
    };
    let code = match result {
        Ok(()) => 0,
        Err(e) => report_error(json, &e),
    };
    settle(code, 1)
}

/// `casevault man [COMMAND]`: the manual page (roff) of the whole command, or of one
/// subcommand (`casevault-record`), generated from the CLI definition by clap_mangen.
fn man_page(sub: Option<String>) -> crate::error::Result<()> {
    let mut cmd = help::command();
    cmd.build();
    let page = match sub {
        None => cmd,
        Some(name) => {
            let names: Vec<String> = cmd
                .get_subcommands()
                .map(|c| c.get_name().to_string())
                .collect();
            let found = cmd.find_subcommand(&name).cloned().ok_or_else(|| {
                crate::error::Error::Invalid(tr!(
                    "forms.man_unknown",
                    name = name,
                    names = names.join(", ")
                ))
            })?;
            let full = format!("casevault-{}", found.get_name());
            found.display_name(full).version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut buf = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut buf)
        .map_err(|e| crate::error::Error::Invalid(e.to_string()))?;
    out::bytes(&buf);
    Ok(())
}

/// Prints a clap outcome and returns its exit code: `--help` and `--version` to stdout
/// (0), usage errors in the user's language to stderr (2).
fn clap_error(e: &clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            crate::outln!("{}", e.render().to_string().trim_end());
            0
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            crate::errln!("{}", e.render().to_string().trim_end());
            2
        }
        _ if json_in_args() => {
            let j = crate::error::error_json(
                "usage",
                help::render_error(e).trim_end(),
                crate::error::exit::USAGE,
                Default::default(),
            );
            crate::errln!("{j}");
            crate::error::exit::USAGE
        }
        _ => {
            crate::errln!("{}", help::render_error(e).trim_end());
            crate::error::exit::USAGE
        }
    }
}

/// Says what failed on stderr, as text or (with `--json`) as one line of JSON
/// `{"error": {"code", "message", "exit", …}}`, and returns the exit code of its family
/// ([`crate::error::exit`]). Stderr, not stdout: stdout may be the very thing that failed,
/// and a script's stdout then holds only results.
pub fn report_error(json: bool, e: &crate::error::Error) -> i32 {
    if json {
        let mut j = e.to_json();
        // Same escaping of stored control characters as the text form.
        if let Some(m) = j["error"]["message"]
            .as_str()
            .map(|m| context::terminal_safe(m).into_owned())
        {
            j["error"]["message"] = m.into();
        }
        crate::errln!("{j}");
    } else {
        crate::errln!("casevault: {}", context::terminal_safe(&e.to_string()));
    }
    e.exit_code()
}

/// Whether `--json` is among the arguments (before a `--`): clap's own errors happen before
/// the options are known.
fn json_in_args() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// Exit code of a disclosure logged but held back until witnesses cosign its checkpoint.
pub const WITNESS_PENDING: i32 = crate::error::exit::AWAITING_WITNESSES;

/// Flushes stdout and folds a stdout write error into the exit code: `failure` unless the
/// command already failed.
fn settle(code: i32, failure: i32) -> i32 {
    // Output files claimed by checks but never written (a refused or failed command).
    crate::vault::output::release_claims();
    match out::finish() {
        None => code,
        Some(e) => {
            crate::errln!("casevault: {}", tr!("cli.stdout_failed", reason = e));
            if code == 0 {
                failure
            } else {
                code
            }
        }
    }
}
