//! The agent process: a listener on the per-user socket, the unlocked identities in memory
//! (wiped on drop), an idle lock, and nothing written anywhere but the socket itself.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Held, Request, Response, Status, IO_TIMEOUT, SOCKET_NAME};
use crate::crypto::IdentityParts;
use crate::error::{Error, Result};

/// One identity held: wiped when the entry is dropped (idle lock, `lock`, `stop`, a changed
/// identity file).
struct Entry {
    file_digest: String,
    identity: IdentityParts,
    last_used: Instant,
}

struct State {
    idle: Duration,
    socket: PathBuf,
    /// By (vault canonical path, member name).
    held: HashMap<(String, String), Entry>,
}

impl State {
    /// Wipes every entry unused for the idle time.
    fn expire(&mut self) {
        let idle = self.idle;
        self.held.retain(|_, e| e.last_used.elapsed() < idle);
    }
}

/// Runs the agent until `stop`: hardens the process, binds the socket (0600 in the checked
/// 0700 folder) and calls `ready` with its path once it accepts connections.
pub fn serve(idle: Duration, ready: impl FnOnce(&Path)) -> Result<()> {
    // Refuses to hold secrets in a process that could be dumped.
    super::harden()
        .map_err(|e| Error::AgentProtocol(crate::tr!("agent.harden_failed", reason = e)))?;
    let dir = super::prepare_dir()?;
    let socket = dir.join(SOCKET_NAME);
    if std::fs::symlink_metadata(&socket).is_ok() {
        // A live agent answers; a stale socket (an agent that was killed) is replaced.
        if UnixStream::connect(&socket).is_ok() {
            return Err(Error::AgentRunning { socket });
        }
        std::fs::remove_file(&socket).map_err(|e| Error::io(&socket, e))?;
    }
    let listener = UnixListener::bind(&socket).map_err(|e| Error::io(&socket, e))?;
    // The folder is 0700 already; the socket is 0600 too, set explicitly.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io(&socket, e))?;
    super::check_socket(&socket)?;
    let state = Arc::new(Mutex::new(State {
        idle,
        socket: socket.clone(),
        held: HashMap::new(),
    }));
    let tick = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    {
        let state = Arc::clone(&state);
        std::thread::spawn(move || loop {
            std::thread::sleep(tick);
            if let Ok(mut s) = state.lock() {
                s.expire();
            }
        });
    }
    // Like ssh-agent: do not keep the starting folder (a mounted vault) busy.
    let _ = std::env::set_current_dir("/");
    ready(&socket);
    let me = super::my_uid();
    let busy = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        // Only our own uid: root or another user reaching the socket is answered nothing.
        match rustix::net::sockopt::socket_peercred(&stream) {
            Ok(c) if c.uid.as_raw() == me => {}
            _ => continue,
        }
        // One thread per connection, so a client that stalls holds only its own (at most
        // IO_TIMEOUT in all); a bounded number at once.
        if busy.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
            busy.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let state = Arc::clone(&state);
        let busy = Arc::clone(&busy);
        std::thread::spawn(move || {
            serve_one(stream, &state);
            busy.fetch_sub(1, Ordering::SeqCst);
        });
    }
    Ok(())
}

/// Most connections served at once.
const MAX_CLIENTS: usize = 16;

/// One request and its answer, the whole exchange within [`IO_TIMEOUT`]. A malformed request
/// is answered `bad_request`; `stop` wipes everything, removes the socket and ends the process.
fn serve_one(stream: UnixStream, state: &Mutex<State>) {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut r = Deadline {
        stream: &stream,
        deadline,
    };
    let req = match super::read_message::<Request>(&mut r) {
        Ok(req) => req,
        Err(e) => {
            if e.kind() == std::io::ErrorKind::Other {
                let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
                let _ = super::write_message(&mut &stream, &refuse("bad_request"));
            }
            return;
        }
    };
    let stop = req.op == "stop";
    let resp = {
        let Ok(mut s) = state.lock() else { return };
        handle(&mut s, &req)
    };
    drop(req);
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = super::write_message(&mut &stream, &resp);
    drop(resp);
    if stop {
        // Wipe before leaving; the socket goes too so the next `start` needs no clean-up.
        if let Ok(mut s) = state.lock() {
            s.held.clear();
            let _ = std::fs::remove_file(&s.socket);
        }
        std::process::exit(0);
    }
}

/// Reads from the socket until one deadline for the whole message (a per-read timeout alone
/// lets a client trickle one byte at a time for ever).
struct Deadline<'a> {
    stream: &'a UnixStream,
    deadline: Instant,
}

