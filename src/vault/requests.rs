//! Data-subject and partner requests (see `docs/requests.md`): intake with due dates from
//! policy, access packages, corrections (accepted or denied with the client's statement),
//! and partner requests (refused with a reason, or answered with a packet under consent).
//!
//! Fail closed, as for every disclosure: an access package's log entry and the request's
//! status change commit in one IMMEDIATE transaction before the package file appears.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use rusqlite::Connection;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::{Map, Value};

use super::access_package::{self, DisclosedRecord, Disclosure, PackageInput, PackageRecord};
use super::disclosure::{basis_text, id_mac};
use super::output::{resend_command, OutputSet};
use super::Session;
use crate::crypto;
use crate::domain::text::{multi_line, single_line, FREE_TEXT_MAX, LINE_MAX, NAME_MAX};
use crate::domain::time::{format_time, now, today, Date, EARLIEST_EVENT};
use crate::domain::{
    Authority, Client, RecordContent, RecordMeta, Request, RequestKind, RequestStatus, Withheld,
};
use crate::error::{Error, Result};
use crate::log::{self, Kind, KindCode, LegalBasis};
use crate::policy::validate::{NOTE_FIELD, THIRD_PARTY_FIELD};
use crate::policy::{Action, Policy};
use crate::store;
use crate::store::requests::{Close, NewRow, PackageInputs};
use crate::tr;

/// Log kinds that count as disclosures in a client's accounting (when bytes were disclosed).
pub const ACCOUNTED_KINDS: [KindCode; 4] = [
    KindCode::ReferralExport,
    KindCode::AccessPackage,
    KindCode::PartnerResponse,
    KindCode::CorrectionNotice,
];

/// A request as received.
#[derive(Clone, Debug)]
pub struct NewRequest {
    pub kind: RequestKind,
    /// Client id or agency number.
    pub client: String,
    pub requester: String,
    pub authority: Authority,
    pub identity_check: String,
    /// Defaults to today.
    pub received: Option<Date>,
    /// The record a correction request is about.
    pub record_id: Option<i64>,
}

/// Whom an access package is encrypted to.
pub enum PackageTo {
    /// An X25519 age recipient the client gave.
    Recipient(age::x25519::Recipient),
    /// A passphrase the client will be told in person (age scrypt).
    Passphrase(SecretString),
}

impl PackageTo {
    /// A package passphrase is new each time and guards the client's whole file: the same
    /// strength rule as a staff passphrase.
    pub fn check(&self) -> Result<()> {
        match self {
            PackageTo::Recipient(_) => Ok(()),
            PackageTo::Passphrase(p) => super::init::check_new_passphrase(p, &[]),
        }
    }
}

/// The result of fulfilling an access request.
#[derive(Debug, Serialize)]
pub struct AccessOutcome {
    pub request: Request,
    pub package: PathBuf,
    pub receipt: PathBuf,
    pub log_index: u64,
    pub package_sha256: String,
    pub records: usize,
    pub withheld: usize,
    pub disclosures: usize,
}

/// An access package for the web interface: the age ciphertext and its receipt, held in
/// memory only and served as a download (no file outside the vault).
pub struct PackageDownload {
    pub request_id: i64,
    pub log_index: u64,
    pub cipher: Vec<u8>,
    pub receipt_json: String,
    pub records: usize,
    pub withheld: usize,
    pub disclosures: usize,
}

/// A package built and logged (or rebuilt), before its receipt is witnessed.
struct Committed {
    cipher: Vec<u8>,
    receipt: log::Receipt,
    package_sha256: String,
    records: usize,
    withheld: usize,
    disclosures: usize,
}

/// What an access package will hold, before it is made: the client's records by metadata
/// (no content is decrypted, so nothing is read), the ones withheld by tier, and the
/// accounting of disclosures. Records flagged third-party are found (and withheld) only
/// when the package is built.
#[derive(Debug, Serialize)]
pub struct PackagePreview {
    pub records: Vec<PreviewRecord>,
    pub disclosures: Vec<Disclosure>,
    pub lookback_years: u32,
    pub lookback_from: Date,
}

/// One record in a [`PackagePreview`].
#[derive(Debug, Serialize)]
pub struct PreviewRecord {
    pub meta: RecordMeta,
    /// The kind's labels from its template.
    pub kind_zh: String,
    pub kind_en: String,
    /// The withholding reason code (`supervisor_only_tier`), or `None`: given to the client.
    pub withheld: Option<String>,
}

/// Where a fulfilled access package stands for handing over again.
#[derive(Debug, Serialize)]
pub struct PackageState {
    /// A checkpoint covers its log entry (a caseworker's package waits for a supervisor's
    /// session to sign one).
    pub covered: bool,
    /// The client's age recipient was stored (else a new download needs the passphrase).
    pub stored_recipient: bool,
}

/// A past recipient of the client's records, to be sent an amendment notice.
#[derive(Debug, Serialize)]
pub struct PastRecipient {
    pub recipient: String,
    pub time: i64,
    pub date: String,
    pub log_index: u64,
    pub detail: String,
    /// The referral that carried the record, and the consent it went under.
    pub referral_id: i64,
    pub case_id: i64,
    pub consent_id: i64,
    pub purpose: String,
}

