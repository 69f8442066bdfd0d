//! Bad input gets a clear refusal (issue 9, item 8): each refused input exits non-zero with a
//! message naming the field or the rule, never panics, and leaves the vault unchanged.

mod common;

use std::path::{Path, PathBuf};

use common::{Run, TestVault};

/// Number of clients the supervisor sees.
fn clients(v: &TestVault) -> usize {
    v.run("li", &["--json", "client", "list"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .len()
}

/// Asserts a clean refusal: non-zero exit, a message containing every `needles`, no panic,
/// and no raw control character echoed back.
fn refused(r: Run, needles: &[&str]) -> Run {
    let r = r.fails();
    assert!(!r.stderr.contains("panicked"), "panic: {}", r.stderr);
    assert_ne!(r.code, 101, "panic exit: {}", r.stderr);
    for n in needles {
        assert!(
            r.stderr.contains(n),
            "message should mention {n:?}: {}",
            r.stderr
        );
    }
    assert!(
        !r.stderr.contains('\u{1b}'),
        "raw escape echoed: {:?}",
        r.stderr
    );
    r
}

fn write(v: &TestVault, name: &str, bytes: &[u8]) -> PathBuf {
    let p = v.tmp.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A copy of the shipped policy directory: `templates` `None` leaves out the `templates/`
/// folder, `Some(drop)` copies every template except the kinds in `drop` (all: an empty folder).
fn policy_copy(v: &TestVault, name: &str, templates: Option<&[&str]>) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("policy");
    let dst = v.tmp.path().join(name);
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::copy(src.join("policy.toml"), dst.join("policy.toml")).unwrap();
    if let Some(drop) = templates {
        std::fs::create_dir_all(dst.join("templates")).unwrap();
        for e in std::fs::read_dir(src.join("templates")).unwrap() {
            let e = e.unwrap();
            let n = e.file_name().into_string().unwrap();
            let kind = n.trim_end_matches(".toml");
            if !drop.contains(&kind) && !drop.contains(&"*") {
                std::fs::copy(e.path(), dst.join("templates").join(&n)).unwrap();
            }
        }
    }
    dst
}

#[test]
fn policy_without_templates_is_refused() {
    let v = TestVault::new();
    let case = v.client_with_case("C1", "Zhang San");
    v.process_note("wang", case, "first session").ok();
    let none = policy_copy(&v, "p-none", None);
    let empty = policy_copy(&v, "p-empty", Some(&["*"]));
    assert_eq!(
        std::fs::read_dir(empty.join("templates")).unwrap().count(),
        0
    );
    for dir in [&none, &empty] {
        refused(
            v.run("admin", &["policy", "check", s(dir)]),
            &["no record templates"],
        );
        refused(
            v.run("admin", &["policy", "apply", s(dir)]),
            &["no record templates"],
        );
    }
    // Chinese too.
    let mut c = v.as_("admin");
    c.env("CASEVAULT_LANG", "zh")
        .args(["policy", "check", s(&none)]);
    refused(common::run(c), &["没有任何记录模板"]);

    // A policy that drops a kind records already use is refused too, naming the kind.
    let no_process = policy_copy(&v, "p-no-process", Some(&["process"]));
    v.run("admin", &["policy", "check", s(&no_process)]).ok();
    refused(
        v.run("admin", &["policy", "apply", s(&no_process)]),
        &["process"],
    );
    // Unchanged: process records can still be written under the policy in force.
    v.process_note("wang", case, "second session").ok();
}

#[test]
fn absurd_dates_are_refused() {
    let v = TestVault::new();
    v.client_with_case("C1", "Zhang San");
    let n = clients(&v);
    for (date, needles) in [
        ("0000-01-01", &["0000-01-01"][..]),
        ("1850-03-01", &["birth_date", "1900-01-01"][..]),
        ("2999-01-01", &["birth_date"][..]),
        ("+123-01-01", &[][..]),
    ] {
        refused(
            v.run(
                "wang",
                &[
                    "client",
                    "add",
                    "--number",
                    "C2",
                    "--name",
                    "Li Si",
                    "--birth-date",
                    date,
                ],
            ),
            needles,
        );
    }
    let from = write(
        &v,
        "c.json",
        br#"{"number":"C2","name":"Li Si","birth_date":"0000-01-01"}"#,
    );
    refused(v.run("wang", &["client", "add", "--from", s(&from)]), &[]);
    let line = br#"{"type":"client","number":"C2","name":"Li Si","birth_date":"1800-01-01"}"#;
    let f = write(&v, "d.jsonl", line);
    refused(v.run("wang", &["import", s(&f)]), &["line 1", "birth_date"]);
    assert_eq!(clients(&v), n);

    // Consents: signed before 2000 or expiring over a century later.
    v.partner("Partner");
    let consent = |signed: &str, expires: &str| {
        v.run(
            "wang",
            &[
                "consent",
                "add",
                "--client",
                "C1",
                "--agency",
                "Partner",
                "--signer",
                "client",
                "--signer-name",
                "Zhang San",
                "--purpose",
                "housing",
                "--kinds",
                "process",
                "--tiers",
                "1,2",
                "--revoke-how",
                "call us",
                "--signed",
                signed,
                "--expires",
                expires,
            ],
        )
    };
    refused(consent("1899-01-01", "2030-01-01"), &["signed_on"]);
    refused(
        consent("2025-01-01", "9999-12-31"),
        &["expires_on", "2125-01-01"],
    );
    assert_eq!(
        v.run("li", &["--json", "consent", "list"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // Requests: received before 2000.
    refused(
        v.run(
            "wang",
            &[
                "request",
                "add",
                "--kind",
                "access",
                "--client",
                "C1",
                "--requester",
                "Zhang San",
                "--received",
                "1999-12-31",
            ],
        ),
        &["received"],
    );
    assert_eq!(
        v.run("wang", &["--json", "request", "list"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn import_batch_size_is_checked() {
    let v = TestVault::new();
    let n = clients(&v);
    let f = write(
        &v,
        "i.jsonl",
        br#"{"type":"client","number":"C9","name":"Li Si"}"#,
    );
    for b in ["0", "1000001"] {
        refused(
            v.run("wang", &["import", s(&f), "--batch", b]),
            &["--batch", "100000"],
        );
    }
    assert_eq!(clients(&v), n);
    v.run("wang", &["import", s(&f), "--batch", "1"]).ok();
    assert_eq!(clients(&v), n + 1);
}

#[test]
fn control_characters_are_refused_in_single_line_fields() {
    let v = TestVault::new();
    let case = v.client_with_case("C1", "Zhang San");
    let n = clients(&v);
    let add = |extra: &[&str]| {
        let mut a = vec!["client", "add", "--number", "C2", "--name", "Li Si"];
        a.extend_from_slice(extra);
        v.run("wang", &a)
    };
    refused(add(&["--name", "Li\u{1b}[31mSi"]), &["name"]);
    refused(add(&["--number", "C\u{7}2"]), &["number"]);
    refused(add(&["--phone", "123\n456"]), &["phone", "single line"]);
    refused(add(&["--address", "abc\u{202e}cba"]), &["address"]);
    refused(add(&["--id-number", "1\u{9b}2"]), &["id_number"]);
    refused(
        add(&["--guardian", "Mother\u{2066}:mother"]),
        &["guardians[1].name"],
    );
    refused(
        add(&["--guardian", "Mother:mo\u{1b}ther"]),
        &["guardians[1].relation"],
    );
    let line = "{\"type\":\"client\",\"number\":\"C3\",\"name\":\"A\\u001b[2JB\"}\n";
    let f = write(&v, "ctl.jsonl", line.as_bytes());
    refused(v.run("wang", &["import", s(&f)]), &["line 1", "name"]);
    assert_eq!(clients(&v), n);

    // Agencies, consents, requests.
    refused(
        v.run(
            "admin",
            &[
                "agency",
                "add",
                "Evil\u{1b}]0;title\u{7}",
                "--age-recipient",
                "x",
                "--minisign-pubkey",
                "y",
            ],
        ),
        &["name"],
    );
    v.partner("Partner");
    let consent = |name: &str, purpose: &str| {
        v.run(
            "wang",
            &[
                "consent",
                "add",
                "--client",
                "C1",
                "--agency",
                "Partner",
                "--signer",
                "client",
                "--signer-name",
                name,
                "--purpose",
                purpose,
                "--kinds",
                "process",
                "--tiers",
                "1,2",
                "--revoke-how",
                "call us",
                "--signed",
                "2025-01-01",
                "--expires",
                "2030-01-01",
            ],
        )
    };
    refused(consent("Zhang\u{1b}[8m San", "housing"), &["signer_name"]);
    refused(consent("Zhang San", "housing\u{202d}"), &["purposes[1]"]);
    assert_eq!(
        v.run("li", &["--json", "consent", "list"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    refused(
        v.run(
            "wang",
            &[
                "request",
                "add",
                "--kind",
                "access",
                "--client",
                "C1",
                "--requester",
                "Zhang\u{1}San",
            ],
        ),
        &["requester"],
    );

    // Record fields: `text` is one line; `long_text` and the note allow \n and \t only.
    let record = |fields: serde_json::Value| {
        v.run_stdin(
            "wang",
            &[
                "--json",
                "record",
                "add",
                "--case",
                &case.to_string(),
                "--kind",
                "process",
                "--fields",
                "-",
            ],
            &fields.to_string(),
        )
    };
    let base = serde_json::json!({
        "client_number": "C1", "date": "2026-11-20", "session_aim": "check in",
        "narrative": "line one\n\tline two"
    });
    let with = |k: &str, val: &str| {
        let mut f = base.clone();
        f[k] = serde_json::Value::String(val.into());
        f
    };
    refused(
        record(with("client_number", "C\n1")),
        &["client_number", "single line"],
    );
    refused(
        record(with("client_number", "\u{1b}[31mC1")),
        &["client_number"],
    );
    refused(
        record(with("session_aim", "\u{1b}[31mred")),
        &["session_aim"],
    );
    refused(record(with("narrative", "a\r\nb")), &["narrative"]);
    refused(record(with("narrative", "a\u{1b}[2Jb")), &["narrative"]);
    refused(record(with("note", "a\u{202e}b")), &["note"]);
    let records = |v: &TestVault| {
        v.run(
            "wang",
            &["--json", "record", "list", "--case", &case.to_string()],
        )
        .ok()
        .json()
        .as_array()
        .unwrap()
        .len()
    };
    assert_eq!(records(&v), 0);
    record(base.clone()).ok();
    assert_eq!(records(&v), 1);
}

#[test]
fn raw_control_characters_never_reach_the_terminal() {
    let v = TestVault::new();
    // An id from the command line is echoed in the "not found" message: escaped.
    let r = refused(
        v.run("wang", &["client", "show", "X\u{1b}[31mY\u{202e}"]),
        &[],
    );
    assert!(r.stderr.contains("\\u{1b}[31mY\\u{202e}"), "{}", r.stderr);
}

#[test]
fn oversized_fields_and_inputs_are_refused() {
    let v = TestVault::new();
    let case = v.client_with_case("C1", "Zhang San");
    let n = clients(&v);
    refused(
        v.run(
            "wang",
            &[
                "client",
                "add",
                "--number",
                "C2",
                "--name",
                &"名".repeat(201),
            ],
        ),
        &["name", "200"],
    );
    refused(
        v.run(
            "wang",
            &[
                "client",
                "add",
                "--number",
                &"1".repeat(65),
                "--name",
                "Li Si",
            ],
        ),
        &["number", "64"],
    );
    // A 10 MB name: refused before parsing, by size.
    let big = format!(r#"{{"number":"C2","name":"{}"}}"#, "x".repeat(10 << 20));
    let f = write(&v, "big.json", big.as_bytes());
    refused(
        v.run("wang", &["client", "add", "--from", s(&f)]),
        &["4194304"],
    );
    // The same as an import line.
    let line = format!(
        r#"{{"type":"client","number":"C2","name":"{}"}}"#,
        "x".repeat(5 << 20)
    );
    let f = write(&v, "big.jsonl", line.as_bytes());
    refused(v.run("wang", &["import", s(&f)]), &["line 1", "4096"]);
    assert_eq!(clients(&v), n);

    // Narratives: 20,000 characters at most; a 50 MB --fields file is refused by size.
    let fields = |narrative: String| {
        serde_json::json!({
            "client_number": "C1", "date": "2026-11-20", "session_aim": "check in",
            "narrative": narrative
        })
        .to_string()
    };
    let cs = case.to_string();
    let f = write(&v, "long.json", fields("字".repeat(20_001)).as_bytes());
    refused(
        v.run(
            "wang",
            &[
                "record",
                "add",
                "--case",
                &cs,
                "--kind",
                "process",
                "--fields",
                s(&f),
            ],
        ),
        &["narrative", "20000"],
    );
    let f = write(&v, "huge.json", fields("x".repeat(50 << 20)).as_bytes());
    refused(
        v.run(
            "wang",
            &[
                "record",
                "add",
                "--case",
                &cs,
                "--kind",
                "process",
                "--fields",
                s(&f),
            ],
        ),
        &["4194304"],
    );
    let mut with_note: serde_json::Value = serde_json::from_str(&fields("b".into())).unwrap();
    with_note["note"] = "y".repeat(20_001).into();
    let f = write(&v, "note.json", with_note.to_string().as_bytes());
    refused(
        v.run(
            "wang",
            &[
                "record",
                "add",
                "--case",
                &cs,
                "--kind",
                "process",
                "--fields",
                s(&f),
            ],
        ),
        &["note", "20000"],
    );
    let list = v
        .run("wang", &["--json", "record", "list", "--case", &cs])
        .ok();
    assert_eq!(list.json().as_array().unwrap().len(), 0);
    let f = write(&v, "ok.json", fields("字".repeat(20_000)).as_bytes());
    v.run(
        "wang",
        &[
            "record",
            "add",
            "--case",
            &cs,
            "--kind",
            "process",
            "--fields",
            s(&f),
        ],
    )
    .ok();
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let v = TestVault::new();
    let case = v.client_with_case("C1", "Zhang San");
    let n = clients(&v);
    let bom = |text: &str| [&b"\xEF\xBB\xBF"[..], text.as_bytes()].concat();
    let f = write(
        &v,
        "bom.jsonl",
        &bom("{\"type\":\"client\",\"number\":\"C2\",\"name\":\"Li Si\"}\n"),
    );
    let r = v.run("wang", &["--json", "import", s(&f)]).ok();
    assert_eq!(r.json()["clients"], 1);
    let f = write(&v, "bom.json", &bom(r#"{"number":"C3","name":"Wang Wu"}"#));
    v.run("wang", &["client", "add", "--from", s(&f)]).ok();
    assert_eq!(clients(&v), n + 2);
    let fields = r#"{"client_number":"C1","date":"2026-11-20","session_aim":"a","narrative":"b"}"#;
    let f = write(&v, "bom-fields.json", &bom(fields));
    let cs = case.to_string();
    v.run(
        "wang",
        &[
            "record",
            "add",
            "--case",
            &cs,
            "--kind",
            "process",
            "--fields",
            s(&f),
        ],
    )
    .ok();
}

#[test]
fn init_refuses_a_control_character_in_the_agency_name() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("tmp")).unwrap();
    let dir = tmp.path().join("vault");
    let mut c = common::cmd(&dir);
    c.env("CASEVAULT_NEW_PASSPHRASE", common::ADMIN_PW)
        .args([
            "init",
            "--agency",
            "Agency\u{1b}[5m",
            "--admin",
            "admin",
            "--recovery-out",
        ])
        .arg(tmp.path().join("recovery.txt"));
    refused(common::run(c), &["agency"]);
    assert!(!dir.exists(), "nothing is created");
}
