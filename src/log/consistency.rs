//! Consistency proofs for partners (`docs/formats.md`, "Log consistency proof v1"): the
//! sending agency proves that the checkpoint a partner holds (from a receipt) is a prefix of
//! its current log, so the partner learns that nothing it was shown has been rewritten since.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::error::LogError;
use super::merkle::{consistency_proof, leaf_hash, root, verify_consistency, Hash};
use super::note::{Checkpoint, VerifierKey};

/// The `format` value of a proof object.
pub const PROOF_FORMAT: &str = "casevault-consistency-proof";
/// The proof version this build writes and reads.
pub const PROOF_VERSION: u32 = 1;

/// An old and a new signed checkpoint of one log and the RFC 6962 consistency proof between
/// them (base64 hashes, RFC 9162 §2.1.4 order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    pub format: String,
    pub version: u32,
    /// The checkpoint the partner holds (signed note text, cosignatures kept).
    pub old: String,
    /// The log's latest signed checkpoint.
    pub new: String,
    pub proof: Vec<String>,
    /// Checkpoint key handovers up to `new` (see [`Receipt`](super::Receipt)'s).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain_keys: Vec<String>,
}

impl ConsistencyProof {
    /// JSON text.
    pub fn to_json(&self) -> String {
        // Only strings and integers: serialization cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses JSON text (format and version checked).
    pub fn from_json(text: &str) -> Result<ConsistencyProof, LogError> {
        let p: ConsistencyProof = serde_json::from_str(text).map_err(|e| {
            LogError::ReceiptMalformed(format!("line {}, column {}", e.line(), e.column()))
        })?;
        if p.format != PROOF_FORMAT || p.version != PROOF_VERSION {
            return Err(LogError::ReceiptMalformed(format!(
                "not a {PROOF_FORMAT} v{PROOF_VERSION}"
            )));
        }
        Ok(p)
    }

    /// Checks both signatures under `key` and the proof; returns (old, new).
    pub fn verify(&self, key: &VerifierKey) -> Result<(Checkpoint, Checkpoint), LogError> {
        let keys: Vec<VerifierKey> = self
            .chain_keys
            .iter()
            .filter_map(|k| VerifierKey::parse(k).ok())
            .collect();
        let chain = super::KeyChain::walk(key, &keys, &self.chain);
        let open = |note: &str| {
            chain.open(note).map_err(|reason| LogError::Checkpoint {
                size: Checkpoint::parse_unverified(note).ok().map(|c| c.size),
                reason,
            })
        };
        let (old, new) = (open(&self.old)?, open(&self.new)?);
        let proof = self
            .proof
            .iter()
            .map(|p| B64.decode(p).ok().and_then(|v| Hash::try_from(v).ok()))
            .collect::<Option<Vec<Hash>>>()
            .ok_or_else(|| LogError::ReceiptMalformed("proof hash".into()))?;
        if !verify_consistency(old.size, new.size, &old.root, &new.root, &proof) {
            return Err(LogError::CheckpointMismatch { size: old.size });
        }
        Ok((old, new))
    }
}

/// Proves the checkpoint `old_note` (which must carry a valid signature by `key`) is a prefix
/// of the log in `conn` under its latest checkpoint. The latest checkpoint must cover the
/// stored entries, and the entries below the old size must hash to the old root; otherwise
/// the log was rewritten since the partner got that checkpoint (a fork: `CheckpointMismatch`).
/// O(n): every leaf is read.
pub fn prove(
    conn: &Connection,
    old_note: &str,
    key: &VerifierKey,
) -> Result<ConsistencyProof, LogError> {
    let chain = super::store::key_chain(conn, key)?;
    let old = chain
        .open(old_note)
        .map_err(|reason| LogError::Checkpoint {
            size: Checkpoint::parse_unverified(old_note).ok().map(|c| c.size),
            reason,
        })?;
    let (entries, _) = super::store::load_all(conn)?;
    let latest: String = conn.query_row(
        "SELECT note FROM log_checkpoints ORDER BY size DESC LIMIT 1",
        [],
        |r| r.get(0),
    )?;
    let new = chain
        .open(&latest)
        .map_err(|reason| LogError::Checkpoint { size: None, reason })?;
    // Entries beyond the latest checkpoint (not covered yet) are not part of the proof.
    let leaves: Vec<Hash> = entries
        .iter()
        .take(new.size.min(entries.len() as u64) as usize)
        .map(|e| leaf_hash(e))
        .collect();
    if leaves.len() as u64 != new.size || root(&leaves) != new.root {
        return Err(LogError::Alarm {
            size: new.size,
            reason: "the stored entries do not match the latest checkpoint".into(),
        });
    }
    if old.size > new.size {
        return Err(LogError::Truncated {
            have: new.size,
            signed: old.size,
        });
    }
    if root(&leaves[..old.size as usize]) != old.root {
        return Err(LogError::CheckpointMismatch { size: old.size });
    }
    let proof = consistency_proof(&leaves, old.size).ok_or(LogError::NoSuchEntry {
        index: old.size,
        size: new.size,
    })?;
    Ok(ConsistencyProof {
        format: PROOF_FORMAT.into(),
        version: PROOF_VERSION,
        old: old_note.to_string(),
        new: latest,
        proof: proof.iter().map(|h| B64.encode(h)).collect(),
        chain: super::store::handover_notes(conn)?,
        chain_keys: super::store::chain_candidates(conn)?,
    })
}
