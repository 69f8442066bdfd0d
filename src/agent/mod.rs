//! The agent (issue 12, item 1): one process per user that holds unlocked identities in
//! memory, so a working day pays the passphrase KDF and the prompt once, not per command.
//!
//! In the manner of ssh-agent and rbw-agent: a Unix socket `agent.sock` in a per-user folder
//! (`$XDG_RUNTIME_DIR/casevault/`, else `${TMPDIR:-/tmp}/casevault-<uid>/`), the folder 0700
//! and checked to be ours and not a symlink before every use, the socket 0600, and the agent
//! answers only peers with its own uid (`SO_PEERCRED`). The agent hands the unlocked identity
//! to the command that asks (docs/threat-model.md, "The agent"): it exists to save the KDF and
//! the prompt, not to defend against processes of the same user.
//!
//! Protocol (docs/formats.md, "Agent protocol"): each message is a 4-byte big-endian length
//! and that many bytes of JSON ([`Request`], [`Response`]); one request and one answer per
//! connection.

pub mod server;

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{IdentityParts, StaffIdentity};
use crate::error::{Error, Result};

/// The socket's file name inside the agent folder.
pub const SOCKET_NAME: &str = "agent.sock";
/// Largest message either side accepts (an identity is about 300 bytes; a status of many
/// entries a few KiB).
pub const MAX_MESSAGE: usize = 256 << 10;
/// How long either side waits for the other's message.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A request to the agent. The identity it may carry wipes itself wherever it is dropped
/// ([`IdentityParts`] is `ZeroizeOnDrop`); the other fields are not secret.
#[derive(Serialize, Deserialize, Default)]
pub struct Request {
    /// `unlock`, `get`, `lock`, `status` or `stop`.
    pub op: String,
    /// The vault's canonical path (`unlock`, `get`; `lock` of one vault).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vault: String,
    /// The member's name (`unlock`, `get`; `lock` of one member).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub member: String,
    /// SHA-256 (hex) of the identity file the identity was unlocked from: a changed file
    /// (new passphrase, rotated keys) makes the agent forget the entry.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file_digest: String,
    /// `unlock`: the unlocked identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityParts>,
}

/// The agent's answer (its identity, too, wipes itself).
#[derive(Serialize, Deserialize, Default)]
pub struct Response {
    pub ok: bool,
    /// Why not: `locked` (nothing held for that vault and member), `bad_request`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `get`: the identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityParts>,
    /// `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// `lock`: how many identities were wiped.
    #[serde(default)]
    pub wiped: usize,
}

/// What `agent status` shows: no secrets.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Status {
    pub pid: u32,
    pub socket: String,
    /// Idle time after which an identity is wiped.
    pub idle_lock_secs: u64,
    /// `PR_GET_DUMPABLE` of the agent: false means no core dump and no ptrace by the user.
    pub dumpable: bool,
    /// The agent's `RLIMIT_CORE` (0: no core file).
    pub core_limit: Option<u64>,
    pub unlocked: Vec<Held>,
}

/// One identity the agent holds.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Held {
    pub vault: String,
    pub member: String,
    /// Seconds until the idle lock wipes it, unless it is used before.
    pub locks_in_secs: u64,
}

/// The agent's folder: `$XDG_RUNTIME_DIR/casevault`, else `${TMPDIR:-/tmp}/casevault-<uid>`
/// (as ssh-agent: the runtime folder is per user and cleared at logout).
pub fn dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() && Path::new(&d).is_absolute() => Path::new(&d).join("casevault"),
        _ => std::env::temp_dir().join(format!("casevault-{}", my_uid())),
    }
}

/// The agent's socket.
pub fn socket_path() -> PathBuf {
    dir().join(SOCKET_NAME)
}

/// This process's real uid.
pub fn my_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// What is wrong with the agent's folder, judged from its `lstat` (kept apart from the
/// system calls so the owner check is unit-tested: another uid cannot be made in a test).
pub fn dir_problem(
    is_symlink: bool,
    is_dir: bool,
    owner: u32,
    mode: u32,
    me: u32,
) -> Option<&'static str> {
    if is_symlink {
        Some("symlink")
    } else if !is_dir {
        Some("not_dir")
    } else if owner != me {
        Some("owner")
    } else if mode & 0o077 != 0 {
        Some("mode")
    } else {
        None
    }
}

