//! Wrapped generations of the supervisor key (see `vault::supervisor_key`): SQL only.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;

/// Stores (or replaces) `holder`'s wrapping of generation `generation`.
pub fn put(conn: &Connection, generation: i64, holder: &str, wrapped: &[u8]) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO supervisor_keys (generation, holder, wrapped) VALUES (?1, ?2, ?3)",
        params![generation, holder, wrapped],
    )?;
    Ok(())
}

/// `holder`'s wrapping of generation `generation`, if any.
pub fn get(conn: &Connection, generation: i64, holder: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached(
            "SELECT wrapped FROM supervisor_keys WHERE generation = ?1 AND holder = ?2",
        )?
        .query_row(params![generation, holder], |r| r.get(0))
        .optional()?)
}

/// The generations `holder` holds, oldest first.
pub fn held_by(conn: &Connection, holder: &str) -> Result<Vec<i64>> {
    let mut st = conn
        .prepare("SELECT generation FROM supervisor_keys WHERE holder = ?1 ORDER BY generation")?;
    let v = st
        .query_map([holder], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Deletes every wrapping held by `holder` (offboarding).
pub fn delete_holder(conn: &Connection, holder: &str) -> Result<()> {
    conn.execute("DELETE FROM supervisor_keys WHERE holder = ?1", [holder])?;
    Ok(())
}
