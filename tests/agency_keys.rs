//! Issue 11, item 1: the agency's packet and inbound keys are held by supervisors only,
//! packets leave on a supervisor's release, and the keys rotate when a supervisor leaves with
//! a statement partners check with stock `minisign`.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn tool(name: &str) -> bool {
    let ok = Command::new(name).arg("-h").output().is_ok();
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "{name} is required in CI");
        eprintln!("!!!!!! SKIPPING stock-tool checks: `{name}` is not installed !!!!!!");
    }
    ok
}

fn minisign_ok(file: &Path, sig: &Path, pubkey: &str) -> bool {
    Command::new("minisign")
        .args(["-V", "-q", "-P", pubkey, "-m"])
        .arg(file)
        .arg("-x")
        .arg(sig)
        .output()
        .unwrap()
        .status
        .success()
}

fn our_key(v: &TestVault) -> serde_json::Value {
    v.run("audit", &["--json", "agency", "key"]).ok().json()
}

/// A case with a note and a consent for "Partner"; returns (case, consent).
fn ready(v: &TestVault) -> (i64, String) {
    let case = v.client_with_case("C001", "Zhang San");
    v.process_note("wang", case, "first session").ok();
    v.partner("Partner");
    let c = v.run("wang", CONSENT_C001_PARTNER).ok().json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    (case, c)
}

fn export_args<'a>(case: &'a str, consent: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "--json",
        "referral",
        "export",
        "--case",
        case,
        "--to",
        "Partner",
        "--consent",
        consent,
        "--purpose",
        "housing support",
        "--out",
        out,
    ]
}

