//! Consents, referral export, and the receiving side, through the real binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use casevault::domain::time::Date;
use casevault::domain::{ConsentTerms, SignerRole};
use casevault::log::{Filter, KindCode, LegalBasis};
use casevault::vault::Session;
use common::*;

fn session(v: &TestVault, who: &str) -> Session {
    v.session(who)
}

/// Makes partner keys with `agency keygen` and registers them as `name`; returns the key dir.
fn partner(v: &TestVault, name: &str) -> PathBuf {
    v.partner(name)
}

/// A consent by wang; `extra` adds options or overrides the defaults.
fn consent(v: &TestVault, client: &str, agency: &str, extra: &[&str]) -> Run {
    let mut opts: Vec<(&str, Option<&str>)> = vec![
        ("--client", Some(client)),
        ("--agency", Some(agency)),
        ("--signer", Some("client")),
        ("--signer-name", Some("Zhang San")),
        ("--purpose", Some("housing support")),
        ("--kinds", Some("process")),
        ("--tiers", Some("1,2")),
        ("--revoke-how", Some("call 021-123")),
        ("--signed", Some("2025-01-01")),
        ("--expires", Some("2099-12-31")),
    ];
    let mut i = 0;
    while i < extra.len() {
        let value = extra.get(i + 1).filter(|x| !x.starts_with("--")).copied();
        match opts.iter_mut().find(|(k, _)| *k == extra[i]) {
            Some(o) => o.1 = value,
            None => opts.push((extra[i], value)),
        }
        i += if value.is_some() { 2 } else { 1 };
    }
    let mut args = vec!["--json", "consent", "add"];
    for (k, val) in opts {
        args.push(k);
        args.extend(val);
    }
    v.run("wang", &args)
}

fn cid(r: &Run) -> String {
    r.json()["id"].as_i64().unwrap().to_string()
}

fn tool(name: &str) -> bool {
    let ok = Command::new(name).arg("-h").output().is_ok();
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "{name} is required in CI");
        eprintln!("!!!!!! SKIPPING stock-tool checks: `{name}` is not installed !!!!!!");
    }
    ok
}

fn sh(script: &str) -> bool {
    Command::new("sh")
        .args(["-c", script])
        .output()
        .unwrap()
        .status
        .success()
}

fn export(
    v: &TestVault,
    who: &str,
    case: i64,
    to: &str,
    consent: &str,
    out: &Path,
    extra: &[&str],
) -> Run {
    let case = case.to_string();
    let mut args = vec![
        "--json",
        "referral",
        "export",
        "--case",
        &case,
        "--to",
        to,
        "--consent",
        consent,
        "--purpose",
        "housing support",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut c = v.as_(who);
    c.args(&args);
    let r = run(c);
    // A caseworker's export waits for a supervisor's release (only supervisors hold the packet
    // key); these tests are about what leaves, so the supervisor releases it at once.
    let pending = serde_json::from_str::<serde_json::Value>(&r.stdout)
        .ok()
        .and_then(|j| j["release_request"].as_i64());
    match pending {
        Some(id) => {
            let list = v.run("li", &["--json", "referral", "pending"]).ok().json();
            let digest = list
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["id"] == id)
                .unwrap()["digest"]
                .as_str()
                .unwrap()
                .to_string();
            v.run(
                "li",
                &[
                    "--json",
                    "referral",
                    "release",
                    &id.to_string(),
                    "--digest",
                    &digest,
                    "--out",
                    out.to_str().unwrap(),
                ],
            )
        }
        None => r,
    }
}

