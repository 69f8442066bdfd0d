//! `audit run`: a clean vault has no finding; each planted defect is found, with its check
//! id and the ids where it is; exit codes 0 / 1 / 2; the auditor sees no content.

mod common;

use casevault::log::{Kind, LegalBasis};
use casevault::store;
use casevault::vault::Session;
use common::*;
use serde_json::Value;

const SECRET: &str = "the client's secret narrative";

fn open_as(v: &TestVault, who: &str) -> Session {
    v.session(who)
}

/// A vault with one case (wang assigned) holding a process note and a supervision note.
fn populated() -> (TestVault, i64) {
    let v = TestVault::new();
    let case = v.client_with_case("C-001", "Zhang San");
    v.process_note("wang", case, SECRET).ok();
    v.supervision_note("li", case, "supervision topic").ok();
    (v, case)
}

/// Runs `audit run --format json` as `who` with extra args; returns (exit code, report).
fn audit_json(v: &TestVault, who: &str, extra: &[&str], now: Option<&str>) -> (Run, Value) {
    let mut c = v.as_(who);
    c.args(["audit", "run", "--format", "json"]).args(extra);
    if let Some(n) = now {
        c.env("CASEVAULT_NOW", n);
    }
    let r = run(c);
    let j = if r.stdout.trim().is_empty() {
        Value::Null
    } else {
        r.json()
    };
    (r, j)
}

fn checks_of(j: &Value) -> Vec<String> {
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap().to_string())
        .collect()
}

/// The one finding of `check`, asserting it exists.
fn finding<'a>(j: &'a Value, check: &str) -> &'a Value {
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no {check} finding in {:#}", j["findings"]))
}