/// What notifying one past recipient of a correction did.
#[derive(Debug, Serialize)]
pub struct NoticeOutcome {
    pub referral_id: i64,
    pub recipient: String,
    pub packet_id: Option<String>,
    /// The notice's own referral row (its log entry is the correction notice).
    pub notice_referral_id: Option<i64>,
    /// Where the packet was written.
    pub file: Option<PathBuf>,
    /// The notice was logged but its file could not be written: the message, with the
    /// `referral resend` command that writes it.
    pub not_written: Option<String>,
    /// Why no packet was sent (e.g. the consent expired): notify them another way.
    pub not_sent: Option<String>,
}

/// The result of accepting a correction.
#[derive(Debug, Serialize)]
pub struct CorrectionOutcome {
    pub request: Request,
    pub amendment: RecordMeta,
    /// Everyone the client's records were exported to (issue 4 narrows this to the
    /// referrals that included the amended record).
    pub notify: Vec<PastRecipient>,
    pub log_index: u64,
}

/// Checks that the requester may ask on the client's behalf.
pub fn check_authority(policy: &Policy, client: &Client, n: &NewRequest, on: Date) -> Result<()> {
    let partner_kind = n.kind == RequestKind::Partner;
    let partner_auth = n.authority == Authority::Partner;
    if partner_kind != partner_auth {
        return Err(Error::Invalid(tr!(
            "requests.authority_kind",
            kind = n.kind.code(),
            authority = n.authority.code()
        )));
    }
    if n.requester.trim().is_empty() {
        return Err(Error::Invalid(tr!("requests.requester_empty")));
    }
    let minor = client.is_minor_on(on, policy.minor_age);
    match n.authority {
        Authority::Client if minor => Err(Error::PolicyRefused(tr!(
            "requests.minor_needs_guardian",
            client = client.data.number,
            age = policy.minor_age
        ))),
        Authority::Guardian => {
            let listed = client
                .data
                .guardians
                .iter()
                .any(|g| g.name.trim() == n.requester.trim());
            if listed {
                Ok(())
            } else {
                Err(Error::PolicyRefused(tr!(
                    "requests.not_a_guardian",
                    client = client.data.number
                )))
            }
        }
        Authority::Agent if n.identity_check.trim().is_empty() => {
            Err(Error::Invalid(tr!("requests.agent_needs_check")))
        }
        _ => Ok(()),
    }
}

/// The first day an access request's accounting covers: `years` before `today`.
pub fn lookback_start(today: Date, years: u32) -> Date {
    today.add_years(-i32::try_from(years).unwrap_or(i32::MAX))
}

impl Session {
    /// Records a request as received; its due date follows from policy.
    pub fn request_add(&mut self, n: &NewRequest) -> Result<Request> {
        self.require(Action::RequestManage)?;
        let client = self.client_show(&n.client)?;
        let t = today();
        let received = n.received.unwrap_or(t);
        if received > t {
            return Err(Error::Invalid(tr!("requests.received_future")));
        }
        received.check_within("received", EARLIEST_EVENT, t)?;
        single_line("requester", &n.requester, NAME_MAX)?;
        single_line("identity_check", &n.identity_check, LINE_MAX)?;
        check_authority(&self.policy, &client, n, received)?;
        let days = match n.kind {
            RequestKind::Access => self.policy.requests.access_days,
            RequestKind::Correction => self.policy.requests.correction_days,
            RequestKind::Partner => self.policy.requests.partner_days,
        };
        match (n.kind, n.record_id) {
            (RequestKind::Correction, Some(rid)) => {
                let rec = store::records::get(&self.conn, rid)?.ok_or(Error::NotFound {
                    what: "record",
                    id: rid.to_string(),
                })?;
                let case = self.case_access(rec.meta.case_id)?;
                if case.client_id != client.id {
                    return Err(Error::Invalid(tr!(
                        "requests.record_not_client",
                        record = rid,
                        client = client.data.number
                    )));
                }
            }
            (RequestKind::Correction, None) => {
                return Err(Error::Invalid(tr!("requests.correction_needs_record")))
            }
            (_, Some(_)) => return Err(Error::Invalid(tr!("requests.record_only_correction"))),
            (_, None) => {}
        }
        let row = NewRow {
            kind: n.kind,
            client_id: client.id,
            requester: n.requester.trim(),
            authority: n.authority,
            identity_check: n.identity_check.trim(),
            received,
            due: received.add_days(days as i64),
            record_id: n.record_id,
        };
        let me = self.me.name.clone();
        let id = store::write(&self.conn, |tx| {
            store::requests::insert(tx, &row, now(), &me)
        })?;
        self.request_show(id)
    }

    /// A request, with its overdue flag as of today.
    pub fn request_show(&self, id: i64) -> Result<Request> {
        self.require(Action::RequestManage)?;
        let mut r = store::requests::get(&self.conn, id)?.ok_or(Error::NotFound {
            what: "request",
            id: id.to_string(),
        })?;
        let client = store::clients::get(&self.conn, r.client_id)?.ok_or(Error::Tampered {
            what: "request",
            id: id.to_string(),
        })?;
        if !self.may_see_client(&client)? {
            return Err(Error::NotYourClient {
                client: client.data.number.clone(),
            });
        }
        r.overdue = r.is_overdue(today());
        Ok(r)
    }

