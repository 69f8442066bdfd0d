//! The policy in force is signed, and lowering it needs a second person (issue 10 item 5,
//! docs/policy.md, "Changing the policy of a vault in use").
//!
//! `meta.policy_sources` is only a copy: a session opens only if its digest is the one named
//! by the newest `policy_change` apply entry, signed by an admin. A change that lowers
//! protection on a vault with records needs a `policy_change` approve entry for exactly that
//! policy, signed by a supervisor after the policy in force was applied.

use ed25519_dalek::{Signature, Verifier};
use rusqlite::Connection;
use serde::Serialize;

use super::authority::has_role;
use super::Session;
use crate::crypto::hex;
use crate::error::{Error, Result};
use crate::log::{self, Entry, Kind, KindCode, Registry};
use crate::policy::diff::{self, Change};
use crate::policy::{Action, Policy, Role};
use crate::store;
use crate::tr;

/// What a `policy_change` entry says: apply (`policy <digest>`) or approve (`approve
/// <digest>`), then `; approval <index>` for an apply that a supervisor co-signed, then the
/// diff summary's items, all joined by `; `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyDetail {
    pub approve: bool,
    /// Hex SHA-256 ([`Policy::digest`]) of the policy applied or approved.
    pub digest: String,
    /// The index of the approve entry an apply relied on.
    pub approval: Option<u64>,
    /// Diff summary items ([`Change::short`]).
    pub items: Vec<String>,
}

impl PolicyDetail {
    /// Parses an entry's detail; `None` if it is not of this form.
    pub fn parse(detail: &str) -> Option<PolicyDetail> {
        let mut parts = detail.split("; ");
        let head = parts.next()?;
        let (approve, digest) = if let Some(d) = head.strip_prefix("policy ") {
            (false, d)
        } else if let Some(d) = head.strip_prefix("approve ") {
            (true, d)
        } else {
            return None;
        };
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut approval = None;
        let mut items = Vec::new();
        for p in parts {
            match p.strip_prefix("approval ") {
                Some(i) if approval.is_none() && items.is_empty() => {
                    approval = Some(i.parse().ok()?)
                }
                _ => items.push(p.to_string()),
            }
        }
        Some(PolicyDetail {
            approve,
            digest: digest.to_ascii_lowercase(),
            approval,
            items,
        })
    }

    /// The detail text (at most [`log::MAX_TEXT`] bytes: the summary is capped).
    pub fn encode(&self) -> String {
        let mut s = format!(
            "{} {}",
            if self.approve { "approve" } else { "policy" },
            self.digest
        );
        if let Some(i) = self.approval {
            s.push_str(&format!("; approval {i}"));
        }
        for item in &self.items {
            s.push_str("; ");
            s.push_str(item);
        }
        s
    }

    /// Whether the diff it carries lowers protection.
    pub fn lowers(&self) -> bool {
        self.items.iter().any(|i| diff::is_lowering_item(i))
    }
}

/// A proposed policy checked against the one in force.
pub struct Proposal {
    pub policy: Policy,
    pub digest: [u8; 32],
    pub changes: Vec<Change>,
    /// The change lowers protection and the vault has records: a supervisor must approve it.
    pub needs_cosign: bool,
}

/// What `policy apply` or `policy approve` did.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyOutcome {
    /// Hex digest of the policy.
    pub digest: String,
    pub changes: Vec<Change>,
    /// Whether the change lowers protection.
    pub lowers: bool,
    /// The log index of the entry written.
    pub log_index: u64,
    /// For an apply: the supervisor's approve entry it relied on, and who signed it.
    pub approval: Option<(u64, String)>,
}

fn tampered() -> Error {
    Error::Tampered {
        what: "policy",
        id: "policy_sources".into(),
    }
}

/// Whether `stored` (entry `e`) is signed by its actor's key in force at its index, and that
/// registration has `role`.
fn signed_by_role(registry: &Registry, e: &Entry, stored: &[u8], role: Role) -> bool {
    let Some(reg) = registry.at(&e.actor, e.index) else {
        return false;
    };
    let Ok((signed, sig)) = log::split_stored(stored) else {
        return false;
    };
    has_role(reg, role)
        && reg
            .key
            .verify(&log::signed_message(signed), &Signature::from_bytes(&sig))
            .is_ok()
}

