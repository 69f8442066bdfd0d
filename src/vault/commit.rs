//! Record existence: every transaction that writes records signs one `records_committed` log
//! entry over them (ids, metadata and author signatures), and each record row names it in
//! `records.commit_index`. A record deleted, inserted or swapped in the database no longer
//! matches a signed commitment, which `audit run` reports by record id.

use rusqlite::{Connection, Transaction};
use sha2::{Digest, Sha256};

use super::Session;
use crate::domain::RecordMeta;
use crate::error::Result;
use crate::log::Kind;

/// The hash one record contributes to its batch's commitment. The signature covers the
/// payload's SHA-256, so a changed ciphertext that still decrypts would fail it on reading;
/// a rekey re-encrypts without changing anything hashed here.
pub fn record_hash(m: &RecordMeta, signature: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"casevault record commitment v1\0");
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    };
    field(&m.id.to_be_bytes());
    field(&m.case_id.to_be_bytes());
    field(m.kind.as_bytes());
    field(&[m.tier]);
    field(m.author.as_bytes());
    field(&m.created_at.to_be_bytes());
    field(&m.amends.unwrap_or(-1).to_be_bytes());
    field(signature);
    h.finalize().into()
}

/// The commitment of a batch: SHA-256 over its records' (id, hash) in id order.
pub fn batch_digest(rows: &[(i64, [u8; 32])]) -> [u8; 32] {
    let mut sorted = rows.to_vec();
    sorted.sort_by_key(|r| r.0);
    let mut h = Sha256::new();
    h.update(b"casevault records batch v1\0");
    for (id, rh) in &sorted {
        h.update(id.to_be_bytes());
        h.update(rh);
    }
    h.finalize().into()
}

/// The detail text of a commitment: the id range (a batch's ids are consecutive: they are
/// taken inside one write transaction).
pub fn detail(first: i64, last: i64) -> String {
    format!("records {first}-{last}")
}

/// Parses [`detail`].
pub fn parse_detail(d: &str) -> Option<(i64, i64)> {
    let (a, b) = d.strip_prefix("records ")?.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Each stored record's (id, hash) for ids in `first..=last`.
pub fn stored_batch(conn: &Connection, first: i64, last: i64) -> Result<Vec<(i64, [u8; 32])>> {
    Ok(crate::store::records::batch(conn, first, last)?
        .iter()
        .map(|(m, sig)| (m.id, record_hash(m, sig)))
        .collect())
}

impl Session {
    /// Signs the records just inserted in `tx` into the log (one entry for the batch) and
    /// marks their rows with the entry's index.
    pub(super) fn commit_records(
        &self,
        tx: &Transaction,
        rows: &[(&RecordMeta, &[u8])],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let hashes: Vec<(i64, [u8; 32])> = rows
            .iter()
            .map(|(m, sig)| (m.id, record_hash(m, sig)))
            .collect();
        let first = hashes.iter().map(|r| r.0).min().unwrap_or(0);
        let last = hashes.iter().map(|r| r.0).max().unwrap_or(0);
        let mut e = self.log_entry(Kind::RecordsCommitted, None)?;
        e.disclosed_sha256 = Some(batch_digest(&hashes));
        e.detail = detail(first, last);
        let index = self.log_append(tx, &e)?.index;
        crate::store::records::set_commit_index(tx, first, last, index)
    }
}
