//! A partner agency's disclosure log, seen from the receiving side (issue 11, item 4): the
//! receipt in each packet is checked against the partner's recorded log key and must be the
//! disclosure of that very packet; the checkpoints seen are remembered per partner; and a
//! consistency proof the partner makes with `log prove` links them. Also `log prove` itself,
//! on the sending side. Formats: `docs/referral-packet.md` §7a, `docs/formats.md`.

use std::fmt;

use serde::Serialize;

use super::Session;
use crate::crypto;
use crate::domain::time::now;
use crate::error::{Error, Result};
use crate::log::{self, Checkpoint, ConsistencyProof, KindCode, LogError, Receipt, VerifierKey};
use crate::packet::OpenedPacket;
use crate::policy::Action;
use crate::store;
use crate::store::agencies::AgencyRow;
use crate::store::partner_checkpoints::PartnerCheckpoint;
use crate::tr;

/// Why a partner's receipt or consistency proof is refused. Names sizes, indexes and fields,
/// never content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptProblem {
    /// `receipt.json` is not a receipt, or disagrees with the manifest's `receipt` member;
    /// a proof file is not a proof.
    Malformed(String),
    /// A checkpoint does not carry a valid signature by the partner's recorded log key.
    Checkpoint(String),
    /// The inclusion proof does not lead from the entry to the checkpoint's root.
    Inclusion { index: u64 },
    /// The entry is a real log entry but not the disclosure of this packet (the field that
    /// differs: kind, digest or recipient).
    OtherEntry(&'static str),
    /// A checkpoint of this size with another root was seen from this partner: two histories.
    Fork { size: u64 },
    /// The proof does not show the old checkpoint is a prefix of the new one.
    Inconsistent { old: u64, new: u64 },
    /// No log key is recorded for the partner: nothing can be checked.
    NoLogKey,
}

impl fmt::Display for ReceiptProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ReceiptProblem::Malformed(d) => tr!("packet.receipt_malformed", detail = d),
            ReceiptProblem::Checkpoint(r) => tr!("packet.receipt_checkpoint", reason = r),
            ReceiptProblem::Inclusion { index } => {
                tr!("packet.receipt_inclusion", index = index)
            }
            ReceiptProblem::OtherEntry(field) => {
                let what = match *field {
                    "kind" => tr!("packet.receipt_field_kind"),
                    "digest" => tr!("packet.receipt_field_digest"),
                    _ => tr!("packet.receipt_field_recipient"),
                };
                tr!("packet.receipt_other_entry", what = what)
            }
            ReceiptProblem::Fork { size } => tr!("packet.receipt_fork", size = size),
            ReceiptProblem::Inconsistent { old, new } => {
                tr!("packet.proof_inconsistent", old = old, new = new)
            }
            ReceiptProblem::NoLogKey => tr!("packet.no_log_key"),
        };
        f.write_str(&s)
    }
}

/// What checking a packet's receipt found (it passed, or could not be checked).
#[derive(Debug, Clone, Serialize)]
pub struct ReceiptCheck {
    /// `checked`, or `unchecked` when no log key is recorded for the sender.
    pub receipt: &'static str,
    /// The disclosure's index in the sender's log.
    pub receipt_entry: Option<u64>,
    /// The size of the checkpoint the receipt proves inclusion under.
    pub receipt_checkpoint_size: Option<u64>,
    /// `first` (the first checkpoint remembered from this partner), `proved` (the same as one
    /// on the proved history), `unproved` (consistency with the remembered ones not yet
    /// proved: ask the sender for `log prove`), or `unchecked`.
    pub receipt_consistency: &'static str,
    /// The largest remembered checkpoint on the proved history.
    pub receipt_last_proved: Option<u64>,
}

impl ReceiptCheck {
    /// The line to show people.
    pub fn text(&self, agency: &str) -> String {
        let (Some(index), Some(size)) = (self.receipt_entry, self.receipt_checkpoint_size) else {
            return tr!("packet.receipt_unchecked", agency = agency);
        };
        let ok = tr!("packet.receipt_ok", index = index, size = size);
        let more = match self.receipt_consistency {
            "first" => tr!("packet.receipt_first"),
            "proved" => tr!("packet.receipt_proved"),
            _ => tr!(
                "packet.receipt_unproved",
                last = self
                    .receipt_last_proved
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into())
            ),
        };
        format!("{ok}{more}")
    }
}