    /// Requests of the clients this actor may see (optionally one client), by due date.
    pub fn request_list(
        &self,
        client: Option<&str>,
        open_only: bool,
        overdue_only: bool,
    ) -> Result<Vec<Request>> {
        self.require(Action::RequestManage)?;
        let client_id = match client {
            Some(k) => Some(self.client_show(k)?.id),
            None => None,
        };
        let t = today();
        let mut out = Vec::new();
        let mut seen = std::collections::HashMap::new();
        for mut r in store::requests::list(&self.conn, client_id, open_only || overdue_only)? {
            let visible = match seen.get(&r.client_id) {
                Some(v) => *v,
                None => {
                    let v = match store::clients::get(&self.conn, r.client_id)? {
                        Some(c) => self.may_see_client(&c)?,
                        None => false,
                    };
                    seen.insert(r.client_id, v);
                    v
                }
            };
            r.overdue = r.is_overdue(t);
            if visible && (!overdue_only || r.overdue) {
                out.push(r);
            }
        }
        Ok(out)
    }

    fn open_request(&self, id: i64, kind: RequestKind) -> Result<Request> {
        let r = self.request_show(id)?;
        if r.status != RequestStatus::Open {
            return Err(Error::PolicyRefused(tr!("requests.not_open", id = id)));
        }
        if r.kind != kind {
            return Err(Error::Invalid(tr!(
                "requests.wrong_kind",
                id = id,
                kind = r.kind.code()
            )));
        }
        Ok(r)
    }

    /// Fulfils an access request: builds the package, logs it (with the request's closing)
    /// in one transaction, then writes the ciphertext to `out` and the receipt beside it.
    /// Only a supervisor or a worker assigned to every case of the client may do this.
    pub fn request_fulfil(&mut self, id: i64, to: &PackageTo, out: &Path) -> Result<AccessOutcome> {
        let receipt_path = receipt_path(out);
        let files = OutputSet::package(out);
        let c = self.fulfil_commit(id, to, || files.check(false))?;
        let receipt = self.witnessed(c.receipt)?;
        files
            .write(&c.cipher, &[receipt.to_json().as_bytes()], false)
            .map_err(|e| Error::NotWritten {
                log_index: receipt.index,
                resend: resend_command(
                    &self.dir.root,
                    &self.me.name,
                    &format!("request resend {id}"),
                    out,
                ),
                source: Box::new(e),
            })?;
        Ok(AccessOutcome {
            request: self.request_show(id)?,
            package: out.to_path_buf(),
            receipt: receipt_path,
            log_index: receipt.index,
            package_sha256: c.package_sha256,
            records: c.records,
            withheld: c.withheld,
            disclosures: c.disclosures,
        })
    }

    /// [`Session::request_fulfil`] for the web interface: the same checks, log entry and
    /// closing, but the package and its receipt are returned in memory (served as a download),
    /// never written to a file. After the commit, [`Error::AwaitingCheckpoint`] or
    /// [`Error::AwaitingWitnesses`] say the package is logged but held;
    /// [`Session::request_download_again`] hands it over later.
    pub fn request_fulfil_download(&mut self, id: i64, to: &PackageTo) -> Result<PackageDownload> {
        let c = self.fulfil_commit(id, to, || Ok(()))?;
        self.download_of(id, c)
    }

    /// A committed package as a download, once the log receipt is witnessed as policy asks.
    fn download_of(&self, id: i64, c: Committed) -> Result<PackageDownload> {
        let receipt = self.witnessed(c.receipt)?;
        Ok(PackageDownload {
            request_id: id,
            log_index: receipt.index,
            cipher: c.cipher,
            receipt_json: receipt.to_json(),
            records: c.records,
            withheld: c.withheld,
            disclosures: c.disclosures,
        })
    }