fn log_kinds(v: &TestVault, kind: &str) -> usize {
    v.run("audit", &["--json", "log", "show", "--kind", kind])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn a_caseworker_export_waits_for_a_supervisor_release() {
    let v = TestVault::new();
    let (case, consent) = ready(&v);
    let out = v.tmp.path().join("packet.age");
    let case_s = case.to_string();
    let r = v
        .run(
            "wang",
            &export_args(&case_s, &consent, out.to_str().unwrap()),
        )
        .ok();
    let j = r.json();
    assert_eq!(j["released"], false, "{j}");
    let id = j["release_request"].as_i64().unwrap().to_string();
    // Nothing left, nothing logged yet.
    assert!(!out.exists());
    assert_eq!(log_kinds(&v, "referral_export"), 0);

    // The supervisor sees what would leave, then releases it.
    let pending = v.run("li", &["--json", "referral", "pending"]).ok().json();
    assert_eq!(pending[0]["id"].as_i64().unwrap().to_string(), id);
    assert_eq!(pending[0]["records"][0]["kind"], "process");
    assert_eq!(pending[0]["requested_by"], "wang");
    assert_eq!(pending[0]["purpose"], "housing support");
    let digest = pending[0]["digest"].as_str().unwrap().to_string();
    let release = |who: &str, digest: &str, out: &Path| {
        v.run(
            who,
            &[
                "--json",
                "referral",
                "release",
                &id,
                "--digest",
                digest,
                "--out",
                out.to_str().unwrap(),
            ],
        )
    };
    // A caseworker cannot release (or release their own request).
    let r = release("wang", &digest, &out).fails();
    assert!(r.stderr.contains("only supervisors"), "{}", r.stderr);

    // An insider widens the request after the supervisor reviewed it: the digest no longer
    // matches, and nothing leaves (found by the insider test of issue 11).
    let db = v.insider_db("audit");
    let text: String = db
        .query_row("SELECT request FROM referral_releases", [], |r| r.get(0))
        .unwrap();
    db.execute(
        "UPDATE referral_releases SET request = ?1",
        [text.replace("housing support", "housing support!")],
    )
    .unwrap();
    let r = release("li", &digest, &out).fails();
    assert!(r.stderr.contains("not what you reviewed"), "{}", r.stderr);
    assert!(!out.exists());
    db.execute("UPDATE referral_releases SET request = ?1", [&text])
        .unwrap();
    // The case column and the request must agree.
    db.execute("UPDATE referral_releases SET case_id = case_id + 100", [])
        .unwrap();
    let changed = v.run("li", &["--json", "referral", "pending"]).ok().json();
    assert!(changed.as_array().unwrap().is_empty() || changed[0]["digest"] != digest.as_str());
    db.execute("UPDATE referral_releases SET case_id = case_id - 100", [])
        .unwrap();
    drop(db);

    // A record added to the case after the review does not join the release: the request
    // fixed its records when it was made.
    v.process_note("wang", case, "written after the review")
        .ok();
    let r = release("li", &digest, &out).ok();
    assert_eq!(
        r.json()["referral"]["records"].as_array().unwrap().len(),
        pending[0]["records"].as_array().unwrap().len()
    );
    assert_eq!(r.json()["released"], true);
    assert!(out.exists());
    let log = v
        .run(
            "audit",
            &["--json", "log", "show", "--kind", "referral_export"],
        )
        .ok()
        .json();
    assert_eq!(log.as_array().unwrap().len(), 1);
    assert_eq!(log[0]["actor"], "li");

    // Released once: a second release finds nothing, and the list is empty.
    let again = v.tmp.path().join("again.age");
    release("li", &digest, &again).fails();
    assert!(!again.exists());
    let pending = v.run("li", &["--json", "referral", "pending"]).ok().json();
    assert!(pending.as_array().unwrap().is_empty(), "{pending}");

    // The partner verifies it with stock minisign and the key we publish.
    if tool("minisign") {
        let key = our_key(&v)["minisign_public_key"]
            .as_str()
            .unwrap()
            .to_string();
        let sig = v.tmp.path().join("packet.age.minisig");
        assert!(minisign_ok(&out, &sig, &key));
    }
}

#[test]
fn agency_secrets_are_not_in_the_database_and_only_supervisors_hold_them() {
    let v = TestVault::new();
    let db = v.insider_db("wang");
    let meta: Vec<String> = db
        .prepare("SELECT key FROM meta")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!meta.iter().any(|k| k == "inbound_identity"), "{meta:?}");
    // Nor the checkpoint key (issue 11): no database-held agency key at all.
    assert!(!meta.iter().any(|k| k == "log_signing_key"), "{meta:?}");
    // The wrappings of the generation are for supervisors and the recovery key only (the
    // founding checkpoint key, generation 0, is the founder's too until a supervisor's
    // generation takes over from it).
    let holders: Vec<String> = db
        .prepare("SELECT DISTINCT holder FROM supervisor_keys WHERE generation > 0 ORDER BY holder")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(holders, vec!["@recovery".to_string(), "li".to_string()]);
    // A caseworker and an auditor are refused the packet key's work.
    let out = v.tmp.path().join("x.age");
    let r = v
        .run(
            "audit",
            &["referral", "resend", "1", "--out", out.to_str().unwrap()],
        )
        .fails();
    assert!(!r.stderr.is_empty());
}

