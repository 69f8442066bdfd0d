//! `casevault agent …`: unlock once per work session (issue 12, item 1; see `crate::agent`).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde::Serialize;

use super::Context;
use crate::agent::{self, Request};
use crate::crypto::StaffIdentity;
use crate::error::{Error, Result};
use crate::tr;

#[derive(Subcommand, Debug)]
pub enum AgentCmd {
    /// Start the agent in the background (it holds unlocked identities in memory only).
    Start(StartArgs),
    /// Unlock the acting member's identity into the agent: asks the passphrase once.
    Unlock,
    /// Wipe every identity the agent holds (it keeps running).
    Lock,
    /// Whether the agent runs, and whose identities it holds (no secrets).
    Status,
    /// Wipe every identity and stop the agent.
    Stop,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Wipe an identity after this many minutes without use.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=1440))]
    pub idle: u64,
    /// Stay in the foreground (for a service manager); the default detaches.
    #[arg(long)]
    pub foreground: bool,
    /// Internal: the detached agent itself (starts a new session).
    #[arg(long, hide = true)]
    pub detached: bool,
}

pub fn run(ctx: &mut Context, cmd: AgentCmd) -> Result<()> {
    match cmd {
        AgentCmd::Start(a) => start(ctx, a),
        AgentCmd::Unlock => unlock(ctx),
        AgentCmd::Lock => {
            let r = call_ok("lock", String::new(), String::new())?;
            #[derive(Serialize)]
            struct Out {
                wiped: usize,
            }
            ctx.emit(&Out { wiped: r }, || tr!("agent.locked", count = r));
            Ok(())
        }
        AgentCmd::Status => status(ctx),
        AgentCmd::Stop => {
            let r = call_ok("stop", String::new(), String::new())?;
            #[derive(Serialize)]
            struct Out {
                stopped: bool,
                wiped: usize,
            }
            ctx.emit(
                &Out {
                    stopped: true,
                    wiped: r,
                },
                || tr!("agent.stopped", count = r),
            );
            Ok(())
        }
    }
}

/// Sends a request without secrets and returns the number of identities it wiped.
fn call_ok(op: &str, vault: String, member: String) -> Result<usize> {
    let r = agent::call(&Request {
        op: op.into(),
        vault,
        member,
        ..Request::default()
    })?;
    if !r.ok {
        return Err(Error::AgentProtocol(r.error.clone().unwrap_or_default()));
    }
    Ok(r.wiped)
}

