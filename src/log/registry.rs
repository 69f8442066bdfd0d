//! The staff registry, rebuilt from the log itself: which Ed25519 key may sign for which staff
//! name at each index, each member's role and age recipient, and who is still active. It is the
//! vault's one authority on staff (`vault::authority`); the `staff` table is only a cache.

use std::collections::{HashMap, HashSet};

use ed25519_dalek::VerifyingKey;

use super::entry::{Entry, Kind, ADMIN_ROLE};
use super::error::LogError;

/// The role whose holders co-sign supervisor registrations and read the top tier.
pub const SUPERVISOR_ROLE: &str = "supervisor";

/// A registration's `detail` is space-separated `name=value` fields: `age=<recipient>` is the
/// member's age (X25519) recipient; entry 0 also carries `recovery=<recipient>`, the vault's
/// recovery key, which holds every case key.
pub fn detail_field<'a>(detail: &'a str, name: &str) -> Option<&'a str> {
    detail.split(' ').find_map(|f| {
        f.strip_prefix(name)
            .and_then(|r| r.strip_prefix('='))
            .filter(|v| !v.is_empty())
    })
}

/// One registration of a name: the key, role and recipient it set, from entry `from` on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub from: u64,
    pub role: String,
    pub key: VerifyingKey,
    /// `None` for registrations without an `age=` detail (they can sign but hold no keys).
    pub recipient: Option<String>,
}

#[derive(Clone, Debug)]
struct Staff {
    /// Every registration of this name, oldest first (key rotations and role changes).
    history: Vec<Registration>,
    /// Index of the revocation, once revoked.
    revoked_at: Option<u64>,
}

impl Staff {
    fn current(&self) -> &Registration {
        self.history
            .last()
            .expect("a staff entry has at least one registration")
    }
}

/// A member as the registry knows them now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub role: String,
    pub key: VerifyingKey,
    pub recipient: Option<String>,
    /// Index of the registration in force.
    pub registered_at: u64,
    pub active: bool,
    /// Index of the revocation, once revoked.
    pub revoked_at: Option<u64>,
}

/// Registry state while walking the log in order.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    staff: HashMap<String, Staff>,
    /// (name, role, key) vouched for by a then-active supervisor.
    endorsed: HashSet<(String, String, [u8; 32])>,
    /// Whether any supervisor was ever registered (the first needs no endorsement: there is
    /// nobody to give one).
    had_supervisor: bool,
    founder: Option<VerifyingKey>,
    recovery: Option<String>,
}

impl Registry {
    /// The key that must have signed `entry` under the registry as it stood just before it,
    /// or the error naming the entry. Does not change the registry.
    ///
    /// Rules: entry 0 is the founding admin registering their own key and signed by it; every
    /// later entry is signed by its actor's current key; registrations and revocations are
    /// signed by an admin, except that a member may re-register themself in the same role
    /// (a key rotation); a supervisor registration needs an earlier endorsement of the same
    /// name, role and key by an active supervisor (unless no supervisor was ever registered);
    /// endorsements are signed by supervisors.
    pub fn signer(&self, entry: &Entry) -> Result<VerifyingKey, LogError> {
        if entry.index == 0 {
            return match &entry.kind {
                Kind::StaffRegistered { name, role, key }
                    if *name == entry.actor && role == ADMIN_ROLE =>
                {
                    parse_key(entry.index, key)
                }
                _ => Err(LogError::BadFounding),
            };
        }
        let actor = || entry.actor.clone();
        let staff = self
            .staff
            .get(&entry.actor)
            .ok_or_else(|| LogError::UnknownSigner {
                index: entry.index,
                actor: actor(),
            })?;
        if let Some(at) = staff.revoked_at {
            return Err(LogError::RevokedSigner {
                index: entry.index,
                actor: actor(),
                revoked_at: at,
            });
        }
        let current = staff.current();
        let is_admin = current.role == ADMIN_ROLE;
        match &entry.kind {
            Kind::StaffRegistered { name, role, key } => {
                parse_key(entry.index, key)?;
                let self_rotation = *name == entry.actor && *role == current.role;
                if !is_admin && !self_rotation {
                    return Err(LogError::NotAdmin {
                        index: entry.index,
                        actor: actor(),
                    });
                }
                // A name that was revoked stays revoked: a rehire enrols under a new name, so
                // an admin cannot bring a departed member back under a key of the admin's
                // making (and with them the departed member's old assignments).
                if self.staff.get(name).is_some_and(|s| s.revoked_at.is_some()) {
                    return Err(LogError::NameRevoked {
                        index: entry.index,
                        name: name.clone(),
                    });
                }
                // A serving member's key changes only by their own signature: an admin who
                // re-registered someone under a key of the admin's making would become them.
                let serving = self.staff.get(name).filter(|s| s.revoked_at.is_none());
                if let Some(s) = serving {
                    if *name != entry.actor && s.current().key.to_bytes() != *key {
                        return Err(LogError::KeyChangeNotSelf {
                            index: entry.index,
                            name: name.clone(),
                        });
                    }
                }
                let already = serving.is_some_and(|s| s.current().role == *role);
                if role == SUPERVISOR_ROLE
                    && !already
                    && self.had_supervisor
                    && !self.endorsed.contains(&(name.clone(), role.clone(), *key))
                {
                    return Err(LogError::NotEndorsed {
                        index: entry.index,
                        name: name.clone(),
                    });
                }
            }
            Kind::StaffRevoked { .. } if !is_admin => {
                return Err(LogError::NotAdmin {
                    index: entry.index,
                    actor: actor(),
                })
            }
            Kind::StaffEndorsed { key, .. } => {
                if current.role != SUPERVISOR_ROLE {
                    return Err(LogError::NotSupervisor {
                        index: entry.index,
                        actor: actor(),
                    });
                }
                parse_key(entry.index, key)?;
            }
            _ => {}
        }
        Ok(current.key)
    }

