//! Reading policy files: strict TOML parsing with exact error locations, the directory layout,
//! and the source digest.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{
    validate, Action, Field, FieldKind, Policy, Requests, Role, RolePolicy, Template, Tier,
    WitnessPolicy,
};
use crate::error::{Error, Result};
use crate::tr;

/// The main policy file's name.
pub const POLICY_FILE: &str = "policy.toml";
/// Largest policy or template file read (they are a few KiB).
pub const MAX_POLICY_FILE: u64 = 1 << 20;
/// The folder holding one template per file.
pub const TEMPLATES_DIR: &str = "templates";

/// Domain-separation prefix of [`Policy::digest`].
pub const DIGEST_TAG: &[u8] = b"casevault policy digest v1\n";

/// `policy.toml` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    minor_age: u32,
    tiers: Vec<Tier>,
    roles: BTreeMap<Role, RawRole>,
    requests: Requests,
    #[serde(default)]
    witness: Vec<WitnessPolicy>,
    #[serde(default)]
    witness_quorum: usize,
    /// Optional, so policies stored before it existed load unchanged.
    #[serde(default = "default_time_zone")]
    time_zone: String,
}

fn default_time_zone() -> String {
    crate::domain::time::DEFAULT_TIME_ZONE.to_string()
}

/// `[roles.<role>]` as written; actions keep their location for error messages.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    actions: Vec<toml::Spanned<String>>,
    all_cases: bool,
}

/// A `templates/<kind>.toml` file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    kind: String,
    label_zh: String,
    label_en: String,
    default_tier: u8,
    retention_years: u32,
    #[serde(default)]
    fields: Vec<RawField>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: String,
    label_zh: String,
    label_en: String,
    kind: FieldKind,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    choices: Vec<RawChoice>,
    #[serde(default)]
    columns: Vec<RawField>,
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
    #[serde(default)]
    max_len: Option<usize>,
    #[serde(default)]
    help_zh: String,
    #[serde(default)]
    help_en: String,
}

/// A choice: either a bare code (`"yes"`) or `{ value = "self", zh = "主动求助", en = "self" }`.
enum RawChoice {
    Plain(String),
    Labeled(LabeledChoice),
}