/// The same for the socket: ours, a socket, 0600 or tighter.
pub fn socket_problem(is_socket: bool, owner: u32, mode: u32, me: u32) -> Option<&'static str> {
    if !is_socket {
        Some("not_socket")
    } else if owner != me {
        Some("owner")
    } else if mode & 0o077 != 0 {
        Some("mode")
    } else {
        None
    }
}

fn unsafe_path(path: &Path, why: &str) -> Error {
    Error::AgentUnsafe {
        path: path.to_path_buf(),
        reason: match why {
            "symlink" => crate::tr!("agent.why_symlink"),
            "not_dir" => crate::tr!("agent.why_not_dir"),
            "not_socket" => crate::tr!("agent.why_not_socket"),
            "owner" => crate::tr!("agent.why_owner"),
            _ => crate::tr!("agent.why_mode"),
        },
    }
}

/// Checks the agent folder is ours, a real folder and 0700 (or tighter).
pub fn check_dir(path: &Path) -> Result<()> {
    let m = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
    match dir_problem(
        m.file_type().is_symlink(),
        m.is_dir(),
        m.uid(),
        m.mode(),
        my_uid(),
    ) {
        Some(why) => Err(unsafe_path(path, why)),
        None => Ok(()),
    }
}

/// Makes the agent folder (0700) if it is missing, then checks it.
pub fn prepare_dir() -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let d = dir();
    if let Some(parent) = d.parent() {
        if !parent.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| Error::io(parent, e))?;
        }
    }
    match std::fs::DirBuilder::new().mode(0o700).create(&d) {
        Ok(()) => {
            // Explicit, not left to the umask.
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io(&d, e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(&d, e)),
    }
    check_dir(&d)?;
    Ok(d)
}

/// Checks the socket file itself (ours, a socket, 0600).
pub fn check_socket(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let m = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
    match socket_problem(m.file_type().is_socket(), m.uid(), m.mode(), my_uid()) {
        Some(why) => Err(unsafe_path(path, why)),
        None => Ok(()),
    }
}

/// Writes one length-prefixed JSON message through a wiping buffer.
pub fn write_message<T: Serialize>(w: &mut impl Write, msg: &T) -> std::io::Result<()> {
    // Sized up front so serializing never reallocates (a reallocation would leave an
    // unwiped copy of an identity behind in freed memory).
    let mut buf = Zeroizing::new(Vec::with_capacity(16 << 10));
    buf.extend_from_slice(&[0; 4]);
    serde_json::to_writer(&mut *buf, msg)?;
    let len = buf.len() - 4;
    if len > MAX_MESSAGE {
        return Err(std::io::Error::other("message too large"));
    }
    buf[..4].copy_from_slice(&(len as u32).to_be_bytes());
    w.write_all(&buf)?;
    w.flush()
}

/// Reads one length-prefixed JSON message (at most [`MAX_MESSAGE`] bytes).
pub fn read_message<T: for<'de> Deserialize<'de>>(r: &mut impl Read) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(std::io::Error::other("message too large"));
    }
    let mut buf = Zeroizing::new(vec![0u8; len]);
    r.read_exact(&mut buf)?;
    serde_json::from_slice(&buf).map_err(std::io::Error::other)
}

/// Sends `req` to the running agent and returns its answer. The folder and socket are
/// checked first, and the agent must run as our uid.
pub fn call(req: &Request) -> Result<Response> {
    let d = dir();
    let socket = d.join(SOCKET_NAME);
    let not_running = || Error::AgentNotRunning {
        socket: socket.clone(),
    };
    match std::fs::symlink_metadata(&d) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_running()),
        _ => check_dir(&d)?,
    }
    match std::fs::symlink_metadata(&socket) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_running()),
        _ => check_socket(&socket)?,
    }
    let mut stream = match UnixStream::connect(&socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(not_running())
        }
        Err(e) => return Err(Error::io(&socket, e)),
    };
    let peer =
        rustix::net::sockopt::socket_peercred(&stream).map_err(|e| Error::io(&socket, e.into()))?;
    if peer.uid.as_raw() != my_uid() {
        return Err(unsafe_path(&socket, "owner"));
    }
    let io = |e: std::io::Error| Error::AgentProtocol(e.to_string());
    stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    write_message(&mut stream, req).map_err(io)?;
    read_message(&mut stream).map_err(io)
}

