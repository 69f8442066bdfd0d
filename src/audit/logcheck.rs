//! The disclosure log verifies (tree, checkpoints, every signature), and the staff keys it
//! registers agree with the staff table.

use std::collections::HashMap;

use super::{Ctx, Finding, Outcome, Severity};
use crate::error::Result;
use crate::log::{self, Kind, LogError};
use crate::store;
use crate::tr;
use crate::vault::disclosure::verifier_key;

/// Where a log error is: the entry or the checkpoint it names.
fn where_(e: &LogError) -> Vec<String> {
    match e {
        LogError::Malformed { index, .. }
        | LogError::IndexMismatch { index, .. }
        | LogError::BadSignature { index, .. }
        | LogError::UnknownSigner { index, .. }
        | LogError::RevokedSigner { index, .. }
        | LogError::NotAdmin { index, .. }
        | LogError::NotEndorsed { index, .. }
        | LogError::KeyChangeNotSelf { index, .. }
        | LogError::NameRevoked { index, .. }
        | LogError::IndexColumn { index }
        | LogError::NotSupervisor { index, .. }
        | LogError::WeakStaffKey { index } => vec![tr!("audit.loc.entry", index = index)],
        LogError::BadFounding => vec![tr!("audit.loc.entry", index = 0)],
        LogError::CheckpointMismatch { size } => {
            vec![tr!("audit.loc.checkpoint", size = size)]
        }
        LogError::Checkpoint { size: Some(s), .. } => {
            vec![tr!("audit.loc.checkpoint", size = s)]
        }
        LogError::Truncated { have, signed } => vec![
            tr!("audit.loc.checkpoint", size = signed),
            tr!("audit.loc.entries", count = have),
        ],
        LogError::Unsigned { from, to } => {
            vec![tr!("audit.loc.entry_range", from = from, to = to)]
        }
        _ => Vec::new(),
    }
}

/// `log::verify_db` with the agency key: each error is a critical finding naming its entry.
pub fn verify(ctx: &Ctx) -> Result<Outcome> {
    let key = verifier_key(ctx.conn)?;
    let mut report = log::verify_db(ctx.conn, &key)?;
    report.errors.extend(ctx.session.chain_alarm()?);
    let mut out: Vec<Finding> = report
        .errors
        .iter()
        .map(|e| {
            Finding::new(
                "log.verify",
                Severity::Critical,
                tr!("audit.log.error", error = e),
                where_(e),
                tr!("audit.log.fix"),
            )
        })
        .collect();
    // Entries waiting for a supervisor's checkpoint are the normal state between supervisor
    // sessions, not a finding (`log verify` shows them).
    out.extend(
        report
            .warnings
            .iter()
            .filter(|w| !matches!(w, log::Warning::Uncovered { .. }))
            .map(|w| {
                Finding::new(
                    "log.warning",
                    Severity::Low,
                    w.to_string(),
                    Vec::new(),
                    tr!("audit.log.warning_fix"),
                )
            }),
    );
    Ok(Outcome::Ran(out))
}

/// The registry the log builds (last registration or revocation of each name wins).
struct Registered {
    role: String,
    key: Option<[u8; 32]>,
    index: u64,
}

/// Staff keys and roles in the log agree with the staff table: every active member's key is
/// registered with their role, every departed member was revoked, nobody else holds a key.
pub fn staff(ctx: &Ctx) -> Result<Outcome> {
    let mut reg: HashMap<String, Registered> = HashMap::new();
    for e in &ctx.entries {
        match &e.kind {
            Kind::StaffRegistered { name, role, key } => {
                reg.insert(
                    name.clone(),
                    Registered {
                        role: role.clone(),
                        key: Some(*key),
                        index: e.index,
                    },
                );
            }
            Kind::StaffRevoked { name } => {
                if let Some(r) = reg.get_mut(name) {
                    r.key = None;
                    r.index = e.index;
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    let staff = store::staff::list(ctx.conn)?;
    for s in &staff {
        let loc = |extra: Option<u64>| {
            let mut v = vec![tr!("audit.loc.staff", name = s.name)];
            if let Some(i) = extra {
                v.push(tr!("audit.loc.entry", index = i));
            }
            v
        };
        let r = reg.get(&s.name);
        if s.active {
            match r {
                None | Some(Registered { key: None, .. }) => out.push(Finding::new(
                    "log.staff_unregistered",
                    Severity::High,
                    tr!("audit.staff.unregistered", name = s.name),
                    loc(r.map(|r| r.index)),
                    tr!("audit.staff.unregistered_fix"),
                )),
                Some(r) if r.key != Some(s.verify_key) => out.push(Finding::new(
                    "log.staff_key_mismatch",
                    Severity::Critical,
                    tr!("audit.staff.key_mismatch", name = s.name),
                    loc(Some(r.index)),
                    tr!("audit.staff.key_mismatch_fix"),
                )),
                Some(r) if r.role != s.role.as_str() => out.push(Finding::new(
                    "log.staff_role_mismatch",
                    Severity::High,
                    tr!(
                        "audit.staff.role_mismatch",
                        name = s.name,
                        table = s.role,
                        log = r.role
                    ),
                    loc(Some(r.index)),
                    tr!("audit.staff.role_mismatch_fix"),
                )),
                _ => {}
            }
        } else if let Some(r) = r.filter(|r| r.key.is_some()) {
            out.push(Finding::new(
                "log.staff_not_revoked",
                Severity::High,
                tr!("audit.staff.not_revoked", name = s.name),
                loc(Some(r.index)),
                tr!("audit.staff.not_revoked_fix"),
            ));
        }
    }
    let mut names: Vec<(&String, &Registered)> = reg
        .iter()
        .filter(|(n, r)| r.key.is_some() && !staff.iter().any(|s| &s.name == *n))
        .collect();
    names.sort_by_key(|(_, r)| r.index);
    for (name, r) in names {
        out.push(Finding::new(
            "log.staff_unknown",
            Severity::High,
            tr!("audit.staff.unknown", name = name),
            vec![
                tr!("audit.loc.staff", name = name),
                tr!("audit.loc.entry", index = r.index),
            ],
            tr!("audit.staff.unknown_fix"),
        ));
    }
    Ok(Outcome::Ran(out))
}