    /// The key `actor` signed with at entry `index`: the registration in force just before it
    /// (a rotation is signed by the key it replaces; entry 0 by the key it registers), none once
    /// revoked. For checking a few
    /// shown entries against a verified registry without walking the log; the registry rules
    /// themselves are [`signer`](Self::signer)'s and the full verification's.
    pub fn key_at(&self, actor: &str, index: u64) -> Option<VerifyingKey> {
        let staff = self.staff.get(actor)?;
        if staff.revoked_at.is_some_and(|r| r < index) {
            return None;
        }
        staff
            .history
            .iter()
            .rev()
            .find(|r| r.from < index || (index == 0 && r.from == 0))
            .map(|r| r.key)
    }

    /// Applies a registration, revocation or endorsement (other kinds change nothing). Call
    /// only for entries whose [`signer`](Self::signer) check passed.
    pub fn apply(&mut self, entry: &Entry) {
        match &entry.kind {
            Kind::StaffRegistered { name, role, key } => {
                let Ok(k) = VerifyingKey::from_bytes(key) else {
                    return;
                };
                if entry.index == 0 {
                    self.founder = Some(k);
                    self.recovery = detail_field(&entry.detail, "recovery").map(str::to_string);
                }
                if role == SUPERVISOR_ROLE {
                    self.had_supervisor = true;
                }
                let reg = Registration {
                    from: entry.index,
                    role: role.clone(),
                    key: k,
                    recipient: detail_field(&entry.detail, "age").map(str::to_string),
                };
                let s = self.staff.entry(name.clone()).or_insert(Staff {
                    history: Vec::new(),
                    revoked_at: None,
                });
                s.history.push(reg);
            }
            Kind::StaffRevoked { name } => {
                if let Some(s) = self.staff.get_mut(name) {
                    s.revoked_at = Some(entry.index);
                }
            }
            Kind::StaffEndorsed { name, role, key } => {
                self.endorsed.insert((name.clone(), role.clone(), *key));
            }
            _ => {}
        }
    }

    /// The member `name` as registered now (active or revoked), if ever registered.
    pub fn member(&self, name: &str) -> Option<Member> {
        self.staff.get(name).map(|s| {
            let c = s.current();
            Member {
                name: name.to_string(),
                role: c.role.clone(),
                key: c.key,
                recipient: c.recipient.clone(),
                registered_at: c.from,
                active: s.revoked_at.is_none(),
                revoked_at: s.revoked_at,
            }
        })
    }

    /// Every member ever registered, sorted by name.
    pub fn members(&self) -> Vec<Member> {
        let mut names: Vec<&String> = self.staff.keys().collect();
        names.sort();
        names.into_iter().filter_map(|n| self.member(n)).collect()
    }

    /// The registration of `name` in force at log index `index` (for checking something
    /// signed then), or `None` if the name was not registered, or was revoked, at that point.
    pub fn at(&self, name: &str, index: u64) -> Option<&Registration> {
        let s = self.staff.get(name)?;
        if s.revoked_at.is_some_and(|r| r <= index) {
            return None;
        }
        s.history.iter().rev().find(|r| r.from < index)
    }

    /// Every key `name` has ever held (a record signed long ago verifies under the key of
    /// its day).
    pub fn keys_ever(&self, name: &str) -> Vec<VerifyingKey> {
        self.staff
            .get(name)
            .map(|s| s.history.iter().map(|r| r.key).collect())
            .unwrap_or_default()
    }

    /// The founding admin's key (entry 0), the vault's root of trust.
    pub fn founder(&self) -> Option<VerifyingKey> {
        self.founder
    }

    /// The index of the latest revocation of anyone, if any (an epoch older than it may be
    /// held by someone who left).
    pub fn last_revocation(&self) -> Option<u64> {
        self.staff.values().filter_map(|s| s.revoked_at).max()
    }

    /// The index of the latest revocation of someone whose role was supervisor, if any (a
    /// supervisor key generation older than it may be held by someone who left).
    pub fn last_supervisor_revocation(&self) -> Option<u64> {
        self.staff
            .values()
            .filter(|s| s.current().role == SUPERVISOR_ROLE)
            .filter_map(|s| s.revoked_at)
            .max()
    }

    /// The recovery key's age recipient, as the founding entry set it.
    pub fn recovery(&self) -> Option<&str> {
        self.recovery.as_deref()
    }

    /// Active members whose role is `role`, sorted by name.
    pub fn active_with_role(&self, role: &str) -> Vec<Member> {
        self.members()
            .into_iter()
            .filter(|m| m.active && m.role == role)
            .collect()
    }
}

/// A registered key must be a valid curve point of large order.
fn parse_key(index: u64, key: &[u8; 32]) -> Result<VerifyingKey, LogError> {
    match VerifyingKey::from_bytes(key) {
        Ok(k) if !k.is_weak() => Ok(k),
        _ => Err(LogError::WeakStaffKey { index }),
    }
}
