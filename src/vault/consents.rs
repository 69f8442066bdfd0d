//! Partner agencies and consents: metadata, managed under policy; a consent's scanned form
//! is encrypted to its case's tier-2 key like a record.

use std::str::FromStr;

use super::authority::Claim;
use super::Session;
use crate::crypto;
use crate::domain::text::{single_line, ADDRESS_MAX, NAME_MAX, PHRASE_MAX};
use crate::domain::time::{now, today, Date};
use crate::domain::{Consent, ConsentProblem, ConsentTerms};
use crate::error::{Error, Result};
use crate::packet::PublicKey;
use crate::policy::Action;
use crate::store;
use crate::store::agencies::AgencyRow;
use crate::tr;

/// The tier a consent's scanned form is encrypted to (case content, `confidential`).
pub const FORM_TIER: u8 = 2;

/// Turns a consent rule failure into a message.
pub fn problem_text(p: &ConsentProblem) -> String {
    match p {
        ConsentProblem::Missing(f) => tr!("referral.consent_missing", field = f),
        ConsentProblem::ExpiryBeforeSigning => tr!("referral.consent_expiry_before_signing"),
        ConsentProblem::SignedInFuture => tr!("referral.consent_signed_in_future"),
        ConsentProblem::GuardianRequired => tr!("referral.consent_guardian_required"),
        ConsentProblem::SeparateConsentRequired => tr!("referral.consent_separate_required"),
        ConsentProblem::Field(e) => e.to_string(),
    }
}

impl Session {
    /// Registers a partner agency (admin).
    pub fn agency_add(
        &mut self,
        name: &str,
        age_recipient: &str,
        minisign_pubkey: &str,
        log_key: Option<&str>,
        contact: &str,
    ) -> Result<AgencyRow> {
        self.require(Action::AgencyManage)?;
        if name.trim().is_empty() {
            return Err(Error::Invalid(tr!("referral.agency_name_empty")));
        }
        single_line("name", name, NAME_MAX)?;
        single_line("contact", contact, ADDRESS_MAX)?;
        let r = age::x25519::Recipient::from_str(age_recipient.trim())
            .map_err(|_| Error::Invalid(tr!("referral.bad_age_recipient")))?;
        let k = PublicKey::parse(minisign_pubkey)?;
        let log_key = match log_key {
            Some(v) => Some(
                crate::log::VerifierKey::parse(v.trim())
                    .map_err(|e| Error::Invalid(tr!("packet.bad_log_key", reason = e)))?
                    .encode(),
            ),
            None => None,
        };
        let me = self.me.name.clone();
        let id = store::write(&self.conn, |tx| {
            let id = store::agencies::insert(
                tx,
                name.trim(),
                &r.to_string(),
                &k.to_base64(),
                contact,
                now(),
                &me,
            )?;
            let claim = Claim::Agency {
                id,
                name: name.trim().to_string(),
                age_recipient: r.to_string(),
                minisign_pubkey: k.to_base64(),
                log_key,
            };
            self.attest(tx, &claim, None)?;
            Ok(id)
        })?;
        Ok(store::agencies::get(&self.conn, id)?.expect("just inserted"))
    }

    /// The log verifier key recorded for a partner agency, from its signed statement.
    pub fn agency_log_key(&self, a: &AgencyRow) -> Result<Option<String>> {
        self.verified_agency(a)
    }

    /// Partner agencies (any staff member may see who the partners are).
    pub fn agency_list(&self) -> Result<Vec<AgencyRow>> {
        store::agencies::list(&self.conn)
    }

    /// A partner agency by name or id.
    pub fn agency_show(&self, key: &str) -> Result<AgencyRow> {
        store::agencies::find(&self.conn, key)?.ok_or_else(|| Error::NotFound {
            what: "agency",
            id: key.to_string(),
        })
    }

    /// Ends a partnership (admin): no packets to or from it from now on.
    pub fn agency_remove(&mut self, key: &str) -> Result<AgencyRow> {
        self.require(Action::AgencyManage)?;
        let a = self.agency_show(key)?;
        store::write(&self.conn, |tx| store::agencies::deactivate(tx, a.id))?;
        self.agency_show(&a.id.to_string())
    }

