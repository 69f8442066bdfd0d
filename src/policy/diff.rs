//! What a policy change does to protection (docs/policy.md, "Changing the policy of a vault in
//! use"). A change that lowers protection needs a supervisor's co-signature on a vault with
//! records; the diff is what people see before they sign, and what the log entry carries.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{Action, Policy, Role};
use crate::tr;

/// One difference between the policy in force and a proposed one. Ids and names only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A template's default tier goes down (lowers protection). `label`: the template's
    /// label in the current language, for people.
    TierLowered {
        kind: String,
        label: String,
        from: u8,
        to: u8,
    },
    /// A template's default tier goes up.
    TierRaised {
        kind: String,
        label: String,
        from: u8,
        to: u8,
    },
    /// A role may do something new (lowers protection).
    ActionGained { role: Role, action: Action },
    /// A role may no longer do something.
    ActionLost { role: Role, action: Action },
    /// A role now sees every case (lowers protection).
    AllCasesGained { role: Role },
    /// A role now sees only its assigned cases.
    AllCasesLost { role: Role },
    /// Who may read the top tier changes (lowers protection either way: it needs a second
    /// person).
    TopReaders { from: Vec<Role>, to: Vec<Role> },
    /// A template is added.
    TemplateAdded { kind: String, label: String },
    /// A template is removed.
    TemplateRemoved { kind: String, label: String },
    /// Fewer witness cosignatures are needed (lowers protection).
    WitnessQuorumLowered { from: usize, to: usize },
    /// More witness cosignatures are needed.
    WitnessQuorumRaised { from: usize, to: usize },
    /// A witness is removed (lowers protection: its view no longer counts).
    WitnessRemoved { name: String },
    /// A witness's key or URL changes (lowers protection: a new key could be anyone's).
    WitnessChanged { name: String },
    /// A witness is added (lowers protection: with the quorum unchanged, a witness the
    /// policy's author runs can stand in for the others).
    WitnessAdded { name: String },
    /// The agency's time zone changes (lowers protection: moving where each day ends can keep
    /// a consent in force, or a deadline open, hours longer).
    TimeZoneChanged { from: String, to: String },
}

impl Change {
    /// Whether this change lowers protection (needs a supervisor's co-signature).
    pub fn lowers(&self) -> bool {
        matches!(
            self,
            Change::TierLowered { .. }
                | Change::ActionGained { .. }
                | Change::AllCasesGained { .. }
                | Change::TopReaders { .. }
                | Change::WitnessQuorumLowered { .. }
                | Change::WitnessRemoved { .. }
                | Change::WitnessChanged { .. }
                | Change::WitnessAdded { .. }
                | Change::TimeZoneChanged { .. }
        )
    }

    /// The short form for the log entry's detail (`lower supervision 3->1`,
    /// `caseworker +all_cases`). [`is_lowering_item`] recognises the lowering ones.
    pub fn short(&self) -> String {
        let roles = |v: &[Role]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.iter().map(Role::as_str).collect::<Vec<_>>().join(",")
            }
        };
        match self {
            Change::TierLowered { kind, from, to, .. } => format!("lower {kind} {from}->{to}"),
            Change::TierRaised { kind, from, to, .. } => format!("raise {kind} {from}->{to}"),
            Change::ActionGained { role, action } => format!("{role} +{action}"),
            Change::ActionLost { role, action } => format!("{role} -{action}"),
            Change::AllCasesGained { role } => format!("{role} +all_cases"),
            Change::AllCasesLost { role } => format!("{role} -all_cases"),
            Change::TopReaders { from, to } => {
                format!("top-tier readers {}->{}", roles(from), roles(to))
            }
            Change::TemplateAdded { kind, .. } => format!("template +{kind}"),
            Change::TemplateRemoved { kind, .. } => format!("template -{kind}"),
            // Lowering witness items start with "lower " (see [`is_lowering_item`]).
            Change::WitnessQuorumLowered { from, to } => {
                format!("lower witness_quorum {from}->{to}")
            }
            Change::WitnessQuorumRaised { from, to } => {
                format!("raise witness_quorum {from}->{to}")
            }
            Change::WitnessRemoved { name } => format!("lower witness removed {name}"),
            Change::WitnessChanged { name } => format!("lower witness changed {name}"),
            Change::WitnessAdded { name } => format!("lower witness added {name}"),
            Change::TimeZoneChanged { from, to } => format!("lower time_zone {from}->{to}"),
        }
    }

    /// The change for people, in the current language.
    pub fn describe(&self) -> String {
        let roles = |v: &[Role]| {
            if v.is_empty() {
                tr!("policy.diff.nobody")
            } else {
                v.iter().map(Role::label).collect::<Vec<_>>().join("、")
            }
        };
        match self {
            Change::TierLowered {
                kind,
                label,
                from,
                to,
            } => tr!(
                "policy.diff.tier_lowered",
                kind = kind,
                label = label,
                from = from,
                to = to
            ),
            Change::TierRaised {
                kind,
                label,
                from,
                to,
            } => tr!(
                "policy.diff.tier_raised",
                kind = kind,
                label = label,
                from = from,
                to = to
            ),
            Change::ActionGained { role, action } => tr!(
                "policy.diff.action_gained",
                role = role.label(),
                action = action.label()
            ),
            Change::ActionLost { role, action } => tr!(
                "policy.diff.action_lost",
                role = role.label(),
                action = action.label()
            ),
            Change::AllCasesGained { role } => {
                tr!("policy.diff.all_cases_gained", role = role.label())
            }
            Change::AllCasesLost { role } => tr!("policy.diff.all_cases_lost", role = role.label()),
            Change::TopReaders { from, to } => tr!(
                "policy.diff.top_readers",
                from = roles(from),
                to = roles(to)
            ),
            Change::TemplateAdded { kind, label } => {
                tr!("policy.diff.template_added", kind = kind, label = label)
            }
            Change::TemplateRemoved { kind, label } => {
                tr!("policy.diff.template_removed", kind = kind, label = label)
            }
            Change::WitnessQuorumLowered { from, to } => {
                tr!("policy.diff.witness_quorum_lowered", from = from, to = to)
            }
            Change::WitnessQuorumRaised { from, to } => {
                tr!("policy.diff.witness_quorum_raised", from = from, to = to)
            }
            Change::WitnessRemoved { name } => tr!("policy.diff.witness_removed", name = name),
            Change::WitnessChanged { name } => tr!("policy.diff.witness_changed", name = name),
            Change::WitnessAdded { name } => tr!("policy.diff.witness_added", name = name),
            Change::TimeZoneChanged { from, to } => {
                tr!("policy.diff.time_zone", from = from, to = to)
            }
        }
    }
}

