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

/// Entries held at once by the streaming [`Verifier`]: decoded and signature-checked
/// together (in parallel), then dropped. Bounds memory whatever the log's size.
pub const STREAM_CHUNK: usize = 4096;

/// Errors kept in a report; past this only their number is (a crafted file could otherwise
/// make one error per byte).
pub const MAX_ERRORS: usize = 1000;

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
    /// Every problem, each naming its entry index or checkpoint size (at most
    /// [`MAX_ERRORS`], then one [`LogError::MoreErrors`]).
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

/// The few decoded fields the sequential passes need.
struct Meta {
    time: i64,
    /// Set only for staff registry changes, which the registry pass must see in full.
    entry: Option<Entry>,
    actor: String,
}

/// A verification fed entry by entry, in order, holding only the Merkle frontier, the
/// registry and the roots at the checkpointed sizes (not every leaf): memory stays bounded
/// by the chunk size, not by the log's size. Checkpoints come first (their sizes say which
/// prefix roots to keep), then entries, then [`finish`](Verifier::finish).
pub struct Verifier<'k> {
    _key: std::marker::PhantomData<&'k VerifierKey>,
    /// The checkpoint key chain, followed through the stored checkpoints as they come.
    chain: super::KeyChain,
    /// Untrusted public halves of later checkpoint keys (see [`KeyChain`](super::KeyChain)).
    candidates: Vec<VerifierKey>,
    opts: VerifyOptions,
    report: VerifyReport,
    /// Errors beyond [`MAX_ERRORS`], counted only.
    more_errors: u64,
    /// Stored checkpoints that opened, as distinct `(size, root)` (a file repeating one note
    /// a million times costs nothing), and how many opened.
    checkpoints: std::collections::BTreeSet<(u64, Hash)>,
    checkpoints_opened: u64,
    /// Why stored checkpoints were refused (at most [`MAX_ERRORS`], then counted).
    checkpoint_errors: Vec<LogError>,
    /// Checkpoints held outside the vault (saved copies, receipts, an export's
    /// `checkpoint.txt`).
    earlier: Vec<Result<Checkpoint, LogError>>,
    /// Leaf hashes receipts say the log holds at their index.
    expected: std::collections::BTreeMap<u64, Hash>,
    /// Sizes whose prefix root is wanted, sorted, and the roots met so far.
    wanted: Vec<u64>,
    roots: Vec<(u64, Hash)>,
    frontier: Frontier,
    keys: Vec<VerifyingKey>,
    registry: Registry,
    last_offset: i128,
    last_time: Option<i64>,
}

impl<'k> Verifier<'k> {
    pub fn new(key: &'k VerifierKey, opts: VerifyOptions) -> Self {
        Verifier {
            _key: std::marker::PhantomData,
            chain: super::KeyChain::single(key),
            candidates: Vec::new(),
            opts,
            report: VerifyReport::default(),
            more_errors: 0,
            checkpoints: Default::default(),
            checkpoints_opened: 0,
            checkpoint_errors: Vec::new(),
            earlier: Vec::new(),
            expected: Default::default(),
            wanted: Vec::new(),
            roots: Vec::new(),
            frontier: Frontier::default(),
            keys: Vec::new(),
            registry: Registry::default(),
            last_offset: 0,
            last_time: None,
        }
    }

    /// The public halves of later checkpoint keys the chain may hand over to (untrusted: a
    /// handover needs the current key's signature). Call before any checkpoint.
    pub fn set_candidates(&mut self, keys: Vec<VerifierKey>) {
        self.candidates = keys;
    }

    /// The key chain as followed so far.
    pub fn chain(&self) -> &super::KeyChain {
        &self.chain
    }

    /// Adds stored checkpoints, in size order (the key chain is followed through them, then
    /// signatures are checked in parallel). Call before any entry.
    pub fn add_checkpoints(&mut self, notes: &[String]) {
        for n in notes {
            self.chain.follow(n, &self.candidates);
        }
        let chain = &self.chain;
        let opened: Vec<Result<Checkpoint, LogError>> =
            notes.par_iter().map(|n| open(n, chain)).collect();
        for cp in opened {
            match cp {
                Ok(cp) => {
                    self.checkpoints_opened += 1;
                    if self.checkpoints.insert((cp.size, cp.root)) {
                        self.wanted.push(cp.size);
                    }
                }
                Err(e) => self.add_bad_checkpoint(e),
            }
        }
        self.sort_wanted();
    }

