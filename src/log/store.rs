//! The log inside the vault's SQLite/SQLCipher database: schema, the one append path, and
//! reads for verification and display.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::entry::{signed_message, split_stored, Entry, Kind, KindCode, LegalBasis, SIG_LEN};
use super::error::LogError;
use super::merkle::{leaf_hash, verify_inclusion, Frontier, Hash};
use super::note::{Checkpoint, VerifierKey};
use super::receipt::Receipt;
use super::registry::Registry;
use super::verify::{VerifyOptions, VerifyReport};

/// Tables of the log. `log_entries.stored` is the only source of truth; `kind` and `time`
/// are copies for filtering, `log_frontier` lets each append compute the new root in
/// O(log n), and `log_checkpoints` keeps the signed notes (see [`CHECKPOINT_RETAIN_EVERY`]).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log_entries (
    idx    INTEGER PRIMARY KEY,
    kind   INTEGER NOT NULL,
    time   INTEGER NOT NULL,
    stored BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS log_entries_kind ON log_entries(kind, idx);
CREATE INDEX IF NOT EXISTS log_entries_time ON log_entries(time);
CREATE TABLE IF NOT EXISTS log_frontier (
    level INTEGER PRIMARY KEY,
    hash  BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS log_checkpoints (
    size       INTEGER PRIMARY KEY,
    note       TEXT NOT NULL,
    last_proof BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS log_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// A checkpoint is written after every append, but an older one is kept only when its size
/// is a multiple of this. Older checkpoints in the vault add no security (the same key signs
/// them all; the copies that matter travel in receipts), and keeping every one would double
/// the log's size and its verification time.
pub const CHECKPOINT_RETAIN_EVERY: u64 = 1024;

/// What the vault asks to log; the log adds index, time and signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    pub kind: Kind,
    pub actor: String,
    pub client_mac: Option<[u8; 32]>,
    pub case_mac: Option<[u8; 32]>,
    pub recipient: String,
    pub purpose: String,
    pub basis: LegalBasis,
    pub approver: Option<String>,
    pub disclosed_sha256: Option<[u8; 32]>,
    pub detail: String,
}

impl NewEntry {
    /// An entry of `kind` by `actor` with every other field empty.
    pub fn new(kind: Kind, actor: &str) -> NewEntry {
        NewEntry {
            kind,
            actor: actor.to_string(),
            client_mac: None,
            case_mac: None,
            recipient: String::new(),
            purpose: String::new(),
            basis: LegalBasis::None,
            approver: None,
            disclosed_sha256: None,
            detail: String::new(),
        }
    }

    fn at(&self, index: u64, time: i64) -> Entry {
        Entry {
            index,
            time,
            kind: self.kind.clone(),
            actor: self.actor.clone(),
            client_mac: self.client_mac,
            case_mac: self.case_mac,
            recipient: self.recipient.clone(),
            purpose: self.purpose.clone(),
            basis: self.basis.clone(),
            approver: self.approver.clone(),
            disclosed_sha256: self.disclosed_sha256,
            detail: self.detail.clone(),
        }
    }
}

/// The log's current head, checked as an append checks it (signature of the last
/// checkpoint, stored size, frontier root, the last entry's inclusion): what an
/// installation compares with the head it remembers.
#[derive(Clone, Debug)]
pub struct LogHead {
    pub size: u64,
    pub root: Hash,
    /// The last checkpoint's signed note (empty for an empty log); it covers `covered`
    /// entries, which is less than `size` while entries appended by members who hold no
    /// checkpoint key wait for a holder's checkpoint.
    pub note: String,
    pub covered: u64,
    pub frontier: Frontier,
    /// The checkpoint key chain walked from the pinned key.
    pub chain: super::KeyChain,
}

/// The log's current head (O(log n)); [`LogError::Alarm`] when the stored state disagrees
/// with the last checkpoint. Call inside one read transaction so every query sees the same
/// commit.
pub fn head(conn: &Connection, vkey: &VerifierKey) -> Result<LogHead, LogError> {
    let h = check_head(conn, vkey)?;
    let note = latest_checkpoint(conn)?.map(|c| c.1).unwrap_or_default();
    Ok(LogHead {
        size: h.frontier.size(),
        root: h.frontier.root(),
        note,
        covered: h.covered,
        frontier: h.frontier,
        chain: h.chain,
    })
}

/// The leaf hashes of entries `from..to`, in order; [`LogError::Alarm`] if one is missing.
pub fn leaf_hashes(conn: &Connection, from: u64, to: u64) -> Result<Vec<Hash>, LogError> {
    let mut stmt = conn.prepare_cached(
        "SELECT idx, stored FROM log_entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
    )?;
    let mut rows = stmt.query(params![to_sql(from)?, to_sql(to)?])?;
    let mut out = Vec::with_capacity(to.saturating_sub(from).min(1 << 20) as usize);
    while let Some(row) = rows.next()? {
        let idx: i64 = row.get(0)?;
        if idx != to_sql(from + out.len() as u64)? {
            break;
        }
        let stored: Vec<u8> = row.get(1)?;
        out.push(leaf_hash(&stored));
    }
    if out.len() as u64 != to.saturating_sub(from) {
        return Err(LogError::Alarm {
            size: to,
            reason: format!("entries {from}..{to} incomplete"),
        });
    }
    Ok(out)
}

/// Appends one entry signed by `actor_key` and a new checkpoint signed by `log_key`, inside
/// the caller's transaction (see [`append_with`]).
pub fn append(
    tx: &Transaction,
    req: &NewEntry,
    actor_key: &SigningKey,
    log_key: &SigningKey,
    origin: &str,
    now: i64,
) -> Result<Receipt, LogError> {
    append_with(tx, req, actor_key, &[log_key], origin, now)
}

/// Appends one entry signed by `actor_key`, inside the caller's transaction, and a new
/// checkpoint signed by `ckpt` (the chain's current checkpoint key; at a handover the current
/// key then the new one, see [`KeyChain`](super::KeyChain)). With `ckpt` empty (the appender
/// holds no checkpoint key) no checkpoint is signed: the entry is in the tree but not covered
/// until a holder signs one ([`checkpoint`]), and the receipt's checkpoint is empty.
///
/// Contract (fail closed): the returned [`Receipt`] is the only permission to release the
/// disclosed bytes, and only after the caller has **committed** `tx`. Any error means
/// nothing may be released; the caller rolls back. Use an IMMEDIATE transaction so two
/// writers serialize, and `PRAGMA synchronous=FULL` so a commit is durable.
///
/// Before writing, the stored state is checked against the last checkpoint (signature under
/// the key chain, size, frontier root, the last entry's inclusion, and the entries since);
/// any mismatch returns [`LogError::Alarm`] and nothing is repaired.
pub fn append_with(
    tx: &Transaction,
    req: &NewEntry,
    actor_key: &SigningKey,
    ckpt: &[&SigningKey],
    origin: &str,
    now: i64,
) -> Result<Receipt, LogError> {
    let (index, stored, proof, note) =
        write(tx, std::slice::from_ref(req), actor_key, ckpt, origin, now)?;
    with_chain(
        tx,
        Receipt::new(note.unwrap_or_default(), index, &stored, &proof),
    )
}

/// Appends several entries by one actor in the caller's transaction with one head check and
/// one new checkpoint (plus the retained ones the batch passes), for writes that attest many
/// things at once (an import's new case keys). Same contract as [`append`]; staff registry
/// kinds are refused here (each must see the registry as the one before left it). Returns the
/// entries' indexes.
pub fn append_many(
    tx: &Transaction,
    reqs: &[NewEntry],
    actor_key: &SigningKey,
    log_key: &SigningKey,
    origin: &str,
    now: i64,
) -> Result<Vec<u64>, LogError> {
    append_many_with(tx, reqs, actor_key, &[log_key], origin, now)
}

/// [`append_many`] with the checkpoint keys of [`append_with`] (none: no checkpoint).
pub fn append_many_with(
    tx: &Transaction,
    reqs: &[NewEntry],
    actor_key: &SigningKey,
    ckpt: &[&SigningKey],
    origin: &str,
    now: i64,
) -> Result<Vec<u64>, LogError> {
    if reqs.is_empty() {
        return Ok(Vec::new());
    }
    if reqs.iter().any(|r| r.kind.code().is_registry()) {
        return Err(LogError::BadRequest(
            super::error::DecodeError::UnknownKind(KindCode::StaffRegistered as u8),
        ));
    }
    let (last, ..) = write(tx, reqs, actor_key, ckpt, origin, now)?;
    let first = last + 1 - reqs.len() as u64;
    Ok((first..=last).collect())
}

/// Signs a checkpoint covering the head with `ckpt` (as in [`append_with`]) when the head is
/// ahead of the newest checkpoint, or when `ckpt` hands over to a new key; returns the note
/// signed, if any. What a checkpoint key holder's session does when it opens and after its
/// own appends, so entries others appended become covered.
pub fn checkpoint(
    tx: &Transaction,
    ckpt: &[&SigningKey],
    origin: &str,
) -> Result<Option<String>, LogError> {
    if ckpt.is_empty() {
        return Ok(None);
    }
    let pinned = pinned_key(tx)?.ok_or_else(|| LogError::Alarm {
        size: 0,
        reason: "no log".into(),
    })?;
    let head = check_head(tx, &pinned)?;
    let handover = ckpt.len() > 1;
    if head.frontier.size() == head.covered && !handover {
        return Ok(None);
    }
    check_uncovered(tx, head.covered)?;
    let proof = last_proof(tx, &head)?;
    let note = sign_head(tx, &head, ckpt, origin, &proof)?;
    Ok(Some(note))
}

/// The inclusion proof of the last entry in the head's tree: the stored one when the newest
/// checkpoint is at the head, else recomputed from the frontier it signed and the entries since
/// (O(entries since)).
fn last_proof(conn: &Connection, head: &CheckedHead) -> Result<Vec<Hash>, LogError> {
    let size = head.frontier.size();
    if size == head.covered {
        let raw: Vec<u8> = conn.query_row(
            "SELECT last_proof FROM log_checkpoints WHERE size = ?1",
            [to_sql(size)?],
            |r| r.get(0),
        )?;
        return parse_hashes(&raw).ok_or_else(|| LogError::Alarm {
            size,
            reason: "last proof".into(),
        });
    }
    let mut f = head.covered_frontier.clone();
    let mut proof = Vec::new();
    for h in leaf_hashes(conn, head.covered, size)? {
        proof = f.push(h);
    }
    Ok(proof)
}

/// The pinned (founding) verifier key recorded when the log was founded.
fn pinned_key(conn: &Connection) -> Result<Option<VerifierKey>, LogError> {
    match stored_verifier_key(conn)? {
        Some(k) => VerifierKey::parse(&k)
            .map(Some)
            .map_err(|e| LogError::Alarm {
                size: 0,
                reason: e.to_string(),
            }),
        None => Ok(None),
    }
}

/// The `log_meta` row listing the handovers, one `<size> <verifier key>` a line (untrusted:
/// only a note the current key co-signed moves the chain).
const CHAIN_META: &str = "checkpoint_chain";
/// The `log_meta` row holding the frontier at the newest checkpoint while entries beyond it
/// are not covered (`<level>:<hex>` comma-separated).
const COVERED_META: &str = "checkpoint_frontier";

/// The handovers recorded in the vault: `(size, candidate key)`.
fn chain_meta(conn: &Connection) -> Result<Vec<(u64, VerifierKey)>, LogError> {
    let text: Option<String> = conn
        .query_row(
            "SELECT value FROM log_meta WHERE name = ?1",
            [CHAIN_META],
            |r| r.get(0),
        )
        .optional()?;
    Ok(text
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (size, key) = l.split_once(' ')?;
            Some((size.parse().ok()?, VerifierKey::parse(key).ok()?))
        })
        .collect())
}

