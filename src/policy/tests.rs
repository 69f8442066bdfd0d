//! Unit tests of the policy module; integration tests live in `tests/policy_*.rs`.

use super::load::line_column;
use super::template::is_date;
use super::*;

#[test]
fn embedded_policy_is_valid() {
    let p = Policy::embedded();
    assert_eq!(p.minor_age, 14);
    assert_eq!(p.max_tier(), 3);
    assert_eq!(p.top_tier().name, "restricted");
    assert!(p.top_tier().supervisor_only);
    assert_eq!(p.templates.len(), 9);
}

#[test]
fn embedded_sources_match_policy_dir() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policy");
    assert_eq!(
        Policy::read_sources(&dir).unwrap(),
        Policy::embedded_sources()
    );
}

#[test]
fn role_and_action_names_round_trip() {
    for r in Role::ALL {
        assert_eq!(Role::parse(r.as_str()), Some(r));
        assert_eq!(r.to_string(), r.as_str());
    }
    assert_eq!(Role::parse("Supervisor"), Some(Role::Supervisor));
    assert_eq!(Role::parse("boss"), None);
    let mut names = std::collections::BTreeSet::new();
    for a in Action::ALL {
        assert_eq!(Action::parse(a.as_str()), Some(a));
        assert!(names.insert(a.as_str()));
    }
    assert_eq!(Action::parse("record.delete"), None);
}

#[test]
fn line_column_counts_characters() {
    let t = "a = 1\n中文 = 2\nx";
    assert_eq!(line_column(t, 0), (1, 1));
    assert_eq!(line_column(t, 6), (2, 1));
    // "中文 " is 7 bytes, 3 characters.
    assert_eq!(line_column(t, 6 + 7), (2, 4));
    assert_eq!(line_column(t, t.len()), (3, 2));
}

#[test]
fn dates() {
    assert!(is_date("2024-02-29"));
    assert!(!is_date("2023-02-29"));
    assert!(!is_date("2024-13-01"));
    assert!(!is_date("2024-1-01"));
    assert!(!is_date("2024/01/01"));
    assert!(!is_date("0000-01-01"));
    assert!(!is_date("2024-04-31"));
    assert!(is_date("1900-12-31"));
}

#[test]
fn queries() {
    let p = Policy::embedded();
    assert_eq!(p.tier_by_name("confidential").unwrap().level, 2);
    assert_eq!(p.tier_by_name("3").unwrap().name, "restricted");
    assert_eq!(p.tier_by_name("RESTRICTED").unwrap().level, 3);
    assert!(p.tier_by_name("4").is_none());
    assert!(p.tier_by_name("secret").is_none());
    assert_eq!(p.readable_tiers(Role::Supervisor), vec![1, 2, 3]);
    assert_eq!(p.readable_tiers(Role::Caseworker), vec![1, 2]);
    assert!(p.readable_tiers(Role::Admin).is_empty());
    assert!(p.readable_tiers(Role::Auditor).is_empty());
    assert!(p.allows(Role::Caseworker, Action::RecordWrite));
    assert!(!p.allows(Role::Caseworker, Action::ReferralApprove));
    assert!(p.allows(Role::Supervisor, Action::ReferralApprove));
    assert!(!p.allows(Role::Supervisor, Action::StaffManage));
    assert!(p.allows(Role::Admin, Action::StaffManage));
    assert!(!p.allows(Role::Admin, Action::RecordRead));
    assert!(!p.allows(Role::Auditor, Action::RecordRead));
    assert!(p.allows(Role::Auditor, Action::AuditRun));
    assert!(!p.all_cases(Role::Caseworker));
    assert!(p.all_cases(Role::Supervisor));
    assert!(p.is_minor(13));
    assert!(!p.is_minor(14));
    assert_eq!(p.template("supervision").unwrap().default_tier, 3);
    assert_eq!(p.template("risk_assessment").unwrap().default_tier, 3);
}

#[test]
fn every_template_field_has_labels_and_choice_labels() {
    let p = Policy::embedded();
    for t in p.templates.values() {
        for f in &t.fields {
            assert_eq!(f.choices.len(), f.choice_labels.len());
            for (zh, en) in &f.choice_labels {
                assert!(!zh.is_empty() && !en.is_empty(), "{}.{}", t.kind, f.name);
            }
        }
    }
}

#[test]
fn policy_serializes_to_json() {
    let p = Policy::embedded();
    let v = serde_json::to_value(&p).unwrap();
    assert_eq!(v["minor_age"], 14);
    assert_eq!(v["tiers"][2]["name"], "restricted");
    assert!(v["roles"]["supervisor"]["actions"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("referral.approve")));
    assert_eq!(v["templates"]["intake"]["fields"][0]["kind"], "text");
}

