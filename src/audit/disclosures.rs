//! Every disclosure had a valid legal basis at its time, and consents that expired or were
//! revoked are no longer relied on.
//!
//! The log alone shows disclosures without any basis. The consent checks read consents and
//! referrals through the store layer (metadata only: no record is decrypted).

use rusqlite::OptionalExtension;

use super::{is_disclosure, Ctx, Finding, Outcome, Severity};
use crate::domain::time::{format_time, Date};
use crate::domain::{Consent, ConsentBar, SignerRole};
use crate::error::Result;
use crate::log::{Entry, LegalBasis};
use crate::store;
use crate::tr;
use crate::vault::disclosure::id_mac;

/// A consent by the id an entry cites, if there is one.
fn load_consent(ctx: &Ctx, id: &str) -> Result<Option<Consent>> {
    let Ok(n) = id.trim().parse::<i64>() else {
        return Ok(None);
    };
    store::consents::get(ctx.conn, n)
}

fn loc(e: &Entry, consent: Option<&str>) -> Vec<String> {
    let mut v = vec![tr!("audit.loc.entry", index = e.index)];
    if let Some(c) = consent {
        v.push(tr!("audit.loc.consent", id = c));
    }
    v
}

pub fn basis(ctx: &Ctx) -> Result<Outcome> {
    let consents = ctx.has_table("consents")?;
    let mut out = Vec::new();
    for e in ctx
        .entries
        .iter()
        .filter(|e| e.time >= ctx.since && is_disclosure(e.kind.code()))
    {
        let day = Date::from_unix(e.time);
        match &e.basis {
            LegalBasis::None | LegalBasis::InternalDuty => out.push(Finding::new(
                "disclosures.no_basis",
                Severity::Critical,
                tr!("audit.disc.no_basis", index = e.index, date = day),
                loc(e, None),
                tr!("audit.disc.no_basis_fix"),
            )),
            LegalBasis::Emergency(r) | LegalBasis::Statutory(r) if r.trim().is_empty() => {
                out.push(Finding::new(
                    "disclosures.no_reason",
                    Severity::High,
                    tr!("audit.disc.no_reason", index = e.index),
                    loc(e, None),
                    tr!("audit.disc.no_reason_fix"),
                ))
            }
            LegalBasis::Consent(id) if consents => {
                consent_at(ctx, e, id, &mut out)?;
            }
            _ => {}
        }
    }
    Ok(Outcome::Ran(out))
}

