//! Full verification of a log given its stored entries and checkpoints, shared by
//! [`verify_db`](super::verify_db) and [`verify_export`](super::verify_export).

use ed25519_dalek::{Signature, VerifyingKey};
use rayon::prelude::*;

use super::entry::{signed_message, split_stored, Entry};
use super::error::{LogError, Warning};
use super::merkle::{leaf_hash, Frontier, Hash};
use super::note::{Checkpoint, VerifierKey};
use super::registry::Registry;

/// Entries per batch signature verification (one rayon task each).
const SIG_CHUNK: usize = 512;

/// What a verification found. An empty `errors` list means the log verified.
#[derive(Debug, Default)]
pub struct VerifyReport {
    /// Number of entries examined.
    pub size: u64,
    /// Merkle root recomputed from the entries.
    pub root: Hash,
    /// Checkpoints whose signature and root were checked (stored ones plus the earlier one).
    pub checkpoints_checked: u64,
    /// Entry signatures checked (0 when signatures were skipped).
    pub signatures_checked: u64,
    /// Every problem, each naming its entry index or checkpoint size.
    pub errors: Vec<LogError>,
    /// Findings that do not invalidate the log (e.g. time going backwards).
    pub warnings: Vec<Warning>,
}

impl VerifyReport {
    /// True when nothing is wrong (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// How much to check.
#[derive(Clone, Copy, Debug)]
pub struct VerifyOptions {
    /// Check every entry's Ed25519 signature and the staff registry rules. Without this only
    /// the structure, the tree and the checkpoints are checked.
    pub signatures: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions { signatures: true }
    }
}

/// The few decoded fields the sequential passes need (full entries would cost too much
/// memory for a million-entry log).
struct Meta {
    time: i64,
    /// Set only for staff registry changes, which the registry pass must see in full.
    entry: Option<Entry>,
    actor: String,
}

/// Verifies `stored` entries (in order) against `checkpoints` (signed notes, any order) and
/// an optional `earlier` checkpoint held outside the vault.
pub fn verify(
    stored: &[&[u8]],
    checkpoints: &[String],
    key: &VerifierKey,
    earlier: Option<&str>,
    opts: VerifyOptions,
) -> VerifyReport {
    let mut report = VerifyReport {
        size: stored.len() as u64,
        ..VerifyReport::default()
    };

    // 1. Leaf hashes (always) and decoding (in parallel).
    let leaves: Vec<Hash> = stored.par_iter().map(|s| leaf_hash(s)).collect();
    let metas: Vec<Result<Meta, LogError>> = stored
        .par_iter()
        .enumerate()
        .map(|(i, s)| decode_meta(i as u64, s))
        .collect();

    // 2. Index order, time order and the registry, in log order.
    let mut keys: Vec<VerifyingKey> = Vec::new();
    let mut signer: Vec<Option<u32>> = vec![None; stored.len()];
    let mut registry = Registry::default();
    let mut last_offset: i128 = 0;
    let mut last_time: Option<i64> = None;
    for (i, meta) in metas.into_iter().enumerate() {
        let meta = match meta {
            Ok(m) => m,
            Err(LogError::IndexMismatch { index, claimed }) => {
                // Report where the shift starts, not every entry after a deletion.
                let offset = claimed as i128 - index as i128;
                if offset != last_offset {
                    report
                        .errors
                        .push(LogError::IndexMismatch { index, claimed });
                }
                last_offset = offset;
                continue;
            }
            Err(e) => {
                report.errors.push(e);
                continue;
            }
        };
        last_offset = 0;
        let index = i as u64;
        if let Some(prev) = last_time {
            if meta.time < prev {
                report.warnings.push(Warning::TimeBackwards {
                    index,
                    time: meta.time,
                    previous: prev,
                });
            }
        }
        last_time = Some(meta.time);
        if !opts.signatures {
            continue;
        }
        let probe;
        let entry = match &meta.entry {
            Some(e) => e,
            None => {
                probe = actor_probe(index, &meta.actor);
                &probe
            }
        };
        match registry.signer(entry) {
            Ok(k) => {
                let pos = keys.iter().position(|x| *x == k).unwrap_or_else(|| {
                    keys.push(k);
                    keys.len() - 1
                });
                signer[i] = u32::try_from(pos).ok();
                registry.apply(entry);
            }
            Err(e) => report.errors.push(e),
        }
    }

    // 3. Entry signatures: batches in parallel, one by one only inside a failing batch.
    if opts.signatures {
        let idx: Vec<usize> = (0..stored.len()).filter(|i| signer[*i].is_some()).collect();
        report.signatures_checked = idx.len() as u64;
        let bad: Vec<usize> = idx
            .par_chunks(SIG_CHUNK)
            .flat_map_iter(|chunk| bad_signatures(chunk, stored, &signer, &keys))
            .collect();
        for i in bad {
            let actor = split_stored(stored[i])
                .ok()
                .and_then(|(b, _)| Entry::decode(b).ok())
                .map(|e| e.actor)
                .unwrap_or_default();
            report.errors.push(LogError::BadSignature {
                index: i as u64,
                actor,
            });
        }
        report.errors.sort_by_key(error_index);
    }

    // 4. Checkpoints: signatures in parallel, then roots at each signed size.
    let opened: Vec<Result<Checkpoint, LogError>> =
        checkpoints.par_iter().map(|n| open(n, key)).collect();
    let earlier = earlier.map(|n| open(n, key));
    let mut wanted: Vec<u64> = opened
        .iter()
        .chain(earlier.iter())
        .filter_map(|c| c.as_ref().ok().map(|c| c.size))
        .filter(|s| *s <= report.size)
        .chain([report.size])
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let roots = prefix_roots(&leaves, &wanted);
    let root_at = |size: u64| {
        roots
            .binary_search_by_key(&size, |r| r.0)
            .ok()
            .map(|i| roots[i].1)
    };
    report.root = root_at(report.size).unwrap_or_default();
    let mut latest: Option<u64> = None;
    for cp in opened.into_iter().chain(earlier) {
        let cp = match cp {
            Ok(cp) => cp,
            Err(e) => {
                report.errors.push(e);
                continue;
            }
        };
        report.checkpoints_checked += 1;
        latest = latest.max(Some(cp.size));
        if cp.size > report.size {
            report.errors.push(LogError::Truncated {
                have: report.size,
                signed: cp.size,
            });
        } else if root_at(cp.size) != Some(cp.root) {
            report
                .errors
                .push(LogError::CheckpointMismatch { size: cp.size });
        }
    }
    let covered = latest.unwrap_or(0);
    if covered < report.size {
        report.errors.push(LogError::Unsigned {
            from: covered,
            to: report.size,
        });
    }
    report
}