    /// A checkpoint refused before it could be opened (e.g. not UTF-8).
    pub fn add_bad_checkpoint(&mut self, e: LogError) {
        if self.checkpoint_errors.len() < MAX_ERRORS {
            self.checkpoint_errors.push(e);
        } else {
            self.more_errors += 1;
        }
    }

    /// A checkpoint held outside the vault (any number may be given). Call before any entry.
    pub fn set_earlier(&mut self, note: &str) {
        let cp = open(note, &self.chain);
        if let Ok(cp) = &cp {
            self.wanted.push(cp.size);
        }
        self.earlier.push(cp);
        self.sort_wanted();
    }

    /// A receipt held outside the vault: its checkpoint, and its entry, which must be the
    /// log's entry at its index. Call before any entry.
    pub fn add_receipt(&mut self, r: &super::receipt::Receipt) {
        self.set_earlier(&r.checkpoint);
        match r.entry_bytes().filter(|_| r.proof_holds()) {
            Some(bytes) => {
                self.expected.insert(r.index, leaf_hash(&bytes));
            }
            None => self.error(LogError::ReceiptFails { index: r.index }),
        }
    }

    fn sort_wanted(&mut self) {
        self.wanted.sort_unstable();
        self.wanted.dedup();
        // Only sizes not yet passed can still be met.
        let done = self.frontier.size();
        self.wanted.retain(|s| *s >= done);
        if self.wanted.first() == Some(&0) && done == 0 {
            self.roots.push((0, self.frontier.root()));
            self.wanted.remove(0);
        }
        self.wanted.reverse();
    }