/// What `packet check-proof` found and remembered.
#[derive(Debug, Clone, Serialize)]
pub struct ProofOutcome {
    pub agency: String,
    pub old_size: u64,
    pub new_size: u64,
    /// The proof starts or ends on the proved history, so both checkpoints are now on it.
    pub linked: bool,
    /// The largest remembered checkpoint on the proved history.
    pub last_proved: Option<u64>,
    /// Remembered checkpoints not yet proved consistent (sizes).
    pub unproved: Vec<u64>,
}

/// The remembered checkpoints of a partner whose signature still verifies, parsed. A row
/// that does not verify (someone with the database key wrote it) is ignored.
fn remembered(
    conn: &rusqlite::Connection,
    agency: i64,
    chain: &log::KeyChain,
) -> Result<Vec<(PartnerCheckpoint, Checkpoint)>> {
    Ok(store::partner_checkpoints::list(conn, agency)?
        .into_iter()
        .filter_map(|r| {
            let cp = chain.open(&r.note).ok()?;
            (cp.size == r.size).then_some((r, cp))
        })
        .collect())
}

/// A remembered checkpoint of the same size with another root: the partner's log forked.
fn conflict(known: &[(PartnerCheckpoint, Checkpoint)], cp: &Checkpoint) -> Result<(), u64> {
    match known.iter().find(|(_, k)| k.size == cp.size) {
        Some((_, k)) if k.root != cp.root => Err(cp.size),
        _ => Ok(()),
    }
}

fn last_proved(known: &[(PartnerCheckpoint, Checkpoint)]) -> Option<u64> {
    known
        .iter()
        .filter(|(r, _)| r.proved)
        .map(|(r, _)| r.size)
        .max()
}

fn key_of(text: &str) -> Result<VerifierKey, ReceiptProblem> {
    VerifierKey::parse(text).map_err(|e| ReceiptProblem::Checkpoint(e.to_string()))
}

fn checkpoint_problem(e: LogError) -> ReceiptProblem {
    match e {
        LogError::Checkpoint { reason, .. } => ReceiptProblem::Checkpoint(reason.to_string()),
        LogError::ReceiptFails { index } => ReceiptProblem::Inclusion { index },
        other => ReceiptProblem::Malformed(other.to_string()),
    }
}

impl Session {
    /// Checks the receipt of an opened packet from `a` and remembers its checkpoint; an error
    /// refuses the packet. Without a recorded log key the receipt is reported unchecked.
    pub(super) fn packet_receipt(&self, a: &AgencyRow, p: &OpenedPacket) -> Result<ReceiptCheck> {
        let Some(key) = self.verified_agency(a)? else {
            return Ok(ReceiptCheck {
                receipt: "unchecked",
                receipt_entry: None,
                receipt_checkpoint_size: None,
                receipt_consistency: "unchecked",
                receipt_last_proved: None,
            });
        };
        let refuse = |problem| Error::ReceiptRefused {
            agency: a.name.clone(),
            packet: p.manifest.packet_id.clone(),
            problem,
        };
        let key = key_of(&key).map_err(refuse)?;
        let receipt: Receipt = serde_json::from_value(p.receipt.clone())
            .map_err(|_| refuse(ReceiptProblem::Malformed("receipt.json".into())))?;
        let summary = p
            .manifest
            .receipt
            .as_ref()
            .ok_or_else(|| refuse(ReceiptProblem::Malformed("manifest".into())))?;
        if summary.entry_index != receipt.index || summary.checkpoint != receipt.checkpoint {
            return Err(refuse(ReceiptProblem::Malformed(
                "receipt.json differs from the manifest".into(),
            )));
        }
        let (cp, entry) = log::verify_receipt(&receipt, &key.encode())
            .map_err(|e| refuse(checkpoint_problem(e)))?;
        if !matches!(
            entry.kind.code(),
            KindCode::ReferralExport | KindCode::PartnerResponse | KindCode::CorrectionNotice
        ) {
            return Err(refuse(ReceiptProblem::OtherEntry("kind")));
        }
        let digest = crypto::unhex::<32>(&p.manifest.content_sha256());
        if digest.is_none() || entry.disclosed_sha256 != digest {
            return Err(refuse(ReceiptProblem::OtherEntry("digest")));
        }
        if entry.recipient != p.manifest.recipient.name {
            return Err(refuse(ReceiptProblem::OtherEntry("recipient")));
        }
        let chain = receipt.key_chain(&key);
        let (consistency, last) = store::write(&self.conn, |tx| {
            let known = remembered(tx, a.id, &chain)?;
            conflict(&known, &cp).map_err(|size| refuse(ReceiptProblem::Fork { size }))?;
            let same = known.iter().find(|(_, k)| k.size == cp.size);
            let consistency = match same {
                Some((r, _)) if r.proved => "proved",
                Some(_) => "unproved",
                None if known.is_empty() => "first",
                None => "unproved",
            };
            // Same size and root as a remembered one: `put` keeps the copy with more signature
            // lines (witness cosignatures), never a different checkpoint.
            store::partner_checkpoints::put(
                tx,
                a.id,
                cp.size,
                &receipt.checkpoint,
                known.is_empty(),
                now(),
            )?;
            let last = if known.is_empty() {
                Some(cp.size)
            } else {
                last_proved(&known)
            };
            Ok((consistency, last))
        })?;
        Ok(ReceiptCheck {
            receipt: "checked",
            receipt_entry: Some(receipt.index),
            receipt_checkpoint_size: Some(cp.size),
            receipt_consistency: consistency,
            receipt_last_proved: last,
        })
    }

