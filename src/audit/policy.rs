//! Policy changes (issue 10 item 5): every change that lowered protection is reported with its
//! diff; one made on a vault with records without a valid supervisor approval, one signed by
//! someone not an admin, one whose signed diff hides a lowering that the kept policy files
//! show, or a policy in force that is not the newest one applied, is critical.

use std::collections::{HashMap, HashSet};

use super::{Ctx, Finding, Outcome, Severity};
use crate::crypto::hex;
use crate::error::Result;
use crate::log::{Entry, Kind};
use crate::policy::{diff, Policy};
use crate::tr;
use crate::vault::policy_auth;
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
    // The policy in force before each apply, from the files kept at its apply (when present).
    let mut prev: Option<Policy> = None;
    let stored = hex(&ctx.policy.source_digest);
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
        let mut this = policy_auth::from_history(ctx.conn, &d.digest)?;
        if this.is_none() && d.digest == stored {
            // The policy in force: its files are the stored copy the session checked.
            this = Some(ctx.policy.clone());
        }
        if this.is_none() {
            out.push(Finding::new(
                "policy.history_missing",
                Severity::Medium,
                tr!("audit.policy.history_missing", index = e.index),
                vec![tr!("audit.loc.entry", index = e.index)],
                tr!("audit.fix.policy_unapproved"),
            ));
        }
        // The diff recomputed from the kept files: a signed diff that hides a lowering is
        // itself a finding, and the lowering counts either way.
        let computed = match (&prev, &this) {
            (Some(a), Some(b)) => Some(diff::diff(a, b)),
            _ => None,
        };
        let computed_lowers = computed
            .as_ref()
            .is_some_and(|c| c.iter().any(diff::Change::lowers));
        if computed_lowers && !d.lowers() {
            out.push(critical(
                "policy.diff_mismatch",
                tr!(
                    "audit.policy.diff_mismatch",
                    index = e.index,
                    staff = &e.actor,
                    diff = diff::summary(computed.as_deref().unwrap_or_default())
                ),
                e.index,
            ));
        }
        let shown = if d.lowers() {
            d.items.join("; ")
        } else {
            diff::summary(computed.as_deref().unwrap_or_default())
        };
        prev = this;
        if d.lowers() || computed_lowers {
            out.push(Finding::new(
                "policy.lowered",
                Severity::High,
                tr!(
                    "audit.policy.lowered",
                    index = e.index,
                    staff = &e.actor,
                    diff = &shown
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
                            diff = &shown
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