    /// Builds, encrypts and logs an access package (the request closes in the same
    /// transaction); `check_out` runs before anything is built (the CLI checks its files).
    /// Returns the ciphertext and the receipt before witnessing.
    fn fulfil_commit(
        &mut self,
        id: i64,
        to: &PackageTo,
        check_out: impl FnOnce() -> Result<()>,
    ) -> Result<Committed> {
        self.require(Action::RecordRead)?;
        to.check()?;
        let req = match self.request_show(id)?.kind {
            RequestKind::Partner => return Err(Error::Invalid(tr!("requests.partner_pending"))),
            RequestKind::Correction => {
                return Err(Error::Invalid(tr!("requests.correction_use_decide")))
            }
            RequestKind::Access => self.open_request(id, RequestKind::Access)?,
        };
        check_out()?;
        let client = store::clients::get(&self.conn, req.client_id)?.ok_or(Error::Tampered {
            what: "request",
            id: id.to_string(),
        })?;
        let cases = store::cases::list(&self.conn, Some(client.id), None)?;
        for c in &cases {
            self.case_access(c.id)?;
        }

        // What the client may see, and what is withheld and why.
        let mut records = Vec::new();
        let mut withheld = Vec::new();
        let mut read = Vec::new();
        for case in &cases {
            for m in store::records::list(&self.conn, case.id)? {
                let tier = self.policy.tier(m.tier).ok_or(Error::Tampered {
                    what: "record",
                    id: m.id.to_string(),
                })?;
                if tier.supervisor_only {
                    withheld.push(withheld_entry(&m, "supervisor_only_tier"));
                    continue;
                }
                let rec = store::records::get(&self.conn, m.id)?.ok_or(Error::Tampered {
                    what: "record",
                    id: m.id.to_string(),
                })?;
                let payload = self.decrypt_record(&rec)?;
                let mut content: RecordContent =
                    serde_json::from_slice(&payload).map_err(|_| Error::Tampered {
                        what: "record",
                        id: m.id.to_string(),
                    })?;
                read.push((m.clone(), case.workers.iter().any(|w| w == &self.me.name)));
                if content.fields.get(THIRD_PARTY_FIELD) == Some(&Value::Bool(true)) {
                    withheld.push(withheld_entry(&m, "third_party"));
                    continue;
                }
                content.fields.remove(THIRD_PARTY_FIELD);
                records.push(PackageRecord {
                    meta: m,
                    fields: content.fields,
                });
            }
        }

        // The accounting of disclosures over the lookback period.
        let mac = id_mac(&self.conn, "client", client.id)?;
        let t = today();
        let from = lookback_start(t, self.policy.requests.lookback_years);
        let disclosures = self.accounting(mac, from.to_unix())?;

        let generated_at = now();
        let input = PackageInput {
            agency: self.agency()?,
            request: &req,
            client: &client,
            cases: &cases,
            records: &records,
            withheld: &withheld,
            disclosures: &disclosures,
            lookback_years: self.policy.requests.lookback_years,
            lookback_from: from,
            generated_at,
            policy: &self.policy,
        };
        let plain = zeroize::Zeroizing::new(access_package::build(&input)?);
        let hash = crypto::sha256(&plain);
        let cipher = encrypt_package(to, &plain)?;
        drop(plain);

        // Fail closed: the log entry, the request's closing and what a resend needs commit
        // first; the package's bytes appear only after that.
        let tx = store::immediate(&self.conn)?;
        let at = now();
        for (m, assigned) in &read {
            store::records::note_read(&tx, m, &self.me.name, *assigned, at)?;
        }
        let mut e = self.log_entry(Kind::AccessPackage, None)?;
        e.client_mac = Some(mac);
        e.recipient = format!("{} (request {id})", req.authority.code());
        e.purpose = "data subject access request".into();
        e.basis = LegalBasis::Statutory(format!("PIPL art. 45 access request {id}"));
        e.disclosed_sha256 = Some(hash);
        e.detail = format!(
            "request {id}: {} records, {} withheld, {} disclosures",
            records.len(),
            withheld.len(),
            disclosures.len()
        );
        let receipt = self.log_append(&tx, &e)?;
        let response = format!(
            "access package: {} records, {} withheld",
            records.len(),
            withheld.len()
        );
        store::requests::close(
            &tx,
            id,
            &Close {
                status: RequestStatus::Fulfilled,
                response: &response,
                withheld: &withheld,
                amendment_id: None,
                statement_id: None,
                log_index: Some(receipt.index),
                at,
                by: &self.me.name,
            },
        )?;
        store::requests::insert_package(
            &tx,
            &PackageInputs {
                request_id: id,
                log_index: receipt.index,
                plain_sha256: crypto::hex(&hash),
                generated_at,
                lookback_years: self.policy.requests.lookback_years,
                lookback_from: from,
                cases: cases.iter().map(|c| c.id).collect(),
                records: records.iter().map(|r| r.meta.id).collect(),
                disclosures: disclosures.iter().map(|d| d.log_index).collect(),
                recipient: match to {
                    PackageTo::Recipient(r) => Some(r.to_string()),
                    PackageTo::Passphrase(_) => None,
                },
            },
        )?;
        tx.commit()?;
        Ok(Committed {
            cipher,
            receipt,
            package_sha256: crypto::hex(&hash),
            records: records.len(),
            withheld: withheld.len(),
            disclosures: disclosures.len(),
        })
    }

    /// What fulfilling access request `id` would put in the package (see [`PackagePreview`]);
    /// the same who-may rules as [`Session::request_fulfil`]. Reads metadata only.
    pub fn request_package_preview(&self, id: i64) -> Result<PackagePreview> {
        self.require(Action::RecordRead)?;
        let req = self.open_request(id, RequestKind::Access)?;
        let cases = store::cases::list(&self.conn, Some(req.client_id), None)?;
        for c in &cases {
            self.case_access(c.id)?;
        }
        let mut records = Vec::new();
        for case in &cases {
            for m in store::records::list(&self.conn, case.id)? {
                let tier = self.policy.tier(m.tier).ok_or(Error::Tampered {
                    what: "record",
                    id: m.id.to_string(),
                })?;
                let withheld = tier
                    .supervisor_only
                    .then(|| "supervisor_only_tier".to_string());
                let (kind_zh, kind_en) = self
                    .policy
                    .template(&m.kind)
                    .map(|t| (t.label_zh.clone(), t.label_en.clone()))
                    .unwrap_or_else(|| (m.kind.clone(), m.kind.clone()));
                records.push(PreviewRecord {
                    meta: m,
                    kind_zh,
                    kind_en,
                    withheld,
                });
            }
        }
        let mac = id_mac(&self.conn, "client", req.client_id)?;
        let from = lookback_start(today(), self.policy.requests.lookback_years);
        Ok(PackagePreview {
            records,
            disclosures: self.accounting(mac, from.to_unix())?,
            lookback_years: self.policy.requests.lookback_years,
            lookback_from: from,
        })
    }

