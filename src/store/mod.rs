//! Storage: the SQLCipher database behind a small, explicit API. Nothing here knows about
//! roles or keys beyond the bytes it stores; access rules live in [`crate::vault`].
//!
//! Every function takes a `&Connection`, so it runs the same inside a transaction
//! (`Transaction` derefs to `Connection`) or outside one.

pub mod agencies;
pub mod attachments;
pub mod cases;
pub mod clients;
pub mod consents;
pub mod keys;
pub mod meta;
pub mod records;
pub mod referrals;
pub mod requests;
mod schema;
pub mod staff;

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use zeroize::Zeroizing;

use crate::crypto::{hex, Key32};
use crate::error::{Error, Result};

/// Opens (or with `create`, creates) the database at `path` with a raw 256-bit key: no
/// passphrase KDF runs here, the key is already random. Applies pending migrations.
pub fn open(path: &Path, key: &Key32, create: bool) -> Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    // SQLCipher logs decryption failures to stderr by default; we report them ourselves.
    conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
    apply_key(&conn, key)?;
    // A wrong key shows here: SQLCipher cannot read page 1.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .map_err(|_| Error::Crypto(crate::tr!("store.wrong_db_key")))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA secure_delete = ON;
         PRAGMA temp_store = MEMORY;",
    )?;
    migrate(&conn)?;
    Ok(conn)
}

/// Sets the SQLCipher key; the statement text holding the hex key is wiped after use.
fn apply_key(conn: &Connection, key: &Key32) -> Result<()> {
    let stmt = Zeroizing::new(format!(
        "PRAGMA key = \"x'{}'\";",
        Zeroizing::new(hex(&key[..])).as_str()
    ));
    conn.execute_batch(&stmt)?;
    Ok(())
}

/// Re-encrypts the whole database under `new_key` (SQLCipher `rekey`). WAL is checkpointed
/// and switched off for the duration, as SQLCipher recommends.
pub fn rekey(conn: &Connection, new_key: &Key32) -> Result<()> {
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")?;
    let stmt = Zeroizing::new(format!(
        "PRAGMA rekey = \"x'{}'\";",
        Zeroizing::new(hex(&new_key[..])).as_str()
    ));
    conn.execute_batch(&stmt)?;
    conn.execute_batch("PRAGMA journal_mode = WAL;")?;
    Ok(())
}

fn migrate(conn: &Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let all = schema::MIGRATIONS;
    if version as usize > all.len() {
        return Err(Error::VaultVersion(format!("schema {version}")));
    }
    for (i, sql) in all.iter().enumerate().skip(version as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
    }
    Ok(())
}

/// Runs `f` in an IMMEDIATE transaction (takes the write lock up front, so two processes
/// serialize instead of failing halfway) and commits it.
pub fn write<T>(
    conn: &Connection,
    f: impl FnOnce(&rusqlite::Transaction) -> Result<T>,
) -> Result<T> {
    let tx = immediate(conn)?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

/// An IMMEDIATE transaction on a shared connection (for callers that also read through
/// `&self` while writing). Commits only when `commit` is called; drops roll back.
pub fn immediate(conn: &Connection) -> Result<rusqlite::Transaction<'_>> {
    Ok(rusqlite::Transaction::new_unchecked(
        conn,
        rusqlite::TransactionBehavior::Immediate,
    )?)
}
