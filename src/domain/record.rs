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

/// The plaintext inside a record's envelope. `salt` makes equal contents encrypt and sign
/// differently, so the author's signature cannot confirm guesses.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecordContent {
    pub v: u32,
    pub salt: String,
    /// Template fields (plus an optional free-text `note`).
    pub fields: serde_json::Map<String, serde_json::Value>,
}
