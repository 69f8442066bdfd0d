//! Records: encrypted to their case tier, signed by their author, amended by appending.

use ed25519_dalek::{Signature, Signer, SigningKey};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::Session;
use crate::crypto::{self, hex, record_message, RecordSigInput};
use crate::domain::time::now;
use crate::domain::{
    check_attachment_name, AttachmentDescriptor, RecordContent, RecordMeta, MAX_RECORD_ATTACHMENTS,
    MAX_RECORD_ATTACHMENT_BYTES, RECORD_CONTENT_VERSION,
};
use crate::error::{Error, Result};
use crate::log::{Kind, LegalBasis};
use crate::policy::{Action, Policy};
use crate::store;
use crate::tr;

/// A record to add.
#[derive(Clone, Debug)]
pub struct NewRecord {
    pub case_id: i64,
    pub kind: String,
    /// Raise (or, for supervisors, lower) the template's default tier.
    pub tier: Option<u8>,
    pub fields: Map<String, Value>,
}

/// A file to attach to a new record: a plain file name (see
/// [`check_attachment_name`](crate::domain::check_attachment_name)) and its bytes, wiped on drop.
#[derive(Clone)]
pub struct NewAttachment {
    pub name: String,
    pub bytes: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for NewAttachment {
    // Names and bytes can be client content: show the size only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAttachment")
            .field("size", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// Checks a record's new attachments and describes them (name, size, SHA-256) for the payload.
/// Errors name attachments by position, never by name (names can be content).
pub fn describe_attachments(atts: &[NewAttachment]) -> Result<Vec<AttachmentDescriptor>> {
    if atts.len() > MAX_RECORD_ATTACHMENTS {
        return Err(Error::Invalid(tr!(
            "vault.too_many_attachments",
            max = MAX_RECORD_ATTACHMENTS
        )));
    }
    let mut out: Vec<AttachmentDescriptor> = Vec::with_capacity(atts.len());
    for (i, a) in atts.iter().enumerate() {
        let n = i + 1;
        if let Err(reason) = check_attachment_name(&a.name) {
            return Err(Error::Invalid(tr!(
                "vault.attachment_bad_name",
                n = n,
                reason = reason
            )));
        }
        if a.bytes.len() > MAX_RECORD_ATTACHMENT_BYTES {
            return Err(Error::Invalid(tr!(
                "vault.attachment_too_large",
                n = n,
                max_mib = MAX_RECORD_ATTACHMENT_BYTES >> 20
            )));
        }
        if out.iter().any(|d| d.name == a.name) {
            return Err(Error::Invalid(tr!("vault.attachment_duplicate", n = n)));
        }
        out.push(AttachmentDescriptor {
            name: a.name.clone(),
            size: a.bytes.len() as u64,
            sha256: hex(&crypto::sha256(&a.bytes)),
        });
    }
    Ok(out)
}

/// A decrypted record with its verified signature.
#[derive(Debug, serde::Serialize)]
pub struct OpenedRecord {
    #[serde(flatten)]
    pub meta: RecordMeta,
    pub fields: Map<String, Value>,
    /// What is attached (name, size, SHA-256), as the author signed it.
    pub attachments: Vec<AttachmentDescriptor>,
    pub signature_valid: bool,
}

/// The tier a new record gets, checked against policy and the actor's rights.
pub fn resolve_tier(
    policy: &Policy,
    kind: &str,
    requested: Option<u8>,
    may_lower: bool,
) -> Result<u8> {
    let tpl = policy
        .template(kind)
        .ok_or_else(|| Error::Invalid(tr!("vault.unknown_kind", kind = kind)))?;
    let tier = requested.unwrap_or(tpl.default_tier);
    if policy.tier(tier).is_none() {
        return Err(Error::Invalid(tr!(
            "vault.bad_tier",
            tier = tier,
            max = policy.max_tier()
        )));
    }
    if tier < tpl.default_tier && !may_lower {
        return Err(Error::PolicyRefused(tr!(
            "vault.lower_tier_needs_supervisor",
            tier = tier,
            default = tpl.default_tier
        )));
    }
    Ok(tier)
}

/// Encrypts and signs one record (pure crypto: safe to run in parallel). The payload is
/// version 2: the attachment descriptors are inside it, so the signature covers them.
pub fn seal_record(
    meta: &RecordMeta,
    fields: &Map<String, Value>,
    attachments: &[AttachmentDescriptor],
    recipient: &age::x25519::Recipient,
    signer: &SigningKey,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let content = RecordContent {
        v: RECORD_CONTENT_VERSION,
        salt: hex(&crypto::random_bytes::<16>()),
        fields: fields.clone(),
        attachments: Some(attachments.to_vec()),
    };
    let payload =
        Zeroizing::new(serde_json::to_vec(&content).map_err(|e| Error::Invalid(e.to_string()))?);
    let body = crypto::encrypt(recipient, &payload)?;
    let msg = record_message(&sig_input(meta, crypto::sha256(&payload)));
    Ok((body, signer.sign(&msg).to_bytes().to_vec()))
}

fn sig_input(meta: &RecordMeta, payload_sha256: [u8; 32]) -> RecordSigInput<'_> {
    RecordSigInput {
        record_id: meta.id,
        case_id: meta.case_id,
        kind: &meta.kind,
        tier: meta.tier,
        author: &meta.author,
        created_at: meta.created_at,
        amends: meta.amends,
        payload_sha256,
    }
}

impl Session {
    /// Adds a record to a case the actor works on. Writing needs only the tier's public key,
    /// so a caseworker can write a supervisor-only note they cannot read back.
    pub fn record_add(&mut self, new: &NewRecord) -> Result<RecordMeta> {
        self.add_record(new, None, &[])
    }

    /// [`record_add`](Self::record_add) with attachments, each encrypted to the same case-tier
    /// key as the record and described (name, size, SHA-256) in its signed payload.
    pub fn record_add_with(
        &mut self,
        new: &NewRecord,
        attachments: &[NewAttachment],
    ) -> Result<RecordMeta> {
        self.add_record(new, None, attachments)
    }

    /// Appends an amendment to a record; the original stays as it was.
    pub fn record_amend(
        &mut self,
        original: i64,
        fields: Map<String, Value>,
        tier: Option<u8>,
    ) -> Result<RecordMeta> {
        self.record_amend_with(original, fields, tier, &[])
    }

    /// [`record_amend`](Self::record_amend) with attachments of the amendment's own (the
    /// original's attachments stay with the original).
    pub fn record_amend_with(
        &mut self,
        original: i64,
        fields: Map<String, Value>,
        tier: Option<u8>,
        attachments: &[NewAttachment],
    ) -> Result<RecordMeta> {
        let new = self.amendment_of(original, fields, tier)?;
        self.add_record(&new, Some(original), attachments)
    }

    /// The record an amendment of `original` with `fields` would add (same case and kind,
    /// never a lower tier than the original).
    pub(super) fn amendment_of(
        &self,
        original: i64,
        fields: Map<String, Value>,
        tier: Option<u8>,
    ) -> Result<NewRecord> {
        let orig = store::records::get(&self.conn, original)?
            .ok_or(Error::NotFound {
                what: "record",
                id: original.to_string(),
            })?
            .meta;
        let new = NewRecord {
            case_id: orig.case_id,
            kind: orig.kind.clone(),
            tier: Some(tier.unwrap_or(orig.tier).max(orig.tier)),
            fields,
        };
        Ok(new)
    }

    fn add_record(
        &mut self,
        new: &NewRecord,
        amends: Option<i64>,
        attachments: &[NewAttachment],
    ) -> Result<RecordMeta> {
        let tier = self.check_new_record(new)?;
        let tx = store::immediate(&self.conn)?;
        let meta = self.insert_record(&tx, new, tier, amends, attachments)?;
        tx.commit()?;
        Ok(meta)
    }

    /// Checks that the actor may add `new` and that its content fits its template; returns
    /// the tier it will be filed at.
    pub(super) fn check_new_record(&self, new: &NewRecord) -> Result<u8> {
        self.require(Action::RecordWrite)?;
        self.case_access(new.case_id)?;
        let may_lower = self.policy.allows(self.role, Action::RecordLowerTier);
        let tier = resolve_tier(&self.policy, &new.kind, new.tier, may_lower)?;
        self.policy
            .validate_content(&new.kind, &Value::Object(new.fields.clone()))?;
        Ok(tier)
    }

    /// Encrypts, signs and inserts a checked record (and its attachments, encrypted to the
    /// same tier key) inside the caller's write transaction.
    pub(super) fn insert_record(
        &self,
        tx: &rusqlite::Transaction,
        new: &NewRecord,
        tier: u8,
        amends: Option<i64>,
        attachments: &[NewAttachment],
    ) -> Result<RecordMeta> {
        let described = describe_attachments(attachments)?;
        let epoch = self.epoch_for_write(tx, new.case_id)?;
        let meta = RecordMeta {
            id: store::records::next_id(tx)?,
            case_id: new.case_id,
            kind: new.kind.clone(),
            tier,
            author: self.me.name.clone(),
            created_at: now(),
            amends,
            epoch,
        };
        let recipient = self.tier_recipient(tx, new.case_id, epoch, tier)?;
        let (body, sig) =
            seal_record(&meta, &new.fields, &described, &recipient, &self.me.signing)?;
        store::records::insert(tx, &meta, &body, &sig)?;
        self.commit_records(tx, &[(&meta, sig.as_slice())])?;
        for (seq, a) in attachments.iter().enumerate() {
            let body = crypto::encrypt(&recipient, &a.bytes)?;
            store::attachments::insert(tx, meta.id, seq, epoch, &body)?;
        }
        Ok(meta)
    }

    /// The records of a case (metadata only: listing never decrypts).
    pub fn record_list(&self, case_id: i64) -> Result<Vec<RecordMeta>> {
        self.require(Action::ClientRead)?;
        self.case_access(case_id)?;
        store::records::list(&self.conn, case_id)
    }

    /// A record's metadata (kind, tier, case, author), checked like
    /// [`record_list`](Self::record_list) and without decrypting or noting a read: what a
    /// form needs to save an amendment it showed from [`record_show`](Self::record_show).
    pub fn record_meta(&self, id: i64) -> Result<RecordMeta> {
        self.require(Action::ClientRead)?;
        let meta = store::records::get(&self.conn, id)?
            .ok_or(Error::NotFound {
                what: "record",
                id: id.to_string(),
            })?
            .meta;
        self.case_access(meta.case_id)?;
        Ok(meta)
    }

    /// Decrypts a record and verifies its author's signature. A read of a supervisor-only
    /// record is logged before the content is returned.
    pub fn record_show(&mut self, id: i64) -> Result<OpenedRecord> {
        let (rec, content, assigned, supervisor_only, payload_sha) = self.read_record(id)?;
        // The read is noted, and a supervisor-only read logged, before the content leaves.
        let tx = store::immediate(&self.conn)?;
        store::records::note_read(&tx, &rec.meta, &self.me.name, assigned, now())?;
        if supervisor_only {
            let mut e = self.log_entry(Kind::Tier3Read, Some(rec.meta.case_id))?;
            e.basis = LegalBasis::InternalDuty;
            e.purpose = "supervision".into();
            e.detail = format!("record {}", rec.meta.id);
            e.disclosed_sha256 = Some(payload_sha);
            self.log_append(&tx, &e)?;
        }
        tx.commit()?;
        let attachments = content.attachments().to_vec();
        Ok(OpenedRecord {
            meta: rec.meta,
            fields: content.fields,
            attachments,
            signature_valid: true,
        })
    }

    /// Decrypts attachment `name` of a record, checked against the descriptor its author
    /// signed (size and SHA-256). Same rules as [`record_show`](Self::record_show): a
    /// supervisor-only read is logged (with the attachment's hash) before the bytes leave.
    pub fn record_attachment(
        &mut self,
        id: i64,
        name: &str,
    ) -> Result<(AttachmentDescriptor, Zeroizing<Vec<u8>>)> {
        let (rec, content, assigned, supervisor_only, _) = self.read_record(id)?;
        let (seq, d) = content
            .attachments()
            .iter()
            .enumerate()
            .find(|(_, d)| d.name == name)
            .ok_or_else(|| Error::Invalid(tr!("vault.no_such_attachment", record = id)))?;
        let bytes = {
            let _snapshot = self.conn.unchecked_transaction()?;
            self.decrypt_attachment(&rec.meta, seq, d)?
        };
        let tx = store::immediate(&self.conn)?;
        store::records::note_read(&tx, &rec.meta, &self.me.name, assigned, now())?;
        if supervisor_only {
            let mut e = self.log_entry(Kind::Tier3Read, Some(rec.meta.case_id))?;
            e.basis = LegalBasis::InternalDuty;
            e.purpose = "supervision".into();
            e.detail = format!("record {} attachment #{}", rec.meta.id, seq + 1);
            e.disclosed_sha256 = crypto::unhex(&d.sha256);
            self.log_append(&tx, &e)?;
        }
        tx.commit()?;
        Ok((d.clone(), bytes))
    }

    /// The checks of a read, then decryption: returns the record, its parsed content,
    /// whether the actor is assigned, whether the tier is supervisor-only, and the payload hash.
    fn read_record(
        &mut self,
        id: i64,
    ) -> Result<(
        store::records::StoredRecord,
        RecordContent,
        bool,
        bool,
        [u8; 32],
    )> {
        self.require(Action::RecordRead)?;
        // One read snapshot, so a rekey committing meanwhile cannot delete the keys of the
        // epoch the row names between reading the row and reading its keys.
        let _snapshot = self.conn.unchecked_transaction()?;
        let rec = store::records::get(&self.conn, id)?.ok_or(Error::NotFound {
            what: "record",
            id: id.to_string(),
        })?;
        let case = self.case_access(rec.meta.case_id)?;
        let tier = self.policy.tier(rec.meta.tier).ok_or(Error::Tampered {
            what: "record",
            id: id.to_string(),
        })?;
        let supervisor_only = tier.supervisor_only;
        if !self
            .policy
            .readable_tiers(self.role)
            .contains(&rec.meta.tier)
        {
            return Err(Error::SupervisorOnly {
                record: id.to_string(),
            });
        }
        let payload = self.decrypt_record(&rec)?;
        let content = RecordContent::parse(&payload).ok_or(Error::Tampered {
            what: "record",
            id: id.to_string(),
        })?;
        let assigned = case.workers.iter().any(|w| w == &self.me.name);
        Ok((
            rec,
            content,
            assigned,
            supervisor_only,
            crypto::sha256(&payload),
        ))
    }

    /// Decrypts attachment `seq` of a record (whose payload, already verified, gave `d`) and
    /// checks it against `d`: a swapped, replaced or missing ciphertext is [`Error::Tampered`].
    pub(super) fn decrypt_attachment(
        &self,
        m: &RecordMeta,
        seq: usize,
        d: &AttachmentDescriptor,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let tampered = || Error::Tampered {
            what: "attachment",
            id: format!("{}#{}", m.id, seq + 1),
        };
        let (epoch, body) = store::attachments::get(&self.conn, m.id, seq)?.ok_or_else(tampered)?;
        let set = self.case_keys(m.case_id, epoch)?;
        let identity = set.tier(m.tier).ok_or(Error::SupervisorOnly {
            record: m.id.to_string(),
        })?;
        // With our own key in hand, any failure (header, a damaged chunk) is tampering.
        let bytes = crypto::decrypt(&[identity], &body)
            .ok()
            .flatten()
            .ok_or_else(tampered)?;
        if bytes.len() as u64 != d.size || hex(&crypto::sha256(&bytes)) != d.sha256 {
            return Err(tampered());
        }
        Ok(bytes)
    }

    /// Decrypts a stored record with this session's keys and checks the author's signature.
    pub(super) fn decrypt_record(
        &self,
        rec: &store::records::StoredRecord,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let m = &rec.meta;
        let set = self.case_keys(m.case_id, m.epoch)?;
        let identity = set.tier(m.tier).ok_or(Error::SupervisorOnly {
            record: m.id.to_string(),
        })?;
        let tampered = || Error::Tampered {
            what: "record",
            id: m.id.to_string(),
        };
        let payload = crypto::decrypt(&[identity], &rec.body)?.ok_or_else(tampered)?;
        // The author's keys come from the signed registry: a staff row someone inserted, or a
        // key someone wrote into a row, signs nothing.
        let sig = Signature::from_slice(&rec.signature).map_err(|_| tampered())?;
        let msg = record_message(&sig_input(m, crypto::sha256(&payload)));
        let keys = self.registry().keys_ever(&m.author);
        if !keys.iter().any(|k| k.verify_strict(&msg, &sig).is_ok()) {
            return Err(tampered());
        }
        Ok(payload)
    }
}