/// Checks the stored policy's `digest` against the newest apply entry: the same, signed by an
/// admin. Returns that entry's index. O(log n) through the log's kind index (approve entries newer
/// than it are skipped; there are few).
pub(super) fn check_in_force(
    conn: &Connection,
    registry: &Registry,
    digest: &[u8; 32],
) -> Result<u64> {
    let mut found: Option<(Entry, Vec<u8>, PolicyDetail)> = None;
    log::walk_kind_desc(conn, KindCode::PolicyChange, &mut |e, stored| {
        match PolicyDetail::parse(&e.detail) {
            Some(d) if d.approve => true,
            Some(d) => {
                found = Some((e, stored.to_vec(), d));
                false
            }
            // Not ours: a forged row; the apply entry must still be found and checked.
            None => true,
        }
    })
    .map_err(|_| tampered())?;
    let (e, stored, d) = found.ok_or_else(tampered)?;
    if !matches!(e.kind, Kind::PolicyChange)
        || d.digest != hex(digest)
        || !signed_by_role(registry, &e, &stored, Role::Admin)
    {
        return Err(tampered());
    }
    Ok(e.index)
}

impl Session {
    /// Checks `sources` as a replacement for the policy in force: valid, same tiers, every
    /// kind that records use kept; and what it changes.
    pub fn policy_propose(&self, sources: &[(String, String)]) -> Result<Proposal> {
        let new = Policy::from_sources(sources)?;
        let shape = |p: &Policy| {
            p.tiers
                .iter()
                .map(|t| (t.level, t.supervisor_only))
                .collect::<Vec<_>>()
        };
        if shape(&new) != shape(&self.policy) {
            return Err(Error::PolicyRefused(tr!("vault.policy_tiers_fixed")));
        }
        // Kinds that records already have must stay: their template drives display,
        // retention and access packages.
        let kinds = store::records::kinds(&self.conn)?;
        let missing: Vec<String> = kinds
            .iter()
            .filter(|k| new.template(k).is_none())
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(Error::PolicyInvalid {
                file: crate::policy::TEMPLATES_DIR.to_string(),
                message: tr!("policy.rule.kinds_in_use", kinds = missing.join(", ")),
            });
        }
        let changes = diff::diff(&self.policy, &new);
        // Rows can be deleted by anyone with the database key; the signed log cannot.
        let has_records =
            !kinds.is_empty() || log::has_kind(&self.conn, KindCode::RecordsCommitted)?;
        let needs_cosign = has_records && changes.iter().any(Change::lowers);
        Ok(Proposal {
            policy: new,
            digest: Policy::digest(sources),
            changes,
            needs_cosign,
        })
    }

    /// A supervisor approves exactly the policy `sources` (a signed approve entry). Valid for
    /// one apply, and only until another policy is applied.
    pub fn policy_approve(&mut self, sources: &[(String, String)]) -> Result<PolicyOutcome> {
        if self.role != Role::Supervisor {
            return Err(Error::NotPermitted {
                action: tr!("policy.action.policy_approve"),
                role: self.role.as_str().to_string(),
            });
        }
        let p = self.policy_propose(sources)?;
        let detail = PolicyDetail {
            approve: true,
            digest: hex(&p.digest),
            approval: None,
            items: summary_items(&p.changes),
        };
        let mut e = self.log_entry(Kind::PolicyChange, None)?;
        e.detail = detail.encode();
        e.disclosed_sha256 = Some(p.digest);
        let tx = store::immediate(&self.conn)?;
        let index = self.log_append(&tx, &e)?.index;
        tx.commit()?;
        Ok(PolicyOutcome {
            digest: detail.digest,
            lowers: p.changes.iter().any(Change::lowers),
            changes: p.changes,
            log_index: index,
            approval: None,
        })
    }

    /// Replaces the policy in force. Tiers cannot change on an existing vault (records and
    /// keys are organised by them); everything else can, but a change that lowers protection
    /// on a vault with records needs a supervisor's approval of exactly this policy.
    pub fn policy_apply(&mut self, sources: &[(String, String)]) -> Result<PolicyOutcome> {
        self.require(Action::PolicyManage)?;
        let p = self.policy_propose(sources)?;
        let digest = hex(&p.digest);
        let approval = if p.needs_cosign {
            let found = self.find_approval(&digest)?;
            if found.is_none() {
                let lowering: Vec<String> = p
                    .changes
                    .iter()
                    .filter(|c| c.lowers())
                    .map(Change::describe)
                    .collect();
                return Err(Error::CosignRequired {
                    changes: lowering.join(tr!("policy.diff.sep").as_str()),
                });
            }
            found
        } else {
            None
        };
        let detail = PolicyDetail {
            approve: false,
            digest: digest.clone(),
            approval: approval.as_ref().map(|a| a.0),
            items: summary_items(&p.changes),
        };
        let bytes = serde_json::to_vec(sources).map_err(|e| Error::Invalid(e.to_string()))?;
        let mut e = self.log_entry(Kind::PolicyChange, None)?;
        e.detail = detail.encode();
        e.disclosed_sha256 = Some(p.digest);
        e.approver = approval.as_ref().map(|a| a.1.clone());
        let tx = store::immediate(&self.conn)?;
        store::meta::set(&tx, "policy_sources", &bytes)?;
        let index = self.log_append(&tx, &e)?.index;
        keep_history(&tx, &p.digest, index, &bytes)?;
        tx.commit()?;
        let lowers = p.changes.iter().any(Change::lowers);
        self.policy = p.policy;
        Ok(PolicyOutcome {
            digest,
            changes: p.changes,
            lowers,
            log_index: index,
            approval,
        })
    }

    /// The newest valid approval of the policy `digest` made since the policy in force was
    /// applied: signed, by a supervisor at the time. Applying uses it up (it is then older
    /// than the policy in force).
    fn find_approval(&self, digest: &str) -> Result<Option<(u64, String)>> {
        let registry = self.registry();
        let mut found = None;
        log::walk_kind_desc(&self.conn, KindCode::PolicyChange, &mut |e, stored| {
            let Some(d) = PolicyDetail::parse(&e.detail) else {
                return true;
            };
            if !d.approve {
                return false;
            }
            if d.digest == digest && signed_by_role(&registry, &e, stored, Role::Supervisor) {
                found = Some((e.index, e.actor.clone()));
                return false;
            }
            true
        })?;
        Ok(found)
    }
}

