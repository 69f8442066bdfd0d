//! Records: the forms and notes of a case. Content is encrypted; the metadata here is what
//! the index holds in the clear (inside SQLCipher).

use serde::{Deserialize, Serialize};

/// A record's metadata.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RecordMeta {
    pub id: i64,
    pub case_id: i64,
    pub kind: String,
    pub tier: u8,
    pub author: String,
    pub created_at: i64,
    /// The record this one amends (the original is kept).
    pub amends: Option<i64>,
    /// The case key epoch it is encrypted under.
    pub epoch: i64,
}

/// The payload version written now: v2 carries `attachments` (possibly empty).
pub const RECORD_CONTENT_VERSION: u32 = 2;

/// The plaintext inside a record's envelope. `salt` makes equal contents encrypt and sign
/// differently, so the author's signature cannot confirm guesses.
///
/// Versions: `v: 1` has no `attachments` key; `v: 2` always has it. [`RecordContent::parse`]
/// accepts exactly these two shapes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecordContent {
    pub v: u32,
    pub salt: String,
    /// Template fields (plus an optional free-text `note`).
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// What is attached, in stored order (v2). Covered by the author's signature, since the
    /// signature covers the SHA-256 of this whole payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<AttachmentDescriptor>>,
}

impl RecordContent {
    /// Parses a decrypted payload of version 1 or 2; `None` for anything else.
    pub fn parse(payload: &[u8]) -> Option<RecordContent> {
        let c: RecordContent = serde_json::from_slice(payload).ok()?;
        match (c.v, &c.attachments) {
            (1, None) | (2, Some(_)) => Some(c),
            _ => None,
        }
    }

    /// The attachment descriptors (none for v1).
    pub fn attachments(&self) -> &[AttachmentDescriptor] {
        self.attachments.as_deref().unwrap_or(&[])
    }
}

/// One attachment of a record, as its author signed it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AttachmentDescriptor {
    /// A file name (no path), see [`check_attachment_name`].
    pub name: String,
    /// Plaintext bytes.
    pub size: u64,
    /// SHA-256 of the plaintext, lowercase hex.
    pub sha256: String,
}

/// Longest attachment name in bytes: leaves room for `<record id>-` inside a packet's
/// 88-byte attachment name.
pub const MAX_RECORD_ATTACHMENT_NAME_BYTES: usize = 64;
/// Largest attachment, in bytes (64 MiB, as in referral packets).
pub const MAX_RECORD_ATTACHMENT_BYTES: usize = crate::packet::MAX_ATTACHMENT_BYTES;
/// Most attachments on one record.
pub const MAX_RECORD_ATTACHMENTS: usize = 32;

/// Checks an attachment name: a plain file name as referral packets allow it (letters,
/// digits, `._-+ ()`, no leading dot or space), at most
/// [`MAX_RECORD_ATTACHMENT_NAME_BYTES`] bytes. The reason is returned in English for logs;
/// callers show their own translated message.
pub fn check_attachment_name(name: &str) -> Result<(), String> {
    if name.len() > MAX_RECORD_ATTACHMENT_NAME_BYTES {
        return Err(format!(
            "name must be 1 to {MAX_RECORD_ATTACHMENT_NAME_BYTES} bytes"
        ));
    }
    crate::packet::manifest::check_attachment_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let v1 = br#"{"v":1,"salt":"00","fields":{"a":1}}"#;
        assert!(RecordContent::parse(v1).unwrap().attachments().is_empty());
        let v2 = br#"{"v":2,"salt":"00","fields":{},"attachments":[{"name":"a.pdf","size":3,"sha256":"ab"}]}"#;
        assert_eq!(
            RecordContent::parse(v2).unwrap().attachments()[0].name,
            "a.pdf"
        );
        // v1 with attachments, v2 without, unknown versions and keys: refused.
        for bad in [
            &br#"{"v":1,"salt":"00","fields":{},"attachments":[]}"#[..],
            br#"{"v":2,"salt":"00","fields":{}}"#,
            br#"{"v":3,"salt":"00","fields":{},"attachments":[]}"#,
            br#"{"v":2,"salt":"00","fields":{},"attachments":[],"x":1}"#,
            br#"{"v":2,"salt":"00","fields":{},"attachments":[{"name":"a","size":1,"sha256":"","x":0}]}"#,
        ] {
            assert!(RecordContent::parse(bad).is_none());
        }
    }

    #[test]
    fn names() {
        for ok in ["scan.pdf", "家访记录 (1).jpg", "a-b_c+d.txt"] {
            assert!(check_attachment_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "../x",
            "a/b",
            "a\\b",
            ".hidden",
            " x",
            "x ",
            &"a".repeat(65),
        ] {
            assert!(check_attachment_name(bad).is_err(), "{bad}");
        }
    }
}
