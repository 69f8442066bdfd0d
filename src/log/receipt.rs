//! Receipts: the checkpoint, the stored entry and its inclusion proof, carried by packets and
//! access packages so that copies of the log's state live outside the vault.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::entry::Entry;
use super::error::LogError;
use super::merkle::{leaf_hash, verify_inclusion, Hash};
use super::note::{Checkpoint, VerifierKey};
use super::store::decode_stored;

/// Proof that an entry is in the log, as JSON-serializable text fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The signed checkpoint note (C2SP signed-note text).
    pub checkpoint: String,
    /// The entry's index.
    pub index: u64,
    /// Base64 of the stored entry: entry bytes ‖ Ed25519 signature (the Merkle leaf).
    pub entry: String,
    /// Base64 hashes of the inclusion proof, leaf side first (RFC 9162 order).
    pub proof: Vec<String>,
    /// The checkpoint key handovers up to `checkpoint` (signed notes co-signed by the old and
    /// new key), so a holder of the pinned key can follow rotations (see `KeyChain`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
    /// The verifier keys those handovers name (untrusted without the handover notes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain_keys: Vec<String>,
}

impl Receipt {
    pub(crate) fn new(checkpoint: String, index: u64, stored: &[u8], proof: &[Hash]) -> Receipt {
        Receipt {
            checkpoint,
            index,
            entry: B64.encode(stored),
            proof: proof.iter().map(|h| B64.encode(h)).collect(),
            chain: Vec::new(),
            chain_keys: Vec::new(),
        }
    }

    /// The key chain walked from `start` through the handovers the receipt carries.
    pub fn key_chain(&self, start: &VerifierKey) -> super::KeyChain {
        let keys: Vec<VerifierKey> = self
            .chain_keys
            .iter()
            .filter_map(|k| VerifierKey::parse(k).ok())
            .collect();
        super::KeyChain::walk(start, &keys, &self.chain)
    }

    /// JSON text.
    pub fn to_json(&self) -> String {
        // Only strings and integers: serialization cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses JSON text.
    pub fn from_json(text: &str) -> Result<Receipt, LogError> {
        serde_json::from_str(text).map_err(|e| LogError::ReceiptMalformed(e.to_string()))
    }

    /// The stored entry bytes it carries, if its base64 decodes.
    pub fn entry_bytes(&self) -> Option<Vec<u8>> {
        B64.decode(&self.entry).ok()
    }

    /// Whether its inclusion proof leads from its entry to its checkpoint's root. The
    /// checkpoint's signature is not checked here (the caller checks it under its key chain).
    pub fn proof_holds(&self) -> bool {
        let Ok(cp) = Checkpoint::parse_unverified(&self.checkpoint) else {
            return false;
        };
        let (Some(stored), Some(proof)) = (
            self.entry_bytes(),
            self.proof
                .iter()
                .map(|p| B64.decode(p).ok().and_then(|v| Hash::try_from(v).ok()))
                .collect::<Option<Vec<Hash>>>(),
        ) else {
            return false;
        };
        verify_inclusion(&leaf_hash(&stored), self.index, cp.size, &proof, &cp.root)
    }
}

/// Checks the checkpoint's signature under `verifier_key` (or a key the chain hands over to)
/// and the entry's inclusion under it;
/// returns both. The entry's staff signature is checked only by a full log verification
/// (it needs the registry), but the agency's checkpoint covers its exact bytes.
pub fn verify_receipt(
    receipt: &Receipt,
    verifier_key: &str,
) -> Result<(Checkpoint, Entry), LogError> {
    let bad_key = |reason| LogError::Checkpoint { size: None, reason };
    let key = VerifierKey::parse(verifier_key).map_err(bad_key)?;
    let cp = receipt
        .key_chain(&key)
        .open(&receipt.checkpoint)
        .map_err(|reason| LogError::Checkpoint {
            size: Checkpoint::parse_unverified(&receipt.checkpoint)
                .ok()
                .map(|c| c.size),
            reason,
        })?;
    let malformed = || LogError::ReceiptMalformed(format!("entry {}", receipt.index));
    let stored = B64.decode(&receipt.entry).map_err(|_| malformed())?;
    let proof = receipt
        .proof
        .iter()
        .map(|p| B64.decode(p).ok().and_then(|v| Hash::try_from(v).ok()))
        .collect::<Option<Vec<Hash>>>()
        .ok_or_else(malformed)?;
    let (entry, _) = decode_stored(receipt.index, &stored)?;
    if entry.index != receipt.index {
        return Err(LogError::IndexMismatch {
            index: receipt.index,
            claimed: entry.index,
        });
    }
    if !verify_inclusion(
        &leaf_hash(&stored),
        receipt.index,
        cp.size,
        &proof,
        &cp.root,
    ) {
        return Err(LogError::ReceiptFails {
            index: receipt.index,
        });
    }
    Ok((cp, entry))
}
