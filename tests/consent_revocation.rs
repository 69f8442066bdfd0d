//! A consent revoked later on the same day as a valid export: the export stands (the audit is
//! clean), an export after the moment of revocation is refused, and a planted one is flagged.

mod common;

use casevault::domain::time::Date;
use casevault::log::{Kind, LegalBasis};
use casevault::store;
use common::*;
use serde_json::Value;

/// A day safely after every entry the setup logs with the real clock (the log's times only
/// go forward), at `hour` UTC, as Unix seconds.
fn at(hour: i64) -> i64 {
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    Date::from_unix(real).add_days(30).to_unix() + hour * 3600
}

/// Runs `args` as `who` with the clock at `time`.
fn run_at(v: &TestVault, who: &str, time: i64, args: &[&str]) -> Run {
    let mut c = v.as_(who);
    c.env("CASEVAULT_NOW", time.to_string()).args(args);
    run(c)
}

fn export(v: &TestVault, time: i64, case: i64, consent: &str, out: &str) -> Run {
    let out = v.tmp.path().join(out);
    run_at(
        v,
        "li",
        time,
        &[
            "--json",
            "referral",
            "export",
            "--case",
            &case.to_string(),
            "--to",
            "Partner",
            "--consent",
            consent,
            "--purpose",
            "housing support",
            "--out",
            out.to_str().unwrap(),
        ],
    )
}

fn checks(j: &Value) -> Vec<String> {
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn same_day_revocation_after_an_export_is_not_a_violation() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    v.process_note("wang", case, "first session").ok();
    v.partner("Partner");
    let consent = run_at(&v, "wang", at(8), common::CONSENT_C001_PARTNER)
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap()
        .to_string();

    // 09:00 a valid export; 15:00 the client phones to revoke; the worker closes the referral.
    export(&v, at(9), case, &consent, "morning.age").ok();
    run_at(
        &v,
        "wang",
        at(15),
        &["consent", "revoke", &consent, "--via", "phone"],
    )
    .ok();
    let shown = run_at(&v, "wang", at(15), &["--json", "consent", "show", &consent]).ok();
    assert_eq!(shown.json()["revoked_at"], at(15));
    let rid = run_at(
        &v,
        "wang",
        at(15),
        &["--json", "referral", "list", "--case", &case.to_string()],
    )
    .ok()
    .json()[0]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    run_at(&v, "wang", at(15), &["referral", "status", &rid, "revoked"]).ok();

    // The morning export was made under a consent in force: the audit is clean.
    let audit = |time: i64| {
        let r = run_at(&v, "audit", time, &["audit", "run", "--format", "json"]);
        let j = r.json();
        (r.code, j)
    };
    let (code, j) = audit(at(17));
    assert_eq!(checks(&j), Vec::<String>::new(), "{j:#}");
    assert_eq!(code, 0);

    // 16:00 the same day: after the moment of revocation, refused.
    let r = export(&v, at(16), case, &consent, "afternoon.age").fails();
    assert!(r.stderr.contains("was revoked"), "{}", r.stderr);
    assert!(!v.tmp.path().join("afternoon.age").exists());

    // A planted export at 16:00 (what a bypassed check would leave) is a critical finding.
    {
        std::env::set_var("CASEVAULT_TEST_MODE", "1");
        std::env::set_var("CASEVAULT_NOW", at(16).to_string());
        let s = v.session("wang");
        let mut e = s.log_entry(Kind::ReferralExport, Some(case)).unwrap();
        e.recipient = "Partner".into();
        e.purpose = "housing support".into();
        e.basis = LegalBasis::Consent(consent.clone());
        e.disclosed_sha256 = Some([7; 32]);
        let tx = store::immediate(&s.conn).unwrap();
        s.log_append(&tx, &e).unwrap();
        tx.commit().unwrap();
    }
    let (code, j) = audit(at(17));
    assert_eq!(code, 1, "{j:#}");
    let found: Vec<&Value> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "disclosures.consent_revoked")
        .collect();
    assert_eq!(found.len(), 1, "only the planted entry: {j:#}");
    assert_eq!(found[0]["severity"], "critical");
}
