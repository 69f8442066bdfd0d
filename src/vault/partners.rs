//! A partner agency's disclosure log, seen from the receiving side (issue 11, item 4): the
//! receipt in each packet is checked against the partner's recorded log key and must be the
//! disclosure of that very packet; the checkpoints seen are remembered per partner; and a
//! consistency proof the partner makes with `log prove` links them. Also `log prove` itself,
//! on the sending side. Formats: `docs/referral-packet.md` §7a, `docs/formats.md`.

use std::fmt;

use serde::Serialize;

use super::authority::{admin_entitled, agency_witnesses_detail, agency_witnesses_subject, Claim};
use super::Session;
use crate::crypto;
use crate::domain::time::now;
use crate::error::{Error, Result};
use crate::log::cosign::CosignerKey;
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
    /// The checkpoint carries fewer valid cosignatures by the witnesses recorded for the
    /// partner than the quorum recorded with them.
    Cosignatures { have: usize, need: usize },
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
            ReceiptProblem::Cosignatures { have, need } => {
                tr!("packet.receipt_cosignatures", have = have, need = need)
            }
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
    /// Valid cosignatures by the witnesses recorded for the sender, when a quorum is recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_cosignatures: Option<usize>,
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

/// The witnesses whose cosignatures this vault requires on a partner's checkpoints, as its
/// latest signed statement records them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerWitnesses {
    pub keys: Vec<CosignerKey>,
    pub quorum: usize,
}

impl PartnerWitnesses {
    /// The vkeys, as recorded.
    pub fn vkeys(&self) -> Vec<String> {
        self.keys.iter().map(CosignerKey::encode).collect()
    }
}

/// Parses `agency add/update --witness NAME=VKEY … --witness-quorum K`: each vkey a valid
/// tlog-cosignature key named NAME, no name or key twice (a key under two names would count
/// twice), and 0 < K <= the number of witnesses (K defaults to all of them). No witnesses
/// and K absent or 0: none required.
pub fn parse_witnesses(args: &[String], quorum: Option<usize>) -> Result<PartnerWitnesses> {
    let bad = |arg: &str, reason: String| {
        Error::Invalid(tr!("packet.bad_witness", witness = arg, reason = reason))
    };
    let mut keys: Vec<CosignerKey> = Vec::new();
    for arg in args {
        let (name, vkey) = arg
            .split_once('=')
            .ok_or_else(|| bad(arg, tr!("packet.witness_form")))?;
        let k = CosignerKey::parse(vkey.trim()).map_err(|e| bad(arg, e.to_string()))?;
        if k.name != name.trim() {
            return Err(bad(arg, tr!("packet.witness_name_differs", name = k.name)));
        }
        if keys.iter().any(|o| o.name == k.name || o.key == k.key) {
            return Err(bad(arg, tr!("packet.witness_twice")));
        }
        keys.push(k);
    }
    let quorum = quorum.unwrap_or(keys.len());
    if quorum > keys.len() || (quorum == 0 && !keys.is_empty()) {
        return Err(Error::Invalid(tr!(
            "packet.witness_quorum",
            quorum = quorum,
            count = keys.len()
        )));
    }
    Ok(PartnerWitnesses { keys, quorum })
}

