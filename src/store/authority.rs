//! Statements behind security rows (see `vault::authority`): SQL only.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;

/// The statement about `subject` and the log index attesting it, if any.
pub fn get(conn: &Connection, subject: &str) -> Result<Option<(i64, Vec<u8>)>> {
    Ok(conn
        .query_row(
            "SELECT log_index, statement FROM authority WHERE subject = ?1",
            [subject],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Records (or replaces) the statement about `subject`.
pub fn put(conn: &Connection, subject: &str, log_index: u64, statement: &[u8]) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO authority (subject, log_index, statement) VALUES (?1, ?2, ?3)",
        params![subject, log_index as i64, statement],
    )?;
    Ok(())
}

/// Forgets the statement about `subject` (an assignment ended).
pub fn delete(conn: &Connection, subject: &str) -> Result<()> {
    conn.execute("DELETE FROM authority WHERE subject = ?1", [subject])?;
    Ok(())
}

/// Every statement whose subject starts with `prefix` (an ASCII prefix ending in `/`), in
/// subject order: a range of the primary key, O(log n + matches).
pub fn with_prefix(conn: &Connection, prefix: &str) -> Result<Vec<(String, i64, Vec<u8>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT subject, log_index, statement FROM authority
         WHERE subject >= ?1 AND subject < ?2 ORDER BY subject",
    )?;
    let rows = stmt.query_map([prefix, &upper(prefix)], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The last statement (in subject order) whose subject starts with `prefix`.
pub fn last_with_prefix(conn: &Connection, prefix: &str) -> Result<Option<(String, i64, Vec<u8>)>> {
    Ok(conn
        .prepare_cached(
            "SELECT subject, log_index, statement FROM authority
             WHERE subject >= ?1 AND subject < ?2 ORDER BY subject DESC LIMIT 1",
        )?
        .query_row([prefix, &upper(prefix)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?)
}

/// The smallest string above every string starting with `prefix` (its last byte plus one).
fn upper(prefix: &str) -> String {
    let mut b = prefix.as_bytes().to_vec();
    if let Some(last) = b.last_mut() {
        *last += 1;
    }
    String::from_utf8(b).unwrap_or_else(|_| format!("{prefix}\u{10FFFF}"))
}
