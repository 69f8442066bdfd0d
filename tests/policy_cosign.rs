//! Issue 10 item 5: the policy cannot quietly lower protection. The policy in force is the one
//! an admin signed in the log; a change that lowers protection on a vault with records needs a
//! supervisor's approval of exactly that policy; the audit reports every lowering.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A copy of the shipped policy in `name`, with `edit(file, text)` applied to each file.
fn policy_copy(v: &TestVault, name: &str, edit: &dyn Fn(&str, String) -> String) -> PathBuf {
    let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/policy"));
    let dst = v.tmp.path().join(name);
    std::fs::create_dir_all(dst.join("templates")).unwrap();
    let main = std::fs::read_to_string(src.join("policy.toml")).unwrap();
    std::fs::write(dst.join("policy.toml"), edit("policy.toml", main)).unwrap();
    for e in std::fs::read_dir(src.join("templates")).unwrap() {
        let e = e.unwrap();
        let n = e.file_name().into_string().unwrap();
        let text = std::fs::read_to_string(e.path()).unwrap();
        std::fs::write(dst.join("templates").join(&n), edit(&n, text)).unwrap();
    }
    dst
}

/// The shipped policy with the supervision template's default tier set to `tier`.
fn supervision_at(v: &TestVault, name: &str, tier: u8) -> PathBuf {
    policy_copy(v, name, &|f, t| {
        if f == "supervision.toml" {
            let c = t.replacen("default_tier = 3", &format!("default_tier = {tier}"), 1);
            assert!(c.contains(&format!("\ndefault_tier = {tier}\n")));
            c
        } else {
            t
        }
    })
}

/// A vault with one process note (so it has records).
fn with_records() -> TestVault {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    v.process_note("wang", case, "first session").ok();
    v
}

fn refused_for_cosign(r: Run) {
    let r = r.fails();
    assert!(r.stderr.contains("policy approve"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

fn audit_findings(v: &TestVault) -> Vec<Value> {
    let r = v.run("audit", &["audit", "run", "--format", "json"]);
    let j: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("{}", r.stderr));
    j["findings"].as_array().unwrap().clone()
}

fn of_check<'a>(f: &'a [Value], check: &str) -> Vec<&'a Value> {
    f.iter().filter(|x| x["check"] == check).collect()
}

