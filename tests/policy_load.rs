//! Loading, parse errors with locations, validation rules and the digest of a policy.

use casevault::policy::{Action, Policy, Role};
use casevault::Error;
use sha2::{Digest, Sha256};

/// The embedded sources with `name` replaced by `text` (or added).
fn with_file(name: &str, text: &str) -> Vec<(String, String)> {
    let mut s = Policy::embedded_sources();
    s.retain(|(n, _)| n != name);
    s.push((name.to_string(), text.to_string()));
    s
}

fn main_text() -> String {
    Policy::embedded_sources()
        .into_iter()
        .find(|(n, _)| n == "policy.toml")
        .unwrap()
        .1
}

fn template_text(kind: &str) -> String {
    let name = format!("templates/{kind}.toml");
    Policy::embedded_sources()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap()
        .1
}

/// Replaces exactly one occurrence of `from`.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} must occur once");
    text.replacen(from, to, 1)
}

fn parse_err(sources: &[(String, String)]) -> (String, usize, usize, String) {
    match Policy::from_sources(sources) {
        Err(Error::PolicyParse {
            file,
            line,
            column,
            message,
        }) => (file, line, column, message),
        other => panic!("expected PolicyParse, got {other:?}"),
    }
}

fn invalid_err(sources: &[(String, String)]) -> (String, String) {
    match Policy::from_sources(sources) {
        Err(Error::PolicyInvalid { file, message }) => (file, message),
        other => panic!("expected PolicyInvalid, got {other:?}"),
    }
}

/// A small complete policy.toml whose line numbers the tests rely on.
const MINI: &str = r#"minor_age = 14

[[tiers]]
level = 1
name = "general"
label_zh = "一般"
label_en = "General"

[[tiers]]
level = 2
name = "restricted"
label_zh = "机密"
label_en = "Restricted"
supervisor_only = true

[roles.caseworker]
all_cases = false
actions = ["record.write", "record.read"]

[roles.supervisor]
all_cases = true
actions = ["record.write", "record.read", "referral.approve"]

[roles.admin]
all_cases = false
actions = ["staff.manage"]

[roles.auditor]
all_cases = true
actions = ["log.read", "log.verify", "audit.run"]

[requests]
access_days = 15
correction_days = 15
partner_days = 30
lookback_years = 6
"#;

/// MINI with only the intake template (its default tier 2 exists in MINI).
fn mini(text: &str) -> Vec<(String, String)> {
    vec![
        ("policy.toml".to_string(), text.to_string()),
        ("templates/intake.toml".to_string(), template_text("intake")),
    ]
}

#[test]
fn embedded_policy_parses_and_validates() {
    let p = Policy::embedded();
    assert_eq!(p.tiers.len(), 3);
    assert_eq!(
        p.tiers.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["general", "confidential", "restricted"]
    );
    assert_eq!(p.tiers[2].label_zh, "机密");
    assert_eq!(p.requests.access_days, 15);
    assert_eq!(p.requests.correction_days, 15);
    assert_eq!(p.requests.partner_days, 30);
    assert_eq!(p.requests.lookback_years, 6);
    assert_eq!(p.roles.len(), 4);
    assert_eq!(p.source_digest, Policy::digest(&Policy::embedded_sources()));
    for kind in [
        "intake",
        "service_plan",
        "process",
        "evaluation",
        "closing",
        "referral",
        "supervision",
        "risk_assessment",
        "consent",
    ] {
        assert!(p.template(kind).is_some(), "{kind}");
    }
}

#[test]
fn mini_policy_is_valid() {
    let p = Policy::from_sources(&mini(MINI)).unwrap();
    assert_eq!(p.max_tier(), 2);
    assert_eq!(p.readable_tiers(Role::Caseworker), vec![1]);
}

#[test]
fn load_dir_reads_the_shipped_policy() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policy");
    let p = Policy::load_dir(&dir).unwrap();
    assert_eq!(p, Policy::embedded());
}