fn location(f: &Value) -> String {
    f["location"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("; ")
}

fn assert_complete_finding(f: &Value) {
    for k in ["check", "severity", "what", "fix"] {
        assert!(
            f[k].as_str().is_some_and(|s| !s.is_empty()),
            "{k} missing: {f}"
        );
    }
    assert!(!f["location"].as_array().unwrap().is_empty(), "{f}");
}

#[test]
fn clean_vault_has_no_finding_and_exits_0() {
    let (v, _) = populated();
    let (r, j) = audit_json(&v, "audit", &[], None);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    assert_eq!(j["findings"].as_array().unwrap().len(), 0, "{:#}", j);
    assert_eq!(j["clean"], true);
    assert_eq!(j["complete"], true);
    assert_eq!(j["figures"]["records"], 2);
    assert_eq!(j["figures"]["clients"], 1);
    // Every check ran or was skipped for a table this schema does not have yet.
    for c in j["checks"].as_array().unwrap() {
        assert!(
            c["state"] == "ran" || c["state"].get("skipped").is_some(),
            "{c}"
        );
    }
    // Markdown and HTML say so too, and hold no content.
    for fmt in ["md", "html"] {
        let r = v.run("audit", &["audit", "run", "--format", fmt]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.contains("no findings") || r.stdout.contains("No findings"));
        assert!(!r.stdout.contains(SECRET) && !r.stdout.contains("Zhang San"));
    }
}

#[test]
fn auditor_runs_everything_without_content() {
    let (v, case) = populated();
    v.run("li", &["case", "close", &case.to_string()]).ok();
    // Far in the future: the closed case's records are past retention.
    let (r, j) = audit_json(&v, "audit", &[], Some("2070-01-01"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let all = j.to_string();
    assert!(!all.contains(SECRET), "record content in the report");
    assert!(!all.contains("Zhang San"), "client name in the report");
    // The auditor may not see clients: the finding names ids, not the client number.
    let f = finding(&j, "retention.expired");
    assert!(!location(f).contains("C-001"), "{}", location(f));
    assert!(location(f).contains(&format!("case {case}")));
    // A caseworker may not run the audit at all: could not run.
    let (r, _) = audit_json(&v, "wang", &[], None);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(!r.stderr.trim().is_empty());
}

#[test]
fn exit_codes() {
    let (v, _) = populated();
    // Wrong passphrase: could not run.
    let mut c = cmd(&v.dir);
    c.args(["--as", "audit", "audit", "run"])
        .env("CASEVAULT_PASSPHRASE", "wrong");
    assert_eq!(run(c).code, 2);
    // No vault: could not run.
    let mut c = cmd(&v.tmp.path().join("nothing"));
    c.args(["--as", "audit", "audit", "run"])
        .env("CASEVAULT_PASSPHRASE", pw("audit"));
    assert_eq!(run(c).code, 2);
    // Bad arguments: could not run.
    assert_eq!(v.run("audit", &["audit", "run", "--format", "pdf"]).code, 2);
    assert_eq!(
        v.run("audit", &["audit", "run", "--since", "yesterday"])
            .code,
        2
    );
    // A medium finding: 1 by default, 0 with --fail-on high.
    // An age file that is age: fine.
    std::fs::write(
        v.dir.join("keys").join("stray.age"),
        b"age-encryption.org/v1\n",
    )
    .unwrap();
    v.run("li", &["case", "close", "1"]).ok();
    let (r, j) = audit_json(&v, "audit", &[], Some("2070-01-01"));
    assert_eq!(r.code, 1);
    assert_eq!(j["worst"], "medium", "{:#}", j["findings"]);
    let (r, _) = audit_json(&v, "audit", &["--fail-on", "high"], Some("2070-01-01"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // --out writes the file and says so on stderr.
    let out = v.tmp.path().join("report.md");
    let r = v.run(
        "audit",
        &[
            "audit",
            "run",
            "--out",
            out.to_str().unwrap(),
            "--fail-on",
            "critical",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(std::fs::read_to_string(&out).unwrap().starts_with("# "));
    assert!(r.stderr.contains("report.md"));
}

#[test]
fn tier3_key_wrapped_to_a_caseworker_is_found() {
    let (v, case) = populated();
    {
        let s = open_as(&v, "admin");
        let epoch = store::keys::current_epoch(&s.conn, case).unwrap().unwrap();
        store::keys::put_wrap(&s.conn, case, epoch, "wang", &[1, 2, 3], b"not real").unwrap();
    }
    let (r, j) = audit_json(&v, "audit", &[], None);
    assert_eq!(r.code, 1);
    let f = finding(&j, "keys.restricted_tier");
    assert_complete_finding(f);
    assert_eq!(f["severity"], "critical");
    assert!(location(f).contains("staff wang"), "{}", location(f));
    assert!(location(f).contains(&format!("case {case}")));
}

#[test]
fn departed_staff_still_holding_a_wrapping_is_found() {
    let (v, case) = populated();
    v.run("li", &["case", "assign", &case.to_string(), "chen"])
        .ok();
    v.run("admin", &["staff", "remove", "chen"]).ok();
    // Offboarding removed chen's wrappings: still clean.
    let (r, j) = audit_json(&v, "audit", &[], None);
    assert_eq!(r.code, 0, "{:#}", j["findings"]);
    {
        let s = open_as(&v, "admin");
        store::keys::put_wrap(&s.conn, case, 1, "chen", &[1, 2], b"left behind").unwrap();
    }
    let (r, j) = audit_json(&v, "audit", &[], None);
    assert_eq!(r.code, 1);
    let f = finding(&j, "keys.departed_holder");
    assert_complete_finding(f);
    assert!(location(f).contains("staff chen"));
    assert!(location(f).contains(&format!("case {case}")));
}

#[test]
fn admin_or_auditor_holding_case_keys_is_found() {
    let (v, case) = populated();
    {
        let s = open_as(&v, "admin");
        store::keys::put_wrap(&s.conn, case, 1, "audit", &[1], b"x").unwrap();
    }
    let (_, j) = audit_json(&v, "audit", &[], None);
    assert!(location(finding(&j, "keys.role_holds_keys")).contains("staff audit"));
}

#[test]
fn plaintext_in_the_vault_directory_is_found() {
    let (v, _) = populated();
    std::fs::write(v.dir.join("notes.txt"), "client notes in plaintext").unwrap();
    std::fs::write(v.dir.join("staff").join("wang.json"), "{}").unwrap();
    std::fs::write(v.dir.join("keys").join("fake.age"), "not age at all").unwrap();
    let (r, j) = audit_json(&v, "audit", &[], None);
    assert_eq!(r.code, 1);
    let locs: Vec<String> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"].as_str().unwrap().starts_with("files."))
        .map(location)
        .collect();
    for want in ["notes.txt", "staff/wang.json", "keys/fake.age"] {
        assert!(locs.iter().any(|l| l.contains(want)), "{want}: {locs:?}");
    }
    assert!(checks_of(&j).contains(&"files.not_age".to_string()));
}

#[test]
fn record_past_retention_is_found() {
    let (v, case) = populated();
    v.run("li", &["case", "close", &case.to_string()]).ok();
    // Closed today: nothing due for years.
    let (r, j) = audit_json(&v, "audit", &[], None);
    assert_eq!(r.code, 0, "{:#}", j["findings"]);
    let (r, j) = audit_json(&v, "audit", &[], Some("2070-01-01"));
    assert_eq!(r.code, 1);
    let f = finding(&j, "retention.expired");
    assert_complete_finding(f);
    assert!(location(f).contains(&format!("case {case}")));
    assert!(location(f).contains("record 1") && location(f).contains("record 2"));
}

#[test]
fn tampered_log_is_found_naming_the_entry() {
    let (v, _) = populated();
    // An assignment entry: checked where it is used, not at every open (entry 1, the policy
    // in force, would stop the vault from opening at all).
    let idx: i64;
    {
        let s = open_as(&v, "admin");
        idx = s
            .conn
            .query_row(
                "SELECT min(idx) FROM log_entries WHERE kind = 13",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let mut stored: Vec<u8> = s
            .conn
            .query_row(
                "SELECT stored FROM log_entries WHERE idx = ?1",
                [idx],
                |r| r.get(0),
            )
            .unwrap();
        let n = stored.len();
        stored[n - 1] ^= 0x01; // inside the signature: still decodes
        s.conn
            .execute(
                "UPDATE log_entries SET stored = ?1 WHERE idx = ?2",
                rusqlite::params![stored, idx],
            )
            .unwrap();
    }
    let (r, j) = audit_json(&v, "audit", &[], None);
    assert_eq!(r.code, 1);
    let bad: Vec<&Value> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "log.verify")
        .collect();
    assert!(!bad.is_empty(), "{:#}", j["findings"]);
    assert!(bad.iter().all(|f| f["severity"] == "critical"));
    assert!(
        bad.iter()
            .any(|f| location(f).contains(&format!("log entry {idx}"))),
        "{:#?}",
        bad
    );
}

#[test]
fn unassigned_read_is_found() {
    let (v, case) = populated();
    {
        let s = open_as(&v, "admin");
        s.conn
            .execute(
                "INSERT INTO record_reads(at, staff, record_id, case_id, assigned)
                 VALUES (1, 'chen', 1, ?1, 0), (1, 'li', 1, ?1, 0)",
                [case],
            )
            .unwrap();
    }
    let (r, j) = audit_json(&v, "audit", &[], None);
    assert_eq!(r.code, 1);
    let f = finding(&j, "access.unassigned_read");
    assert!(location(f).contains("staff chen"));
    // Supervisors work on every case: li's read is fine.
    assert_eq!(checks_of(&j).len(), 1, "{:#}", j["findings"]);
    // --since after the read: not in range.
    let (r, _) = audit_json(&v, "audit", &["--since", "2000-01-01"], None);
    assert_eq!(r.code, 0);
}

#[test]
fn staff_key_not_matching_the_log_is_found() {
    let (v, _) = populated();
    {
        let s = open_as(&v, "admin");
        s.conn
            .execute(
                "UPDATE staff SET verify_key = ?1 WHERE name = 'chen'",
                [&[7u8; 32][..]],
            )
            .unwrap();
    }
    let (_, j) = audit_json(&v, "audit", &[], None);
    assert!(location(finding(&j, "log.staff_key_mismatch")).contains("staff chen"));
}

#[test]
fn disclosure_without_legal_basis_is_found() {
    let (v, case) = populated();
    {
        let s = open_as(&v, "wang");
        let mut e = s.log_entry(Kind::ReferralExport, Some(case)).unwrap();
        e.recipient = "Sunrise Youth Center".into();
        e.purpose = "housing".into();
        e.basis = LegalBasis::None;
        let tx = store::immediate(&s.conn).unwrap();
        s.log_append(&tx, &e).unwrap();
        tx.commit().unwrap();
    }
    let (r, j) = audit_json(&v, "audit", &[], None);
    assert_eq!(r.code, 1);
    let f = finding(&j, "disclosures.no_basis");
    assert_complete_finding(f);
    assert_eq!(j["figures"]["disclosures"], 1);
    assert_eq!(j["disclosures_by_recipient"][0][0], "Sunrise Youth Center");
}

/// Planted defect: a referral export logged under a consent that had expired at the time.
#[test]
fn expired_consent_used_for_an_export_is_found() {
    let (v, case) = populated();
    v.partner("Sunrise Youth Center");
    // A consent signed and valid in early 2025, long expired now.
    let mut c = v.as_("wang");
    c.env("CASEVAULT_NOW", "2025-02-01").args([
        "--json",
        "consent",
        "add",
        "--client",
        "C-001",
        "--agency",
        "Sunrise Youth Center",
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
        "call 021-123",
        "--signed",
        "2025-01-01",
        "--expires",
        "2025-06-30",
    ]);
    let consent = run(c).ok().json()["id"].as_i64().unwrap();
    // An export under it today (the command would refuse: this plants what a bug or a
    // by-passed check would leave behind).
    {
        let s = open_as(&v, "wang");
        let mut e = s.log_entry(Kind::ReferralExport, Some(case)).unwrap();
        e.recipient = "Sunrise Youth Center".into();
        e.purpose = "housing".into();
        e.basis = LegalBasis::Consent(consent.to_string());
        e.disclosed_sha256 = Some([7; 32]);
        let tx = store::immediate(&s.conn).unwrap();
        s.log_append(&tx, &e).unwrap();
        tx.commit().unwrap();
    }
    let (r, j) = audit_json(&v, "audit", &[], None);
    assert_eq!(r.code, 1);
    let f = finding(&j, "disclosures.consent_expired");
    assert_complete_finding(f);
    assert!(location(f).contains(&format!("consent {consent}")));
}

/// Planted defect: an access request left open past its due date.
#[test]
fn overdue_request_is_found() {
    let (v, _) = populated();
    v.run(
        "wang",
        &[
            "request",
            "add",
            "--kind",
            "access",
            "--client",
            "C-001",
            "--requester",
            "Zhang San",
            "--authority",
            "self",
            "--identity-check",
            "ID card",
            "--received",
            "2026-01-01",
        ],
    )
    .ok();
    // Not yet overdue on the 10th (due the 16th); overdue on 1 March.
    let (r, _) = audit_json(&v, "audit", &[], Some("2026-01-10"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (r, j) = audit_json(&v, "audit", &[], Some("2026-03-01"));
    assert_eq!(r.code, 1);
    let f = finding(&j, "requests.overdue");
    assert!(location(f).contains("request 1"));
}
