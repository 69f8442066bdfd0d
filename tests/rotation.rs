//! Database key rotation (offboarding) against concurrent sessions, a crash at every step and a
//! full disk: no committed data is lost, the recovery key and every remaining member always
//! open the vault, and a rotation that could not finish stays visible until it does.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{run, Run, TestVault};

/// Opens `vault.db` with the recovery key alone, as stock tools would: decrypt `dbkey.age` (or
/// the pending `dbkey.next.age`) and try it as the raw SQLCipher key. Returns the record count.
fn recovery_opens(v: &TestVault) -> i64 {
    let text = std::fs::read_to_string(v.recovery_path()).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap();
    let id: age::x25519::Identity = line.parse().unwrap();
    for name in ["dbkey.age", "dbkey.next.age"] {
        let Ok(wrapped) = std::fs::read(v.dir.join("keys").join(name)) else {
            continue;
        };
        let Ok(dec) = age::Decryptor::new(&wrapped[..]) else {
            continue;
        };
        let Ok(mut r) = dec.decrypt(std::iter::once(&id as &dyn age::Identity)) else {
            continue;
        };
        let mut key = Vec::new();
        std::io::Read::read_to_end(&mut r, &mut key).unwrap();
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let conn = rusqlite::Connection::open(v.dir.join("vault.db")).unwrap();
        conn.execute_batch("PRAGMA cipher_log_level = NONE;")
            .unwrap();
        conn.execute_batch(&format!("PRAGMA key = \"x'{hex}'\";"))
            .unwrap();
        if let Ok(n) = conn.query_row("SELECT count(*) FROM records", [], |r| r.get(0)) {
            return n;
        }
    }
    panic!("the recovery key opens no database key file that opens vault.db");
}

/// A vault with one case holding a few records, and extra caseworkers to remove.
fn vault_with_records(extra: usize) -> TestVault {
    let v = TestVault::new();
    v.run(
        "wang",
        &[
            "client",
            "add",
            "--number",
            "C1",
            "--name",
            "Zhang",
            "--birth-date",
            "1980-01-01",
        ],
    )
    .ok();
    v.run("wang", &["case", "open", "C1", "--source", "self"])
        .ok();
    for i in 0..3 {
        add_record(&v, "wang", &format!("note {i}"));
    }
    for i in 0..extra {
        v.add_staff(&format!("x{i}"), "caseworker");
    }
    v
}

fn add_record(v: &TestVault, who: &str, text: &str) -> Run {
    let fields = format!(
        r#"{{"client_number":"C1","date":"2026-01-02","session_aim":"aim","narrative":"{text}"}}"#
    );
    v.run_stdin(
        who,
        &[
            "record", "add", "--case", "1", "--kind", "process", "--fields", "-",
        ],
        &fields,
    )
}