impl std::io::Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        std::io::Read::read(&mut self.stream, buf)
    }
}

fn refuse(why: &str) -> Response {
    Response {
        error: Some(why.to_string()),
        ..Response::default()
    }
}

fn handle(s: &mut State, req: &Request) -> Response {
    s.expire();
    match req.op.as_str() {
        "unlock" => {
            let Some(id) = req.identity.as_ref() else {
                return refuse("bad_request");
            };
            if req.vault.is_empty() || req.member.is_empty() || id.name != req.member {
                return refuse("bad_request");
            }
            let entry = Entry {
                file_digest: req.file_digest.clone(),
                identity: id.clone(),
                last_used: Instant::now(),
            };
            s.held
                .insert((req.vault.clone(), req.member.clone()), entry);
            Response {
                ok: true,
                ..Response::default()
            }
        }
        "get" => {
            let key = (req.vault.clone(), req.member.clone());
            match s.held.get_mut(&key) {
                Some(e) if e.file_digest == req.file_digest => {
                    e.last_used = Instant::now();
                    Response {
                        ok: true,
                        identity: Some(e.identity.clone()),
                        ..Response::default()
                    }
                }
                Some(_) => {
                    // The identity file changed (new passphrase, rotated keys): forget it.
                    s.held.remove(&key);
                    refuse("locked")
                }
                None => refuse("locked"),
            }
        }
        "lock" => {
            let before = s.held.len();
            s.held.retain(|(v, m), _| {
                !((req.vault.is_empty() || &req.vault == v)
                    && (req.member.is_empty() || &req.member == m))
            });
            Response {
                ok: true,
                wiped: before - s.held.len(),
                ..Response::default()
            }
        }
        "status" => {
            let mut unlocked: Vec<Held> = s
                .held
                .iter()
                .map(|((v, m), e)| Held {
                    vault: v.clone(),
                    member: m.clone(),
                    locks_in_secs: s.idle.saturating_sub(e.last_used.elapsed()).as_secs(),
                })
                .collect();
            unlocked.sort_by(|a, b| (&a.vault, &a.member).cmp(&(&b.vault, &b.member)));
            let core = rustix::process::getrlimit(rustix::process::Resource::Core);
            Response {
                ok: true,
                status: Some(Status {
                    pid: std::process::id(),
                    socket: s.socket.display().to_string(),
                    idle_lock_secs: s.idle.as_secs(),
                    dumpable: super::dumpable(),
                    core_limit: core.current,
                    unlocked,
                }),
                ..Response::default()
            }
        }
        "stop" => {
            let wiped = s.held.len();
            s.held.clear();
            Response {
                ok: true,
                wiped,
                ..Response::default()
            }
        }
        _ => refuse("bad_request"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(name: &str) -> IdentityParts {
        IdentityParts {
            name: name.into(),
            root: "r".into(),
            seed: "s".into(),
            age: "a".into(),
        }
    }

    fn req(op: &str, member: &str, digest: &str, id: Option<IdentityParts>) -> Request {
        Request {
            op: op.into(),
            vault: "/v".into(),
            member: member.into(),
            file_digest: digest.into(),
            identity: id,
        }
    }

    #[test]
    fn use_restarts_the_idle_clock_and_a_changed_file_is_forgotten() {
        let mut s = State {
            idle: Duration::from_millis(1000),
            socket: PathBuf::from("/x"),
            held: HashMap::new(),
        };
        // The identity must be the member's own.
        assert!(!handle(&mut s, &req("unlock", "wang", "d1", Some(parts("li")))).ok);
        assert!(handle(&mut s, &req("unlock", "wang", "d1", Some(parts("wang")))).ok);
        std::thread::sleep(Duration::from_millis(600));
        assert!(handle(&mut s, &req("get", "wang", "d1", None)).ok);
        std::thread::sleep(Duration::from_millis(600));
        // 1.2 s after unlock, 0.6 s after the last use: still held.
        let r = handle(&mut s, &req("get", "wang", "d1", None));
        assert_eq!(r.identity.as_ref().map(|p| p.name.as_str()), Some("wang"));
        assert!(!handle(&mut s, &req("get", "chen", "d1", None)).ok);
        std::thread::sleep(Duration::from_millis(1100));
        s.expire();
        assert!(s.held.is_empty());
        // A different identity file: a miss, and the entry is wiped.
        assert!(handle(&mut s, &req("unlock", "wang", "d1", Some(parts("wang")))).ok);
        assert!(!handle(&mut s, &req("get", "wang", "d2", None)).ok);
        assert!(s.held.is_empty());
        assert!(!handle(&mut s, &req("nonsense", "", "", None)).ok);
    }
}
