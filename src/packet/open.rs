//! The receiving side: signature first, then decryption, then every hash. Plaintext stays in
//! memory (wiped on drop where it is ours); nothing is written to disk here.

use std::io::Read;

use age::x25519::Identity;
use zeroize::Zeroizing;

use super::bundle::parse_bundle;
use super::manifest::{decode_records, Manifest, PacketRecord, RecordRef};
use super::minisign::{verify_detached, PublicKey};
use super::time::parse_utc;
use super::{sha256_hex, PacketError, Part, MAX_BUNDLE_BYTES, MAX_PACKET_BYTES};

/// A verified, decrypted packet.
#[derive(Debug)]
pub struct OpenedPacket {
    pub manifest: Manifest,
    /// In `records.json` order; each matched its manifest hash.
    pub records: Vec<PacketRecord>,
    /// `records.md`, the readable document.
    pub document: Zeroizing<String>,
    /// In manifest order; each matched its size and hash.
    pub attachments: Vec<OpenedAttachment>,
    /// `receipt.json` parsed (the log receipt: checkpoint and inclusion proof).
    pub receipt: serde_json::Value,
    /// SHA-256 (hex) of the ciphertext: the caller keys replay detection on this and the id.
    pub packet_sha256: String,
    /// The verified trusted comment of the signature.
    pub trusted_comment: String,
}

impl OpenedPacket {
    /// This packet as a reader who may not see some of its records gets it: the records
    /// `withhold` picks are removed from `records` and from the manifest's record list; an
    /// attachment stays only if its name starts with `<kept record id>-` and with no
    /// `<withheld record id>-` (casevault's naming, §3; anything else may belong to a
    /// withheld record, so it goes too); `records.md`, which holds every record's content,
    /// is rendered again from what is left. Returns the packet, the withheld records'
    /// manifest entries (id, kind, tier, hash: no content) and how many attachments went.
    /// With nothing withheld the packet is returned unchanged.
    pub fn withhold(
        mut self,
        withhold: impl Fn(&PacketRecord) -> bool,
    ) -> (OpenedPacket, Vec<RecordRef>, usize) {
        let picked: Vec<bool> = self.records.iter().map(&withhold).collect();
        if !picked.contains(&true) {
            return (self, Vec::new(), 0);
        }
        let entries = std::mem::take(&mut self.manifest.records);
        let records = std::mem::take(&mut self.records);
        let (mut kept_ids, mut gone_ids, mut gone) = (Vec::new(), Vec::new(), Vec::new());
        for ((r, e), out) in records.into_iter().zip(entries).zip(&picked) {
            if *out {
                gone_ids.push(format!("{}-", e.id));
                gone.push(e);
            } else {
                kept_ids.push(format!("{}-", e.id));
                self.manifest.records.push(e);
                self.records.push(r);
            }
        }
        let keep = |name: &str| {
            kept_ids.iter().any(|p| name.starts_with(p.as_str()))
                && !gone_ids.iter().any(|p| name.starts_with(p.as_str()))
        };
        let before = self.attachments.len();
        self.attachments.retain(|a| keep(&a.name));
        self.manifest.attachments.retain(|a| keep(&a.name));
        let dropped = before - self.attachments.len();
        self.document = Zeroizing::new(super::render::render(&self.manifest, &self.records));
        (self, gone, dropped)
    }
}

/// An attachment's bytes, in memory only.
#[derive(Debug)]
pub struct OpenedAttachment {
    pub name: String,
    pub bytes: Zeroizing<Vec<u8>>,
}

/// Checks the detached signature over the exact ciphertext bytes; returns the trusted comment.
/// Cheap enough to run before anything else touches the packet.
pub fn verify_signature(
    ciphertext: &[u8],
    minisig: &str,
    sender: &PublicKey,
) -> Result<String, PacketError> {
    if ciphertext.len() > MAX_PACKET_BYTES {
        return Err(PacketError::malformed(Part::Encryption, "too large"));
    }
    verify_detached(sender, ciphertext, minisig)
}