#[test]
fn labels_follow_the_language() {
    let p = Policy::embedded();
    let t = p.tier(3).unwrap();
    let l = t.label();
    assert!(l == "机密" || l == "Restricted");
    let f = p.template("intake").unwrap().field("source").unwrap();
    let c = f.choice_label("self");
    assert!(c == "主动求助" || c == "self-referred");
    assert_eq!(f.choice_label("nope"), "nope");
    assert!(!Role::Caseworker.label().starts_with("policy."));
    for a in Action::ALL {
        assert!(!a.label().starts_with("policy."), "{a}");
    }
}

/// The embedded sources with the process template's `session_aim` given `max_len`.
fn with_max_len(line: &str) -> Vec<(String, String)> {
    let mut s = Policy::embedded_sources();
    let (_, text) = s
        .iter_mut()
        .find(|(n, _)| n == "templates/process.toml")
        .unwrap();
    let at = text.find("name = \"session_aim\"").unwrap();
    text.insert_str(at, &format!("{line}\n"));
    s
}

#[test]
fn max_len_limits_template_text() {
    let p = Policy::from_sources(&with_max_len("max_len = 5")).unwrap();
    let content = |aim: &str| {
        serde_json::json!({"client_number": "C1", "date": "2026-01-01", "session_aim": aim,
            "narrative": "n"})
    };
    assert!(p.validate_content("process", &content("12345")).is_ok());
    assert!(matches!(
        p.validate_content("process", &content("123456")),
        Err(crate::Error::Field(e)) if e.problem == crate::domain::text::FieldProblem::TooLong { max: 5 }
    ));
    for bad in ["max_len = 0", "max_len = 100001"] {
        assert!(matches!(
            Policy::from_sources(&with_max_len(bad)),
            Err(crate::Error::PolicyInvalid { .. })
        ));
    }
}

#[test]
fn a_policy_needs_templates() {
    let only_main: Vec<(String, String)> = Policy::embedded_sources()
        .into_iter()
        .filter(|(n, _)| n == POLICY_FILE)
        .collect();
    assert!(matches!(
        Policy::from_sources(&only_main),
        Err(crate::Error::PolicyInvalid { .. })
    ));
    // The copy a vault stored still loads, so that a fixed policy can be applied.
    assert!(Policy::from_stored(&only_main).is_ok());
}

#[test]
fn diff_finds_lowering_and_summary_marks_it() {
    use super::diff::{diff, is_lowering_item, summary, Change};
    let old = Policy::embedded();
    let mut new = old.clone();
    new.templates.get_mut("supervision").unwrap().default_tier = 1;
    new.templates.get_mut("process").unwrap().default_tier = 3;
    let cw = new.roles.get_mut(&Role::Caseworker).unwrap();
    cw.all_cases = true;
    cw.actions.remove(&Action::RecordRead);
    new.roles
        .get_mut(&Role::Supervisor)
        .unwrap()
        .actions
        .remove(&Action::RecordRead);
    let changes = diff(&old, &new);
    let s = summary(&changes);
    assert!(s.starts_with("lower supervision 3->1"), "{s}");
    for item in [
        "caseworker +all_cases",
        "top-tier readers supervisor->-",
        "raise process 2->3",
        "caseworker -record.read",
    ] {
        assert!(s.contains(item), "{item} in {s}");
    }
    let lowering: Vec<&str> = s.split("; ").filter(|i| is_lowering_item(i)).collect();
    assert_eq!(
        lowering.len(),
        changes.iter().filter(|c| c.lowers()).count()
    );
    assert!(!is_lowering_item("template +newkind"));
    assert!(changes.iter().any(|c| matches!(
        c,
        Change::TierLowered { kind, from: 3, to: 1, .. } if kind == "supervision"
    )));
    // Nothing changed: nothing to say.
    assert!(diff(&old, &old).is_empty());
}

#[test]
fn field_problems_name_each_bad_field() {
    let p = Policy::embedded();
    let mut m = serde_json::Map::new();
    m.insert("client_number".into(), "C-1".into());
    m.insert("date".into(), "2026-02-30".into());
    m.insert("session_no".into(), serde_json::json!(0));
    let probs = p.field_problems("process", &m);
    let names: Vec<&str> = probs.iter().map(|(n, _)| n.as_str()).collect();
    // A bad date, a number below its minimum, two required fields left out.
    assert_eq!(names, ["session_no", "date", "session_aim", "narrative"]);
    assert!(p
        .validate_content("process", &serde_json::Value::Object(m))
        .is_err());
    assert!(p
        .field_problems("no_such_kind", &serde_json::Map::new())
        .is_empty());
}