    /// Verifies a consistency proof from partner `agency` (made by its `log prove`) under the
    /// partner's recorded log key, and remembers both checkpoints: on the proved history if
    /// the proof starts or ends on it (or nothing was remembered yet).
    pub fn packet_check_proof(&self, agency: &str, text: &str) -> Result<ProofOutcome> {
        self.require(Action::LogVerify)?;
        let a = self.agency_show(agency)?;
        let refuse = |problem| Error::ProofRefused {
            agency: a.name.clone(),
            problem,
        };
        let key = self
            .verified_agency(&a)?
            .ok_or_else(|| refuse(ReceiptProblem::NoLogKey))?;
        let key = key_of(&key).map_err(refuse)?;
        let proof = ConsistencyProof::from_json(text)
            .map_err(|e| refuse(ReceiptProblem::Malformed(e.to_string())))?;
        let (old, new) = proof.verify(&key).map_err(|e| match e {
            LogError::CheckpointMismatch { .. } => refuse(ReceiptProblem::Inconsistent {
                old: Checkpoint::parse_unverified(&proof.old).map_or(0, |c| c.size),
                new: Checkpoint::parse_unverified(&proof.new).map_or(0, |c| c.size),
            }),
            other => refuse(checkpoint_problem(other)),
        })?;
        let chain = log::KeyChain::walk(
            &key,
            &proof
                .chain_keys
                .iter()
                .filter_map(|k| VerifierKey::parse(k).ok())
                .collect::<Vec<_>>(),
            &proof.chain,
        );
        store::write(&self.conn, |tx| {
            let known = remembered(tx, a.id, &chain)?;
            for cp in [&old, &new] {
                conflict(&known, cp).map_err(|size| refuse(ReceiptProblem::Fork { size }))?;
            }
            let on_proved = |cp: &Checkpoint| {
                known
                    .iter()
                    .any(|(r, k)| r.proved && k.size == cp.size && k.root == cp.root)
            };
            let linked = known.iter().all(|(r, _)| !r.proved) || on_proved(&old) || on_proved(&new);
            let at = now();
            store::partner_checkpoints::put(tx, a.id, old.size, &proof.old, linked, at)?;
            store::partner_checkpoints::put(tx, a.id, new.size, &proof.new, linked, at)?;
            let known = remembered(tx, a.id, &chain)?;
            Ok(ProofOutcome {
                agency: a.name.clone(),
                old_size: old.size,
                new_size: new.size,
                linked,
                last_proved: last_proved(&known),
                unproved: known
                    .iter()
                    .filter(|(r, _)| !r.proved)
                    .map(|(r, _)| r.size)
                    .collect(),
            })
        })
    }

    /// `log prove`: the consistency proof from a checkpoint a partner holds (the checkpoint
    /// note, or a receipt carrying it) to our latest checkpoint. A checkpoint our log is not
    /// consistent with is refused as a fork alarm.
    pub fn log_prove(&self, text: &str) -> Result<ConsistencyProof> {
        self.require(Action::LogVerify)?;
        let note = if text.trim_start().starts_with('{') {
            Receipt::from_json(text)?.checkpoint
        } else {
            text.to_string()
        };
        let key = VerifierKey::parse(&super::disclosure::verifier_key(&self.conn)?)
            .map_err(|reason| LogError::Checkpoint { size: None, reason })?;
        log::prove(&self.conn, &note, &key).map_err(|e| match e {
            LogError::CheckpointMismatch { size } => Error::LogForked { size },
            LogError::Truncated { signed, .. } => Error::LogForked { size: signed },
            other => other.into(),
        })
    }
}
