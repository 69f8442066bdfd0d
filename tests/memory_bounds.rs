//! Issue 9 item 6: memory is bounded by real content, not by what a file claims. Crafted
//! `entries.bin` files are verified offline through the binary under a 600 MB address-space
//! cap (`ulimit -v`): each must end with a clear message naming the record, never an abort
//! or a kill. A 2+ GiB sparse packet is refused from its size alone, at once.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Address-space cap for crafted inputs, in KiB (the old code needed GiBs for 64 MiB).
const CAP_KIB: u64 = 600_000;

/// A verifier key string (any valid one: crafted files fail before any signature).
fn some_key() -> String {
    let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    casevault::log::verifier_key("test.example/log", &sk.verifying_key())
}

/// `log verify --export dir --key key` with no vault, in English, under the memory cap.
fn verify_capped(dir: &Path, key: &str) -> Run {
    let mut c = Command::new("sh");
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CASEVAULT_LANG", "en")
        .arg("-c")
        .arg(format!("ulimit -v {CAP_KIB}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_casevault"))
        .args(["--vault", "/nonexistent", "log", "verify", "--export"])
        .arg(dir)
        .args(["--key", key]);
    run(c)
}

/// An export directory with `entries` as entries.bin and no checkpoints.
fn crafted(tmp: &Path, name: &str, entries: impl FnOnce(&Path)) -> PathBuf {
    let dir = tmp.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("checkpoints.bin"), b"").unwrap();
    entries(&dir.join("entries.bin"));
    dir
}

/// Fails cleanly: exit 4, a tamper alarm (not an abort, not a signal), a message naming the
/// record, no panic.
fn refused(r: &Run, needle: &str) {
    assert_eq!(r.code, 4, "exit code {}; stderr: {}", r.code, r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(!r.stderr.contains("memory allocation"), "{}", r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("entries.bin"), "{all}");
    assert!(all.contains(needle), "wanted {needle:?} in: {all}");
}

#[test]
fn zero_length_records_are_refused_without_allocating() {
    let tmp = tempfile::tempdir().unwrap();
    let key = some_key();
    for mib in [1u64, 16, 64] {
        // A sparse file of zeros: nothing but zero-length records, no disk used.
        let dir = crafted(tmp.path(), &format!("zeros{mib}"), |p| {
            std::fs::File::create(p)
                .unwrap()
                .set_len(mib << 20)
                .unwrap()
        });
        let t = Instant::now();
        let r = verify_capped(&dir, &key);
        refused(&r, "record 0");
        assert!(r.stdout.contains("length zero"), "{}", r.stdout);
        assert!(t.elapsed() < Duration::from_secs(10), "{mib} MiB too slow");
    }
}

#[test]
fn a_huge_or_overlong_length_claim_is_refused_naming_the_record() {
    let tmp = tempfile::tempdir().unwrap();
    let key = some_key();
    // 4 GiB - 1 claimed in a 1 KiB file.
    let dir = crafted(tmp.path(), "huge", |p| {
        let mut b = vec![0xFF; 4];
        b.extend_from_slice(&[1; 1020]);
        std::fs::write(p, b).unwrap()
    });
    let r = verify_capped(&dir, &key);
    refused(&r, "record 0");
    assert!(r.stdout.contains("4294967295"), "{}", r.stdout);

    // A plausible length, but beyond the end of the file, after two well-framed records.
    let dir = crafted(tmp.path(), "beyond", |p| {
        let mut b = Vec::new();
        for _ in 0..2 {
            b.extend_from_slice(&100u32.to_be_bytes());
            b.extend_from_slice(&[3; 100]);
        }
        b.extend_from_slice(&5000u32.to_be_bytes());
        b.extend_from_slice(&[3; 10]);
        std::fs::write(p, b).unwrap()
    });
    let r = verify_capped(&dir, &key);
    refused(&r, "record 2");
    assert!(r.stdout.contains("only 10 remain"), "{}", r.stdout);
}

/// Many tiny well-framed records: one error each, but the report keeps a bounded number.
#[test]
fn a_flood_of_malformed_entries_gives_a_bounded_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = crafted(tmp.path(), "tiny", |p| {
        let rec = [0, 0, 0, 1, 0xAB];
        std::fs::write(p, rec.repeat(2_000_000)).unwrap()
    });
    let r = verify_capped(&dir, &some_key());
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
    assert!(r.stdout.contains("log entry 0 "), "{}", &r.stdout[..500]);
    assert!(r.stdout.contains("more errors not listed"));
    assert!(
        r.stdout.len() < 1 << 20,
        "report of {} bytes",
        r.stdout.len()
    );
}

