//! Case key epochs and who holds them.
//!
//! Holders of a case epoch, as policy says: the recovery key and every active supervisor hold
//! every tier; assigned caseworkers hold the tiers their role may read (not the top,
//! supervisor-only tier). Wrapping needs only public keys, so anyone who may change holders
//! (an admin offboarding someone) can make a new epoch without reading old records.

use std::rc::Rc;
use std::str::FromStr;

use rayon::prelude::*;
use rusqlite::Connection;

use rusqlite::Transaction;

use super::authority::Claim;
use super::Session;
use crate::crypto::CaseKeySet;
use crate::error::{Error, Result};
use crate::log::registry::Member;
use crate::log::Registry;
use crate::policy::{Policy, Role};
use crate::store::{self, keys::RECOVERY};

/// Someone who should hold (some tiers of) a case's keys.
pub struct Holder {
    pub name: String,
    pub recipient: age::x25519::Recipient,
    pub tiers: Vec<u8>,
}

/// A new epoch's public keys and wrappings, made off the database (in parallel) and stored after.
pub struct PreparedEpoch {
    pub case_id: i64,
    pub epoch: i64,
    pub publics: Vec<(u8, String)>,
    pub wraps: Vec<(String, Vec<u8>, Vec<u8>)>,
}

/// An age recipient string, parsed.
pub fn parse_recipient(s: &str) -> Result<age::x25519::Recipient> {
    age::x25519::Recipient::from_str(s).map_err(|e| Error::Crypto(e.to_string()))
}

/// A registered member as a holder of the tiers their role may hold (their recipient as the
/// registry signed it).
pub fn member_holder(policy: &Policy, m: &Member) -> Result<Holder> {
    let role = Role::parse(&m.role).ok_or_else(|| Error::Tampered {
        what: "staff",
        id: m.name.clone(),
    })?;
    let recipient = m.recipient.as_deref().ok_or_else(|| Error::Tampered {
        what: "staff",
        id: m.name.clone(),
    })?;
    Ok(Holder {
        name: m.name.clone(),
        recipient: parse_recipient(recipient)?,
        tiers: policy.readable_tiers(role),
    })
}

/// An active supervisor named `name`, as a holder (for grants).
pub fn supervisor_holder(registry: &Registry, policy: &Policy, name: &str) -> Result<Holder> {
    let m = registry
        .member(name)
        .filter(|m| m.active && m.role == Role::Supervisor.as_str())
        .ok_or_else(|| Error::UnknownStaff(name.to_string()))?;
    member_holder(policy, &m)
}

/// The recovery key's recipient, as the founding log entry set it.
pub fn recovery_recipient(registry: &Registry) -> Result<age::x25519::Recipient> {
    parse_recipient(registry.recovery().ok_or_else(|| Error::Tampered {
        what: "log",
        id: "0".into(),
    })?)
}

/// The holders every case has: the recovery key and active supervisors (from the registry).
pub fn standing_holders(registry: &Registry, policy: &Policy) -> Result<Vec<Holder>> {
    let all: Vec<u8> = policy.tiers.iter().map(|t| t.level).collect();
    let mut v = vec![Holder {
        name: RECOVERY.to_string(),
        recipient: recovery_recipient(registry)?,
        tiers: all,
    }];
    for m in registry.active_with_role(Role::Supervisor.as_str()) {
        v.push(member_holder(policy, &m)?);
    }
    Ok(v)
}

/// Makes fresh keys for a case epoch and wraps them to `holders` (pure crypto). Only the tiers
/// a caseworker may read get fresh keys; the supervisor-only tiers use `supervisor` (the
/// current supervisor key's recipient), whose secret the maker never holds.
pub fn prepare_epoch(
    policy: &Policy,
    case_id: i64,
    epoch: i64,
    holders: &[Holder],
    supervisor: &str,
) -> Result<PreparedEpoch> {
    let tiers: Vec<u8> = policy
        .tiers
        .iter()
        .filter(|t| !t.supervisor_only)
        .map(|t| t.level)
        .collect();
    let set = CaseKeySet::generate(case_id, epoch, &tiers);
    let mut publics = set.recipients();
    for t in policy.tiers.iter().filter(|t| t.supervisor_only) {
        publics.push((t.level, supervisor.to_string()));
    }
    let wraps = holders
        .iter()
        .map(|h| {
            Ok((
                h.name.clone(),
                h.tiers.clone(),
                set.wrap(&h.tiers, &h.recipient)?,
            ))
        })
        .collect::<Result<_>>()?;
    Ok(PreparedEpoch {
        case_id,
        epoch,
        publics,
        wraps,
    })
}

/// Stores a prepared epoch's cache rows (the signed statement is stored by `attest`).
fn store_epoch(conn: &Connection, p: &PreparedEpoch, at: i64) -> Result<()> {
    for (tier, recipient) in &p.publics {
        store::keys::insert_public(conn, p.case_id, p.epoch, *tier, recipient, at)?;
    }
    for (holder, tiers, wrapped) in &p.wraps {
        store::keys::put_wrap(conn, p.case_id, p.epoch, holder, tiers, wrapped)?;
    }
    Ok(())
}

