//! Issue 11 item 1, the checkpoint key: held by supervisors only (not in the database), signs
//! no checkpoint in others' sessions, and rotates with a handover checkpoint co-signed by the
//! old and new keys that every verifier follows from the pinned key.

mod common;

use std::path::{Path, PathBuf};

use casevault::log::{Checkpoint, VerifierKey};
use common::{run, TestVault};
use ed25519_dalek::SigningKey;

/// The pinned verifier key, as an auditor gets it.
fn log_key(v: &TestVault) -> String {
    v.run("audit", &["log", "key"])
        .ok()
        .stdout
        .trim()
        .to_string()
}

fn export(v: &TestVault, name: &str) -> PathBuf {
    let out = v.tmp.path().join(name);
    v.run("audit", &["log", "export", "--out", out.to_str().unwrap()])
        .ok();
    out
}

/// `log verify --export` with no vault at all.
fn offline(out: &Path, key: &str) -> common::Run {
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
    run(c)
}

/// (entries stored, size of the newest checkpoint)
fn sizes(v: &TestVault) -> (u64, u64) {
    let db = v.insider_db("wang");
    let n: i64 = db
        .query_row("SELECT count(*) FROM log_entries", [], |r| r.get(0))
        .unwrap();
    let c: i64 = db
        .query_row("SELECT max(size) FROM log_checkpoints", [], |r| r.get(0))
        .unwrap();
    (n as u64, c as u64)
}

