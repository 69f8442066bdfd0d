//! The staff key registry, rebuilt from the log itself: which Ed25519 key may sign for which
//! staff name at each index.

use std::collections::HashMap;

use ed25519_dalek::VerifyingKey;

use super::entry::{Entry, Kind, ADMIN_ROLE};
use super::error::LogError;

#[derive(Clone, Debug)]
struct Staff {
    role: String,
    /// `None` once revoked.
    key: Option<VerifyingKey>,
    revoked_at: Option<u64>,
}

/// Registry state while walking the log in order.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    staff: HashMap<String, Staff>,
}

impl Registry {
    /// The key that must have signed `entry` under the registry as it stood just before it,
    /// or the error naming the entry. Does not change the registry.
    ///
    /// Rules: entry 0 is the founding admin registering their own key and signed by it; every
    /// later entry is signed by its actor's current key; registrations and revocations are
    /// signed by an admin.
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
        let key = match (staff.key, staff.revoked_at) {
            (Some(k), _) => k,
            (None, Some(at)) => {
                return Err(LogError::RevokedSigner {
                    index: entry.index,
                    actor: actor(),
                    revoked_at: at,
                })
            }
            (None, None) => {
                return Err(LogError::UnknownSigner {
                    index: entry.index,
                    actor: actor(),
                })
            }
        };
        if matches!(
            entry.kind,
            Kind::StaffRegistered { .. } | Kind::StaffRevoked { .. }
        ) && staff.role != ADMIN_ROLE
        {
            return Err(LogError::NotAdmin {
                index: entry.index,
                actor: actor(),
            });
        }
        if let Kind::StaffRegistered { key, .. } = &entry.kind {
            parse_key(entry.index, key)?;
        }
        Ok(key)
    }

    /// Applies a registration or revocation (other kinds change nothing). Call only for
    /// entries whose [`signer`](Self::signer) check passed.
    pub fn apply(&mut self, entry: &Entry) {
        match &entry.kind {
            Kind::StaffRegistered { name, role, key } => {
                if let Ok(k) = VerifyingKey::from_bytes(key) {
                    self.staff.insert(
                        name.clone(),
                        Staff {
                            role: role.clone(),
                            key: Some(k),
                            revoked_at: None,
                        },
                    );
                }
            }
            Kind::StaffRevoked { name } => {
                if let Some(s) = self.staff.get_mut(name) {
                    s.key = None;
                    s.revoked_at = Some(entry.index);
                }
            }
            _ => {}
        }
    }

    /// The current key of `name`, if registered and not revoked.
    pub fn key_of(&self, name: &str) -> Option<VerifyingKey> {
        self.staff.get(name).and_then(|s| s.key)
    }
}

/// A registered key must be a valid curve point of large order.
fn parse_key(index: u64, key: &[u8; 32]) -> Result<VerifyingKey, LogError> {
    match VerifyingKey::from_bytes(key) {
        Ok(k) if !k.is_weak() => Ok(k),
        _ => Err(LogError::WeakStaffKey { index }),
    }
}
