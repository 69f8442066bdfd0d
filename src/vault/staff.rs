//! Staff management: adding people, offboarding with key rotation, passphrase changes.

use secrecy::SecretString;

use super::dir::{valid_staff_name, write_atomic};
use super::disclosure;
use super::keys;
use super::Session;
use crate::crypto::StaffIdentity;
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
        let agency = self.agency()?;
        super::init::check_new_passphrase(&new.passphrase, &[&new.name, &agency])?;
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
        // Rewrapped while the write lock is held, from the list that includes the new member,
        // so two concurrent additions cannot leave one of them out of the key file.
        self.rewrap_db_key(&tx)?;
        tx.commit()?;
        Ok(store::staff::get(&self.conn, &new.name)?.expect("just inserted"))
    }

    /// Everyone who has worked here.
    pub fn staff_list(&self) -> Result<Vec<StaffRow>> {
        store::staff::list(&self.conn)
    }

    /// Offboards a staff member: deactivates them, removes their wrappings and assignments,
    /// starts new key epochs for every case they held (new records are out of their reach) and
    /// marks a database key rotation pending, in one transaction; then rotates the database key
    /// and deletes their identity file (see `rotation.rs`). If the rotation cannot run now (others
    /// have the vault open, a full disk) the removal stands, the rotation stays pending and
    /// visible, and `staff rotate` finishes it. Old records keep their keys until `rekey`.
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
                super::rotation::mark_pending(tx, name)?;
                Ok(cases)
            })?
        } else {
            Vec::new()
        };
        self.rotate_db_key()?;
        Ok(cases)
    }

    /// Changes the acting staff member's own passphrase (keys stay the same).
    pub fn staff_passwd(&self, new_passphrase: &SecretString) -> Result<()> {
        let agency = self.agency()?;
        super::init::check_new_passphrase(new_passphrase, &[&self.me.name, &agency])?;
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
}