    /// The number of entries pushed so far.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    fn error(&mut self, e: LogError) {
        if self.report.errors.len() < MAX_ERRORS {
            self.report.errors.push(e);
        } else {
            self.more_errors += 1;
        }
    }

    /// Verifies the next entries of the log, in order.
    pub fn push_chunk<S: AsRef<[u8]> + Sync>(&mut self, stored: &[S]) {
        let base = self.frontier.size();
        // 1. Leaf hashes and decoding (in parallel).
        let done: Vec<(Hash, Result<Meta, LogError>)> = stored
            .par_iter()
            .enumerate()
            .map(|(i, s)| {
                let s = s.as_ref();
                (leaf_hash(s), decode_meta(base + i as u64, s))
            })
            .collect();

        // 2. The tree, index order, time order and the registry, in log order.
        let mut errors: Vec<LogError> = Vec::new();
        let mut signer: Vec<Option<u32>> = vec![None; stored.len()];
        for (i, (leaf, meta)) in done.into_iter().enumerate() {
            let at = self.frontier.size();
            if self.expected.get(&at).is_some_and(|h| *h != leaf) {
                errors.push(LogError::ReceiptFails { index: at });
            }
            self.frontier.push(leaf);
            while self.wanted.last() == Some(&self.frontier.size()) {
                self.roots
                    .push((self.frontier.size(), self.frontier.root()));
                self.wanted.pop();
            }
            let meta = match meta {
                Ok(m) => m,
                Err(LogError::IndexMismatch { index, claimed }) => {
                    // Report where the shift starts, not every entry after a deletion.
                    let offset = claimed as i128 - index as i128;
                    if offset != self.last_offset {
                        errors.push(LogError::IndexMismatch { index, claimed });
                    }
                    self.last_offset = offset;
                    continue;
                }
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            self.last_offset = 0;
            let index = base + i as u64;
            if let Some(prev) = self.last_time {
                if meta.time < prev && self.report.warnings.len() < MAX_ERRORS {
                    self.report.warnings.push(Warning::TimeBackwards {
                        index,
                        time: meta.time,
                        previous: prev,
                    });
                }
            }
            self.last_time = Some(meta.time);
            if !self.opts.signatures {
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
            match self.registry.signer(entry) {
                Ok(k) => {
                    let keys = &mut self.keys;
                    let pos = keys.iter().position(|x| *x == k).unwrap_or_else(|| {
                        keys.push(k);
                        keys.len() - 1
                    });
                    signer[i] = u32::try_from(pos).ok();
                    self.registry.apply(entry);
                }
                Err(e) => errors.push(e),
            }
        }

        // 3. Entry signatures: batches in parallel, one by one only inside a failing batch.
        if self.opts.signatures {
            let idx: Vec<usize> = (0..stored.len()).filter(|i| signer[*i].is_some()).collect();
            self.report.signatures_checked += idx.len() as u64;
            let keys = &self.keys;
            let bad: Vec<usize> = idx
                .par_chunks(SIG_CHUNK)
                .flat_map_iter(|chunk| bad_signatures(chunk, stored, &signer, keys))
                .collect();
            for i in bad {
                let actor = split_stored(stored[i].as_ref())
                    .ok()
                    .and_then(|(b, _)| Entry::decode(b).ok())
                    .map(|e| e.actor)
                    .unwrap_or_default();
                errors.push(LogError::BadSignature {
                    index: base + i as u64,
                    actor,
                });
            }
            errors.sort_by_key(error_index);
        }
        for e in errors {
            self.error(e);
        }
    }

    /// Ends the stream: roots against every checkpoint, and the report.
    pub fn finish(mut self) -> VerifyReport {
        let size = self.frontier.size();
        self.report.size = size;
        self.report.root = self.frontier.root();
        self.roots.push((size, self.report.root));
        let roots = std::mem::take(&mut self.roots);
        // Pushed as the tree grew: sorted by size.
        let root_at = |s: u64| {
            roots
                .binary_search_by_key(&s, |r| r.0)
                .ok()
                .map(|i| roots[i].1)
        };
        let mut latest: Option<u64> = None;
        for e in std::mem::take(&mut self.checkpoint_errors) {
            self.error(e);
        }
        self.report.checkpoints_checked =
            self.checkpoints_opened + self.earlier.iter().filter(|c| c.is_ok()).count() as u64;
        if size == 0 {
            self.error(LogError::EmptyLog);
        }
        let beyond: Vec<u64> = self.expected.range(size..).map(|(i, _)| *i).collect();
        for index in beyond {
            self.error(LogError::ReceiptFails { index });
        }
        let stored = std::mem::take(&mut self.checkpoints).into_iter().map(Ok);
        let earlier = std::mem::take(&mut self.earlier);
        for cp in stored.chain(earlier.into_iter().map(|c| c.map(|c| (c.size, c.root)))) {
            let (cp_size, cp_root) = match cp {
                Ok(cp) => cp,
                Err(e) => {
                    self.error(e);
                    continue;
                }
            };
            latest = latest.max(Some(cp_size));
            if cp_size > size {
                self.error(LogError::Truncated {
                    have: size,
                    signed: cp_size,
                });
            } else if root_at(cp_size) != Some(cp_root) {
                self.error(LogError::CheckpointMismatch { size: cp_size });
            }
        }

        let covered = latest.unwrap_or(0);
        if covered < size {
            self.error(LogError::Unsigned {
                from: covered,
                to: size,
            });
        }
        if self.more_errors > 0 {
            self.report.errors.push(LogError::MoreErrors {
                count: self.more_errors,
            });
        }
        self.report
    }
}

fn open(note: &str, chain: &super::KeyChain) -> Result<Checkpoint, LogError> {
    chain.open(note).map_err(|reason| LogError::Checkpoint {
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
    let staff = e.kind.code().is_registry();
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
fn bad_signatures<S: AsRef<[u8]>>(
    chunk: &[usize],
    stored: &[S],
    signer: &[Option<u32>],
    keys: &[VerifyingKey],
) -> Vec<usize> {
    let mut msgs = Vec::with_capacity(chunk.len());
    let mut sigs = Vec::with_capacity(chunk.len());
    let mut pks = Vec::with_capacity(chunk.len());
    for &i in chunk {
        // Positions in `chunk` decoded and have a signer, so these cannot fail.
        let Ok((bytes, sig)) = split_stored(stored[i].as_ref()) else {
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

/// The entry index an error is about, for sorting reports (checkpoint errors last).
fn error_index(e: &LogError) -> u64 {
    match e {
        LogError::Malformed { index, .. }
        | LogError::IndexMismatch { index, .. }
        | LogError::BadSignature { index, .. }
        | LogError::UnknownSigner { index, .. }
        | LogError::RevokedSigner { index, .. }
        | LogError::NotAdmin { index, .. }
        | LogError::NotEndorsed { index, .. }
        | LogError::KeyChangeNotSelf { index, .. }
        | LogError::NameRevoked { index, .. }
        | LogError::IndexColumn { index }
        | LogError::NotSupervisor { index, .. }
        | LogError::WeakStaffKey { index } => *index,
        LogError::BadFounding => 0,
        _ => u64::MAX,
    }
}
