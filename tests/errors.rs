//! Bad input: a clear message, a non-zero exit, and nothing changed.

mod common;

use common::*;

/// The logical state an operator would see: clients, cases, records, staff.
fn state(v: &TestVault) -> String {
    let mut s = String::new();
    for args in [
        &["--json", "client", "list"][..],
        &["--json", "case", "list"],
        &["--json", "record", "list", "--case", "1"],
    ] {
        s.push_str(&v.run("li", args).ok().stdout);
    }
    s.push_str(&v.run("admin", &["--json", "staff", "list"]).ok().stdout);
    s
}

fn setup() -> TestVault {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    v.process_note("wang", case, "note").ok();
    v
}

#[test]
fn wrong_passphrase() {
    let v = setup();
    let before = state(&v);
    let mut c = v.as_("wang");
    c.env("CASEVAULT_PASSPHRASE", "not it")
        .args(["case", "list"]);
    let r = run(c).fails();
    assert!(r.stderr.contains("wrong passphrase"), "{}", r.stderr);
    assert_eq!(before, state(&v));
}

#[test]
fn passphrase_from_file_and_missing_passphrase() {
    let v = setup();
    let f = v.tmp.path().join("pw");
    std::fs::write(&f, format!("{}\n", pw("wang"))).unwrap();
    let mut c = cmd(&v.dir);
    c.args(["--as", "wang", "--passphrase-file"])
        .arg(&f)
        .args(["case", "list"]);
    run(c).ok();
    let mut c = cmd(&v.dir);
    c.args(["--as", "wang", "case", "list"]);
    let r = run(c).fails();
    assert!(r.stderr.contains("passphrase"), "{}", r.stderr);
}

#[test]
fn missing_vault() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = cmd(&tmp.path().join("nowhere"));
    c.args(["--as", "x", "case", "list"])
        .env("CASEVAULT_PASSPHRASE", "p");
    let r = run(c).fails();
    assert!(r.stderr.contains("no casevault vault"), "{}", r.stderr);
    assert!(
        !tmp.path().join("nowhere").exists(),
        "a failed command must not create anything"
    );
}

#[test]
fn init_refuses_an_existing_vault() {
    let v = setup();
    let before = state(&v);
    let mut c = cmd(&v.dir);
    c.env("CASEVAULT_NEW_PASSPHRASE", "x")
        .args([
            "init",
            "--agency",
            "A",
            "--admin",
            "admin",
            "--recovery-out",
        ])
        .arg(v.tmp.path().join("r2.txt"));
    let r = run(c).fails();
    assert!(r.stderr.contains("exists"), "{}", r.stderr);
    assert_eq!(before, state(&v));
}

#[test]
fn corrupted_identity_file() {
    let v = setup();
    let before = state(&v);
    let path = v.dir.join("staff/wang.age");
    let good = std::fs::read(&path).unwrap();
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 5] ^= 0x40;
    std::fs::write(&path, &bad).unwrap();
    let r = v.run("wang", &["case", "list"]).fails();
    assert!(
        r.stderr.contains("damaged") || r.stderr.contains("wrong passphrase"),
        "{}",
        r.stderr
    );
    std::fs::write(&path, b"not an age file at all").unwrap();
    let r = v.run("wang", &["case", "list"]).fails();
    assert!(r.stderr.contains("damaged"), "{}", r.stderr);
    std::fs::write(&path, &good).unwrap();
    assert_eq!(before, state(&v));
}

#[test]
fn malformed_json_unknown_kind_bad_tier() {
    let v = setup();
    let before = state(&v);
    let add = |kind: &str, tier: Option<&str>, body: &str| {
        let mut args = vec![
            "record", "add", "--case", "1", "--kind", kind, "--fields", "-",
        ];
        if let Some(t) = tier {
            args.extend(["--tier", t]);
        }
        v.run_stdin("wang", &args, body)
    };
    let good = r#"{"client_number":"C001","date":"2026-11-20","session_aim":"a","narrative":"b"}"#;
    let r = add("process", None, "{\"narrative\": ").fails();
    assert!(r.stderr.contains("malformed JSON"), "{}", r.stderr);
    let r = add("no_such_form", None, good).fails();
    assert!(r.stderr.contains("no record template"), "{}", r.stderr);
    let r = add("process", Some("9"), good).fails();
    assert!(r.stderr.contains("tier 9 does not exist"), "{}", r.stderr);
    let r = add("process", Some("x"), good).fails();
    assert_eq!(r.code, 2, "clap usage errors exit 2");
    let r = v
        .run(
            "wang",
            &[
                "client",
                "add",
                "--number",
                "C9",
                "--name",
                "N",
                "--birth-date",
                "2020-02-30",
            ],
        )
        .fails();
    assert!(r.stderr.contains("2020-02-30"), "{}", r.stderr);
    assert_eq!(before, state(&v));
}

#[test]
fn import_reports_bad_line_and_writes_nothing_of_its_batch() {
    let v = setup();
    let before = state(&v);
    let lines = [
        r#"{"type":"client","number":"C100","name":"A"}"#,
        r#"{"type":"case","client":"C100"}"#,
        r#"{"type":"client","number":"C101","name":"B","gender":"robot"}"#,
    ]
    .join("\n");
    let r = v.run_stdin("li", &["import", "-"], &lines).fails();
    assert!(r.stderr.contains("line 3"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("robot"),
        "bad values are not echoed: {}",
        r.stderr
    );
    assert_eq!(before, state(&v));
}

#[test]
fn import_resumes_after_a_later_line_is_fixed() {
    let v = setup();
    let good = [
        r#"{"type":"client","number":"C100","name":"A"}"#,
        r#"{"type":"case","client":"C100"}"#,
    ];
    let bad = format!(
        "{}\n{}\n{}\n",
        good[0], good[1], r#"{"type":"client","number":"C101","name":""}"#
    );
    let r = v
        .run_stdin("li", &["import", "--batch", "2", "-"], &bad)
        .fails();
    assert!(r.stderr.contains("line 3"), "{}", r.stderr);
    let fixed = format!(
        "{}\n{}\n{}\n",
        good[0], good[1], r#"{"type":"client","number":"C101","name":"B"}"#
    );
    let r = v
        .run_stdin("li", &["--json", "import", "--batch", "2", "-"], &fixed)
        .ok();
    assert_eq!(r.json()["skipped_lines"], 2);
    assert_eq!(r.json()["clients"], 1);
    let list = v.run("li", &["--json", "client", "list"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 3);
}
