//! `casevault witness …`: run a C2SP tlog-witness for other agencies' logs (see
//! docs/witness.md). Needs no vault.

use std::path::PathBuf;

use clap::Subcommand;

use super::Context;
use crate::error::{Error, Result};
use crate::tr;
use crate::witness::{self, Witness};

#[derive(Subcommand, Debug)]
pub enum WitnessCmd {
    /// Make a new witness key in DIR (0700; the key file 0600) and print its public key.
    Init {
        #[arg(long)]
        state: PathBuf,
        /// The witness's key name, e.g. witness.example.org/w1.
        #[arg(long)]
        name: String,
    },
    /// Trust the log ORIGIN signed by KEY (the log's `casevault log key`).
    AddLog {
        #[arg(long)]
        state: PathBuf,
        #[arg(long)]
        origin: String,
        #[arg(long)]
        key: String,
    },
    /// Print the witness's public key (for vault policies).
    Key {
        #[arg(long)]
        state: PathBuf,
    },
    /// Serve POST /add-checkpoint on ADDR (e.g. 127.0.0.1:7380; port 0 picks a free one).
    Serve {
        #[arg(long)]
        state: PathBuf,
        #[arg(long)]
        listen: String,
    },
}

pub fn run(ctx: &mut Context, cmd: WitnessCmd) -> Result<()> {
    match cmd {
        WitnessCmd::Init { state, name } => {
            let vkey = witness::init(&state, &name)?;
            ctx.emit(&serde_json::json!({ "vkey": vkey }), || {
                tr!("witness.initialised", dir = state.display(), vkey = vkey)
            });
            Ok(())
        }
        WitnessCmd::AddLog { state, origin, key } => {
            Witness::open(&state)?.add_log(&origin, &key)?;
            ctx.emit(&serde_json::json!({ "origin": origin }), || {
                tr!("witness.log_added", origin = origin)
            });
            Ok(())
        }
        WitnessCmd::Key { state } => {
            let vkey = Witness::open(&state)?.vkey();
            ctx.emit(&serde_json::json!({ "vkey": vkey }), || vkey.clone());
            Ok(())
        }
        WitnessCmd::Serve { state, listen } => {
            let w = Witness::open(&state)?;
            // One server per state folder: two would each take the other's latest size for
            // their own and could cosign two histories (found by the insider test). The lock
            // lives as long as the process.
            let lock_path = state.join("serve.lock");
            let lock = {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o600)
                    .open(&lock_path)
                    .map_err(|e| Error::io(&lock_path, e))?
            };
            match lock.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::Invalid(tr!(
                        "witness.state_in_use",
                        path = state.display()
                    )))
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
            }
            let listener = std::net::TcpListener::bind(&listen)
                .map_err(|e| Error::io(PathBuf::from(&listen), e))?;
            let addr = listener
                .local_addr()
                .map_err(|e| Error::io(PathBuf::from(&listen), e))?;
            // One line with the bound address, flushed now: scripts that chose port 0 read it.
            crate::outln!("{}", tr!("witness.listening", addr = addr));
            let _ = super::out::finish();
            let _held = lock;
            witness::http::serve(w, listener)
        }
    }
}
