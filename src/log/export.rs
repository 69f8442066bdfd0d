//! Export for outside auditors and offline verification of an export.
//!
//! An export directory holds `entries.bin`, `checkpoints.bin` (both a sequence of
//! `u32 big-endian length ‖ bytes` records), `checkpoint.txt` (the latest note),
//! `verifier-key.txt` and `README.md`. No client identities are in it: entries hold only
//! keyed hashes of client and case ids.

use std::fs;
use std::path::Path;

use rusqlite::Connection;

use super::error::{LogError, NoteError};
use super::note::VerifierKey;
use super::store::{load_all, stored_verifier_key};
use super::verify::{verify, VerifyOptions, VerifyReport};

pub const ENTRIES_FILE: &str = "entries.bin";
pub const CHECKPOINTS_FILE: &str = "checkpoints.bin";
pub const LATEST_FILE: &str = "checkpoint.txt";
pub const KEY_FILE: &str = "verifier-key.txt";
pub const README_FILE: &str = "README.md";

use super::export_readme::README;

/// Writes everything an auditor needs into `dir` (created if missing; these files are
/// overwritten). Returns the number of entries written.
pub fn export(conn: &Connection, dir: &Path) -> Result<u64, LogError> {
    let (entries, notes) = load_all(conn)?;
    let key = stored_verifier_key(conn)?.unwrap_or_default();
    fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
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
    write(dir, README_FILE, README.as_bytes())?;
    Ok(entries.len() as u64)
}

/// Verifies an export offline with the agency's verifier key alone, optionally against a
/// checkpoint obtained earlier (e.g. from a receipt), which exposes truncation and rewrites.
pub fn verify_export(
    dir: &Path,
    verifier_key: &str,
    earlier_checkpoint: Option<&str>,
) -> VerifyReport {
    verify_export_with(
        dir,
        verifier_key,
        earlier_checkpoint,
        VerifyOptions::default(),
    )
}

/// [`verify_export`] with options (e.g. skipping entry signatures for a quick structural check).
pub fn verify_export_with(
    dir: &Path,
    verifier_key: &str,
    earlier_checkpoint: Option<&str>,
    opts: VerifyOptions,
) -> VerifyReport {
    let mut failed = VerifyReport::default();
    let key = match VerifierKey::parse(verifier_key) {
        Ok(k) => k,
        Err(reason) => {
            failed
                .errors
                .push(LogError::Checkpoint { size: None, reason });
            return failed;
        }
    };
    let loaded = read(dir, ENTRIES_FILE).and_then(|e| Ok((e, read(dir, CHECKPOINTS_FILE)?)));
    let (entries, notes) = match loaded {
        Ok(v) => v,
        Err(e) => {
            failed.errors.push(e);
            return failed;
        }
    };
    let records = match unframe(&entries, ENTRIES_FILE) {
        Ok(r) => r,
        Err(e) => {
            failed.errors.push(e);
            return failed;
        }
    };
    let mut bad_notes = Vec::new();
    let notes: Vec<String> = match unframe(&notes, CHECKPOINTS_FILE) {
        Ok(r) => r
            .into_iter()
            .filter_map(|n| match std::str::from_utf8(n) {
                Ok(s) => Some(s.to_string()),
                Err(_) => {
                    bad_notes.push(LogError::Checkpoint {
                        size: None,
                        reason: NoteError::Malformed,
                    });
                    None
                }
            })
            .collect(),
        Err(e) => {
            failed.errors.push(e);
            return failed;
        }
    };
    let mut report = verify(&records, &notes, &key, earlier_checkpoint, opts);
    report.errors.extend(bad_notes);
    report
}

/// Reads the records of an export file without verifying anything (for tools and tests).
pub fn read_records(dir: &Path, file: &'static str) -> Result<Vec<Vec<u8>>, LogError> {
    let raw = read(dir, file)?;
    Ok(unframe(&raw, file)?
        .into_iter()
        .map(|r| r.to_vec())
        .collect())
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

fn unframe<'a>(mut raw: &'a [u8], file: &'static str) -> Result<Vec<&'a [u8]>, LogError> {
    let mut out = Vec::new();
    while !raw.is_empty() {
        let bad = || LogError::ExportFormat {
            file,
            records: out.len() as u64,
        };
        let (len, rest) = raw.split_first_chunk::<4>().ok_or_else(bad)?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return Err(bad());
        }
        let (rec, rest) = rest.split_at(len);
        out.push(rec);
        raw = rest;
    }
    Ok(out)
}

fn read(dir: &Path, file: &str) -> Result<Vec<u8>, LogError> {
    let path = dir.join(file);
    fs::read(&path).map_err(|e| io(&path, e))
}

fn write(dir: &Path, file: &str, data: &[u8]) -> Result<(), LogError> {
    let path = dir.join(file);
    fs::write(&path, data).map_err(|e| io(&path, e))
}

fn io(path: &Path, source: std::io::Error) -> LogError {
    LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}