/// The key chain of the log in the vault, walked from `pinned` over the retained handover
/// notes. O(handovers).
pub fn key_chain(conn: &Connection, pinned: &VerifierKey) -> Result<super::KeyChain, LogError> {
    let meta = chain_meta(conn)?;
    let mut notes = Vec::new();
    for (size, _) in &meta {
        let note: Option<String> = conn
            .query_row(
                "SELECT note FROM log_checkpoints WHERE size = ?1",
                [to_sql(*size)?],
                |r| r.get(0),
            )
            .optional()?;
        notes.extend(note);
    }
    let candidates: Vec<VerifierKey> = meta.into_iter().map(|m| m.1).collect();
    Ok(super::KeyChain::walk(pinned, &candidates, &notes))
}

/// The stored handover notes, in size order (what receipts and proofs carry).
pub fn handover_notes(conn: &Connection) -> Result<Vec<String>, LogError> {
    let mut out = Vec::new();
    for (size, _) in chain_meta(conn)? {
        let note: Option<String> = conn
            .query_row(
                "SELECT note FROM log_checkpoints WHERE size = ?1",
                [to_sql(size)?],
                |r| r.get(0),
            )
            .optional()?;
        out.extend(note);
    }
    Ok(out)
}

/// A receipt with the chain's handovers attached (nothing when the key never rotated).
fn with_chain(conn: &Connection, mut r: Receipt) -> Result<Receipt, LogError> {
    r.chain = handover_notes(conn)?;
    r.chain_keys = chain_candidates(conn)?;
    Ok(r)
}