fn records(v: &TestVault, who: &str) -> usize {
    v.run(who, &["--json", "record", "list", "--case", "1"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .len()
}

fn pending(v: &TestVault) -> Vec<String> {
    v.run("admin", &["--json", "staff", "list"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["rotation_pending"].as_bool().unwrap())
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

fn audit_ids(v: &TestVault) -> Vec<String> {
    let r = v.run("audit", &["audit", "run", "--format", "json"]);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap().to_string())
        .collect()
}

/// `who` opens the vault with a command of their role.
fn opens(v: &TestVault, who: &str) {
    let args: &[&str] = match who {
        "admin" => &["staff", "list"],
        "audit" => &["log", "verify"],
        _ => &["case", "list"],
    };
    v.run(who, args).ok();
}

/// Everyone who should still open the vault does, and the removed member cannot.
fn everyone_opens(v: &TestVault, removed: &[&str], n_records: usize) {
    for who in ["admin", "li", "wang", "chen", "audit"] {
        opens(v, who);
    }
    assert_eq!(records(v, "li"), n_records);
    assert_eq!(recovery_opens(v) as usize, n_records);
    for r in removed {
        assert!(!v.dir.join("staff").join(format!("{r}.age")).exists());
    }
}

#[test]
fn removals_while_others_open_the_vault() {
    let v = vault_with_records(20);
    let stop = Arc::new(AtomicBool::new(false));
    let mut loops = Vec::new();
    for who in ["wang", "li"] {
        let mut base = v.as_(who);
        base.args(["case", "list"]);
        let dir = v.dir.clone();
        let stop = stop.clone();
        let who = who.to_string();
        loops.push(std::thread::spawn(move || {
            let mut runs = 0;
            while !stop.load(Ordering::Relaxed) {
                let mut c = common::cmd(&dir);
                c.args(["--as", &who, "case", "list"])
                    .env("CASEVAULT_PASSPHRASE", TestVault::passphrase(&who));
                let r = run(c);
                // Allowed: success, or the clear "rotation running" busy message.
                assert!(
                    r.code == 0 || r.stderr.contains("being rotated"),
                    "opener failed during a rotation: {}",
                    r.stderr
                );
                runs += 1;
            }
            runs
        }));
    }
    for i in 0..20 {
        let mut c = v.as_("admin");
        c.env("CASEVAULT_LOCK_WAIT_MS", "60000")
            .args(["staff", "remove", &format!("x{i}")]);
        run(c).ok();
    }
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        assert!(l.join().unwrap() > 0);
    }
    let removed: Vec<String> = (0..20).map(|i| format!("x{i}")).collect();
    let refs: Vec<&str> = removed.iter().map(|s| s.as_str()).collect();
    everyone_opens(&v, &refs, 3);
    assert!(pending(&v).is_empty());
    assert!(!v.dir.join("keys/dbkey.next.age").exists());
    assert!(!v.dir.join("vault.db.next").exists());
    v.run("audit", &["log", "verify"]).ok();
}

#[test]
fn deferred_rotation_is_visible_and_finished_later() {
    let v = vault_with_records(1);
    // Another session holds the vault (shared lock) for the whole removal.
    let lock = std::fs::File::open(v.dir.join("vault.lock")).unwrap();
    lock.lock_shared().unwrap();
    let mut c = v.as_("admin");
    c.env("CASEVAULT_LOCK_WAIT_MS", "300")
        .args(["staff", "remove", "x0"]);
    let r = run(c).fails();
    assert!(r.stderr.contains("staff rotate"), "{}", r.stderr);
    drop(lock);

    // The member is inactive and their old key still opens: said everywhere.
    assert_eq!(pending(&v), vec!["x0".to_string()]);
    let text = v.run("admin", &["staff", "list"]).ok();
    assert!(text.stdout.contains("staff rotate"), "{}", text.stdout);
    assert!(audit_ids(&v).contains(&"keys.rotation_pending".to_string()));
    // The next admin session, not on a terminal, says it and what to run.
    let r = v.run("admin", &["agency", "list"]).ok();
    assert!(r.stderr.contains("staff rotate"), "{}", r.stderr);
    // A caseworker's session is not bothered with it.
    let r = v.run("wang", &["case", "list"]).ok();
    assert!(!r.stderr.contains("staff rotate"));

    v.run("admin", &["staff", "rotate"]).ok();
    assert!(pending(&v).is_empty());
    assert!(!audit_ids(&v).contains(&"keys.rotation_pending".to_string()));
    everyone_opens(&v, &["x0"], 3);
}

#[test]
fn a_crash_at_any_step_loses_nothing() {
    for step in ["next_key_written", "copy_written", "swapped", "key_renamed"] {
        let v = vault_with_records(1);
        // The departed member keeps copies of their identity and of the key file.
        let kept_id = std::fs::read(v.dir.join("staff/x0.age")).unwrap();
        let kept_key = std::fs::read(v.dir.join("keys/dbkey.age")).unwrap();
        let mut c = v.as_("admin");
        c.env("CASEVAULT_TEST_CRASH_AT", step)
            .args(["staff", "remove", "x0"]);
        let r = run(c);
        assert_ne!(r.code, 0, "{step}: the crash hook did not fire");

        // Every remaining member and the recovery key open it, with every record.
        for who in ["admin", "li", "wang", "chen", "audit"] {
            opens(&v, who);
        }
        assert_eq!(records(&v, "li"), 3, "{step}");
        assert_eq!(recovery_opens(&v), 3, "{step}");
        // Work goes on, and the rotation is finished (or was already) by `staff rotate`.
        add_record(&v, "wang", "after the crash").ok();
        if step != "key_renamed" {
            assert_eq!(pending(&v), vec!["x0".to_string()], "{step}");
        }
        v.run("admin", &["staff", "rotate"]).ok();
        assert!(pending(&v).is_empty(), "{step}");
        everyone_opens(&v, &["x0"], 4);

        // The old identity and old key file open nothing now.
        std::fs::write(v.dir.join("staff/x0.age"), &kept_id).unwrap();
        std::fs::write(v.dir.join("keys/dbkey.age.kept"), &kept_key).unwrap();
        let r = v.run("x0", &["case", "list"]).fails();
        assert!(!r.stderr.contains("panicked"));
        std::fs::remove_file(v.dir.join("staff/x0.age")).unwrap();
        std::fs::remove_file(v.dir.join("keys/dbkey.age.kept")).unwrap();
        v.run("audit", &["log", "verify"]).ok();
    }
}

/// A size-limited tmpfs for the full-disk test; unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_during_rotation_loses_nothing() {
    let outer = tempfile::tempdir().unwrap();
    let mnt = outer.path().join("small");
    let Some(fs) = Tmpfs::mount(&mnt, "16m") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must be able to mount a tmpfs (runs as root)"
        );
        eprintln!("skipping: cannot mount a tmpfs here (needs root)");
        return;
    };
    // The vault lives on the small filesystem.
    let v = vault_on(&fs.0);
    v.run(
        "wang",
        &[
            "client",
            "add",
            "--number",
            "C1",
            "--name",
            "Zhang",
            "--birth-date",
            "1980-01-01",
        ],
    )
    .ok();
    v.run("wang", &["case", "open", "C1", "--source", "self"])
        .ok();
    let big = "x".repeat(15_000);
    for i in 0..40 {
        add_record(&v, "wang", &format!("{i} {big}")).ok();
    }
    v.add_staff("x0", "caseworker");
    let db = std::fs::metadata(v.dir.join("vault.db")).unwrap().len();
    // Leave about half the database's size free: the copy cannot fit.
    fill(&fs.0, db / 2);
    let r = v.run("admin", &["staff", "remove", "x0"]).fails();
    assert!(r.stderr.contains("staff rotate"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
    for who in ["admin", "li", "wang", "chen", "audit"] {
        opens(&v, who);
    }
    assert_eq!(records(&v, "li"), 40);
    assert_eq!(recovery_opens(&v), 40);
    assert_eq!(pending(&v), vec!["x0".to_string()]);
    assert!(!v.dir.join("vault.db.next").exists());
    // Room again: the rotation finishes.
    std::fs::remove_file(fs.0.join("filler")).unwrap();
    v.run("admin", &["staff", "rotate"]).ok();
    assert!(pending(&v).is_empty());
    for who in ["admin", "li", "wang", "chen", "audit"] {
        opens(&v, who);
    }
    assert_eq!(records(&v, "li"), 40);
    assert_eq!(recovery_opens(&v), 40);
    drop(v);
}

/// A test vault whose directory is `root/vault` (the recovery key beside it).
fn vault_on(root: &Path) -> TestVault {
    let tmp = tempfile::tempdir_in(root).unwrap();
    std::fs::create_dir_all(tmp.path().join("tmp")).unwrap();
    let dir = tmp.path().join("vault");
    let v = TestVault { dir, tmp };
    let mut c = common::cmd(&v.dir);
    c.env("CASEVAULT_NEW_PASSPHRASE", common::ADMIN_PW)
        .args([
            "init",
            "--agency",
            "Test",
            "--admin",
            "admin",
            "--recovery-shares",
            "1/1",
            "--recovery-out",
        ])
        .arg(v.recovery_path());
    run(c).ok();
    for (n, r) in [
        ("li", "supervisor"),
        ("wang", "caseworker"),
        ("chen", "caseworker"),
        ("audit", "auditor"),
    ] {
        v.add_staff(n, r);
    }
    // The supervisor's first session makes the supervisor key new case epochs need.
    v.run("li", &["case", "list"]).ok();
    v
}

/// Fills the filesystem at `root` until about `leave` bytes are free.
fn fill(root: &Path, leave: u64) {
    use std::io::Write;
    let mut f = std::fs::File::create(root.join("filler")).unwrap();
    let mut todo = free_bytes(root).saturating_sub(leave);
    let chunk = vec![0u8; 64 * 1024];
    while todo > 0 {
        let n = todo.min(chunk.len() as u64) as usize;
        if f.write_all(&chunk[..n]).is_err() {
            break;
        }
        todo -= n as u64;
    }
    f.sync_all().ok();
}

/// Free bytes on the filesystem at `root` (from `df`, to stay free of unsafe code).
fn free_bytes(root: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(root)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}
