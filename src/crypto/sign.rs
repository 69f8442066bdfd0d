//! What a record's author signs: the record's metadata and the SHA-256 of the exact plaintext
//! payload. The payload carries a random salt, so the signature cannot confirm a guess of the
//! content by someone who holds only the database.

use sha2::{Digest, Sha256};

/// The fields bound by a record signature.
pub struct RecordSigInput<'a> {
    pub record_id: i64,
    pub case_id: i64,
    pub kind: &'a str,
    pub tier: u8,
    pub author: &'a str,
    pub created_at: i64,
    pub amends: Option<i64>,
    pub payload_sha256: [u8; 32],
}

/// The domain-separated, length-prefixed message that is signed (format in docs/formats.md).
pub fn record_message(i: &RecordSigInput) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"casevault-record-sig-v1\0");
    h.update(i.record_id.to_be_bytes());
    h.update(i.case_id.to_be_bytes());
    for s in [i.kind, i.author] {
        h.update((s.len() as u32).to_be_bytes());
        h.update(s.as_bytes());
    }
    h.update([i.tier]);
    h.update(i.created_at.to_be_bytes());
    h.update(i.amends.unwrap_or(0).to_be_bytes());
    h.update(i.payload_sha256);
    h.finalize().into()
}
