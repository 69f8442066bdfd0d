//! `manifest.json` (format v1) and `records.json`.
//!
//! The manifest is stored in one canonical form, `serde_json::to_vec_pretty` of [`Manifest`]
//! plus a final `\n`, and the parser refuses any other spelling. That makes the
//! [content digest](Manifest::content_sha256) well defined: the log entry of a disclosure is
//! written before its receipt exists, so it hashes the manifest *without* the receipt.

use serde::{Deserialize, Serialize};

use super::time::parse_utc;
use super::{sha256_hex, PacketError, Part, MAX_ATTACHMENTS, MAX_MANIFEST_BYTES, MAX_RECORDS};

/// The `format` value of every manifest.
pub const FORMAT: &str = "casevault-referral-packet";
/// The manifest version this build writes and reads.
pub const VERSION: u32 = 1;
/// Bytes an attachment name may have: 100 (ustar name field) minus `attachments/`.
pub const MAX_ATTACHMENT_NAME_BYTES: usize = 100 - ATTACHMENTS_DIR.len();
pub(crate) const ATTACHMENTS_DIR: &str = "attachments/";

/// What the packet says about itself. Field order is the on-disk order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// 128 random bits, 32 lowercase hex digits; what replay detection keys on.
    pub packet_id: String,
    /// `YYYY-MM-DDTHH:MM:SSZ`; also the mtime of every tar entry.
    pub created: String,
    pub sender: Sender,
    pub recipient: Recipient,
    pub purpose: String,
    pub consent: ConsentSummary,
    /// Shown to the recipient: they may not pass the information on.
    pub redisclosure_notice: String,
    /// One per line of `records.json`, same order.
    pub records: Vec<RecordRef>,
    /// SHA-256 of `records.md`.
    pub document_sha256: String,
    /// One per `attachments/<name>` entry, same order (sorted by name bytes).
    pub attachments: Vec<AttachmentRef>,
    /// The disclosure-log receipt; absent only while a packet is being prepared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ReceiptRef>,
}

/// The sending agency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sender {
    pub name: String,
    /// minisign key id of the signing key, as minisign prints it (16 uppercase hex digits).
    pub key_id: String,
}

/// The receiving agency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    pub name: String,
    /// The `age1…` recipient the packet is encrypted to.
    pub age_recipient: String,
}

/// What the client (or guardian) agreed to: enough for the recipient to respect it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentSummary {
    pub consent_id: String,
    pub signer: ConsentSigner,
    pub scope: ConsentScope,
    /// PIPL separate consent for sensitive information was given.
    pub separate_consent: bool,
    /// `YYYY-MM-DD`.
    pub signed_on: String,
    pub expires: Expiry,
    /// How the client revokes the consent (channel, contact).
    pub revoke: String,
}

/// Who signed the consent and on what authority.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentSigner {
    /// `client`, `guardian` or `agent`.
    pub role: String,
    pub name: String,
    /// E.g. "self", "parent (guardian of a minor under 14)".
    pub authority: String,
}

/// The information the consent covers: every record's kind and tier must be listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentScope {
    /// Record kinds (template keys).
    pub kinds: Vec<String>,
    /// Tier names.
    pub tiers: Vec<String>,
    /// The consent's own words for the information.
    pub description: String,
}

/// When the consent ends: a date (`{"date": "YYYY-MM-DD"}`) or an event (`{"event": "…"}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Expiry {
    Date(String),
    Event(String),
}

/// A record in `records.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordRef {
    pub id: String,
    pub kind: String,
    pub tier: String,
    /// SHA-256 of the record's line in `records.json`, without the separating `,` or `\n`.
    pub sha256: String,
}

/// An attachment `attachments/<name>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentRef {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// Where the disclosure sits in the agency's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptRef {
    /// Index of the disclosure's log entry.
    pub entry_index: u64,
    /// The signed checkpoint (C2SP signed note text) the receipt proves inclusion under.
    pub checkpoint: String,
    /// SHA-256 of `receipt.json`.
    pub sha256: String,
}

/// A record as carried in `records.json` and returned by `open`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacketRecord {
    pub id: String,
    /// Template key, e.g. `process_record`.
    pub kind: String,
    /// Template label for people, e.g. `过程记录表 Process record`.
    pub kind_label: String,
    /// Tier name, e.g. `confidential`.
    pub tier: String,
    /// `YYYY-MM-DDTHH:MM:SSZ` (or any time text the vault uses).
    pub created: String,
    /// Author's display name.
    pub author: String,
    /// The record this one amends, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amends: Option<String>,
    /// Structured fields and free text, as the template defines them.
    pub content: serde_json::Value,
}

