//! Export for outside auditors and offline verification of an export.
//!
//! An export directory holds `entries.bin`, `checkpoints.bin` (both a sequence of
//! `u32 big-endian length ‖ bytes` records), `checkpoint.txt` (the latest note),
//! `verifier-key.txt` and `README.md`. No client identities are in it: entries hold only
//! keyed hashes of client and case ids.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::error::{FrameError, LogError, NoteError};
use super::note::{VerifierKey, MAX_NOTE};
use super::store::{load_all, stored_verifier_key};
use super::verify::{Verifier, VerifyOptions, VerifyReport, STREAM_CHUNK};

pub const ENTRIES_FILE: &str = "entries.bin";
pub const CHECKPOINTS_FILE: &str = "checkpoints.bin";
pub const LATEST_FILE: &str = "checkpoint.txt";
pub const KEY_FILE: &str = "verifier-key.txt";
/// Later checkpoint keys, one verifier key a line (untrusted: the chain moves to one only at a
/// checkpoint the current key co-signed).
pub const CHAIN_KEYS_FILE: &str = "checkpoint-keys.txt";
pub const README_FILE: &str = "README.md";

use super::export_readme::README;

/// Writes everything an auditor needs into `dir` (created if missing; these files are
/// overwritten). Returns the number of entries written.
pub fn export(conn: &Connection, dir: &Path) -> Result<u64, LogError> {
    let (entries, notes) = load_all(conn)?;
    let key = stored_verifier_key(conn)?.unwrap_or_default();
    crate::private::create_dir_all(dir).map_err(|e| io(dir, e))?;
    write(
        dir,
        ENTRIES_FILE,
        &frame(entries.iter().map(|e| e.as_slice())),
    )?;
    write(
        dir,
        CHECKPOINTS_FILE,
        &frame(notes.iter().map(|n| n.as_bytes())),
    )?;
    write(
        dir,
        LATEST_FILE,
        notes.last().map_or(&[][..], |n| n.as_bytes()),
    )?;
    write(dir, KEY_FILE, format!("{key}\n").as_bytes())?;
    let mut later = super::store::chain_candidates(conn)?.join("\n");
    later.push('\n');
    write(dir, CHAIN_KEYS_FILE, later.trim_start().as_bytes())?;
    write(dir, README_FILE, README.as_bytes())?;
    Ok(entries.len() as u64)
}

/// Something held outside the vault that the log must agree with.
#[derive(Clone, Debug)]
pub enum Earlier {
    /// A signed checkpoint note saved earlier.
    Checkpoint(String),
    /// A receipt (from a packet or an access package): its checkpoint and its entry.
    Receipt(super::receipt::Receipt),
}

impl Earlier {
    /// A file's text: a receipt if it is receipt JSON, else a checkpoint note.
    pub fn parse(text: &str) -> Earlier {
        match super::receipt::Receipt::from_json(text) {
            Ok(r) => Earlier::Receipt(r),
            Err(_) => Earlier::Checkpoint(text.to_string()),
        }
    }
}

/// Verifies an export offline with the agency's verifier key alone, optionally against a
/// checkpoint obtained earlier (e.g. from a receipt), which exposes truncation and rewrites.
pub fn verify_export(
    dir: &Path,
    verifier_key: &str,
    earlier_checkpoint: Option<&str>,
) -> VerifyReport {
    let earlier: Vec<Earlier> = earlier_checkpoint
        .map(|n| Earlier::Checkpoint(n.to_string()))
        .into_iter()
        .collect();
    verify_export_with(dir, verifier_key, &earlier, VerifyOptions::default())
}

/// Largest stored entry accepted in an export: entries hold a handful of text fields of at most
/// [`MAX_TEXT`](super::entry::MAX_TEXT) bytes each, far below this.
pub const MAX_ENTRY_RECORD: u64 = 64 * 1024;

/// [`verify_export`] with options (e.g. skipping entry signatures for a quick structural check).
///
/// Streams both files: records are read one by one with a bounded buffer and verified in
/// chunks of [`STREAM_CHUNK`], so memory does not grow with the log. A record that cannot be
/// framed (a zero length, a length beyond the file's end) stops the reading and is the only
/// error reported, naming the record.
pub fn verify_export_with(
    dir: &Path,
    verifier_key: &str,
    earlier: &[Earlier],
    opts: VerifyOptions,
) -> VerifyReport {
    let only = |e: LogError| VerifyReport {
        errors: vec![e],
        ..VerifyReport::default()
    };
    let key = match VerifierKey::parse(verifier_key) {
        Ok(k) => k,
        Err(reason) => return only(LogError::Checkpoint { size: None, reason }),
    };
    let mut v = Verifier::new(&key, opts);
    if let Ok(bytes) = crate::error::read_capped(&dir.join(CHAIN_KEYS_FILE), 1 << 20) {
        let text = String::from_utf8_lossy(&bytes);
        v.set_candidates(
            text.lines()
                .filter_map(|l| VerifierKey::parse(l.trim()).ok())
                .collect(),
        );
    }

    // Checkpoints first: their sizes say which prefix roots to keep while entries pass.
    let mut notes = match Records::open(dir, CHECKPOINTS_FILE, MAX_NOTE as u64) {
        Ok(r) => r,
        Err(e) => return only(e),
    };
    let mut batch: Vec<String> = Vec::new();
    loop {
        match notes.next() {
            None => break,
            Some(Err(e)) => return only(e),
            Some(Ok(raw)) => match String::from_utf8(raw) {
                Ok(n) => batch.push(n),
                Err(_) => v.add_bad_checkpoint(LogError::Checkpoint {
                    size: None,
                    reason: NoteError::Malformed,
                }),
            },
        }
        if batch.len() >= STREAM_CHUNK {
            v.add_checkpoints(&batch);
            batch.clear();
        }
    }
    v.add_checkpoints(&batch);
    drop(batch);
    for e in earlier {
        match e {
            Earlier::Checkpoint(n) => v.set_earlier(n),
            Earlier::Receipt(r) => v.add_receipt(r),
        }
    }
    // The export's own latest checkpoint must be there and agree with the entries.
    let latest = dir.join(LATEST_FILE);
    match crate::error::read_capped(&latest, MAX_NOTE as u64) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(n) => v.set_earlier(&n),
            Err(_) => v.add_bad_checkpoint(LogError::Checkpoint {
                size: None,
                reason: NoteError::Malformed,
            }),
        },
        Err(_) => v.add_bad_checkpoint(LogError::LatestMissing),
    }

    let mut entries = match Records::open(dir, ENTRIES_FILE, MAX_ENTRY_RECORD) {
        Ok(r) => r,
        Err(e) => return only(e),
    };
    let mut chunk: Vec<Vec<u8>> = Vec::with_capacity(STREAM_CHUNK);
    loop {
        match entries.next() {
            None => break,
            Some(Err(e)) => return only(e),
            Some(Ok(r)) => chunk.push(r),
        }
        if chunk.len() >= STREAM_CHUNK {
            v.push_chunk(&chunk);
            chunk.clear();
        }
    }
    v.push_chunk(&chunk);
    v.finish()
}