    /// Our packet key's minisign public key: partners verify our packets with it.
    pub fn our_minisign_key(&self) -> Result<PublicKey> {
        self.our_agency_keys()?.keys.packet_key()
    }

    /// Our inbound age recipient (partners encrypt packets for us to it).
    pub fn inbound_recipient(&self) -> Result<String> {
        Ok(self.our_agency_keys()?.keys.inbound)
    }

    /// Records a signed consent. `form` is (case id, scanned bytes): the form is encrypted to
    /// that case's tier-2 key.
    pub fn consent_add(
        &mut self,
        client: &str,
        agency: &str,
        terms: &ConsentTerms,
        form: Option<(i64, &[u8])>,
    ) -> Result<Consent> {
        self.require(Action::ConsentManage)?;
        let c = self.client_show(client)?;
        let a = self.agency_show(agency)?;
        if !a.active {
            return Err(Error::PolicyRefused(tr!(
                "referral.agency_inactive",
                agency = a.name
            )));
        }
        for k in &terms.kinds {
            if self.policy.template(k).is_none() {
                return Err(Error::Invalid(tr!("vault.unknown_kind", kind = k)));
            }
        }
        let mut sensitive = false;
        for t in &terms.tiers {
            let tier = self.policy.tier(*t).ok_or_else(|| {
                Error::Invalid(tr!(
                    "vault.bad_tier",
                    tier = t,
                    max = self.policy.max_tier()
                ))
            })?;
            sensitive |= tier.supervisor_only;
        }
        let minor = c.is_minor_on(terms.signed_on, self.policy.minor_age);
        terms
            .check(today(), minor, sensitive)
            .map_err(|p| Error::Invalid(problem_text(&p)))?;
        let form_case = match form {
            Some((_, bytes)) if bytes.len() > crate::domain::MAX_RECORD_ATTACHMENT_BYTES => {
                return Err(Error::Invalid(tr!(
                    "referral.form_too_large",
                    max_mib = crate::domain::MAX_RECORD_ATTACHMENT_BYTES >> 20
                )));
            }
            Some((case_id, bytes)) => {
                let case = self.case_access(case_id)?;
                if case.client_id != c.id {
                    return Err(Error::Invalid(tr!(
                        "referral.form_case_other_client",
                        case = case_id
                    )));
                }
                Some((case_id, bytes))
            }
            None => None,
        };
        let me = self.me.name.clone();
        // The form's epoch is chosen and the form encrypted inside the write transaction, so a
        // concurrent rekey cannot retire that epoch between the two.
        let id = store::write(&self.conn, |tx| {
            let stored_form = match form_case {
                Some((case_id, bytes)) => {
                    let epoch = self.epoch_for_write(tx, case_id)?;
                    let r = self.tier_recipient(tx, case_id, epoch, FORM_TIER)?;
                    Some(store::consents::StoredForm {
                        case_id,
                        epoch,
                        tier: FORM_TIER,
                        body: crypto::encrypt(&r, bytes)?,
                    })
                }
                None => None,
            };
            let id =
                store::consents::insert(tx, c.id, a.id, terms, stored_form.as_ref(), now(), &me)?;
            let claim = Claim::Consent {
                id,
                client: c.id,
                agency: a.id,
                terms: serde_json::to_string(terms).map_err(|e| Error::Invalid(e.to_string()))?,
            };
            self.attest(tx, &claim, None)?;
            Ok(id)
        })?;
        self.consent_show(id)
    }

    /// Tests only (`CASEVAULT_TEST_MODE=1`): signs the consent row `id` as it stands, so a test
    /// can build a consent the domain rules would refuse and show that an export refuses it too.
    #[doc(hidden)]
    pub fn attest_consent_unchecked(&self, id: i64) -> Result<()> {
        if std::env::var("CASEVAULT_TEST_MODE").ok().as_deref() != Some("1") {
            return Err(Error::NotPermitted {
                action: "test.attest".into(),
                role: self.role.as_str().into(),
            });
        }
        let c = store::consents::get(&self.conn, id)?.ok_or_else(|| Error::NotFound {
            what: "consent",
            id: id.to_string(),
        })?;
        let claim = Claim::Consent {
            id,
            client: c.client_id,
            agency: c.agency_id,
            terms: serde_json::to_string(&c.terms).map_err(|e| Error::Invalid(e.to_string()))?,
        };
        store::write(&self.conn, |tx| self.attest(tx, &claim, None).map(|_| ()))
    }

