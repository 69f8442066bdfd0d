//! Staff rows: name, role and public keys. Secret keys never come here.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::crypto::StaffPublic;
use crate::error::{Error, Result};
use crate::policy::Role;

/// A staff member as stored.
#[derive(Clone, Debug, Serialize)]
pub struct StaffRow {
    pub name: String,
    pub role: Role,
    pub age_recipient: String,
    #[serde(serialize_with = "ser_hex")]
    pub verify_key: [u8; 32],
    pub active: bool,
    pub added_at: i64,
    pub added_by: String,
    pub removed_at: Option<i64>,
}

fn ser_hex<S: serde::Serializer>(k: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::crypto::hex(k))
}

impl StaffRow {
    /// The public keys.
    pub fn public(&self) -> StaffPublic {
        StaffPublic {
            age_recipient: self.age_recipient.clone(),
            verify_key: self.verify_key,
        }
    }
}

const COLS: &str = "name, role, age_recipient, verify_key, active, added_at, added_by, removed_at";

fn row(r: &Row) -> rusqlite::Result<StaffRow> {
    let role: String = r.get(1)?;
    let key: Vec<u8> = r.get(3)?;
    Ok(StaffRow {
        name: r.get(0)?,
        role: Role::parse(&role).unwrap_or(Role::Auditor),
        age_recipient: r.get(2)?,
        verify_key: key.try_into().unwrap_or([0; 32]),
        active: r.get(4)?,
        added_at: r.get(5)?,
        added_by: r.get(6)?,
        removed_at: r.get(7)?,
    })
}

/// Adds a staff member.
pub fn insert(
    conn: &Connection,
    name: &str,
    role: Role,
    public: &StaffPublic,
    at: i64,
    by: &str,
) -> Result<()> {
    if get(conn, name)?.is_some() {
        return Err(Error::Exists {
            what: "staff",
            id: name.to_string(),
        });
    }
    conn.execute(
        "INSERT INTO staff(name, role, age_recipient, verify_key, active, added_at, added_by)
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)",
        params![
            name,
            role.as_str(),
            public.age_recipient,
            &public.verify_key[..],
            at,
            by
        ],
    )?;
    Ok(())
}

/// A staff member by name, active or not.
pub fn get(conn: &Connection, name: &str) -> Result<Option<StaffRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLS} FROM staff WHERE name = ?1"),
            [name],
            row,
        )
        .optional()?)
}

/// Everyone, active first, by name.
pub fn list(conn: &Connection) -> Result<Vec<StaffRow>> {
    let mut st = conn.prepare(&format!(
        "SELECT {COLS} FROM staff ORDER BY active DESC, name"
    ))?;
    let rows = st.query_map([], row)?.collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Marks a staff member as departed.
pub fn deactivate(conn: &Connection, name: &str, at: i64) -> Result<()> {
    conn.execute(
        "UPDATE staff SET active = 0, removed_at = ?2 WHERE name = ?1",
        params![name, at],
    )?;
    Ok(())
}

/// Replaces a member's public keys (after they rotated them; the registry entry is the authority).
pub fn set_keys(conn: &Connection, name: &str, public: &StaffPublic) -> Result<()> {
    conn.execute(
        "UPDATE staff SET age_recipient = ?2, verify_key = ?3 WHERE name = ?1",
        params![name, public.age_recipient, &public.verify_key[..]],
    )?;
    Ok(())
}
