//! Partner agencies: name, contact and public keys (age recipient, minisign public key).

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::error::{Error, Result};

/// A partner agency as stored.
#[derive(Clone, Debug, Serialize)]
pub struct AgencyRow {
    pub id: i64,
    pub name: String,
    pub age_recipient: String,
    /// minisign public key, bare base64 form.
    pub minisign_pubkey: String,
    pub contact: String,
    pub active: bool,
    pub added_at: i64,
    pub added_by: String,
}

const COLS: &str = "id, name, age_recipient, minisign_pubkey, contact, active, added_at, added_by";

fn row(r: &Row) -> rusqlite::Result<AgencyRow> {
    Ok(AgencyRow {
        id: r.get(0)?,
        name: r.get(1)?,
        age_recipient: r.get(2)?,
        minisign_pubkey: r.get(3)?,
        contact: r.get(4)?,
        active: r.get(5)?,
        added_at: r.get(6)?,
        added_by: r.get(7)?,
    })
}

/// Adds an agency; its name must be new.
pub fn insert(
    conn: &Connection,
    name: &str,
    age_recipient: &str,
    minisign_pubkey: &str,
    contact: &str,
    at: i64,
    by: &str,
) -> Result<i64> {
    if find(conn, name)?.is_some() {
        return Err(Error::Exists {
            what: "agency",
            id: name.to_string(),
        });
    }
    conn.execute(
        "INSERT INTO agencies(name, age_recipient, minisign_pubkey, contact, active, added_at, added_by)
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)",
        params![name, age_recipient, minisign_pubkey, contact, at, by],
    )?;
    Ok(conn.last_insert_rowid())
}

/// An agency by id.
pub fn get(conn: &Connection, id: i64) -> Result<Option<AgencyRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLS} FROM agencies WHERE id = ?1"),
            [id],
            row,
        )
        .optional()?)
}

/// An agency by name, or by id given as digits.
pub fn find(conn: &Connection, key: &str) -> Result<Option<AgencyRow>> {
    let by_name = conn
        .query_row(
            &format!("SELECT {COLS} FROM agencies WHERE name = ?1"),
            [key],
            row,
        )
        .optional()?;
    match (by_name, key.parse::<i64>()) {
        (Some(a), _) => Ok(Some(a)),
        (None, Ok(id)) => get(conn, id),
        (None, Err(_)) => Ok(None),
    }
}

/// All agencies, active first.
pub fn list(conn: &Connection) -> Result<Vec<AgencyRow>> {
    let mut st = conn.prepare(&format!(
        "SELECT {COLS} FROM agencies ORDER BY active DESC, name"
    ))?;
    let v = st.query_map([], row)?.collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Marks an agency as no longer a partner (rows referring to it stay).
pub fn deactivate(conn: &Connection, id: i64) -> Result<()> {
    conn.execute("UPDATE agencies SET active = 0 WHERE id = ?1", [id])?;
    Ok(())
}

/// Replaces a partner's keys (after a rotation the partner signed; see `vault::authority`).
pub fn set_keys(
    conn: &Connection,
    id: i64,
    age_recipient: &str,
    minisign_pubkey: &str,
) -> Result<()> {
    conn.execute(
        "UPDATE agencies SET age_recipient = ?2, minisign_pubkey = ?3 WHERE id = ?1",
        rusqlite::params![id, age_recipient, minisign_pubkey],
    )?;
    Ok(())
}
