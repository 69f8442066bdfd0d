//! Storage: the SQLCipher database behind a small, explicit API. Nothing here knows about
//! roles or keys beyond the bytes it stores; access rules live in [`crate::vault`].
//!
//! Every function takes a `&Connection`, so it runs the same inside a transaction
//! (`Transaction` derefs to `Connection`) or outside one.

pub mod agencies;
pub mod attachments;
pub mod authority;
pub mod cases;
pub mod clients;
pub mod consents;
pub mod cosignatures;
pub mod keys;
pub mod meta;
pub mod partner_checkpoints;
pub mod pinned;
pub mod records;
pub mod referrals;
pub mod releases;
pub mod requests;
mod schema;
pub mod staff;
pub mod supervisor_keys;

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use zeroize::Zeroizing;

use crate::crypto::{hex, Key32};
use crate::error::{Error, Result};

/// Opens (or with `create`, creates) the database at `path` with a raw 256-bit key: no
/// passphrase KDF runs here, the key is already random. Applies pending migrations; the schema
/// must be exactly what the migrations create, before and after (`pinned::check`).
pub fn open(path: &Path, key: &Key32, create: bool) -> Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
        // Made here, 0600, rather than by SQLite with the umask's mode: SQLite gives the -wal,
        // -shm and journal files the database file's mode.
        if !path.exists() {
            crate::private::create_new(path).map_err(|e| Error::io(path, e))?;
        }
    }
    let conn = Connection::open_with_flags(path, flags)?;
    // SQLCipher logs decryption failures to stderr by default; we report them ourselves.
    conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
    apply_key(&conn, key)?;
    // Before anything reads the schema: functions with side effects may not run from views,
    // triggers or defaults stored in the file (see `pinned`). Read back, because SQLite
    // ignores a pragma it does not know.
    conn.execute_batch("PRAGMA trusted_schema = OFF;")?;
    let trusted: i64 = conn.query_row("PRAGMA trusted_schema", [], |r| r.get(0))?;
    if trusted != 0 {
        return Err(Error::VaultVersion("trusted_schema".into()));
    }
    // A wrong key shows here: SQLCipher cannot read page 1.
    // Only "not a database" means the key is wrong; a full disk or an I/O error is reported
    // as what it is (a user told "wrong key" might restore a backup for nothing).
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => {
                Error::Crypto(crate::tr!("store.wrong_db_key"))
            }
            _ => Error::Db(e),
        })?;
    conn.busy_timeout(busy_wait())?;
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

/// What a copy of the database must agree on with its source: schema version and the number
/// of rows in every table.
#[derive(Debug, PartialEq, Eq)]
pub struct Census {
    pub user_version: i64,
    pub rows: Vec<(String, i64)>,
}

/// Counts what `census` compares, on `schema` (`main` or an attached name).
pub fn census(conn: &Connection, schema: &str) -> Result<Census> {
    let user_version =
        conn.query_row(&format!("PRAGMA {schema}.user_version"), [], |r| r.get(0))?;
    let names: Vec<String> = conn
        .prepare(&format!(
            "SELECT name FROM {schema}.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ))?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut rows = Vec::with_capacity(names.len());
    for n in names {
        let quoted = n.replace('"', "\"\"");
        let c: i64 = conn.query_row(
            &format!("SELECT count(*) FROM {schema}.\"{quoted}\""),
            [],
            |r| r.get(0),
        )?;
        rows.push((n, c));
    }
    Ok(Census { user_version, rows })
}

/// Writes a copy of the whole database, encrypted under `new_key`, to `dest` (which must not
/// exist) with `sqlcipher_export`, and checks it: it opens with the new key, passes
/// `quick_check`, and has the same schema version and row counts as the source. The source is
/// only read. A full disk or any write error is returned, never ignored (unlike `PRAGMA rekey`,
/// which can fail half way without saying so).
pub fn export_rekeyed(conn: &Connection, dest: &Path, new_key: &Key32) -> Result<()> {
    let key_text = Zeroizing::new(format!("x'{}'", Zeroizing::new(hex(&new_key[..])).as_str()));
    // ATTACH opens with the main connection's flags, which do not create files: make it here,
    // empty (SQLite reads an empty file as an empty database) and private to its owner.
    crate::private::create_new(dest).map_err(|e| Error::io(dest, e))?;
    let dest_str = dest
        .to_str()
        .ok_or_else(|| Error::io(dest, std::io::Error::other("path is not UTF-8")))?;
    conn.execute(
        "ATTACH DATABASE ?1 AS rotation KEY ?2",
        rusqlite::params![dest_str, key_text.as_str()],
    )?;
    let copied = (|| -> Result<()> {
        conn.query_row("SELECT sqlcipher_export('rotation')", [], |_| Ok(()))?;
        let source = census(conn, "main")?;
        conn.execute_batch(&format!(
            "PRAGMA rotation.user_version = {}",
            source.user_version
        ))?;
        if census(conn, "rotation")? != source {
            return Err(Error::Tampered {
                what: "database copy",
                id: dest.display().to_string(),
            });
        }
        Ok(())
    })();
    let detached = conn.execute_batch("DETACH DATABASE rotation");
    copied?;
    detached?;
    // Read back through a fresh connection with the new key: what the next opener will do.
    let check = Connection::open_with_flags(dest, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    check.execute_batch("PRAGMA cipher_log_level = NONE;")?;
    apply_key(&check, new_key)?;
    check.execute_batch("PRAGMA trusted_schema = OFF;")?;
    let ok: String = check
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|_| Error::Crypto(crate::tr!("store.wrong_db_key")))?;
    if ok != "ok" || census(&check, "main")? != census(conn, "main")? {
        return Err(Error::Tampered {
            what: "database copy",
            id: dest.display().to_string(),
        });
    }
    check.close().map_err(|(_, e)| Error::Db(e))?;
    Ok(())
}

/// How long a write waits for another connection's write before failing as busy: 30 s, or
/// `CASEVAULT_BUSY_WAIT_MS` in test mode (so tests of a busy vault end quickly).
fn busy_wait() -> std::time::Duration {
    if std::env::var("CASEVAULT_TEST_MODE").is_ok_and(|v| v == "1") {
        if let Some(ms) = std::env::var("CASEVAULT_BUSY_WAIT_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            return std::time::Duration::from_millis(ms);
        }
    }
    std::time::Duration::from_secs(30)
}

/// Empties the write-ahead log into the database file, so the file alone holds every commit.
pub fn checkpoint(conn: &Connection) -> Result<()> {
    let (busy, _, _): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    if busy != 0 {
        return Err(Error::Db(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        )));
    }
    Ok(())
}

/// Applies pending migrations. The schema is checked against its version first (nothing
/// planted may run during a migration) and again after migrating.
fn migrate(conn: &Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let all = schema::MIGRATIONS;
    let Ok(version) = usize::try_from(version) else {
        return Err(Error::VaultVersion(format!("schema {version}")));
    };
    if version > all.len() {
        return Err(Error::VaultVersion(format!("schema {version}")));
    }
    pinned::check(conn, version)?;
    if version == all.len() {
        return Ok(());
    }
    for (i, sql) in all.iter().enumerate().skip(version) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
    }
    pinned::check(conn, all.len())
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
