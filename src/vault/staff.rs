//! Staff management: adding people, offboarding with key rotation, passphrase changes.

use std::str::FromStr;

use secrecy::SecretString;

use super::dir::{valid_staff_name, write_atomic};
use super::disclosure;
use super::keys;
use super::Session;
use crate::crypto::{self, Key32, StaffIdentity};
use crate::domain::time::now;
use crate::error::{Error, Result};
use crate::log::{Kind, NewEntry};
use crate::policy::{Action, Role};
use crate::store::{self, staff::StaffRow};
use crate::tr;

/// A person to add.
pub struct NewStaff {
    pub name: String,
    pub role: Role,
    /// Their first passphrase; they change it with `staff passwd`.
    pub passphrase: SecretString,
}

impl Session {
    /// Adds a staff member: identity file, database row, database key rewrapped to include them.
    /// A new supervisor holds new cases' keys at once; existing cases need `grant` by a supervisor.
    pub fn staff_add(&mut self, new: &NewStaff) -> Result<StaffRow> {
        self.require(Action::StaffManage)?;
        if !valid_staff_name(&new.name) {
            return Err(Error::Invalid(tr!("vault.bad_staff_name", name = new.name)));
        }
        if store::staff::get(&self.conn, &new.name)?.is_some() {
            return Err(Error::Exists {
                what: "staff",
                id: new.name.clone(),
            });
        }
        let id = StaffIdentity::generate(&new.name);
        write_atomic(&self.dir.identity(&new.name), &id.seal(&new.passphrase)?)?;
        let at = now();
        let tx = store::immediate(&self.conn)?;
        store::staff::insert(&tx, &new.name, new.role, &id.public(), at, &self.me.name)?;
        let reg = NewEntry::new(
            Kind::StaffRegistered {
                name: new.name.clone(),
                role: new.role.as_str().into(),
                key: id.public().verify_key,
            },
            &self.me.name,
        );
        self.log_append(&tx, &reg)?;
        tx.commit()?;
        self.rewrap_db_key(&self.db_key.clone(), false)?;
        Ok(store::staff::get(&self.conn, &new.name)?.expect("just inserted"))
    }

    /// Everyone who has worked here.
    pub fn staff_list(&self) -> Result<Vec<StaffRow>> {
        store::staff::list(&self.conn)
    }

    /// Offboards a staff member: removes their wrappings and assignments, starts new key epochs
    /// for every case they held (new records are out of their reach), rotates the database key
    /// and deletes their identity file. Old records keep their keys until `rekey`.
    pub fn staff_remove(&mut self, name: &str) -> Result<Vec<i64>> {
        self.require(Action::StaffManage)?;
        if name == self.me.name {
            return Err(Error::Invalid(tr!("vault.cannot_remove_self")));
        }
        let row = store::staff::get(&self.conn, name)?
            .ok_or_else(|| Error::UnknownStaff(name.to_string()))?;
        let at = now();
        let revoke = NewEntry::new(
            Kind::StaffRevoked {
                name: name.to_string(),
            },
            &self.me.name,
        );
        let signer = self.me.signing.clone();
        let policy = &self.policy;
        // Already inactive: an earlier removal whose key rotation did not finish; finish it.
        let cases = if row.active {
            store::write(&self.conn, |tx| {
                store::staff::deactivate(tx, name, at)?;
                disclosure::append_as(tx, &revoke, &signer, at)?;
                let cases = store::keys::delete_wraps(tx, name, None)?;
                tx.execute("DELETE FROM assignments WHERE staff = ?1", [name])?;
                keys::new_epochs(tx, policy, &cases, at)?;
                Ok(cases)
            })?
        } else {
            Vec::new()
        };
        self.rotate_db_key()?;
        let path = self.dir.identity(name);
        match std::fs::remove_file(&path) {
            Ok(()) => super::dir::sync_dir(&self.dir.staff_dir())?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(path, e)),
        }
        self.log_key_change(
            None,
            format!(
                "offboarding {name}: database key rotated, {} case epochs",
                cases.len()
            ),
        )?;
        Ok(cases)
    }

    /// Changes the acting staff member's own passphrase (keys stay the same).
    pub fn staff_passwd(&self, new_passphrase: &SecretString) -> Result<()> {
        write_atomic(
            &self.dir.identity(&self.me.name),
            &self.me.seal(new_passphrase)?,
        )
    }

    /// Gives a supervisor the keys of every existing case (a supervisor must do it: only a
    /// holder can share). Returns the number of cases.
    pub fn staff_grant(&mut self, name: &str) -> Result<usize> {
        if self.role != Role::Supervisor {
            return Err(Error::NotPermitted {
                action: "staff.grant".into(),
                role: self.role.as_str().into(),
            });
        }
        let holder = keys::supervisor_holder(&self.conn, &self.policy, name)?;
        let cases = store::keys::all_cases(&self.conn)?;
        let tx = store::immediate(&self.conn)?;
        for &c in &cases {
            self.share_case_keys(&tx, c, &holder)?;
        }
        let mut e = self.log_entry(Kind::KeyChange, None)?;
        e.detail = format!("grant {name}: {} cases", cases.len());
        self.log_append(&tx, &e)?;
        tx.commit()?;
        Ok(cases.len())
    }

    /// Rotates the database key: the next key file is written first, then the database is
    /// re-encrypted, then the file renamed into place; `Session::open` finishes an interrupted
    /// rotation. Departed staff's old copies of the key no longer open the database.
    pub fn rotate_db_key(&mut self) -> Result<()> {
        let new_key = crypto::random_key32();
        self.rewrap_db_key(&new_key, true)?;
        store::rekey(&self.conn, &new_key).map_err(|e| match e {
            Error::Db(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::DatabaseBusy =>
            {
                Error::Invalid(tr!("vault.rotation_busy"))
            }
            other => other,
        })?;
        let next = self.dir.dbkey_next();
        std::fs::rename(&next, self.dir.dbkey()).map_err(|e| Error::io(next, e))?;
        super::dir::sync_dir(&self.dir.root.join("keys"))?;
        self.db_key = new_key;
        Ok(())
    }

    /// Writes `key` wrapped to every active staff member and the recovery key, to the key
    /// file (or, with `next`, to the pending-rotation file).
    fn rewrap_db_key(&self, key: &Key32, next: bool) -> Result<()> {
        let mut recipients = vec![age::x25519::Recipient::from_str(&store::meta::require_text(
            &self.conn,
            "recovery_recipient",
        )?)
        .map_err(|e| Error::Crypto(e.to_string()))?];
        for s in store::staff::list(&self.conn)?
            .into_iter()
            .filter(|s| s.active)
        {
            recipients.push(s.public().recipient()?);
        }
        let refs: Vec<&dyn age::Recipient> = recipients
            .iter()
            .map(|r| r as &dyn age::Recipient)
            .collect();
        let wrapped = crypto::encrypt_to_many(&refs, &key[..])?;
        let path = if next {
            self.dir.dbkey_next()
        } else {
            self.dir.dbkey()
        };
        write_atomic(&path, &wrapped)
    }
}