    /// Whether a fulfilled access package can be handed over now (see [`PackageState`]).
    pub fn request_package_state(&self, id: i64) -> Result<PackageState> {
        let req = self.request_show(id)?;
        let inputs = match (req.kind, req.status) {
            (RequestKind::Access, RequestStatus::Fulfilled) => {
                store::requests::get_package(&self.conn, id)?
            }
            _ => None,
        }
        .ok_or_else(|| Error::Invalid(tr!("requests.resend_not_fulfilled", id = id)))?;
        let covered =
            log::latest_checkpoint(&self.conn)?.is_some_and(|(size, _)| size > inputs.log_index);
        Ok(PackageState {
            covered,
            stored_recipient: inputs.recipient.is_some(),
        })
    }

    /// The receipt of a fulfilled access package (what the CLI writes beside the package as
    /// `.receipt.json`): its log entry under the latest checkpoint, witnessed as a release
    /// is. Held like the package while no checkpoint covers the entry.
    pub fn request_receipt(&self, id: i64) -> Result<String> {
        self.require(Action::RecordRead)?;
        let req = self.request_show(id)?;
        let inputs = match (req.kind, req.status) {
            (RequestKind::Access, RequestStatus::Fulfilled) => {
                store::requests::get_package(&self.conn, id)?
            }
            _ => None,
        }
        .ok_or_else(|| Error::Invalid(tr!("requests.resend_not_fulfilled", id = id)))?;
        if !self.request_package_state(id)?.covered {
            // No checkpoint yet: `witnessed` says so (AwaitingCheckpoint) with what to run.
            let none = log::Receipt {
                checkpoint: String::new(),
                index: inputs.log_index,
                entry: String::new(),
                proof: Vec::new(),
                chain: Vec::new(),
                chain_keys: Vec::new(),
            };
            return self.witnessed(none).map(|r| r.to_json());
        }
        let receipt = log::receipt_for(&self.conn, inputs.log_index)?;
        Ok(self.witnessed(receipt)?.to_json())
    }

    /// Disclosures about the client (by MAC) from `from` on, as the accounting lists them.
    fn accounting(&self, mac: [u8; 32], from: i64) -> Result<Vec<Disclosure>> {
        let filter = log::Filter {
            client_mac: Some(mac),
            from: Some(from),
            ..Default::default()
        };
        log::entries(&self.conn, &filter)?
            .into_iter()
            .map(|l| l.entry)
            .filter(|e| ACCOUNTED_KINDS.contains(&e.kind.code()) && e.disclosed_sha256.is_some())
            .map(|e| disclosure_of(&self.conn, &self.policy, e))
            .collect()
    }

    /// Rebuilds the access package of a fulfilled request whose file was not written: the
    /// identical plaintext from the inputs stored at commit (checked against the hash in
    /// the request's log entry; refused if it differs), encrypted again to `to` or else
    /// to the recipient stored then, with a receipt from the current log. Logs nothing.
    pub fn request_resend_package(
        &mut self,
        id: i64,
        to: Option<&PackageTo>,
        out: &Path,
    ) -> Result<AccessOutcome> {
        let files = OutputSet::package(out);
        let (req, c) = self.resend_build(id, to, || files.check(false))?;
        let receipt = self.witnessed(c.receipt)?;
        files.write(&c.cipher, &[receipt.to_json().as_bytes()], false)?;
        Ok(AccessOutcome {
            request: req,
            package: out.to_path_buf(),
            receipt: receipt_path(out),
            log_index: receipt.index,
            package_sha256: c.package_sha256,
            records: c.records,
            withheld: c.withheld,
            disclosures: c.disclosures,
        })
    }

    /// [`Session::request_resend_package`] for the web interface: the same rebuild and
    /// checks, the package and receipt returned in memory (a download), nothing written.
    pub fn request_download_again(
        &mut self,
        id: i64,
        to: Option<&PackageTo>,
    ) -> Result<PackageDownload> {
        let (_, c) = self.resend_build(id, to, || Ok(()))?;
        self.download_of(id, c)
    }

