//! Private by default (issue 12 item 6): every file casevault writes is 0600 and every folder
//! it makes 0700, in the vault and outside it; a loosened vault is tightened on open; weak new
//! passphrases are refused before anything is created or changed.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{cmd, run, TestVault, ADMIN_PW};

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every file and folder at or under `p`, with its mode.
fn walk(p: &Path, out: &mut Vec<(PathBuf, bool, u32)>) {
    let m = std::fs::symlink_metadata(p).unwrap();
    out.push((p.to_path_buf(), m.is_dir(), mode(p)));
    if m.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            walk(&e.unwrap().path(), out);
        }
    }
}

/// Fails listing every path under `roots` that is not 0600 (file) or 0700 (folder).
fn assert_private(roots: &[PathBuf]) {
    let mut all = Vec::new();
    for r in roots {
        walk(r, &mut all);
    }
    let loose: Vec<String> = all
        .iter()
        .filter(|(_, dir, m)| *m != if *dir { 0o700 } else { 0o600 })
        .map(|(p, _, m)| format!("{} {:o}", p.display(), m))
        .collect();
    assert!(loose.is_empty(), "not private: {loose:#?}");
    assert!(all.len() > roots.len(), "walked nothing");
}

#[test]
fn everything_written_is_private_to_its_owner() {
    let v = TestVault::new();
    let case = v.client_with_case("C1", "Liu Yang");
    v.process_note("wang", case, "met at home").ok();
    let out = v.tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o700)).unwrap();

    // An export: an access package and its receipt.
    let r = v
        .run(
            "wang",
            &[
                "--json",
                "request",
                "add",
                "--kind",
                "access",
                "--client",
                "C1",
                "--requester",
                "Liu Yang",
            ],
        )
        .ok();
    let rid = r.json()["id"].as_i64().unwrap().to_string();
    let pkg = out.join("pkg.age");
    // Released by a supervisor (a caseworker's waits for a checkpoint, issue 11 item 1).
    let mut c = v.as_("li");
    c.env(
        "CASEVAULT_PACKAGE_PASSPHRASE",
        "copper kettle migrant origami",
    )
    .args(["request", "fulfil", &rid, "--out", pkg.to_str().unwrap()]);
    run(c).ok();
    // A report, the log export (a folder it creates), the partner keys (a nested new folder).
    let report = out.join("audit.md");
    v.run(
        "audit",
        &["audit", "run", "--out", report.to_str().unwrap()],
    )
    .ok();
    let log_dir = out.join("log-export");
    v.run(
        "audit",
        &["log", "export", "--out", log_dir.to_str().unwrap()],
    )
    .ok();
    let keys = out.join("partner").join("keys");
    v.run(
        "admin",
        &["agency", "keygen", "--out-dir", keys.to_str().unwrap()],
    )
    .ok();

    assert!(pkg.exists() && report.exists() && log_dir.join("entries.bin").exists());
    assert!(keys.join("partner.agekey").exists());
    assert!(v.dir.join("vault.db").exists() && v.dir.join("vault.lock").exists());
    assert_private(&[v.dir.clone(), out, v.recovery_path()]);
}

