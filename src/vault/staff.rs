//! Staff management: adding people, offboarding with key rotation, passphrase changes.

use secrecy::SecretString;

use super::dir::write_atomic;
use super::disclosure;
use super::keys;
use super::Session;
use crate::domain::time::now;
use crate::error::{Error, Result};
use crate::log::{Kind, NewEntry};
use crate::policy::{Action, Role};
use crate::store::{self, staff::StaffRow};
use crate::tr;

impl Session {
    /// Everyone who has worked here.
    pub fn staff_list(&self) -> Result<Vec<StaffRow>> {
        store::staff::list(&self.conn)
    }

    /// Offboards a staff member: deactivates them, removes their wrappings and assignments and
    /// marks a database key rotation pending, in one transaction (each case they held gets a
    /// fresh epoch from its next writer, so new records are out of their reach); then rotates the database key
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
        // Already inactive: an earlier removal whose key rotation did not finish; finish it.
        let cases = if row.active {
            store::write(&self.conn, |tx| {
                store::staff::deactivate(tx, name, at)?;
                disclosure::append_as(tx, &revoke, &signer, at)?;
                // No new epochs here: an admin must never make case keys. The next writer
                // of each case sees a revoked holder and starts a fresh epoch first
                // (`epoch_for_write`).
                let cases = store::keys::delete_wraps(tx, name, None)?;
                store::supervisor_keys::delete_holder(tx, name)?;
                for case in store::cases::cases_of(tx, name)? {
                    store::cases::unassign(tx, case, name)?;
                    store::authority::delete(tx, &super::authority::assign_subject(case, name))?;
                }
                super::rotation::mark_pending(tx, name)?;
                Ok(cases)
            })?
        } else {
            Vec::new()
        };
        self.rotate_db_key()?;
        Ok(cases)
    }

    /// Changes the acting staff member's own passphrase. With `rotate_keys`, also makes new
    /// keys: the registry entry (signed with the old key) names them, every case key wrapping
    /// and the database key file are rewrapped to them, so a copy of the old identity file
    /// (one an admin kept, say) opens nothing from then on.
    ///
    /// Crash safety: the new identity is written to `staff/<name>.age.next` before the commit
    /// and renamed into place after it; an opener that finds the main file superseded uses the
    /// `.next` file (see [`Session::open`]).
    ///
    /// After a key rotation the database key is rotated too (an old identity file with an old
    /// copy of `keys/dbkey.age` must not open the current database); returns false when that
    /// had to wait because others have the vault open (`staff rotate` finishes it).
    pub fn staff_passwd(
        &mut self,
        new_passphrase: &SecretString,
        rotate_keys: bool,
    ) -> Result<bool> {
        let agency = self.agency()?;
        super::init::check_new_passphrase(new_passphrase, &[&self.me.name, &agency])?;
        let path = self.dir.identity(&self.me.name);
        if !rotate_keys {
            write_atomic(&path, &self.me.seal(new_passphrase)?)?;
            return Ok(true);
        }
        let mut new = crate::crypto::StaffIdentity::generate(&self.me.name);
        new.root = self.me.root.clone();
        let public = new.public();
        let next = super::dir::identity_next(&path);
        write_atomic(&next, &new.seal(new_passphrase)?)?;
        let mut reg = NewEntry::new(
            Kind::StaffRegistered {
                name: self.me.name.clone(),
                role: self.role.as_str().into(),
                key: public.verify_key,
            },
            &self.me.name,
        );
        reg.detail = format!("age={}", public.age_recipient);
        let result = (|| {
            let tx = store::immediate(&self.conn)?;
            self.log_append(&tx, &reg)?;
            store::staff::set_keys(&tx, &self.me.name, &public)?;
            for w in store::keys::list_wraps(&tx, Some(&self.me.name))? {
                let wrapped = store::keys::get_wrap(&tx, w.case_id, w.epoch, &self.me.name)?
                    .ok_or_else(|| Error::NotAssigned {
                        case: w.case_id.to_string(),
                    })?;
                let set =
                    crate::crypto::CaseKeySet::unwrap(&wrapped, &self.me.age, w.case_id, w.epoch)?
                        .ok_or_else(|| Error::Tampered {
                            what: "case key",
                            id: format!("{}/{}", w.case_id, w.epoch),
                        })?;
                let rewrapped = set.wrap(&w.tiers, &new.recipient())?;
                store::keys::put_wrap(
                    &tx,
                    w.case_id,
                    w.epoch,
                    &self.me.name,
                    &w.tiers,
                    &rewrapped,
                )?;
            }
            let me = self.me.name.clone();
            self.share_supervisor_keys(&tx, &me, &self.me.age, &me, &new.recipient())?;
            self.rewrap_db_key(&tx)?;
            tx.commit()?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&next);
            return Err(e);
        }
        std::fs::rename(&next, &path).map_err(|e| Error::io(&path, e))?;
        super::dir::sync_dir(&self.dir.staff_dir())?;
        self.key_cache.borrow_mut().clear();
        self.me = new;
        self.reload_registry(&self.conn)?;
        match self.rotate_db_key() {
            Ok(_) => Ok(true),
            Err(Error::RotationDeferred { .. }) => Ok(false),
            Err(e) => Err(e),
        }
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
        let holder = keys::supervisor_holder(&self.registry(), &self.policy, name)?;
        let cases = store::keys::all_cases(&self.conn)?;
        let tx = store::immediate(&self.conn)?;
        for &c in &cases {
            self.share_case_keys(&tx, c, &holder)?;
        }
        let me = self.me.name.clone();
        self.share_supervisor_keys(&tx, &me, &self.me.age, name, &holder.recipient)?;
        let mut e = self.log_entry(Kind::KeyChange, None)?;
        e.detail = format!("grant {name}: {} cases", cases.len());
        self.log_append(&tx, &e)?;
        tx.commit()?;
        Ok(cases.len())
    }
}