/// The same through checkpoints.bin: a million tiny non-notes, each refused, a bounded report.
#[test]
fn a_flood_of_bad_checkpoints_gives_a_bounded_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = crafted(tmp.path(), "notes", |p| std::fs::write(p, b"").unwrap());
    std::fs::write(
        dir.join("checkpoints.bin"),
        [0, 0, 0, 1, b'x'].repeat(1_000_000),
    )
    .unwrap();
    let r = verify_capped(&dir, &some_key());
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
    assert!(
        r.stdout.contains("more errors not listed"),
        "{}",
        &r.stdout[..500]
    );
    assert!(
        r.stdout.len() < 1 << 20,
        "report of {} bytes",
        r.stdout.len()
    );
}

#[test]
fn a_genuine_export_verifies_and_its_truncation_names_the_record() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    v.process_note("wang", case, "first session").ok();
    // A supervisor's session covers the caseworker's entries with a checkpoint (issue 11).
    v.run("li", &["case", "list"]).ok();
    let key = v
        .run("audit", &["log", "key"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let out = v.tmp.path().join("export");
    v.run("audit", &["log", "export", "--out", out.to_str().unwrap()])
        .ok();
    let r = verify_capped(&out, &key);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    let entries = out.join("entries.bin");
    let n = casevault::log::read_records(&out, "entries.bin")
        .unwrap()
        .len();
    let mut raw = std::fs::read(&entries).unwrap();
    raw.truncate(raw.len() - 10);
    std::fs::write(&entries, raw).unwrap();
    let r = verify_capped(&out, &key);
    refused(&r, &format!("record {}", n - 1));
}

#[test]
fn a_huge_packet_is_refused_from_its_size_without_reading() {
    let v = TestVault::new();
    let big = v.tmp.path().join("big.age");
    // Sparse: 2 GiB + 1 of holes, no disk used.
    std::fs::File::create(&big)
        .unwrap()
        .set_len((2u64 << 30) + 1)
        .unwrap();
    std::fs::write(v.tmp.path().join("big.age.minisig"), b"x").unwrap();
    for sub in ["verify", "open", "import"] {
        let mut c = v.as_("admin");
        c.args(["packet", sub])
            .arg(&big)
            .args(["--from", "partner"]);
        let c = {
            // Under the cap too: reading the file whole would need 2 GiB.
            let prog = c.get_program().to_owned();
            let mut s = Command::new("sh");
            s.arg("-c")
                .arg(format!("ulimit -v {CAP_KIB}; exec \"$0\" \"$@\""))
                .arg(prog)
                .args(c.get_args())
                .env_clear()
                .stdin(std::process::Stdio::null());
            for (k, val) in c.get_envs() {
                if let Some(val) = val {
                    s.env(k, val);
                }
            }
            s
        };
        let t = Instant::now();
        let r = run(c).fails();
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("more than the limit"), "{}", r.stderr);
        assert!(r.stderr.contains("big.age"), "{}", r.stderr);
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}

#[test]
fn oversized_input_files_are_refused_before_reading() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let big = v.tmp.path().join("fields.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let r = v
        .run(
            "wang",
            &[
                "record",
                "add",
                "--case",
                &case.to_string(),
                "--kind",
                "process",
                "--fields",
                big.to_str().unwrap(),
            ],
        )
        .fails();
    assert!(r.stderr.contains("more than the limit"), "{}", r.stderr);
    let huge = v.tmp.path().join("huge.jsonl");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len((1 << 30) + 1)
        .unwrap();
    let r = v.run("admin", &["import", huge.to_str().unwrap()]).fails();
    assert!(r.stderr.contains("more than the limit"), "{}", r.stderr);
}
