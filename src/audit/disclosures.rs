//! Every disclosure had a valid legal basis at its time, and consents that expired or were
//! revoked are no longer relied on.
//!
//! The log alone shows disclosures without any basis. The consent checks read consents and
//! referrals through the store layer (metadata only: no record is decrypted).

use rusqlite::OptionalExtension;

use super::{is_disclosure, Ctx, Finding, Outcome, Severity};
use crate::domain::time::Date;
use crate::error::Result;
use crate::log::{Entry, LegalBasis};
use crate::store;
use crate::tr;
use crate::vault::disclosure::id_mac;

/// The facts of a consent the checks need, in Unix seconds.
struct Consent {
    id: String,
    client_id: i64,
    agency: Option<String>,
    purposes: Vec<String>,
    signer: String,
    signed: Option<i64>,
    expires: Option<i64>,
    revoked: Option<i64>,
}

fn load_consent(ctx: &Ctx, id: &str, _agencies: bool) -> Result<Option<Consent>> {
    let Ok(n) = id.trim().parse::<i64>() else {
        return Ok(None);
    };
    Ok(store::consents::get(ctx.conn, n)?.map(|c| Consent {
        id: c.id.to_string(),
        client_id: c.client_id,
        agency: Some(c.agency_name),
        purposes: c.terms.purposes,
        signer: c.terms.signer_role.code().to_string(),
        signed: Some(c.terms.signed_on.to_unix()),
        expires: Some(c.terms.expires_on.to_unix()),
        revoked: c.revoked_on.map(|d| d.to_unix()),
    }))
}

fn loc(e: &Entry, consent: Option<&str>) -> Vec<String> {
    let mut v = vec![tr!("audit.loc.entry", index = e.index)];
    if let Some(c) = consent {
        v.push(tr!("audit.loc.consent", id = c));
    }
    v
}

/// End of the day of a date column (an expiry date is valid through that day).
fn end_of_day(t: i64) -> i64 {
    if t % 86_400 == 0 {
        t + 86_400
    } else {
        t
    }
}

pub fn basis(ctx: &Ctx) -> Result<Outcome> {
    let consents = ctx.has_table("consents")?;
    let agencies = consents && ctx.has_table("agencies")?;
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
                consent_at(ctx, e, id, agencies, &mut out)?;
            }
            _ => {}
        }
    }
    Ok(Outcome::Ran(out))
}

fn consent_at(
    ctx: &Ctx,
    e: &Entry,
    id: &str,
    agencies: bool,
    out: &mut Vec<Finding>,
) -> Result<()> {
    let day = Date::from_unix(e.time);
    let Some(c) = load_consent(ctx, id, agencies)? else {
        out.push(Finding::new(
            "disclosures.consent_missing",
            Severity::Critical,
            tr!("audit.disc.consent_missing", index = e.index, consent = id),
            loc(e, Some(id)),
            tr!("audit.disc.consent_missing_fix"),
        ));
        return Ok(());
    };
    let l = || loc(e, Some(&c.id));
    let mut bad = |check, sev, what: String, fix: String| {
        out.push(Finding::new(check, sev, what, l(), fix));
    };
    if c.signed.is_some_and(|s| s > e.time) {
        bad(
            "disclosures.consent_not_yet_signed",
            Severity::Critical,
            tr!(
                "audit.disc.not_signed",
                index = e.index,
                consent = c.id,
                date = day
            ),
            tr!("audit.disc.consent_fix"),
        );
    }
    if let Some(x) = c.expires.filter(|x| e.time >= end_of_day(*x)) {
        bad(
            "disclosures.consent_expired",
            Severity::Critical,
            tr!(
                "audit.disc.expired",
                index = e.index,
                consent = c.id,
                date = day,
                expired = Date::from_unix(x)
            ),
            tr!("audit.disc.consent_fix"),
        );
    }
    if let Some(x) = c.revoked.filter(|x| e.time >= *x) {
        bad(
            "disclosures.consent_revoked",
            Severity::Critical,
            tr!(
                "audit.disc.revoked",
                index = e.index,
                consent = c.id,
                date = day,
                revoked = Date::from_unix(x)
            ),
            tr!("audit.disc.consent_fix"),
        );
    }
    if let Some(a) = c.agency.as_ref().filter(|a| **a != e.recipient) {
        bad(
            "disclosures.wrong_recipient",
            Severity::High,
            tr!(
                "audit.disc.recipient",
                index = e.index,
                consent = c.id,
                recipient = e.recipient,
                named = a
            ),
            tr!("audit.disc.consent_fix"),
        );
    }
    if !e.purpose.is_empty() && !c.purposes.iter().any(|p| p == &e.purpose) {
        bad(
            "disclosures.wrong_purpose",
            Severity::High,
            tr!(
                "audit.disc.purpose",
                index = e.index,
                consent = c.id,
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
                tr!("audit.disc.other_client", index = e.index, consent = c.id),
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
    if let (Some(b), Some(signed)) = (birth.as_deref().and_then(Date::parse), c.signed) {
        let age = b.age_on(Date::from_unix(signed));
        if age >= 0 && ctx.policy.is_minor(age as u32) && c.signer != "guardian" {
            bad(
                "disclosures.minor_without_guardian",
                Severity::High,
                tr!(
                    "audit.disc.minor",
                    index = e.index,
                    consent = c.id,
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
            let x = c.terms.expires_on.to_unix();
            if ctx.now >= end_of_day(x) {
                out.push(Finding::new(
                    "consents.expired_in_use",
                    Severity::High,
                    tr!(
                        "audit.consent.expired",
                        referral = rid,
                        consent = cid,
                        date = Date::from_unix(x)
                    ),
                    loc.clone(),
                    tr!("audit.consent.fix"),
                ));
            }
            if let Some(x) = c.revoked_on.map(|d| d.to_unix()).filter(|x| ctx.now >= *x) {
                out.push(Finding::new(
                    "consents.revoked_in_use",
                    Severity::High,
                    tr!(
                        "audit.consent.revoked",
                        referral = rid,
                        consent = cid,
                        date = Date::from_unix(x)
                    ),
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