fn consent_at(ctx: &Ctx, e: &Entry, id: &str, out: &mut Vec<Finding>) -> Result<()> {
    let day = Date::from_unix(e.time);
    let Some(c) = load_consent(ctx, id)? else {
        out.push(Finding::new(
            "disclosures.consent_missing",
            Severity::Critical,
            tr!("audit.disc.consent_missing", index = e.index, consent = id),
            loc(e, Some(id)),
            tr!("audit.disc.consent_missing_fix"),
        ));
        return Ok(());
    };
    let cid = c.id.to_string();
    let l = || loc(e, Some(&cid));
    let mut bad = |check, sev, what: String, fix: String| {
        out.push(Finding::new(check, sev, what, l(), fix));
    };
    // Signed, expired, revoked: the domain's one rule, at the entry's moment.
    for bar in c.bars_at(e.time) {
        let (check, what) = match bar {
            ConsentBar::NotYetSigned => (
                "disclosures.consent_not_yet_signed",
                tr!(
                    "audit.disc.not_signed",
                    index = e.index,
                    consent = cid,
                    date = day
                ),
            ),
            ConsentBar::Expired => (
                "disclosures.consent_expired",
                tr!(
                    "audit.disc.expired",
                    index = e.index,
                    consent = cid,
                    date = day,
                    expired = c.terms.expires_on
                ),
            ),
            ConsentBar::Revoked(at) => (
                "disclosures.consent_revoked",
                tr!(
                    "audit.disc.revoked",
                    index = e.index,
                    consent = cid,
                    date = format_time(e.time),
                    revoked = format_time(at)
                ),
            ),
        };
        bad(
            check,
            Severity::Critical,
            what,
            tr!("audit.disc.consent_fix"),
        );
    }
    if c.agency_name != e.recipient {
        let a = &c.agency_name;
        bad(
            "disclosures.wrong_recipient",
            Severity::High,
            tr!(
                "audit.disc.recipient",
                index = e.index,
                consent = cid,
                recipient = e.recipient,
                named = a
            ),
            tr!("audit.disc.consent_fix"),
        );
    }
    if !e.purpose.is_empty() && !c.terms.purposes.iter().any(|p| p == &e.purpose) {
        bad(
            "disclosures.wrong_purpose",
            Severity::High,
            tr!(
                "audit.disc.purpose",
                index = e.index,
                consent = cid,
                purpose = e.purpose
            ),
            tr!("audit.disc.consent_fix"),
        );
    }
    if let Some(m) = e.client_mac {
        if id_mac(ctx.conn, "client", c.client_id)? != m {
            bad(
                "disclosures.other_client",
                Severity::Critical,
                tr!("audit.disc.other_client", index = e.index, consent = cid),
                tr!("audit.disc.consent_fix"),
            );
        }
    }
    // A minor's consent needs a guardian's signature.
    let birth: Option<String> = ctx
        .conn
        .prepare_cached("SELECT birth_date FROM clients WHERE id = ?1")?
        .query_row([c.client_id], |r| r.get(0))
        .optional()?
        .flatten();
    if let Some(b) = birth.as_deref().and_then(Date::parse) {
        let age = b.age_on(c.terms.signed_on);
        if age >= 0
            && ctx.policy.is_minor(age as u32)
            && c.terms.signer_role != SignerRole::Guardian
        {
            bad(
                "disclosures.minor_without_guardian",
                Severity::High,
                tr!(
                    "audit.disc.minor",
                    index = e.index,
                    consent = cid,
                    age = age
                ),
                tr!("audit.disc.minor_fix"),
            );
        }
    }
    Ok(())
}

/// Referrals still active (`sent`, `accepted`) whose consent has expired or was revoked, and
/// tier-3 referrals without a supervisor's approval.
pub fn stale_consents(ctx: &Ctx) -> Result<Outcome> {
    for t in ["consents", "referrals"] {
        if !ctx.has_table(t)? {
            return Ok(Outcome::Skipped(tr!("audit.skip.table", table = t)));
        }
    }
    let top = ctx.policy.max_tier();
    let mut out = Vec::new();
    for r in store::referrals::list(ctx.conn, None)? {
        let (rid, cid) = (r.id.to_string(), r.consent_id.to_string());
        let loc = vec![
            tr!("audit.loc.referral", id = rid),
            tr!("audit.loc.case", id = r.case_id),
            tr!("audit.loc.consent", id = cid),
        ];
        let consent = store::consents::get(ctx.conn, r.consent_id)?;
        let active = matches!(r.status.as_str(), "sent" | "accepted");
        if let (true, Some(c)) = (active, &consent) {
            for bar in c.bars_at(ctx.now) {
                let (check, what) = match bar {
                    ConsentBar::Expired => (
                        "consents.expired_in_use",
                        tr!(
                            "audit.consent.expired",
                            referral = rid,
                            consent = cid,
                            date = c.terms.expires_on
                        ),
                    ),
                    ConsentBar::Revoked(at) => (
                        "consents.revoked_in_use",
                        tr!(
                            "audit.consent.revoked",
                            referral = rid,
                            consent = cid,
                            date = format_time(at)
                        ),
                    ),
                    ConsentBar::NotYetSigned => continue,
                };
                out.push(Finding::new(
                    check,
                    Severity::High,
                    what,
                    loc.clone(),
                    tr!("audit.consent.fix"),
                ));
            }
        }
        // A supervisor-only record in a referral needs a supervisor's approval.
        let mut max_tier = 0;
        for id in &r.records {
            if let Some(m) = store::records::get(ctx.conn, *id)? {
                max_tier = max_tier.max(m.meta.tier);
            }
        }
        if max_tier >= top && r.approver.as_deref().is_none_or(str::is_empty) {
            out.push(Finding::new(
                "disclosures.tier3_unapproved",
                Severity::Critical,
                tr!("audit.consent.tier3", referral = rid),
                loc,
                tr!("audit.consent.tier3_fix"),
            ));
        }
    }
    Ok(Outcome::Ran(out))
}
