//! The database against the authority (issue 10): every security row must match a statement
//! signed by someone entitled to make it, and every signed statement must still be reflected in
//! the database. Each mismatch is a finding naming the row.

use std::collections::{BTreeMap, HashMap};

use super::{capped, Ctx, Finding, Outcome, Severity};
use crate::error::Result;
use crate::log::{Kind, KindCode};
use crate::store;
use crate::tr;
use crate::vault::commit;

fn finding(check: &'static str, what: String, location: Vec<String>) -> Finding {
    Finding::new(
        check,
        Severity::Critical,
        what,
        location,
        tr!("audit.fix.authority"),
    )
}

/// Runs every cross-check.
pub fn check(ctx: &Ctx) -> Result<Outcome> {
    let mut out = Vec::new();
    let macs = case_macs(ctx)?;
    staff(ctx, &mut out)?;
    assignments(ctx, &macs, &mut out)?;
    case_keys(ctx, &mut out)?;
    conflicting_statements(ctx, &macs, &mut out)?;
    consents(ctx, &mut out)?;
    agencies(ctx, &mut out)?;
    records(ctx, &mut out)?;
    Ok(Outcome::Ran(out))
}

/// Each staff row's keys, role and standing are the registry's.
fn staff(ctx: &Ctx, out: &mut Vec<Finding>) -> Result<()> {
    let registry = ctx.session.registry();
    for row in store::staff::list(ctx.conn)? {
        let ok = registry.member(&row.name).is_some_and(|m| {
            m.key.to_bytes() == row.verify_key
                && m.recipient.as_deref() == Some(row.age_recipient.as_str())
                && m.role == row.role.as_str()
                && m.active == row.active
        });
        if !ok {
            out.push(finding(
                "authority.staff",
                tr!("audit.authority.staff", name = row.name),
                vec![tr!("audit.loc.staff", name = row.name)],
            ));
        }
    }
    Ok(())
}

/// Two signed statements for one case epoch: someone re-made a case's keys.
fn conflicting_statements(
    ctx: &Ctx,
    macs: &HashMap<[u8; 32], i64>,
    out: &mut Vec<Finding>,
) -> Result<()> {
    let mut seen: BTreeMap<(i64, String), Vec<u64>> = BTreeMap::new();
    for e in ctx
        .entries
        .iter()
        .filter(|e| e.kind.code() == KindCode::CaseKeys)
    {
        if let Some(case) = e.case_mac.and_then(|m| macs.get(&m)) {
            seen.entry((*case, e.detail.clone()))
                .or_default()
                .push(e.index);
        }
    }
    // The newest signed epoch of each case must still be in the database: deleting it rolls
    // the case back to keys someone unassigned may hold.
    let mut newest: BTreeMap<i64, i64> = BTreeMap::new();
    for (case, detail) in seen.keys() {
        if let Some(n) = detail
            .strip_prefix("epoch ")
            .and_then(|n| n.parse::<i64>().ok())
        {
            let e = newest.entry(*case).or_insert(n);
            *e = (*e).max(n);
        }
    }
    for (case, n) in newest {
        let have = store::keys::current_epoch(ctx.conn, case)?.unwrap_or(0);
        if have < n {
            out.push(finding(
                "authority.case_keys_rolled_back",
                tr!(
                    "audit.authority.case_keys_rolled_back",
                    case = case,
                    epoch = n,
                    have = have
                ),
                vec![tr!("audit.loc.case", id = case)],
            ));
        }
    }
    for ((case, detail), idx) in seen.into_iter().filter(|(_, v)| v.len() > 1) {
        let mut loc = vec![tr!("audit.loc.case", id = case)];
        loc.extend(idx.iter().map(|i| tr!("audit.loc.entry", index = i)));
        out.push(finding(
            "authority.case_keys_conflict",
            tr!(
                "audit.authority.case_keys_conflict",
                case = case,
                what = detail
            ),
            loc,
        ));
    }
    Ok(())
}

/// Each case's keyed id as the log stores it, mapped back to the case (the key read once).
fn case_macs(ctx: &Ctx) -> Result<HashMap<[u8; 32], i64>> {
    let raw = zeroize::Zeroizing::new(store::meta::require(ctx.conn, "id_hmac_key")?);
    let key: zeroize::Zeroizing<[u8; 32]> =
        zeroize::Zeroizing::new(raw.as_slice().try_into().map_err(|_| {
            crate::error::Error::Tampered {
                what: "vault setting",
                id: "id_hmac_key".into(),
            }
        })?);
    Ok(store::cases::all_ids(ctx.conn)?
        .into_iter()
        .map(|c| (crate::log::id_mac(&key, "case", &c.to_string()), c))
        .collect())
}

