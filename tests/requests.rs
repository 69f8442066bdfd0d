//! Data-subject and partner requests through the real binary: intake and authority rules,
//! due dates and overdue detection under a controlled clock, access packages (contents,
//! withholding, accounting, log entry, receipt), corrections accepted and denied, partner
//! refusals.

mod common;

use std::io::Read;
use std::str::FromStr;

use common::*;
use secrecy::SecretString;
use serde_json::{json, Value};

/// `args` as `who` with the clock set to `date`.
fn at(v: &TestVault, who: &str, date: &str, args: &[&str]) -> Run {
    let mut c = v.as_(who);
    c.env("CASEVAULT_NOW", date).args(args);
    run(c)
}

fn at_stdin(v: &TestVault, who: &str, date: &str, args: &[&str], stdin: &str) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    let mut c = v.as_(who);
    c.env("CASEVAULT_NOW", date)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn add_request(v: &TestVault, date: &str, args: &[&str]) -> Run {
    let mut a = vec!["--json", "request", "add"];
    a.extend_from_slice(args);
    at(v, "wang", date, &a)
}

fn id(r: &Run) -> String {
    r.json()["id"].as_i64().unwrap().to_string()
}

/// Entries of a ustar archive (name → data).
fn untar(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 512 <= bytes.len() && bytes[pos] != 0 {
        let h = &bytes[pos..pos + 512];
        let name = String::from_utf8(h[..100].split(|b| *b == 0).next().unwrap().to_vec()).unwrap();
        let size_txt = std::str::from_utf8(&h[124..135]).unwrap();
        let size = usize::from_str_radix(size_txt, 8).unwrap();
        pos += 512;
        out.push((name, bytes[pos..pos + size].to_vec()));
        pos += size.div_ceil(512) * 512;
    }
    out
}

/// Decrypts a package with an X25519 identity; returns (plaintext, package.json, document.md).
fn open_package(path: &std::path::Path, id: &dyn age::Identity) -> (Vec<u8>, Value, String) {
    let file = std::fs::read(path).unwrap();
    let dec = age::Decryptor::new_buffered(&file[..]).unwrap();
    let mut plain = Vec::new();
    dec.decrypt(std::iter::once(id))
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    let files = untar(&plain);
    assert_eq!(files[0].0, "package.json");
    assert_eq!(files[1].0, "document.md");
    let j: Value = serde_json::from_slice(&files[0].1).unwrap();
    let doc = String::from_utf8(files[1].1.clone()).unwrap();
    (plain, j, doc)
}

fn sha256_hex(b: &[u8]) -> String {
    casevault::crypto::hex(&casevault::crypto::sha256(b))
}

