//! Referrals: export under a consent (fail closed through the disclosure log), tracking,
//! tier-3 approvals, and the receiving side (verify, open, import a partner's packet).

use std::str::FromStr;

use serde_json::{Map, Value};

use super::partners::ReceiptCheck;
use super::records::seal_record;
use super::Session;
use crate::crypto;
use crate::domain::time::{format_time, now, today};
use crate::domain::{ConsentBar, NewClient, RecordContent, RecordMeta, SignerRole, Source};
use crate::error::{Error, Result};
use crate::log::{Kind, LegalBasis};
use crate::packet::manifest::RecordRef;
use crate::packet::{
    self, BuiltPacket, ConsentScope, ConsentSigner, ConsentSummary, Expiry, OpenedPacket,
    PacketError, PacketInput, PacketRecord, PublicKey,
};
use crate::policy::Action;
use crate::store;
use crate::store::agencies::AgencyRow;
use crate::store::referrals::{NewReferral, ReferralRow};
use crate::tr;

/// What to export.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ExportRequest {
    pub case_id: i64,
    pub agency: String,
    pub consent_id: i64,
    /// Empty: every record of the case that the consent's scope covers.
    pub records: Vec<i64>,
    pub purpose: String,
    /// The partner's data request this packet answers (logged as a partner response and
    /// closing the request in the same transaction), or `None` for a referral.
    pub request_id: Option<i64>,
    /// The accepted correction request this packet notifies a past recipient of (logged as
    /// a correction notice).
    pub notice_for: Option<i64>,
    /// The caseworker's release request this export releases (deleted in the export's
    /// transaction, so a release happens once).
    #[serde(skip)]
    pub release_of: Option<i64>,
}

/// What `referral export` did: a supervisor's packet, or a caseworker's request waiting for a
/// supervisor's release (only supervisors hold the packet key).
#[derive(Debug)]
pub enum Export {
    Released(Box<(ReferralRow, BuiltPacket)>),
    AwaitingRelease(i64),
}

/// A caseworker's export waiting for a supervisor's release.
#[derive(Debug, serde::Serialize)]
pub struct PendingRelease {
    pub id: i64,
    pub case_id: i64,
    pub agency: String,
    pub consent_id: i64,
    pub purpose: String,
    /// What would leave if released now.
    pub records: Vec<PendingRecord>,
    /// Why a release would be refused now (consent revoked since, …), if it would.
    pub refused: Option<String>,
    /// As the row says (not a signature): who asked.
    pub requested_by: String,
    pub requested_at: i64,
    /// Short digest of the stored request: `referral release` must be given it, so what is
    /// released is exactly what the supervisor reviewed here.
    pub digest: String,
}

/// The digest a supervisor confirms at release: SHA-256 of the request's id, case and text.
fn release_digest(id: i64, case_id: i64, text: &str, records: &[i64]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(id.to_string().as_bytes());
    h.update([0]);
    h.update(case_id.to_string().as_bytes());
    h.update([0]);
    h.update(text.as_bytes());
    // The records as resolved when shown: a request for "everything the consent covers"
    // must not grow between the review and the release.
    for r in records {
        h.update([0]);
        h.update(r.to_string().as_bytes());
    }
    crypto::hex(&h.finalize()[..8])
}

/// One record a pending release would disclose.
#[derive(Debug, serde::Serialize)]
pub struct PendingRecord {
    pub id: i64,
    pub kind: String,
    pub tier: u8,
}

/// A record of a case a consent's scope covers (the web's record step offers these).
#[derive(Debug, Clone)]
pub struct ScopedRecord {
    pub meta: RecordMeta,
    /// Of a supervisor-only tier: it leaves only with a supervisor's approval
    /// (`referral approve`) and a consent that is separate for such records.
    pub restricted: bool,
    /// Who approved disclosing it under this consent, if anyone has.
    pub approved_by: Option<String>,
}

/// Exactly what an export would send, built by the same code as the packet
/// ([`Session::referral_preview`]); nothing is logged, signed or written.
#[derive(Debug)]
pub struct ReferralPreview {
    pub agency: AgencyRow,
    /// The partner's minisign key id (what is read out over the phone at onboarding).
    pub agency_key_id: String,
    pub consent: crate::domain::Consent,
    pub purpose: String,
    /// The records as they go into the packet (`records.json`), in order.
    pub records: Vec<PacketRecord>,
    /// Attachments that go along: name in the packet and size in bytes.
    pub attachments: Vec<(String, usize)>,
    /// Chosen records this member may not read (a supervisor's tier): they leave too, and
    /// the supervisor who releases the export sees them.
    pub unreadable: Vec<PendingRecord>,
    /// Supervisors who approved supervisor-only records in it.
    pub approvers: Vec<String>,
}

/// The checked parts of an export: what would leave, to whom, under which consent.
struct Plan {
    case: crate::domain::Case,
    consent: crate::domain::Consent,
    agency: AgencyRow,
    chosen: Vec<RecordMeta>,
    approvers: Vec<String>,
}

/// Statuses a referral moves through after `sent`.
pub const STATUSES: &[&str] = &["accepted", "rejected", "done", "revoked"];

