//! The rules a well-formed policy must also satisfy. Each broken rule is an
//! [`Error::PolicyInvalid`] naming the file and the rule, in the current language.
//!
//! `policy.toml`:
//! - at least two tiers, levels contiguous from 1, names unique, lowercase (`[a-z][a-z0-9_-]*`),
//!   labels in both languages;
//! - the top tier is `supervisor_only = true` and no other tier is;
//! - `minor_age` between 1 and 21;
//! - `time_zone` a name in the time zone database;
//! - all four roles present; admin and auditor lack `record.read`; only the supervisor may have
//!   `referral.approve` and `record.lower_tier`;
//! - every request deadline (`access_days`, `correction_days`, `partner_days`, `lookback_years`)
//!   above zero.
//!
//! `templates/`: at least one template (checked for new policies; see
//! [`check_has_templates`]).
//!
//! `templates/<kind>.toml`:
//! - `kind` equals the file stem and is `[a-z][a-z0-9_]*` (checked while loading);
//! - labels in both languages; `default_tier` is a tier of the policy; `retention_years` ≥ 1;
//! - field names `[a-z][a-z0-9_]*`, unique within the template (columns within their table);
//! - `choice` fields have choices (unique, non-empty) and only they do; `table` fields have
//!   columns and only they do; columns are not tables; `min`/`max` only on `number`, min ≤ max;
//!   `max_len` only on `text` and `long_text`, from 1 to 100,000;
//! - a field named `note` (accepted on every template) is `long_text`.

use std::collections::BTreeSet;

use super::load::POLICY_FILE;
use super::{Action, Field, FieldKind, Policy, Role, Template};
use crate::domain::text::TEMPLATE_MAX_LEN_LIMIT;
use crate::error::{Error, Result};
use crate::tr;

/// The free-text field every template accepts.
pub const NOTE_FIELD: &str = "note";

/// The flag every template accepts: `true` marks a record as holding information about other
/// people, withheld from the client's access package with that reason (see `docs/requests.md`).
pub const THIRD_PARTY_FIELD: &str = "third_party";

fn invalid(file: &str, message: String) -> Error {
    Error::PolicyInvalid {
        file: file.to_string(),
        message,
    }
}

/// `[a-z][a-z0-9_]*` (plus `-` when `dash`).
fn is_ident(s: &str, dash: bool) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || (dash && c == '-'))
}

/// A policy needs at least one template: without one every `record add` fails. No template
/// kind is required by name (the code relies on none); `policy apply` also keeps every kind
/// that records in the vault already have.
pub fn check_has_templates(p: &Policy) -> Result<()> {
    if p.templates.is_empty() {
        return Err(invalid(
            super::TEMPLATES_DIR,
            tr!("policy.rule.no_templates"),
        ));
    }
    Ok(())
}

/// Checks every rule; the first broken one is returned.
pub fn check(p: &Policy) -> Result<()> {
    check_main(p)?;
    check_witnesses(p)?;
    for t in p.templates.values() {
        check_template(p, t)?;
    }
    Ok(())
}

fn check_main(p: &Policy) -> Result<()> {
    let f = POLICY_FILE;
    // Tiers (already sorted by level).
    if p.tiers.len() < 2 {
        return Err(invalid(f, tr!("policy.rule.too_few_tiers")));
    }
    let mut names = BTreeSet::new();
    for (i, t) in p.tiers.iter().enumerate() {
        let expected = i + 1;
        if usize::from(t.level) != expected {
            return Err(invalid(
                f,
                tr!(
                    "policy.rule.tier_levels",
                    level = t.level,
                    expected = expected
                ),
            ));
        }
        if !is_ident(&t.name, true) {
            return Err(invalid(f, tr!("policy.rule.tier_name", name = t.name)));
        }
        if !names.insert(t.name.as_str()) {
            return Err(invalid(f, tr!("policy.rule.tier_name_dup", name = t.name)));
        }
        if t.label_zh.trim().is_empty() || t.label_en.trim().is_empty() {
            return Err(invalid(f, tr!("policy.rule.tier_label", name = t.name)));
        }
        let top = i + 1 == p.tiers.len();
        if top && !t.supervisor_only {
            return Err(invalid(f, tr!("policy.rule.top_tier_open", name = t.name)));
        }
        if !top && t.supervisor_only {
            return Err(invalid(
                f,
                tr!("policy.rule.lower_tier_restricted", name = t.name),
            ));
        }
    }
    if !(1..=21).contains(&p.minor_age) {
        return Err(invalid(f, tr!("policy.rule.minor_age", age = p.minor_age)));
    }
    if crate::domain::time::parse_zone(&p.time_zone).is_none() {
        return Err(invalid(f, tr!("policy.rule.time_zone", zone = p.time_zone)));
    }
    for role in Role::ALL {
        if !p.roles.contains_key(&role) {
            return Err(invalid(f, tr!("policy.rule.role_missing", role = role)));
        }
    }
    for role in [Role::Admin, Role::Auditor] {
        if p.allows(role, Action::RecordRead) {
            return Err(invalid(
                f,
                tr!(
                    "policy.rule.no_record_read",
                    role = role,
                    action = Action::RecordRead
                ),
            ));
        }
    }
    for action in [Action::ReferralApprove, Action::RecordLowerTier] {
        for role in Role::ALL {
            if role != Role::Supervisor && p.allows(role, action) {
                return Err(invalid(
                    f,
                    tr!(
                        "policy.rule.supervisor_only_action",
                        role = role,
                        action = action
                    ),
                ));
            }
        }
    }
    let r = &p.requests;
    for (name, v) in [
        ("access_days", r.access_days),
        ("correction_days", r.correction_days),
        ("partner_days", r.partner_days),
        ("lookback_years", r.lookback_years),
    ] {
        if v == 0 {
            return Err(invalid(f, tr!("policy.rule.request_zero", setting = name)));
        }
    }
    Ok(())
}