/// The candidate keys recorded in the vault (for an export's `checkpoint-keys.txt`).
pub fn chain_candidates(conn: &Connection) -> Result<Vec<String>, LogError> {
    Ok(chain_meta(conn)?
        .into_iter()
        .map(|m| m.1.encode())
        .collect())
}

/// What [`write`] returns: the last index, its stored bytes, its inclusion proof, the note.
type Written = (u64, Vec<u8>, Vec<Hash>, Option<String>);

/// Appends `reqs` and, with `ckpt`, signs one checkpoint at the new head. Returns the last
/// index, its stored bytes, its inclusion proof and the note.
fn write(
    tx: &Transaction,
    reqs: &[NewEntry],
    actor_key: &SigningKey,
    ckpt: &[&SigningKey],
    origin: &str,
    now: i64,
) -> Result<Written, LogError> {
    let existing = pinned_key(tx)?;
    let founding = existing.is_none();
    let pinned = match (existing, ckpt.first()) {
        (Some(k), _) => k,
        (None, Some(k)) => VerifierKey::new(origin, k.verifying_key()),
        (None, None) => {
            return Err(LogError::Alarm {
                size: 0,
                reason: "founding entry without checkpoint key".into(),
            })
        }
    };
    let head = check_head(tx, &pinned)?;
    if !ckpt.is_empty() {
        // A checkpoint will cover the entries others appended since the last one.
        check_uncovered(tx, head.covered)?;
    }
    let mut frontier = head.frontier.clone();
    let registry = load_registry(tx)?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO log_entries (idx, kind, time, stored) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut keep = tx.prepare_cached(
        "INSERT OR REPLACE INTO log_checkpoints (size, note, last_proof) VALUES (?1, ?2, ?3)",
    )?;
    let end = frontier.size() + reqs.len() as u64;
    let mut last = (0u64, Vec::new(), Vec::new());
    for req in reqs {
        let index = frontier.size();
        // The actor must sign with the key the log has registered for them.
        let entry = req.at(index, now);
        if registry.signer(&entry)? != actor_key.verifying_key() {
            return Err(LogError::WrongActorKey {
                actor: entry.actor.clone(),
            });
        }
        let bytes = entry.encode().map_err(LogError::BadRequest)?;
        let sig = actor_key.sign(&signed_message(&bytes));
        let mut stored = bytes;
        stored.extend_from_slice(&sig.to_bytes());
        let proof = frontier.push(leaf_hash(&stored));
        insert.execute(params![
            to_sql(index)?,
            entry.kind.code() as u8,
            now,
            stored
        ])?;
        // A retained checkpoint a batch passes is written as single appends would, by the
        // current key alone (a handover is the batch's last checkpoint).
        let size = frontier.size();
        if size < end && size.is_multiple_of(CHECKPOINT_RETAIN_EVERY) {
            if let Some(k) = ckpt.first() {
                let cp = Checkpoint {
                    origin: origin.to_string(),
                    size,
                    root: frontier.root(),
                };
                keep.execute(params![to_sql(size)?, cp.sign(k), proof.concat()])?;
            }
        }
        last = (index, stored, proof);
    }
    tx.execute("DELETE FROM log_frontier", [])?;
    for (level, hash) in frontier.levels() {
        tx.execute(
            "INSERT INTO log_frontier (level, hash) VALUES (?1, ?2)",
            params![level, hash.as_slice()],
        )?;
    }
    if founding {
        tx.execute(
            "INSERT INTO log_meta (name, value) VALUES ('origin', ?1), ('verifier_key', ?2)",
            params![origin, pinned.encode()],
        )?;
    }
    let new_head = CheckedHead {
        frontier,
        covered: head.covered,
        covered_frontier: head.covered_frontier,
        chain: head.chain,
    };
    let note = if ckpt.is_empty() {
        if head.frontier.size() == head.covered {
            // The first entry beyond the newest checkpoint: keep the frontier it signed, so
            // the head check can recompute the tail from it.
            tx.execute(
                "INSERT OR REPLACE INTO log_meta (name, value) VALUES (?1, ?2)",
                params![COVERED_META, encode_levels(&head.frontier.levels())],
            )?;
        }
        None
    } else {
        Some(sign_head(tx, &new_head, ckpt, origin, &last.2)?)
    };
    Ok((last.0, last.1, last.2, note))
}