/// Each assignment row has a valid signed statement; the log's last word on each (case,
/// staff) is the one the database shows.
fn assignments(ctx: &Ctx, macs: &HashMap<[u8; 32], i64>, out: &mut Vec<Finding>) -> Result<()> {
    let s = ctx.session;
    let mut rows: Vec<(i64, String)> = Vec::new();
    for case in store::cases::all_ids(ctx.conn)? {
        for w in store::cases::workers(ctx.conn, case)? {
            rows.push((case, w));
        }
    }
    for (case, w) in &rows {
        if !matches!(s.verified_assignment(ctx.conn, *case, w), Ok(true)) {
            out.push(finding(
                "authority.assignment",
                tr!("audit.authority.assignment", case = case, staff = w),
                vec![
                    tr!("audit.loc.case", id = case),
                    tr!("audit.loc.staff", name = w),
                ],
            ));
        }
    }
    // The last assignment entry per (case, staff) in the log.
    let mut last: BTreeMap<(i64, String), (bool, u64)> = BTreeMap::new();
    for e in ctx
        .entries
        .iter()
        .filter(|e| e.kind.code() == KindCode::Assignment)
    {
        let Some(case) = e.case_mac.and_then(|m| macs.get(&m)) else {
            continue;
        };
        let (assigned, staff) = if let Some(w) = e.detail.strip_prefix("assign ") {
            (true, w)
        } else if let Some(w) = e.detail.strip_prefix("unassign ") {
            (false, w)
        } else {
            continue;
        };
        last.insert((*case, staff.to_string()), (assigned, e.index));
    }
    let registry = s.registry();
    for ((case, staff), (assigned, index)) in last {
        // Offboarding ends every assignment of the person revoked.
        let active = registry.member(&staff).is_some_and(|m| m.active);
        let present = rows.iter().any(|(c, w)| *c == case && *w == staff);
        if !active && !present {
            continue;
        }
        if assigned != present {
            out.push(finding(
                "authority.assignment",
                if present {
                    tr!(
                        "audit.authority.unassigned_back",
                        case = case,
                        staff = staff
                    )
                } else {
                    tr!(
                        "audit.authority.assignment_missing",
                        case = case,
                        staff = staff
                    )
                },
                vec![
                    tr!("audit.loc.case", id = case),
                    tr!("audit.loc.staff", name = staff),
                    tr!("audit.loc.entry", index = index),
                ],
            ));
        }
    }
    Ok(())
}

/// Each case key epoch's public key rows match its signed statement.
fn case_keys(ctx: &Ctx, out: &mut Vec<Finding>) -> Result<()> {
    for (case, epoch, tiers) in store::keys::all_publics(ctx.conn)? {
        let ok = match ctx.session.verified_epoch(ctx.conn, case, epoch) {
            Ok(crate::vault::authority::Claim::CaseKeys { tiers: signed, .. }) => {
                let mut signed = signed;
                signed.sort();
                let mut rows = tiers.clone();
                rows.sort();
                signed == rows
            }
            _ => false,
        };
        if !ok {
            out.push(finding(
                "authority.case_keys",
                tr!("audit.authority.case_keys", case = case, epoch = epoch),
                vec![tr!("audit.loc.case", id = case)],
            ));
        }
    }
    Ok(())
}

/// Each consent row matches what its worker signed, revocations included.
fn consents(ctx: &Ctx, out: &mut Vec<Finding>) -> Result<()> {
    if !ctx.has_table("consents")? {
        return Ok(());
    }
    for c in store::consents::list(ctx.conn, None)? {
        if ctx.session.verified_consent(&c).is_err() {
            out.push(finding(
                "authority.consent",
                tr!("audit.authority.consent", id = c.id),
                vec![tr!("audit.loc.consent", id = c.id)],
            ));
        }
    }
    Ok(())
}

/// Each partner agency's keys are the ones an admin signed.
fn agencies(ctx: &Ctx, out: &mut Vec<Finding>) -> Result<()> {
    if !ctx.has_table("agencies")? {
        return Ok(());
    }
    for a in store::agencies::list(ctx.conn)? {
        if ctx.session.verified_agency(&a).is_err() {
            out.push(finding(
                "authority.agency",
                tr!("audit.authority.agency", name = a.name),
                vec![a.name.clone()],
            ));
        }
    }
    Ok(())
}

/// Every record is covered by a signed commitment, and every commitment's records are all
/// there, unchanged.
fn records(ctx: &Ctx, out: &mut Vec<Finding>) -> Result<()> {
    let mut committed: HashMap<i64, u64> = HashMap::new();
    for e in ctx
        .entries
        .iter()
        .filter(|e| matches!(e.kind, Kind::RecordsCommitted))
    {
        let Some((first, last)) = commit::parse_detail(&e.detail) else {
            continue;
        };
        let rows = commit::stored_batch(ctx.conn, first, last)?;
        let mut missing = Vec::new();
        for id in first..=last {
            committed.insert(id, e.index);
            if !rows.iter().any(|r| r.0 == id) {
                missing.push(id);
            }
        }
        if !missing.is_empty() {
            out.push(finding(
                "authority.record_missing",
                tr!("audit.authority.record_missing", count = missing.len()),
                capped(
                    missing
                        .iter()
                        .map(|id| tr!("audit.loc.record", id = id))
                        .chain([tr!("audit.loc.entry", index = e.index)])
                        .collect(),
                    20,
                ),
            ));
            continue;
        }
        let hashes = rows;
        if Some(commit::batch_digest(&hashes)) != e.disclosed_sha256 {
            out.push(finding(
                "authority.record_changed",
                tr!("audit.authority.record_changed", first = first, last = last),
                vec![tr!("audit.loc.entry", index = e.index)],
            ));
        }
    }
    let mut uncommitted = Vec::new();
    for (id, index) in store::records::commit_indexes(ctx.conn)? {
        // The row must name the entry that commits it (it is what readers trust).
        if index.is_none() || committed.get(&id).map(|i| *i as i64) != index {
            uncommitted.push(tr!("audit.loc.record", id = id));
        }
    }
    if !uncommitted.is_empty() {
        out.push(finding(
            "authority.record_uncommitted",
            tr!(
                "audit.authority.record_uncommitted",
                count = uncommitted.len()
            ),
            capped(uncommitted, 20),
        ));
    }
    Ok(())
}