/// What an import made.
#[derive(Debug, serde::Serialize)]
pub struct ImportedPacket {
    pub packet_id: String,
    pub client_id: i64,
    pub client_number: String,
    pub case_id: i64,
    pub records: Vec<i64>,
    /// How many of them the importer's role may not read (imported encrypted to their tier;
    /// a supervisor opens them).
    pub withheld: usize,
    /// What checking the packet's log receipt found.
    #[serde(flatten)]
    pub receipt: ReceiptCheck,
}

/// A received packet as one staff member may see it.
#[derive(Debug)]
pub struct PacketView {
    /// Without the withheld records, their attachments, and a `records.md` without them.
    pub packet: OpenedPacket,
    /// The manifest entries (id, kind, tier, hash) of records withheld from this reader.
    pub withheld: Vec<RecordRef>,
    /// Attachments withheld with them.
    pub withheld_attachments: usize,
    /// The log entry written because the packet holds supervisor-only records.
    pub logged: Option<u64>,
    /// What checking the packet's log receipt found.
    pub receipt: ReceiptCheck,
}

/// Wipes a packet input's attachment plaintext when dropped (the export's end, or an error).
struct WipeAttachments(PacketInput);

impl Drop for WipeAttachments {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for a in &mut self.0.attachments {
            a.bytes.zeroize();
        }
    }
}

/// A referral the policy refuses (the message says which rule).
fn refuse(msg: String) -> Error {
    Error::PolicyRefused(msg)
}

/// A referral consent `consent` does not allow.
fn consent_refused(consent: i64, reason: String) -> Error {
    Error::ConsentRefused { consent, reason }
}

impl Session {
    /// A supervisor approves disclosing tier-3 `records` of a case under a consent.
    pub fn referral_approve(
        &mut self,
        case_id: i64,
        consent_id: i64,
        records: &[i64],
    ) -> Result<Vec<i64>> {
        self.require(Action::ReferralApprove)?;
        let case = self.case_access(case_id)?;
        let consent = store::consents::get(&self.conn, consent_id)?.ok_or_else(|| {
            consent_refused(consent_id, tr!("referral.no_consent", id = consent_id))
        })?;
        self.verified_consent(&consent)?;
        if consent.client_id != case.client_id {
            return Err(consent_refused(
                consent_id,
                tr!("referral.consent_other_client", id = consent_id),
            ));
        }
        if records.is_empty() {
            return Err(refuse(tr!("referral.no_records")));
        }
        for &r in records {
            if !store::records::list(&self.conn, case_id)?
                .iter()
                .any(|m| m.id == r)
            {
                return Err(refuse(tr!(
                    "referral.record_not_in_case",
                    record = r,
                    case = case_id
                )));
            }
        }
        let me = self.me.name.clone();
        store::write(&self.conn, |tx| {
            for &r in records {
                store::referrals::approve(tx, consent_id, r, case_id, &me, now())?;
            }
            Ok(())
        })?;
        Ok(records.to_vec())
    }

    /// A caseworker's export: every check an export makes, then a request for a supervisor's
    /// release (nothing is decrypted, signed or logged yet); a supervisor's export releases at
    /// once.
    pub fn referral_submit(&mut self, req: &ExportRequest) -> Result<Export> {
        if self.role == crate::policy::Role::Supervisor {
            let (row, built) = self.referral_export(req)?;
            return Ok(Export::Released(Box::new((row, built))));
        }
        // The records are fixed now, as chosen or as the consent covers them today: what the
        // supervisor reviews (and the digest binds) is what leaves, not what the case holds
        // at release (found by the insider test).
        let plan = self.export_plan(req)?;
        let mut fixed = req.clone();
        fixed.records = plan.chosen.iter().map(|m| m.id).collect();
        let text = serde_json::to_string(&fixed).map_err(|e| Error::Invalid(e.to_string()))?;
        let me = self.me.name.clone();
        let id = store::write(&self.conn, |tx| {
            store::releases::insert(tx, req.case_id, &text, &me, now())
        })?;
        Ok(Export::AwaitingRelease(id))
    }