/// The remembered checkpoints of a partner, parsed.
///
/// Each was checked when it was remembered, so the chain the partner presents now must open
/// every one of them: one it cannot open (a checkpoint of ours signed by a key the new chain
/// does not reach, or a forged chain from a superseded key) is a fork, never dropped quietly.
fn remembered(
    conn: &rusqlite::Connection,
    agency: i64,
    chain: &log::KeyChain,
    refuse: impl Fn(ReceiptProblem) -> Error,
) -> Result<Vec<(PartnerCheckpoint, Checkpoint)>> {
    store::partner_checkpoints::list(conn, agency)?
        .into_iter()
        .map(|r| match chain.open(&r.note) {
            Ok(cp) if cp.size == r.size => Ok((r, cp)),
            _ => Err(refuse(ReceiptProblem::Fork { size: r.size })),
        })
        .collect()
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
        let refuse = |problem| Error::ReceiptRefused {
            agency: a.name.clone(),
            packet: p.manifest.packet_id.clone(),
            problem,
        };
        let witnesses = self.agency_witnesses(a)?.filter(|w| w.quorum > 0);
        let Some(key) = self.verified_agency(a)? else {
            if witnesses.is_some() {
                return Err(refuse(ReceiptProblem::NoLogKey));
            }
            return Ok(ReceiptCheck {
                receipt: "unchecked",
                receipt_entry: None,
                receipt_checkpoint_size: None,
                receipt_consistency: "unchecked",
                receipt_last_proved: None,
                receipt_cosignatures: None,
            });
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
        // The witnesses this vault requires for the sender: k valid cosignatures on the very
        // checkpoint the entry is proved under (each witness counted once).
        let cosignatures = match &witnesses {
            Some(w) => {
                let have = log::cosign::cosigners(&receipt.checkpoint, &w.keys).len();
                if have < w.quorum {
                    return Err(refuse(ReceiptProblem::Cosignatures {
                        have,
                        need: w.quorum,
                    }));
                }
                Some(have)
            }
            None => None,
        };
        let chain = receipt.key_chain(&key);
        let (consistency, last) = store::write(&self.conn, |tx| {
            let known = remembered(tx, a.id, &chain, refuse)?;
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
            receipt_cosignatures: cosignatures,
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
            let known = remembered(tx, a.id, &chain, refuse)?;
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
            let known = remembered(tx, a.id, &chain, refuse)?;
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

    /// The witnesses recorded for partner `a` (the latest signed list), if any. A list whose
    /// statement row is gone while the log records it (a rollback to an older list) or that
    /// does not verify is a tamper alarm.
    pub fn agency_witnesses(&self, a: &AgencyRow) -> Result<Option<PartnerWitnesses>> {
        let tampered = || Error::Tampered {
            what: "agency",
            id: a.name.clone(),
        };
        let mut latest = None;
        let mut seq = 1;
        while store::authority::get(&self.conn, &agency_witnesses_subject(a.id, seq))?.is_some() {
            let claim = self.verified_claim(
                &self.conn,
                &agency_witnesses_subject(a.id, seq),
                &admin_entitled,
                "agency",
                &a.name,
            )?;
            let Claim::AgencyWitnesses {
                id,
                witnesses,
                quorum,
                ..
            } = claim
            else {
                return Err(tampered());
            };
            if id != a.id {
                return Err(tampered());
            }
            let keys = witnesses
                .iter()
                .map(|k| CosignerKey::parse(k))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|_| tampered())?;
            latest = Some(PartnerWitnesses { keys, quorum });
            seq += 1;
        }
        let next = agency_witnesses_detail(a.id, seq);
        if log::first_where(&self.conn, log::KindCode::KeyChange, &|e| e.detail == next)?.is_some()
        {
            return Err(tampered());
        }
        Ok(latest)
    }

    /// Records the witnesses (and quorum) whose cosignatures this vault requires on partner
    /// `agency`'s checkpoints (admin), as a signed statement in the log. Needs the partner's
    /// log key (the checkpoint signature is checked first). An empty list clears the
    /// requirement.
    pub fn agency_set_witnesses(
        &mut self,
        agency: &str,
        w: &PartnerWitnesses,
    ) -> Result<AgencyRow> {
        self.require(Action::AgencyManage)?;
        let a = self.agency_show(agency)?;
        if self.verified_agency(&a)?.is_none() && !w.keys.is_empty() {
            return Err(Error::Invalid(tr!(
                "packet.witnesses_need_log_key",
                agency = a.name
            )));
        }
        let mut seq = 1;
        while store::authority::get(&self.conn, &agency_witnesses_subject(a.id, seq))?.is_some() {
            seq += 1;
        }
        let claim = Claim::AgencyWitnesses {
            id: a.id,
            seq,
            witnesses: w.vkeys(),
            quorum: w.quorum,
        };
        store::write(&self.conn, |tx| self.attest(tx, &claim, None).map(|_| ()))?;
        Ok(a)
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
        let mut p = log::prove(&self.conn, &note, &key).map_err(|e| match e {
            LogError::CheckpointMismatch { size } => Error::LogForked { size },
            LogError::Truncated { signed, .. } => Error::LogForked { size: signed },
            other => other.into(),
        })?;
        // The latest checkpoint with the witnesses' stored cosignatures on it (found missing
        // by the Go reference test): a partner requiring them can check the new head too.
        // The partner verifies each line; a planted row counts for nothing there.
        if let Ok(body) = log::cosign::note_body(&p.new) {
            let size = Checkpoint::parse_unverified(&p.new).map_or(0, |c| c.size);
            let lines: Vec<String> = store::cosignatures::at(&self.conn, size)?
                .into_iter()
                .filter(|c| c.body == body)
                .map(|c| c.line)
                .collect();
            p.new = log::cosign::with_lines(&p.new, &lines);
        }
        Ok(p)
    }
}
