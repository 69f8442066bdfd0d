//! Witness cosignatures of the log's checkpoints and each witness's last cosigned size
//! (migration 10). Rows are checked against the policy's witness keys whenever they are used:
//! a row planted by someone with the database key counts for nothing without the witness's
//! signature.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;

/// One stored cosignature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    pub size: u64,
    pub witness: String,
    /// The checkpoint body (`<origin>\n<size>\n<root>\n`) the line signs.
    pub body: String,
    /// The signature line `— <witness> <base64>` (no newline).
    pub line: String,
}

/// Stores (or replaces) `witness`'s cosignature on the checkpoint of `size`.
pub fn put(conn: &Connection, c: &Cosignature) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO cosignatures (size, witness, body, line) VALUES (?1, ?2, ?3, ?4)",
        params![c.size as i64, c.witness, c.body, c.line],
    )?;
    Ok(())
}

/// The cosignatures on the checkpoint of `size`.
pub fn at(conn: &Connection, size: u64) -> Result<Vec<Cosignature>> {
    let mut stmt = conn.prepare_cached(
        "SELECT size, witness, body, line FROM cosignatures WHERE size = ?1 ORDER BY witness",
    )?;
    let rows = stmt.query_map([size as i64], row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Every cosignature, by size.
pub fn all(conn: &Connection) -> Result<Vec<Cosignature>> {
    let mut stmt =
        conn.prepare("SELECT size, witness, body, line FROM cosignatures ORDER BY size, witness")?;
    let rows = stmt.query_map([], row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<Cosignature> {
    Ok(Cosignature {
        size: r.get::<_, i64>(0)? as u64,
        witness: r.get(1)?,
        body: r.get(2)?,
        line: r.get(3)?,
    })
}

/// The tree size `witness` last cosigned (0 if never).
pub fn witness_size(conn: &Connection, witness: &str) -> Result<u64> {
    let s: Option<i64> = conn
        .query_row(
            "SELECT size FROM witness_state WHERE witness = ?1",
            [witness],
            |r| r.get(0),
        )
        .optional()?;
    Ok(s.unwrap_or(0).max(0) as u64)
}

/// Records that `witness` last cosigned a tree of `size`.
pub fn set_witness_size(conn: &Connection, witness: &str, size: u64) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO witness_state (witness, size) VALUES (?1, ?2)",
        params![witness, size as i64],
    )?;
    Ok(())
}

/// Which disclosure the log entry `log_index` released, for the retry hint: `("referral",
/// id)` or `("request", id)`.
pub fn disclosure_at(conn: &Connection, log_index: u64) -> Result<Option<(&'static str, i64)>> {
    let referral: Option<i64> = conn
        .query_row(
            "SELECT id FROM referrals WHERE log_index = ?1",
            [log_index as i64],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = referral {
        return Ok(Some(("referral", id)));
    }
    let request: Option<i64> = conn
        .query_row(
            "SELECT request_id FROM access_packages WHERE log_index = ?1
             UNION SELECT id FROM requests WHERE log_index = ?1 LIMIT 1",
            [log_index as i64],
            |r| r.get(0),
        )
        .optional()?;
    Ok(request.map(|id| ("request", id)))
}