    /// A consent, if the actor may see its client.
    pub fn consent_show(&self, id: i64) -> Result<Consent> {
        self.require(Action::ClientRead)?;
        let c = store::consents::get(&self.conn, id)?.ok_or_else(|| Error::NotFound {
            what: "consent",
            id: id.to_string(),
        })?;
        self.client_show(&c.client_id.to_string())?;
        // Shown as it stands only if its signed statements say so: a planted or edited row
        // must not be printed as a form to sign or offered as standing (insider test).
        self.verified_consent(&c)?;
        Ok(c)
    }

    /// Consents of one client, or of every client the actor may see, each checked against
    /// its signed statements (a planted or edited row is a tamper alarm, not a consent).
    pub fn consent_list(&self, client: Option<&str>) -> Result<Vec<Consent>> {
        self.require(Action::ClientRead)?;
        match client {
            Some(k) => {
                let c = self.client_show(k)?;
                self.consents_of(c.id)
            }
            None => self.all_consents(),
        }
    }

    /// The consents of the client with id `client_id` (a page holding a case's client id:
    /// a lookup by `client_show`'s key could match another client's number), checked as
    /// [`Session::consent_list`] checks them.
    pub fn consents_of(&self, client_id: i64) -> Result<Vec<Consent>> {
        self.client_get(client_id)?;
        let list = store::consents::list(&self.conn, Some(client_id))?;
        for c in &list {
            self.verified_consent(c)?;
        }
        Ok(list)
    }

    /// Every consent of the clients the actor may see, each checked.
    fn all_consents(&self) -> Result<Vec<Consent>> {
        let visible: Vec<i64> = self.client_list()?.iter().map(|c| c.id).collect();
        let list: Vec<Consent> = store::consents::list(&self.conn, None)?
            .into_iter()
            .filter(|c| visible.contains(&c.client_id))
            .collect();
        for c in &list {
            self.verified_consent(c)?;
        }
        Ok(list)
    }

    /// Records a revocation: on `on`, received through `via` (phone, letter, in person…).
    pub fn consent_revoke(&mut self, id: i64, on: Date, via: &str) -> Result<Consent> {
        self.require(Action::ConsentManage)?;
        let c = self.consent_show(id)?;
        if let Some(d) = c.revoked_on {
            return Err(Error::Invalid(tr!(
                "referral.consent_revoked_already",
                id = id,
                date = d
            )));
        }
        if via.trim().is_empty() {
            return Err(Error::Invalid(tr!(
                "referral.consent_missing",
                field = "via"
            )));
        }
        single_line("via", via, PHRASE_MAX)?;
        // The moment it takes effect: now when recorded the same day; a revocation dated
        // earlier (a letter read late) takes effect from the start of that day, so disclosures
        // made meanwhile are flagged; none may be dated in the future.
        let t = now();
        let today = Date::from_unix(t);
        if on > today {
            return Err(Error::Invalid(tr!("referral.revoke_in_future", date = on)));
        }
        let at = if on == today { t } else { on.to_unix() };
        store::write(&self.conn, |tx| {
            store::consents::revoke(tx, id, on, at, via)?;
            let claim = Claim::ConsentRevoked {
                id,
                on: on.to_string(),
                at,
                via: via.to_string(),
            };
            self.attest(tx, &claim, None)?;
            Ok(())
        })?;
        self.consent_show(id)
    }

    /// The scanned form's bytes, decrypted with this session's case keys.
    pub fn consent_form_scan(&self, id: i64) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        self.require(Action::RecordRead)?;
        self.consent_show(id)?;
        let f = store::consents::form(&self.conn, id)?.ok_or_else(|| Error::NotFound {
            what: "consent form",
            id: id.to_string(),
        })?;
        self.case_access(f.case_id)?;
        let set = self.case_keys(f.case_id, f.epoch)?;
        let identity = set.tier(f.tier).ok_or(Error::NotAssigned {
            case: f.case_id.to_string(),
        })?;
        crypto::decrypt(&[identity], &f.body)?.ok_or(Error::Tampered {
            what: "consent form",
            id: id.to_string(),
        })
    }
}