/// Signs the checkpoint of `head` with `ckpt` and stores it; drops the previous newest one
/// unless it is retained (every [`CHECKPOINT_RETAIN_EVERY`]th size, and every handover).
fn sign_head(
    tx: &Transaction,
    head: &CheckedHead,
    ckpt: &[&SigningKey],
    origin: &str,
    proof: &[Hash],
) -> Result<String, LogError> {
    let current = head.chain.current();
    let size = head.frontier.size();
    let not_current = || LogError::Alarm {
        size,
        reason: "the checkpoint key is not the chain's current key".into(),
    };
    let first = ckpt.first().ok_or_else(not_current)?;
    if VerifierKey::new(origin, first.verifying_key()) != *current {
        return Err(not_current());
    }
    let cp = Checkpoint {
        origin: origin.to_string(),
        size,
        root: head.frontier.root(),
    };
    let note = match ckpt {
        [old, new] => cp.sign_handover(old, new),
        _ => cp.sign_all(ckpt),
    };
    let mut handovers = head.chain.rotations();
    if let Some(next) = ckpt.get(1) {
        let next = VerifierKey::new(origin, next.verifying_key());
        let mut meta: Vec<String> = chain_meta(tx)?
            .into_iter()
            .map(|(s, k)| format!("{s} {}", k.encode()))
            .collect();
        meta.push(format!("{size} {}", next.encode()));
        tx.execute(
            "INSERT OR REPLACE INTO log_meta (name, value) VALUES (?1, ?2)",
            params![CHAIN_META, meta.join("\n")],
        )?;
        handovers.push(size);
    }
    tx.execute(
        "INSERT OR REPLACE INTO log_checkpoints (size, note, last_proof) VALUES (?1, ?2, ?3)",
        params![to_sql(size)?, note, proof.concat()],
    )?;
    let prev = head.covered;
    if prev > 0
        && prev != size
        && !prev.is_multiple_of(CHECKPOINT_RETAIN_EVERY)
        && !handovers.contains(&prev)
    {
        tx.execute(
            "DELETE FROM log_checkpoints WHERE size = ?1",
            [to_sql(prev)?],
        )?;
    }
    tx.execute("DELETE FROM log_meta WHERE name = ?1", [COVERED_META])?;
    Ok(note)
}

fn encode_levels(levels: &[(u32, Hash)]) -> String {
    levels
        .iter()
        .map(|(l, h)| format!("{l}:{}", hex32(h)))
        .collect::<Vec<_>>()
        .join(",")
}

fn decode_levels(text: &str) -> Option<Vec<(u32, Hash)>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split(',')
        .map(|p| {
            let (l, h) = p.split_once(':')?;
            if h.len() != 64 {
                return None;
            }
            let mut out = [0u8; 32];
            for (i, o) in out.iter_mut().enumerate() {
                *o = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
            }
            Some((l.parse().ok()?, out))
        })
        .collect()
}

