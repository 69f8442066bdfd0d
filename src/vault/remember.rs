//! Remembered log state (issue 11, item 3): each installation keeps, outside the vault
//! directory, the latest log head it has seen for each vault and staff member, and every open
//! demands a Merkle consistency proof from that head to the vault's current one. A truncated
//! log, a vault restored from an older copy, or a re-signed history (a fork) is refused with an
//! alarm naming both sizes, and never repaired: the remembered state is not overwritten then.
//!
//! Where: `$CASEVAULT_STATE_DIR`, else `$XDG_STATE_HOME/casevault`, else
//! `~/.local/state/casevault`; inside, `<vault_id>/<staff>.json` (format in `docs/formats.md`,
//! "Remembered log state") and `<vault_id>/.lock`, which every reader and writer holds
//! exclusively, so two processes never lose an update (the larger consistent head is kept).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::disclosure;
use crate::crypto::{hex, unhex};
use crate::error::{Error, Result};
use crate::log::merkle::{consistency_proof_from, verify_consistency, Frontier, Hash};
use crate::log::{Checkpoint, LogError, LogHead, VerifierKey};
use crate::store;

/// The first line of meaning in every state file; a file with another is refused.
pub const FORMAT: &str = "casevault-state 1";

/// Largest state file read (a head is a few kilobytes).
const MAX_STATE_FILE: u64 = 64 << 10;

/// Where this installation keeps its remembered log heads.
#[derive(Clone, Debug)]
pub struct StateDir {
    pub root: PathBuf,
}

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    /// `$CASEVAULT_STATE_DIR`, else `$XDG_STATE_HOME/casevault`, else
    /// `~/.local/state/casevault` (relative values are ignored, as the XDG spec says). With
    /// none of them, opening is refused rather than done without the check.
    pub fn from_env() -> Result<StateDir> {
        let abs = |var: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        if let Some(p) = abs("CASEVAULT_STATE_DIR") {
            return Ok(StateDir::new(p));
        }
        if let Some(p) = abs("XDG_STATE_HOME") {
            return Ok(StateDir::new(p.join("casevault")));
        }
        if let Some(p) = abs("HOME") {
            return Ok(StateDir::new(p.join(".local/state/casevault")));
        }
        Err(Error::StateFile {
            path: PathBuf::from("$CASEVAULT_STATE_DIR"),
            reason: crate::tr!("state.no_dir"),
        })
    }

    /// The state file of `staff` for vault `vault_id` (a checked hex id: no path tricks).
    pub fn file(&self, vault_id: &str, staff: &str) -> PathBuf {
        self.root.join(vault_id).join(format!("{staff}.json"))
    }

    fn lock_path(&self, vault_id: &str) -> PathBuf {
        self.root.join(vault_id).join(".lock")
    }
}

/// One remembered head, as stored (hashes in lower-case hex, frontier largest subtree first).
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct Stored {
    format: String,
    vault_id: String,
    origin: String,
    staff: String,
    size: u64,
    root: String,
    frontier: Vec<String>,
    /// The newest checkpoint (it covers `size` entries or fewer: entries appended by members
    /// without the checkpoint key wait for a supervisor's).
    checkpoint: String,
    /// The checkpoint key the chain had reached (`log::KeyChain`): a later open whose chain
    /// does not reach it is a fork alarm (handovers deleted so an older key signs again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checkpoint_key: Option<String>,
}

/// A remembered head, parsed and checked for internal consistency.
#[derive(Debug, Clone)]
pub struct Remembered {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub checkpoint: String,
    pub checkpoint_key: Option<String>,
    frontier: Frontier,
}

/// What a check found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No head was remembered: the current one is now (trust on first use).
    First { size: u64 },
    /// The current head extends the remembered one (proof verified) and is now remembered.
    Extended { from: u64, to: u64 },
    /// The same head as remembered.
    Same { size: u64 },
    /// The log disagrees with its last checkpoint (an append would raise `Alarm`); its
    /// signed checkpoint was compared with the remembered head, nothing was remembered.
    Damaged,
}

