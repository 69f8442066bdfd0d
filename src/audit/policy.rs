//! Policy changes (issue 10 item 5): every change that lowered protection is reported with its
//! diff; one made on a vault with records without a valid supervisor approval, one signed by
//! someone not an admin, or a policy in force that is not the newest one applied, is critical.

use std::collections::{HashMap, HashSet};

use super::{Ctx, Finding, Outcome, Severity};
use crate::crypto::hex;
use crate::error::Result;
use crate::log::{Entry, Kind};
use crate::tr;
use crate::vault::PolicyDetail;

fn critical(check: &'static str, what: String, index: u64) -> Finding {
    Finding::new(
        check,
        Severity::Critical,
        what,
        vec![tr!("audit.loc.entry", index = index)],
        tr!("audit.fix.policy_unapproved"),
    )
}

/// Walks the log's policy changes in order.
pub fn check(ctx: &Ctx) -> Result<Outcome> {
    let reg = ctx.session.registry();
    let role_at = |name: &str, index: u64| reg.at(name, index).map(|r| r.role.clone());
    let by_index: HashMap<u64, &Entry> = ctx.entries.iter().map(|e| (e.index, e)).collect();
    let mut out = Vec::new();
    let mut records_seen = false;
    let mut last_apply: Option<(u64, String)> = None;
    let mut used: HashSet<u64> = HashSet::new();
    for e in &ctx.entries {
        if matches!(e.kind, Kind::RecordsCommitted) {
            records_seen = true;
        }
        if !matches!(e.kind, Kind::PolicyChange) {
            continue;
        }
        let Some(d) = PolicyDetail::parse(&e.detail) else {
            continue;
        };
        if d.approve {
            continue;
        }
        if role_at(&e.actor, e.index).as_deref() != Some("admin") {
            out.push(critical(
                "policy.signer",
                tr!("audit.policy.signer", index = e.index, staff = &e.actor),
                e.index,
            ));
        }
        if d.lowers() {
            out.push(Finding::new(
                "policy.lowered",
                Severity::High,
                tr!(
                    "audit.policy.lowered",
                    index = e.index,
                    staff = &e.actor,
                    diff = d.items.join("; ")
                ),
                vec![tr!("audit.loc.entry", index = e.index)],
                tr!("audit.fix.policy_lowered"),
            ));
            if records_seen {
                let since = last_apply.as_ref().map(|l| l.0);
                let valid = d.approval.is_some_and(|a| {
                    let Some(ap) = by_index.get(&a) else {
                        return false;
                    };
                    let ok = a < e.index
                        && since.is_none_or(|s| a > s)
                        && !used.contains(&a)
                        && matches!(ap.kind, Kind::PolicyChange)
                        && PolicyDetail::parse(&ap.detail)
                            .is_some_and(|x| x.approve && x.digest == d.digest)
                        && role_at(&ap.actor, a).as_deref() == Some("supervisor")
                        && e.approver.as_deref() == Some(ap.actor.as_str());
                    used.insert(a);
                    ok
                });
                if !valid {
                    out.push(critical(
                        "policy.unapproved",
                        tr!(
                            "audit.policy.unapproved",
                            index = e.index,
                            staff = &e.actor,
                            diff = d.items.join("; ")
                        ),
                        e.index,
                    ));
                }
            }
        }
        last_apply = Some((e.index, d.digest));
    }
    // The session checked the stored policy against the kind index; this checks it against
    // every entry (a changed kind column cannot hide a newer policy change here).
    let stored = hex(&ctx.policy.source_digest);
    if let Some((i, digest)) = last_apply {
        if digest != stored {
            out.push(critical(
                "policy.in_force",
                tr!("audit.policy.in_force", index = i),
                i,
            ));
        }
    }
    Ok(Outcome::Ran(out))
}
