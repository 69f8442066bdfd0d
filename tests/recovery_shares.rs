//! The recovery key in k-of-n shares (issue 11 item 5): init writes the shares, any k of them
//! rebuild the key for `staff recover-grant` (logged), and everything else is refused by name:
//! too few, duplicates, another vault's, a damaged or tampered share, shares of an old set
//! after `recovery reshare`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;
use sha2::Digest;

/// The share files in `dir`, sorted by name (so by share number).
fn shares(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Recover-grant to `name` with these share files.
fn grant(v: &TestVault, name: &str, files: &[&Path]) -> Run {
    let mut args = vec![
        "staff".to_string(),
        "recover-grant".to_string(),
        name.to_string(),
    ];
    for f in files {
        args.push("--recovery-share".into());
        args.push(f.to_str().unwrap().into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    v.run("admin", &args)
}

/// How many recovery-key uses the log holds.
fn uses(v: &TestVault) -> usize {
    v.run("li", &["--json", "log", "show"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "recovery_key_use")
        .count()
}

/// A 2-of-3 vault with a supervisor-only note and a new supervisor `zhao` who holds nothing.
fn setup() -> (TestVault, String) {
    let v = TestVault::with_recovery_shares("2/3");
    let case = v.client_with_case("C001", "Zhang San");
    let id = v
        .supervision_note("wang", case, "old restricted note")
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    v.add_staff("zhao", "supervisor");
    v.run("zhao", &["record", "show", &id]).fails();
    (v, id)
}

#[test]
fn any_two_of_three_shares_grant_and_each_use_is_logged() {
    let (v, id) = setup();
    let s = shares(&v.shares_dir());
    assert_eq!(s.len(), 3);
    // Share files are 0600 in a 0700 folder.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&v.shares_dir()), 0o700);
    for f in &s {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    let before = uses(&v);
    for (a, b) in [(0, 1), (0, 2), (2, 1)] {
        let r = grant(&v, "zhao", &[&s[a], &s[b]]).ok();
        assert!(r.stdout.contains("zhao"), "{}", r.stdout);
    }
    assert!(v
        .run("zhao", &["record", "show", &id])
        .ok()
        .stdout
        .contains("old restricted note"));
    assert_eq!(uses(&v), before + 3);
    // The log names the shares used.
    let log = v.run("li", &["--json", "log", "show"]).ok().stdout;
    assert!(log.contains("shares 1,2 of set"), "{log}");
}

#[test]
fn too_few_duplicate_foreign_damaged_or_tampered_shares_are_refused() {
    let (v, id) = setup();
    let s = shares(&v.shares_dir());
    let before = uses(&v);
    let refused = |files: &[&Path], says: &str| {
        let r = grant(&v, "zhao", files).fails();
        assert!(r.stderr.contains(says), "want {says:?}: {}", r.stderr);
    };
    // One share of two.
    refused(&[&s[0]], "needs at least 2");
    // The same share twice, by the same path or a copy.
    refused(&[&s[1], &s[1]], "given twice");
    let copy = v.tmp.path().join("copy.txt");
    std::fs::copy(&s[1], &copy).unwrap();
    refused(&[&s[1], &copy], "given twice");
    // Another vault's shares, alone or with one of ours.
    let other = TestVault::with_recovery_shares("2/3");
    let o = shares(&other.shares_dir());
    refused(&[&s[0], &o[1]], "another vault");
    refused(&[&o[0], &o[1]], "another vault");
    // A mistyped digit in the secret fails the checksum.
    let text = std::fs::read_to_string(&s[2]).unwrap();
    let typo = v.tmp.path().join("typo.txt");
    std::fs::write(&typo, flip_secret_digit(&text)).unwrap();
    refused(&[&s[0], &typo], "checksum");
    // A tampered share with a recomputed checksum rebuilds the wrong key.
    let forged = v.tmp.path().join("forged.txt");
    std::fs::write(&forged, with_checksum(&flip_secret_digit(&text))).unwrap();
    refused(&[&s[0], &forged], "not this vault's recovery key");
    // Not a share at all.
    let junk = v.tmp.path().join("junk.txt");
    std::fs::write(&junk, "hello\n").unwrap();
    refused(&[&s[0], &junk], "not a recovery key share");
    // Nothing was used, nothing logged, nothing granted.
    assert_eq!(uses(&v), before);
    v.run("zhao", &["record", "show", &id]).fails();
}

/// Changes the last hex digit of the `secret:` line.
fn flip_secret_digit(text: &str) -> String {
    text.lines()
        .map(|l| {
            if let Some(hex) = l.strip_prefix("secret: ") {
                let mut h = hex.to_string();
                let last = h.pop().unwrap();
                h.push(if last == '0' { '1' } else { '0' });
                format!("secret: {h}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Recomputes the checksum line as docs/formats.md defines it.
fn with_checksum(text: &str) -> String {
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("checksum:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let sum = sha2::Sha256::digest(body.as_bytes());
    let hex: String = sum[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{body}checksum: {hex}\n")
}

#[test]
fn reshare_makes_a_new_set_that_never_mixes_with_the_old() {
    let (v, id) = setup();
    let old = shares(&v.shares_dir());
    let out = v.tmp.path().join("new-shares");
    let before = uses(&v);
    let reshare = |who: &str, files: &[&Path], spec: &str, out: &Path| {
        let mut args = vec!["recovery".to_string(), "reshare".to_string()];
        for f in files {
            args.push("--share".into());
            args.push(f.to_str().unwrap().into());
        }
        args.extend(["--shares".into(), spec.into(), "--out".into()]);
        args.push(out.to_str().unwrap().into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        v.run(who, &args)
    };
    // Only an admin, with enough shares, to a valid spec.
    reshare("li", &[&old[0], &old[1]], "3/4", &out).fails();
    reshare("admin", &[&old[0]], "3/4", &out).fails();
    reshare("admin", &[&old[0], &old[1]], "5/4", &out).fails();
    assert!(!out.exists());
    assert_eq!(uses(&v), before);
    reshare("admin", &[&old[0], &old[2]], "3/4", &out).ok();
    assert_eq!(uses(&v), before + 1);
    let new = shares(&out);
    assert_eq!(new.len(), 4);
    for f in &new {
        assert_eq!(
            std::fs::metadata(f).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // A folder with files in it is not written into.
    reshare("admin", &[&old[0], &old[2]], "2/3", &out).fails();
    assert_eq!(shares(&out).len(), 4);
    // Old and new never combine; the new threshold holds.
    let r = grant(&v, "zhao", &[&new[0], &new[1], &old[0]]).fails();
    assert!(r.stderr.contains("another share set"), "{}", r.stderr);
    let r = grant(&v, "zhao", &[&old[0], &new[1]]).fails();
    assert!(r.stderr.contains("another share set"), "{}", r.stderr);
    grant(&v, "zhao", &[&new[0], &new[3]]).fails();
    grant(&v, "zhao", &[&new[0], &new[2], &new[3]]).ok();
    assert!(v
        .run("zhao", &["record", "show", &id])
        .ok()
        .stdout
        .contains("old restricted note"));
    assert_eq!(uses(&v), before + 2);
}

#[test]
fn init_defaults_to_two_of_three_refuses_bad_settings_and_finishes_an_interrupted_init() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("tmp")).unwrap();
    let dir = tmp.path().join("vault");
    let out = tmp.path().join("shares");
    let init = |extra: &[&str]| {
        let mut c = cmd(&dir);
        c.env("CASEVAULT_NEW_PASSPHRASE", ADMIN_PW)
            .args(["init", "--agency", "A", "--admin", "admin"])
            .args(extra)
            .arg("--recovery-out")
            .arg(&out);
        run(c)
    };
    for bad in ["1/3", "3/2", "0/0", "2", "x/y", "2/200"] {
        let r = init(&["--recovery-shares", bad]).fails();
        assert!(r.stderr.contains("share setting"), "{bad}: {}", r.stderr);
        assert!(!dir.exists() && !out.exists(), "{bad}: nothing created");
    }
    init(&[]).ok();
    let first = shares(&out);
    assert_eq!(first.len(), 3);
    let text = std::fs::read_to_string(&first[0]).unwrap();
    assert!(text.contains("threshold: 2") && text.contains("shares: 3"));
    // A kill just before VERSION: running init again replaces the shares it wrote.
    std::fs::remove_file(dir.join("VERSION")).unwrap();
    init(&[]).ok();
    let second = shares(&out);
    assert_eq!(second.len(), 3);
    assert_ne!(std::fs::read(&second[0]).unwrap(), text.as_bytes());
    // A folder holding someone else's files is never touched.
    std::fs::remove_file(dir.join("VERSION")).unwrap();
    std::fs::write(out.join("mine.txt"), "mine").unwrap();
    init(&[]).fails();
    assert!(out.join("mine.txt").exists());
}

#[test]
fn a_single_key_file_vault_moves_to_shares_by_reshare() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let id = v
        .supervision_note("wang", case, "old restricted note")
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    v.add_staff("zhao", "supervisor");
    let key = v.recovery_path();
    let out = v.tmp.path().join("shares");
    // A key file of another vault is refused.
    let other = TestVault::new();
    v.run(
        "admin",
        &[
            "recovery",
            "reshare",
            "--share",
            other.recovery_path().to_str().unwrap(),
            "--shares",
            "2/3",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .fails();
    assert!(!out.exists());
    v.run(
        "admin",
        &[
            "recovery",
            "reshare",
            "--share",
            key.to_str().unwrap(),
            "--shares",
            "2/3",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .ok();
    let s = shares(&out);
    assert_eq!(s.len(), 3);
    // The key file and a share never combine; two shares do.
    let r = grant(&v, "zhao", &[&key, &s[0]]).fails();
    assert!(r.stderr.contains("together with shares"), "{}", r.stderr);
    grant(&v, "zhao", &[&s[1], &s[2]]).ok();
    assert!(v
        .run("zhao", &["record", "show", &id])
        .ok()
        .stdout
        .contains("old restricted note"));
}
