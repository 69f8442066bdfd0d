//! Rotating the database key, safely against SIGKILL, a full disk and other sessions.
//!
//! The protocol (see `docs/key-rotation.md`):
//! 1. Take `vault.lock` exclusive (every session holds it shared), reopen the database.
//! 2. Write the new key, wrapped to the active staff and the recovery key, to
//!    `keys/dbkey.next.age` (fsync).
//! 3. Checkpoint the WAL, then write a re-encrypted copy `vault.db.next` beside the database
//!    with `sqlcipher_export`, check it (opens with the new key, `quick_check`, same row counts)
//!    and fsync it.
//! 4. Close the database and rename the copy over `vault.db` (fsync the directory): the commit
//!    point. Both keys are still on disk, so whichever file is there opens.
//! 5. Rename `dbkey.next.age` over `dbkey.age` (fsync): the old key is gone from disk only now.
//! 6. Clear the pending mark, delete the departed members' identity files, log the change.
//!
//! Any failure before step 4 deletes the copy and the next key and leaves the vault as it was,
//! with the rotation still pending and visible. An opener that finds `vault.db` opened only by
//! `dbkey.next.age` (a crash between 4 and 5) finishes step 5; nothing else ever deletes a key.

use std::path::Path;

use super::dir::{sync_dir, write_atomic, VaultDir};
use super::session::open_db;
use super::Session;
use crate::crypto::{self, Key32};
use crate::error::{Error, Result};
use crate::log::Kind;
use crate::store;

/// How a database key rotation's log entry begins.
const ROTATED: &str = "database key rotated";

/// The `meta` key listing staff whose removal still waits for a database key rotation.
const PENDING: &str = "rotation_pending";

/// Staff who left but may still be able to open the database: named in the pending mark,
/// inactive with an identity file still in `staff/` (a rotation never finished), or revoked in
/// the log after its last database key rotation entry (the mark is a row anyone can delete).
pub fn pending_rotation(conn: &rusqlite::Connection, dir: &VaultDir) -> Result<Vec<String>> {
    let mut names = marked(conn)?;
    let mut last_rotation = None;
    crate::log::walk_kind_desc(conn, crate::log::KindCode::KeyChange, &mut |e, _| {
        if e.detail.starts_with(ROTATED) {
            last_rotation = Some(e.index);
            return false;
        }
        true
    })?;
    for m in super::authority::load_registry(conn)?.members() {
        let after = m
            .revoked_at
            .is_some_and(|r| last_rotation.is_none_or(|l| r > l));
        if after && !names.contains(&m.name) {
            names.push(m.name);
        }
    }
    for s in store::staff::list(conn)? {
        if !s.active && dir.identity(&s.name).exists() && !names.contains(&s.name) {
            names.push(s.name);
        }
    }
    names.sort();
    Ok(names)
}

fn marked(conn: &rusqlite::Connection) -> Result<Vec<String>> {
    match store::meta::get(conn, PENDING)? {
        None => Ok(Vec::new()),
        Some(v) => serde_json::from_slice(&v).map_err(|_| Error::Tampered {
            what: "vault setting",
            id: PENDING.into(),
        }),
    }
}

/// Adds `name` to the pending mark, inside the caller's transaction (the deactivation).
pub fn mark_pending(conn: &rusqlite::Connection, name: &str) -> Result<()> {
    let mut names = marked(conn)?;
    if !names.iter().any(|n| n == name) {
        names.push(name.to_string());
    }
    store::meta::set(conn, PENDING, &serde_json::to_vec(&names).expect("strings"))
}

/// Removes the rotation's leftovers; only ever called under the exclusive lock, when
/// `vault.db` opens with the key in `dbkey.age` (so nothing left over is needed).
fn remove_leftovers(session: &Session) -> Result<()> {
    let dir = &session.dir;
    for p in [
        dir.db_next(),
        dir.root.join("vault.db.next-journal"),
        dir.root.join("vault.db.next-wal"),
        dir.root.join("vault.db.next-shm"),
        dir.dbkey_next(),
    ] {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(p, e)),
        }
    }
    sync_dir(&dir.root)?;
    sync_dir(&dir.root.join("keys"))
}

/// Test hook: dies like SIGKILL at `step` when `CASEVAULT_TEST_CRASH_AT` names it (test mode
/// only), so tests can check every instant of the protocol.
fn crash_point(step: &str) {
    if std::env::var("CASEVAULT_TEST_MODE").is_ok_and(|v| v == "1")
        && std::env::var("CASEVAULT_TEST_CRASH_AT").is_ok_and(|v| v == step)
    {
        std::process::abort();
    }
}