/// The `authority` subject under which the files of an applied policy are kept.
pub fn history_subject(digest: &[u8; 32]) -> String {
    format!("policy/{}", hex(digest))
}

/// Keeps the files of a policy applied at log `index` (JSON of `(name, text)` pairs), so the
/// audit can recompute each change's diff instead of trusting the one signed in the entry.
pub(super) fn keep_history(
    conn: &Connection,
    digest: &[u8; 32],
    index: u64,
    sources_json: &[u8],
) -> Result<()> {
    store::authority::put(conn, &history_subject(digest), index, sources_json)
}

/// The policy with `digest` as kept at its apply, if its files are there and hash to it.
pub fn from_history(conn: &Connection, digest: &str) -> Result<Option<Policy>> {
    let Some((_, bytes)) = store::authority::get(conn, &format!("policy/{digest}"))? else {
        return Ok(None);
    };
    let Ok(sources) = serde_json::from_slice::<Vec<(String, String)>>(&bytes) else {
        return Ok(None);
    };
    if hex(&Policy::digest(&sources)) != digest {
        return Ok(None);
    }
    Ok(Policy::from_stored(&sources).ok())
}

/// The diff summary's items for a log entry (capped, see [`diff::summary`]).
fn summary_items(changes: &[Change]) -> Vec<String> {
    let s = diff::summary(changes);
    if s.is_empty() {
        Vec::new()
    } else {
        s.split("; ").map(str::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::PolicyDetail;

    #[test]
    fn detail_round_trips() {
        let d = PolicyDetail {
            approve: false,
            digest: "ab".repeat(32),
            approval: Some(12),
            items: vec![
                "lower supervision 3->1".into(),
                "caseworker +all_cases".into(),
            ],
        };
        let text = d.encode();
        assert_eq!(
            text,
            format!(
                "policy {}; approval 12; lower supervision 3->1; caseworker +all_cases",
                "ab".repeat(32)
            )
        );
        assert_eq!(PolicyDetail::parse(&text), Some(d.clone()));
        assert!(d.lowers());
        // The entry written at init.
        let init = PolicyDetail::parse(&format!("policy {}", "0".repeat(64))).unwrap();
        assert!(!init.approve && init.items.is_empty() && !init.lowers());
        assert_eq!(PolicyDetail::parse("policy short"), None);
        assert_eq!(PolicyDetail::parse("grant li: 2 cases"), None);
    }
}
