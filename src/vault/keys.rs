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

use super::Session;
use crate::crypto::CaseKeySet;
use crate::error::{Error, Result};
use crate::policy::{Policy, Role};
use crate::store::{self, keys::RECOVERY, staff::StaffRow};

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

fn parse_recipient(s: &str) -> Result<age::x25519::Recipient> {
    age::x25519::Recipient::from_str(s).map_err(|e| Error::Crypto(e.to_string()))
}

/// A staff member as a holder of the tiers their role may hold.
pub fn staff_holder(policy: &Policy, s: &StaffRow) -> Result<Holder> {
    Ok(Holder {
        name: s.name.clone(),
        recipient: parse_recipient(&s.age_recipient)?,
        tiers: policy.readable_tiers(s.role),
    })
}

/// An active supervisor named `name`, as a holder (for grants).
pub fn supervisor_holder(conn: &Connection, policy: &Policy, name: &str) -> Result<Holder> {
    let s = store::staff::get(conn, name)?
        .filter(|s| s.active && s.role == Role::Supervisor)
        .ok_or_else(|| Error::UnknownStaff(name.to_string()))?;
    staff_holder(policy, &s)
}

/// The holders every case has: the recovery key and active supervisors.
pub fn standing_holders(conn: &Connection, policy: &Policy) -> Result<Vec<Holder>> {
    let all: Vec<u8> = policy.tiers.iter().map(|t| t.level).collect();
    let mut v = vec![Holder {
        name: RECOVERY.to_string(),
        recipient: parse_recipient(&store::meta::require_text(conn, "recovery_recipient")?)?,
        tiers: all,
    }];
    for s in store::staff::active_with_role(conn, Role::Supervisor)? {
        v.push(staff_holder(policy, &s)?);
    }
    Ok(v)
}

/// Holders of one case: the standing holders plus its assigned, active non-supervisors.
pub fn case_holders(
    conn: &Connection,
    policy: &Policy,
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
        if let Some(s) = store::staff::get(conn, &w)?.filter(|s| s.active) {
            let h = staff_holder(policy, &s)?;
            if !h.tiers.is_empty() {
                v.push(h);
            }
        }
    }
    Ok(v)
}

/// Makes fresh keys for a case epoch and wraps them to `holders` (pure crypto).
pub fn prepare_epoch(
    policy: &Policy,
    case_id: i64,
    epoch: i64,
    holders: &[Holder],
) -> Result<PreparedEpoch> {
    let tiers: Vec<u8> = policy.tiers.iter().map(|t| t.level).collect();
    let set = CaseKeySet::generate(case_id, epoch, &tiers);
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
        publics: set.recipients(),
        wraps,
    })
}

/// Stores a prepared epoch.
pub fn store_epoch(conn: &Connection, p: &PreparedEpoch, at: i64) -> Result<()> {
    for (tier, recipient) in &p.publics {
        store::keys::insert_public(conn, p.case_id, p.epoch, *tier, recipient, at)?;
    }
    for (holder, tiers, wrapped) in &p.wraps {
        store::keys::put_wrap(conn, p.case_id, p.epoch, holder, tiers, wrapped)?;
    }
    Ok(())
}

/// Starts a new key epoch for each case (new records use it), in parallel.
pub fn new_epochs(conn: &Connection, policy: &Policy, cases: &[i64], at: i64) -> Result<()> {
    let standing = standing_holders(conn, policy)?;
    let mut jobs = Vec::with_capacity(cases.len());
    for &c in cases {
        let epoch = store::keys::current_epoch(conn, c)?.unwrap_or(0) + 1;
        jobs.push((c, epoch, case_holders(conn, policy, &standing, c)?));
    }
    let prepared: Vec<PreparedEpoch> = jobs
        .par_iter()
        .map(|(c, e, h)| prepare_epoch(policy, *c, *e, h))
        .collect::<Result<_>>()?;
    for p in &prepared {
        store_epoch(conn, p, at)?;
    }
    Ok(())
}

impl Session {
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
        let set =
            CaseKeySet::unwrap(&wrapped, &self.me.age, case_id, epoch)?.ok_or_else(not_mine)?;
        let set = Rc::new(set);
        self.key_cache
            .borrow_mut()
            .insert((case_id, epoch), set.clone());
        Ok(set)
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

/// The age recipient of a case tier at an epoch (records are encrypted to it).
pub fn tier_recipient(
    conn: &Connection,
    case_id: i64,
    epoch: i64,
    tier: u8,
) -> Result<age::x25519::Recipient> {
    let s = store::keys::public(conn, case_id, epoch, tier)?.ok_or(Error::Tampered {
        what: "case key",
        id: format!("{case_id}/{epoch}/{tier}"),
    })?;
    parse_recipient(&s)
}
