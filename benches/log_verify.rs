//! Verification speed of a large exported log.
//!
//! `CASEVAULT_BENCH_ENTRIES` (default 1,000,000) entries are generated once, in parallel,
//! and cached under `target/log-bench-<n>/`. Then it measures:
//! (a) tree + checkpoints (no entry signatures), (b) full verification with every
//! signature, (c) the hashing floor: SHA-256 over the same stored bytes; and (d) one append
//! to a database already holding the log. Ratios are printed before criterion runs.
//!
//! (e) cosigned checkpoints (issue 11): every retained checkpoint (each 1024 entries, and the
//! latest) carries 1 to 3 witness cosignatures in `cosignatures.txt`; verifying the export as
//! `log verify --export --witness … --witness-quorum 1` does (the log, then every cosignature
//! against the tree at its size) is timed against the same verification without witnesses,
//! pair by pair in the same run (order alternating), for the tree-only and the full
//! verification; median and range of each ratio are printed. `CASEVAULT_BENCH_PAIRS` (default
//! 3) sets the number of full pairs; the tree-only ones are twice as many.
//!
//! `cargo bench --bench log_verify` (add `CASEVAULT_BENCH_ENTRIES=100000` to iterate).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use casevault::log::cosign::{cosign, note_body, CosignerKey};
use casevault::log::{self, merkle, Checkpoint, VerifyOptions};
use criterion::{criterion_group, criterion_main, Criterion};
use ed25519_dalek::SigningKey;
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
        // Caches made before `checkpoint.txt` was required: add it.
        if !dir.join(log::LATEST_FILE).exists() {
            let notes = log::read_records(&dir, log::CHECKPOINTS_FILE).unwrap();
            std::fs::write(dir.join(log::LATEST_FILE), notes.last().unwrap()).unwrap();
        }
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

/// The three witnesses of the cosigned measurement (fixed keys) and their vkeys.
fn witnesses() -> Vec<(String, SigningKey)> {
    (1..=3u8)
        .map(|i| {
            (
                format!("w{i}.bench.example/witness"),
                SigningKey::from_bytes(&[0xC0 + i; 32]),
            )
        })
        .collect()
}

fn witness_vkeys() -> Vec<String> {
    witnesses()
        .iter()
        .map(|(name, k)| CosignerKey::new(name, k.verifying_key()).encode())
        .collect()
}

/// Writes `cosignatures.txt` (the export's format) once: every checkpoint of
/// `checkpoints.bin` cosigned by 1, 2 or 3 witnesses in turn. Returns (checkpoints,
/// cosignatures).
fn write_cosignatures(dir: &Path) -> (usize, usize) {
    let notes = log::read_records(dir, log::CHECKPOINTS_FILE).unwrap();
    let ws = witnesses();
    let blocks: Vec<(String, usize)> = notes
        .par_iter()
        .enumerate()
        .map(|(i, note)| {
            let note = std::str::from_utf8(note).unwrap();
            let body = note_body(note).unwrap().to_string();
            let k = i % 3 + 1;
            let mut block = body.clone();
            for (name, key) in &ws[..k] {
                block.push_str(&cosign(&body, name, key, 1_800_000_000 + i as u64));
            }
            block.push('\n');
            (block, k)
        })
        .collect();
    let path = dir.join("cosignatures.txt");
    if !path.exists() {
        let text: String = blocks.iter().map(|(b, _)| b.as_str()).collect();
        let tmp = dir.join("cosignatures.txt.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
    (blocks.len(), blocks.iter().map(|(_, k)| k).sum())
}

/// What `casevault log verify --export DIR --key K` checks.
fn plain_verify(dir: &Path, signatures: bool) {
    let r = log::verify_export_with(dir, &vkey(), &[], VerifyOptions { signatures });
    assert!(r.is_ok(), "{:?}", r.errors.first().map(|e| e.to_string()));
}

/// The same plus `--witness W1 --witness W2 --witness W3 --witness-quorum 1`: every
/// cosignature verified against the exported tree at its size.
fn cosigned_verify(dir: &Path, signatures: bool, checkpoints: usize) {
    plain_verify(dir, signatures);
    let w =
        casevault::vault::witnessing::verify_export_cosignatures(dir, ORIGIN, &witness_vkeys(), 1)
            .unwrap();
    assert!(w.invalid.is_empty() && w.latest_ok, "{:?}", w.invalid);
    assert_eq!(
        (w.checkpoints, w.meeting_quorum),
        (checkpoints, checkpoints)
    );
}

/// The cosignature lines alone, parsed and verified in memory (no tree): the part of (e)
/// that is Ed25519.
fn cosignature_lines_only(text: &str, keys: &[CosignerKey]) -> usize {
    let blocks: Vec<&str> = text.split("\n\n").filter(|b| !b.is_empty()).collect();
    blocks
        .par_iter()
        .map(|b| {
            let lines: Vec<&str> = b.lines().collect();
            let body = format!("{}\n{}\n{}\n", lines[0], lines[1], lines[2]);
            lines[3..]
                .iter()
                .filter(|l| keys.iter().any(|k| k.verify_line(&body, l).is_ok()))
                .count()
        })
        .sum()
}

/// Runs `pairs` pairs (plain, cosigned), alternating which goes first; returns the times.
fn paired(pairs: usize, mut plain: impl FnMut(), mut cosigned: impl FnMut()) -> Vec<(f64, f64)> {
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    (0..pairs)
        .map(|i| {
            if i % 2 == 0 {
                let a = time(&mut plain);
                (a, time(&mut cosigned))
            } else {
                let b = time(&mut cosigned);
                (time(&mut plain), b)
            }
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// "median (min–max)" of `v`, with `unit` and `digits` decimals.
fn spread(v: &[f64], digits: usize, unit: &str) -> String {
    let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "{:.digits$}{unit} ({:.digits$}–{:.digits$})",
        median(v.to_vec()),
        lo,
        hi
    )
}

fn print_pairs(label: &str, pairs: &[(f64, f64)]) {
    let plain: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let cos: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let ratio: Vec<f64> = pairs.iter().map(|p| p.1 / p.0).collect();
    println!(
        "  (e) {label}, {} pairs: without witnesses {}, with {}, ratio {}",
        pairs.len(),
        spread(&plain, 3, " s"),
        spread(&cos, 3, " s"),
        spread(&ratio, 2, "x")
    );
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

    // (e) Cosigned checkpoints, pair by pair against the same verification without them.
    let (cps, cosigs) = write_cosignatures(&dir);
    let pairs: usize = std::env::var("CASEVAULT_BENCH_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let cos_text = std::fs::read_to_string(dir.join("cosignatures.txt")).unwrap();
    let keys: Vec<CosignerKey> = witness_vkeys()
        .iter()
        .map(|k| CosignerKey::parse(k).unwrap())
        .collect();
    let lines = min_time(3, || {
        assert_eq!(cosignature_lines_only(&cos_text, &keys), cosigs);
    });
    println!(
        "  (e) {cps} cosigned checkpoints, {cosigs} cosignatures (1–3 each, 3 witnesses, quorum 1)"
    );
    println!(
        "      cosignature lines alone (parse + Ed25519, in memory):         {:>8.3} s",
        lines.as_secs_f64()
    );
    let tree_pairs = paired(
        2 * pairs,
        || plain_verify(&dir, false),
        || cosigned_verify(&dir, false, cps),
    );
    print_pairs("tree + checkpoints", &tree_pairs);
    let full_pairs = paired(
        pairs,
        || plain_verify(&dir, true),
        || cosigned_verify(&dir, true, cps),
    );
    print_pairs("full, every signature", &full_pairs);

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
