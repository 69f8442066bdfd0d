//! The receiving side of referral packets (issue 10, item 6): supervisor-only records of a
//! partner's packet are shown only to supervisors, and opening or importing a packet that
//! holds them is logged. A second vault acts as the partner that sends the packet.

mod common;
mod packet_common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// Words that only the supervisor-only record and its attachment hold.
const SECRET: &str = "tier3-secret-topic";
const SECRET_FILE: &str = "tier3-scan-name.txt";
const SECRET_BYTES: &str = "tier3-attachment-bytes";

/// Registers `from` (sender) and `to` (receiver) with each other: `to` knows the sender as
/// "First", the sender knows `to` as "Second".
fn pair(from: &TestVault, to: &TestVault) {
    let key = |v: &TestVault, args: &[&str], field: &str| {
        v.run("admin", args).ok().json()[field]
            .as_str()
            .unwrap()
            .to_string()
    };
    let to_inbound = key(to, &["--json", "agency", "inbound-key"], "age_recipient");
    let from_pub = key(from, &["--json", "agency", "key"], "minisign_public_key");
    from.run(
        "admin",
        &[
            "agency",
            "add",
            "Second",
            "--age-recipient",
            &to_inbound,
            "--minisign-pubkey",
            &key(to, &["--json", "agency", "key"], "minisign_public_key"),
        ],
    )
    .ok();
    to.run(
        "admin",
        &[
            "agency",
            "add",
            "First",
            "--age-recipient",
            &key(from, &["--json", "agency", "inbound-key"], "age_recipient"),
            "--minisign-pubkey",
            &from_pub,
        ],
    )
    .ok();
}

fn id(r: &Run) -> String {
    r.json()["id"].as_i64().unwrap().to_string()
}

/// The sender exports to "Second": a process note and, with `tier3`, a supervision note
/// (tier 3, with an attachment) under a separate consent approved by the supervisor.
fn packet(a: &TestVault, tier3: bool, out: &Path) {
    let case = a.client_with_case("C001", "Zhang San");
    let rec = id(&a.process_note("wang", case, "ordinary-session-text").ok());
    let mut records = rec.clone();
    let mut consent = vec![
        "--json",
        "consent",
        "add",
        "--client",
        "C001",
        "--agency",
        "Second",
        "--signer",
        "client",
        "--signer-name",
        "Zhang San",
        "--purpose",
        "housing support",
        "--revoke-how",
        "call 021-123",
        "--signed",
        "2025-01-01",
        "--expires",
        "2099-12-31",
    ];
    if tier3 {
        let scan = a.tmp.path().join(SECRET_FILE);
        std::fs::write(&scan, SECRET_BYTES).unwrap();
        let fields = serde_json::json!({ "date": "2026-11-20", "topic": SECRET });
        let sup = id(&a
            .run_stdin(
                "wang",
                &[
                    "--json",
                    "record",
                    "add",
                    "--case",
                    &case.to_string(),
                    "--kind",
                    "supervision",
                    "--fields",
                    "-",
                    "--attach",
                    scan.to_str().unwrap(),
                ],
                &fields.to_string(),
            )
            .ok());
        records = format!("{rec},{sup}");
        consent.extend([
            "--kinds",
            "process,supervision",
            "--tiers",
            "1,2,3",
            "--separate-consent",
        ]);
        let c = id(&a.run("wang", &consent).ok());
        a.run(
            "li",
            &[
                "referral",
                "approve",
                "--case",
                &case.to_string(),
                "--consent",
                &c,
                "--records",
                &sup,
            ],
        )
        .ok();
        export(a, case, &c, &records, out);
    } else {
        consent.extend(["--kinds", "process", "--tiers", "1,2"]);
        let c = id(&a.run("wang", &consent).ok());
        export(a, case, &c, &records, out);
    }
}