/// Reads the remembered head of `staff` for `vault_id`, if any.
pub fn load(state: &StateDir, vault_id: &str, staff: &str) -> Result<Option<Remembered>> {
    let path = state.file(vault_id, staff);
    if !path.exists() {
        return Ok(None);
    }
    let bad = |reason: String| Error::StateFile {
        path: path.clone(),
        reason,
    };
    let text = crate::error::read_capped_text(&path, MAX_STATE_FILE)?;
    let s: Stored = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if s.format != FORMAT {
        return Err(bad(crate::tr!("state.bad_format", format = s.format)));
    }
    if s.vault_id != vault_id || s.staff != staff {
        return Err(bad(crate::tr!("state.wrong_owner")));
    }
    let hash = |h: &str| unhex::<32>(h).ok_or_else(|| bad(crate::tr!("state.bad_hash")));
    let root = hash(&s.root)?;
    let nodes = s
        .frontier
        .iter()
        .map(|h| hash(h))
        .collect::<Result<Vec<_>>>()?;
    let levels: Vec<(u32, Hash)> = (0..64u32)
        .rev()
        .filter(|b| s.size >> b & 1 == 1)
        .zip(nodes.iter().copied())
        .collect();
    let frontier = Frontier::from_levels(s.size, levels)
        .filter(|f| f.levels().len() == nodes.len() && f.root() == root)
        .ok_or_else(|| bad(crate::tr!("state.bad_frontier")))?;
    if s.size > 0 {
        let cp = Checkpoint::parse_unverified(&s.checkpoint)
            .map_err(|_| bad(crate::tr!("state.bad_checkpoint")))?;
        if cp.size > s.size || (cp.size == s.size && cp.root != root) || cp.origin != s.origin {
            return Err(bad(crate::tr!("state.bad_checkpoint")));
        }
    }
    Ok(Some(Remembered {
        origin: s.origin,
        size: s.size,
        root,
        checkpoint: s.checkpoint,
        checkpoint_key: s.checkpoint_key,
        frontier,
    }))
}

fn save(state: &StateDir, vault_id: &str, staff: &str, origin: &str, h: &LogHead) -> Result<()> {
    let s = Stored {
        format: FORMAT.to_string(),
        vault_id: vault_id.to_string(),
        origin: origin.to_string(),
        staff: staff.to_string(),
        size: h.size,
        root: hex(&h.root),
        frontier: h.frontier.levels().iter().map(|l| hex(&l.1)).collect(),
        checkpoint: h.note.clone(),
        checkpoint_key: Some(h.chain.current().encode()),
    };
    let mut bytes = serde_json::to_vec_pretty(&s).map_err(|e| Error::Invalid(e.to_string()))?;
    bytes.push(b'\n');
    super::dir::write_atomic(&state.file(vault_id, staff), &bytes)
}

/// The vault's id as a file name: 1-64 hex digits, or the vault setting was tampered with.
fn vault_id(conn: &Connection) -> Result<String> {
    let id = store::meta::require_text(conn, "vault_id")?;
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Tampered {
            what: "vault setting",
            id: "vault_id".into(),
        });
    }
    Ok(id.to_ascii_lowercase())
}

/// Holds `<vault_id>/.lock` exclusively (released on drop): one reader-writer at a time.
struct StateLock {
    _file: File,
}

fn lock(state: &StateDir, vault_id: &str) -> Result<StateLock> {
    let dir = state.root.join(vault_id);
    crate::private::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let path = state.lock_path(vault_id);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(crate::private::FILE_MODE)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    file.lock().map_err(|e| Error::io(&path, e))?;
    Ok(StateLock { _file: file })
}