/// Only probes `format` and `version`, so an unknown version is named as such.
#[derive(Deserialize)]
struct Probe {
    format: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
}

impl Manifest {
    /// The canonical `manifest.json` bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing plain structs of strings and integers cannot fail.
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// SHA-256 (hex) of the canonical bytes with `receipt` removed: what the disclosure log
    /// entry records, since it is written before the receipt exists. It commits to every
    /// record, attachment and the document through their hashes.
    pub fn content_sha256(&self) -> String {
        let without = Manifest {
            receipt: None,
            ..self.clone()
        };
        sha256_hex(&without.to_bytes())
    }

    /// Parses `manifest.json` strictly: known format, version 1, no unknown fields, canonical
    /// spelling, a receipt, and every field well-formed (see [`Manifest::check`]).
    pub fn parse(bytes: &[u8]) -> Result<Manifest, PacketError> {
        let bad = |d: &str| PacketError::malformed(Part::Manifest, d);
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(bad("too large"));
        }
        let probe: Probe = serde_json::from_slice(bytes).map_err(|_| bad("not a JSON object"))?;
        if probe.format.as_ref().and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(bad("not a casevault referral packet manifest"));
        }
        match probe.version {
            Some(v) if v.as_u64() == Some(u64::from(VERSION)) => {}
            Some(v) => {
                let mut found = v.to_string();
                found.truncate(32);
                return Err(PacketError::UnsupportedVersion { found });
            }
            None => return Err(bad("no version")),
        }
        // serde's messages can quote values, so only the position is reported.
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| {
            bad(&format!(
                "does not match manifest v1 (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if manifest.to_bytes() != bytes {
            return Err(bad("not in canonical form"));
        }
        if manifest.receipt.is_none() {
            return Err(bad("no log receipt"));
        }
        manifest.check().map_err(|d| bad(&d))?;
        Ok(manifest)
    }

    /// Field rules shared by the builder and the parser; the error is a short reason that
    /// names ids and positions only.
    pub fn check(&self) -> Result<(), String> {
        if self.format != FORMAT || self.version != VERSION {
            return Err("wrong format or version".into());
        }
        if self.packet_id.len() != 32 || !is_lower_hex(&self.packet_id) {
            return Err("packet id must be 32 lowercase hex digits".into());
        }
        if parse_utc(&self.created).is_none() {
            return Err("created must be YYYY-MM-DDTHH:MM:SSZ".into());
        }
        let s = &self.sender;
        if s.key_id.len() != 16
            || !s
                .key_id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase())
        {
            return Err("sender key id must be 16 uppercase hex digits".into());
        }
        if self
            .recipient
            .age_recipient
            .parse::<age::x25519::Recipient>()
            .is_err()
        {
            return Err("recipient is not an age X25519 recipient".into());
        }
        for (what, text) in [
            ("sender name", &s.name),
            ("recipient name", &self.recipient.name),
            ("purpose", &self.purpose),
            ("redisclosure notice", &self.redisclosure_notice),
            ("consent signer", &self.consent.signer.name),
            ("consent revocation", &self.consent.revoke),
        ] {
            if text.trim().is_empty() {
                return Err(format!("{what} is empty"));
            }
        }
        check_id("consent id", &self.consent.consent_id)?;
        if !matches!(
            self.consent.signer.role.as_str(),
            "client" | "guardian" | "agent"
        ) {
            return Err("consent signer role must be client, guardian or agent".into());
        }
        if self.records.is_empty() || self.records.len() > MAX_RECORDS {
            return Err(format!("a packet holds 1 to {MAX_RECORDS} records"));
        }
        let mut ids = std::collections::HashSet::new();
        for r in &self.records {
            check_id("record id", &r.id)?;
            if !ids.insert(r.id.as_str()) {
                return Err(format!("record {} is listed twice", r.id));
            }
            check_sha256(&r.sha256)?;
            if !self.consent.scope.kinds.contains(&r.kind)
                || !self.consent.scope.tiers.contains(&r.tier)
            {
                return Err(format!("record {} is outside the consent's scope", r.id));
            }
        }
        check_sha256(&self.document_sha256)?;
        if self.attachments.len() > MAX_ATTACHMENTS {
            return Err(format!("at most {MAX_ATTACHMENTS} attachments"));
        }
        for (i, a) in self.attachments.iter().enumerate() {
            check_attachment_name(&a.name).map_err(|e| format!("attachment #{}: {e}", i + 1))?;
            check_sha256(&a.sha256)?;
            if i > 0 && self.attachments[i - 1].name.as_bytes() >= a.name.as_bytes() {
                return Err("attachments must be sorted by name, without duplicates".into());
            }
        }
        if let Some(r) = &self.receipt {
            check_sha256(&r.sha256)?;
            if r.checkpoint.trim().is_empty() {
                return Err("receipt checkpoint is empty".into());
            }
        }
        Ok(())
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn check_sha256(s: &str) -> Result<(), String> {
    if s.len() == 64 && is_lower_hex(s) {
        Ok(())
    } else {
        Err("a SHA-256 must be 64 lowercase hex digits".into())
    }
}

/// Ids appear in messages and file names: 1 to 128 printable ASCII characters, no spaces.
fn check_id(what: &str, id: &str) -> Result<(), String> {
    if (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(format!(
            "{what} must be 1 to 128 printable ASCII characters"
        ))
    }
}

/// Attachment names become file names when a partner runs `tar -x`: letters and digits of
/// any script plus `._-+ ()`, not starting with `.` or a space, at most
/// [`MAX_ATTACHMENT_NAME_BYTES`] bytes.
pub fn check_attachment_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_ATTACHMENT_NAME_BYTES {
        return Err(format!(
            "name must be 1 to {MAX_ATTACHMENT_NAME_BYTES} bytes"
        ));
    }
    if name.starts_with(['.', ' ']) || name.ends_with(' ') {
        return Err("name may not start with a dot or space, nor end with a space".into());
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || "._-+ ()".contains(c))
    {
        return Err("name may hold only letters, digits and ._-+ ()".into());
    }
    Ok(())
}

