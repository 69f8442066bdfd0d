//! The sending side: input → bundle → age ciphertext → minisign signature.

use std::io::Write;

use ed25519_dalek::SigningKey;
use rand::RngCore;
use zeroize::Zeroizing;

use super::bundle::write_bundle;
use super::manifest::{
    encode_records, AttachmentRef, ConsentSummary, Manifest, PacketRecord, ReceiptRef, RecordRef,
    Sender, FORMAT, VERSION,
};
use super::minisign::{self, PublicKey};
use super::render::render;
use super::time::format_utc;
use super::{hex, sha256_hex, PacketError, MAX_ATTACHMENTS, MAX_ATTACHMENT_BYTES};

/// Everything the vault hands over to make a packet. Records are already filtered to the
/// consent's scope by the caller; [`build`] refuses any that are not.
#[derive(Clone, Debug)]
pub struct PacketInput {
    /// Unix seconds; becomes `created` and every tar entry's mtime.
    pub created_unix: u64,
    pub sender_name: String,
    pub recipient_name: String,
    pub purpose: String,
    pub consent: ConsentSummary,
    pub redisclosure_notice: String,
    pub records: Vec<PacketRecord>,
    /// In any order; stored sorted by name.
    pub attachments: Vec<Attachment>,
    /// Required by [`build`]; ignored by [`prepare`] (it is given to [`Prepared::seal`]).
    pub receipt: Option<Receipt>,
}

/// A file to send along. `name` follows [`check_attachment_name`](super::manifest::check_attachment_name).
#[derive(Clone, Debug)]
pub struct Attachment {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The disclosure-log receipt: entry index and checkpoint go into the manifest, `body` (the
/// log's own receipt object, with the inclusion proof) becomes `receipt.json` as is.
#[derive(Clone, Debug)]
pub struct Receipt {
    pub entry_index: u64,
    pub checkpoint: String,
    pub body: serde_json::Value,
}

/// A finished packet: write `ciphertext` as `<packet_id>.age` and `minisig` beside it as
/// `<packet_id>.age.minisig`.
#[derive(Clone, Debug)]
pub struct BuiltPacket {
    pub packet_id: String,
    /// A plain age v1 file (X25519 recipient, binary).
    pub ciphertext: Vec<u8>,
    /// minisign detached signature over `ciphertext`.
    pub minisig: String,
    /// SHA-256 (hex) of `ciphertext`: the referral's "packet hash".
    pub packet_sha256: String,
    /// [`Manifest::content_sha256`]: what the disclosure-log entry records.
    pub content_sha256: String,
    pub manifest: Manifest,
    /// The packet's `receipt.json` (the disclosure-log receipt), also offered on its own.
    pub receipt_json: Vec<u8>,
}

/// A packet with everything fixed but the receipt; see [`prepare`].
pub struct Prepared<'a> {
    manifest: Manifest,
    records_json: Zeroizing<Vec<u8>>,
    records_md: Zeroizing<String>,
    attachments: Vec<(&'a str, &'a [u8])>,
    created_unix: u64,
    sender_key: &'a SigningKey,
    recipient: &'a age::x25519::Recipient,
}

/// Builds a packet in one step; `input.receipt` must be set.
pub fn build(
    input: &PacketInput,
    sender_key: &SigningKey,
    recipient: &age::x25519::Recipient,
) -> Result<BuiltPacket, PacketError> {
    let receipt = input
        .receipt
        .clone()
        .ok_or_else(|| PacketError::invalid("no disclosure-log receipt"))?;
    prepare(input, sender_key, recipient)?.seal(receipt)
}

/// First half of [`build`], for the fail-closed log: fixes the packet id and every hash so
/// that [`Prepared::content_sha256`] can go into the log entry; the log then yields the
/// receipt for [`Prepared::seal`]. Validates the input.
pub fn prepare<'a>(
    input: &'a PacketInput,
    sender_key: &'a SigningKey,
    recipient: &'a age::x25519::Recipient,
) -> Result<Prepared<'a>, PacketError> {
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    prepare_with_id(input, sender_key, recipient, hex(&id))
}

