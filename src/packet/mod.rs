//! Referral packets: one age-encrypted file plus a detached minisign signature, readable by
//! stock `age -d` and `minisign -V` (format: `docs/referral-packet.md`).
//!
//! Sending: [`build`] (or [`prepare`] then [`Prepared::seal`] when the disclosure-log entry
//! must be written before the receipt exists). Receiving: [`verify_signature`], then [`open`].
//! Keys for partners without tools: [`PartnerKeys`].
//!
//! Nothing here touches the file system: plaintext only ever lives in memory.

mod build;
pub mod bundle;
mod keys;
pub mod manifest;
pub mod minisign;
mod open;
mod render;
mod time;
pub(crate) mod ustar;

use std::fmt;

use crate::tr;

pub use build::{
    build, prepare, prepare_with_id, Attachment, BuiltPacket, PacketInput, Prepared, Receipt,
};
pub use bundle::{parse_bundle, Bundle};
pub use keys::PartnerKeys;
pub use manifest::{ConsentScope, ConsentSigner, ConsentSummary, Expiry, Manifest, PacketRecord};
pub use minisign::{KeyId, PublicKey};
pub use open::{open, verify_signature, OpenedAttachment, OpenedPacket};

/// Largest plaintext bundle we build or accept (the tar inside the age file).
pub const MAX_BUNDLE_BYTES: usize = 256 << 20;
/// Largest single attachment.
pub const MAX_ATTACHMENT_BYTES: usize = 64 << 20;
/// Most attachments per packet.
pub const MAX_ATTACHMENTS: usize = 256;
/// Most records per packet.
pub const MAX_RECORDS: usize = 10_000;
/// Largest `manifest.json` (it holds one line per record and attachment).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// Largest `receipt.json`.
pub const MAX_RECEIPT_BYTES: usize = 1 << 20;
/// Largest `.minisig` text we read.
pub const MAX_SIGNATURE_TEXT_BYTES: usize = 16 << 10;
/// age's framing adds a header plus 16 bytes per 64 KiB chunk; this bounds the ciphertext.
pub const MAX_PACKET_BYTES: usize = MAX_BUNDLE_BYTES + MAX_BUNDLE_BYTES / 4096 + (64 << 10);

/// Which part of a packet or key a [`PacketError::Malformed`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The `.minisig` text.
    Signature,
    /// A minisign public key.
    PublicKey,
    /// A minisign secret key file.
    SecretKey,
    /// The age file around the bundle.
    Encryption,
    /// The tar bundle.
    Bundle,
    /// `manifest.json`.
    Manifest,
    /// `records.json`.
    Records,
}

impl Part {
    fn label(self) -> String {
        match self {
            Part::Signature => tr!("packet.part.signature"),
            Part::PublicKey => tr!("packet.part.public_key"),
            Part::SecretKey => tr!("packet.part.secret_key"),
            Part::Encryption => tr!("packet.part.encryption"),
            Part::Bundle => tr!("packet.part.bundle"),
            Part::Manifest => tr!("packet.part.manifest"),
            Part::Records => tr!("packet.part.records"),
        }
    }
}

/// Errors of this module. Messages name packets, records and key ids, never client content
/// (attachment names can be content, so attachments are named by position).
#[derive(Debug)]
pub enum PacketError {
    /// The packet is not encrypted to the identity we hold (`manifest_names` is `None`), or it
    /// decrypts but its manifest names another recipient.
    WrongRecipient { manifest_names: Option<String> },
    /// The signature does not verify with the sender's key.
    BadSignature,
    /// The signature, or the manifest, names a different key than the sender's.
    WrongSigner { expected: String, found: String },
    /// Content does not match the hash the manifest gives for it.
    Tampered { what: String },
    /// Bytes that do not follow the format; `detail` is a short technical reason.
    Malformed { part: Part, detail: String },
    /// A format version this build does not read.
    UnsupportedVersion { found: String },
    /// The caller found this packet id already imported.
    Replayed { packet_id: String },
    /// The sender's own input cannot go into a packet (bad name, record outside consent...).
    InvalidInput { detail: String },
    /// Encryption failed for a reason outside the input (should not happen).
    Crypto { detail: String },
}

impl PacketError {
    pub(crate) fn malformed(part: Part, detail: impl Into<String>) -> Self {
        PacketError::Malformed {
            part,
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid(detail: impl Into<String>) -> Self {
        PacketError::InvalidInput {
            detail: detail.into(),
        }
    }

    pub(crate) fn tampered(what: impl Into<String>) -> Self {
        PacketError::Tampered { what: what.into() }
    }
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            PacketError::WrongRecipient {
                manifest_names: None,
            } => tr!("packet.wrong_recipient"),
            PacketError::WrongRecipient {
                manifest_names: Some(name),
            } => tr!("packet.addressed_elsewhere", name = name),
            PacketError::BadSignature => tr!("packet.bad_signature"),
            PacketError::WrongSigner { expected, found } => {
                tr!("packet.wrong_signer", expected = expected, found = found)
            }
            PacketError::Tampered { what } => tr!("packet.tampered", what = what),
            PacketError::Malformed { part, detail } => {
                tr!("packet.malformed", part = part.label(), detail = detail)
            }
            PacketError::UnsupportedVersion { found } => {
                tr!("packet.unsupported_version", found = found)
            }
            PacketError::Replayed { packet_id } => tr!("packet.replayed", id = packet_id),
            PacketError::InvalidInput { detail } => tr!("packet.invalid_input", detail = detail),
            PacketError::Crypto { detail } => tr!("packet.crypto", detail = detail),
        };
        f.write_str(&s)
    }
}

impl std::error::Error for PacketError {}

/// Lowercase hex, used for hashes and packet ids.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// SHA-256 as lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(bytes))
}
