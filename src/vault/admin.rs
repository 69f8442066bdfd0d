//! Admin operations on the vault as a whole: using the recovery key when no supervisor can
//! share case keys any more (logged). Applying a policy is in `policy_auth`.

use std::str::FromStr;

use secrecy::ExposeSecret;

use super::keys;
use super::Session;
use crate::crypto::CaseKeySet;
use crate::error::{Error, Result};
use crate::log::Kind;
use crate::policy::Action;
use crate::store::{self, keys::RECOVERY};
use crate::tr;

impl Session {
    /// Uses the recovery key to give supervisor `name` every case's keys (for when no
    /// supervisor with access is left). `how` says what was used (key file or which shares),
    /// for the log entry. Returns the number of cases.
    pub fn recover_grant(
        &mut self,
        recovery: &age::x25519::Identity,
        name: &str,
        how: &str,
    ) -> Result<usize> {
        self.require(Action::RecoveryUse)?;
        // The recovery key the founding log entry signed, not whatever a row says.
        let expected = self.registry().recovery().map(str::to_string);
        if Some(recovery.to_public().to_string()) != expected {
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
        self.share_supervisor_keys(&tx, RECOVERY, recovery, name, &holder.recipient)?;
        let mut e = self.log_entry(Kind::RecoveryKeyUse, None)?;
        e.detail = format!("grant {name}: {} cases; {how}", cases.len());
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