/// Whether commands may use the agent: not with `--no-agent` or `CASEVAULT_AGENT=0`.
pub fn enabled(no_agent_flag: bool) -> bool {
    !no_agent_flag && std::env::var("CASEVAULT_AGENT").map_or(true, |v| v.trim() != "0")
}

/// What keys an identity in the agent: the vault's canonical path and the SHA-256 of the
/// member's identity file.
pub fn key_of(vault_root: &Path, identity_file: &[u8]) -> Result<(String, String)> {
    let canon = std::fs::canonicalize(vault_root).map_err(|e| Error::io(vault_root, e))?;
    Ok((
        canon.to_string_lossy().into_owned(),
        crate::crypto::hex(&crate::crypto::sha256(identity_file)),
    ))
}

/// The member's unlocked identity from the agent, if one runs and holds it for exactly this
/// vault and this identity file; `None` otherwise (the caller falls back to the passphrase).
/// An agent folder that is not safely ours is said on stderr and not used.
pub fn fetch(vault_root: &Path, identity_path: &Path, member: &str) -> Option<StaffIdentity> {
    let file = std::fs::read(identity_path).ok()?;
    let (vault, file_digest) = key_of(vault_root, &file).ok()?;
    let req = Request {
        op: "get".into(),
        vault,
        member: member.to_string(),
        file_digest,
        identity: None,
    };
    match call(&req) {
        Ok(r) if r.ok => {
            let me = StaffIdentity::from_parts(r.identity.as_ref()?)?;
            (me.name == member).then_some(me)
        }
        Ok(_) | Err(Error::AgentNotRunning { .. }) => None,
        Err(e) => {
            crate::errln!("casevault: {}", e);
            None
        }
    }
}

/// Makes this process's memory unavailable to core dumps and to ptrace by the same user
/// (`PR_SET_DUMPABLE` 0, `RLIMIT_CORE` 0). Best effort: a failure is returned, not fatal.
pub fn harden() -> std::io::Result<()> {
    use rustix::process::{setrlimit, DumpableBehavior, Resource, Rlimit};
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )?;
    rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    Ok(())
}

/// Whether this process is dumpable (`PR_GET_DUMPABLE`).
pub fn dumpable() -> bool {
    !matches!(
        rustix::process::dumpable_behavior(),
        Ok(rustix::process::DumpableBehavior::NotDumpable)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_checks() {
        let me = 1000;
        assert_eq!(dir_problem(false, true, me, 0o40700, me), None);
        assert_eq!(dir_problem(false, true, me, 0o40500, me), None);
        assert_eq!(dir_problem(false, true, 0, 0o40700, me), Some("owner"));
        assert_eq!(dir_problem(false, true, 1001, 0o40700, me), Some("owner"));
        assert_eq!(dir_problem(true, false, me, 0o120777, me), Some("symlink"));
        assert_eq!(dir_problem(false, false, me, 0o100600, me), Some("not_dir"));
        assert_eq!(dir_problem(false, true, me, 0o40750, me), Some("mode"));
        assert_eq!(dir_problem(false, true, me, 0o41777, me), Some("mode"));
        assert_eq!(socket_problem(true, me, 0o140600, me), None);
        assert_eq!(socket_problem(true, 1001, 0o140600, me), Some("owner"));
        assert_eq!(socket_problem(true, me, 0o140666, me), Some("mode"));
        assert_eq!(socket_problem(false, me, 0o100600, me), Some("not_socket"));
    }

    #[test]
    fn messages_round_trip_and_are_capped() {
        let req = Request {
            op: "get".into(),
            vault: "/v".into(),
            member: "王芳".into(),
            file_digest: "ab".into(),
            identity: None,
        };
        let mut buf = Vec::new();
        write_message(&mut buf, &req).unwrap();
        let back: Request = read_message(&mut buf.as_slice()).unwrap();
        assert_eq!(back.member, "王芳");
        let mut big = ((MAX_MESSAGE + 1) as u32).to_be_bytes().to_vec();
        big.extend_from_slice(b"{}");
        assert!(read_message::<Request>(&mut big.as_slice()).is_err());
    }

    #[test]
    fn not_dumpable_after_harden() {
        harden().unwrap();
        assert!(!dumpable());
        let (cur, max) = (
            rustix::process::getrlimit(rustix::process::Resource::Core).current,
            rustix::process::getrlimit(rustix::process::Resource::Core).maximum,
        );
        assert_eq!((cur, max), (Some(0), Some(0)));
    }
}