impl Session {
    /// Holders of one case: the standing holders plus its assigned, active non-supervisors
    /// whose assignment is attested (an unattested assignment row is a tamper alarm).
    pub(super) fn case_holders(
        &self,
        conn: &Connection,
        standing: &[Holder],
        case_id: i64,
    ) -> Result<Vec<Holder>> {
        let mut v: Vec<Holder> = standing
            .iter()
            .map(|h| Holder {
                name: h.name.clone(),
                recipient: h.recipient.clone(),
                tiers: h.tiers.clone(),
            })
            .collect();
        for w in store::cases::workers(conn, case_id)? {
            if v.iter().any(|h| h.name == w) {
                continue;
            }
            let member = self.registry().member(&w).filter(|m| m.active);
            if let Some(m) = member {
                if !self.verified_assignment(conn, case_id, &w)? {
                    return Err(Error::Tampered {
                        what: "assignment",
                        id: format!("{case_id}/{w}"),
                    });
                }
                let h = member_holder(&self.policy, &m)?;
                if !h.tiers.is_empty() {
                    v.push(h);
                }
            }
        }
        Ok(v)
    }

    /// Starts a new key epoch for each case (new records use it), in parallel, each signed into
    /// the log by this session's member. Holders come from the registry as it stands in `conn`.
    pub(super) fn new_epochs(&self, conn: &Transaction, cases: &[i64], at: i64) -> Result<()> {
        self.new_epochs_with(conn, cases, at, &[])
    }

    /// [`new_epochs`](Self::new_epochs) with `extra` holders the caller vouches for (the
    /// caseworker opening a case, whose assignment is signed after the epoch).
    pub(super) fn new_epochs_with(
        &self,
        conn: &Transaction,
        cases: &[i64],
        at: i64,
        extra: &[Holder],
    ) -> Result<()> {
        self.reload_registry(conn)?;
        let standing = standing_holders(&self.registry(), &self.policy)?;
        let mut jobs = Vec::with_capacity(cases.len());
        for &c in cases {
            let epoch = store::keys::current_epoch(conn, c)?.unwrap_or(0) + 1;
            let mut holders = self.case_holders(conn, &standing, c)?;
            for h in extra {
                if !holders.iter().any(|x| x.name == h.name) {
                    holders.push(Holder {
                        name: h.name.clone(),
                        recipient: h.recipient.clone(),
                        tiers: h.tiers.clone(),
                    });
                }
            }
            jobs.push((c, epoch, holders));
        }
        let policy = &self.policy;
        let (_, supervisor) = self.supervisor_key_for_write(conn)?;
        let prepared: Vec<PreparedEpoch> = jobs
            .par_iter()
            .map(|(c, e, h)| prepare_epoch(policy, *c, *e, h, &supervisor))
            .collect::<Result<_>>()?;
        let mut claims = Vec::with_capacity(prepared.len());
        for p in &prepared {
            store_epoch(conn, p, at)?;
            let claim = Claim::CaseKeys {
                case: p.case_id,
                epoch: p.epoch,
                tiers: p.publics.clone(),
                holders: p
                    .wraps
                    .iter()
                    .map(|(h, t, _)| (h.clone(), t.clone()))
                    .collect(),
            };
            claims.push((claim, Some(p.case_id)));
        }
        let refs: Vec<(&Claim, Option<i64>)> = claims.iter().map(|(c, k)| (c, *k)).collect();
        self.attest_many(conn, &refs)?;
        Ok(())
    }

    /// The epoch new ciphertext of a case goes under, inside the writer's transaction. If
    /// anyone was revoked after the current epoch was signed (they may hold it: assignments
    /// after its creation wrap it to more people than its statement names), or its signed
    /// holders include someone no longer entitled (a caseworker without a signed assignment),
    /// a fresh epoch is made first, by this writer: offboarding leaves that to the next
    /// writer, so that no admin ever makes (and could keep) case keys.
    pub(super) fn epoch_for_write(&self, tx: &Transaction, case: i64) -> Result<i64> {
        let tampered = || Error::Tampered {
            what: "case key",
            id: case.to_string(),
        };
        let epoch = store::keys::current_epoch(tx, case)?.ok_or_else(tampered)?;
        let Claim::CaseKeys { holders, tiers, .. } = self.verified_epoch(tx, case, epoch)? else {
            return Err(tampered());
        };
        // The supervisor-only tier must be the current supervisor key (an older generation may
        // be held by a supervisor who left; an epoch from before supervisor keys has its own).
        let current = match self.current_supervisor_key(tx)? {
            Some((_, r)) => Some(r),
            None if self.role == Role::Supervisor => None,
            None => return Err(Error::NoSupervisorKey),
        };
        let top_stale = self
            .policy
            .tiers
            .iter()
            .filter(|t| t.supervisor_only)
            .any(|t| {
                let signed = tiers.iter().find(|(l, _)| *l == t.level).map(|(_, r)| r);
                current.as_ref() != signed
            });
        let signed_at = store::authority::get(tx, &super::authority::epoch_subject(case, epoch))?
            .map(|(i, _)| i as u64)
            .ok_or_else(tampered)?;
        let mut stale = top_stale
            || self
                .registry()
                .last_revocation()
                .is_some_and(|r| r > signed_at);
        for (name, _) in holders.iter().filter(|_| !stale) {
            if name == RECOVERY {
                continue;
            }
            let member = self.registry().member(name).filter(|m| m.active);
            let entitled = match member {
                None => false,
                Some(m) if m.role == Role::Supervisor.as_str() => true,
                Some(_) => self.verified_assignment(tx, case, name)?,
            };
            if !entitled {
                stale = true;
                break;
            }
        }
        if !stale {
            return Ok(epoch);
        }
        self.new_epochs(tx, &[case], crate::domain::time::now())?;
        self.key_cache.borrow_mut().retain(|(c, _), _| *c != case);
        store::keys::current_epoch(tx, case)?.ok_or_else(tampered)
    }