#[test]
fn a_loosened_vault_is_tightened_when_opened() {
    let v = TestVault::new();
    let mut all = Vec::new();
    walk(&v.dir, &mut all);
    for (p, dir, _) in &all {
        let m = if *dir { 0o755 } else { 0o644 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    }
    assert_eq!(mode(&v.dir.join("staff").join("wang.age")), 0o644);
    let r = v.run("wang", &["case", "list"]).ok();
    assert!(r.stderr.contains("now private"), "{}", r.stderr);
    assert_private(std::slice::from_ref(&v.dir));
    // Said once: the next open finds nothing to tighten.
    let r = v.run("wang", &["case", "list"]).ok();
    assert!(!r.stderr.contains("now private"), "{}", r.stderr);
}

const WEAK: [&str; 4] = ["1", "password", "12345678", "阳光社工"];

#[test]
fn weak_passphrases_are_refused_at_init_and_nothing_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("tmp")).unwrap();
    let dir = tmp.path().join("vault");
    let recovery = tmp.path().join("recovery.txt");
    for (i, weak) in WEAK.iter().enumerate() {
        let mut c = cmd(&dir);
        if i == 3 {
            c.env("CASEVAULT_LANG", "zh");
        }
        c.env("CASEVAULT_NEW_PASSPHRASE", weak)
            .args(["init", "--agency", "Test Agency", "--admin", "admin"])
            .arg("--recovery-out")
            .arg(&recovery);
        let r = run(c).fails();
        if i == 3 {
            assert!(r.stderr.contains("新口令太弱"), "{}", r.stderr);
            assert!(r.stderr.contains("四个或更多"), "{}", r.stderr);
        } else {
            assert!(r.stderr.contains("too weak"), "{}", r.stderr);
            assert!(
                r.stderr.contains("four or more unrelated words"),
                "{}",
                r.stderr
            );
        }
        assert!(!dir.exists(), "a refused init must not create the vault");
        assert!(
            !recovery.exists(),
            "a refused init must not write the recovery key"
        );
    }
}

#[test]
fn weak_passphrases_are_refused_by_staff_passwd_and_staff_enrol() {
    let v = TestVault::new();
    let id = v.dir.join("staff").join("wang.age");
    let before = std::fs::read(&id).unwrap();
    for weak in WEAK {
        let mut c = v.as_("wang");
        c.env("CASEVAULT_NEW_PASSPHRASE", weak)
            .args(["staff", "passwd"]);
        let r = run(c).fails();
        assert!(r.stderr.contains("too weak"), "{}", r.stderr);
        assert_eq!(std::fs::read(&id).unwrap(), before, "identity changed");
    }
    // The old passphrase still opens the identity.
    v.run("wang", &["case", "list"]).ok();

    // Enrolling with a weak passphrase is refused before any key is written.
    let inv = v
        .run(
            "admin",
            &["--json", "staff", "add", "zhao", "--role", "caseworker"],
        )
        .ok()
        .json();
    let mut c = cmd(&v.dir);
    c.env("CASEVAULT_NEW_PASSPHRASE", "password").args([
        "staff",
        "enrol",
        "--invite",
        inv["invitation"].as_str().unwrap(),
    ]);
    let r = run(c).fails();
    assert!(r.stderr.contains("too weak"), "{}", r.stderr);
    assert!(!v.dir.join("staff").join("zhao.age").exists());
    let list = v.run("admin", &["--json", "staff", "list"]).ok();
    assert!(!list.stdout.contains("zhao"), "{}", list.stdout);

    // A strong one is taken, and opens the identity afterwards.
    let strong = "wang: orchard violin glacier 17";
    let mut c = v.as_("wang");
    c.env("CASEVAULT_NEW_PASSPHRASE", strong)
        .args(["staff", "passwd"]);
    run(c).ok();
    let mut c = cmd(&v.dir);
    c.args(["--as", "wang", "case", "list"])
        .env("CASEVAULT_PASSPHRASE", strong);
    run(c).ok();
    let _ = ADMIN_PW;
}

#[test]
fn a_weak_package_passphrase_is_refused_before_anything_is_logged() {
    let v = TestVault::new();
    v.client_with_case("C1", "Liu Yang");
    let r = v
        .run(
            "wang",
            &[
                "--json",
                "request",
                "add",
                "--kind",
                "access",
                "--client",
                "C1",
                "--requester",
                "Liu Yang",
            ],
        )
        .ok();
    let rid = r.json()["id"].as_i64().unwrap().to_string();
    let log_before = v.run("li", &["--json", "log", "show"]).ok().stdout;
    let pkg = v.tmp.path().join("pkg.age");
    let mut c = v.as_("wang");
    c.env("CASEVAULT_PACKAGE_PASSPHRASE", "12345678").args([
        "request",
        "fulfil",
        &rid,
        "--out",
        pkg.to_str().unwrap(),
    ]);
    let r = run(c).fails();
    assert!(r.stderr.contains("too weak"), "{}", r.stderr);
    assert!(!pkg.exists());
    assert_eq!(
        v.run("li", &["--json", "log", "show"]).ok().stdout,
        log_before
    );
}