    /// Rebuilds a fulfilled request's package from its stored inputs (checked against the
    /// logged hash) and encrypts it; the receipt is not yet witnessed.
    fn resend_build(
        &mut self,
        id: i64,
        to: Option<&PackageTo>,
        check_out: impl FnOnce() -> Result<()>,
    ) -> Result<(Request, Committed)> {
        self.require(Action::RecordRead)?;
        if let Some(to) = to {
            to.check()?;
        }
        let req = self.request_show(id)?;
        if req.kind != RequestKind::Access || req.status != RequestStatus::Fulfilled {
            return Err(Error::Invalid(tr!(
                "requests.resend_not_fulfilled",
                id = id
            )));
        }
        check_out()?;
        let inputs = store::requests::get_package(&self.conn, id)?
            .ok_or_else(|| Error::Invalid(tr!("requests.resend_too_old", id = id)))?;
        let tampered = || Error::Tampered {
            what: "request",
            id: id.to_string(),
        };
        let client = store::clients::get(&self.conn, req.client_id)?.ok_or_else(tampered)?;
        let mut cases = Vec::new();
        for c in &inputs.cases {
            cases.push(self.case_access(*c)?);
        }
        let mut records = Vec::new();
        for rid in &inputs.records {
            let rec = store::records::get(&self.conn, *rid)?.ok_or_else(tampered)?;
            let payload = self.decrypt_record(&rec)?;
            let mut content: RecordContent =
                serde_json::from_slice(&payload).map_err(|_| Error::Tampered {
                    what: "record",
                    id: rid.to_string(),
                })?;
            content.fields.remove(THIRD_PARTY_FIELD);
            records.push(PackageRecord {
                meta: rec.meta,
                fields: content.fields,
            });
        }
        let mut disclosures = Vec::new();
        for i in &inputs.disclosures {
            disclosures.push(disclosure_of(
                &self.conn,
                &self.policy,
                log::entry_at(&self.conn, *i)?.ok_or_else(tampered)?,
            )?);
        }
        let input = PackageInput {
            agency: self.agency()?,
            request: &req,
            client: &client,
            cases: &cases,
            records: &records,
            withheld: &req.withheld,
            disclosures: &disclosures,
            lookback_years: inputs.lookback_years,
            lookback_from: inputs.lookback_from,
            generated_at: inputs.generated_at,
            policy: &self.policy,
        };
        let plain = zeroize::Zeroizing::new(access_package::build(&input)?);
        let hash = crypto::hex(&crypto::sha256(&plain));
        let logged = log::entry_at(&self.conn, inputs.log_index)?
            .and_then(|e| e.disclosed_sha256)
            .map(|d| crypto::hex(&d));
        if hash != inputs.plain_sha256 || logged.as_deref() != Some(hash.as_str()) {
            return Err(Error::Invalid(tr!("requests.resend_mismatch", id = id)));
        }
        let stored;
        let to = match (to, &inputs.recipient) {
            (Some(t), _) => t,
            (None, Some(r)) => {
                stored = PackageTo::Recipient(
                    age::x25519::Recipient::from_str(r).map_err(|_| tampered())?,
                );
                &stored
            }
            (None, None) => return Err(Error::Invalid(tr!("requests.no_package_target"))),
        };
        let cipher = encrypt_package(to, &plain)?;
        drop(plain);
        let receipt = log::receipt_for(&self.conn, inputs.log_index)?;
        let withheld = input.withheld.len();
        Ok((
            req.clone(),
            Committed {
                cipher,
                receipt,
                package_sha256: hash,
                records: records.len(),
                withheld,
                disclosures: disclosures.len(),
            },
        ))
    }

    /// Every referral that carried `record` or an earlier version of it (the amendment
    /// chain), from the referral rows: the recipients to notify of a correction.
    pub fn past_recipients(&self, record: i64) -> Result<Vec<PastRecipient>> {
        let mut chain = vec![record];
        let mut cur = record;
        while let Some(prev) = store::records::get(&self.conn, cur)?.and_then(|r| r.meta.amends) {
            chain.push(prev);
            cur = prev;
        }
        let case = store::records::get(&self.conn, record)?.map(|r| r.meta.case_id);
        Ok(store::referrals::list(&self.conn, case)?
            .into_iter()
            .filter(|r| r.records.iter().any(|id| chain.contains(id)))
            .map(|r| PastRecipient {
                recipient: r.agency_name,
                time: r.sent_at,
                date: format_time(r.sent_at),
                log_index: r.log_index as u64,
                detail: format!("packet {}", r.packet_id),
                referral_id: r.id,
                case_id: r.case_id,
                consent_id: r.consent_id,
                purpose: r.purpose,
            })
            .collect())
    }

    /// Sends each past recipient of an accepted correction an amendment packet through the
    /// referral machinery, under the consent the original went under, written to
    /// `out_dir/notice-<request>-<referral>.age` (+ `.minisig`). Every destination is checked
    /// before the first notice commits; each packet is written right after its own commit,
    /// and one that cannot be written is reported with its `referral resend` command.
    /// Where the consent no longer allows a notice, says why, so the worker can notify them
    /// another way.
    pub fn request_notify(&mut self, id: i64, out_dir: &Path) -> Result<Vec<NoticeOutcome>> {
        let req = self.request_show(id)?;
        let (Some(original), Some(amendment)) = (req.record_id, req.amendment_id) else {
            return Err(Error::Invalid(tr!(
                "requests.notify_needs_accepted",
                id = id
            )));
        };
        let past = self.past_recipients(original)?;
        let file = |p: &PastRecipient| out_dir.join(format!("notice-{}-{}.age", id, p.referral_id));
        for p in &past {
            OutputSet::packet(&file(p)).check(false)?;
        }
        let mut out = Vec::new();
        for p in past {
            let r = self.referral_export(&super::ExportRequest {
                case_id: p.case_id,
                agency: p.recipient.clone(),
                consent_id: p.consent_id,
                records: vec![amendment],
                purpose: p.purpose.clone(),
                request_id: None,
                notice_for: Some(id),
                release_of: None,
            });
            let f = file(&p);
            out.push(match r {
                Ok((row, built)) => {
                    let written = OutputSet::packet(&f).write(
                        &built.ciphertext,
                        &[built.minisig.as_bytes()],
                        false,
                    );
                    let not_written = written.err().map(|e| Error::NotWritten {
                        log_index: row.log_index as u64,
                        resend: resend_command(
                            &self.dir.root,
                            &self.me.name,
                            &format!("referral resend {}", row.id),
                            &f,
                        ),
                        source: Box::new(e),
                    });
                    NoticeOutcome {
                        referral_id: p.referral_id,
                        recipient: p.recipient,
                        packet_id: Some(built.packet_id.clone()),
                        notice_referral_id: Some(row.id),
                        file: not_written.is_none().then(|| f.clone()),
                        not_written: not_written.as_ref().map(|e| e.to_string()),
                        not_sent: None,
                    }
                }
                Err(e) => NoticeOutcome {
                    referral_id: p.referral_id,
                    recipient: p.recipient,
                    packet_id: None,
                    notice_referral_id: None,
                    file: None,
                    not_written: None,
                    not_sent: Some(e.to_string()),
                },
            });
        }
        Ok(out)
    }