/// The idle time: `--idle` minutes; under `CASEVAULT_TEST_MODE=1`,
/// `CASEVAULT_AGENT_IDLE_SECS` overrides it so tests can watch the idle lock.
fn idle_time(minutes: u64) -> Duration {
    let tests = std::env::var("CASEVAULT_TEST_MODE").is_ok_and(|v| v == "1");
    if tests {
        if let Some(s) = std::env::var("CASEVAULT_AGENT_IDLE_SECS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|s| *s > 0)
        {
            return Duration::from_secs(s);
        }
    }
    Duration::from_secs(minutes * 60)
}

fn start(ctx: &mut Context, a: StartArgs) -> Result<()> {
    let idle = idle_time(a.idle);
    if a.foreground || a.detached {
        if a.detached {
            // Leaves the terminal's session: closing it or Ctrl-C does not end the agent.
            let _ = rustix::process::setsid();
        }
        let json = ctx.json;
        let foreground = a.foreground;
        return agent::server::serve(idle, |socket| {
            if foreground {
                let msg = tr!(
                    "agent.serving",
                    socket = socket.display(),
                    pid = std::process::id()
                );
                if json {
                    super::out::line(
                        &serde_json::json!({"socket": socket, "pid": std::process::id()})
                            .to_string(),
                    );
                } else {
                    super::out::line(&msg);
                }
            }
        });
    }
    // Refuse early (and clearly) if one already answers.
    match agent::call(&Request {
        op: "status".into(),
        ..Request::default()
    }) {
        Ok(_) => {
            return Err(Error::AgentRunning {
                socket: agent::socket_path(),
            })
        }
        Err(Error::AgentNotRunning { .. }) => {}
        Err(e) => return Err(e),
    }
    let exe = std::env::current_exe().map_err(|e| Error::io("current_exe", e))?;
    let mut child = Command::new(exe)
        .args(["agent", "start", "--detached", "--idle"])
        .arg(a.idle.to_string())
        // The agent needs no passphrase: none is handed down to it.
        .env_remove("CASEVAULT_PASSPHRASE")
        .env_remove("CASEVAULT_NEW_PASSPHRASE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::io("casevault agent", e))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = agent::call(&Request {
            op: "status".into(),
            ..Request::default()
        }) {
            if let Some(st) = r.status.clone() {
                ctx.emit(&st, || {
                    tr!(
                        "agent.started",
                        pid = st.pid,
                        socket = st.socket,
                        minutes = a.idle
                    )
                });
                return Ok(());
            }
        }
        if let Ok(Some(_)) = child.try_wait() {
            return Err(Error::AgentNotRunning {
                socket: agent::socket_path(),
            });
        }
        if Instant::now() > deadline {
            return Err(Error::AgentNotRunning {
                socket: agent::socket_path(),
            });
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn unlock(ctx: &mut Context) -> Result<()> {
    let actor = ctx.actor()?;
    ctx.vault.check()?;
    // The agent must run before the passphrase is asked for.
    agent::call(&Request {
        op: "status".into(),
        ..Request::default()
    })?;
    let path = ctx.vault.identity(&actor);
    let file = match std::fs::read(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::UnknownStaff(actor))
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let pass = ctx.passphrase(&actor)?;
    let me = StaffIdentity::open(&file, &pass, &actor)?;
    drop(pass);
    let (vault, file_digest) = agent::key_of(&ctx.vault.root, &file)?;
    let r = agent::call(&Request {
        op: "unlock".into(),
        vault: vault.clone(),
        member: actor.clone(),
        file_digest,
        identity: Some(me.to_parts()?),
    })?;
    if !r.ok {
        return Err(Error::AgentProtocol(r.error.clone().unwrap_or_default()));
    }
    #[derive(Serialize)]
    struct Out {
        vault: String,
        member: String,
    }
    ctx.emit(
        &Out {
            vault: vault.clone(),
            member: actor.clone(),
        },
        || tr!("agent.unlocked", name = actor, vault = vault),
    );
    Ok(())
}

fn status(ctx: &mut Context) -> Result<()> {
    let r = match agent::call(&Request {
        op: "status".into(),
        ..Request::default()
    }) {
        Ok(r) => r,
        Err(Error::AgentNotRunning { socket }) => {
            #[derive(Serialize)]
            struct Off {
                running: bool,
                socket: String,
            }
            let socket = socket.display().to_string();
            ctx.emit(
                &Off {
                    running: false,
                    socket: socket.clone(),
                },
                || tr!("agent.status_off", socket = socket),
            );
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let st = r
        .status
        .clone()
        .ok_or_else(|| Error::AgentProtocol("status".into()))?;
    #[derive(Serialize)]
    struct On<'a> {
        running: bool,
        #[serde(flatten)]
        status: &'a agent::Status,
    }
    ctx.emit(
        &On {
            running: true,
            status: &st,
        },
        || {
            let mut s = tr!(
                "agent.status_on",
                pid = st.pid,
                socket = st.socket,
                minutes = st.idle_lock_secs.div_ceil(60)
            );
            s.push('\n');
            if st.unlocked.is_empty() {
                s.push_str(&tr!("agent.status_none"));
            } else {
                let header = vec![
                    tr!("agent.col_member"),
                    tr!("agent.col_vault"),
                    tr!("agent.col_locks_in"),
                ];
                let rows: Vec<Vec<String>> = st
                    .unlocked
                    .iter()
                    .map(|h| {
                        vec![
                            h.member.clone(),
                            h.vault.clone(),
                            tr!("agent.seconds", count = h.locks_in_secs),
                        ]
                    })
                    .collect();
                s.push_str(&super::context::table(&header, &rows));
            }
            s
        },
    );
    Ok(())
}