#[test]
fn intake_due_dates_and_overdue_under_a_controlled_clock() {
    let v = TestVault::new();
    v.client_with_case("C1", "Liu Yang");
    let r = add_request(
        &v,
        "2026-11-01",
        &[
            "--kind",
            "access",
            "--client",
            "C1",
            "--requester",
            "Liu Yang",
        ],
    )
    .ok();
    let j = r.json();
    assert_eq!(j["received"], "2026-11-01");
    assert_eq!(j["due"], "2026-11-16"); // access_days = 15
    assert_eq!(j["status"], "open");
    assert_eq!(j["overdue"], false);
    let partner = add_request(
        &v,
        "2026-11-01",
        &[
            "--kind",
            "partner",
            "--client",
            "C1",
            "--requester",
            "Sunshine Centre",
            "--authority",
            "partner",
        ],
    )
    .ok();
    assert_eq!(partner.json()["due"], "2026-12-01"); // partner_days = 30

    // On the due date: not overdue. The day after: overdue, and --overdue lists it.
    let list = |date: &str, extra: &[&str]| {
        let mut a = vec!["--json", "request", "list"];
        a.extend_from_slice(extra);
        at(&v, "wang", date, &a).ok().json()
    };
    let on_due = list("2026-11-16", &[]);
    assert_eq!(on_due.as_array().unwrap().len(), 2);
    assert!(on_due
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["overdue"] == false));
    assert!(list("2026-11-16", &["--overdue"])
        .as_array()
        .unwrap()
        .is_empty());
    let late = list("2026-11-17", &["--overdue"]);
    assert_eq!(late.as_array().unwrap().len(), 1);
    assert_eq!(late[0]["kind"], "access");
    assert_eq!(late[0]["overdue"], true);
    let text = at(&v, "wang", "2026-11-17", &["request", "list"])
        .ok()
        .stdout;
    assert!(text.contains("OVERDUE"), "{text}");
    // Two months on, both are overdue; an answered request never is.
    assert_eq!(
        list("2027-01-10", &["--overdue"]).as_array().unwrap().len(),
        2
    );
    at(
        &v,
        "wang",
        "2027-01-10",
        &[
            "request",
            "deny",
            &id(&partner),
            "--reason",
            "no consent covers this",
        ],
    )
    .ok();
    assert_eq!(
        list("2027-01-10", &["--overdue"]).as_array().unwrap().len(),
        1
    );

    // A received date in the future is refused; so is an unknown kind.
    add_request(
        &v,
        "2026-11-01",
        &[
            "--kind",
            "access",
            "--client",
            "C1",
            "--requester",
            "x",
            "--received",
            "2026-12-01",
        ],
    )
    .fails();
    add_request(
        &v,
        "2026-11-01",
        &["--kind", "delete", "--client", "C1", "--requester", "x"],
    )
    .fails();
}

#[test]
fn a_minor_needs_a_listed_guardian_or_a_checked_agent() {
    let v = TestVault::new();
    v.run(
        "wang",
        &[
            "client",
            "add",
            "--number",
            "M1",
            "--name",
            "Xiao Ming",
            "--birth-date",
            "2016-05-01",
            "--guardian",
            "Zhang Mei:mother",
        ],
    )
    .ok();
    v.run("wang", &["case", "open", "M1"]).ok();
    let base = ["--kind", "access", "--client", "M1"];
    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        add_request(&v, "2026-11-01", &a)
    };
    // The child alone may not ask.
    let r = with(&["--requester", "Xiao Ming"]).fails();
    assert!(r.stderr.contains("under 14"), "{}", r.stderr);
    // Someone claiming to be a guardian who is not listed: refused, without echoing the name.
    let r = with(&["--requester", "Wu Qiang", "--authority", "guardian"]).fails();
    assert!(r.stderr.contains("not a listed guardian"), "{}", r.stderr);
    assert!(!r.stderr.contains("Wu Qiang"));
    // An agent without an identity check: refused; with one: accepted.
    with(&["--requester", "Lawyer Gao", "--authority", "agent"]).fails();
    with(&[
        "--requester",
        "Lawyer Gao",
        "--authority",
        "agent",
        "--identity-check",
        "power of attorney signed by the mother, ID sighted",
    ])
    .ok();
    // The listed guardian: accepted, with the request shown as a guardian's.
    let r = with(&[
        "--requester",
        "Zhang Mei",
        "--authority",
        "guardian",
        "--identity-check",
        "ID card sighted",
    ])
    .ok();
    assert_eq!(r.json()["authority"], "guardian");
    // The guardian's access request is fulfilled like any other.
    let key = age::x25519::Identity::generate();
    let out = v.tmp.path().join("minor.age");
    at(
        &v,
        "li",
        "2026-11-02",
        &[
            "request",
            "fulfil",
            &id(&r),
            "--out",
            out.to_str().unwrap(),
            "--recipient",
            &key.to_public().to_string(),
        ],
    )
    .ok();
    let (_, j, _) = open_package(&out, &key);
    assert_eq!(j["request"]["authority"], "guardian");
    assert_eq!(j["client"]["number"], "M1");
    // After 14 the client may ask alone.
    add_request(
        &v,
        "2030-05-01",
        &[
            "--kind",
            "access",
            "--client",
            "M1",
            "--requester",
            "Xiao Ming",
        ],
    )
    .ok();
    // A partner-kind request must come from a partner and vice versa.
    with(&["--requester", "Zhang Mei", "--authority", "partner"]).fails();
}

