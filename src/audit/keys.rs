//! Key wrappings match policy: only supervisors (and the recovery key) hold the
//! supervisor-only tier, nobody holds a tier their role may not read, departed staff hold
//! nothing, admins and auditors hold no case key, and caseworkers hold keys only of cases
//! they are assigned to.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{capped, Ctx, Finding, Outcome, Severity};
use crate::error::Result;
use crate::policy::Role;
use crate::store::{self, keys::RECOVERY};
use crate::tr;

/// Ids listed per finding before "… and N more".
const MAX_IDS: usize = 50;

pub fn check(ctx: &Ctx) -> Result<Outcome> {
    let staff: HashMap<String, store::staff::StaffRow> = store::staff::list(ctx.conn)?
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect();
    let mut assigned: HashSet<(i64, String)> = HashSet::new();
    {
        let mut st = ctx.conn.prepare("SELECT case_id, staff FROM assignments")?;
        for r in st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
            assigned.insert(r?);
        }
    }
    let top: Vec<u8> = ctx
        .policy
        .tiers
        .iter()
        .filter(|t| t.supervisor_only)
        .map(|t| t.level)
        .collect();

    // (check id, holder) -> cases; grouped so 10,000 cases make one finding per holder.
    let mut groups: BTreeMap<(&'static str, String), Vec<i64>> = BTreeMap::new();
    let mut add = |check: &'static str, holder: &str, case: i64| {
        let v = groups.entry((check, holder.to_string())).or_default();
        if v.last() != Some(&case) {
            v.push(case);
        }
    };
    for w in store::keys::list_wraps(ctx.conn, None)? {
        if w.holder == RECOVERY {
            continue;
        }
        let Some(s) = staff.get(&w.holder) else {
            add("keys.unknown_holder", &w.holder, w.case_id);
            continue;
        };
        if !s.active {
            add("keys.departed_holder", &w.holder, w.case_id);
            continue;
        }
        if matches!(s.role, Role::Admin | Role::Auditor) {
            add("keys.role_holds_keys", &w.holder, w.case_id);
            continue;
        }
        if s.role != Role::Supervisor && w.tiers.iter().any(|t| top.contains(t)) {
            add("keys.restricted_tier", &w.holder, w.case_id);
        } else {
            let readable = ctx.policy.readable_tiers(s.role);
            if w.tiers.iter().any(|t| !readable.contains(t)) {
                add("keys.tier_beyond_role", &w.holder, w.case_id);
            }
        }
        if !ctx.policy.all_cases(s.role) && !assigned.contains(&(w.case_id, w.holder.clone())) {
            add("keys.unassigned_holder", &w.holder, w.case_id);
        }
    }
    let mut out = Vec::new();
    for ((check, holder), cases) in groups {
        let n = cases.len();
        let role = staff
            .get(&holder)
            .map(|s| s.role.label())
            .unwrap_or_else(|| "?".into());
        let (sev, what, fix) = match check {
            "keys.unknown_holder" => (
                Severity::High,
                tr!("audit.keys.unknown", name = holder, count = n),
                tr!("audit.keys.unknown_fix"),
            ),
            "keys.departed_holder" => (
                Severity::Critical,
                tr!("audit.keys.departed", name = holder, count = n),
                tr!("audit.keys.departed_fix", name = holder),
            ),
            "keys.role_holds_keys" => (
                Severity::Critical,
                tr!("audit.keys.role", name = holder, role = role, count = n),
                tr!("audit.keys.role_fix", name = holder),
            ),
            "keys.restricted_tier" => (
                Severity::Critical,
                tr!(
                    "audit.keys.restricted",
                    name = holder,
                    role = role,
                    count = n
                ),
                tr!("audit.keys.restricted_fix"),
            ),
            "keys.tier_beyond_role" => (
                Severity::High,
                tr!("audit.keys.beyond", name = holder, role = role, count = n),
                tr!("audit.keys.beyond_fix"),
            ),
            _ => (
                Severity::Medium,
                tr!("audit.keys.unassigned", name = holder, count = n),
                tr!("audit.keys.unassigned_fix"),
            ),
        };
        let mut loc = vec![tr!("audit.loc.staff", name = holder)];
        loc.extend(capped(
            cases
                .into_iter()
                .map(|c| tr!("audit.loc.case", id = c))
                .collect(),
            MAX_IDS,
        ));
        out.push(Finding::new(check, sev, what, loc, fix));
    }
    // A removal whose database key rotation has not run: the person may still open it.
    let pending = crate::vault::pending_rotation(ctx.conn, ctx.dir)?;
    if !pending.is_empty() {
        let names = pending.join(", ");
        out.push(Finding::new(
            "keys.rotation_pending",
            Severity::High,
            tr!("audit.keys.rotation_pending", names = names),
            pending
                .iter()
                .map(|n| tr!("audit.loc.staff", name = n))
                .collect(),
            tr!("audit.keys.rotation_pending_fix"),
        ));
    }
    Ok(Outcome::Ran(out))
}