/// By hand rather than `#[serde(untagged)]`, so that a bad labelled choice reports the real
/// reason (unknown or missing key) instead of "did not match any variant".
impl<'de> Deserialize<'de> for RawChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawChoice;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a choice code or { value = \"…\", zh = \"…\", en = \"…\" }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<RawChoice, E> {
                Ok(RawChoice::Plain(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<RawChoice, A::Error> {
                LabeledChoice::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawChoice::Labeled)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabeledChoice {
    value: String,
    zh: String,
    en: String,
}

impl RawField {
    fn into_field(self) -> Field {
        let mut choices = Vec::with_capacity(self.choices.len());
        let mut choice_labels = Vec::with_capacity(self.choices.len());
        for c in self.choices {
            match c {
                RawChoice::Plain(v) => {
                    choice_labels.push((v.clone(), v.clone()));
                    choices.push(v);
                }
                RawChoice::Labeled(l) => {
                    choice_labels.push((l.zh, l.en));
                    choices.push(l.value);
                }
            }
        }
        Field {
            name: self.name,
            label_zh: self.label_zh,
            label_en: self.label_en,
            kind: self.kind,
            required: self.required,
            choices,
            choice_labels,
            columns: self.columns.into_iter().map(RawField::into_field).collect(),
            min: self.min,
            max: self.max,
            max_len: self.max_len,
            help_zh: self.help_zh,
            help_en: self.help_en,
        }
    }
}

/// 1-based line and column (in characters) of byte offset `at` in `text`.
pub(crate) fn line_column(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Parses one TOML file strictly into `T`, mapping errors to [`Error::PolicyParse`].
fn parse<T: for<'de> Deserialize<'de>>(file: &str, text: &str) -> Result<T> {
    toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_column(text, s.start));
        Error::PolicyParse {
            file: file.to_string(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })
}

fn invalid(file: &str, message: String) -> Error {
    Error::PolicyInvalid {
        file: file.to_string(),
        message,
    }
}

impl Policy {
    /// Parses and validates a policy from its files: `(name relative to the policy dir, text)`.
    /// Names are `policy.toml` and `templates/<kind>.toml` (with `/`); order does not matter.
    /// A policy without templates is refused (nobody could write a record under it).
    pub fn from_sources(files: &[(String, String)]) -> Result<Policy> {
        let p = Policy::from_stored(files)?;
        validate::check_has_templates(&p)?;
        Ok(p)
    }

    /// Like [`Policy::from_sources`], for the copy a vault stored when the policy was put in
    /// force: a vault given a policy without templates by an older version still opens, so
    /// that an admin can apply a fixed one.
    pub fn from_stored(files: &[(String, String)]) -> Result<Policy> {
        let mut main: Option<(&str, &str)> = None;
        let mut templates: BTreeMap<String, Template> = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut sorted: Vec<&(String, String)> = files.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, text) in sorted {
            if !seen.insert(name.as_str()) {
                return Err(invalid(name, tr!("policy.rule.duplicate_file")));
            }
            if name == POLICY_FILE {
                main = Some((name, text));
                continue;
            }
            let Some(stem) = name
                .strip_prefix("templates/")
                .and_then(|n| n.strip_suffix(".toml"))
                .filter(|s| !s.is_empty() && !s.contains('/'))
            else {
                return Err(invalid(name, tr!("policy.rule.unexpected_file")));
            };
            let raw: RawTemplate = parse(name, text)?;
            if raw.kind != stem {
                return Err(invalid(
                    name,
                    tr!(
                        "policy.rule.kind_file_mismatch",
                        kind = raw.kind,
                        stem = stem
                    ),
                ));
            }
            let template = Template {
                kind: raw.kind,
                label_zh: raw.label_zh,
                label_en: raw.label_en,
                default_tier: raw.default_tier,
                retention_years: raw.retention_years,
                fields: raw.fields.into_iter().map(RawField::into_field).collect(),
            };
            templates.insert(stem.to_string(), template);
        }
        let Some((main_name, main_text)) = main else {
            return Err(invalid(POLICY_FILE, tr!("policy.rule.missing_policy_file")));
        };
        let raw: RawPolicy = parse(main_name, main_text)?;
        let mut roles = BTreeMap::new();
        for (role, r) in raw.roles {
            let mut actions = std::collections::BTreeSet::new();
            for a in r.actions {
                let Some(action) = Action::parse(a.get_ref()) else {
                    let (line, column) = line_column(main_text, a.span().start);
                    let all: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
                    return Err(Error::PolicyParse {
                        file: main_name.to_string(),
                        line,
                        column,
                        message: tr!(
                            "policy.parse.unknown_action",
                            action = a.get_ref(),
                            expected = all.join(", ")
                        ),
                    });
                };
                actions.insert(action);
            }
            let all_cases = r.all_cases;
            roles.insert(role, RolePolicy { actions, all_cases });
        }
        let mut tiers = raw.tiers;
        tiers.sort_by_key(|t| t.level);
        let policy = Policy {
            minor_age: raw.minor_age,
            tiers,
            roles,
            templates,
            requests: raw.requests,
            witnesses: raw.witness,
            witness_quorum: raw.witness_quorum,
            time_zone: raw.time_zone,
            source_digest: Policy::digest(files),
        };
        validate::check(&policy)?;
        Ok(policy)
    }

    /// The policy files under `dir`: `policy.toml` and `templates/*.toml`, sorted by name.
    /// Other files (a README, backups without `.toml`) are ignored.
    pub fn read_sources(dir: &Path) -> Result<Vec<(String, String)>> {
        // Policy files are small; a wrong path (a log, an image) is refused before reading.
        let read = |p: &Path| crate::error::read_capped_text(p, MAX_POLICY_FILE);
        let mut out = vec![(POLICY_FILE.to_string(), read(&dir.join(POLICY_FILE))?)];
        let tdir = dir.join(TEMPLATES_DIR);
        if tdir.is_dir() {
            let entries = std::fs::read_dir(&tdir).map_err(|e| Error::io(&tdir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| Error::io(&tdir, e))?;
                let path = entry.path();
                let is_toml = path.extension().is_some_and(|e| e == "toml");
                if !is_toml || !path.is_file() {
                    continue;
                }
                let Some(file) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                out.push((format!("{TEMPLATES_DIR}/{file}"), read(&path)?));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Reads, parses and validates the policy in `dir`.
    pub fn load_dir(dir: &Path) -> Result<Policy> {
        Policy::from_sources(&Policy::read_sources(dir)?)
    }

    /// SHA-256 over the canonical encoding of the sources (see `docs/policy.md`):
    ///
    /// ```text
    /// "casevault policy digest v1\n"
    /// for each (name, text), sorted by name (bytewise):
    ///     u64 big-endian byte length of name, name (UTF-8)
    ///     u64 big-endian byte length of text, text (UTF-8, exact bytes, no normalisation)
    /// ```
    pub fn digest(sources: &[(String, String)]) -> [u8; 32] {
        let mut sorted: Vec<&(String, String)> = sources.iter().collect();
        sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut h = Sha256::new();
        h.update(DIGEST_TAG);
        for (name, text) in sorted {
            h.update((name.len() as u64).to_be_bytes());
            h.update(name.as_bytes());
            h.update((text.len() as u64).to_be_bytes());
            h.update(text.as_bytes());
        }
        h.finalize().into()
    }
}