    /// The age recipient of a case tier at an epoch (records are encrypted to it), from the
    /// epoch's signed statement, never from the `case_keys` rows.
    pub fn tier_recipient(
        &self,
        conn: &Connection,
        case_id: i64,
        epoch: i64,
        tier: u8,
    ) -> Result<age::x25519::Recipient> {
        let tampered = || Error::Tampered {
            what: "case key",
            id: format!("{case_id}/{epoch}/{tier}"),
        };
        let Claim::CaseKeys { tiers, .. } = self.verified_epoch(conn, case_id, epoch)? else {
            return Err(tampered());
        };
        let s = tiers
            .iter()
            .find(|(t, _)| *t == tier)
            .map(|(_, r)| r.clone())
            .ok_or_else(tampered)?;
        // Written only to a key a supervisor signed (never to one a caseworker's epoch named).
        if self.policy.tier(tier).is_some_and(|t| t.supervisor_only)
            && self.supervisor_generation(conn, &s)?.is_none()
        {
            return Err(tampered());
        }
        parse_recipient(&s)
    }

    /// The case keys this session's identity holds for a case epoch. `NotAssigned` when it
    /// holds none: that is the enforcement, whatever the role checks said.
    pub fn case_keys(&self, case_id: i64, epoch: i64) -> Result<Rc<CaseKeySet>> {
        if let Some(k) = self.key_cache.borrow().get(&(case_id, epoch)) {
            return Ok(k.clone());
        }
        let not_mine = || Error::NotAssigned {
            case: case_id.to_string(),
        };
        let wrapped = store::keys::get_wrap(&self.conn, case_id, epoch, &self.me.name)?
            .ok_or_else(not_mine)?;
        let mut set =
            CaseKeySet::unwrap(&wrapped, &self.me.age, case_id, epoch)?.ok_or_else(not_mine)?;
        // A supervisor reads the supervisor-only tier with the supervisor key generation the
        // epoch's signed statement names.
        if self.role == Role::Supervisor {
            self.add_supervisor_tiers(&mut set)?;
        }
        let set = Rc::new(set);
        self.key_cache
            .borrow_mut()
            .insert((case_id, epoch), set.clone());
        Ok(set)
    }

    /// Adds the supervisor-only tiers an epoch's wrapping lacks from this session's supervisor
    /// key generations.
    fn add_supervisor_tiers(&self, set: &mut CaseKeySet) -> Result<()> {
        let missing: Vec<u8> = self
            .policy
            .tiers
            .iter()
            .filter(|t| t.supervisor_only && set.tier(t.level).is_none())
            .map(|t| t.level)
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let Claim::CaseKeys { tiers, .. } =
            self.verified_epoch(&self.conn, set.case_id, set.epoch)?
        else {
            return Ok(());
        };
        for level in missing {
            let Some((_, r)) = tiers.iter().find(|(l, _)| *l == level) else {
                continue;
            };
            if let Some(identity) =
                self.supervisor_identity(&self.conn, r, &self.me.name, &self.me.age)?
            {
                set.tiers.push(crate::crypto::TierSecret {
                    tier: level,
                    identity,
                });
            }
        }
        Ok(())
    }

    /// Wraps every epoch of a case that this session holds to `holder` (its allowed tiers).
    pub(super) fn share_case_keys(
        &self,
        conn: &Connection,
        case_id: i64,
        holder: &Holder,
    ) -> Result<()> {
        for epoch in store::keys::epochs(conn, case_id)? {
            let set = self.case_keys(case_id, epoch)?;
            let wrapped = set.wrap(&holder.tiers, &holder.recipient)?;
            store::keys::put_wrap(conn, case_id, epoch, &holder.name, &holder.tiers, &wrapped)?;
        }
        Ok(())
    }
}