/// `records.json`: `[\n` + one compact JSON record per line, lines joined by `,\n` + `\n]\n`.
/// Returns the file and each line's SHA-256.
pub(crate) fn encode_records(
    records: &[PacketRecord],
) -> Result<(Vec<u8>, Vec<String>), PacketError> {
    let mut out = b"[\n".to_vec();
    let mut hashes = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let line = serde_json::to_vec(r)
            .map_err(|_| PacketError::invalid(format!("record {} cannot be serialized", r.id)))?;
        if i > 0 {
            out.extend_from_slice(b",\n");
        }
        hashes.push(sha256_hex(&line));
        out.extend_from_slice(&line);
    }
    out.extend_from_slice(b"\n]\n");
    Ok((out, hashes))
}

/// Splits and checks `records.json` against the manifest: each line's hash, then its fields.
pub(crate) fn decode_records(
    bytes: &[u8],
    refs: &[RecordRef],
) -> Result<Vec<PacketRecord>, PacketError> {
    let bad = |d: String| PacketError::malformed(Part::Records, d);
    let body = bytes
        .strip_prefix(b"[\n")
        .and_then(|b| b.strip_suffix(b"\n]\n"))
        .ok_or_else(|| bad("must start with \"[\\n\" and end with \"\\n]\\n\"".into()))?;
    let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    if lines.len() != refs.len() {
        return Err(bad(format!(
            "{} lines for {} records in the manifest",
            lines.len(),
            refs.len()
        )));
    }
    let mut out = Vec::with_capacity(lines.len());
    for (i, (line, r)) in lines.iter().zip(refs).enumerate() {
        let line = if i + 1 < lines.len() {
            line.strip_suffix(b",")
                .ok_or_else(|| bad(format!("line {} lacks its separating comma", i + 2)))?
        } else {
            line
        };
        if sha256_hex(line) != r.sha256 {
            return Err(PacketError::tampered(format!("record {}", r.id)));
        }
        let rec: PacketRecord = serde_json::from_slice(line)
            .map_err(|_| bad(format!("record {} is not a v1 record", r.id)))?;
        if rec.id != r.id || rec.kind != r.kind || rec.tier != r.tier {
            return Err(bad(format!(
                "record {} differs from its manifest entry",
                r.id
            )));
        }
        out.push(rec);
    }
    Ok(out)
}
