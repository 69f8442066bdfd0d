//! Caseworkers' exports waiting for a supervisor's release: SQL only. A row is a request,
//! never a decision: the release checks everything again (`vault::referrals`).

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;

/// One request: (id, case id, export request JSON, requested by, at).
pub type ReleaseRow = (i64, i64, String, String, i64);

/// Stores a request; returns its id.
pub fn insert(conn: &Connection, case_id: i64, request: &str, by: &str, at: i64) -> Result<i64> {
    conn.execute(
        "INSERT INTO referral_releases (case_id, request, requested_by, requested_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![case_id, request, by, at],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The request `id`, if it is still waiting.
pub fn get(conn: &Connection, id: i64) -> Result<Option<ReleaseRow>> {
    Ok(conn
        .query_row(
            "SELECT id, case_id, request, requested_by, requested_at
             FROM referral_releases WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?)
}

/// Every waiting request, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<ReleaseRow>> {
    let mut st = conn.prepare(
        "SELECT id, case_id, request, requested_by, requested_at
         FROM referral_releases ORDER BY id",
    )?;
    let v = st
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Removes a request; whether it was there.
pub fn delete(conn: &Connection, id: i64) -> Result<bool> {
    Ok(conn.execute("DELETE FROM referral_releases WHERE id = ?1", params![id])? == 1)
}
