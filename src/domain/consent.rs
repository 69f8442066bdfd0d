//! Consents (同意书) to disclose a client's information to a partner agency, and the rules
//! they must meet: a guardian signs for a minor; sensitive (supervisor-only) tiers need the
//! separate consent PIPL asks for.

use serde::{Deserialize, Serialize};

use super::labeled_enum;
use super::text::{
    multi_line, single_line, single_lines, FieldError, FieldProblem, FREE_TEXT_MAX, LINE_MAX,
    LIST_MAX, NAME_MAX, PHRASE_MAX,
};
use super::time::{Date, EARLIEST_EVENT};

/// The longest a consent may run: its expiry at most this many years after signing.
pub const CONSENT_MAX_YEARS: i32 = 100;

labeled_enum!(
    /// Who signed a consent.
    SignerRole {
        Client = "client", "服务对象本人", "client";
        Guardian = "guardian", "监护人", "guardian";
        Agent = "agent", "代理人", "agent";
    }
);

/// What a worker enters from the signed form. Stored as JSON (metadata, no record content).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConsentTerms {
    pub signer_role: SignerRole,
    pub signer_name: String,
    /// The signer's authority, e.g. "self", "mother (guardian of a minor)".
    pub authority: String,
    /// Purposes the client agreed to (each one a short phrase).
    pub purposes: Vec<String>,
    /// Record kinds (template keys) the consent covers.
    pub kinds: Vec<String>,
    /// Tier levels the consent covers.
    pub tiers: Vec<u8>,
    /// The consent's own words for the information.
    pub description: String,
    /// PIPL separate consent for sensitive information was given.
    pub separate_consent: bool,
    /// How the client revokes (channel, contact): stated on the form.
    pub revoke_how: String,
    /// The redisclosure notice stated on the form.
    pub redisclosure_notice: String,
    pub signed_on: Date,
    pub expires_on: Date,
}

/// A stored consent.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Consent {
    pub id: i64,
    pub client_id: i64,
    pub agency_id: i64,
    pub agency_name: String,
    #[serde(flatten)]
    pub terms: ConsentTerms,
    /// The day of the revocation (for display).
    pub revoked_on: Option<Date>,
    /// The moment the revocation took effect, Unix seconds. `None` on consents revoked before
    /// this was stored: see [`Consent::revoked_from`].
    pub revoked_at: Option<i64>,
    pub revoked_via: Option<String>,
    /// A scanned form is stored (encrypted to its case's tier-2 key).
    pub has_form: bool,
    pub created_at: i64,
    pub created_by: String,
}

/// Why a consent's terms are not acceptable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsentProblem {
    /// A required text is empty (field name).
    Missing(&'static str),
    /// Expiry on or before the signing date.
    ExpiryBeforeSigning,
    /// Signed in the future.
    SignedInFuture,
    /// The client was a minor on the signing date and the signer is not a guardian.
    GuardianRequired,
    /// A supervisor-only tier is in scope without the separate-consent flag.
    SeparateConsentRequired,
    /// A field breaks a text or date rule.
    Field(FieldError),
}

impl From<FieldError> for ConsentProblem {
    fn from(e: FieldError) -> Self {
        ConsentProblem::Field(e)
    }
}

impl ConsentTerms {
    /// Checks the terms. `minor` is whether the client is a minor on `signed_on`;
    /// `sensitive` whether a supervisor-only tier is in scope.
    pub fn check(&self, today: Date, minor: bool, sensitive: bool) -> Result<(), ConsentProblem> {
        for (name, v) in [
            ("signer_name", &self.signer_name),
            ("authority", &self.authority),
            ("revoke_how", &self.revoke_how),
            ("redisclosure_notice", &self.redisclosure_notice),
        ] {
            if v.trim().is_empty() {
                return Err(ConsentProblem::Missing(name));
            }
        }
        if self.purposes.iter().all(|p| p.trim().is_empty()) {
            return Err(ConsentProblem::Missing("purposes"));
        }
        if self.kinds.is_empty() {
            return Err(ConsentProblem::Missing("kinds"));
        }
        if self.tiers.is_empty() {
            return Err(ConsentProblem::Missing("tiers"));
        }
        single_line("signer_name", &self.signer_name, NAME_MAX)?;
        single_line("authority", &self.authority, PHRASE_MAX)?;
        single_lines("purposes", &self.purposes, PHRASE_MAX, LIST_MAX)?;
        if self.kinds.len() > LIST_MAX {
            let e = FieldError::new("kinds", FieldProblem::TooMany { max: LIST_MAX });
            return Err(e.into());
        }
        multi_line("description", &self.description, FREE_TEXT_MAX)?;
        single_line("revoke_how", &self.revoke_how, LINE_MAX)?;
        multi_line(
            "redisclosure_notice",
            &self.redisclosure_notice,
            FREE_TEXT_MAX,
        )?;
        if self.signed_on > today {
            return Err(ConsentProblem::SignedInFuture);
        }
        self.signed_on
            .check_within("signed_on", EARLIEST_EVENT, today)?;
        if self.expires_on <= self.signed_on {
            return Err(ConsentProblem::ExpiryBeforeSigning);
        }
        let latest = self.signed_on.add_years(CONSENT_MAX_YEARS);
        self.expires_on
            .check_within("expires_on", self.signed_on.add_days(1), latest)?;
        if minor && self.signer_role != SignerRole::Guardian {
            return Err(ConsentProblem::GuardianRequired);
        }
        if sensitive && !self.separate_consent {
            return Err(ConsentProblem::SeparateConsentRequired);
        }
        Ok(())
    }
}

