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

/// The state of the log as of its last checkpoint, after the cheap consistency check.
struct Head {
    frontier: Frontier,
    /// The last checkpoint's signed note (empty for an empty log).
    note: String,
}

/// The log's current head, checked as an append checks it (signature of the last
/// checkpoint, stored size, frontier root, the last entry's inclusion): what an
/// installation compares with the head it remembers.
#[derive(Clone, Debug)]
pub struct LogHead {
    pub size: u64,
    pub root: Hash,
    /// The last checkpoint's signed note (empty for an empty log).
    pub note: String,
    pub frontier: Frontier,
}

/// The log's current head (O(log n)); [`LogError::Alarm`] when the stored state disagrees
/// with the last checkpoint. Call inside one read transaction so every query sees the same
/// commit.
pub fn head(conn: &Connection, vkey: &VerifierKey) -> Result<LogHead, LogError> {
    let Head { frontier, note } = check_head(conn, vkey)?;
    Ok(LogHead {
        size: frontier.size(),
        root: frontier.root(),
        note,
        frontier,
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
/// the caller's transaction.
///
/// Contract (fail closed): the returned [`Receipt`] is the only permission to release the
/// disclosed bytes, and only after the caller has **committed** `tx`. Any error means
/// nothing may be released; the caller rolls back. Use an IMMEDIATE transaction so two
/// writers serialize, and `PRAGMA synchronous=FULL` so a commit is durable.
///
/// Before writing, the stored state is checked against the last checkpoint (signature,
/// size, frontier root, and the last entry's inclusion); any mismatch returns
/// [`LogError::Alarm`] and nothing is repaired.
pub fn append(
    tx: &Transaction,
    req: &NewEntry,
    actor_key: &SigningKey,
    log_key: &SigningKey,
    origin: &str,
    now: i64,
) -> Result<Receipt, LogError> {
    let vkey = VerifierKey::new(origin, log_key.verifying_key());
    let Head { mut frontier, .. } = check_head(tx, &vkey)?;
    let index = frontier.size();

    // The actor must sign with the key the log has registered for them.
    let entry = req.at(index, now);
    let registry = load_registry(tx)?;
    let expected = registry.signer(&entry)?;
    if expected != actor_key.verifying_key() {
        return Err(LogError::WrongActorKey {
            actor: entry.actor.clone(),
        });
    }

    let bytes = entry.encode().map_err(LogError::BadRequest)?;
    let sig = actor_key.sign(&signed_message(&bytes));
    let mut stored = bytes;
    stored.extend_from_slice(&sig.to_bytes());

    let proof = frontier.push(leaf_hash(&stored));
    let cp = Checkpoint {
        origin: origin.to_string(),
        size: frontier.size(),
        root: frontier.root(),
    };
    let note = cp.sign(log_key);

    tx.execute(
        "INSERT INTO log_entries (idx, kind, time, stored) VALUES (?1, ?2, ?3, ?4)",
        params![to_sql(index)?, entry.kind.code() as u8, now, stored],
    )?;
    // The merged subtrees below the new node's level disappear; the new node takes its level.
    let new_level = index.trailing_ones();
    tx.execute("DELETE FROM log_frontier WHERE level <= ?1", [new_level])?;
    let top = frontier.levels().into_iter().find(|l| l.0 == new_level);
    if let Some((level, hash)) = top {
        tx.execute(
            "INSERT INTO log_frontier (level, hash) VALUES (?1, ?2)",
            params![level, hash.as_slice()],
        )?;
    }
    tx.execute(
        "INSERT INTO log_checkpoints (size, note, last_proof) VALUES (?1, ?2, ?3)",
        params![to_sql(cp.size)?, note, proof.concat()],
    )?;
    if index > 0 && index % CHECKPOINT_RETAIN_EVERY != 0 {
        tx.execute(
            "DELETE FROM log_checkpoints WHERE size = ?1",
            [to_sql(index)?],
        )?;
    }
    if index == 0 {
        tx.execute(
            "INSERT INTO log_meta (name, value) VALUES ('origin', ?1), ('verifier_key', ?2)",
            params![origin, vkey.encode()],
        )?;
    }
    Ok(Receipt::new(note, index, &stored, &proof))
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
    if reqs.is_empty() {
        return Ok(Vec::new());
    }
    if reqs.iter().any(|r| r.kind.code().is_registry()) {
        return Err(LogError::BadRequest(
            super::error::DecodeError::UnknownKind(KindCode::StaffRegistered as u8),
        ));
    }
    let vkey = VerifierKey::new(origin, log_key.verifying_key());
    let Head { mut frontier, .. } = check_head(tx, &vkey)?;
    let registry = load_registry(tx)?;
    let first = frontier.size();
    let mut out = Vec::with_capacity(reqs.len());
    let mut proof = Vec::new();
    let mut insert = tx.prepare_cached(
        "INSERT INTO log_entries (idx, kind, time, stored) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut keep = tx.prepare_cached(
        "INSERT OR REPLACE INTO log_checkpoints (size, note, last_proof) VALUES (?1, ?2, ?3)",
    )?;
    for req in reqs {
        let index = frontier.size();
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
        proof = frontier.push(leaf_hash(&stored));
        insert.execute(params![
            to_sql(index)?,
            entry.kind.code() as u8,
            now,
            stored
        ])?;
        out.push(index);
        // A retained checkpoint the batch passes is written as a single append would.
        let size = frontier.size();
        if size % CHECKPOINT_RETAIN_EVERY == 0 && size < first + reqs.len() as u64 {
            let cp = Checkpoint {
                origin: origin.to_string(),
                size,
                root: frontier.root(),
            };
            keep.execute(params![to_sql(size)?, cp.sign(log_key), proof.concat()])?;
        }
    }
    tx.execute("DELETE FROM log_frontier", [])?;
    for (level, hash) in frontier.levels() {
        tx.execute(
            "INSERT INTO log_frontier (level, hash) VALUES (?1, ?2)",
            params![level, hash.as_slice()],
        )?;
    }
    let cp = Checkpoint {
        origin: origin.to_string(),
        size: frontier.size(),
        root: frontier.root(),
    };
    keep.execute(params![to_sql(cp.size)?, cp.sign(log_key), proof.concat()])?;
    if first > 0 && first % CHECKPOINT_RETAIN_EVERY != 0 {
        tx.execute(
            "DELETE FROM log_checkpoints WHERE size = ?1",
            [to_sql(first)?],
        )?;
    }
    Ok(out)
}

/// Checks the stored head against the last checkpoint in O(log n) and returns the frontier.
fn check_head(conn: &Connection, vkey: &VerifierKey) -> Result<Head, LogError> {
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
        return Ok(Head {
            frontier: Frontier::default(),
            note: String::new(),
        });
    };
    let size = u64::try_from(size).map_err(|_| alarm(0, "checkpoint size"))?;
    if stored_meta.as_deref() != Some(vkey.encode().as_str()) {
        return Err(alarm(size, "log key or origin changed"));
    }
    let cp = Checkpoint::open(&note, vkey).map_err(|e| alarm(size, &e.to_string()))?;
    if cp.size != size {
        return Err(alarm(size, "checkpoint row size"));
    }
    let have = max_idx.map_or(0, |m| m.saturating_add(1)) as u64;
    if have != size {
        return Err(alarm(size, &format!("{have} entries stored")));
    }
    let frontier = Frontier::from_levels(size, levels).ok_or_else(|| alarm(size, "frontier"))?;
    if frontier.root() != cp.root {
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
    Ok(Head { frontier, note })
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

/// A receipt for the already-stored entry `index` under the latest checkpoint (reads every
/// leaf: O(n), for re-issuing lost receipts, not for the append path).
pub fn receipt_for(conn: &Connection, index: u64) -> Result<Receipt, LogError> {
    let (entries, _) = load_all(conn)?;
    let note: String = conn.query_row(
        "SELECT note FROM log_checkpoints ORDER BY size DESC LIMIT 1",
        [],
        |r| r.get(0),
    )?;
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
    let size = leaves.len() as u64;
    let proof = super::merkle::inclusion_proof(&leaves, index)
        .ok_or(LogError::NoSuchEntry { index, size })?;
    let stored = &entries[index as usize];
    Ok(Receipt::new(note, index, stored, &proof))
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