/// Checks the vault's current log head against the head `staff` remembers and remembers the
/// current one when it is the same or a proven extension. Refuses (changing nothing) with
/// [`Error::LogRollback`] when the log is shorter than remembered and [`Error::LogFork`]
/// when the remembered head is not a prefix of the current one.
///
/// The consistency proof is built from the vault's stored entries appended since the
/// remembered head and the remembered tree's frontier (the proof's other nodes), then
/// verified against the remembered root and the current checkpoint's root: O(new entries
/// + log n), not a read of the whole log. Call with no transaction open on `conn`.
pub fn check_and_remember(
    conn: &Connection,
    vault_root: &Path,
    state: &StateDir,
    staff: &str,
) -> Result<Outcome> {
    let vault_id = vault_id(conn)?;
    let origin = disclosure::origin(conn)?;
    let vkey =
        VerifierKey::parse(&disclosure::verifier_key(conn)?).map_err(|_| Error::Tampered {
            what: "vault setting",
            id: "verifier_key".into(),
        })?;
    // The state lock first, then the log read: a head another process remembered was read
    // from a commit at or before the one this read sees, so a larger remembered size is
    // never a race, always a rollback.
    let _lock = lock(state, &vault_id)?;
    // Kept inside the vault, a restored copy would bring its own older state along.
    if is_inside(&state.root, vault_root) {
        return Err(Error::StateFile {
            path: state.root.clone(),
            reason: crate::tr!("state.inside_vault"),
        });
    }
    let remembered = load(state, &vault_id, staff)?;
    // One read transaction: every query sees the same commit.
    let tx = conn.unchecked_transaction()?;
    let head = match crate::log::head(&tx, &vkey) {
        Ok(h) => h,
        // The stored log disagrees with its own last checkpoint (or its bytes are not even
        // bytes): every append refuses with that alarm and `log verify` names it, while reads
        // that need no log entry go on. The signed checkpoint alone still shows a rollback or
        // a fork at the remembered size; nothing is remembered from a damaged log.
        Err(LogError::Alarm { .. } | LogError::Db(rusqlite::Error::InvalidColumnType(..))) => {
            if let Some(r) = &remembered {
                check_last_checkpoint(&tx, &vkey, &origin, r)?;
            }
            return Ok(Outcome::Damaged);
        }
        Err(e) => return Err(e.into()),
    };
    let outcome = match &remembered {
        None => Outcome::First { size: head.size },
        Some(r) => {
            let fork = || Error::LogFork {
                seen: r.size,
                now: head.size,
            };
            if r.origin != origin {
                return Err(fork());
            }
            // The chain must still reach the key this installation saw it reach.
            if let Some(k) = &r.checkpoint_key {
                if !head.chain.keys().any(|c| c.encode() == *k) {
                    return Err(fork());
                }
            }
            if head.size < r.size {
                return Err(Error::LogRollback {
                    seen: r.size,
                    now: head.size,
                });
            }
            if head.size == r.size {
                if head.root != r.root {
                    return Err(fork());
                }
                Outcome::Same { size: r.size }
            } else {
                let new = crate::log::leaf_hashes(&tx, r.size, head.size)?;
                let proof = consistency_proof_from(&r.frontier, &new).ok_or_else(fork)?;
                if !verify_consistency(r.size, head.size, &r.root, &head.root, &proof) {
                    return Err(fork());
                }
                Outcome::Extended {
                    from: r.size,
                    to: head.size,
                }
            }
        }
    };
    drop(tx);
    let key_moved = remembered
        .as_ref()
        .is_some_and(|r| r.checkpoint_key.as_deref() != Some(&head.chain.current().encode()));
    if !matches!(outcome, Outcome::Same { .. }) || key_moved {
        save(state, &vault_id, staff, &origin, &head)?;
    }
    Ok(outcome)
}

/// For a damaged log: the last stored checkpoint, if its signature holds, must not be shorter
/// than the remembered head, nor differ from it at the same size.
fn check_last_checkpoint(
    conn: &Connection,
    vkey: &VerifierKey,
    origin: &str,
    r: &Remembered,
) -> Result<()> {
    use rusqlite::OptionalExtension;
    let note: Option<String> = conn
        .query_row(
            "SELECT note FROM log_checkpoints ORDER BY size DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()
        .ok()
        .flatten();
    let stored: u64 = conn
        .query_row("SELECT count(*) FROM log_entries", [], |row| {
            row.get::<_, i64>(0)
        })
        .unwrap_or(0)
        .max(0) as u64;
    // Fewer entries than this installation saw: a rollback, whatever the checkpoints say.
    if stored < r.size {
        return Err(Error::LogRollback {
            seen: r.size,
            now: stored,
        });
    }
    // No checkpoint that verifies (deleted or replaced) cannot show the remembered head is
    // still there: an alarm, not a pass (found by the insider test of issue 11).
    let chain = crate::log::key_chain(conn, vkey).ok();
    let Some(cp) = note.and_then(|n| chain?.open(&n).ok()) else {
        if r.size == 0 {
            return Ok(());
        }
        return Err(Error::LogFork {
            seen: r.size,
            now: stored,
        });
    };
    if cp.size < r.size {
        return Err(Error::LogRollback {
            seen: r.size,
            now: cp.size,
        });
    }
    if r.origin != origin || (cp.size == r.size && cp.root != r.root) {
        return Err(Error::LogFork {
            seen: r.size,
            now: cp.size,
        });
    }
    Ok(())
}

/// The state file `staff` keeps for the vault open on `conn` (for messages and tests).
pub fn state_file(conn: &Connection, state: &StateDir, staff: &str) -> Result<PathBuf> {
    Ok(state.file(&vault_id(conn)?, staff))
}

/// Whether `path` is inside `dir` (the state must not live in the vault it guards).
fn is_inside(path: &Path, dir: &Path) -> bool {
    match (path.canonicalize(), dir.canonicalize()) {
        (Ok(p), Ok(d)) => p.starts_with(d),
        _ => false,
    }
}