/// [`prepare`] with a chosen packet id (tests and benchmarks want determinism).
#[doc(hidden)]
pub fn prepare_with_id<'a>(
    input: &'a PacketInput,
    sender_key: &'a SigningKey,
    recipient: &'a age::x25519::Recipient,
    packet_id: String,
) -> Result<Prepared<'a>, PacketError> {
    if input.attachments.len() > MAX_ATTACHMENTS {
        return Err(PacketError::invalid(format!(
            "at most {MAX_ATTACHMENTS} attachments"
        )));
    }
    let mut attachments: Vec<(&str, &[u8])> = input
        .attachments
        .iter()
        .map(|a| (a.name.as_str(), a.bytes.as_slice()))
        .collect();
    attachments.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for (i, (_, bytes)) in attachments.iter().enumerate() {
        if bytes.len() > MAX_ATTACHMENT_BYTES {
            return Err(PacketError::invalid(format!(
                "attachment #{} too large",
                i + 1
            )));
        }
    }
    let (records_json, hashes) = encode_records(&input.records)?;
    let records_json = Zeroizing::new(records_json);
    let mut manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        packet_id,
        created: format_utc(input.created_unix),
        sender: Sender {
            name: input.sender_name.clone(),
            key_id: PublicKey::from_signing_key(sender_key).key_id.to_string(),
        },
        recipient: super::manifest::Recipient {
            name: input.recipient_name.clone(),
            age_recipient: recipient.to_string(),
        },
        purpose: input.purpose.clone(),
        consent: input.consent.clone(),
        redisclosure_notice: input.redisclosure_notice.clone(),
        records: input
            .records
            .iter()
            .zip(hashes)
            .map(|(r, sha256)| RecordRef {
                id: r.id.clone(),
                kind: r.kind.clone(),
                tier: r.tier.clone(),
                sha256,
            })
            .collect(),
        document_sha256: String::new(),
        attachments: attachments
            .iter()
            .map(|(name, bytes)| AttachmentRef {
                name: name.to_string(),
                size: bytes.len() as u64,
                sha256: sha256_hex(bytes),
            })
            .collect(),
        receipt: None,
    };
    let records_md = Zeroizing::new(render(&manifest, &input.records));
    manifest.document_sha256 = sha256_hex(records_md.as_bytes());
    manifest.check().map_err(PacketError::invalid)?;
    Ok(Prepared {
        manifest,
        records_json,
        records_md,
        attachments,
        created_unix: input.created_unix,
        sender_key,
        recipient,
    })
}

impl Prepared<'_> {
    /// The packet id (32 hex digits).
    pub fn packet_id(&self) -> &str {
        &self.manifest.packet_id
    }

    /// [`Manifest::content_sha256`] of the packet to be: record it in the log entry.
    pub fn content_sha256(&self) -> String {
        self.manifest.content_sha256()
    }

    /// The manifest without its receipt.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Adds the receipt, then bundles, encrypts and signs.
    pub fn seal(self, receipt: Receipt) -> Result<BuiltPacket, PacketError> {
        let mut receipt_json = serde_json::to_vec_pretty(&receipt.body)
            .map_err(|_| PacketError::invalid("receipt is not serializable"))?;
        receipt_json.push(b'\n');
        let mut manifest = self.manifest;
        let content_sha256 = manifest.content_sha256();
        manifest.receipt = Some(ReceiptRef {
            entry_index: receipt.entry_index,
            checkpoint: receipt.checkpoint,
            sha256: sha256_hex(&receipt_json),
        });
        manifest.check().map_err(PacketError::invalid)?;
        let manifest_json = manifest.to_bytes();
        let bundle = write_bundle(
            &manifest_json,
            &self.records_json,
            self.records_md.as_bytes(),
            &receipt_json,
            &self.attachments,
            self.created_unix,
        )?;
        let ciphertext = encrypt(&bundle, self.recipient)?;
        let comment = trusted_comment(self.created_unix, &manifest.packet_id);
        let minisig = minisign::sign_detached(self.sender_key, &ciphertext, &comment)?;
        Ok(BuiltPacket {
            packet_id: manifest.packet_id.clone(),
            packet_sha256: sha256_hex(&ciphertext),
            ciphertext,
            minisig,
            content_sha256,
            manifest,
            receipt_json,
        })
    }
}

/// The signed one-line comment `minisign -V` prints; `packet:` is checked by `open`.
pub(crate) fn trusted_comment(created_unix: u64, packet_id: &str) -> String {
    format!("timestamp:{created_unix}\tfile:{packet_id}.age\tpacket:{packet_id}\tformat:{FORMAT}/{VERSION}")
}

fn encrypt(plain: &[u8], recipient: &age::x25519::Recipient) -> Result<Vec<u8>, PacketError> {
    let crypto = |e: &dyn std::fmt::Display| PacketError::Crypto {
        detail: e.to_string(),
    };
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
            .map_err(|e| crypto(&e))?;
    let mut out = Vec::with_capacity(plain.len() + plain.len() / 4096 + 512);
    let mut writer = encryptor.wrap_output(&mut out).map_err(|e| crypto(&e))?;
    writer.write_all(plain).map_err(|e| crypto(&e))?;
    writer.finish().map_err(|e| crypto(&e))?;
    Ok(out)
}