/// Why a consent does not cover a disclosure at a given moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentBar {
    /// Before the start of the signing day.
    NotYetSigned,
    /// After the end of the expiry day.
    Expired,
    /// At or after the moment of revocation (Unix seconds).
    Revoked(i64),
}

impl Consent {
    /// When the revocation takes effect: the stored moment, or, for consents revoked before
    /// the moment was stored (only a date), the start of that day in UTC.
    pub fn revoked_from(&self) -> Option<i64> {
        self.revoked_at
            .or_else(|| self.revoked_on.map(|d| d.to_unix()))
    }

    /// Every reason this consent does not cover a disclosure at `at` (Unix seconds). The one
    /// rule for the export path and the audit: valid from the start of the signing day through
    /// the end of the expiry day (UTC), until the moment of revocation.
    pub fn bars_at(&self, at: i64) -> Vec<ConsentBar> {
        let mut v = Vec::new();
        if at < self.terms.signed_on.to_unix() {
            v.push(ConsentBar::NotYetSigned);
        }
        if at >= self.terms.expires_on.add_days(1).to_unix() {
            v.push(ConsentBar::Expired);
        }
        if let Some(r) = self.revoked_from().filter(|r| at >= *r) {
            v.push(ConsentBar::Revoked(r));
        }
        v
    }

    /// Whether the consent's scope covers a record of `kind` and `tier`: the one scope rule
    /// `referral export` and the web's record step both use.
    pub fn covers(&self, kind: &str, tier: u8) -> bool {
        self.terms.kinds.iter().any(|k| k == kind) && self.terms.tiers.contains(&tier)
    }

    /// Whether this consent covers a disclosure at `at` (the first reason if not).
    pub fn permits(&self, at: i64) -> Result<(), ConsentBar> {
        match self.bars_at(at).first() {
            Some(b) => Err(*b),
            None => Ok(()),
        }
    }

    /// Whether this consent covers disclosures at `at` but stops within `days` days (its
    /// expiry day is before the day `days` after `at`'s): the "expiring soon" of the web's
    /// attention list, on the same rule as [`Consent::permits`].
    pub fn expires_within(&self, at: i64, days: i64) -> bool {
        self.permits(at).is_ok() && self.terms.expires_on < Date::from_unix(at).add_days(days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent(revoked_on: Option<&str>, revoked_at: Option<i64>) -> Consent {
        Consent {
            id: 1,
            client_id: 1,
            agency_id: 1,
            agency_name: "P".into(),
            terms: ConsentTerms {
                signer_role: SignerRole::Client,
                signer_name: "s".into(),
                authority: "self".into(),
                purposes: vec!["p".into()],
                kinds: vec!["process".into()],
                tiers: vec![1],
                description: String::new(),
                separate_consent: false,
                revoke_how: "r".into(),
                redisclosure_notice: "n".into(),
                signed_on: Date::parse("2026-01-01").unwrap(),
                expires_on: Date::parse("2026-12-31").unwrap(),
            },
            revoked_on: revoked_on.and_then(Date::parse),
            revoked_at,
            revoked_via: None,
            has_form: false,
            created_at: 0,
            created_by: "w".into(),
        }
    }

    #[test]
    fn one_rule_for_every_moment() {
        let day = |s: &str| Date::parse(s).unwrap().to_unix();
        let c = consent(None, None);
        assert_eq!(
            c.permits(day("2025-12-31") + 86_399),
            Err(ConsentBar::NotYetSigned)
        );
        assert_eq!(c.permits(day("2026-01-01")), Ok(()));
        assert_eq!(c.permits(day("2026-12-31") + 86_399), Ok(()));
        assert_eq!(c.permits(day("2027-01-01")), Err(ConsentBar::Expired));
        // Revoked at 15:00: a disclosure at 09:00 the same day stands, one at 15:00 does not.
        let at = day("2026-06-01") + 15 * 3600;
        let c = consent(Some("2026-06-01"), Some(at));
        assert_eq!(c.permits(at - 6 * 3600), Ok(()));
        assert_eq!(c.permits(at), Err(ConsentBar::Revoked(at)));
        // Only a date (older vaults): from the start of that day.
        let c = consent(Some("2026-06-01"), None);
        assert_eq!(
            c.permits(day("2026-06-01")),
            Err(ConsentBar::Revoked(day("2026-06-01")))
        );
        assert_eq!(c.permits(day("2026-06-01") - 1), Ok(()));
    }

    #[test]
    fn expiring_soon() {
        let day = |s: &str| Date::parse(s).unwrap().to_unix();
        let c = consent(None, None);
        assert!(c.expires_within(day("2026-12-10"), 30));
        assert!(!c.expires_within(day("2026-11-01"), 30));
        assert!(!c.expires_within(day("2027-01-01"), 30), "already expired");
        let r = consent(Some("2026-12-01"), Some(day("2026-12-01")));
        assert!(!r.expires_within(day("2026-12-10"), 30), "revoked");
    }
}