#[test]
fn load_dir_from_a_copy_ignores_other_files() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("templates")).unwrap();
    for (name, text) in Policy::embedded_sources() {
        std::fs::write(tmp.path().join(&name), text).unwrap();
    }
    std::fs::write(tmp.path().join("README.md"), "notes").unwrap();
    std::fs::write(tmp.path().join("templates/intake.toml~"), "junk").unwrap();
    let sources = Policy::read_sources(tmp.path()).unwrap();
    assert_eq!(sources, Policy::embedded_sources());
    let names: Vec<&str> = sources.iter().map(|(n, _)| n.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    Policy::load_dir(tmp.path()).unwrap();

    // A broken template on disk is reported with its relative name.
    std::fs::write(
        tmp.path().join("templates/closing.toml"),
        "kind = \"closing\"\nlabel = 1\n",
    )
    .unwrap();
    match Policy::load_dir(tmp.path()) {
        Err(Error::PolicyParse { file, line, .. }) => {
            assert_eq!(file, "templates/closing.toml");
            assert_eq!(line, 2);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn load_dir_without_policy_toml_is_an_io_error() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(matches!(
        Policy::load_dir(tmp.path()),
        Err(Error::Io { .. })
    ));
}

#[test]
fn unknown_top_level_key_names_line_and_column() {
    let text = MINI.replace("minor_age = 14\n", "minor_age = 14\nmajor_age = 18\n");
    let (file, line, column, message) = parse_err(&mini(&text));
    assert_eq!(file, "policy.toml");
    assert_eq!((line, column), (2, 1));
    assert!(message.contains("major_age"), "{message}");
}

#[test]
fn unknown_key_in_a_table_names_line_and_column() {
    // Line 36 is `lookback_years = 6`; the stray key goes after it, indented by 4 spaces.
    assert_eq!(MINI.lines().nth(35), Some("lookback_years = 6"));
    let text = MINI.replace(
        "lookback_years = 6\n",
        "lookback_years = 6\n    holiday_days = 3\n",
    );
    let (file, line, column, message) = parse_err(&mini(&text));
    assert_eq!(file, "policy.toml");
    assert_eq!((line, column), (37, 5));
    assert!(message.contains("holiday_days"), "{message}");
}

#[test]
fn unknown_key_in_the_shipped_policy_names_line_and_column() {
    let text = main_text();
    let bad = replace_once(
        &text,
        "partner_days = 30\n",
        "partner_days = 30\npartner_dayz = 30\n",
    );
    let expected_line = text[..text.find("partner_days = 30").unwrap()]
        .lines()
        .count()
        + 2;
    let (file, line, column, _) = parse_err(&with_file("policy.toml", &bad));
    assert_eq!(file, "policy.toml");
    assert_eq!((line, column), (expected_line, 1));
}

#[test]
fn columns_count_characters_not_bytes() {
    // An inline table whose stray key follows Chinese text on the same line.
    let text = MINI.replace(
        "[[tiers]]\nlevel = 1\nname = \"general\"\nlabel_zh = \"一般\"\nlabel_en = \"General\"\n",
        "tiers = [{ level = 1, name = \"general\", label_zh = \"一般\", label_en = \"General\", colour = \"grey\" }, \
         { level = 2, name = \"restricted\", label_zh = \"机密\", label_en = \"Restricted\", supervisor_only = true }]\n",
    );
    let text = text.replace(
        "[[tiers]]\nlevel = 2\nname = \"restricted\"\nlabel_zh = \"机密\"\nlabel_en = \"Restricted\"\nsupervisor_only = true\n",
        "",
    );
    let line3 = text.lines().nth(2).unwrap();
    let expected_col = line3[..line3.find("colour").unwrap()].chars().count() + 1;
    // 79 characters precede the key (84 bytes: each of 一般 takes 3).
    assert_eq!(expected_col, 80);
    let (_, line, column, message) = parse_err(&mini(&text));
    assert_eq!((line, column), (3, expected_col));
    assert!(message.contains("colour"), "{message}");
}

#[test]
fn wrong_value_type_names_the_value() {
    let text = MINI.replace("minor_age = 14", "minor_age = \"14\"");
    let (_, line, column, _) = parse_err(&mini(&text));
    assert_eq!((line, column), (1, 13));
}

#[test]
fn unknown_action_is_a_parse_error_at_the_action() {
    let text = MINI.replace(
        "actions = [\"staff.manage\"]",
        "actions = [\"staff.manage\", \"record.delete\"]",
    );
    let (_, line, column, message) = parse_err(&mini(&text));
    assert_eq!((line, column), (26, 28));
    assert!(message.contains("record.delete"), "{message}");
}

#[test]
fn unknown_role_is_a_parse_error() {
    let text = MINI.replace("[roles.auditor]", "[roles.volunteer]");
    let (_, line, _, _) = parse_err(&mini(&text));
    assert_eq!(line, 28);
}

#[test]
fn unknown_key_in_a_template_names_the_template_file() {
    let text = template_text("process");
    let bad = replace_once(
        &text,
        "default_tier = 2\n",
        "default_tier = 2\ndefault_teir = 2\n",
    );
    let expected_line = text[..text.find("default_tier = 2").unwrap()]
        .lines()
        .count()
        + 2;
    let (file, line, column, _) = parse_err(&with_file("templates/process.toml", &bad));
    assert_eq!(file, "templates/process.toml");
    assert_eq!((line, column), (expected_line, 1));
}

#[test]
fn unknown_field_kind_is_a_parse_error() {
    let text = template_text("process");
    let bad = replace_once(&text, "kind = \"date\"\n", "kind = \"datetime\"\n");
    let (file, _, _, _) = parse_err(&with_file("templates/process.toml", &bad));
    assert_eq!(file, "templates/process.toml");
}

#[test]
fn top_tier_must_be_supervisor_only() {
    let text = MINI.replace("supervisor_only = true\n", "supervisor_only = false\n");
    let (file, message) = invalid_err(&mini(&text));
    assert_eq!(file, "policy.toml");
    assert!(message.contains("restricted"), "{message}");

    let text = main_text();
    let bad = replace_once(
        &text,
        "supervisor_only = true\ndescription_zh",
        "supervisor_only = false\ndescription_zh",
    );
    let (file, _) = invalid_err(&with_file("policy.toml", &bad));
    assert_eq!(file, "policy.toml");
}

#[test]
fn only_the_top_tier_may_be_supervisor_only() {
    let text = MINI.replace(
        "label_en = \"General\"\n",
        "label_en = \"General\"\nsupervisor_only = true\n",
    );
    let (_, message) = invalid_err(&mini(&text));
    assert!(message.contains("general"), "{message}");
}

#[test]
fn tiers_need_two_levels_contiguous_from_one() {
    let one = MINI.replace(
        "[[tiers]]\nlevel = 2\nname = \"restricted\"\nlabel_zh = \"机密\"\nlabel_en = \"Restricted\"\nsupervisor_only = true\n",
        "",
    );
    let one = one.replace(
        "label_en = \"General\"\n",
        "label_en = \"General\"\nsupervisor_only = true\n",
    );
    let sources = vec![("policy.toml".to_string(), one)];
    invalid_err(&sources);

    let gap = MINI.replace("level = 2", "level = 3");
    invalid_err(&mini(&gap));

    let dup = MINI.replace("level = 2", "level = 1");
    invalid_err(&mini(&dup));

    let same_name = MINI.replace("name = \"restricted\"", "name = \"general\"");
    invalid_err(&mini(&same_name));

    let numeric_name = MINI.replace("name = \"restricted\"", "name = \"2\"");
    invalid_err(&mini(&numeric_name));
}

#[test]
fn tiers_may_be_listed_in_any_order() {
    let tier1 =
        "[[tiers]]\nlevel = 1\nname = \"general\"\nlabel_zh = \"一般\"\nlabel_en = \"General\"\n\n";
    let text = MINI.replace(tier1, "");
    let text = text.replace("[roles.caseworker]", &format!("{tier1}[roles.caseworker]"));
    let p = Policy::from_sources(&mini(&text)).unwrap();
    assert_eq!(p.tiers[0].level, 1);
    assert_eq!(p.top_tier().name, "restricted");
}

#[test]
fn admin_and_auditor_must_not_read_records() {
    let text = MINI.replace(
        "actions = [\"staff.manage\"]",
        "actions = [\"staff.manage\", \"record.read\"]",
    );
    let (file, message) = invalid_err(&mini(&text));
    assert_eq!(file, "policy.toml");
    assert!(
        message.contains("record.read") && message.contains("admin"),
        "{message}"
    );

    let text = MINI.replace(
        "\"log.read\", \"log.verify\"",
        "\"log.read\", \"record.read\"",
    );
    let (_, message) = invalid_err(&mini(&text));
    assert!(message.contains("auditor"), "{message}");

    // The shipped policy, edited the way an admin might.
    let bad = replace_once(
        &main_text(),
        "    \"staff.manage\",\n",
        "    \"staff.manage\",\n    \"record.read\",\n",
    );
    let (file, _) = invalid_err(&with_file("policy.toml", &bad));
    assert_eq!(file, "policy.toml");
}

#[test]
fn approvals_and_tier_lowering_are_supervisor_only() {
    for action in [Action::ReferralApprove, Action::RecordLowerTier] {
        let text = MINI.replace(
            "actions = [\"record.write\", \"record.read\"]",
            &format!("actions = [\"record.write\", \"record.read\", \"{action}\"]"),
        );
        let (_, message) = invalid_err(&mini(&text));
        assert!(message.contains(action.as_str()), "{message}");
    }
}

#[test]
fn all_four_roles_must_be_present() {
    let text = MINI.replace(
        "[roles.auditor]\nall_cases = true\nactions = [\"log.read\", \"log.verify\", \"audit.run\"]\n",
        "",
    );
    let (_, message) = invalid_err(&mini(&text));
    assert!(message.contains("auditor"), "{message}");
}

#[test]
fn minor_age_is_bounded() {
    for age in ["0", "22"] {
        let text = MINI.replace("minor_age = 14", &format!("minor_age = {age}"));
        invalid_err(&mini(&text));
    }
    for age in ["1", "18", "21"] {
        let text = MINI.replace("minor_age = 14", &format!("minor_age = {age}"));
        Policy::from_sources(&mini(&text)).unwrap();
    }
}

#[test]
fn request_deadlines_must_be_positive() {
    for key in [
        "access_days = 15",
        "correction_days = 15",
        "partner_days = 30",
        "lookback_years = 6",
    ] {
        let name = key.split(' ').next().unwrap();
        let text = MINI.replace(key, &format!("{name} = 0"));
        let (_, message) = invalid_err(&mini(&text));
        assert!(message.contains(name), "{message}");
    }
}

#[test]
fn template_rules() {
    let intake = template_text("intake");
    let check = |bad: String| {
        let (file, message) = invalid_err(&with_file("templates/intake.toml", &bad));
        assert_eq!(file, "templates/intake.toml");
        message
    };
    // Default tier that does not exist.
    check(replace_once(
        &intake,
        "default_tier = 2",
        "default_tier = 4",
    ));
    // Kind different from the file name.
    check(replace_once(
        &intake,
        "kind = \"intake\"",
        "kind = \"intake_form\"",
    ));
    // Duplicate field name.
    let m = check(replace_once(
        &intake,
        "name = \"wechat_qq\"",
        "name = \"phone\"",
    ));
    assert!(m.contains("phone"), "{m}");
    // Duplicate column name.
    let m = check(replace_once(
        &intake,
        "name = \"relation\"",
        "name = \"name\"",
    ));
    assert!(m.contains("household.name"), "{m}");
    // A choice field without choices.
    check(intake.replace(
        "choices = [\n    { value = \"male\", zh = \"男\", en = \"male\" },\n    { value = \"female\", zh = \"女\", en = \"female\" },\n    { value = \"other\", zh = \"其他\", en = \"other\" },\n]\n",
        "",
    ));
    // A table without columns.
    let no_columns = intake.split("[[fields.columns]]").collect::<Vec<_>>();
    let rest = no_columns.last().unwrap();
    let after = &rest[rest.find("[[fields]]").unwrap()..];
    check(format!("{}{}", no_columns[0], after));
    // Choices on a text field.
    check(replace_once(
        &intake,
        "name = \"address\"\nlabel_zh = \"家庭住址\"\nlabel_en = \"Home address\"\nkind = \"text\"\n",
        "name = \"address\"\nlabel_zh = \"家庭住址\"\nlabel_en = \"Home address\"\nkind = \"text\"\nchoices = [\"a\"]\n",
    ));
    // Missing label.
    check(replace_once(
        &intake,
        "label_en = \"WeChat/QQ\"",
        "label_en = \"\"",
    ));
    // Bad field name.
    check(replace_once(
        &intake,
        "name = \"wechat_qq\"",
        "name = \"WeChat\"",
    ));
    // Retention zero.
    check(replace_once(
        &intake,
        "retention_years = 10",
        "retention_years = 0",
    ));
    // min above max.
    check(replace_once(
        &intake,
        "min = 0\nmax = 130\n\n# 敏感",
        "min = 200\nmax = 130\n\n# 敏感",
    ));
}

#[test]
fn unexpected_and_missing_files() {
    let mut s = Policy::embedded_sources();
    s.push(("notes.toml".to_string(), String::new()));
    let (file, _) = invalid_err(&s);
    assert_eq!(file, "notes.toml");

    let mut s = Policy::embedded_sources();
    s.retain(|(n, _)| n != "policy.toml");
    let (file, _) = invalid_err(&s);
    assert_eq!(file, "policy.toml");

    let mut s = Policy::embedded_sources();
    s.push(s[0].clone());
    invalid_err(&s);
}

#[test]
fn digest_is_stable_and_order_independent() {
    let a = Policy::embedded_sources();
    let mut b = a.clone();
    b.reverse();
    assert_eq!(Policy::digest(&a), Policy::digest(&a));
    assert_eq!(Policy::digest(&a), Policy::digest(&b));
    assert_eq!(
        Policy::from_sources(&b).unwrap().source_digest,
        Policy::digest(&a)
    );
}

#[test]
fn digest_changes_when_a_file_changes() {
    let a = Policy::embedded_sources();
    let base = Policy::digest(&a);

    // One added space in a comment.
    let mut b = a.clone();
    b[0].1.push(' ');
    assert_ne!(Policy::digest(&b), base);

    // A renamed file with the same text.
    let mut c = a.clone();
    c[1].0 = "templates/closing2.toml".to_string();
    assert_ne!(Policy::digest(&c), base);

    // A removed file.
    let d = a[1..].to_vec();
    assert_ne!(Policy::digest(&d), base);

    // Moving bytes between name and text must not collide.
    let e = vec![("ab".to_string(), "c".to_string())];
    let f = vec![("a".to_string(), "bc".to_string())];
    assert_ne!(Policy::digest(&e), Policy::digest(&f));
}

#[test]
fn digest_follows_the_documented_encoding() {
    let sources = vec![
        ("templates/x.toml".to_string(), "kind = \"x\"\n".to_string()),
        ("policy.toml".to_string(), "minor_age = 14\n".to_string()),
    ];
    let mut h = Sha256::new();
    h.update(b"casevault policy digest v1\n");
    for (name, text) in [
        ("policy.toml", "minor_age = 14\n"),
        ("templates/x.toml", "kind = \"x\"\n"),
    ] {
        h.update((name.len() as u64).to_be_bytes());
        h.update(name.as_bytes());
        h.update((text.len() as u64).to_be_bytes());
        h.update(text.as_bytes());
    }
    let expected: [u8; 32] = h.finalize().into();
    assert_eq!(Policy::digest(&sources), expected);
}

#[test]
fn bad_labelled_choice_names_the_missing_key() {
    let text = template_text("process");
    let bad = replace_once(
        &text,
        "{ value = \"phone\", zh = \"电话\", en = \"phone\" }",
        "{ value = \"phone\", zh = \"电话\", english = \"phone\" }",
    );
    let line = text[..text.find("{ value = \"phone\"").unwrap()]
        .lines()
        .count();
    let (file, l, _, message) = parse_err(&with_file("templates/process.toml", &bad));
    assert_eq!(file, "templates/process.toml");
    assert_eq!(l, line);
    assert!(message.contains("english"), "{message}");
}