#[test]
fn tier_lowering_needs_a_supervisor_approval_of_exactly_that_policy() {
    let v = with_records();
    let low = supervision_at(&v, "p-low", 1);
    let other = supervision_at(&v, "p-other", 2);

    // Refused without a co-signature, naming what it lowers; nothing changes.
    let r = v.run("admin", &["policy", "apply", s(&low)]);
    assert!(r.stderr.contains("supervision"), "{}", r.stderr);
    refused_for_cosign(r);
    // A caseworker and the admin cannot approve.
    v.run("wang", &["policy", "approve", s(&low)]).fails();
    v.run("admin", &["policy", "approve", s(&low)]).fails();
    refused_for_cosign(v.run("admin", &["policy", "apply", s(&low)]));
    // An approval of a different policy does not count.
    v.run("li", &["policy", "approve", s(&other)]).ok();
    refused_for_cosign(v.run("admin", &["policy", "apply", s(&low)]));

    // The supervisor sees the diff, for people and as JSON.
    let human = v.run("li", &["policy", "approve", s(&low)]).ok().stdout;
    assert!(
        human.contains("lowers the default tier of template supervision: 3 → 1"),
        "{human}"
    );
    let applied = v
        .run("admin", &["--json", "policy", "apply", s(&low)])
        .ok()
        .json();
    assert_eq!(applied["applied"], true);
    assert_eq!(applied["lowers"], true);
    assert_eq!(applied["approval"]["by"], "li");
    assert!(applied["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["summary"] == "lower supervision 3->1" && c["lowers"] == true));
    let index = applied["log_index"].as_u64().unwrap();

    // The log entry carries the readable diff and the approver.
    let log = v.run("li", &["--json", "log", "show"]).ok().json();
    let entry = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["index"].as_u64() == Some(index))
        .unwrap_or_else(|| panic!("entry {index} in {log:#}"))
        .to_string();
    assert!(entry.contains("lower supervision 3->1"), "{entry}");

    // Raising protection back needs nobody.
    let shipped = supervision_at(&v, "p-back", 3);
    v.run("admin", &["policy", "apply", s(&shipped)]).ok();
    // The approval was used up: lowering again needs a new one.
    refused_for_cosign(v.run("admin", &["policy", "apply", s(&low)]));

    // The audit reports the lowering (high, with its entry and diff) and nothing critical.
    let f = audit_findings(&v);
    let lowered = of_check(&f, "policy.lowered");
    assert_eq!(lowered.len(), 1, "{f:#?}");
    assert_eq!(lowered[0]["severity"], "high");
    assert!(lowered[0]["what"]
        .as_str()
        .unwrap()
        .contains("lower supervision 3->1"));
    assert!(lowered[0]["location"][0]
        .as_str()
        .unwrap()
        .contains(&index.to_string()));
    for check in [
        "policy.unapproved",
        "policy.diff_mismatch",
        "policy.history_missing",
        "policy.signer",
        "policy.in_force",
    ] {
        assert!(of_check(&f, check).is_empty(), "{check}: {f:#?}");
    }
}

#[test]
fn widening_a_role_needs_approval_but_raising_and_empty_vaults_do_not() {
    let v = TestVault::new();
    // No records yet: lowering needs no co-signature.
    let low = supervision_at(&v, "p-low", 2);
    v.run("admin", &["policy", "apply", s(&low)]).ok();
    let case = v.client_with_case("C001", "Zhang San");
    v.process_note("wang", case, "first session").ok();
    // Raising (supervision 2 -> 3) needs nobody.
    let back = supervision_at(&v, "p-back", 3);
    let r = v.run("admin", &["policy", "apply", s(&back)]).ok().stdout;
    assert!(r.contains("raises the default tier"), "{r}");
    // Caseworkers seeing every case is a widening: refused without approval.
    let wide = policy_copy(&v, "p-wide", &|f, t| {
        if f == "policy.toml" {
            t.replacen(
                "[roles.caseworker]\nall_cases = false",
                "[roles.caseworker]\nall_cases = true",
                1,
            )
        } else {
            t
        }
    });
    let r = v.run("admin", &["policy", "apply", s(&wide)]);
    assert!(r.stderr.contains("every case"), "{}", r.stderr);
    refused_for_cosign(r);
    // In Chinese, the supervisor reads the diff in Chinese.
    let mut c = v.as_("li");
    c.env("CASEVAULT_LANG", "zh")
        .args(["policy", "approve", s(&wide)]);
    let out = common::run(c).ok().stdout;
    assert!(out.contains("社工可见所有个案"), "{out}");
}

#[test]
fn a_rewritten_policy_in_the_database_is_refused_at_open() {
    let v = with_records();
    let db = v.insider_db("wang");
    let raw: Vec<u8> = db
        .query_row(
            "SELECT value FROM meta WHERE key = 'policy_sources'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut sources: Vec<(String, String)> = serde_json::from_slice(&raw).unwrap();
    let mut changed = false;
    for (name, text) in &mut sources {
        if name == "templates/supervision.toml" {
            *text = text.replacen("default_tier = 3", "default_tier = 1", 1);
            changed = true;
        }
    }
    assert!(changed);
    db.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'policy_sources'",
        [serde_json::to_vec(&sources).unwrap()],
    )
    .unwrap();
    drop(db);
    for who in ["wang", "li", "admin", "audit"] {
        let r = v.run(who, &["case", "list"]);
        assert_ne!(r.code, 0, "{who} opened: {}", r.stdout);
        assert!(
            r.stderr.contains("policy") && r.stderr.contains("tampered"),
            "{who}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
}

#[test]
fn audit_reports_a_lowering_signed_without_approval_as_critical() {
    use casevault::log::Kind;
    let v = with_records();
    let low = supervision_at(&v, "p-low", 1);
    // A rogue admin with their own build signs the change without a supervisor.
    let sources = casevault::policy::Policy::read_sources(&low).unwrap();
    let digest = casevault::crypto::hex(&casevault::policy::Policy::digest(&sources));
    {
        let s = v.session("admin");
        let mut e = s.log_entry(Kind::PolicyChange, None).unwrap();
        // It does not even say what it lowers.
        e.detail = format!("policy {digest}");
        let tx = casevault::store::immediate(&s.conn).unwrap();
        casevault::store::meta::set(
            &tx,
            "policy_sources",
            &serde_json::to_vec(&sources).unwrap(),
        )
        .unwrap();
        s.log_append(&tx, &e).unwrap();
        tx.commit().unwrap();
    }
    // The audit recomputes the diff from the policy files and reports all of it.
    let f = audit_findings(&v);
    for check in ["policy.unapproved", "policy.diff_mismatch"] {
        let bad = of_check(&f, check);
        assert_eq!(bad.len(), 1, "{check}: {f:#?}");
        assert_eq!(bad[0]["severity"], "critical");
        assert!(
            bad[0]["what"]
                .as_str()
                .unwrap()
                .contains("lower supervision 3->1"),
            "{f:#?}"
        );
    }
    assert_eq!(of_check(&f, "policy.lowered").len(), 1, "{f:#?}");
    assert!(of_check(&f, "policy.history_missing").is_empty(), "{f:#?}");
}