#[test]
fn a_caseworker_cannot_resign_a_truncated_log() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    v.supervision_note("wang", case, "words").ok();
    // The supervisor's session covers what the caseworker appended.
    v.run("li", &["case", "list"]).ok();
    let (n, c) = sizes(&v);
    assert_eq!(n, c, "a supervisor session checkpoints the head");
    let key = log_key(&v);

    // The caseworker with the database key: no checkpoint key anywhere she can read.
    let db = v.insider_db("wang");
    let in_meta: i64 = db
        .query_row(
            "SELECT count(*) FROM meta WHERE key = 'log_signing_key'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(in_meta, 0);
    let mine: i64 = db
        .query_row(
            "SELECT count(*) FROM supervisor_keys WHERE holder = 'wang'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(mine, 0);

    // She deletes the last entry and signs the shorter log with a key of her own.
    let origin = VerifierKey::parse(&key).unwrap().name;
    db.execute("DELETE FROM log_entries WHERE idx = ?1", [(n - 1) as i64])
        .unwrap();
    db.execute("DELETE FROM log_checkpoints", []).unwrap();
    let forged_key = SigningKey::from_bytes(&[7; 32]);
    let leaves: Vec<[u8; 32]> = {
        let mut st = db
            .prepare("SELECT stored FROM log_entries ORDER BY idx")
            .unwrap();
        st.query_map([], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(|s| casevault::log::merkle::leaf_hash(&s.unwrap()))
            .collect()
    };
    let cp = Checkpoint {
        origin,
        size: n - 1,
        root: casevault::log::merkle::root(&leaves),
    };
    db.execute(
        "INSERT INTO log_checkpoints (size, note, last_proof) VALUES (?1, ?2, x'')",
        rusqlite::params![(n - 1) as i64, cp.sign(&forged_key)],
    )
    .unwrap();
    drop(db);

    // In-vault verification and the audit refuse it; the supervisor's next open alarms.
    let r = v.run("audit", &["--json", "log", "verify"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    let r = v.run("audit", &["--json", "audit", "run"]);
    assert!(
        r.code != 0 || r.stdout.contains("critical"),
        "{} {}",
        r.stdout,
        r.stderr
    );
    let r = v.run("li", &["case", "list"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(!r.stderr.is_empty());
}

#[test]
fn caseworker_entries_are_not_covered_until_a_supervisor_opens() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    v.process_note("wang", case, "words").ok();
    let (n, c) = sizes(&v);
    assert!(
        c < n,
        "a caseworker's session signs no checkpoint ({c} of {n})"
    );
    let key = log_key(&v);
    // In the vault: a warning, not an error.
    let r = v.run("audit", &["--json", "log", "verify"]).ok();
    assert!(r.stdout.contains("not yet covered"), "{}", r.stdout);
    // Offline: not "verified".
    let out = export(&v, "before");
    let r = offline(&out, &key);
    assert_ne!(r.code, 0);
    assert_ne!(r.json()["ok"], true);
    assert!(
        r.json()["errors"].to_string().contains("not covered"),
        "{}",
        r.stdout
    );
    // A supervisor's session covers them.
    v.run("li", &["case", "list"]).ok();
    let (n2, c2) = sizes(&v);
    assert_eq!(n2, c2);
    let out = export(&v, "after");
    assert_eq!(offline(&out, &key).ok().json()["ok"], true);
}

/// A second supervisor zhao holds the current generation, leaves, and keeps a copy of its
/// checkpoint key; li's next session rotates.
fn rotated() -> (TestVault, SigningKey, String) {
    let v = TestVault::new();
    v.add_staff("zhao", "supervisor");
    v.run("li", &["staff", "grant", "zhao"]).ok();
    let db = v.insider_db("wang");
    let generation: i64 = db
        .query_row(
            "SELECT max(generation) FROM supervisor_keys WHERE holder = 'zhao'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(db);
    let old = v.generation_checkpoint_key("zhao", generation);
    let key = log_key(&v);
    v.run("admin", &["staff", "remove", "zhao"]).ok();
    v.run("li", &["case", "list"]).ok();
    (v, old, key)
}

#[test]
fn rotation_keeps_offline_verification_from_the_pinned_key() {
    let (v, old, key) = rotated();
    // The pinned key stays what auditors and partners were given.
    assert_eq!(log_key(&v), key);
    let chain: String = v
        .insider_db("wang")
        .query_row(
            "SELECT value FROM log_meta WHERE name = 'checkpoint_chain'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        chain.lines().count(),
        2,
        "founding -> li's -> the new one: {chain}"
    );
    // The departed supervisor's key was current once, and is not any more.
    let origin = VerifierKey::parse(&key).unwrap().name;
    let old_vk = VerifierKey::new(&origin, old.verifying_key()).encode();
    assert!(chain.lines().next().unwrap().ends_with(&old_vk), "{chain}");
    assert!(!chain.lines().last().unwrap().ends_with(&old_vk), "{chain}");
    let case = v.client_with_case("C001", "Zhang San");
    v.process_note("wang", case, "after the rotation").ok();
    v.run("li", &["case", "list"]).ok();
    v.run("li", &["--json", "log", "verify"]).ok();
    let out = export(&v, "rotated");
    let r = offline(&out, &key).ok();
    assert_eq!(r.json()["ok"], true, "{}", r.stdout);
}

#[test]
fn an_old_checkpoint_key_signs_nothing_after_rotation() {
    let (v, old, key) = rotated();
    let origin = VerifierKey::parse(&key).unwrap().name;
    let case = v.client_with_case("C001", "Zhang San");
    v.run("li", &["case", "list"]).ok();
    let out = export(&v, "good");
    offline(&out, &key).ok();

    // The departed supervisor (with a database copy) signs the head with her old key only.
    let db = v.insider_db("wang");
    let (n, _) = sizes(&v);
    let leaves: Vec<[u8; 32]> = {
        let mut st = db
            .prepare("SELECT stored FROM log_entries ORDER BY idx")
            .unwrap();
        st.query_map([], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(|s| casevault::log::merkle::leaf_hash(&s.unwrap()))
            .collect()
    };
    let cp = Checkpoint {
        origin: origin.clone(),
        size: n,
        root: casevault::log::merkle::root(&leaves),
    };
    let forged = cp.sign(&old);
    db.execute(
        "UPDATE log_checkpoints SET note = ?1 WHERE size = ?2",
        rusqlite::params![forged, n as i64],
    )
    .unwrap();
    drop(db);
    // In-vault: the auditor's open already refuses it (its remembered state cannot follow a
    // checkpoint the chain refuses); a fresh installation's `log verify` names the reason.
    let r = v.run("audit", &["--json", "log", "verify"]);
    assert_ne!(r.code, 0);
    assert!(!r.stderr.is_empty() || r.stdout.contains("replaced at size"));
    let mut c = v.as_("audit");
    c.env("CASEVAULT_STATE_DIR", v.tmp.path().join("fresh-state"))
        .args(["--json", "log", "verify"]);
    let r = run(c);
    assert!(
        r.stdout.contains("replaced at size") || r.stderr.contains("replaced at size"),
        "{} {}",
        r.stdout,
        r.stderr
    );
    // Offline (exported by an installation that never saw the log before).
    let out = v.tmp.path().join("forged");
    let mut c = v.as_("audit");
    c.env("CASEVAULT_STATE_DIR", v.tmp.path().join("fresh-state"))
        .args(["log", "export", "--out", out.to_str().unwrap()]);
    run(c).ok();
    let r = offline(&out, &key);
    assert_ne!(r.code, 0);
    assert!(r.stdout.contains("replaced at size"), "{}", r.stdout);

    // Deleting the handovers so the old key looks current again: the generations' signed
    // claims and the remembered state refuse it.
    let db = v.insider_db("wang");
    db.execute("DELETE FROM log_meta WHERE name = 'checkpoint_chain'", [])
        .unwrap();
    drop(db);
    let r = v.run("audit", &["--json", "log", "verify"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    let r = v.run("li", &["case", "show", &case.to_string()]);
    assert_ne!(r.code, 0, "{}", r.stdout);
}

/// Our witness follows the same chain: a handover co-signed by the current key and a candidate
/// the operator added moves it; afterwards the old key alone gets 403.
#[test]
fn the_witness_follows_the_handover_and_refuses_the_old_key() {
    use base64::Engine;
    use casevault::log::merkle::{consistency_proof, leaf_hash, root};
    let b64 = |h: &[u8; 32]| base64::engine::general_purpose::STANDARD.encode(h);
    let dir = tempfile::tempdir().unwrap();
    casevault::witness::init(dir.path(), "w.example/w1").unwrap();
    let w = casevault::witness::Witness::open(dir.path()).unwrap();
    let origin = "casevault.local/test";
    let (k0, k1) = (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    );
    let vk = |k: &SigningKey| VerifierKey::new(origin, k.verifying_key()).encode();
    w.add_log(origin, &vk(&k0)).unwrap();
    let leaves: Vec<[u8; 32]> = (0..4u8).map(|i| leaf_hash(&[i])).collect();
    let cp = |n: u64| Checkpoint {
        origin: origin.into(),
        size: n,
        root: root(&leaves[..n as usize]),
    };
    let body = |old: u64, note: &str| {
        let mut h = format!("old {old}");
        let n = Checkpoint::parse_unverified(note).unwrap().size;
        if old > 0 && old < n {
            for p in consistency_proof(&leaves[..n as usize], old).unwrap() {
                h.push('\n');
                h.push_str(&b64(&p));
            }
        }
        format!("{h}\n\n{note}")
    };
    let add = |old: u64, note: &str| w.add_checkpoint(body(old, note).as_bytes(), 1_700_000_000);
    assert_eq!(add(0, &cp(1).sign(&k0)).status, 200);
    // The operator adds the agency's announced next key: it signs nothing on its own.
    w.add_log(origin, &vk(&k1)).unwrap();
    assert_eq!(add(1, &cp(2).sign(&k1)).status, 403);
    // The handover, co-signed by the current key and the new one.
    assert_eq!(add(1, &cp(2).sign_all(&[&k0, &k1])).status, 200);
    // After it, the old key alone is refused; the new one is accepted.
    assert_eq!(add(2, &cp(3).sign(&k0)).status, 403);
    assert_eq!(add(2, &cp(3).sign(&k1)).status, 200);
    // The vault's handover notes name the new key: no configuration needed to follow them.
    let k2 = SigningKey::from_bytes(&[3; 32]);
    assert_eq!(add(3, &cp(4).sign_handover(&k1, &k2)).status, 200);
    assert_eq!(add(4, &cp(4).sign(&k1)).status, 403);
    assert_eq!(add(4, &cp(4).sign(&k2)).status, 200);
}

/// The insider test of issue 11 (round 3): a caseworker edits an entry no checkpoint covers yet
/// and rebuilds the tree's frontier to match; the supervisor's next session must not sign a
/// checkpoint over it.
#[test]
fn a_supervisor_signs_no_checkpoint_over_an_edited_uncovered_entry() {
    use casevault::log::merkle::{leaf_hash, Frontier};
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    v.run("li", &["case", "list"]).ok();
    v.process_note("wang", case, "first session").ok();
    let (n, c) = sizes(&v);
    assert!(n > c, "the caseworker's entries are not covered yet");

    let db = v.insider_db("wang");
    let mut stored: Vec<Vec<u8>> = db
        .prepare("SELECT stored FROM log_entries ORDER BY idx")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    // One byte of the last (uncovered) entry's content changed, the signature left as it was.
    let last = stored.len() - 1;
    stored[last][12] ^= 0x01;
    db.execute(
        "UPDATE log_entries SET stored = ?1 WHERE idx = ?2",
        rusqlite::params![stored[last], last as i64],
    )
    .unwrap();
    let mut f = Frontier::default();
    for s in &stored {
        f.push(leaf_hash(s));
    }
    common::store_frontier(&db, &f);
    drop(db);

    let r = v.run("li", &["case", "list"]);
    let after = sizes(&v);
    assert_eq!(
        after.1, c,
        "no checkpoint was signed over the edited entry: {}",
        r.stderr
    );
    assert!(r.stderr.contains("does not verify"), "{}", r.stderr);
}
