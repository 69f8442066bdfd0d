//! Case keys: per case, per key epoch and per tier an X25519 key pair. Records are encrypted to
//! the tier's public key; the secrets are wrapped (age) to each person policy lets hold them.
//!
//! The wrapped plaintext is itself an age identity file, so a holder can open a record with
//! stock tools (`age -d -i holder.txt wrap.age > keys.txt; age -d -i keys.txt record.age`):
//!
//! ```text
//! # casevault-case-keys: v1
//! # case: 12
//! # epoch: 1
//! # tier: 1
//! AGE-SECRET-KEY-1…
//! # tier: 2
//! AGE-SECRET-KEY-1…
//! ```

use std::str::FromStr;

use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use super::age_io;
use crate::error::{Error, Result};

const HEADER: &str = "# casevault-case-keys: v1";

/// One tier's secret key.
pub struct TierSecret {
    pub tier: u8,
    pub identity: age::x25519::Identity,
}

/// The secrets of one case at one key epoch (some or all tiers).
pub struct CaseKeySet {
    pub case_id: i64,
    pub epoch: i64,
    pub tiers: Vec<TierSecret>,
}

impl CaseKeySet {
    /// Fresh keys for `tiers` of a case epoch.
    pub fn generate(case_id: i64, epoch: i64, tiers: &[u8]) -> Self {
        CaseKeySet {
            case_id,
            epoch,
            tiers: tiers
                .iter()
                .map(|&tier| TierSecret {
                    tier,
                    identity: age::x25519::Identity::generate(),
                })
                .collect(),
        }
    }

    /// Public keys by tier, as age recipient strings.
    pub fn recipients(&self) -> Vec<(u8, String)> {
        self.tiers
            .iter()
            .map(|t| (t.tier, t.identity.to_public().to_string()))
            .collect()
    }

    /// The secret of `tier`, if this set holds it.
    pub fn tier(&self, tier: u8) -> Option<&age::x25519::Identity> {
        self.tiers
            .iter()
            .find(|t| t.tier == tier)
            .map(|t| &t.identity)
    }

    /// Wraps the subset `tiers` of this set to `recipient`.
    pub fn wrap(&self, tiers: &[u8], recipient: &dyn age::Recipient) -> Result<Vec<u8>> {
        let mut text = Zeroizing::new(format!(
            "{HEADER}\n# case: {}\n# epoch: {}\n",
            self.case_id, self.epoch
        ));
        for t in self.tiers.iter().filter(|t| tiers.contains(&t.tier)) {
            text.push_str(&format!(
                "# tier: {}\n{}\n",
                t.tier,
                t.identity.to_string().expose_secret()
            ));
        }
        age_io::encrypt(recipient, text.as_bytes())
    }

    /// Unwraps a wrapping with `identity`; checks it belongs to `case_id`/`epoch` so that a
    /// wrapping moved between rows inside the database is refused. `None`: not for this identity.
    pub fn unwrap(
        wrapped: &[u8],
        identity: &dyn age::Identity,
        case_id: i64,
        epoch: i64,
    ) -> Result<Option<Self>> {
        let Some(plain) = age_io::decrypt(&[identity], wrapped)? else {
            return Ok(None);
        };
        let bad = || Error::Tampered {
            what: "key wrapping",
            id: format!("{case_id}/{epoch}"),
        };
        let text = std::str::from_utf8(&plain).map_err(|_| bad())?;
        let mut lines = text.lines();
        let header_ok = lines.next() == Some(HEADER)
            && lines.next() == Some(format!("# case: {case_id}").as_str())
            && lines.next() == Some(format!("# epoch: {epoch}").as_str());
        if !header_ok {
            return Err(bad());
        }
        let mut tiers = Vec::new();
        while let Some(line) = lines.next() {
            let tier: u8 = line
                .strip_prefix("# tier: ")
                .and_then(|t| t.parse().ok())
                .ok_or_else(bad)?;
            let key = lines.next().ok_or_else(bad)?;
            let identity = age::x25519::Identity::from_str(key).map_err(|_| bad())?;
            tiers.push(TierSecret { tier, identity });
        }
        Ok(Some(CaseKeySet {
            case_id,
            epoch,
            tiers,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_subset_and_unwrap() {
        let set = CaseKeySet::generate(7, 2, &[1, 2, 3]);
        let holder = age::x25519::Identity::generate();
        let w = set.wrap(&[1, 2], &holder.to_public()).unwrap();
        let back = CaseKeySet::unwrap(&w, &holder, 7, 2).unwrap().unwrap();
        assert!(back.tier(1).is_some() && back.tier(2).is_some());
        assert!(
            back.tier(3).is_none(),
            "a subset wrap must not carry tier 3"
        );
        assert!(
            CaseKeySet::unwrap(&w, &holder, 8, 2).is_err(),
            "moved wrap refused"
        );
        let other = age::x25519::Identity::generate();
        assert!(CaseKeySet::unwrap(&w, &other, 7, 2).unwrap().is_none());
    }
}