    /// Accepts a correction whose amendment was already written (`record amend`, or the web
    /// interface's amend page): `amendment` must be a later version of the request's record
    /// (its `amends` chain reaches it) written on or after the request was received. Logs
    /// the correction and closes the request as [`Session::request_accept`] does.
    pub fn request_accept_amended(&mut self, id: i64, amendment: i64) -> Result<CorrectionOutcome> {
        self.require(Action::RequestManage)?;
        let req = self.open_request(id, RequestKind::Correction)?;
        let original = req.record_id.ok_or(Error::Tampered {
            what: "request",
            id: id.to_string(),
        })?;
        let not_an_amendment = || {
            Error::Invalid(tr!(
                "requests.not_an_amendment",
                amendment = amendment,
                record = original,
                id = id
            ))
        };
        let meta = self.record_meta(amendment)?;
        if meta.created_at < req.received.to_unix() {
            return Err(not_an_amendment());
        }
        // The `amends` chain from the amendment back to the request's record, each link from
        // a record whose author's signature covers it (a planted row signs nothing).
        let mut cur = Some(amendment);
        let mut reaches = false;
        while let Some(rid) = cur.filter(|_| !reaches) {
            let rec = store::records::get(&self.conn, rid)?.ok_or(Error::NotFound {
                what: "record",
                id: rid.to_string(),
            })?;
            self.decrypt_record(&rec)?;
            reaches = rec.meta.amends == Some(original);
            cur = rec.meta.amends;
        }
        if !reaches {
            return Err(not_an_amendment());
        }
        let notify = self.past_recipients(original)?;
        let tx = store::immediate(&self.conn)?;
        let log_index = self.close_correction(&tx, id, original, &meta, &notify)?;
        tx.commit()?;
        Ok(CorrectionOutcome {
            request: self.request_show(id)?,
            amendment: meta,
            notify,
            log_index,
        })
    }

    /// Logs an accepted correction (record `original` amended by `amendment`) and closes the
    /// request, in `tx`; returns the log index.
    fn close_correction(
        &self,
        tx: &rusqlite::Transaction,
        id: i64,
        original: i64,
        amendment: &RecordMeta,
        notify: &[PastRecipient],
    ) -> Result<u64> {
        let mut e = self.log_entry(Kind::CorrectionNotice, Some(amendment.case_id))?;
        e.purpose = "correction request".into();
        e.basis = LegalBasis::Statutory(format!("PIPL art. 46 correction request {id}"));
        e.detail = format!(
            "request {id}: record {original} amended by record {}; {} past recipients to notify",
            amendment.id,
            notify.len()
        );
        let receipt = self.log_append(tx, &e)?;
        store::requests::close(
            tx,
            id,
            &Close {
                status: RequestStatus::Accepted,
                response: "",
                withheld: &[],
                amendment_id: Some(amendment.id),
                statement_id: None,
                log_index: Some(receipt.index),
                at: now(),
                by: &self.me.name,
            },
        )?;
        Ok(receipt.index)
    }

    /// Accepts a correction: appends the amendment (linked to the original, which stays),
    /// closes the request, logs it, and lists past recipients to notify.
    pub fn request_accept(
        &mut self,
        id: i64,
        fields: Map<String, Value>,
    ) -> Result<CorrectionOutcome> {
        let req = self.open_request(id, RequestKind::Correction)?;
        let original = req.record_id.ok_or(Error::Tampered {
            what: "request",
            id: id.to_string(),
        })?;
        let new = self.amendment_of(original, fields, None)?;
        let tier = self.check_new_record(&new)?;
        let notify = self.past_recipients(original)?;
        let tx = store::immediate(&self.conn)?;
        let meta = self.insert_record(&tx, &new, tier, Some(original), &[])?;
        let log_index = self.close_correction(&tx, id, original, &meta, &notify)?;
        tx.commit()?;
        Ok(CorrectionOutcome {
            request: self.request_show(id)?,
            amendment: meta,
            notify,
            log_index,
        })
    }