fn hex32(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// The head after the check: the frontier of every stored entry, the size the newest
/// checkpoint covers, the frontier there, and the key chain.
struct CheckedHead {
    frontier: Frontier,
    covered: u64,
    covered_frontier: Frontier,
    chain: super::KeyChain,
}

/// Checks the stored head against the last checkpoint in O(log n + entries since it):
/// the checkpoint's signature under the key chain walked from `vkey` (the pinned key), its
/// size, frontier and last entry, and the entries appended since, recomputed from the
/// frontier it signed.
fn check_head(conn: &Connection, vkey: &VerifierKey) -> Result<CheckedHead, LogError> {
    let last: Option<(i64, String, Vec<u8>)> = conn
        .query_row(
            "SELECT size, note, last_proof FROM log_checkpoints ORDER BY size DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let max_idx: Option<i64> =
        conn.query_row("SELECT max(idx) FROM log_entries", [], |r| r.get(0))?;
    let levels = load_frontier(conn)?;
    let stored_meta: Option<String> = conn
        .query_row(
            "SELECT value FROM log_meta WHERE name = 'verifier_key'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let alarm = |size: u64, reason: &str| LogError::Alarm {
        size,
        reason: reason.to_string(),
    };

    let Some((size, note, last_proof)) = last else {
        if max_idx.is_some() || !levels.is_empty() || stored_meta.is_some() {
            return Err(alarm(0, "entries without checkpoint"));
        }
        return Ok(CheckedHead {
            frontier: Frontier::default(),
            covered: 0,
            covered_frontier: Frontier::default(),
            chain: super::KeyChain::single(vkey),
        });
    };
    let size = u64::try_from(size).map_err(|_| alarm(0, "checkpoint size"))?;
    if stored_meta.as_deref() != Some(vkey.encode().as_str()) {
        return Err(alarm(size, "log key or origin changed"));
    }
    let chain = key_chain(conn, vkey)?;
    let cp = chain.open(&note).map_err(|e| alarm(size, &e.to_string()))?;
    if cp.size != size {
        return Err(alarm(size, "checkpoint row size"));
    }
    let have = max_idx.map_or(0, |m| m.saturating_add(1)) as u64;
    if have < size {
        return Err(alarm(size, &format!("{have} entries stored")));
    }
    let frontier = Frontier::from_levels(have, levels).ok_or_else(|| alarm(size, "frontier"))?;
    let covered_frontier = if have == size {
        frontier.clone()
    } else {
        let text: Option<String> = conn
            .query_row(
                "SELECT value FROM log_meta WHERE name = ?1",
                [COVERED_META],
                |r| r.get(0),
            )
            .optional()?;
        let cf = text
            .as_deref()
            .and_then(decode_levels)
            .and_then(|l| Frontier::from_levels(size, l))
            .ok_or_else(|| alarm(size, "frontier at the checkpoint"))?;
        // The entries since the checkpoint, from the frontier it signed, must give the
        // stored head.
        let mut tail = cf.clone();
        for h in leaf_hashes(conn, size, have)? {
            tail.push(h);
        }
        if tail.root() != frontier.root() {
            return Err(alarm(size, "entries after the checkpoint"));
        }
        cf
    };
    if covered_frontier.root() != cp.root {
        return Err(alarm(size, "frontier root"));
    }
    if size > 0 {
        let stored: Vec<u8> = conn.query_row(
            "SELECT stored FROM log_entries WHERE idx = ?1",
            [to_sql(size - 1)?],
            |r| r.get(0),
        )?;
        let proof = parse_hashes(&last_proof).ok_or_else(|| alarm(size, "last proof"))?;
        if !verify_inclusion(&leaf_hash(&stored), size - 1, size, &proof, &cp.root) {
            return Err(alarm(size, "last entry"));
        }
    }
    Ok(CheckedHead {
        frontier,
        covered: size,
        covered_frontier,
        chain,
    })
}

fn load_frontier(conn: &Connection) -> Result<Vec<(u32, Hash)>, LogError> {
    let mut stmt = conn.prepare("SELECT level, hash FROM log_frontier")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (level, hash) = row?;
        let hash: Hash = hash.try_into().map_err(|_| LogError::Alarm {
            size: 0,
            reason: "frontier hash".into(),
        })?;
        out.push((level, hash));
    }
    Ok(out)
}

/// The stored staff entries (and entry 0), in index order: O(staff entries), not O(log).
fn registry_rows(conn: &Connection) -> Result<Vec<(i64, Vec<u8>)>, LogError> {
    let mut stmt = conn.prepare_cached(
        "SELECT idx, stored FROM log_entries WHERE kind IN (?1, ?2, ?3) OR idx = 0 ORDER BY idx",
    )?;
    let rows = stmt.query_map(
        [
            KindCode::StaffRegistered as u8,
            KindCode::StaffRevoked as u8,
            KindCode::StaffEndorsed as u8,
        ],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The registry as of the end of the log, unverified (the append path checks the new entry's
/// signer against it; sessions use [`verified_registry`]).
fn load_registry(conn: &Connection) -> Result<Registry, LogError> {
    let mut reg = Registry::default();
    for (idx, stored) in registry_rows(conn)? {
        let entry = decode_stored(idx as u64, &stored)?.0;
        reg.apply(&entry);
    }
    Ok(reg)
}

/// The registry from the staff entries only (O(staff entries), not O(log)), with every
/// entry's signature and registry rule checked, entry 0 first: what a session trusts about
/// staff. Signatures are checked in one batch; on failure each is checked to name the entry.
pub fn verified_registry(conn: &Connection) -> Result<Registry, LogError> {
    let rows = registry_rows(conn)?;
    let mut reg = Registry::default();
    let mut checks: Vec<(u64, String, Vec<u8>, ed25519_dalek::Signature, VerifyingKey)> =
        Vec::new();
    let mut first = true;
    for (idx, stored) in rows {
        let idx = idx as u64;
        if first && idx != 0 {
            return Err(LogError::BadFounding);
        }
        first = false;
        let (entry, sig) = decode_stored(idx, &stored)?;
        if entry.index != idx {
            return Err(LogError::IndexMismatch {
                index: idx,
                claimed: entry.index,
            });
        }
        if !entry.kind.code().is_registry() {
            return Err(LogError::Malformed {
                index: idx,
                reason: super::error::DecodeError::UnknownKind(entry.kind.code() as u8),
            });
        }
        let key = reg.signer(&entry)?;
        let (bytes, _) =
            split_stored(&stored).map_err(|reason| LogError::Malformed { index: idx, reason })?;
        checks.push((
            idx,
            entry.actor.clone(),
            signed_message(bytes),
            ed25519_dalek::Signature::from_bytes(&sig),
            key,
        ));
        reg.apply(&entry);
    }
    if first {
        return Err(LogError::BadFounding);
    }
    let msgs: Vec<&[u8]> = checks.iter().map(|c| c.2.as_slice()).collect();
    let sigs: Vec<_> = checks.iter().map(|c| c.3).collect();
    let keys: Vec<_> = checks.iter().map(|c| c.4).collect();
    if ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_err() {
        for (idx, actor, msg, sig, key) in &checks {
            if key.verify_strict(msg, sig).is_err() {
                return Err(LogError::BadSignature {
                    index: *idx,
                    actor: actor.clone(),
                });
            }
        }
    }
    Ok(reg)
}

/// The stored bytes of entry `index` and the entry, decoded (unverified: the caller checks
/// the signature against the registry), or `None` past the end. O(1).
pub fn stored_at(conn: &Connection, index: u64) -> Result<Option<(Entry, Vec<u8>)>, LogError> {
    let stored: Option<Vec<u8>> = conn
        .query_row(
            "SELECT stored FROM log_entries WHERE idx = ?1",
            [to_sql(index)?],
            |r| r.get(0),
        )
        .optional()?;
    match stored {
        Some(s) => {
            let (e, _) = decode_stored(index, &s)?;
            if e.index != index {
                return Err(LogError::IndexMismatch {
                    index,
                    claimed: e.index,
                });
            }
            Ok(Some((e, s)))
        }
        None => Ok(None),
    }
}

/// The index of the first entry of `kind` that `matches`, through the kind index (reads the
/// entries of that kind only, not the whole log).
pub fn first_where(
    conn: &Connection,
    kind: KindCode,
    matches: &dyn Fn(&Entry) -> bool,
) -> Result<Option<u64>, LogError> {
    let mut stmt =
        conn.prepare_cached("SELECT idx, stored FROM log_entries WHERE kind = ?1 ORDER BY idx")?;
    let rows = stmt.query_map([kind as u8], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    for row in rows {
        let (idx, stored) = row?;
        if matches(&decode_stored(idx as u64, &stored)?.0) {
            return Ok(Some(idx as u64));
        }
    }
    Ok(None)
}

/// Whether the log holds a `consent_revoked` entry for consent `id` (its legal basis names the
/// consent).
pub fn revocation_logged(conn: &Connection, id: i64) -> Result<bool, LogError> {
    let want = LegalBasis::Consent(id.to_string());
    Ok(first_where(conn, KindCode::ConsentRevoked, &|e| e.basis == want)?.is_some())
}

/// Walks the entries of kind `code`, newest first, through the kind index (each decoded,
/// unverified, with its stored bytes) until `f` returns false.
pub fn walk_kind_desc(
    conn: &Connection,
    code: KindCode,
    f: &mut dyn FnMut(Entry, &[u8]) -> bool,
) -> Result<(), LogError> {
    let mut stmt = conn
        .prepare_cached("SELECT idx, stored FROM log_entries WHERE kind = ?1 ORDER BY idx DESC")?;
    let mut rows = stmt.query([code as u8])?;
    while let Some(row) = rows.next()? {
        let idx: i64 = row.get(0)?;
        let stored: Vec<u8> = row.get(1)?;
        let idx = idx as u64;
        let (e, _) = decode_stored(idx, &stored)?;
        if e.index != idx {
            return Err(LogError::IndexMismatch {
                index: idx,
                claimed: e.index,
            });
        }
        if !f(e, &stored) {
            break;
        }
    }
    Ok(())
}

/// Whether the log holds an entry of kind `code` (the kind index, O(log n)).
pub fn has_kind(conn: &Connection, code: KindCode) -> Result<bool, LogError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM log_entries WHERE kind = ?1 LIMIT 1",
            [code as u8],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

pub(crate) fn decode_stored(index: u64, stored: &[u8]) -> Result<(Entry, [u8; SIG_LEN]), LogError> {
    let malformed = |reason| LogError::Malformed { index, reason };
    let (bytes, sig) = split_stored(stored).map_err(malformed)?;
    Ok((Entry::decode(bytes).map_err(malformed)?, sig))
}

pub(crate) fn parse_hashes(raw: &[u8]) -> Option<Vec<Hash>> {
    if !raw.len().is_multiple_of(32) {
        return None;
    }
    Some(
        raw.chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect(),
    )
}

fn to_sql(v: u64) -> Result<i64, LogError> {
    i64::try_from(v).map_err(|_| LogError::NoSuchEntry { index: v, size: 0 })
}

/// All stored entries in index order (stored bytes) and all stored checkpoint notes.
pub(crate) fn load_all(conn: &Connection) -> Result<(Vec<Vec<u8>>, Vec<String>), LogError> {
    let mut stmt = conn.prepare("SELECT stored FROM log_entries ORDER BY idx")?;
    let entries = stmt
        .query_map([], |r| r.get::<_, Vec<u8>>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut stmt = conn.prepare("SELECT note FROM log_checkpoints ORDER BY size")?;
    let notes = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((entries, notes))
}

/// Verifies the whole log in the database: every entry, signature, registry rule and stored
/// checkpoint, against the agency's verifier key (given by the caller, never read from the
/// database). Database errors are returned; everything else is in the report.
pub fn verify_db(conn: &Connection, verifier_key: &str) -> Result<VerifyReport, LogError> {
    verify_db_with(conn, verifier_key, &[])
}

/// [`verify_db`] against checkpoints and receipts held outside the vault as well.
pub fn verify_db_with(
    conn: &Connection,
    verifier_key: &str,
    earlier: &[super::export::Earlier],
) -> Result<VerifyReport, LogError> {
    let key = VerifierKey::parse(verifier_key)
        .map_err(|reason| LogError::Checkpoint { size: None, reason })?;
    let (entries, notes) = load_all(conn)?;
    let refs: Vec<&[u8]> = entries.iter().map(|e| e.as_slice()).collect();
    let mut v = super::verify::Verifier::new(&key, VerifyOptions::default());
    v.set_candidates(chain_meta(conn)?.into_iter().map(|m| m.1).collect());
    v.add_checkpoints(&notes);
    for e in earlier {
        match e {
            super::export::Earlier::Checkpoint(n) => v.set_earlier(n),
            super::export::Earlier::Receipt(r) => v.add_receipt(r),
        }
    }
    for chunk in refs.chunks(super::verify::STREAM_CHUNK) {
        v.push_chunk(chunk);
    }
    let mut report = v.finish();
    // In the vault, entries after a checkpoint wait for a supervisor's next one (members
    // without the checkpoint key append without signing one); a truncation that also removed
    // checkpoints is caught by remembered state and witnesses. A log no checkpoint covers at
    // all stays an error.
    report.errors.retain(|e| match e {
        LogError::Unsigned { from, to } if *from > 0 => {
            report.warnings.push(super::error::Warning::Uncovered {
                from: *from,
                to: *to,
            });
            false
        }
        _ => true,
    });
    // The `kind` and `time` columns are copies the vault looks entries up by (the staff
    // registry, consent revocations): a copy that disagrees with the signed bytes hides an
    // entry from those lookups.
    let mut stmt = conn.prepare("SELECT idx, kind, time, stored FROM log_entries ORDER BY idx")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, Vec<u8>>(3)?,
        ))
    })?;
    for row in rows {
        let (idx, kind, time, stored) = row?;
        if let Ok((e, _)) = decode_stored(idx as u64, &stored) {
            if e.kind.code() as i64 != kind || e.time != time {
                report
                    .errors
                    .push(LogError::IndexColumn { index: idx as u64 });
            }
        }
    }
    Ok(report)
}

/// The verifier key recorded when the log was founded (for export; verification takes the
/// key from the caller instead).
pub fn stored_verifier_key(conn: &Connection) -> Result<Option<String>, LogError> {
    Ok(conn
        .query_row(
            "SELECT value FROM log_meta WHERE name = 'verifier_key'",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

/// Which entries [`entries`] lists. Empty filter: all.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub kind: Option<KindCode>,
    /// [`id_mac`](super::id_mac) of the client id.
    pub client_mac: Option<[u8; 32]>,
    pub recipient: Option<String>,
    /// Inclusive lower bound on the claimed time (unix seconds).
    pub from: Option<i64>,
    /// Exclusive upper bound on the claimed time.
    pub until: Option<i64>,
}

/// One listed entry with its signature, for `log show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub entry: Entry,
    pub signature: [u8; SIG_LEN],
}

/// Entries matching `filter`, in index order, decoded. Unverified: run [`verify_db`] to
/// know the log is intact.
pub fn entries(conn: &Connection, filter: &Filter) -> Result<Vec<Listed>, LogError> {
    let mut stmt = conn.prepare(
        "SELECT idx, stored FROM log_entries
         WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR time >= ?2) AND (?3 IS NULL OR time < ?3)
         ORDER BY idx",
    )?;
    let rows = stmt.query_map(
        params![filter.kind.map(|k| k as u8), filter.from, filter.until],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (idx, stored) = row?;
        let (entry, signature) = decode_stored(idx as u64, &stored)?;
        let keep = filter.kind.is_none_or(|k| entry.kind.code() == k)
            && filter
                .client_mac
                .is_none_or(|m| entry.client_mac == Some(m))
            && filter
                .recipient
                .as_ref()
                .is_none_or(|r| entry.recipient == *r)
            && filter.from.is_none_or(|t| entry.time >= t)
            && filter.until.is_none_or(|t| entry.time < t);
        if keep {
            out.push(Listed { entry, signature });
        }
    }
    Ok(out)
}

/// How many entries are stored (the largest index plus one): O(1).
pub fn stored_size(conn: &Connection) -> Result<u64, LogError> {
    let max: Option<i64> = conn.query_row("SELECT max(idx) FROM log_entries", [], |r| r.get(0))?;
    Ok(max.map_or(0, |m| m.saturating_add(1)) as u64)
}

/// The stored size and one page of entries, newest first: up to `limit` entries below index
/// `size - skip`, read by index range (not the whole log). Each shown entry's signature is
/// checked (in one batch) against its actor's key in `reg`, a registry the caller verified
/// (see [`verified_registry`]); A bad one is
/// [`LogError::BadSignature`] (or the decode error), so an edited shown row raises the alarm.
pub fn latest_page(
    conn: &Connection,
    reg: &Registry,
    skip: u64,
    limit: u64,
) -> Result<(u64, Vec<Listed>), LogError> {
    let size = stored_size(conn)?;
    let below = size.saturating_sub(skip);
    let mut stmt = conn.prepare_cached(
        "SELECT idx, stored FROM log_entries WHERE idx < ?1 ORDER BY idx DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![to_sql(below)?, to_sql(limit)?], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = Vec::new();
    let mut msgs = Vec::new();
    let mut keys = Vec::new();
    for row in rows {
        let (idx, stored) = row?;
        let idx = idx as u64;
        let (entry, signature) = decode_stored(idx, &stored)?;
        if entry.index != idx {
            return Err(LogError::IndexMismatch {
                index: idx,
                claimed: entry.index,
            });
        }
        let key = reg
            .key_at(&entry.actor, idx)
            .ok_or_else(|| LogError::UnknownSigner {
                index: idx,
                actor: entry.actor.clone(),
            })?;
        let (bytes, _) =
            split_stored(&stored).map_err(|reason| LogError::Malformed { index: idx, reason })?;
        msgs.push(signed_message(bytes));
        keys.push(key);
        out.push(Listed { entry, signature });
    }
    let refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
    let sigs: Vec<_> = out
        .iter()
        .map(|l| ed25519_dalek::Signature::from_bytes(&l.signature))
        .collect();
    if ed25519_dalek::verify_batch(&refs, &sigs, &keys).is_err() {
        for ((m, s), (k, l)) in refs.iter().zip(&sigs).zip(keys.iter().zip(&out)) {
            if k.verify_strict(m, s).is_err() {
                return Err(LogError::BadSignature {
                    index: l.entry.index,
                    actor: l.entry.actor.clone(),
                });
            }
        }
    }
    Ok((size, out))
}

/// A receipt for the already-stored entry `index` under the latest checkpoint (reads every
/// leaf: O(n), for re-issuing lost receipts, not for the append path).
pub fn receipt_for(conn: &Connection, index: u64) -> Result<Receipt, LogError> {
    let (entries, _) = load_all(conn)?;
    let note: String = conn.query_row(
        "SELECT note FROM log_checkpoints ORDER BY size DESC LIMIT 1",
        [],
        |r| r.get(0),
    )?;
    // Under the latest checkpoint: entries beyond it are not covered yet.
    let size = Checkpoint::parse_unverified(&note)
        .map(|c| c.size)
        .unwrap_or(0)
        .min(entries.len() as u64);
    let leaves: Vec<Hash> = entries[..size as usize]
        .iter()
        .map(|e| leaf_hash(e))
        .collect();
    let proof = super::merkle::inclusion_proof(&leaves, index)
        .ok_or(LogError::NoSuchEntry { index, size })?;
    let stored = &entries[index as usize];
    with_chain(conn, Receipt::new(note, index, stored, &proof))
}

/// Checks every entry no checkpoint covers yet before a checkpoint is signed over it: each
/// decodes, sits at its own index and is signed by a key its actor registered. (Deleting an
/// uncovered entry cannot be seen here: nothing anchors it yet.)
fn check_uncovered(conn: &Connection, covered: u64) -> Result<(), LogError> {
    let mut stmt =
        conn.prepare("SELECT idx, stored FROM log_entries WHERE idx >= ?1 ORDER BY idx")?;
    let rows = stmt
        .query_map([to_sql(covered)?], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    if rows.is_empty() {
        return Ok(());
    }
    let registry = verified_registry(conn)?;
    for (idx, stored) in rows {
        let index = idx as u64;
        let malformed = |reason| LogError::Malformed { index, reason };
        let (bytes, sig) = split_stored(&stored).map_err(malformed)?;
        let e = Entry::decode(bytes).map_err(malformed)?;
        if e.index != index {
            return Err(LogError::IndexMismatch {
                index,
                claimed: e.index,
            });
        }
        let sig = ed25519_dalek::Signature::from_bytes(&sig);
        let msg = signed_message(bytes);
        if !registry
            .keys_ever(&e.actor)
            .iter()
            .any(|k| k.verify_strict(&msg, &sig).is_ok())
        {
            return Err(LogError::BadSignature {
                index,
                actor: e.actor,
            });
        }
    }
    Ok(())
}

/// The entry at `index`, decoded (unverified), or `None` past the end.
pub fn entry_at(conn: &Connection, index: u64) -> Result<Option<Entry>, LogError> {
    let stored: Option<Vec<u8>> = conn
        .query_row(
            "SELECT stored FROM log_entries WHERE idx = ?1",
            [to_sql(index)?],
            |r| r.get(0),
        )
        .optional()?;
    match stored {
        Some(s) => Ok(Some(decode_stored(index, &s)?.0)),
        None => Ok(None),
    }
}

/// The latest checkpoint note (with its size), if the log has one.
pub fn latest_checkpoint(conn: &Connection) -> Result<Option<(u64, String)>, LogError> {
    let row: Option<(i64, String)> = conn
        .query_row(
            "SELECT size, note FROM log_checkpoints ORDER BY size DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.map(|(s, n)| (s as u64, n)))
}

/// The RFC 6962 consistency proof from tree size `old` to `new` over the stored entries (what
/// a witness needs to move from the size it cosigned last). O(new) hashing.
pub fn consistency_between(conn: &Connection, old: u64, new: u64) -> Result<Vec<Hash>, LogError> {
    let (entries, _) = load_all(conn)?;
    let size = entries.len() as u64;
    if new > size || old > new {
        return Err(LogError::NoSuchEntry { index: new, size });
    }
    let leaves: Vec<Hash> = entries[..new as usize]
        .iter()
        .map(|e| leaf_hash(e))
        .collect();
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    super::merkle::consistency_proof(&leaves, old).ok_or(LogError::NoSuchEntry { index: old, size })
}

/// The tree roots at each of `sizes` (those beyond the log are left out), in one pass over
/// the stored entries: what witness cosignatures are checked against.
pub fn roots_at(
    conn: &Connection,
    sizes: &std::collections::BTreeSet<u64>,
) -> Result<std::collections::BTreeMap<u64, Hash>, LogError> {
    let mut out = std::collections::BTreeMap::new();
    if sizes.contains(&0) {
        out.insert(0, super::merkle::empty_root());
    }
    let Some(&max) = sizes.iter().next_back() else {
        return Ok(out);
    };
    let mut stmt = conn.prepare("SELECT stored FROM log_entries WHERE idx < ?1 ORDER BY idx")?;
    let rows = stmt.query_map([to_sql(max)?], |r| r.get::<_, Vec<u8>>(0))?;
    let mut frontier = Frontier::default();
    for stored in rows {
        frontier.push(leaf_hash(&stored?));
        if sizes.contains(&frontier.size()) {
            out.insert(frontier.size(), frontier.root());
        }
    }
    Ok(out)
}
