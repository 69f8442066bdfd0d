//! Issue 12, item 4: each kind of failure has its own documented exit code (docs/cli.md
//! "Exit codes"), and under `--json` the error is one JSON object on stderr's last line:
//! `{"error": {"code", "message", "exit", …ids}}`.

mod common;

use common::*;
use serde_json::Value;

/// The JSON error a `--json` run printed (the last line of stderr), checked for its shape.
fn json_error(r: &Run, code: &str, exit: i32) -> Value {
    assert_eq!(r.code, exit, "{}\n{}", r.stderr, r.stdout);
    let last = r.stderr.lines().last().unwrap_or_default();
    let j: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {}", r.stderr));
    let e = &j["error"];
    assert_eq!(e["code"], code, "{j}");
    assert_eq!(e["exit"], exit, "{j}");
    assert!(!e["message"].as_str().unwrap().is_empty(), "{j}");
    assert!(
        r.stdout.trim().is_empty(),
        "nothing on stdout: {}",
        r.stdout
    );
    e.clone()
}

#[test]
fn wrong_passphrase_is_5_in_text_and_json() {
    let v = TestVault::new();
    let mut c = v.as_("wang");
    c.env("CASEVAULT_PASSPHRASE", "not it")
        .args(["case", "list"]);
    let r = run(c);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("wrong passphrase"), "{}", r.stderr);
    let mut c = v.as_("wang");
    c.env("CASEVAULT_PASSPHRASE", "not it")
        .args(["--json", "case", "list"]);
    let e = json_error(&run(c), "wrong_passphrase", 5);
    assert_eq!(e["staff"], "wang");
    assert!(e["message"].as_str().unwrap().contains("wrong passphrase"));
    // An unknown member is an authentication failure too.
    let e = json_error(
        &v.run("nobody", &["--json", "case", "list"]),
        "unknown_staff",
        5,
    );
    assert_eq!(e["staff"], "nobody");
}

#[test]
fn not_found_is_7_with_what_and_id() {
    let v = TestVault::new();
    let e = json_error(
        &v.run("wang", &["--json", "record", "show", "9999"]),
        "not_found",
        7,
    );
    assert_eq!(e["what"], "record");
    assert_eq!(e["id"], "9999");
    assert_eq!(v.run("wang", &["case", "show", "9999"]).code, 7);
}

#[test]
fn before_a_vault_opens_errors_are_json_too() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = cmd(&tmp.path().join("nowhere"));
    c.args(["--as", "x", "--json", "case", "list"])
        .env("CASEVAULT_PASSPHRASE", "p");
    json_error(&run(c), "vault_missing", 7);
    // clap's own usage errors, when --json is among the arguments.
    let v = TestVault::new();
    let r = v.run("wang", &["--json", "record", "show", "not-a-number"]);
    let e = json_error(&r, "usage", 2);
    assert!(
        e["message"].as_str().unwrap().contains("not-a-number"),
        "{e}"
    );
    let r = v.run("wang", &["case", "show", "x"]);
    assert_eq!(r.code, 2);
    assert!(
        !r.stderr.contains("\"error\""),
        "text without --json: {}",
        r.stderr
    );
}

#[test]
fn tampered_record_is_an_alarm_4() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let id = v.process_note("wang", case, "first session").ok().json()["id"]
        .as_i64()
        .unwrap();
    v.insider_db("wang")
        .execute(
            "UPDATE records SET signature = zeroblob(64) WHERE id = ?1",
            [id],
        )
        .unwrap();
    let r = v.run("wang", &["--json", "record", "show", &id.to_string()]);
    let e = json_error(&r, "tampered", 4);
    assert_eq!(e["what"], "record", "{e}");
    assert_eq!(v.run("wang", &["record", "show", &id.to_string()]).code, 4);
}

#[test]
fn a_revoked_consent_refuses_the_referral_with_6() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    v.process_note("wang", case, "first session").ok();
    v.partner("Partner");
    let consent = v.run("wang", common::CONSENT_C001_PARTNER).ok().json()["id"]
        .as_i64()
        .unwrap();
    let cid = consent.to_string();
    v.run("wang", &["consent", "revoke", &cid, "--via", "phone"])
        .ok();
    let out = v.tmp.path().join("p.age");
    let args = [
        "--json",
        "referral",
        "export",
        "--case",
        &case.to_string(),
        "--to",
        "Partner",
        "--consent",
        &cid,
        "--purpose",
        "housing support",
        "--out",
        out.to_str().unwrap(),
    ];
    let e = json_error(&v.run("li", &args), "consent_refused", 6);
    assert_eq!(e["consent"], consent);
    let r = v.run("li", &args[1..]);
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert!(!r.stderr.contains("invalid input"), "{}", r.stderr);
    assert!(!out.exists());
}

#[test]
fn a_busy_vault_is_8() {
    let v = TestVault::new();
    v.client_with_case("C001", "Zhang San");
    // Another connection holds the write lock for the whole wait.
    let db = v.insider_db("wang");
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut c = v.as_("wang");
    c.env("CASEVAULT_BUSY_WAIT_MS", "300").args([
        "--json", "client", "add", "--number", "C002", "--name", "Li Si",
    ]);
    json_error(&run(c), "busy", 8);
    db.execute_batch("ROLLBACK").unwrap();
    drop(db);
    // Another process holds the vault lock (a key rotation): busy too.
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(v.dir.join("vault.lock"))
        .unwrap();
    lock.lock().unwrap();
    let mut c = v.as_("wang");
    c.env("CASEVAULT_LOCK_WAIT_MS", "200")
        .args(["--json", "case", "list"]);
    json_error(&run(c), "rotation_running", 8);
    lock.unlock().unwrap();
    v.run(
        "wang",
        &["client", "add", "--number", "C002", "--name", "Li Si"],
    )
    .ok();
}

#[test]
fn an_audit_that_could_not_run_keeps_its_exit_2_and_says_why_in_json() {
    let v = TestVault::new();
    let r = v.run("wang", &["--json", "audit", "run"]);
    let e = json_error(&r, "not_permitted", 2);
    assert_eq!(e["role"], "caseworker", "{e}");
}