    /// Denies a request with a written reason. For a correction, the client's statement of
    /// disagreement (if given) is attached to the record as a linked amendment that keeps the
    /// original fields and adds the statement to its note. A partner request's refusal is
    /// logged (nothing disclosed).
    pub fn request_deny(
        &mut self,
        id: i64,
        reason: &str,
        statement: Option<&str>,
    ) -> Result<Request> {
        self.require(Action::RequestManage)?;
        if reason.trim().is_empty() {
            return Err(Error::Invalid(tr!("requests.reason_empty")));
        }
        multi_line("reason", reason, FREE_TEXT_MAX)?;
        if let Some(st) = statement {
            multi_line("statement", st, FREE_TEXT_MAX)?;
        }
        let kind = self.request_show(id)?.kind;
        let req = self.open_request(id, kind)?;
        if statement.is_some() && kind != RequestKind::Correction {
            return Err(Error::Invalid(tr!("requests.statement_only_correction")));
        }
        let mut statement_rec = None;
        if let Some(st) = statement.map(str::trim).filter(|s| !s.is_empty()) {
            let original = req.record_id.ok_or(Error::Tampered {
                what: "request",
                id: id.to_string(),
            })?;
            let opened = self.record_show(original)?;
            let mut fields = opened.fields;
            let marker = tr!("requests.statement_marker", id = id);
            let note = match fields.get(NOTE_FIELD).and_then(Value::as_str) {
                Some(n) if !n.trim().is_empty() => format!("{n}\n\n{marker}\n{st}"),
                _ => format!("{marker}\n{st}"),
            };
            fields.insert(NOTE_FIELD.into(), Value::String(note));
            let new = self.amendment_of(original, fields, None)?;
            let tier = self.check_new_record(&new)?;
            statement_rec = Some((new, tier, original));
        }
        let tx = store::immediate(&self.conn)?;
        let statement_id = match &statement_rec {
            Some((new, tier, original)) => Some(
                self.insert_record(&tx, new, *tier, Some(*original), &[])?
                    .id,
            ),
            None => None,
        };
        let mut log_index = None;
        if kind == RequestKind::Partner {
            let mut e = self.log_entry(Kind::PartnerResponse, None)?;
            e.client_mac = Some(id_mac(&self.conn, "client", req.client_id)?);
            e.recipient = req.requester.clone();
            e.purpose = "partner data request".into();
            e.detail = format!("request {id} refused; nothing disclosed");
            log_index = Some(self.log_append(&tx, &e)?.index);
        }
        store::requests::close(
            &tx,
            id,
            &Close {
                status: RequestStatus::Denied,
                response: reason.trim(),
                withheld: &[],
                amendment_id: None,
                statement_id,
                log_index,
                at: now(),
                by: &self.me.name,
            },
        )?;
        tx.commit()?;
        self.request_show(id)
    }
}

fn withheld_entry(m: &RecordMeta, reason: &str) -> Withheld {
    use crate::i18n::{text_in, Lang};
    let key = match reason {
        "third_party" => "requests.withheld.third_party",
        _ => "requests.withheld.supervisor_only",
    };
    Withheld {
        record_id: m.id,
        kind: m.kind.clone(),
        reason: reason.to_string(),
        reason_zh: text_in(Lang::Zh, key, &[]),
        reason_en: text_in(Lang::En, key, &[]),
    }
}

/// `<package>.receipt.json`.
pub fn receipt_path(out: &Path) -> PathBuf {
    super::output::receipt_path(out)
}

/// One accounting line from its log entry. A disclosure that sent a packet (a referral, a
/// partner's answer, a correction notice) lists what went out: each record's kind (with its
/// labels), tier and date, from the referral row the entry's index names; the packet id stays.
fn disclosure_of(conn: &Connection, policy: &Policy, e: log::Entry) -> Result<Disclosure> {
    let mut packet_id = None;
    let mut records = Vec::new();
    if let Some(row) = store::referrals::by_log_index(conn, e.index)? {
        packet_id = Some(row.packet_id.clone());
        for id in &row.records {
            // A record purged after its retention period is listed by id alone.
            let meta = store::records::get(conn, *id)?.map(|r| r.meta);
            let (kind, tier, date) = match &meta {
                Some(m) => (
                    m.kind.clone(),
                    Some(m.tier),
                    Some(Date::from_unix(m.created_at).to_string()),
                ),
                None => (String::new(), None, None),
            };
            let (kind_zh, kind_en) = policy
                .template(&kind)
                .map(|t| (t.label_zh.clone(), t.label_en.clone()))
                .unwrap_or_else(|| (kind.clone(), kind.clone()));
            records.push(DisclosedRecord {
                id: *id,
                kind,
                kind_zh,
                kind_en,
                tier,
                date,
            });
        }
    }
    Ok(Disclosure {
        log_index: e.index,
        time: e.time,
        // In access packages, whose bytes a logged digest binds: UTC in every zone.
        date: crate::domain::time::format_time_utc(e.time),
        kind: e.kind.code().name().to_string(),
        recipient: e.recipient,
        description: e.detail,
        purpose: e.purpose,
        basis: basis_text(&e.basis),
        packet_id,
        records,
    })
}

/// Encrypts a package's plaintext to the client's key or passphrase.
fn encrypt_package(to: &PackageTo, plain: &[u8]) -> Result<Vec<u8>> {
    match to {
        PackageTo::Recipient(r) => crypto::encrypt(r, plain),
        PackageTo::Passphrase(p) => {
            let mut r = age::scrypt::Recipient::new(p.clone());
            if let Some(n) = crypto::scrypt_work_factor()? {
                r.set_work_factor(n);
            }
            crypto::encrypt(&r, plain)
        }
    }
}
