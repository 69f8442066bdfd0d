//! Checkpoints partner agencies' receipts and consistency proofs showed us (migration 12).
//! Each note is signed by the partner's log key and checked again on every use: a row is
//! only a place to keep it.

use rusqlite::{params, Connection};

use crate::error::Result;

/// One remembered checkpoint of a partner's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerCheckpoint {
    pub size: u64,
    pub note: String,
    pub proved: bool,
}

/// Every checkpoint remembered for `agency`, smallest size first.
pub fn list(conn: &Connection, agency: i64) -> Result<Vec<PartnerCheckpoint>> {
    let mut st = conn.prepare(
        "SELECT size, note, proved FROM partner_checkpoints WHERE agency_id = ?1 ORDER BY size",
    )?;
    let v = st
        .query_map([agency], |r| {
            Ok(PartnerCheckpoint {
                size: r.get::<_, i64>(0)?.max(0) as u64,
                note: r.get(1)?,
                proved: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Remembers a checkpoint. The caller has checked that it does not conflict with a remembered
/// one of the same size (same root): an existing row is then only marked proved, and its note
/// replaced only by a copy carrying more signature lines (cosignatures added by witnesses).
pub fn put(
    conn: &Connection,
    agency: i64,
    size: u64,
    note: &str,
    proved: bool,
    at: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO partner_checkpoints(agency_id, size, note, proved, seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(agency_id, size) DO UPDATE SET proved = max(proved, excluded.proved),
           note = CASE WHEN length(excluded.note) > length(note) THEN excluded.note ELSE note END",
        params![agency, size as i64, note, proved, at],
    )?;
    Ok(())
}