/// Verifies, decrypts and checks a packet. Order: signature (→ `BadSignature`/`WrongSigner`),
/// decryption (→ `WrongRecipient`), bundle layout, manifest, manifest names this identity and
/// this sender, then each record, the document, the receipt and each attachment against its
/// hash (→ `Tampered`). Replay is the caller's: look up `manifest.packet_id` and
/// `packet_sha256`, and return [`PacketError::Replayed`] if already imported.
pub fn open(
    ciphertext: &[u8],
    minisig: &str,
    sender: &PublicKey,
    identity: &Identity,
) -> Result<OpenedPacket, PacketError> {
    let trusted_comment = verify_signature(ciphertext, minisig, sender)?;
    let plain = decrypt(ciphertext, identity)?;
    let (bundle, mtime) = parse_bundle(&plain)?;
    drop(plain);
    let manifest = Manifest::parse(&bundle.manifest)?;
    if manifest.recipient.age_recipient != identity.to_public().to_string() {
        return Err(PacketError::WrongRecipient {
            manifest_names: Some(manifest.recipient.name.clone()),
        });
    }
    if manifest.sender.key_id != sender.key_id.to_string() {
        return Err(PacketError::WrongSigner {
            expected: sender.key_id.to_string(),
            found: manifest.sender.key_id.clone(),
        });
    }
    let named = trusted_comment
        .split('\t')
        .find_map(|f| f.strip_prefix("packet:"));
    if named.is_some_and(|id| id != manifest.packet_id) {
        return Err(PacketError::malformed(
            Part::Signature,
            "trusted comment names another packet",
        ));
    }
    if parse_utc(&manifest.created) != Some(mtime) {
        return Err(PacketError::malformed(
            Part::Bundle,
            "entry times differ from created",
        ));
    }
    let records = decode_records(&bundle.records_json, &manifest.records)?;
    if sha256_hex(&bundle.records_md) != manifest.document_sha256 {
        return Err(PacketError::tampered("records.md"));
    }
    let document = String::from_utf8(bundle.records_md.to_vec())
        .map_err(|_| PacketError::malformed(Part::Bundle, "records.md is not UTF-8"))?;
    // `Manifest::parse` guarantees the receipt is present.
    let receipt_ref = manifest
        .receipt
        .as_ref()
        .ok_or_else(|| PacketError::malformed(Part::Manifest, "no log receipt"))?;
    if sha256_hex(&bundle.receipt) != receipt_ref.sha256 {
        return Err(PacketError::tampered("receipt.json"));
    }
    let receipt: serde_json::Value = serde_json::from_slice(&bundle.receipt)
        .map_err(|_| PacketError::malformed(Part::Bundle, "receipt.json is not JSON"))?;
    if bundle.attachments.len() != manifest.attachments.len() {
        return Err(PacketError::malformed(
            Part::Bundle,
            "attachments differ from the manifest",
        ));
    }
    let mut attachments = Vec::with_capacity(bundle.attachments.len());
    for (i, ((name, bytes), a)) in bundle
        .attachments
        .into_iter()
        .zip(&manifest.attachments)
        .enumerate()
    {
        if name != a.name {
            return Err(PacketError::malformed(
                Part::Bundle,
                format!("attachment #{} differs from the manifest", i + 1),
            ));
        }
        if bytes.len() as u64 != a.size || sha256_hex(&bytes) != a.sha256 {
            return Err(PacketError::tampered(format!("attachment #{}", i + 1)));
        }
        attachments.push(OpenedAttachment { name, bytes });
    }
    Ok(OpenedPacket {
        packet_sha256: sha256_hex(ciphertext),
        manifest,
        records,
        document: Zeroizing::new(document),
        attachments,
        receipt,
        trusted_comment,
    })
}

/// Decrypts to memory, bounded by [`MAX_BUNDLE_BYTES`].
fn decrypt(ciphertext: &[u8], identity: &Identity) -> Result<Zeroizing<Vec<u8>>, PacketError> {
    let bad = |d: &str| PacketError::malformed(Part::Encryption, d);
    let decryptor = age::Decryptor::new_buffered(ciphertext).map_err(|_| bad("not an age file"))?;
    if decryptor.is_scrypt() {
        return Err(bad("passphrase-encrypted, not encrypted to an agency"));
    }
    let mut reader = match decryptor.decrypt(std::iter::once(identity as &dyn age::Identity)) {
        Ok(r) => r,
        Err(age::DecryptError::NoMatchingKeys) => {
            return Err(PacketError::WrongRecipient {
                manifest_names: None,
            })
        }
        Err(_) => return Err(bad("header does not decrypt")),
    };
    let mut plain = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
    (&mut reader)
        .take(MAX_BUNDLE_BYTES as u64 + 1)
        .read_to_end(&mut plain)
        .map_err(|_| bad("payload does not decrypt"))?;
    if plain.len() > MAX_BUNDLE_BYTES {
        return Err(bad("too large"));
    }
    Ok(plain)
}