/// Reads the records of an export file without verifying anything (for tools and tests).
pub fn read_records(dir: &Path, file: &'static str) -> Result<Vec<Vec<u8>>, LogError> {
    let max = if file == CHECKPOINTS_FILE {
        MAX_NOTE as u64
    } else {
        MAX_ENTRY_RECORD
    };
    Records::open(dir, file, max)?.collect()
}

/// Calls `f` on each entry record of an export in order, one in memory at a time (a million
/// entries are hundreds of megabytes); returns how many there were.
pub fn for_each_entry(dir: &Path, mut f: impl FnMut(&[u8])) -> Result<u64, LogError> {
    let mut n = 0;
    for r in Records::open(dir, ENTRIES_FILE, MAX_ENTRY_RECORD)? {
        f(&r?);
        n += 1;
    }
    Ok(n)
}

/// Writes records to an export file (for tools and tests).
pub fn write_records(dir: &Path, file: &'static str, records: &[Vec<u8>]) -> Result<(), LogError> {
    write(dir, file, &frame(records.iter().map(|r| r.as_slice())))
}

fn frame<'a>(records: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        // Entries and notes are far below 4 GiB; refuse silently impossible sizes by saturating.
        let len = u32::try_from(r.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(r);
    }
    out
}

/// The `u32 big-endian length ‖ bytes` records of an export file, read one at a time. Every
/// length is checked against `max` and against what remains of the file (its size taken
/// once at open) before a buffer is allocated.
struct Records {
    file: &'static str,
    path: PathBuf,
    reader: BufReader<File>,
    remaining: u64,
    index: u64,
    max: u64,
    done: bool,
}

impl Records {
    fn open(dir: &Path, file: &'static str, max: u64) -> Result<Records, LogError> {
        let path = dir.join(file);
        let f = File::open(&path).map_err(|e| io(&path, e))?;
        let remaining = f.metadata().map_err(|e| io(&path, e))?.len();
        Ok(Records {
            file,
            reader: BufReader::with_capacity(1 << 16, f),
            path,
            remaining,
            index: 0,
            max,
            done: false,
        })
    }

    fn frame_error(&mut self, reason: FrameError) -> LogError {
        self.done = true;
        LogError::ExportFormat {
            file: self.file,
            records: self.index,
            reason,
        }
    }

    fn read_next(&mut self) -> Result<Vec<u8>, LogError> {
        if self.remaining < 4 {
            let remaining = self.remaining;
            return Err(self.frame_error(FrameError::HeaderCut { remaining }));
        }
        let mut len = [0u8; 4];
        self.reader
            .read_exact(&mut len)
            .map_err(|e| io(&self.path, e))?;
        self.remaining -= 4;
        let claimed = u64::from(u32::from_be_bytes(len));
        if claimed == 0 {
            return Err(self.frame_error(FrameError::Empty));
        }
        if claimed > self.max {
            let max = self.max;
            return Err(self.frame_error(FrameError::TooLarge { claimed, max }));
        }
        if claimed > self.remaining {
            let remaining = self.remaining;
            return Err(self.frame_error(FrameError::Beyond { claimed, remaining }));
        }
        // `claimed` ≤ max (64 KiB): the cast is exact and the allocation small.
        let mut rec = vec![0u8; claimed as usize];
        self.reader
            .read_exact(&mut rec)
            .map_err(|e| io(&self.path, e))?;
        self.remaining -= claimed;
        self.index += 1;
        Ok(rec)
    }
}

impl Iterator for Records {
    type Item = Result<Vec<u8>, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.remaining == 0 {
            return None;
        }
        let r = self.read_next();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

fn write(dir: &Path, file: &str, data: &[u8]) -> Result<(), LogError> {
    let path = dir.join(file);
    crate::private::write(&path, data).map_err(|e| io(&path, e))
}

fn io(path: &Path, source: std::io::Error) -> LogError {
    LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}