/// Whether an item of a log entry's diff summary (see [`Change::short`]) lowers protection.
pub fn is_lowering_item(item: &str) -> bool {
    item.starts_with("lower ")
        || item.starts_with("top-tier readers ")
        || (!item.starts_with("template ") && item.contains(" +"))
}

/// Most bytes of the diff summary in a log entry (the detail field holds 1024 in all).
pub const SUMMARY_MAX: usize = 900;

/// The changes from `old` to `new`, lowering ones first.
pub fn diff(old: &Policy, new: &Policy) -> Vec<Change> {
    let mut out = Vec::new();
    if old.time_zone != new.time_zone {
        out.push(Change::TimeZoneChanged {
            from: old.time_zone.clone(),
            to: new.time_zone.clone(),
        });
    }
    for (kind, t) in &new.templates {
        match old.templates.get(kind) {
            Some(o) if t.default_tier < o.default_tier => out.push(Change::TierLowered {
                kind: kind.clone(),
                label: t.label(),
                from: o.default_tier,
                to: t.default_tier,
            }),
            Some(o) if t.default_tier > o.default_tier => out.push(Change::TierRaised {
                kind: kind.clone(),
                label: t.label(),
                from: o.default_tier,
                to: t.default_tier,
            }),
            Some(_) => {}
            None => out.push(Change::TemplateAdded {
                kind: kind.clone(),
                label: t.label(),
            }),
        }
    }
    for (kind, t) in &old.templates {
        if !new.templates.contains_key(kind) {
            out.push(Change::TemplateRemoved {
                kind: kind.clone(),
                label: t.label(),
            });
        }
    }
    for role in Role::ALL {
        for action in Action::ALL {
            match (old.allows(role, action), new.allows(role, action)) {
                (false, true) => out.push(Change::ActionGained { role, action }),
                (true, false) => out.push(Change::ActionLost { role, action }),
                _ => {}
            }
        }
        match (old.all_cases(role), new.all_cases(role)) {
            (false, true) => out.push(Change::AllCasesGained { role }),
            (true, false) => out.push(Change::AllCasesLost { role }),
            _ => {}
        }
    }
    for w in &old.witnesses {
        match new.witnesses.iter().find(|n| n.name == w.name) {
            None => out.push(Change::WitnessRemoved {
                name: w.name.clone(),
            }),
            Some(n) if n != w => out.push(Change::WitnessChanged {
                name: w.name.clone(),
            }),
            Some(_) => {}
        }
    }
    for w in &new.witnesses {
        if !old.witnesses.iter().any(|o| o.name == w.name) {
            out.push(Change::WitnessAdded {
                name: w.name.clone(),
            });
        }
    }
    if new.witness_quorum < old.witness_quorum {
        out.push(Change::WitnessQuorumLowered {
            from: old.witness_quorum,
            to: new.witness_quorum,
        });
    } else if new.witness_quorum > old.witness_quorum {
        out.push(Change::WitnessQuorumRaised {
            from: old.witness_quorum,
            to: new.witness_quorum,
        });
    }
    let (from, to) = (top_readers(old), top_readers(new));
    if from != to {
        out.push(Change::TopReaders {
            from: from.into_iter().collect(),
            to: to.into_iter().collect(),
        });
    }
    out.sort_by_key(|c| !c.lowers());
    out
}

/// The roles that may read records of the top tier: `record.read` and its keys.
pub fn top_readers(p: &Policy) -> BTreeSet<Role> {
    let top = p.max_tier();
    Role::ALL
        .into_iter()
        .filter(|r| p.allows(*r, Action::RecordRead) && p.readable_tiers(*r).contains(&top))
        .collect()
}

/// The short summary of `changes` for a log entry: items joined by `; `, lowering ones first,
/// cut at [`SUMMARY_MAX`] bytes with `; …` (the lowering items come first so they survive).
pub fn summary(changes: &[Change]) -> String {
    let mut s = String::new();
    for c in changes {
        let item = c.short();
        let sep = if s.is_empty() { "" } else { "; " };
        if s.len() + sep.len() + item.len() > SUMMARY_MAX {
            s.push_str("; …");
            break;
        }
        s.push_str(sep);
        s.push_str(&item);
    }
    s
}