#[test]
fn access_package_holds_what_the_client_may_see_and_lists_what_was_withheld() {
    let v = TestVault::new();
    let case = v.client_with_case("C1", "Liu Yang");
    let cs = case.to_string();
    let seen = v
        .process_note("wang", case, "talked about school")
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap();
    let restricted = v
        .supervision_note("wang", case, "SUPERVISION-SECRET")
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap();
    let third = json!({"client_number": "C1", "date": "2026-11-20", "session_aim": "family",
                       "narrative": "NEIGHBOUR-DETAILS", "third_party": true});
    let third_id = v
        .run_stdin(
            "wang",
            &[
                "--json", "record", "add", "--case", &cs, "--kind", "process", "--fields", "-",
            ],
            &third.to_string(),
        )
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap();
    let req = add_request(
        &v,
        "2026-11-21",
        &[
            "--kind",
            "access",
            "--client",
            "C1",
            "--requester",
            "Liu Yang",
            "--identity-check",
            "ID card",
        ],
    )
    .ok();
    let rid = id(&req);

    // A caseworker not assigned to the client's case may not answer it.
    v.run("wang", &["case", "assign", &cs, "chen"]).fails(); // caseworkers cannot assign
    let out = v.tmp.path().join("pkg.age");
    let key = age::x25519::Identity::generate();
    let recipient = key.to_public().to_string();
    let fulfil = |who: &str, out: &std::path::Path| {
        at(
            &v,
            who,
            "2026-11-22",
            &[
                "--json",
                "request",
                "fulfil",
                &rid,
                "--out",
                out.to_str().unwrap(),
                "--recipient",
                &recipient,
            ],
        )
    };
    fulfil("chen", &out).fails();
    assert!(!out.exists());
    // Without a target, or with an argv passphrase: no such option.
    at(
        &v,
        "wang",
        "2026-11-22",
        &["request", "fulfil", &rid, "--out", out.to_str().unwrap()],
    )
    .fails();
    at(
        &v,
        "wang",
        "2026-11-22",
        &[
            "request",
            "fulfil",
            &rid,
            "--out",
            out.to_str().unwrap(),
            "--package-passphrase",
            "x",
        ],
    )
    .fails();

    // Released by a supervisor: only a checkpoint key holder's receipt carries a checkpoint
    // (issue 11 item 1); a caseworker's fulfilment waits for one (`AwaitingCheckpoint`).
    let o = fulfil("li", &out).ok().json();
    assert_eq!(o["records"], 1);
    assert_eq!(o["withheld"], 2);
    let (plain, j, doc) = open_package(&out, &key);
    assert_eq!(j["format"], "casevault-access-package/1");
    assert_eq!(j["client"]["name"], "Liu Yang");
    let recs = j["records"].as_array().unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["id"], seen);
    assert_eq!(recs[0]["fields"]["narrative"], "talked about school");
    let withheld = j["withheld"].as_array().unwrap();
    let reason_of = |rid: i64| {
        withheld.iter().find(|w| w["record_id"] == rid).unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(reason_of(restricted), "supervisor_only_tier");
    assert_eq!(reason_of(third_id), "third_party");
    assert!(withheld
        .iter()
        .all(|w| !w["reason_zh"].as_str().unwrap().is_empty()
            && !w["reason_en"].as_str().unwrap().is_empty()));
    // Neither withheld content leaks into the package.
    let text = String::from_utf8_lossy(&plain);
    assert!(!text.contains("SUPERVISION-SECRET") && !text.contains("NEIGHBOUR-DETAILS"));
    for k in ["purposes", "categories", "retention", "sources"] {
        assert!(!j[k].as_array().unwrap().is_empty(), "{k}");
    }
    assert_eq!(j["retention"][0]["years_after_case_closes"], 10);
    assert_eq!(j["disclosures"]["lookback_years"], 6);
    assert!(j["rights"]["zh"]
        .as_str()
        .unwrap()
        .contains("个人信息保护法"));
    assert!(j["complaints"]["en"].as_str().unwrap().contains("complain"));
    // The readable document carries both languages.
    for s in [
        "您的权利",
        "Your rights",
        "What was withheld",
        "talked about school",
        "Liu Yang",
    ] {
        assert!(doc.contains(s), "document lacks {s}");
    }

    // Logged as a disclosure of exactly these bytes, with a receipt beside the package.
    assert_eq!(o["package_sha256"], sha256_hex(&plain));
    let log = v
        .run(
            "li",
            &[
                "--json",
                "log",
                "show",
                "--kind",
                "access_package",
                "--client",
                "C1",
            ],
        )
        .ok()
        .json();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["disclosed_sha256"], sha256_hex(&plain));
    assert_eq!(log[0]["recipient"], format!("self (request {rid})"));
    assert!(log[0]["basis"].as_str().unwrap().contains("PIPL art. 45"));
    assert!(!log[0]["detail"].as_str().unwrap().contains("Liu"));
    let receipt_text = std::fs::read_to_string(v.tmp.path().join("pkg.age.receipt.json")).unwrap();
    let receipt = casevault::log::Receipt::from_json(&receipt_text).unwrap();
    let vkey = v
        .run("audit", &["log", "key"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let (_, entry) = casevault::log::verify_receipt(&receipt, &vkey).unwrap();
    assert_eq!(
        entry.disclosed_sha256.map(|h| casevault::crypto::hex(&h)),
        Some(sha256_hex(&plain))
    );
    v.run("audit", &["log", "verify"]).ok();

    // The request is closed with what was withheld; a second fulfilment is refused and
    // never overwrites the package.
    let shown = v
        .run("wang", &["--json", "request", "show", &rid])
        .ok()
        .json();
    assert_eq!(shown["status"], "fulfilled");
    assert_eq!(shown["withheld"].as_array().unwrap().len(), 2);
    assert_eq!(shown["log_index"], o["log_index"]);
    fulfil("wang", &v.tmp.path().join("again.age")).fails();
    // Nothing but ciphertext on disk.
    let file = std::fs::read(&out).unwrap();
    assert!(file.starts_with(b"age-encryption.org/v1"));
}

#[test]
fn a_passphrase_package_opens_with_the_passphrase() {
    let v = TestVault::new();
    v.client_with_case("C1", "Liu Yang");
    let r = add_request(
        &v,
        "2026-11-21",
        &[
            "--kind",
            "access",
            "--client",
            "C1",
            "--requester",
            "Liu Yang",
        ],
    )
    .ok();
    let out = v.tmp.path().join("pkg.age");
    let mut c = v.as_("wang");
    c.env(
        "CASEVAULT_PACKAGE_PASSPHRASE",
        "tea by the willow river at dusk",
    )
    .args(["request", "fulfil", &id(&r), "--out", out.to_str().unwrap()]);
    // A caseworker holds no checkpoint key: logged, not released, until a supervisor's
    // session covers the entry (issue 11 item 1); then the resend carries the receipt.
    let failed = run(c).fails();
    assert!(
        failed.stderr.contains("no checkpoint covers it"),
        "{}",
        failed.stderr
    );
    assert!(!out.exists());
    v.run("li", &["case", "list"]).ok();
    let mut c = v.as_("wang");
    c.env(
        "CASEVAULT_PACKAGE_PASSPHRASE",
        "tea by the willow river at dusk",
    )
    .args(["request", "resend", &id(&r), "--out", out.to_str().unwrap()]);
    run(c).ok();
    let ident = age::scrypt::Identity::new(SecretString::from(
        "tea by the willow river at dusk".to_string(),
    ));
    let (_, j, _) = open_package(&out, &ident);
    assert_eq!(j["client"]["number"], "C1");
}

#[test]
fn the_accounting_lists_exactly_the_disclosures_made_within_the_lookback() {
    let v = TestVault::new();
    let case = v.client_with_case("C1", "Liu Yang");
    v.client_with_case("C2", "Other Person");
    let key = age::x25519::Identity::generate();
    let recipient = key.to_public().to_string();
    let pkg = |client: &str, date: &str, name: &str| -> (String, std::path::PathBuf) {
        let r = add_request(
            &v,
            date,
            &["--kind", "access", "--client", client, "--requester", "x"],
        )
        .ok();
        let out = v.tmp.path().join(name);
        at(
            &v,
            "li",
            date,
            &[
                "request",
                "fulfil",
                &id(&r),
                "--out",
                out.to_str().unwrap(),
                "--recipient",
                &recipient,
            ],
        )
        .ok();
        (id(&r), out)
    };
    // Seven years ago: outside the six-year lookback.
    pkg("C1", "2019-10-01", "old.age");
    // Within the lookback: one access package, one referral export (injected as issue 4
    // will log it), and things that are not disclosures of C1's data.
    let (first, _) = pkg("C1", "2025-03-01", "first.age");
    pkg("C2", "2025-04-01", "other-client.age");
    let partner = add_request(
        &v,
        "2025-05-01",
        &[
            "--kind",
            "partner",
            "--client",
            "C1",
            "--requester",
            "Sunshine Centre",
            "--authority",
            "partner",
        ],
    )
    .ok();
    at(
        &v,
        "li",
        "2025-05-02",
        &["request", "deny", &id(&partner), "--reason", "no consent"],
    )
    .ok();
    {
        use casevault::log::{Kind, LegalBasis};
        let s = v.session("wang");
        let mut e = s.log_entry(Kind::ReferralExport, Some(case)).unwrap();
        e.recipient = "Harbour Youth Centre".into();
        e.purpose = "housing support".into();
        e.basis = LegalBasis::Consent("1".into());
        e.disclosed_sha256 = Some([7; 32]);
        e.detail = "referral 1: 2 records".into();
        let tx = casevault::store::immediate(&s.conn).unwrap();
        s.log_append(&tx, &e).unwrap();
        tx.commit().unwrap();
    }
    // The partner refusal is logged, with nothing disclosed.
    let refusals = v
        .run(
            "li",
            &["--json", "log", "show", "--kind", "partner_response"],
        )
        .ok()
        .json();
    assert_eq!(refusals.as_array().unwrap().len(), 1);
    assert_eq!(refusals[0]["recipient"], "Sunshine Centre");
    assert!(refusals[0]["disclosed_sha256"].is_null());

    let (_, out) = pkg("C1", "2026-11-23", "now.age");
    let (_, j, doc) = open_package(&out, &key);
    let entries = j["disclosures"]["entries"].as_array().unwrap();
    let described: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().into(),
                e["recipient"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        described,
        vec![
            (
                "access_package".to_string(),
                format!("self (request {first})")
            ),
            (
                "referral_export".to_string(),
                "Harbour Youth Centre".to_string()
            ),
        ]
    );
    assert_eq!(entries[1]["purpose"], "housing support");
    assert!(entries[1]["date"].as_str().unwrap().len() >= 10);
    assert_eq!(j["disclosures"]["from"], "2020-11-23");
    assert_eq!(j["recipients"].as_array().unwrap().len(), 2);
    assert!(doc.contains("Harbour Youth Centre") && doc.contains("housing support"));
}

fn process_fields(narrative: &str) -> String {
    json!({"client_number": "C1", "date": "2026-11-20", "session_aim": "check in", "narrative": narrative})
        .to_string()
}

#[test]
fn an_accepted_correction_appends_a_linked_amendment_and_keeps_the_original() {
    let v = TestVault::new();
    let case = v.client_with_case("C1", "Liu Yang");
    let rec = v
        .process_note("wang", case, "lives with grandmother")
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap();
    // A correction names its record, which must be the client's.
    add_request(
        &v,
        "2026-11-21",
        &[
            "--kind",
            "correction",
            "--client",
            "C1",
            "--requester",
            "Liu Yang",
        ],
    )
    .fails();
    let other = v.client_with_case("C9", "Someone Else");
    let foreign = v.process_note("wang", other, "x").ok().json()["id"]
        .as_i64()
        .unwrap();
    add_request(
        &v,
        "2026-11-21",
        &[
            "--kind",
            "correction",
            "--client",
            "C1",
            "--requester",
            "Liu Yang",
            "--record",
            &foreign.to_string(),
        ],
    )
    .fails();
    let r = add_request(
        &v,
        "2026-11-21",
        &[
            "--kind",
            "correction",
            "--client",
            "C1",
            "--requester",
            "Liu Yang",
            "--record",
            &rec.to_string(),
        ],
    )
    .ok();
    assert_eq!(r.json()["due"], "2026-12-06");
    // Fulfil is for access requests.
    at(
        &v,
        "wang",
        "2026-11-22",
        &[
            "request",
            "fulfil",
            &id(&r),
            "--out",
            "x.age",
            "--recipient",
            "age1x",
        ],
    )
    .fails();
    let o = at_stdin(
        &v,
        "wang",
        "2026-11-22",
        &["--json", "request", "accept", &id(&r), "--fields", "-"],
        &process_fields("lives with her aunt"),
    )
    .ok()
    .json();
    let amendment = o["amendment"]["id"].as_i64().unwrap();
    assert_eq!(o["amendment"]["amends"], rec);
    assert_eq!(o["notify"].as_array().unwrap().len(), 0);
    assert_eq!(o["request"]["status"], "accepted");
    assert_eq!(o["request"]["amendment_id"], amendment);
    // Both versions are there.
    let orig = v
        .run("wang", &["--json", "record", "show", &rec.to_string()])
        .ok()
        .json();
    assert_eq!(orig["fields"]["narrative"], "lives with grandmother");
    let new = v
        .run(
            "wang",
            &["--json", "record", "show", &amendment.to_string()],
        )
        .ok()
        .json();
    assert_eq!(new["fields"]["narrative"], "lives with her aunt");
    // Logged as a correction.
    let log = v
        .run(
            "li",
            &["--json", "log", "show", "--kind", "correction_notice"],
        )
        .ok()
        .json();
    assert_eq!(log.as_array().unwrap().len(), 1);
    assert!(log[0]["detail"]
        .as_str()
        .unwrap()
        .contains(&format!("amended by record {amendment}")));
    // Closed: a second answer is refused.
    v.run("wang", &["request", "deny", &id(&r), "--reason", "x"])
        .fails();
}

// Past recipients of a corrected record come from real referral rows: see
// tests/referral.rs `accepted_correction_notifies_past_recipients_with_an_amendment_packet`.

#[test]
fn a_denied_correction_records_the_reason_and_attaches_the_statement() {
    let v = TestVault::new();
    let case = v.client_with_case("C1", "Liu Yang");
    let rec = v
        .process_note("wang", case, "was angry in the session")
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap();
    let r = add_request(
        &v,
        "2026-11-21",
        &[
            "--kind",
            "correction",
            "--client",
            "C1",
            "--requester",
            "Liu Yang",
            "--record",
            &rec.to_string(),
        ],
    )
    .ok();
    // A denial needs a reason.
    v.run("wang", &["request", "deny", &id(&r), "--reason", " "])
        .fails();
    let statement = v.tmp.path().join("statement.txt");
    std::fs::write(
        &statement,
        "I was not angry; I was worried about my mother.",
    )
    .unwrap();
    let d = v
        .run(
            "wang",
            &[
                "--json",
                "request",
                "deny",
                &id(&r),
                "--reason",
                "the note records the worker's observation at the time",
                "--statement",
                statement.to_str().unwrap(),
            ],
        )
        .ok()
        .json();
    assert_eq!(d["status"], "denied");
    assert_eq!(
        d["response"],
        "the note records the worker's observation at the time"
    );
    let st = d["statement_id"].as_i64().unwrap();
    let shown = v
        .run("wang", &["--json", "record", "show", &st.to_string()])
        .ok()
        .json();
    assert_eq!(shown["amends"], rec);
    assert_eq!(shown["fields"]["narrative"], "was angry in the session");
    let note = shown["fields"]["note"].as_str().unwrap();
    assert!(note.contains("Statement of disagreement") && note.contains("worried about my mother"));
    // The original is untouched.
    let orig = v
        .run("wang", &["--json", "record", "show", &rec.to_string()])
        .ok()
        .json();
    assert!(orig["fields"].get("note").is_none());
    // A statement belongs to corrections only.
    let a = add_request(
        &v,
        "2026-11-21",
        &[
            "--kind",
            "access",
            "--client",
            "C1",
            "--requester",
            "Liu Yang",
        ],
    )
    .ok();
    v.run(
        "wang",
        &[
            "request",
            "deny",
            &id(&a),
            "--reason",
            "r",
            "--statement",
            statement.to_str().unwrap(),
        ],
    )
    .fails();
}

#[test]
fn partner_requests_need_a_consent_or_are_refused_with_a_reason() {
    let v = TestVault::new();
    v.client_with_case("C1", "Liu Yang");
    let r = add_request(
        &v,
        "2026-11-21",
        &[
            "--kind",
            "partner",
            "--client",
            "C1",
            "--requester",
            "Sunshine Centre",
            "--authority",
            "partner",
        ],
    )
    .ok();
    let key = age::x25519::Identity::generate();
    let out = v.tmp.path().join("p.age");
    let f = v
        .run(
            "wang",
            &[
                "request",
                "fulfil",
                &id(&r),
                "--out",
                out.to_str().unwrap(),
                "--recipient",
                &key.to_public().to_string(),
            ],
        )
        .fails();
    assert!(f.stderr.contains("--consent"), "{}", f.stderr);
    assert!(!out.exists());
    let d = v
        .run(
            "wang",
            &[
                "--json",
                "request",
                "deny",
                &id(&r),
                "--reason",
                "no consent covers this purpose",
            ],
        )
        .ok()
        .json();
    assert_eq!(d["status"], "denied");
    assert_eq!(d["response"], "no consent covers this purpose");
    let idx = d["log_index"].as_u64().unwrap();
    let log = v
        .run(
            "li",
            &["--json", "log", "show", "--kind", "partner_response"],
        )
        .ok()
        .json();
    assert_eq!(log[0]["index"].as_u64().unwrap(), idx);
    assert_eq!(log[0]["client"], "C1");
    assert!(log[0]["disclosed_sha256"].is_null());
    // Auditors and admins do not handle requests.
    v.run("admin", &["request", "list"]).fails();
    v.run("audit", &["request", "list"]).fails();
}

#[test]
fn a_caseworker_sees_only_requests_of_their_clients() {
    let v = TestVault::new();
    v.client_with_case("C1", "Liu Yang");
    add_request(
        &v,
        "2026-11-21",
        &[
            "--kind",
            "access",
            "--client",
            "C1",
            "--requester",
            "Liu Yang",
        ],
    )
    .ok();
    let list = v.run("chen", &["--json", "request", "list"]).ok().json();
    assert!(list.as_array().unwrap().is_empty());
    v.run("chen", &["request", "show", "1"]).fails();
    let all = v.run("li", &["--json", "request", "list"]).ok().json();
    assert_eq!(all.as_array().unwrap().len(), 1);
    let _ = age::x25519::Recipient::from_str(
        &age::x25519::Identity::generate().to_public().to_string(),
    )
    .unwrap();
}