#[test]
fn a_supervisor_leaving_rotates_the_keys_with_a_statement_partners_check() {
    let v = TestVault::new();
    v.add_staff("zhao", "supervisor");
    v.run("li", &["staff", "grant", "zhao"]).ok();
    let (case, consent) = ready(&v);
    let before = our_key(&v);
    let k1 = before["minisign_public_key"].as_str().unwrap().to_string();
    let in1 = before["inbound_age_recipient"]
        .as_str()
        .unwrap()
        .to_string();

    // A copy of the vault as zhao could keep it before she leaves.
    let backup = v.tmp.path().join("backup");
    copy_dir(&v.dir, &backup);

    v.run("admin", &["staff", "remove", "zhao"]).ok();
    // Until a supervisor opens the vault the keys are stale; li's session makes new ones.
    v.run("li", &["case", "list"]).ok();
    let after = our_key(&v);
    let k2 = after["minisign_public_key"].as_str().unwrap().to_string();
    assert_ne!(k1, k2);
    assert_ne!(
        in1,
        after["inbound_age_recipient"].as_str().unwrap(),
        "the inbound key rotates too"
    );
    assert_eq!(after["stale"], false);

    // The statement: signed by the old key and by the new one, naming both.
    let st = v.tmp.path().join("keys.txt");
    v.run(
        "audit",
        &["agency", "key", "--statement", st.to_str().unwrap()],
    )
    .ok();
    let text = std::fs::read_to_string(&st).unwrap();
    assert!(text.contains(&format!("packet-key: {k2}")), "{text}");
    assert!(
        text.contains(&format!("previous-packet-key: {k1}")),
        "{text}"
    );
    if tool("minisign") {
        let new_sig = v.tmp.path().join("keys.txt.minisig");
        let old_sig = v.tmp.path().join("keys.txt.previous.minisig");
        assert!(minisign_ok(&st, &new_sig, &k2));
        assert!(minisign_ok(&st, &old_sig, &k1));
        assert!(!minisign_ok(&st, &new_sig, &k1));
    }

    // A packet released now is signed with the new key only.
    let out = v.tmp.path().join("p.age");
    let case_s = case.to_string();
    v.run("li", &export_args(&case_s, &consent, out.to_str().unwrap()))
        .ok();
    if tool("minisign") {
        let sig = v.tmp.path().join("p.age.minisig");
        assert!(minisign_ok(&out, &sig, &k2));
        assert!(!minisign_ok(&out, &sig, &k1));
    }

    // zhao, on her backup copy, can still sign with the old key: a partner following the
    // rotation (verifying with the new key) refuses it.
    let forged = v.tmp.path().join("forged.age");
    let mut c = cmd(&backup);
    c.env("CASEVAULT_PASSPHRASE", TestVault::passphrase("zhao"))
        .env("CASEVAULT_STATE_DIR", v.tmp.path().join("zhao-state"))
        .args(["--as", "zhao"])
        .args(export_args(&case_s, &consent, forged.to_str().unwrap()));
    let r = run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    if tool("minisign") {
        let sig = v.tmp.path().join("forged.age.minisig");
        assert!(minisign_ok(&forged, &sig, &k1));
        assert!(
            !minisign_ok(&forged, &sig, &k2),
            "a departed supervisor's old key must not pass for the current one"
        );
    }
}

/// A packet from `a` to `b` ("Second" at `a`, "First" at `b`); returns its path.
fn send(a: &TestVault, case: i64, name: &str) -> std::path::PathBuf {
    let consent = a.run("wang", &consent_c001("Second")).ok().json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let out = a.tmp.path().join(name);
    let case_s = case.to_string();
    let mut args = export_args(&case_s, &consent, out.to_str().unwrap());
    args[6] = "Second";
    a.run("li", &args).ok();
    out
}