fn export(a: &TestVault, case: i64, consent: &str, records: &str, out: &Path) {
    a.run(
        "li",
        &[
            "referral",
            "export",
            "--case",
            &case.to_string(),
            "--to",
            "Second",
            "--consent",
            consent,
            "--purpose",
            "housing support",
            "--records",
            records,
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .ok();
}

/// A receiving vault `b` and the path of a packet sent to it.
fn setup(tier3: bool) -> (TestVault, TestVault, PathBuf) {
    let a = TestVault::new();
    let b = TestVault::new();
    pair(&a, &b);
    let out = a.tmp.path().join("to-b.age");
    packet(&a, tier3, &out);
    (a, b, out)
}

fn open(b: &TestVault, who: &str, out: &Path, json: bool) -> Run {
    let mut args = vec!["packet", "open", out.to_str().unwrap(), "--from", "First"];
    if json {
        args.insert(0, "--json");
    }
    b.run(who, &args)
}

/// The receiving vault's `tier3_read` log entries (read by its auditor).
fn tier3_entries(b: &TestVault) -> Vec<Value> {
    b.run("audit", &["--json", "log", "show", "--kind", "tier3_read"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .clone()
}

fn sha256_file(p: &Path) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(std::fs::read(p).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn no_secret(r: &Run) {
    for s in [SECRET, SECRET_FILE, SECRET_BYTES] {
        assert!(
            !r.stdout.contains(s) && !r.stderr.contains(s),
            "supervisor-only content shown: {}\n{}",
            r.stdout,
            r.stderr
        );
    }
}

#[test]
fn only_supervisors_open_or_import_incoming_packets() {
    // The inbound key is held by supervisors only (issue 11): a caseworker or an auditor has
    // nothing to decrypt a partner's packet with, whatever the software would show them.
    let (_a, b, out) = setup(true);
    for who in ["wang", "audit"] {
        for args in [
            vec!["packet", "open", out.to_str().unwrap(), "--from", "First"],
            vec!["packet", "import", out.to_str().unwrap(), "--from", "First"],
        ] {
            let r = b.run(who, &args).fails();
            no_secret(&r);
            assert!(
                r.stderr
                    .contains("only supervisors hold the agency's packet and inbound keys")
                    || r.stderr.contains("the auditor role may not"),
                "{who}: {}",
                r.stderr
            );
        }
    }
    // Chinese (the default) says so too.
    let mut c = b.as_("wang");
    c.env("CASEVAULT_LANG", "zh").args([
        "packet",
        "open",
        out.to_str().unwrap(),
        "--from",
        "First",
    ]);
    let r = run(c).fails();
    assert!(r.stderr.contains("只有督导持有本机构"), "{}", r.stderr);
    assert!(tier3_entries(&b).is_empty());
}

#[test]
fn supervisor_open_shows_everything_and_is_logged() {
    let (_a, b, out) = setup(true);
    let r = open(&b, "li", &out, true).ok();
    let j = r.json();
    assert_eq!(j["records"].as_array().unwrap().len(), 2);
    assert!(j["withheld"].as_array().unwrap().is_empty());
    assert!(r.stdout.contains(SECRET), "{}", r.stdout);
    let r = open(&b, "li", &out, false).ok();
    assert!(
        r.stdout.contains(SECRET) && r.stdout.contains(SECRET_FILE),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("withheld"), "{}", r.stdout);

    let log = tier3_entries(&b);
    assert_eq!(log.len(), 2, "{log:?}");
    let e = &log[1];
    assert_eq!(e["actor"], "li");
    assert_eq!(e["purpose"], "packet open");
    assert_eq!(e["basis"], "internal duty");
    assert_eq!(e["disclosed_sha256"], sha256_file(&out));
    assert!(e["detail"].as_str().unwrap().ends_with("shown"), "{e}");
    assert!(!e.to_string().contains(SECRET), "{e}");
}

#[test]
fn open_fails_closed_when_the_log_cannot_be_written() {
    let (_a, b, out) = setup(true);
    let ct = std::fs::read(&out).unwrap();
    let sig = std::fs::read_to_string(format!("{}.minisig", out.display())).unwrap();
    let s = b.session("li");
    // A TEMP trigger on this session's connection (a stored one would fail the schema pin).
    s.conn
        .execute_batch("CREATE TEMP TRIGGER no_log BEFORE INSERT ON main.log_entries BEGIN SELECT RAISE(FAIL, 'log unavailable'); END;")
        .unwrap();
    assert!(
        s.packet_open("First", &ct, &sig).is_err(),
        "supervisor-only records shown without a log entry"
    );
    drop(s);
    assert!(tier3_entries(&b).is_empty());
}

#[test]
fn supervisor_import_keeps_supervisor_only_records_at_their_tier() {
    let (_a, b, out) = setup(true);
    let r = b
        .run(
            "li",
            &[
                "--json",
                "packet",
                "import",
                out.to_str().unwrap(),
                "--from",
                "First",
            ],
        )
        .ok();
    no_secret(&r);
    let j = r.json();
    assert_eq!(j["records"].as_array().unwrap().len(), 2);
    assert_eq!(j["withheld"], 0);
    let case = j["case_id"].as_i64().unwrap().to_string();

    // The tier-3 record was imported at tier 3: a caseworker assigned to the case cannot read
    // it, a supervisor can.
    b.run("li", &["case", "assign", &case, "wang"]).ok();
    let list = b
        .run("wang", &["--json", "record", "list", "--case", &case])
        .ok()
        .json();
    let tier3: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["tier"] == 3)
        .map(|r| r["id"].as_i64().unwrap().to_string())
        .collect();
    assert_eq!(tier3.len(), 1, "{list}");
    let r = b.run("wang", &["record", "show", &tier3[0]]).fails();
    no_secret(&r);
    let r = b.run("li", &["record", "show", &tier3[0]]).ok();
    assert!(r.stdout.contains(SECRET), "{}", r.stdout);

    // The import was logged with the packet's hash, about the new case, without content.
    let log = tier3_entries(&b);
    let imports: Vec<&Value> = log
        .iter()
        .filter(|e| e["purpose"] == "packet import")
        .collect();
    assert_eq!(imports.len(), 1, "{log:?}");
    assert_eq!(imports[0]["actor"], "li");
    assert_eq!(imports[0]["disclosed_sha256"], sha256_file(&out));
    assert!(imports[0]["case"].is_string());
    assert!(!imports[0].to_string().contains(SECRET));

    // A second import is still refused as a replay.
    let r = b
        .run(
            "li",
            &["packet", "import", out.to_str().unwrap(), "--from", "First"],
        )
        .fails();
    assert!(r.stderr.contains("already imported"), "{}", r.stderr);
}

#[test]
fn packets_without_supervisor_only_records_work_unchanged() {
    let (_a, b, out) = setup(false);
    let r = open(&b, "li", &out, true).ok();
    let j = r.json();
    assert_eq!(j["records"].as_array().unwrap().len(), 1);
    assert!(j["withheld"].as_array().unwrap().is_empty(), "{j}");
    assert!(j["log_index"].is_null());
    let r = open(&b, "li", &out, false).ok();
    assert!(
        r.stdout.contains("ordinary-session-text") && !r.stdout.contains("withheld"),
        "{}",
        r.stdout
    );
    let r = b
        .run(
            "li",
            &[
                "--json",
                "packet",
                "import",
                out.to_str().unwrap(),
                "--from",
                "First",
            ],
        )
        .ok();
    assert_eq!(r.json()["withheld"], 0);
    // Nothing supervisor-only, nothing logged.
    assert!(tier3_entries(&b).is_empty());
}

/// The library rule: withheld records leave the records, the manifest and `records.md`; an
/// attachment stays only if it is named after a shown record and after no withheld one.
#[test]
fn withhold_removes_records_their_attachments_and_their_text() {
    use casevault::packet::{self, Attachment, PublicKey};
    let id = age::x25519::Identity::generate();
    let mut inp = packet_common::input(3, 0);
    inp.records[0].id = "R-1".into();
    inp.records[1].id = "R-1-2".into();
    inp.records[1].tier = "restricted".into();
    inp.records[1].content = serde_json::json!({ "topic": SECRET });
    inp.consent.scope.tiers.push("restricted".into());
    inp.consent.separate_consent = true;
    for name in ["R-1-a.txt", "R-1-2-b.txt", "other.txt"] {
        inp.attachments.push(Attachment {
            name: name.into(),
            bytes: name.as_bytes().to_vec(),
        });
    }
    let key = packet_common::sender_key();
    let built = packet::build(&inp, &key, &id.to_public()).unwrap();
    let opened = packet::open(
        &built.ciphertext,
        &built.minisig,
        &PublicKey::from_signing_key(&key),
        &id,
    )
    .unwrap();
    assert!(opened.document.contains(SECRET));
    let (p, gone, dropped) = opened.withhold(|r| r.tier == "restricted");
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].id, "R-1-2");
    assert_eq!(p.records.len(), 2);
    assert_eq!(p.manifest.records.len(), 2);
    assert_eq!(dropped, 2);
    let names: Vec<&str> = p.attachments.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["R-1-a.txt"]);
    assert_eq!(p.manifest.attachments.len(), 1);
    assert!(!p.document.contains(SECRET) && !p.document.contains("R-1-2"));
    assert!(
        p.document.contains("## 记录 Records (2)"),
        "{}",
        &*p.document
    );
    // Nothing withheld: the packet comes back as it was.
    let opened = packet::open(
        &built.ciphertext,
        &built.minisig,
        &PublicKey::from_signing_key(&key),
        &id,
    )
    .unwrap();
    let doc = opened.document.clone();
    let (p, gone, dropped) = opened.withhold(|_| false);
    assert!(gone.is_empty() && dropped == 0);
    assert_eq!(p.document, doc);
    assert_eq!(p.attachments.len(), 3);
}