/// Fails if a write-ahead log with content sits beside the database: it would belong to the
/// old file and must never be replayed onto the new one (or lost).
fn wal_is_empty(db: &Path) -> Result<bool> {
    let wal = db.with_file_name("vault.db-wal");
    match std::fs::metadata(&wal) {
        Ok(m) => Ok(m.len() == 0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(Error::io(wal, e)),
    }
}

impl Session {
    /// Staff whose removal still waits for a database key rotation.
    pub fn rotation_pending(&self) -> Result<Vec<String>> {
        pending_rotation(&self.conn, &self.dir)
    }

    /// Rotates the database key (finishing any pending removal). Waits for other sessions to
    /// close; `Error::RotationDeferred` if they do not, `Error::RotationFailed` if it could not
    /// be done (e.g. a full disk): in both cases nothing was lost and the old key still works.
    pub fn rotate_db_key(&mut self) -> Result<Vec<String>> {
        // Close our connection: after the lock changes hands we must reopen, never reuse.
        let placeholder = rusqlite::Connection::open_in_memory()?;
        let old = std::mem::replace(&mut self.conn, placeholder);
        old.close().map_err(|(_, e)| Error::Db(e))?;
        let lock_path = self.dir.lock();
        let exclusive = self.lock.upgrade(&lock_path)?;
        let result = if exclusive {
            self.rotate_exclusive()
        } else {
            Err(Error::RotationDeferred {
                names: String::new(),
            })
        };
        if exclusive {
            self.lock.downgrade(&lock_path)?;
        }
        // Shared again: whatever happened in between, open what is on disk now.
        let (conn, key) = open_db(&self.dir, &self.me.age, &self.me.name)?;
        self.conn = conn;
        self.db_key = key;
        self.key_cache.borrow_mut().clear();
        match result {
            Err(Error::RotationDeferred { .. }) => Err(Error::RotationDeferred {
                names: pending_rotation(&self.conn, &self.dir)?.join(", "),
            }),
            other => other,
        }
    }

    /// The rotation itself, under the exclusive lock.
    fn rotate_exclusive(&mut self) -> Result<Vec<String>> {
        let (conn, key) = open_db(&self.dir, &self.me.age, &self.me.name)?;
        self.conn = conn;
        self.db_key = key;
        let names = pending_rotation(&self.conn, &self.dir)?;
        remove_leftovers(self)?;
        let new_key = crypto::random_key32();
        if let Err(e) = self.swap_database(&new_key) {
            // Before the swap: the old database and key are untouched; drop the copies.
            let reopened = open_db(&self.dir, &self.me.age, &self.me.name);
            if let Ok((conn, key)) = reopened {
                self.conn = conn;
                self.db_key = key;
                if self.db_key[..] == new_key[..] {
                    // The swap happened after all (failure after step 4): carry on below.
                    return self.after_swap(names);
                }
                let _ = remove_leftovers(self);
            }
            return Err(Error::RotationFailed {
                names: names.join(", "),
                reason: e.to_string(),
            });
        }
        self.after_swap(names)
    }

    /// Steps 2 to 5 of the protocol. On success `self.conn` is the new database.
    fn swap_database(&mut self, new_key: &Key32) -> Result<()> {
        let dir = self.dir.clone();
        write_atomic(&dir.dbkey_next(), &self.wrap_db_key(new_key)?)?;
        crash_point("next_key_written");
        store::checkpoint(&self.conn)?;
        store::export_rekeyed(&self.conn, &dir.db_next(), new_key)?;
        std::fs::File::open(dir.db_next())
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(dir.db_next(), e))?;
        sync_dir(&dir.root)?;
        crash_point("copy_written");
        let placeholder = rusqlite::Connection::open_in_memory()?;
        std::mem::replace(&mut self.conn, placeholder)
            .close()
            .map_err(|(_, e)| Error::Db(e))?;
        if !wal_is_empty(&dir.db())? {
            return Err(Error::Tampered {
                what: "database write-ahead log",
                id: "vault.db-wal".into(),
            });
        }
        // Commit point.
        std::fs::rename(dir.db_next(), dir.db()).map_err(|e| Error::io(dir.db(), e))?;
        sync_dir(&dir.root)?;
        crash_point("swapped");
        for stale in ["vault.db-wal", "vault.db-shm"] {
            let p = dir.root.join(stale);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(p, e)),
            }
        }
        std::fs::rename(dir.dbkey_next(), dir.dbkey()).map_err(|e| Error::io(dir.dbkey(), e))?;
        sync_dir(&dir.root.join("keys"))?;
        crash_point("key_renamed");
        self.conn = store::open(&dir.db(), new_key, false)?;
        self.db_key = zeroize::Zeroizing::new(**new_key);
        Ok(())
    }

    /// Step 6: the departed can no longer open anything; say so in the log.
    fn after_swap(&mut self, names: Vec<String>) -> Result<Vec<String>> {
        for name in &names {
            let path = self.dir.identity(name);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        sync_dir(&self.dir.staff_dir())?;
        let mut e = self.log_entry(Kind::KeyChange, None)?;
        e.basis = crate::log::LegalBasis::None;
        e.detail = format!("{ROTATED}; excluded: {}", names.join(", "));
        let tx = store::immediate(&self.conn)?;
        let left: Vec<String> = marked(&tx)?
            .into_iter()
            .filter(|n| !names.contains(n))
            .collect();
        store::meta::set(&tx, PENDING, &serde_json::to_vec(&left).expect("strings"))?;
        self.log_append(&tx, &e)?;
        tx.commit()?;
        Ok(names)
    }

    /// The database key wrapped to every active staff member and the recovery key.
    pub(super) fn wrap_db_key(&self, key: &Key32) -> Result<Vec<u8>> {
        wrap_db_key(&self.conn, key)
    }

    /// Rewrites `dbkey.age` with the current key (after a staff member joins).
    pub(super) fn rewrap_db_key(&self, conn: &rusqlite::Connection) -> Result<()> {
        write_atomic(&self.dir.dbkey(), &wrap_db_key(conn, &self.db_key)?)
    }
}

/// `key` wrapped to the active staff in the signed registry (read from `conn`) and the
/// recovery key it names: never to a recipient a database row names.
fn wrap_db_key(conn: &rusqlite::Connection, key: &Key32) -> Result<Vec<u8>> {
    let registry = super::authority::load_registry(conn)?;
    let mut recipients = vec![super::keys::recovery_recipient(&registry)?];
    for m in registry.members().into_iter().filter(|m| m.active) {
        if let Some(r) = &m.recipient {
            recipients.push(super::keys::parse_recipient(r)?);
        }
    }
    let refs: Vec<&dyn age::Recipient> = recipients
        .iter()
        .map(|r| r as &dyn age::Recipient)
        .collect();
    crypto::encrypt_to_many(&refs, &key[..])
}