#[test]
fn a_partner_records_our_rotation_only_with_both_signatures() {
    let a = TestVault::new();
    let b = TestVault::new();
    let field = |v: &TestVault, args: &[&str], f: &str| {
        v.run("admin", args).ok().json()[f]
            .as_str()
            .unwrap()
            .to_string()
    };
    a.run(
        "admin",
        &[
            "agency",
            "add",
            "Second",
            "--age-recipient",
            &field(&b, &["--json", "agency", "inbound-key"], "age_recipient"),
            "--minisign-pubkey",
            &field(&b, &["--json", "agency", "key"], "minisign_public_key"),
        ],
    )
    .ok();
    let register_first = |at: &TestVault| {
        at.run(
            "admin",
            &[
                "agency",
                "add",
                "First",
                "--age-recipient",
                &field(&a, &["--json", "agency", "inbound-key"], "age_recipient"),
                "--minisign-pubkey",
                &field(&a, &["--json", "agency", "key"], "minisign_public_key"),
            ],
        )
        .ok();
    };
    register_first(&b);
    let old_pub = field(&a, &["--json", "agency", "key"], "minisign_public_key");
    let case = a.client_with_case("C001", "Zhang San");
    a.process_note("wang", case, "first session").ok();

    // The sender's supervisor leaves: new keys, and a statement.
    a.add_staff("zhao", "supervisor");
    a.run("admin", &["staff", "remove", "zhao"]).ok();
    a.run("li", &["case", "list"]).ok();
    let st = a.tmp.path().join("keys.txt");
    a.run(
        "audit",
        &["agency", "key", "--statement", st.to_str().unwrap()],
    )
    .ok();
    let p = send(&a, case, "after.age");
    let verify = |who: &str| {
        b.run(
            who,
            &["packet", "verify", p.to_str().unwrap(), "--from", "First"],
        )
    };
    // Before the update the receiver knows only the old key: refused.
    verify("li").fails();

    // Forgeries: the new key's signature in place of the old one's; a statement naming
    // another previous key (signed by its own keys); a caseworker may not record it.
    let forged = a.tmp.path().join("forged.txt");
    std::fs::copy(&st, &forged).unwrap();
    std::fs::copy(
        a.tmp.path().join("keys.txt.minisig"),
        a.tmp.path().join("forged.txt.minisig"),
    )
    .unwrap();
    std::fs::copy(
        a.tmp.path().join("keys.txt.minisig"),
        a.tmp.path().join("forged.txt.previous.minisig"),
    )
    .unwrap();
    let new_id = field(&a, &["--json", "agency", "key"], "key_id");
    let update = |who: &str, st: &Path, key_id: &str| {
        b.run(
            who,
            &[
                "agency",
                "update",
                "First",
                "--statement",
                st.to_str().unwrap(),
                "--key-id",
                key_id,
            ],
        )
    };
    let r = update("admin", &forged, &new_id).fails();
    assert!(
        r.stderr.contains("signatures do not verify"),
        "{}",
        r.stderr
    );
    let c = TestVault::new();
    let other = c.tmp.path().join("other.txt");
    c.add_staff("zhao", "supervisor");
    c.run("admin", &["staff", "remove", "zhao"]).ok();
    c.run("li", &["case", "list"]).ok();
    c.run(
        "audit",
        &["agency", "key", "--statement", other.to_str().unwrap()],
    )
    .ok();
    let r = update("admin", &other, &new_id).fails();
    assert!(r.stderr.contains("not the key we hold"), "{}", r.stderr);
    update("wang", &st, &new_id).fails();
    // A valid statement whose new key id was not confirmed with the partner (a departed
    // holder of the old key can sign one): refused.
    let r = update("admin", &st, "0000000000000000").fails();
    assert!(r.stderr.contains("confirm the new key id"), "{}", r.stderr);
    verify("li").fails();

    // The real statement, its key id confirmed: recorded, logged, the new packet verifies.
    let r = update("admin", &st, &new_id).ok();
    // It says where the key change is logged and which key is now recorded.
    assert!(
        r.stdout
            .contains("the key change is in the disclosure log at entry")
            && r.stdout.contains(&new_id.to_ascii_uppercase()),
        "{}",
        r.stdout
    );
    verify("li").ok();
    let log = b
        .run("audit", &["--json", "log", "show", "--kind", "key_change"])
        .ok()
        .json();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["detail"].as_str().unwrap().contains("keys rotated 1")),
        "{log}"
    );

    // An insider who rolls the agency row back to the old keys is caught at the next use.
    let db = b.insider_db("wang");
    db.execute(
        "DELETE FROM authority WHERE subject LIKE 'agency/%/rotation/%'",
        [],
    )
    .unwrap();
    db.execute(
        "UPDATE agencies SET minisign_pubkey = ?1 WHERE name = 'First'",
        [&old_pub],
    )
    .unwrap();
    drop(db);
    let r = verify("li").fails();
    assert!(r.stderr.contains("tampered with"), "{}", r.stderr);
}