#[test]
fn export_opens_with_stock_tools_and_is_logged() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    v.process_note("wang", case, "first session").ok();
    let keys = partner(&v, "Partner");
    for f in ["partner.agekey", "partner.minisign.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let c = cid(&consent(&v, "C001", "Partner", &[]).ok());
    let form = v.run("wang", &["consent", "form", &c]).ok();
    for s in [
        "Partner",
        "housing support",
        "2099-12-31",
        "call 021-123",
        "再披露告知",
        "Redisclosure",
    ] {
        assert!(
            form.stdout.contains(s),
            "{s} missing in form:\n{}",
            form.stdout
        );
    }

    let out = v.tmp.path().join("packet.age");
    let r = export(&v, "wang", case, "Partner", &c, &out, &[]).ok();
    let j = r.json();
    let content_sha = j["content_sha256"].as_str().unwrap().to_string();
    assert!(out.exists() && v.tmp.path().join("packet.age.minisig").exists());
    let our_pub = v.tmp.path().join("our.pub");
    v.run(
        "admin",
        &["agency", "key", "--out", our_pub.to_str().unwrap()],
    )
    .ok();

    // The export is in the disclosure log with its legal basis and digest.
    {
        let s = session(&v, "audit");
        let e = casevault::log::entries(
            &s.conn,
            &Filter {
                kind: Some(KindCode::ReferralExport),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(e.len(), 1);
        let e = &e[0].entry;
        assert_eq!(e.recipient, "Partner");
        assert_eq!(e.purpose, "housing support");
        assert_eq!(e.basis, LegalBasis::Consent(c.clone()));
        assert_eq!(
            casevault::crypto::hex(&e.disclosed_sha256.unwrap()),
            content_sha
        );
    }
    let l = v
        .run(
            "wang",
            &["--json", "referral", "list", "--case", &case.to_string()],
        )
        .ok();
    assert_eq!(l.json()[0]["status"], "sent");
    let rid = l.json()[0]["id"].as_i64().unwrap().to_string();
    v.run("wang", &["referral", "status", &rid, "rejected"])
        .fails();
    v.run("wang", &["referral", "status", &rid, "accepted"])
        .ok();

    // Stock tools open and verify it; one flipped byte breaks both.
    if tool("age") && tool("minisign") && tool("tar") {
        let key = keys.join("partner.agekey");
        let age_ok = |f: &Path| {
            sh(&format!(
                "age -d -i '{}' '{}' | tar -t | grep -q manifest.json",
                key.display(),
                f.display()
            ))
        };
        let sig_ok = |f: &Path| {
            sh(&format!(
                "minisign -V -p '{}' -m '{}' -x '{}.minisig' >/dev/null 2>&1",
                our_pub.display(),
                f.display(),
                out.display()
            ))
        };
        assert!(age_ok(&out), "age -d | tar -t failed");
        assert!(sig_ok(&out), "minisign -V failed");
        let mut bytes = std::fs::read(&out).unwrap();
        let n = bytes.len();
        bytes[n - 20] ^= 1;
        let bad = v.tmp.path().join("bad.age");
        std::fs::write(&bad, &bytes).unwrap();
        assert!(!age_ok(&bad), "age accepted a flipped byte");
        assert!(!sig_ok(&bad), "minisign accepted a flipped byte");
    }
}

#[test]
fn export_refusals() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let other_case = v.client_with_case("C002", "Li Si");
    let rec = v.process_note("wang", case, "first session").ok().json()["id"]
        .as_i64()
        .unwrap();
    let sup = v
        .supervision_note("li", case, "restricted topic")
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap();
    partner(&v, "Partner");
    partner(&v, "Other");
    let good = cid(&consent(&v, "C001", "Partner", &[]).ok());
    let foreign = cid(&consent(&v, "C002", "Partner", &[]).ok());
    let out = v.tmp.path().join("p.age");
    let refused = |who: &str, consent: &str, to: &str, extra: &[&str], want: &str| {
        let r = export(&v, who, case, to, consent, &out, extra).fails();
        // Under --json the error is JSON (docs/cli.md): its message is the text.
        let last = r.stderr.lines().last().unwrap_or_default();
        let j: serde_json::Value = serde_json::from_str(last).expect("a JSON error");
        let msg = j["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(want), "want {want:?}, got {}", r.stderr);
        assert!(!out.exists(), "a refused export wrote a file");
    };
    refused("wang", "99", "Partner", &[], "there is no consent 99");
    refused(
        "wang",
        &foreign,
        "Partner",
        &[],
        "belongs to another client",
    );
    refused(
        "wang",
        &good,
        "Other",
        &[],
        "names \"Partner\" as recipient",
    );
    refused("chen", &good, "Partner", &[], "not assigned");
    {
        let mut c = v.as_("wang");
        c.env("CASEVAULT_NOW", "2100-01-02").args([
            "referral",
            "export",
            "--case",
            &case.to_string(),
            "--to",
            "Partner",
            "--consent",
            &good,
            "--purpose",
            "housing support",
            "--out",
            out.to_str().unwrap(),
        ]);
        let r = run(c).fails();
        assert!(r.stderr.contains("expired"), "{}", r.stderr);
    }
    let r = v
        .run(
            "wang",
            &[
                "referral",
                "export",
                "--case",
                &case.to_string(),
                "--to",
                "Partner",
                "--consent",
                &good,
                "--purpose",
                "fundraising",
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .fails();
    assert!(
        r.stderr.contains("not among the consent's purposes"),
        "{}",
        r.stderr
    );
    refused(
        "li",
        &good,
        "Partner",
        &["--records", &sup.to_string()],
        "outside the consent's scope",
    );
    // A tier-3 process note: kind in scope, tier not.
    let t3 = v.run_stdin("wang", &["--json", "record", "add", "--case", &case.to_string(), "--kind",
        "process", "--tier", "3", "--fields", "-"],
        &serde_json::json!({"client_number": "C001", "date": "2026-11-20", "session_aim": "x", "narrative": "y"}).to_string())
        .ok().json()["id"].as_i64().unwrap();
    refused(
        "li",
        &good,
        "Partner",
        &["--records", &t3.to_string()],
        &format!("record {t3} is tier 3, outside"),
    );
    let r = v
        .run(
            "wang",
            &[
                "referral",
                "export",
                "--case",
                &other_case.to_string(),
                "--to",
                "Partner",
                "--consent",
                &good,
                "--purpose",
                "housing support",
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .fails();
    assert!(r.stderr.contains("another client"), "{}", r.stderr);

    // Consent rules at entry: tier 3 needs separate consent; a minor needs a guardian.
    let r = consent(&v, "C001", "Partner", &["--tiers", "1,2,3"]).fails();
    assert!(r.stderr.contains("separate consent"), "{}", r.stderr);
    v.run(
        "wang",
        &[
            "client",
            "add",
            "--number",
            "M01",
            "--name",
            "Xiao Ming",
            "--birth-date",
            "2020-05-01",
        ],
    )
    .ok();
    let minor_case = v
        .run("wang", &["--json", "case", "open", "M01"])
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap();
    v.process_note("wang", minor_case, "child session").ok();
    let r = consent(&v, "M01", "Partner", &[]).fails();
    assert!(r.stderr.contains("guardian must sign"), "{}", r.stderr);
    consent(
        &v,
        "M01",
        "Partner",
        &["--signer", "guardian", "--authority", "mother"],
    )
    .ok();

    // Consents that slipped past entry rules (older data) are still refused at export.
    let (minor_consent, lax_consent) = {
        let s = session(&v, "wang");
        let terms = |tiers: Vec<u8>, kinds: Vec<&str>| ConsentTerms {
            signer_role: SignerRole::Client,
            signer_name: "x".into(),
            authority: "self".into(),
            purposes: vec!["housing support".into()],
            kinds: kinds.into_iter().map(String::from).collect(),
            tiers,
            description: String::new(),
            separate_consent: false,
            revoke_how: "call".into(),
            redisclosure_notice: "no".into(),
            signed_on: Date::parse("2025-01-01").unwrap(),
            expires_on: Date::parse("2099-01-01").unwrap(),
        };
        let agency = casevault::store::agencies::find(&s.conn, "Partner")
            .unwrap()
            .unwrap()
            .id;
        let client = |n: &str| {
            casevault::store::clients::find(&s.conn, n)
                .unwrap()
                .unwrap()
                .id
        };
        let a = casevault::store::consents::insert(
            &s.conn,
            client("M01"),
            agency,
            &terms(vec![1, 2], vec!["process"]),
            None,
            0,
            "wang",
        )
        .unwrap();
        let b = casevault::store::consents::insert(
            &s.conn,
            client("C001"),
            agency,
            &terms(vec![1, 2, 3], vec!["process", "supervision"]),
            None,
            0,
            "wang",
        )
        .unwrap();
        std::env::set_var("CASEVAULT_TEST_MODE", "1");
        s.attest_consent_unchecked(a).unwrap();
        s.attest_consent_unchecked(b).unwrap();
        (a.to_string(), b.to_string())
    };
    let r = export(&v, "wang", minor_case, "Partner", &minor_consent, &out, &[]).fails();
    assert!(r.stderr.contains("no guardian signed"), "{}", r.stderr);
    refused(
        "li",
        &lax_consent,
        "Partner",
        &["--records", &sup.to_string()],
        "no separate consent",
    );

    // Tier 3 with separate consent: needs a supervisor's approval, then goes.
    let sep = cid(&consent(
        &v,
        "C001",
        "Partner",
        &[
            "--tiers",
            "1,2,3",
            "--kinds",
            "process,supervision",
            "--separate-consent",
        ],
    )
    .ok());
    let recs = format!("{rec},{sup}");
    refused(
        "li",
        &sep,
        "Partner",
        &["--records", &recs],
        "needs a supervisor's approval",
    );
    v.run(
        "wang",
        &[
            "referral",
            "approve",
            "--case",
            &case.to_string(),
            "--consent",
            &sep,
            "--records",
            &sup.to_string(),
        ],
    )
    .fails();
    v.run(
        "li",
        &[
            "referral",
            "approve",
            "--case",
            &case.to_string(),
            "--consent",
            &sep,
            "--records",
            &sup.to_string(),
        ],
    )
    .ok();
    let r = export(&v, "li", case, "Partner", &sep, &out, &["--records", &recs]).ok();
    assert_eq!(r.json()["referral"]["approver"], "li");

    // Revoked: refused.
    v.run("wang", &["consent", "revoke", &good, "--via", "phone"])
        .ok();
    std::fs::remove_file(&out).ok();
    refused("wang", &good, "Partner", &[], "was revoked on");
}

#[test]
fn second_vault_imports_once() {
    let a = TestVault::new();
    let b = TestVault::new();
    let case = a.client_with_case("C001", "Zhang San");
    a.process_note("wang", case, "first session").ok();

    // Each side registers the other: age recipient for what we send, minisign key for what we get.
    let b_inbound = b
        .run("admin", &["--json", "agency", "inbound-key"])
        .ok()
        .json()["age_recipient"]
        .as_str()
        .unwrap()
        .to_string();
    let b_pub = b.run("admin", &["--json", "agency", "key"]).ok().json()["minisign_public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let a_inbound = a
        .run("admin", &["--json", "agency", "inbound-key"])
        .ok()
        .json()["age_recipient"]
        .as_str()
        .unwrap()
        .to_string();
    let a_pub = a.run("admin", &["--json", "agency", "key"]).ok().json()["minisign_public_key"]
        .as_str()
        .unwrap()
        .to_string();
    a.run(
        "admin",
        &[
            "agency",
            "add",
            "Second",
            "--age-recipient",
            &b_inbound,
            "--minisign-pubkey",
            &b_pub,
        ],
    )
    .ok();
    b.run(
        "admin",
        &[
            "agency",
            "add",
            "First",
            "--age-recipient",
            &a_inbound,
            "--minisign-pubkey",
            &a_pub,
        ],
    )
    .ok();
    partner(&a, "Partner");

    let c = cid(&consent(&a, "C001", "Second", &[]).ok());
    let out = a.tmp.path().join("to-b.age");
    export(&a, "wang", case, "Second", &c, &out, &[]).ok();
    // A packet for someone else: wrong recipient.
    let c2 = cid(&consent(&a, "C001", "Partner", &[]).ok());
    let other = a.tmp.path().join("to-partner.age");
    export(&a, "wang", case, "Partner", &c2, &other, &[]).ok();

    b.run(
        "li",
        &["packet", "verify", out.to_str().unwrap(), "--from", "First"],
    )
    .ok();
    let o = b
        .run(
            "li",
            &["packet", "open", out.to_str().unwrap(), "--from", "First"],
        )
        .ok();
    assert!(o.stdout.contains("first session"), "{}", o.stdout);
    let r = b
        .run(
            "li",
            &[
                "packet",
                "import",
                other.to_str().unwrap(),
                "--from",
                "First",
            ],
        )
        .fails();
    assert!(
        r.stderr.contains("not encrypted to this agency"),
        "{}",
        r.stderr
    );

    // Bad signature: one flipped byte.
    let mut bytes = std::fs::read(&out).unwrap();
    let n = bytes.len();
    bytes[n - 5] ^= 1;
    let bad = a.tmp.path().join("bad.age");
    std::fs::write(&bad, &bytes).unwrap();
    std::fs::copy(
        a.tmp.path().join("to-b.age.minisig"),
        a.tmp.path().join("bad.age.minisig"),
    )
    .unwrap();
    let r = b
        .run(
            "li",
            &["packet", "import", bad.to_str().unwrap(), "--from", "First"],
        )
        .fails();
    assert!(r.stderr.contains("bad signature"), "{}", r.stderr);

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
    let new_case = r.json()["case_id"].as_i64().unwrap();
    let recs = b
        .run(
            "li",
            &["--json", "record", "list", "--case", &new_case.to_string()],
        )
        .ok();
    let rid = recs.json()[0]["id"].as_i64().unwrap();
    assert_eq!(recs.json()[0]["author"], "li");
    let shown = b.run("li", &["record", "show", &rid.to_string()]).ok();
    assert!(
        shown.stdout.contains("first session")
            && shown.stdout.contains("imported from referral packet"),
        "{}",
        shown.stdout
    );
    let r = b
        .run(
            "li",
            &["packet", "import", out.to_str().unwrap(), "--from", "First"],
        )
        .fails();
    assert!(r.stderr.contains("already imported"), "{}", r.stderr);
}

#[test]
fn partner_request_is_answered_with_a_packet_under_consent() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    v.process_note("li", case, "first session").ok();
    let keys = partner(&v, "Partner");
    let c = cid(&consent(&v, "C001", "Partner", &[]).ok());
    let r = v
        .run(
            "li",
            &[
                "--json",
                "request",
                "add",
                "--kind",
                "partner",
                "--client",
                "C001",
                "--requester",
                "Partner",
                "--authority",
                "partner",
                "--identity-check",
                "letter on file",
            ],
        )
        .ok();
    let rid = r.json()["id"].as_i64().unwrap().to_string();
    let out = v.tmp.path().join("answer.age");
    let case_s = case.to_string();
    let fulfil = |consent: &str| {
        v.run(
            "li",
            &[
                "--json",
                "request",
                "fulfil",
                &rid,
                "--out",
                out.to_str().unwrap(),
                "--case",
                &case_s,
                "--consent",
                consent,
                "--purpose",
                "housing support",
            ],
        )
    };
    // Without a case and consent, a partner request cannot be answered.
    v.run(
        "li",
        &["request", "fulfil", &rid, "--out", out.to_str().unwrap()],
    )
    .fails();
    // A consent for another recipient does not cover it.
    partner(&v, "Other");
    let other = cid(&consent(&v, "C001", "Other", &[]).ok());
    fulfil(&other).fails();
    assert!(!out.exists());
    // Under the covering consent: a packet, the request closed, a partner_response entry.
    fulfil(&c).ok();
    assert!(out.exists());
    let shown = v
        .run("li", &["--json", "request", "show", &rid])
        .ok()
        .json();
    assert_eq!(shown["status"], "fulfilled");
    let log = v
        .run(
            "li",
            &["--json", "log", "show", "--kind", "partner_response"],
        )
        .ok()
        .json();
    let e = &log.as_array().unwrap()[0];
    assert_eq!(e["recipient"], "Partner");
    assert_eq!(e["basis"], format!("consent {c}"));
    // The partner opens it with stock age.
    if tool("age") {
        let script = format!(
            "age -d -i {} {} | tar -t",
            keys.join("partner.agekey").display(),
            out.display()
        );
        assert!(sh(&script));
    }
    // Answered once only.
    fulfil(&c).fails();
}

#[test]
fn accepted_correction_notifies_past_recipients_with_an_amendment_packet() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let rec = v.process_note("wang", case, "wrong date").ok().json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let keys = partner(&v, "Partner");
    let c = cid(&consent(&v, "C001", "Partner", &[]).ok());
    export(
        &v,
        "wang",
        case,
        "Partner",
        &c,
        &v.tmp.path().join("p.age"),
        &[],
    )
    .ok();
    let unreferred = v.process_note("wang", case, "later").ok().json()["id"]
        .as_i64()
        .unwrap()
        .to_string();

    let add = |record: &str| {
        let r = v
            .run(
                "wang",
                &[
                    "--json",
                    "request",
                    "add",
                    "--kind",
                    "correction",
                    "--client",
                    "C001",
                    "--requester",
                    "Zhang San",
                    "--authority",
                    "self",
                    "--identity-check",
                    "ID card seen",
                    "--record",
                    record,
                ],
            )
            .ok();
        r.json()["id"].as_i64().unwrap().to_string()
    };
    let fixed = r#"{"client_number":"C001","date":"2026-11-21","session_aim":"check in","narrative":"right date"}"#;
    let rid = add(&rec);
    let acc = v
        .run_stdin(
            "wang",
            &["--json", "request", "accept", &rid, "--fields", "-"],
            fixed,
        )
        .ok()
        .json();
    let notify = acc["notify"].as_array().unwrap();
    assert_eq!(notify.len(), 1);
    assert_eq!(notify[0]["recipient"], "Partner");

    let dir = v.tmp.path().join("notices");
    let r = v
        .run(
            "li",
            &[
                "--json",
                "request",
                "notify",
                &rid,
                "--out-dir",
                dir.to_str().unwrap(),
            ],
        )
        .ok()
        .json();
    assert!(r[0]["packet_id"].is_string(), "{r}");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2, "packet and signature: {files:?}");
    let log = v
        .run(
            "li",
            &["--json", "log", "show", "--kind", "correction_notice"],
        )
        .ok()
        .json();
    assert!(log
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["recipient"] == "Partner" && e["basis"] == format!("consent {c}")));
    if tool("age") {
        let packet = files
            .iter()
            .find(|f| f.extension().is_some_and(|e| e == "age"))
            .unwrap();
        assert!(sh(&format!(
            "age -d -i {} {} | tar -t",
            keys.join("partner.agekey").display(),
            packet.display()
        )));
    }

    // A record never referred has no one to notify.
    let rid2 = add(&unreferred);
    let acc = v
        .run_stdin(
            "wang",
            &["--json", "request", "accept", &rid2, "--fields", "-"],
            fixed,
        )
        .ok()
        .json();
    assert!(acc["notify"].as_array().unwrap().is_empty());
}