    /// Release requests waiting for a supervisor, with what each would disclose (checked
    /// again at release: the row is only a request).
    pub fn referral_pending(&self) -> Result<Vec<PendingRelease>> {
        self.require(Action::ReferralExport)?;
        let mut out = Vec::new();
        for (id, case_id, text, by, at) in store::releases::list(&self.conn)? {
            if self.case_access(case_id).is_err() {
                continue;
            }
            let req: ExportRequest = serde_json::from_str(&text).map_err(|_| Error::Tampered {
                what: "release request",
                id: id.to_string(),
            })?;
            let plan = self.export_plan(&req);
            let chosen: Vec<i64> = plan
                .as_ref()
                .map(|p| p.chosen.iter().map(|m| m.id).collect())
                .unwrap_or_default();
            out.push(PendingRelease {
                id,
                case_id,
                agency: req.agency.clone(),
                consent_id: req.consent_id,
                purpose: req.purpose.clone(),
                records: plan
                    .as_ref()
                    .map(|p| {
                        p.chosen
                            .iter()
                            .map(|m| PendingRecord {
                                id: m.id,
                                kind: m.kind.clone(),
                                tier: m.tier,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                refused: plan.err().map(|e| e.to_string()),
                requested_by: by,
                requested_at: at,
                digest: release_digest(id, case_id, &text, &chosen),
            });
        }
        Ok(out)
    }

    /// A supervisor releases a caseworker's request: the export runs now, as this supervisor
    /// (every check again, the log entry signed by them, the packet signed with the packet key).
    pub fn referral_release(
        &mut self,
        id: i64,
        digest: &str,
    ) -> Result<(ReferralRow, BuiltPacket)> {
        if self.role != crate::policy::Role::Supervisor {
            return Err(Error::AgencyKeyNotHeld);
        }
        let (_, case_id, text, _, _) =
            store::releases::get(&self.conn, id)?.ok_or(Error::NotFound {
                what: "release request",
                id: id.to_string(),
            })?;
        let tampered = || Error::Tampered {
            what: "release request",
            id: id.to_string(),
        };
        let mut req: ExportRequest = serde_json::from_str(&text).map_err(|_| tampered())?;
        if req.case_id != case_id {
            return Err(tampered());
        }
        // What is released must be what the supervisor reviewed (`referral pending`): the
        // request and the records it resolved to then, which are now pinned explicitly.
        // Resolved as `referral_pending` resolves it (a request that no longer plans lists
        // none); the export below checks everything again.
        let chosen: Vec<i64> = self
            .export_plan(&req)
            .map(|p| p.chosen.iter().map(|m| m.id).collect())
            .unwrap_or_default();
        if !digest
            .trim()
            .eq_ignore_ascii_case(&release_digest(id, case_id, &text, &chosen))
        {
            return Err(refuse(tr!("referral.release_changed", id = id)));
        }
        req.records = chosen;
        req.release_of = Some(id);
        self.referral_export(&req)
    }

    /// The records of a case that a consent's scope covers (the same rule as
    /// [`Session::referral_export`]: `Consent::covers`), once the consent stands now.
    pub fn referral_candidates(&self, case_id: i64, consent_id: i64) -> Result<Vec<ScopedRecord>> {
        self.require(Action::ReferralExport)?;
        let case = self.case_access(case_id)?;
        let consent = self.standing_consent(&case, consent_id)?;
        let mut out = Vec::new();
        for m in store::records::list(&self.conn, case.id)? {
            if !consent.covers(&m.kind, m.tier) {
                continue;
            }
            let restricted = self.policy.tier(m.tier).is_some_and(|t| t.supervisor_only);
            let approved_by = if restricted {
                store::referrals::approver(&self.conn, consent.id, m.id)?
            } else {
                None
            };
            out.push(ScopedRecord {
                meta: m,
                restricted,
                approved_by,
            });
        }
        Ok(out)
    }

    /// What [`Session::referral_export`] would send for `req`: every check of an export, then
    /// the packet input from the same [`Session::packet_input`] the packet is built from, so
    /// the preview cannot drift from what leaves. Logs, signs and writes nothing. Records of
    /// a tier this member may not read are listed, not opened.
    pub fn referral_preview(&self, req: &ExportRequest) -> Result<ReferralPreview> {
        let Plan {
            consent,
            agency,
            chosen,
            approvers,
            ..
        } = self.export_plan(req)?;
        let readable = self.policy.readable_tiers(self.role);
        let (mine, others): (Vec<RecordMeta>, Vec<RecordMeta>) =
            chosen.into_iter().partition(|m| readable.contains(&m.tier));
        let (input, _) = self.packet_input(&consent, &agency, &mine, &req.purpose, 0)?;
        let input = WipeAttachments(input);
        let agency_key_id = PublicKey::parse(&agency.minisign_pubkey)?
            .key_id
            .to_string();
        Ok(ReferralPreview {
            agency_key_id,
            consent,
            purpose: req.purpose.clone(),
            records: input.0.records.clone(),
            attachments: input
                .0
                .attachments
                .iter()
                .map(|a| (a.name.clone(), a.bytes.len()))
                .collect(),
            unreadable: others
                .iter()
                .map(|m| PendingRecord {
                    id: m.id,
                    kind: m.kind.clone(),
                    tier: m.tier,
                })
                .collect(),
            approvers,
            agency,
        })
    }

    /// The consent an export of `case` would go under, if it stands now: ours (its signature
    /// checked), of the case's client, not expired or revoked (`Consent::permits`).
    fn standing_consent(
        &self,
        case: &crate::domain::Case,
        consent_id: i64,
    ) -> Result<crate::domain::Consent> {
        let consent = store::consents::get(&self.conn, consent_id)?.ok_or_else(|| {
            consent_refused(consent_id, tr!("referral.no_consent", id = consent_id))
        })?;
        self.verified_consent(&consent)?;
        if consent.client_id != case.client_id {
            return Err(consent_refused(
                consent.id,
                tr!("referral.consent_other_client", id = consent.id),
            ));
        }
        match consent.permits(now()) {
            Ok(()) => {}
            Err(ConsentBar::Revoked(at)) => {
                return Err(consent_refused(
                    consent.id,
                    tr!(
                        "referral.consent_revoked",
                        id = consent.id,
                        date = format_time(at)
                    ),
                ))
            }
            Err(ConsentBar::Expired | ConsentBar::NotYetSigned) => {
                return Err(consent_refused(
                    consent.id,
                    tr!(
                        "referral.consent_expired",
                        id = consent.id,
                        date = consent.terms.expires_on
                    ),
                ))
            }
        }
        Ok(consent)
    }

    /// Every check of an export, in order; nothing decrypted.
    fn export_plan(&self, req: &ExportRequest) -> Result<Plan> {
        self.require(Action::ReferralExport)?;
        let case = self.case_access(req.case_id)?;
        let client = store::clients::get(&self.conn, case.client_id)?.ok_or(Error::NotFound {
            what: "client",
            id: case.client_id.to_string(),
        })?;
        let consent = self.standing_consent(&case, req.consent_id)?;
        let agency = self.agency_show(&req.agency)?;
        if let Some(rid) = req.request_id {
            let r = store::requests::get(&self.conn, rid)?.ok_or(Error::NotFound {
                what: "request",
                id: rid.to_string(),
            })?;
            let fits = r.kind == crate::domain::RequestKind::Partner
                && r.status == crate::domain::RequestStatus::Open
                && r.client_id == case.client_id
                && r.requester == agency.name;
            if !fits {
                return Err(refuse(tr!("referral.request_mismatch", id = rid)));
            }
        }
        if agency.id != consent.agency_id {
            return Err(consent_refused(
                consent.id,
                tr!(
                    "referral.consent_other_recipient",
                    id = consent.id,
                    agency = agency.name,
                    named = consent.agency_name
                ),
            ));
        }
        if !agency.active {
            return Err(refuse(tr!(
                "referral.agency_inactive",
                agency = agency.name
            )));
        }
        crate::domain::text::single_line("purpose", &req.purpose, crate::domain::text::PHRASE_MAX)?;
        if !consent.terms.purposes.iter().any(|p| p == &req.purpose) {
            return Err(consent_refused(
                consent.id,
                tr!(
                    "referral.purpose_not_consented",
                    purpose = req.purpose,
                    purposes = consent.terms.purposes.join("; ")
                ),
            ));
        }
        if client.is_minor_on(consent.terms.signed_on, self.policy.minor_age)
            && consent.terms.signer_role != SignerRole::Guardian
        {
            return Err(consent_refused(
                consent.id,
                tr!("referral.minor_needs_guardian", id = consent.id),
            ));
        }
        // The records: chosen, or every one the scope covers.
        let all = store::records::list(&self.conn, case.id)?;
        let in_scope = |m: &RecordMeta| consent.covers(&m.kind, m.tier);
        let chosen: Vec<RecordMeta> = if req.records.is_empty() {
            all.iter().filter(|m| in_scope(m)).cloned().collect()
        } else {
            let mut v = Vec::new();
            for &r in &req.records {
                let m = all.iter().find(|m| m.id == r).ok_or_else(|| {
                    refuse(tr!(
                        "referral.record_not_in_case",
                        record = r,
                        case = case.id
                    ))
                })?;
                v.push(m.clone());
            }
            v
        };
        if chosen.is_empty() {
            return Err(consent_refused(consent.id, tr!("referral.no_records")));
        }
        let mut approvers = Vec::new();
        for m in &chosen {
            if !consent.terms.kinds.contains(&m.kind) {
                return Err(consent_refused(
                    consent.id,
                    tr!("referral.kind_out_of_scope", record = m.id, kind = m.kind),
                ));
            }
            if !consent.terms.tiers.contains(&m.tier) {
                return Err(consent_refused(
                    consent.id,
                    tr!("referral.tier_out_of_scope", record = m.id, tier = m.tier),
                ));
            }
            let sensitive = self.policy.tier(m.tier).is_some_and(|t| t.supervisor_only);
            if sensitive {
                if !consent.terms.separate_consent {
                    return Err(consent_refused(
                        consent.id,
                        tr!("referral.tier3_needs_separate", record = m.id),
                    ));
                }
                let a = store::referrals::approver(&self.conn, consent.id, m.id)?
                    .ok_or_else(|| refuse(tr!("referral.tier3_needs_approval", record = m.id)))?;
                if !approvers.contains(&a) {
                    approvers.push(a);
                }
            }
        }
        Ok(Plan {
            case,
            consent,
            agency,
            chosen,
            approvers,
        })
    }

    /// Makes a referral packet under a consent. Every check runs before anything is
    /// decrypted; the referral row and its log entry commit together before the packet is
    /// sealed; the caller writes the returned files only after this returns.
    pub fn referral_export(&mut self, req: &ExportRequest) -> Result<(ReferralRow, BuiltPacket)> {
        let Plan {
            case,
            consent,
            agency,
            chosen,
            approvers,
        } = self.export_plan(req)?;
        let packet_key = self.packet_signing_key()?;
        let created_unix = now().max(0) as u64;
        let (input, recipient) =
            self.packet_input(&consent, &agency, &chosen, &req.purpose, created_unix)?;
        let input = WipeAttachments(input);
        let input = &input.0;
        let prepared = packet::prepare(input, &packet_key, &recipient)?;
        let content_hex = prepared.content_sha256();
        let digest: [u8; 32] = crypto::unhex(&content_hex).ok_or(Error::Tampered {
            what: "packet",
            id: prepared.packet_id().to_string(),
        })?;
        let approver = (!approvers.is_empty()).then(|| approvers.join(","));
        let ids: Vec<i64> = chosen.iter().map(|m| m.id).collect();

        // One transaction: the referral row and its log entry, or neither.
        let kind = match (req.request_id, req.notice_for) {
            (Some(_), _) => Kind::PartnerResponse,
            (None, Some(_)) => Kind::CorrectionNotice,
            (None, None) => Kind::ReferralExport,
        };
        let mut e = self.log_entry(kind, Some(case.id))?;
        e.recipient = agency.name.clone();
        e.purpose = req.purpose.clone();
        e.basis = LegalBasis::Consent(consent.id.to_string());
        e.approver = approver.clone();
        e.disclosed_sha256 = Some(digest);
        e.detail = match (req.request_id, req.notice_for) {
            (Some(rid), _) => format!("request {rid} packet {}", prepared.packet_id()),
            (None, Some(rid)) => {
                format!("correction request {rid} packet {}", prepared.packet_id())
            }
            (None, None) => format!("packet {}", prepared.packet_id()),
        };
        let tx = store::immediate(&self.conn)?;
        if let Some(release) = req.release_of {
            // Released once: a second release of the same request finds no row.
            if !store::releases::delete(&tx, release)? {
                return Err(Error::NotFound {
                    what: "release request",
                    id: release.to_string(),
                });
            }
        }
        let receipt = self.log_append(&tx, &e)?;
        let rid = store::referrals::insert(
            &tx,
            &NewReferral {
                case_id: case.id,
                agency_id: agency.id,
                consent_id: consent.id,
                purpose: &req.purpose,
                records: &ids,
                approver: approver.as_deref(),
                packet_id: prepared.packet_id(),
                content_sha256: &content_hex,
                log_index: receipt.index as i64,
                at: now(),
                by: &self.me.name,
                created_unix: created_unix as i64,
            },
        )?;
        if let Some(request_id) = req.request_id {
            let response = format!("packet {} (referral {rid})", prepared.packet_id());
            store::requests::close(
                &tx,
                request_id,
                &store::requests::Close {
                    status: crate::domain::RequestStatus::Fulfilled,
                    response: &response,
                    withheld: &[],
                    amendment_id: None,
                    statement_id: None,
                    log_index: Some(receipt.index),
                    at: now(),
                    by: &self.me.name,
                },
            )?;
        }
        tx.commit()?;
        let receipt = self.witnessed(receipt)?;

        let built = prepared.seal(packet::Receipt {
            entry_index: receipt.index,
            checkpoint: receipt.checkpoint.clone(),
            body: serde_json::to_value(&receipt).map_err(|e| Error::Invalid(e.to_string()))?,
        })?;
        store::referrals::set_packet_sha256(&self.conn, rid, &built.packet_sha256)?;
        let row = store::referrals::get(&self.conn, rid)?.expect("just inserted");
        Ok((row, built))
    }

    /// The packet input for `chosen` records under a consent to an agency: decrypts each
    /// (checking its author's signature) and its attachments. Deterministic given the same
    /// stored records, consent, agency, policy and `created_unix`, so a resend rebuilds
    /// the same content digest.
    fn packet_input(
        &self,
        consent: &crate::domain::Consent,
        agency: &AgencyRow,
        chosen: &[RecordMeta],
        purpose: &str,
        created_unix: u64,
    ) -> Result<(PacketInput, age::x25519::Recipient)> {
        // The key the packet is encrypted to must be the one the admin signed.
        self.verified_agency(agency)?;
        let recipient = age::x25519::Recipient::from_str(&agency.age_recipient).map_err(|_| {
            Error::Tampered {
                what: "agency",
                id: agency.name.clone(),
            }
        })?;

        // Decrypt (this checks each author's signature too).
        // Their attachments go along as `attachments/<record id>-<name>` (unique: names are
        // unique within a record), each checked against its signed descriptor.
        let mut records = Vec::with_capacity(chosen.len());
        let mut attachments = Vec::new();
        for m in chosen {
            if !self.policy.readable_tiers(self.role).contains(&m.tier) {
                return Err(Error::SupervisorOnly {
                    record: m.id.to_string(),
                });
            }
            let stored = store::records::get(&self.conn, m.id)?.ok_or(Error::NotFound {
                what: "record",
                id: m.id.to_string(),
            })?;
            let payload = self.decrypt_record(&stored)?;
            let content = RecordContent::parse(&payload).ok_or(Error::Tampered {
                what: "record",
                id: m.id.to_string(),
            })?;
            for (seq, d) in content.attachments().iter().enumerate() {
                let bytes = self.decrypt_attachment(m, seq, d)?;
                attachments.push(packet::Attachment {
                    name: format!("{}-{}", m.id, d.name),
                    // The packet input takes a plain Vec; it is wiped below once sealed.
                    bytes: bytes.to_vec(),
                });
            }
            records.push(PacketRecord {
                id: m.id.to_string(),
                kind: m.kind.clone(),
                kind_label: self
                    .policy
                    .template(&m.kind)
                    .map(|t| format!("{} {}", t.label_zh, t.label_en))
                    .unwrap_or_else(|| m.kind.clone()),
                tier: self.tier_name(m.tier),
                // Digest-bound (resend): UTC, the same in every zone.
                created: crate::domain::time::format_time_utc(m.created_at),
                author: m.author.clone(),
                amends: m.amends.map(|a| a.to_string()),
                content: Value::Object(content.fields),
            });
        }
        let input = PacketInput {
            created_unix,
            sender_name: self.agency()?,
            recipient_name: agency.name.clone(),
            purpose: purpose.to_string(),
            consent: ConsentSummary {
                consent_id: consent.id.to_string(),
                signer: ConsentSigner {
                    role: consent.terms.signer_role.code().into(),
                    name: consent.terms.signer_name.clone(),
                    authority: consent.terms.authority.clone(),
                },
                scope: ConsentScope {
                    kinds: consent.terms.kinds.clone(),
                    tiers: consent
                        .terms
                        .tiers
                        .iter()
                        .map(|t| self.tier_name(*t))
                        .collect(),
                    description: consent.terms.description.clone(),
                },
                separate_consent: consent.terms.separate_consent,
                signed_on: consent.terms.signed_on.to_string(),
                expires: Expiry::Date(consent.terms.expires_on.to_string()),
                revoke: consent.terms.revoke_how.clone(),
            },
            redisclosure_notice: consent.terms.redisclosure_notice.clone(),
            records,
            attachments,
            receipt: None,
        };
        Ok((input, recipient))
    }

    /// Rebuilds a committed referral packet whose file was not written: the same packet id,
    /// manifest time, records and purpose as stored, checked against the content digest in
    /// the referral row and in its log entry (refused if they differ), sealed with a receipt
    /// from the current log. Logs nothing: it is the same disclosure. Allowed to whoever
    /// could have made the original.
    pub fn referral_resend(&mut self, id: i64) -> Result<(ReferralRow, BuiltPacket)> {
        self.require(Action::ReferralExport)?;
        let row = store::referrals::get(&self.conn, id)?.ok_or(Error::NotFound {
            what: "referral",
            id: id.to_string(),
        })?;
        self.case_access(row.case_id)?;
        let tampered = || Error::Tampered {
            what: "referral",
            id: id.to_string(),
        };
        let consent = store::consents::get(&self.conn, row.consent_id)?.ok_or_else(tampered)?;
        self.verified_consent(&consent)?;
        if let Some(d) = consent.revoked_on {
            return Err(consent_refused(
                consent.id,
                tr!("referral.consent_revoked", id = consent.id, date = d),
            ));
        }
        let agency = store::agencies::get(&self.conn, row.agency_id)?.ok_or_else(tampered)?;
        if !agency.active {
            return Err(refuse(tr!(
                "referral.agency_inactive",
                agency = agency.name
            )));
        }
        let created = row
            .created_unix
            .ok_or_else(|| refuse(tr!("referral.resend_too_old", id = id)))?;
        let mut chosen = Vec::with_capacity(row.records.len());
        for r in &row.records {
            chosen.push(
                store::records::get(&self.conn, *r)?
                    .ok_or_else(tampered)?
                    .meta,
            );
        }
        let (input, recipient) = self.packet_input(
            &consent,
            &agency,
            &chosen,
            &row.purpose,
            created.max(0) as u64,
        )?;
        let input = WipeAttachments(input);
        let logged = crate::log::entry_at(&self.conn, row.log_index as u64)?
            .and_then(|e| e.disclosed_sha256)
            .map(|d| crypto::hex(&d));
        // The packet key that signed the original (the manifest names it, so the content
        // digest matches only with that key): newest first.
        let keys = self.packet_signing_keys()?;
        let mut found = None;
        for key in &keys {
            let prepared =
                packet::prepare_with_id(&input.0, key, &recipient, row.packet_id.clone())?;
            let digest = prepared.content_sha256();
            if digest == row.content_sha256 && logged.as_deref() == Some(digest.as_str()) {
                found = Some(prepared);
                break;
            }
        }
        let prepared = found.ok_or_else(|| refuse(tr!("referral.resend_mismatch", id = id)))?;
        let receipt = crate::log::receipt_for(&self.conn, row.log_index as u64)?;
        let receipt = self.witnessed(receipt)?;
        let built = prepared.seal(packet::Receipt {
            entry_index: receipt.index,
            checkpoint: receipt.checkpoint.clone(),
            body: serde_json::to_value(&receipt).map_err(|e| Error::Invalid(e.to_string()))?,
        })?;
        store::referrals::set_packet_sha256(&self.conn, id, &built.packet_sha256)?;
        let row = store::referrals::get(&self.conn, id)?.ok_or_else(tampered)?;
        Ok((row, built))
    }

    fn tier_name(&self, level: u8) -> String {
        self.policy
            .tier(level)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| level.to_string())
    }

    /// Referrals of cases the actor may see.
    pub fn referral_list(&self, case_id: Option<i64>) -> Result<Vec<ReferralRow>> {
        self.require(Action::ClientRead)?;
        if let Some(c) = case_id {
            self.case_access(c)?;
        }
        let rows = store::referrals::list(&self.conn, case_id)?;
        Ok(rows
            .into_iter()
            .filter(|r| self.case_access(r.case_id).is_ok())
            .collect())
    }

    /// Records what the partner did with a referral.
    pub fn referral_status(
        &mut self,
        id: i64,
        status: &str,
        reason: Option<&str>,
    ) -> Result<ReferralRow> {
        self.require(Action::ReferralExport)?;
        let r = store::referrals::get(&self.conn, id)?.ok_or(Error::NotFound {
            what: "referral",
            id: id.to_string(),
        })?;
        self.case_access(r.case_id)?;
        if !STATUSES.contains(&status) {
            return Err(Error::Invalid(tr!(
                "referral.bad_status",
                status = status,
                statuses = STATUSES.join(", ")
            )));
        }
        if status == "rejected" && reason.is_none_or(|r| r.trim().is_empty()) {
            return Err(Error::Invalid(tr!("referral.reject_needs_reason")));
        }
        if let Some(r) = reason {
            crate::domain::text::single_line("reason", r, crate::domain::text::LINE_MAX)?;
        }
        store::write(&self.conn, |tx| {
            store::referrals::set_status(tx, id, status, reason, now())
        })?;
        Ok(store::referrals::get(&self.conn, id)?.expect("exists"))
    }

    fn partner_key(&self, agency: &AgencyRow) -> Result<PublicKey> {
        self.verified_agency(agency)?;
        Ok(PublicKey::parse(&agency.minisign_pubkey)?)
    }

    /// Checks a packet's signature by a partner agency, then decrypts it in memory to check its
    /// log receipt (nothing of its content is returned); returns the trusted comment.
    pub fn packet_verify(
        &self,
        agency: &str,
        ciphertext: &[u8],
        minisig: &str,
    ) -> Result<(String, ReceiptCheck)> {
        let a = self.agency_show(agency)?;
        let opened = self.open_with_inbound(&a, ciphertext, minisig)?;
        let check = self.packet_receipt(&a, &opened)?;
        Ok((opened.trusted_comment.clone(), check))
    }

    /// Verifies and decrypts a packet from a partner agency (in memory only), as this staff
    /// member may see it: records of a tier their role may not read are withheld (see
    /// [`OpenedPacket::withhold`]). Opening a packet that holds supervisor-only records is
    /// logged first (fail closed: no entry, nothing shown), whether they are shown or withheld.
    pub fn packet_open(
        &self,
        agency: &str,
        ciphertext: &[u8],
        minisig: &str,
    ) -> Result<PacketView> {
        let a = self.agency_show(agency)?;
        let opened = self.packet_decrypt(&a, ciphertext, minisig)?;
        let receipt = self.packet_receipt(&a, &opened)?;
        let supervisor_only = self.supervisor_only_count(&opened.records);
        let (packet, withheld, withheld_attachments) =
            opened.withhold(|r| !self.may_read_packet_tier(&r.tier));
        let mut logged = None;
        if supervisor_only > 0 {
            let tx = store::immediate(&self.conn)?;
            let e = self.packet_log_entry(
                &packet,
                &a,
                None,
                "packet open",
                supervisor_only,
                !withheld.is_empty(),
            )?;
            logged = Some(self.log_append(&tx, &e)?.index);
            tx.commit()?;
        }
        Ok(PacketView {
            packet,
            withheld,
            withheld_attachments,
            logged,
            receipt,
        })
    }

    /// Signature, decryption and every hash, with no access decision yet (the caller withholds).
    fn packet_decrypt(
        &self,
        a: &AgencyRow,
        ciphertext: &[u8],
        minisig: &str,
    ) -> Result<OpenedPacket> {
        self.require(Action::RecordRead)?;
        self.open_with_inbound(a, ciphertext, minisig)
    }

    /// Signature, decryption with the inbound keys this supervisor holds, and every hash.
    fn open_with_inbound(
        &self,
        a: &AgencyRow,
        ciphertext: &[u8],
        minisig: &str,
    ) -> Result<OpenedPacket> {
        let sender = self.partner_key(a)?;
        // Every inbound key a supervisor holds (partners may still use an older one).
        let mut last = None;
        for identity in self.inbound_identities()? {
            match packet::open(ciphertext, minisig, &sender, &identity) {
                Err(
                    e @ PacketError::WrongRecipient {
                        manifest_names: None,
                    },
                ) => last = Some(e),
                other => return Ok(other?),
            }
        }
        Err(last
            .unwrap_or(PacketError::WrongRecipient {
                manifest_names: None,
            })
            .into())
    }

    /// Whether this role may read records of a packet tier (a partner's tier name, looked up
    /// in our policy). A name our policy does not know is treated as the top tier: only a
    /// role that reads every tier sees it.
    fn may_read_packet_tier(&self, tier: &str) -> bool {
        let readable = self.policy.readable_tiers(self.role);
        match self.policy.tier_by_name(tier) {
            Some(t) => readable.contains(&t.level),
            None => self
                .policy
                .tiers
                .iter()
                .all(|t| readable.contains(&t.level)),
        }
    }

    /// How many records are of a supervisor-only tier (or of a tier our policy does not know).
    fn supervisor_only_count(&self, records: &[PacketRecord]) -> usize {
        records
            .iter()
            .filter(|r| {
                self.policy
                    .tier_by_name(&r.tier)
                    .is_none_or(|t| t.supervisor_only)
            })
            .count()
    }

    /// The log entry for opening or importing a packet with supervisor-only records: ids and
    /// counts only, the packet's SHA-256 as what was disclosed to the vault.
    fn packet_log_entry(
        &self,
        p: &OpenedPacket,
        a: &AgencyRow,
        case_id: Option<i64>,
        purpose: &str,
        supervisor_only: usize,
        withheld: bool,
    ) -> Result<crate::log::NewEntry> {
        let mut e = self.log_entry(Kind::Tier3Read, case_id)?;
        e.basis = LegalBasis::InternalDuty;
        e.purpose = purpose.into();
        e.detail = format!(
            "packet {} from agency {}: {} supervisor-only record(s) {}",
            p.manifest.packet_id,
            a.id,
            supervisor_only,
            if withheld { "withheld" } else { "shown" }
        );
        e.disclosed_sha256 = crypto::unhex(&p.packet_sha256);
        if e.disclosed_sha256.is_none() {
            return Err(Error::Tampered {
                what: "packet",
                id: p.manifest.packet_id.clone(),
            });
        }
        Ok(e)
    }

    /// Imports a partner's packet: a new client and case, its records as new records authored
    /// by the importer, each with a note naming the source packet. All in one transaction;
    /// a packet id or ciphertext seen before is refused.
    pub fn packet_import(
        &mut self,
        agency: &str,
        ciphertext: &[u8],
        minisig: &str,
        client: Option<NewClient>,
    ) -> Result<ImportedPacket> {
        for a in [Action::ClientAdd, Action::CaseOpen, Action::RecordWrite] {
            self.require(a)?;
        }
        let a = self.agency_show(agency)?;
        let opened = self.packet_decrypt(&a, ciphertext, minisig)?;
        let supervisor_only = self.supervisor_only_count(&opened.records);
        let withheld = opened
            .records
            .iter()
            .filter(|r| !self.may_read_packet_tier(&r.tier))
            .count();
        let pid = opened.manifest.packet_id.clone();
        if store::referrals::imported(&self.conn, &pid, &opened.packet_sha256)? {
            return Err(PacketError::Replayed { packet_id: pid }.into());
        }
        let receipt = self.packet_receipt(&a, &opened)?;
        let new_client = client.unwrap_or_else(|| NewClient {
            number: format!("REF-{}", &pid[..12]),
            name: tr!("referral.imported_client_name", agency = a.name),
            birth_date: None,
            gender: crate::domain::Gender::Unstated,
            phone: String::new(),
            address: String::new(),
            id_number: String::new(),
            guardians: Vec::new(),
            risk: crate::domain::Risk::None,
            category: crate::domain::Category::Basic,
        });
        new_client.check(today())?;
        // Resolve every record before writing anything.
        let mut items = Vec::with_capacity(opened.records.len());
        for r in &opened.records {
            let tier = self
                .policy
                .tier_by_name(&r.tier)
                .ok_or_else(|| Error::Invalid(tr!("referral.import_unknown_tier", tier = r.tier)))?
                .level;
            if self.policy.template(&r.kind).is_none() {
                return Err(Error::Invalid(tr!("vault.unknown_kind", kind = r.kind)));
            }
            let mut fields = match &r.content {
                Value::Object(m) => m.clone(),
                _ => Map::new(),
            };
            let note = tr!(
                "referral.import_note",
                packet = pid,
                agency = a.name,
                record = r.id
            );
            let note = match fields.get("note") {
                Some(Value::String(old)) if !old.is_empty() => format!("{note}\n{old}"),
                _ => note,
            };
            fields.insert("note".into(), Value::String(note));
            items.push((r.kind.clone(), tier, fields));
        }
        let me = self.me.name.clone();
        let signer = self.me.signing.clone();
        let at = now();

        let sha = opened.packet_sha256.clone();
        let (client_id, case_id, ids) = store::write(&self.conn, |tx| {
            let client_id = store::clients::insert(tx, &new_client, at, &me)?;
            let case_id = store::cases::insert(tx, client_id, Source::Referral, at, &me)?;
            self.start_case(tx, case_id, at)?;
            let epoch = store::keys::current_epoch(tx, case_id)?.unwrap_or(1);
            let mut ids = Vec::new();
            let mut sealed = Vec::new();
            for (kind, tier, fields) in &items {
                let meta = RecordMeta {
                    id: store::records::next_id(tx)?,
                    case_id,
                    kind: kind.clone(),
                    tier: *tier,
                    author: me.clone(),
                    created_at: at,
                    amends: None,
                    epoch,
                };
                let recipient = self.tier_recipient(tx, case_id, epoch, *tier)?;
                let (body, sig) = seal_record(&meta, fields, &[], &recipient, &signer)?;
                store::records::insert(tx, &meta, &body, &sig)?;
                ids.push(meta.id);
                sealed.push((meta, sig));
            }
            let batch: Vec<(&RecordMeta, &[u8])> =
                sealed.iter().map(|(m, s)| (m, s.as_slice())).collect();
            self.commit_records(tx, &batch)?;
            store::referrals::note_import(tx, &pid, &sha, a.id, case_id, at, &me)?;
            if supervisor_only > 0 {
                let e = self.packet_log_entry(
                    &opened,
                    &a,
                    Some(case_id),
                    "packet import",
                    supervisor_only,
                    withheld > 0,
                )?;
                self.log_append(tx, &e)?;
            }
            Ok((client_id, case_id, ids))
        })?;
        Ok(ImportedPacket {
            packet_id: opened.manifest.packet_id.clone(),
            client_id,
            client_number: new_client.number,
            case_id,
            records: ids,
            withheld,
            receipt,
        })
    }
}
