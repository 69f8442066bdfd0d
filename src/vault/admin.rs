//! Admin operations on the vault as a whole: applying a new policy, and using the recovery
//! key when no supervisor can share case keys any more. Both are logged.

use std::str::FromStr;

use secrecy::ExposeSecret;

use super::keys;
use super::Session;
use crate::crypto::{hex, CaseKeySet};
use crate::error::{Error, Result};
use crate::log::Kind;
use crate::policy::{Action, Policy};
use crate::store::{self, keys::RECOVERY};
use crate::tr;

impl Session {
    /// Replaces the policy in force. Tiers cannot change on an existing vault (records and
    /// keys are organised by them); everything else can.
    pub fn policy_apply(&mut self, sources: &[(String, String)]) -> Result<[u8; 32]> {
        self.require(Action::PolicyManage)?;
        let new = Policy::from_sources(sources)?;
        let shape = |p: &Policy| {
            p.tiers
                .iter()
                .map(|t| (t.level, t.supervisor_only))
                .collect::<Vec<_>>()
        };
        if shape(&new) != shape(&self.policy) {
            return Err(Error::Invalid(tr!("vault.policy_tiers_fixed")));
        }
        // Kinds that records already have must stay: their template drives display,
        // retention and access packages.
        let missing: Vec<String> = store::records::kinds(&self.conn)?
            .into_iter()
            .filter(|k| new.template(k).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(Error::PolicyInvalid {
                file: crate::policy::TEMPLATES_DIR.to_string(),
                message: tr!("policy.rule.kinds_in_use", kinds = missing.join(", ")),
            });
        }
        let digest = Policy::digest(sources);
        let bytes = serde_json::to_vec(sources).map_err(|e| Error::Invalid(e.to_string()))?;
        let mut e = self.log_entry(Kind::PolicyChange, None)?;
        e.detail = format!("policy {}", hex(&digest));
        let tx = store::immediate(&self.conn)?;
        store::meta::set(&tx, "policy_sources", &bytes)?;
        self.log_append(&tx, &e)?;
        tx.commit()?;
        self.policy = new;
        Ok(digest)
    }

    /// Uses the recovery key to give supervisor `name` every case's keys (for when no
    /// supervisor with access is left). Returns the number of cases.
    pub fn recover_grant(&mut self, recovery: &age::x25519::Identity, name: &str) -> Result<usize> {
        self.require(Action::RecoveryUse)?;
        let expected = store::meta::require_text(&self.conn, "recovery_recipient")?;
        if recovery.to_public().to_string() != expected {
            return Err(Error::Crypto(tr!("vault.not_the_recovery_key")));
        }
        let holder = keys::supervisor_holder(&self.registry(), &self.policy, name)?;
        let wraps = store::keys::list_wraps(&self.conn, Some(RECOVERY))?;
        let tx = store::immediate(&self.conn)?;
        let mut cases = std::collections::BTreeSet::new();
        for w in &wraps {
            let wrapped =
                store::keys::get_wrap(&tx, w.case_id, w.epoch, RECOVERY)?.unwrap_or_default();
            let set = CaseKeySet::unwrap(&wrapped, recovery, w.case_id, w.epoch)?.ok_or(
                Error::Tampered {
                    what: "key wrapping",
                    id: format!("{}/{}", w.case_id, w.epoch),
                },
            )?;
            let rewrapped = set.wrap(&holder.tiers, &holder.recipient)?;
            store::keys::put_wrap(
                &tx,
                w.case_id,
                w.epoch,
                &holder.name,
                &holder.tiers,
                &rewrapped,
            )?;
            cases.insert(w.case_id);
        }
        let mut e = self.log_entry(Kind::RecoveryKeyUse, None)?;
        e.detail = format!("grant {name}: {} cases", cases.len());
        self.log_append(&tx, &e)?;
        tx.commit()?;
        Ok(cases.len())
    }
}

/// Reads a recovery key file (comments and the `AGE-SECRET-KEY-1…` line).
pub fn parse_recovery_key(text: &str) -> Result<age::x25519::Identity> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| Error::Crypto(tr!("vault.not_the_recovery_key")))?;
    let id = age::x25519::Identity::from_str(line)
        .map_err(|_| Error::Crypto(tr!("vault.not_the_recovery_key")))?;
    // Touch the secret once so a malformed key fails here, not halfway through.
    let _ = id.to_string().expose_secret().len();
    Ok(id)
}
