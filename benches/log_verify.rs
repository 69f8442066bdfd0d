//! Verification speed of a large exported log.
//!
//! `CASEVAULT_BENCH_ENTRIES` (default 1,000,000) entries are generated once, in parallel,
//! and cached under `target/log-bench-<n>/`. Then it measures:
//! (a) tree + checkpoints (no entry signatures), (b) full verification with every
//! signature, (c) the hashing floor: SHA-256 over the same stored bytes; and (d) one append
//! to a database already holding the log. Ratios are printed before criterion runs.
//!
//! `cargo bench --bench log_verify` (add `CASEVAULT_BENCH_ENTRIES=100000` to iterate).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use casevault::log::{self, merkle, Checkpoint, VerifyOptions};
use criterion::{criterion_group, criterion_main, Criterion};
use rayon::prelude::*;
use rusqlite::{params, Connection, TransactionBehavior};
use sha2::{Digest, Sha256};

mod log_gen;
use log_gen::{agency, entry, vkey, worker, ORIGIN};

fn entries_wanted() -> u64 {
    std::env::var("CASEVAULT_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn cache_dir(n: u64) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join(format!("log-bench-{n}"))
}

/// Builds (or reuses) the export directory and returns its stored entries.
fn build(n: u64) -> PathBuf {
    let dir = cache_dir(n);
    if dir.join(log::README_FILE).exists() {
        return dir;
    }
    eprintln!("generating a {n}-entry log in {} (once) ...", dir.display());
    let t = Instant::now();
    log_gen::write_export(&dir, n);
    std::fs::write(dir.join(log::README_FILE), "benchmark log\n").unwrap();
    eprintln!("generated in {:.1} s", t.elapsed().as_secs_f64());
    dir
}

/// A database holding the same log, built by bulk insert (as if appended one by one).
fn build_db(n: u64, export: &Path) -> PathBuf {
    let path = export.join("vault.db");
    if path.exists() {
        return path;
    }
    eprintln!("loading the log into {} (once) ...", path.display());
    let stored = log::read_records(export, log::ENTRIES_FILE).unwrap();
    let notes = log::read_records(export, log::CHECKPOINTS_FILE).unwrap();
    let tmp = export.join("vault.db.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut conn = open(&tmp);
    let tx = conn.transaction().unwrap();
    {
        let mut ins = tx
            .prepare("INSERT INTO log_entries (idx, kind, time, stored) VALUES (?1, ?2, ?3, ?4)")
            .unwrap();
        for (i, s) in stored.iter().enumerate() {
            let (e, _) = entry(i as u64);
            ins.execute(params![i as i64, e.kind.code() as u8, e.time, s])
                .unwrap();
        }
    }
    let leaves: Vec<merkle::Hash> = stored.par_iter().map(|s| merkle::leaf_hash(s)).collect();
    let last_proof = merkle::inclusion_proof(&leaves, n - 1).unwrap().concat();
    let mut f = merkle::Frontier::default();
    leaves.iter().for_each(|l| {
        f.push(*l);
    });
    for (level, hash) in f.levels() {
        tx.execute(
            "INSERT INTO log_frontier (level, hash) VALUES (?1, ?2)",
            params![level, hash.as_slice()],
        )
        .unwrap();
    }
    for note in &notes {
        let note = String::from_utf8(note.clone()).unwrap();
        let size = Checkpoint::parse_unverified(&note).unwrap().size;
        let proof: Vec<u8> = if size == n {
            last_proof.clone()
        } else {
            Vec::new()
        };
        tx.execute(
            "INSERT INTO log_checkpoints (size, note, last_proof) VALUES (?1, ?2, ?3)",
            params![size as i64, note, proof],
        )
        .unwrap();
    }
    tx.execute(
        "INSERT INTO log_meta (name, value) VALUES ('origin', ?1), ('verifier_key', ?2)",
        params![ORIGIN, vkey()],
    )
    .unwrap();
    tx.commit().unwrap();
    drop(conn);
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn open(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA key = \"x'00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF'\";
         PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;",
    )
    .unwrap();
    conn.execute_batch(log::SCHEMA).unwrap();
    conn
}

/// The stored entries as slices of the file's bytes (already in memory).
fn split_records(raw: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let (rec, tail) = tail.split_at(u32::from_be_bytes(*len) as usize);
        out.push(rec);
        rest = tail;
    }
    out
}

/// SHA-256 over the same stored bytes, in parallel like the verifier, with the bytes already
/// in memory: the floor no verifier can beat.
fn hash_floor(records: &[&[u8]]) -> usize {
    let h: Vec<[u8; 32]> = records
        .par_iter()
        .map(|s| Sha256::digest(s).into())
        .collect();
    h.len()
}

fn tree_only(dir: &Path) -> log::VerifyReport {
    log::verify_export_with(dir, &vkey(), &[], VerifyOptions { signatures: false })
}

fn min_time(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let n = entries_wanted();
    let dir = build(n);
    let r = log::verify_export(&dir, &vkey(), None);
    assert!(r.is_ok(), "{:?}", r.errors.first().map(|e| e.to_string()));
    assert_eq!(r.size, n);

    let raw = std::fs::read(dir.join(log::ENTRIES_FILE)).unwrap();
    let records = split_records(&raw);
    let read = min_time(3, || {
        std::fs::read(dir.join(log::ENTRIES_FILE)).unwrap();
    });
    let floor = min_time(3, || {
        hash_floor(&records);
    });
    let tree = min_time(3, || assert!(tree_only(&dir).is_ok()));
    let full = min_time(1, || {
        assert!(log::verify_export(&dir, &vkey(), None).is_ok())
    });
    let bytes = std::fs::metadata(dir.join(log::ENTRIES_FILE))
        .unwrap()
        .len();

    let db = build_db(n, &dir);
    let mut conn = open(&db);
    let mut i = n;
    let append = min_time(5, || {
        let (mut e, _) = entry(i);
        e.index = i;
        let req = log::NewEntry {
            kind: e.kind,
            actor: e.actor,
            client_mac: e.client_mac,
            case_mac: e.case_mac,
            recipient: e.recipient,
            purpose: e.purpose,
            basis: e.basis,
            approver: e.approver,
            disclosed_sha256: e.disclosed_sha256,
            detail: e.detail,
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        log::append(&tx, &req, &worker(), &agency(), ORIGIN, 1_800_000_000).unwrap();
        tx.commit().unwrap();
        i += 1;
    });

    println!(
        "\nlog_verify: {n} entries, {:.1} MB of stored entries, {} threads",
        bytes as f64 / 1e6,
        rayon::current_num_threads()
    );
    println!("      reading entries.bin: {:.3} s", read.as_secs_f64());
    println!(
        "  (c) hashing floor (SHA-256 of every stored entry, in memory): {:.3} s",
        floor.as_secs_f64()
    );
    println!("  (a) tree + checkpoints (incl. reading):                          {:>8.3} s  ({:.2}x floor)", tree.as_secs_f64(), tree.as_secs_f64() / floor.as_secs_f64());
    println!("  (b) full, every signature (incl. reading):                       {:>8.3} s  ({:.2}x floor, {:.1} µs/entry)", full.as_secs_f64(), full.as_secs_f64() / floor.as_secs_f64(), full.as_secs_f64() * 1e6 / n as f64);
    println!(
        "  (d) one append (commit, synchronous=FULL) at this size:           {:>8.3} ms",
        append.as_secs_f64() * 1e3
    );

    let mut g = c.benchmark_group("log_verify");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("hash_floor", |b| b.iter(|| hash_floor(&records)));
    g.bench_function("tree_and_checkpoints", |b| b.iter(|| tree_only(&dir)));
    if std::env::var("CASEVAULT_BENCH_FULL").is_ok() {
        g.bench_function("full_with_signatures", |b| {
            b.iter(|| log::verify_export(&dir, &vkey(), None))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
