//! Upgrading a vault written before the checkpoint key left the database (commit cc44db4,
//! `meta.log_signing_key`): the fixture in tests/fixtures/pre-checkpoint-key was made by that
//! binary (scripts/make_upgrade_fixture.sh). The first supervisor session hands over from the
//! old key to its generation's key and deletes the old key in the same transaction; nothing
//! committed is lost, even when that session is killed at any point.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use casevault::log::{Checkpoint, VerifierKey};
use common::{copy_dir, run, Run, TestVault};
use ed25519_dalek::SigningKey;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pre-checkpoint-key")
}

/// A copy of the fixture in a fresh temporary folder, with the modes a vault has (git keeps
/// only the executable bit).
fn upgraded_copy() -> TestVault {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), tmp.path());
    restrict(tmp.path());
    std::fs::create_dir_all(tmp.path().join("tmp")).unwrap();
    let dir = tmp.path().join("vault");
    TestVault { tmp, dir }
}

fn restrict(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let mode = if p.is_dir() { 0o700 } else { 0o600 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        if p.is_dir() {
            restrict(&p);
        }
    }
}

/// The fixture's pinned log verifier key (what auditors and partners were given).
fn pinned_key() -> String {
    std::fs::read_to_string(fixture().join("log.key"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_string()
}

/// The old checkpoint key, as the database holds it (None once retired).
fn meta_key(v: &TestVault) -> Option<SigningKey> {
    let db = v.insider_db("wang");
    let raw: Option<Vec<u8>> = db
        .query_row(
            "SELECT value FROM meta WHERE key = 'log_signing_key'",
            [],
            |r| r.get(0),
        )
        .ok();
    raw.map(|r| SigningKey::from_bytes(&r.as_slice().try_into().unwrap()))
}

/// The handovers the vault recorded (`<size> <verifier key>` lines).
fn chain(v: &TestVault) -> Vec<String> {
    let db = v.insider_db("wang");
    db.query_row(
        "SELECT value FROM log_meta WHERE name = 'checkpoint_chain'",
        [],
        |r| r.get::<_, String>(0),
    )
    .map(|s| s.lines().map(str::to_string).collect())
    .unwrap_or_default()
}

/// The stored log entries, in order.
fn entries(v: &TestVault) -> Vec<Vec<u8>> {
    let db = v.insider_db("wang");
    let mut st = db
        .prepare("SELECT stored FROM log_entries ORDER BY idx")
        .unwrap();
    st.query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|s| s.unwrap())
        .collect()
}

/// `log verify --export DIR --key KEY` with no vault at all.
fn offline_cmd(out: &Path, key: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_casevault"));
    c.env_clear()
        .env("CASEVAULT_LANG", "en")
        .args([
            "--vault",
            "/nonexistent",
            "--json",
            "log",
            "verify",
            "--export",
        ])
        .arg(out)
        .args(["--key", key]);
    c
}

fn offline(out: &Path, key: &str) -> Run {
    run(offline_cmd(out, key))
}

fn export(v: &TestVault, name: &str) -> PathBuf {
    let out = v.tmp.path().join(name);
    v.run("audit", &["log", "export", "--out", out.to_str().unwrap()])
        .ok();
    out
}

/// The case's records as `who` lists them: (id, kind).
fn records(v: &TestVault, who: &str) -> Vec<(i64, String)> {
    let r = v
        .run(who, &["--json", "record", "list", "--case", "1"])
        .ok();
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap(),
                r["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every record reads: the caseworker's process notes, the supervisor's supervision note.
fn every_record_reads(v: &TestVault) {
    let all = records(v, "li");
    assert_eq!(all.len(), 4, "{all:?}");
    for (id, kind) in all {
        let who = if kind == "supervision" { "li" } else { "wang" };
        let r = v
            .run(who, &["--json", "record", "show", &id.to_string()])
            .ok();
        assert_eq!(r.json()["id"], id, "{}", r.stdout);
    }
}

#[test]
fn the_first_supervisor_session_hands_over_and_loses_nothing() {
    let v = upgraded_copy();
    let key = pinned_key();
    let old = meta_key(&v).expect("the fixture keeps the key in the database");
    let before = entries(&v);

    // Before any supervisor session: caseworker and auditor work, the log verifies.
    v.run("wang", &["case", "list"]).ok();
    for (id, kind) in records(&v, "wang") {
        if kind == "process" {
            v.run("wang", &["record", "show", &id.to_string()]).ok();
        }
    }
    v.run("audit", &["--json", "log", "verify"]).ok();
    assert_eq!(
        offline(&fixture().join("log-export"), &key).ok().json()["ok"],
        true
    );
    assert!(meta_key(&v).is_some(), "only a supervisor hands over");
    assert!(chain(&v).is_empty());

    // li's first session: one handover away from the old key, which is gone.
    v.run("li", &["case", "list"]).ok();
    assert!(meta_key(&v).is_none(), "the old key left the database");
    let ch = chain(&v);
    assert_eq!(ch.len(), 1, "{ch:?}");
    let origin = VerifierKey::parse(&key).unwrap().name;
    let old_vk = VerifierKey::new(&origin, old.verifying_key()).encode();
    assert_eq!(old_vk, key, "the old meta key is the pinned one");
    assert!(!ch[0].ends_with(&old_vk), "{ch:?}");
    let after = entries(&v);
    assert!(after.len() > before.len());
    assert_eq!(after[..before.len()], before[..], "no entry changed");

    v.run("audit", &["--json", "log", "verify"]).ok();
    v.run("li", &["--json", "log", "verify"]).ok();
    v.run("audit", &["audit", "run", "--format", "json"]).ok();
    every_record_reads(&v);
    // An export verifies offline from the old pinned key: the chain is followed.
    let out = export(&v, "after");
    let r = offline(&out, &key).ok();
    assert_eq!(r.json()["ok"], true, "{}", r.stdout);
    // A checkpoint an auditor saved before the upgrade (old key) is consistent with it.
    let saved = fixture().join("log-export/checkpoint.txt");
    let mut c = offline_cmd(&out, &key);
    c.arg("--checkpoint").arg(&saved);
    assert_eq!(run(c).ok().json()["ok"], true);

    // The packet released before the upgrade still verifies at the partner.
    let packet = v.tmp.path().join("packet.age");
    let mut c = std::process::Command::new("minisign");
    c.args(["-V", "-q", "-m"])
        .arg(&packet)
        .arg("-p")
        .arg(v.tmp.path().join("agency.pub"));
    match c.output() {
        Ok(o) => assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr)),
        Err(_) => assert!(
            std::env::var_os("CI").is_none(),
            "minisign is required in CI"
        ),
    }
    // The partner opens it with stock tools; its receipt (an entry under a checkpoint of the
    // old key) checks against the log after the upgrade.
    let receipt = v.tmp.path().join("partner");
    std::fs::create_dir_all(&receipt).unwrap();
    let script = format!(
        "age -d -i {keys}/partner.agekey {packet} | tar -x -C {dir} receipt.json",
        keys = v.tmp.path().join("keys-Partner").display(),
        packet = packet.display(),
        dir = receipt.display()
    );
    match std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
    {
        Ok(o) if o.status.success() => {
            let mut c = offline_cmd(&out, &key);
            c.arg("--checkpoint").arg(receipt.join("receipt.json"));
            let r = run(c).ok();
            assert_eq!(r.json()["ok"], true, "{}", r.stdout);
        }
        _ => assert!(
            std::env::var_os("CI").is_none(),
            "age and tar are required in CI"
        ),
    }
}

#[test]
fn the_old_meta_key_alone_signs_nothing_after_the_handover() {
    let v = upgraded_copy();
    let key = pinned_key();
    let origin = VerifierKey::parse(&key).unwrap().name;
    // Read before the upgrade, as anyone with a backup or the database key could.
    let old = meta_key(&v).unwrap();
    v.run("li", &["case", "list"]).ok();
    let handover: u64 = chain(&v)[0]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // A new entry after the handover (a supervisor's tier-3 read), signed by the new key.
    let sup = records(&v, "li")
        .into_iter()
        .find(|r| r.1 == "supervision")
        .unwrap()
        .0;
    v.run("li", &["record", "show", &sup.to_string()]).ok();
    let leaves: Vec<[u8; 32]> = entries(&v)
        .iter()
        .map(|s| casevault::log::merkle::leaf_hash(s))
        .collect();
    let n = leaves.len() as u64;
    assert!(n > handover, "{n} > {handover}");
    let cp = Checkpoint {
        origin,
        size: n,
        root: casevault::log::merkle::root(&leaves),
    };
    let db = v.insider_db("wang");
    let changed = db
        .execute(
            "UPDATE log_checkpoints SET note = ?1 WHERE size = ?2",
            rusqlite::params![cp.sign(&old), n as i64],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(db);

    // In the vault: refused (remembered state, and a fresh installation names the reason).
    let r = v.run("audit", &["--json", "log", "verify"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    let fresh = v.tmp.path().join("fresh-state");
    let mut c = v.as_("audit");
    c.env("CASEVAULT_STATE_DIR", &fresh)
        .args(["--json", "log", "verify"]);
    let r = run(c);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout.contains("replaced at size") || r.stderr.contains("replaced at size"),
        "{} {}",
        r.stdout,
        r.stderr
    );
    // Offline, from the pinned key.
    let out = v.tmp.path().join("forged");
    let mut c = v.as_("audit");
    c.env("CASEVAULT_STATE_DIR", &fresh)
        .args(["log", "export", "--out", out.to_str().unwrap()]);
    run(c).ok();
    let r = offline(&out, &key);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("replaced at size"), "{}", r.stdout);
    // The supervisor's next open alarms and signs nothing over it.
    let r = v.run("li", &["case", "list"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(!r.stderr.trim().is_empty());
}

/// Runs li's first session and kills it (SIGKILL) after `delay`; returns whether it finished.
fn killed_session(v: &TestVault, delay: Duration) -> bool {
    let mut c = v.as_("li");
    c.args(["case", "list"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    std::thread::sleep(delay);
    let done = child.try_wait().unwrap().is_some();
    let _ = child.kill();
    child.wait().unwrap();
    done
}

#[test]
fn a_killed_first_session_never_loses_the_old_key_or_data() {
    // How long the whole first session takes here.
    let v = upgraded_copy();
    let t = Instant::now();
    v.run("li", &["case", "list"]).ok();
    let full = t.elapsed();
    drop(v);

    let fixture_entries = entries(&upgraded_copy());
    let steps = 24u32;
    let mut interrupted = 0;
    for i in 0..=steps {
        let v = upgraded_copy();
        // A little past the measured end too: timing varies on a busy machine.
        let delay = full * i * 5 / (steps * 4);
        if !killed_session(&v, delay) {
            interrupted += 1;
        }
        // The old key is never gone without the handover committed.
        let retired = meta_key(&v).is_none();
        let handed = chain(&v).len();
        assert!(
            !retired || handed == 1,
            "killed after {delay:?}: key deleted, {handed} handovers"
        );
        assert!(
            retired || handed == 0,
            "killed after {delay:?}: handover kept the key"
        );
        // Whatever committed (also a new generation without its handover yet) verifies, and
        // the caseworker works.
        v.run("audit", &["--json", "log", "verify"]).ok();
        v.run("wang", &["case", "list"]).ok();
        // A normal session completes the upgrade; nothing is lost.
        v.run("li", &["case", "list"]).ok();
        assert!(meta_key(&v).is_none(), "killed after {delay:?}");
        assert_eq!(chain(&v).len(), 1, "killed after {delay:?}");
        let now = entries(&v);
        assert_eq!(
            now[..fixture_entries.len()],
            fixture_entries[..],
            "killed after {delay:?}"
        );
        v.run("audit", &["--json", "log", "verify"]).ok();
        every_record_reads(&v);
    }
    assert!(interrupted > 0, "no session was killed before it ended");
}
