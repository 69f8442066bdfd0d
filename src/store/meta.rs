//! Vault-wide settings and secrets held inside the encrypted database.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};

/// Stores `value` under `key`, replacing any earlier value.
pub fn set(conn: &Connection, key: &str, value: &[u8]) -> Result<()> {
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// The value under `key`, if any.
pub fn get(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

/// The value under `key`; a missing one means a damaged vault.
pub fn require(conn: &Connection, key: &str) -> Result<Vec<u8>> {
    get(conn, key)?.ok_or(Error::Tampered {
        what: "vault setting",
        id: key.to_string(),
    })
}

/// The value under `key` as text.
pub fn require_text(conn: &Connection, key: &str) -> Result<String> {
    String::from_utf8(require(conn, key)?).map_err(|_| Error::Tampered {
        what: "vault setting",
        id: key.to_string(),
    })
}

/// Removes `key` (a secret that moved out of the database).
pub fn delete(conn: &Connection, key: &str) -> Result<()> {
    conn.execute("DELETE FROM meta WHERE key = ?1", [key])?;
    Ok(())
}