fn open(note: &str, key: &VerifierKey) -> Result<Checkpoint, LogError> {
    Checkpoint::open(note, key).map_err(|reason| LogError::Checkpoint {
        size: Checkpoint::parse_unverified(note).ok().map(|c| c.size),
        reason,
    })
}

fn decode_meta(position: u64, stored: &[u8]) -> Result<Meta, LogError> {
    let malformed = |reason| LogError::Malformed {
        index: position,
        reason,
    };
    let (bytes, _) = split_stored(stored).map_err(malformed)?;
    let e = Entry::decode(bytes).map_err(malformed)?;
    if e.index != position {
        return Err(LogError::IndexMismatch {
            index: position,
            claimed: e.index,
        });
    }
    let staff = matches!(
        e.kind,
        super::entry::Kind::StaffRegistered { .. } | super::entry::Kind::StaffRevoked { .. }
    );
    Ok(Meta {
        time: e.time,
        actor: e.actor.clone(),
        entry: staff.then_some(e),
    })
}

/// A stand-in entry with only what [`Registry::signer`] reads for non-staff kinds.
fn actor_probe(index: u64, actor: &str) -> Entry {
    Entry {
        index,
        time: 0,
        kind: super::entry::Kind::Tier3Read,
        actor: actor.to_string(),
        client_mac: None,
        case_mac: None,
        recipient: String::new(),
        purpose: String::new(),
        basis: super::entry::LegalBasis::None,
        approver: None,
        disclosed_sha256: None,
        detail: String::new(),
    }
}

/// Positions in `chunk` whose signature fails.
fn bad_signatures(
    chunk: &[usize],
    stored: &[&[u8]],
    signer: &[Option<u32>],
    keys: &[VerifyingKey],
) -> Vec<usize> {
    let mut msgs = Vec::with_capacity(chunk.len());
    let mut sigs = Vec::with_capacity(chunk.len());
    let mut pks = Vec::with_capacity(chunk.len());
    for &i in chunk {
        // Positions in `chunk` decoded and have a signer, so these cannot fail.
        let Ok((bytes, sig)) = split_stored(stored[i]) else {
            return vec![i];
        };
        let Some(k) = signer[i].and_then(|k| keys.get(k as usize)) else {
            return vec![i];
        };
        msgs.push(signed_message(bytes));
        sigs.push(Signature::from_bytes(&sig));
        pks.push(*k);
    }
    let refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
    if ed25519_dalek::verify_batch(&refs, &sigs, &pks).is_ok() {
        return Vec::new();
    }
    chunk
        .iter()
        .zip(refs.iter().zip(sigs.iter().zip(pks.iter())))
        .filter(|(_, (m, (s, k)))| k.verify_strict(m, s).is_err())
        .map(|(i, _)| *i)
        .collect()
}

/// Roots of the prefixes of `leaves` at each size in `sizes` (sorted, each ≤ leaves.len()).
pub fn prefix_roots(leaves: &[Hash], sizes: &[u64]) -> Vec<(u64, Hash)> {
    let mut out = Vec::with_capacity(sizes.len());
    let mut f = Frontier::default();
    let mut want = sizes.iter().peekable();
    while want.peek() == Some(&&0) {
        out.push((0, f.root()));
        want.next();
    }
    for l in leaves {
        f.push(*l);
        while want.peek() == Some(&&f.size()) {
            out.push((f.size(), f.root()));
            want.next();
        }
    }
    out
}

/// The entry index an error is about, for sorting reports (checkpoint errors last).
fn error_index(e: &LogError) -> u64 {
    match e {
        LogError::Malformed { index, .. }
        | LogError::IndexMismatch { index, .. }
        | LogError::BadSignature { index, .. }
        | LogError::UnknownSigner { index, .. }
        | LogError::RevokedSigner { index, .. }
        | LogError::NotAdmin { index, .. }
        | LogError::WeakStaffKey { index } => *index,
        LogError::BadFounding => 0,
        _ => u64::MAX,
    }
}
