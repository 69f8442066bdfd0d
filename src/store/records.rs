//! Record rows: metadata in columns, the age ciphertext in `body`.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::domain::RecordMeta;
use crate::error::Result;

/// A record row with its ciphertext and signature.
pub struct StoredRecord {
    pub meta: RecordMeta,
    pub body: Vec<u8>,
    pub signature: Vec<u8>,
}

const META: &str = "id, case_id, kind, tier, epoch, author, created_at, amends";

fn meta(r: &Row) -> rusqlite::Result<RecordMeta> {
    Ok(RecordMeta {
        id: r.get(0)?,
        case_id: r.get(1)?,
        kind: r.get(2)?,
        tier: r.get(3)?,
        epoch: r.get(4)?,
        author: r.get(5)?,
        created_at: r.get(6)?,
        amends: r.get(7)?,
    })
}

/// The id the next inserted record will get (records are signed before insertion, and the
/// signature binds the id). Callers hold the write lock, so it cannot be taken meanwhile.
pub fn next_id(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT coalesce(max(id), 0) + 1 FROM records")?
        .query_row([], |r| r.get(0))?)
}

/// Inserts a record under the id in its metadata.
pub fn insert(conn: &Connection, m: &RecordMeta, body: &[u8], signature: &[u8]) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO records(id, case_id, kind, tier, epoch, author, created_at, amends, body, signature)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        m.id,
        m.case_id,
        m.kind,
        m.tier,
        m.epoch,
        m.author,
        m.created_at,
        m.amends,
        body,
        signature
    ])?;
    Ok(())
}

/// A record with its ciphertext.
pub fn get(conn: &Connection, id: i64) -> Result<Option<StoredRecord>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {META}, body, signature FROM records WHERE id = ?1"
        ))?
        .query_row([id], |r| {
            Ok(StoredRecord {
                meta: meta(r)?,
                body: r.get(8)?,
                signature: r.get(9)?,
            })
        })
        .optional()?)
}

/// Metadata of a case's records, oldest first.
pub fn list(conn: &Connection, case_id: i64) -> Result<Vec<RecordMeta>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {META} FROM records WHERE case_id = ?1 ORDER BY id"
    ))?;
    let v = st
        .query_map([case_id], meta)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Metadata of a case's records under a key epoch older than `epoch`, oldest first.
pub fn before_epoch(conn: &Connection, case_id: i64, epoch: i64) -> Result<Vec<RecordMeta>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {META} FROM records WHERE case_id = ?1 AND epoch < ?2 ORDER BY id"
    ))?;
    let v = st
        .query_map(params![case_id, epoch], meta)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Every record kind present in the vault, sorted.
pub fn kinds(conn: &Connection) -> Result<Vec<String>> {
    let mut st = conn.prepare("SELECT DISTINCT kind FROM records ORDER BY kind")?;
    let rows = st.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Replaces a record's ciphertext (rekey); metadata and signature stay.
pub fn set_body(conn: &Connection, id: i64, epoch: i64, body: &[u8]) -> Result<()> {
    conn.prepare_cached("UPDATE records SET body = ?2, epoch = ?3 WHERE id = ?1")?
        .execute(params![id, body, epoch])?;
    Ok(())
}

/// Notes that `staff` read a record (for the audit's "reads of unassigned cases").
pub fn note_read(
    conn: &Connection,
    m: &RecordMeta,
    staff: &str,
    assigned: bool,
    at: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO record_reads(at, staff, record_id, case_id, assigned) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![at, staff, m.id, m.case_id, assigned])?;
    Ok(())
}

/// Every record's id and the log index it names as its commitment (for the audit).
pub fn commit_indexes(conn: &Connection) -> Result<Vec<(i64, Option<i64>)>> {
    let mut st = conn.prepare("SELECT id, commit_index FROM records ORDER BY id")?;
    let v = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Marks records `first..=last` as committed by log entry `index`.
pub fn set_commit_index(conn: &Connection, first: i64, last: i64, index: u64) -> Result<()> {
    conn.execute(
        "UPDATE records SET commit_index = ?1 WHERE id BETWEEN ?2 AND ?3",
        params![index as i64, first, last],
    )?;
    Ok(())
}

/// Each record's (metadata, signature) for ids in `first..=last` (a committed batch).
pub fn batch(conn: &Connection, first: i64, last: i64) -> Result<Vec<(RecordMeta, Vec<u8>)>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {META}, signature FROM records WHERE id BETWEEN ?1 AND ?2 ORDER BY id"
    ))?;
    let v = st
        .query_map(params![first, last], |r| Ok((meta(r)?, r.get(8)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// The log index of the earliest record commitment of a case, if it has records.
pub fn first_commit(conn: &Connection, case_id: i64) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT min(commit_index) FROM records WHERE case_id = ?1")?
        .query_row([case_id], |r| r.get(0))?)
}

/// Records of `tier` that nobody but their author has read yet, newest first (the
/// supervisor's queue: a supervisor-only note is read only by a supervisor).
pub fn unread_of_tier(conn: &Connection, tier: u8, limit: usize) -> Result<Vec<RecordMeta>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {META} FROM records r WHERE tier = ?1 AND NOT EXISTS
           (SELECT 1 FROM record_reads x WHERE x.record_id = r.id AND x.staff <> r.author)
         ORDER BY created_at DESC, id DESC LIMIT ?2"
    ))?;
    let v = st
        .query_map(params![tier, limit as i64], meta)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// The cases holding at least one record of `kind`.
pub fn cases_with_kind(conn: &Connection, kind: &str) -> Result<Vec<i64>> {
    let mut st = conn
        .prepare_cached("SELECT DISTINCT case_id FROM records WHERE kind = ?1 ORDER BY case_id")?;
    let v = st
        .query_map([kind], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// The newest record of `kind` in a case (amendments included), with its ciphertext: the
/// attention list reads one record per case, never the whole case.
pub fn latest_of_kind(conn: &Connection, case_id: i64, kind: &str) -> Result<Option<StoredRecord>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {META}, body, signature FROM records WHERE case_id = ?1 AND kind = ?2
             ORDER BY id DESC LIMIT 1"
        ))?
        .query_row(params![case_id, kind], |r| {
            Ok(StoredRecord {
                meta: meta(r)?,
                body: r.get(8)?,
                signature: r.get(9)?,
            })
        })
        .optional()?)
}
