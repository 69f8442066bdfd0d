//! Attachment rows: one age ciphertext per attachment, keyed by record and position. What
//! the attachment is (name, size, hash) is inside the record's signed payload, not here.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;

/// Stores attachment `seq` of a record.
pub fn insert(
    conn: &Connection,
    record_id: i64,
    seq: usize,
    epoch: i64,
    body: &[u8],
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO attachments(record_id, seq, epoch, body) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![record_id, seq as i64, epoch, body])?;
    Ok(())
}

/// The key epoch and ciphertext of attachment `seq` of a record.
pub fn get(conn: &Connection, record_id: i64, seq: usize) -> Result<Option<(i64, Vec<u8>)>> {
    Ok(conn
        .prepare_cached("SELECT epoch, body FROM attachments WHERE record_id = ?1 AND seq = ?2")?
        .query_row(params![record_id, seq as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?)
}

/// The positions stored for a record, in order.
pub fn seqs(conn: &Connection, record_id: i64) -> Result<Vec<usize>> {
    let mut st =
        conn.prepare_cached("SELECT seq FROM attachments WHERE record_id = ?1 ORDER BY seq")?;
    let v = st
        .query_map([record_id], |r| r.get::<_, i64>(0))?
        .map(|r| r.map(|s| s as usize))
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Replaces an attachment's ciphertext (rekey).
pub fn set_body(
    conn: &Connection,
    record_id: i64,
    seq: usize,
    epoch: i64,
    body: &[u8],
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE attachments SET body = ?3, epoch = ?4 WHERE record_id = ?1 AND seq = ?2",
    )?
    .execute(params![record_id, seq as i64, body, epoch])?;
    Ok(())
}

/// Attachments of a case's records still under a key epoch older than `epoch`, as
/// (record id, seq, epoch, tier): what a rekey to `epoch` must re-encrypt.
pub fn before_epoch(
    conn: &Connection,
    case_id: i64,
    epoch: i64,
) -> Result<Vec<(i64, usize, i64, u8)>> {
    let mut st = conn.prepare_cached(
        "SELECT a.record_id, a.seq, a.epoch, r.tier FROM attachments a
         JOIN records r ON r.id = a.record_id
         WHERE r.case_id = ?1 AND a.epoch < ?2 ORDER BY a.record_id, a.seq",
    )?;
    let v = st
        .query_map(params![case_id, epoch], |r| {
            Ok((
                r.get(0)?,
                r.get::<_, i64>(1)? as usize,
                r.get(2)?,
                r.get(3)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}