fn check_template(p: &Policy, t: &Template) -> Result<()> {
    let f = format!("templates/{}.toml", t.kind);
    if !is_ident(&t.kind, false) {
        return Err(invalid(&f, tr!("policy.rule.kind_name", kind = t.kind)));
    }
    if t.label_zh.trim().is_empty() || t.label_en.trim().is_empty() {
        return Err(invalid(&f, tr!("policy.rule.template_label")));
    }
    if p.tier(t.default_tier).is_none() {
        return Err(invalid(
            &f,
            tr!(
                "policy.rule.default_tier",
                tier = t.default_tier,
                max = p.max_tier()
            ),
        ));
    }
    if t.retention_years == 0 {
        return Err(invalid(&f, tr!("policy.rule.retention")));
    }
    if t.fields.is_empty() {
        return Err(invalid(&f, tr!("policy.rule.no_fields")));
    }
    check_fields(&f, &t.fields, None)
}

fn check_fields(f: &str, fields: &[Field], table: Option<&str>) -> Result<()> {
    let mut names = BTreeSet::new();
    for fd in fields {
        let n = match table {
            Some(t) => format!("{t}.{}", fd.name),
            None => fd.name.clone(),
        };
        if !is_ident(&fd.name, false) {
            return Err(invalid(f, tr!("policy.rule.field_name", field = n)));
        }
        if !names.insert(fd.name.as_str()) {
            return Err(invalid(f, tr!("policy.rule.field_dup", field = n)));
        }
        if fd.label_zh.trim().is_empty() || fd.label_en.trim().is_empty() {
            return Err(invalid(f, tr!("policy.rule.field_label", field = n)));
        }
        if table.is_none() && fd.name == NOTE_FIELD && fd.kind != FieldKind::LongText {
            return Err(invalid(f, tr!("policy.rule.note_kind")));
        }
        match fd.kind {
            FieldKind::Choice => {
                if fd.choices.is_empty() {
                    return Err(invalid(f, tr!("policy.rule.choice_empty", field = n)));
                }
                let mut seen = BTreeSet::new();
                for c in &fd.choices {
                    if c.trim().is_empty() || !seen.insert(c.as_str()) {
                        return Err(invalid(
                            f,
                            tr!("policy.rule.choice_bad", field = n, choice = c),
                        ));
                    }
                }
            }
            _ if !fd.choices.is_empty() => {
                return Err(invalid(f, tr!("policy.rule.choices_not_choice", field = n)));
            }
            _ => {}
        }
        match fd.kind {
            FieldKind::Table => {
                if table.is_some() {
                    return Err(invalid(f, tr!("policy.rule.nested_table", field = n)));
                }
                if fd.columns.is_empty() {
                    return Err(invalid(f, tr!("policy.rule.table_empty", field = n)));
                }
                check_fields(f, &fd.columns, Some(&fd.name))?;
            }
            _ if !fd.columns.is_empty() => {
                return Err(invalid(f, tr!("policy.rule.columns_not_table", field = n)));
            }
            _ => {}
        }
        if let Some(m) = fd.max_len {
            if !matches!(fd.kind, FieldKind::Text | FieldKind::LongText) {
                return Err(invalid(f, tr!("policy.rule.max_len_not_text", field = n)));
            }
            if m == 0 || m > TEMPLATE_MAX_LEN_LIMIT {
                return Err(invalid(
                    f,
                    tr!(
                        "policy.rule.max_len",
                        field = n,
                        max = TEMPLATE_MAX_LEN_LIMIT
                    ),
                ));
            }
        }
        if fd.kind != FieldKind::Number && (fd.min.is_some() || fd.max.is_some()) {
            return Err(invalid(f, tr!("policy.rule.bounds_not_number", field = n)));
        }
        let finite = |v: Option<f64>| v.is_none_or(f64::is_finite);
        let ordered = match (fd.min, fd.max) {
            (Some(lo), Some(hi)) => lo <= hi,
            _ => true,
        };
        if !finite(fd.min) || !finite(fd.max) || !ordered {
            return Err(invalid(f, tr!("policy.rule.bounds", field = n)));
        }
    }
    Ok(())
}

/// Witnesses: valid cosigner keys named as declared, distinct names, plain-HTTP URLs, and a
/// quorum no larger than the list.
fn check_witnesses(p: &Policy) -> Result<()> {
    let f = POLICY_FILE;
    let mut names = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for w in &p.witnesses {
        let key = crate::log::cosign::CosignerKey::parse(&w.key)
            .map_err(|e| invalid(f, tr!("policy.rule.witness_key", name = w.name, reason = e)))?;
        // One witness under two names would count twice toward the quorum (a cosignature
        // does not sign the witness's name).
        if !keys.insert(key.key.to_bytes()) {
            return Err(invalid(
                f,
                tr!("policy.rule.witness_duplicate", name = w.name),
            ));
        }
        if key.name != w.name {
            return Err(invalid(
                f,
                tr!("policy.rule.witness_key", name = w.name, reason = key.name),
            ));
        }
        if !names.insert(w.name.as_str()) {
            return Err(invalid(
                f,
                tr!("policy.rule.witness_duplicate", name = w.name),
            ));
        }
        if crate::witness::http::split_url(&w.url).is_none() {
            return Err(invalid(f, tr!("policy.rule.witness_url", name = w.name)));
        }
    }
    if p.witness_quorum > p.witnesses.len() {
        return Err(invalid(
            f,
            tr!(
                "policy.rule.witness_quorum",
                quorum = p.witness_quorum,
                count = p.witnesses.len()
            ),
        ));
    }
    Ok(())
}
