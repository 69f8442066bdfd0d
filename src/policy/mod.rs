//! The agency policy: confidentiality tiers, what each role may do, the record templates and the
//! deadlines for data-subject requests.
//!
//! A policy is a directory of human-edited TOML files (see `docs/policy.md`):
//!
//! ```text
//! policy/
//!   policy.toml              minor age, tiers, roles, request deadlines
//!   templates/<kind>.toml    one record template per file; `kind` equals the file stem
//! ```
//!
//! The default policy shipped with casevault lives in the repository's `policy/` directory and
//! is compiled in ([`Policy::embedded`]). Parsing is strict: an unknown key, a wrong type or a
//! bad value is an [`Error::PolicyParse`](crate::Error::PolicyParse) naming file, line and
//! column; a well-formed policy that breaks a rule (see [`validate`]) is an
//! [`Error::PolicyInvalid`](crate::Error::PolicyInvalid) naming the file and the rule.
//!
//! [`Policy::digest`] fingerprints the exact source bytes so that a vault can record which
//! policy was in force.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::i18n::{lang, Lang};
use crate::tr;

pub mod diff;
mod load;
mod template;
pub mod validate;

pub use load::{DIGEST_TAG, POLICY_FILE, TEMPLATES_DIR};
pub use template::{check_field, is_date};

/// A staff role. Every staff member has exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// 社工: works on the cases assigned to them.
    Caseworker,
    /// 督导: every case, tier 3, approvals.
    Supervisor,
    /// 机构管理员: staff, partners, policy, recovery key; never record content.
    Admin,
    /// 审计员: the disclosure log and audits; never record content.
    Auditor,
}

impl Role {
    /// Every role, in order.
    pub const ALL: [Role; 4] = [
        Role::Caseworker,
        Role::Supervisor,
        Role::Admin,
        Role::Auditor,
    ];

    /// The stable name used in policy files, the database and the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Caseworker => "caseworker",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }

    /// The role named `s` (its stable name, case-insensitive).
    pub fn parse(s: &str) -> Option<Role> {
        let s = s.trim();
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
    }

    /// The role's name for people, in the current language.
    pub fn label(&self) -> String {
        match self {
            Role::Caseworker => tr!("policy.role.caseworker"),
            Role::Supervisor => tr!("policy.role.supervisor"),
            Role::Admin => tr!("policy.role.admin"),
            Role::Auditor => tr!("policy.role.auditor"),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a role may be allowed to do. Policy files name actions by [`Action::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// `client.add`: register a new client.
    ClientAdd,
    /// `client.read`: see a client's register entry (name, contact, …).
    ClientRead,
    /// `case.open`: open a case for a client.
    CaseOpen,
    /// `case.assign`: assign or unassign workers on a case.
    CaseAssign,
    /// `case.close`: close a case (the supervisor's approval of the closing).
    CaseClose,
    /// `record.write`: write records and amendments.
    RecordWrite,
    /// `record.read`: read record content (still limited by case keys and assignment).
    RecordRead,
    /// `record.lower_tier`: re-file a record at a lower tier.
    RecordLowerTier,
    /// `staff.manage`: add, change and offboard staff.
    StaffManage,
    /// `policy.manage`: install a new policy.
    PolicyManage,
    /// `log.read`: read the disclosure log's entries.
    LogRead,
    /// `log.verify`: verify the log's signatures and tree.
    LogVerify,
    /// `audit.run`: run the confidentiality audit.
    AuditRun,
    /// `consent.manage`: record, renew and revoke consents.
    ConsentManage,
    /// `agency.manage`: register partner agencies and their keys.
    AgencyManage,
    /// `referral.export`: make a referral packet.
    ReferralExport,
    /// `referral.approve`: approve a tier-3 disclosure.
    ReferralApprove,
    /// `request.manage`: handle access, correction and partner data requests.
    RequestManage,
    /// `vault.rekey`: re-encrypt old records under new keys.
    Rekey,
    /// `recovery.use`: open the vault with the recovery key.
    RecoveryUse,
}

impl Action {
    /// Every action, in order.
    pub const ALL: [Action; 20] = [
        Action::ClientAdd,
        Action::ClientRead,
        Action::CaseOpen,
        Action::CaseAssign,
        Action::CaseClose,
        Action::RecordWrite,
        Action::RecordRead,
        Action::RecordLowerTier,
        Action::StaffManage,
        Action::PolicyManage,
        Action::LogRead,
        Action::LogVerify,
        Action::AuditRun,
        Action::ConsentManage,
        Action::AgencyManage,
        Action::ReferralExport,
        Action::ReferralApprove,
        Action::RequestManage,
        Action::Rekey,
        Action::RecoveryUse,
    ];

    /// The stable name used in policy files and log entries.
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::ClientAdd => "client.add",
            Action::ClientRead => "client.read",
            Action::CaseOpen => "case.open",
            Action::CaseAssign => "case.assign",
            Action::CaseClose => "case.close",
            Action::RecordWrite => "record.write",
            Action::RecordRead => "record.read",
            Action::RecordLowerTier => "record.lower_tier",
            Action::StaffManage => "staff.manage",
            Action::PolicyManage => "policy.manage",
            Action::LogRead => "log.read",
            Action::LogVerify => "log.verify",
            Action::AuditRun => "audit.run",
            Action::ConsentManage => "consent.manage",
            Action::AgencyManage => "agency.manage",
            Action::ReferralExport => "referral.export",
            Action::ReferralApprove => "referral.approve",
            Action::RequestManage => "request.manage",
            Action::Rekey => "vault.rekey",
            Action::RecoveryUse => "recovery.use",
        }
    }

    /// The action's description for people, in the current language.
    pub fn label(&self) -> String {
        match self {
            Action::ClientAdd => tr!("policy.action.client_add"),
            Action::ClientRead => tr!("policy.action.client_read"),
            Action::CaseOpen => tr!("policy.action.case_open"),
            Action::CaseAssign => tr!("policy.action.case_assign"),
            Action::CaseClose => tr!("policy.action.case_close"),
            Action::RecordWrite => tr!("policy.action.record_write"),
            Action::RecordRead => tr!("policy.action.record_read"),
            Action::RecordLowerTier => tr!("policy.action.record_lower_tier"),
            Action::StaffManage => tr!("policy.action.staff_manage"),
            Action::PolicyManage => tr!("policy.action.policy_manage"),
            Action::LogRead => tr!("policy.action.log_read"),
            Action::LogVerify => tr!("policy.action.log_verify"),
            Action::AuditRun => tr!("policy.action.audit_run"),
            Action::ConsentManage => tr!("policy.action.consent_manage"),
            Action::AgencyManage => tr!("policy.action.agency_manage"),
            Action::ReferralExport => tr!("policy.action.referral_export"),
            Action::ReferralApprove => tr!("policy.action.referral_approve"),
            Action::RequestManage => tr!("policy.action.request_manage"),
            Action::Rekey => tr!("policy.action.rekey"),
            Action::RecoveryUse => tr!("policy.action.recovery_use"),
        }
    }

    /// The action named `s` (its stable name).
    pub fn parse(s: &str) -> Option<Action> {
        let s = s.trim();
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Action::parse(&s).ok_or_else(|| {
            let all: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
            serde::de::Error::custom(tr!(
                "policy.parse.unknown_action",
                action = s,
                expected = all.join(", ")
            ))
        })
    }
}

/// Picks the text for the current language.
fn pick(zh: &str, en: &str) -> String {
    match lang() {
        Lang::Zh if !zh.is_empty() => zh.to_string(),
        Lang::En if !en.is_empty() => en.to_string(),
        _ if !zh.is_empty() => zh.to_string(),
        _ => en.to_string(),
    }
}

/// A confidentiality tier. Level 1 is the least sensitive; the top tier is supervisor-only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// 1..=n, contiguous.
    pub level: u8,
    /// Stable machine name (`general`, `confidential`, `restricted`).
    pub name: String,
    pub label_zh: String,
    pub label_en: String,
    /// Case keys of this tier are wrapped to supervisors (and the recovery key) only.
    #[serde(default)]
    pub supervisor_only: bool,
    #[serde(default)]
    pub description_zh: String,
    #[serde(default)]
    pub description_en: String,
}

impl Tier {
    /// The tier's label in the current language.
    pub fn label(&self) -> String {
        pick(&self.label_zh, &self.label_en)
    }

    /// The tier's description in the current language.
    pub fn description(&self) -> String {
        pick(&self.description_zh, &self.description_en)
    }
}

/// What one role may do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolePolicy {
    pub actions: BTreeSet<Action>,
    /// true: every case; false: only cases assigned to them.
    pub all_cases: bool,
}

/// The type of a template field's value (in record content JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// One line of text (JSON string).
    Text,
    /// Free text, any length (JSON string).
    LongText,
    /// A calendar date, JSON string `YYYY-MM-DD`.
    Date,
    /// A JSON number (optionally within `min`..=`max`).
    Number,
    /// JSON `true` / `false`.
    Bool,
    /// One of `choices` (JSON string).
    Choice,
    /// Rows: a JSON array of objects whose keys are the `columns`.
    Table,
}

impl FieldKind {
    /// The name used in template files.
    pub fn as_str(&self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::LongText => "long_text",
            FieldKind::Date => "date",
            FieldKind::Number => "number",
            FieldKind::Bool => "bool",
            FieldKind::Choice => "choice",
            FieldKind::Table => "table",
        }
    }
}

/// One field of a template (or one column of a table field).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Field {
    /// The key in record content (`[a-z][a-z0-9_]*`).
    pub name: String,
    pub label_zh: String,
    pub label_en: String,
    pub kind: FieldKind,
    pub required: bool,
    /// Allowed values of a `Choice` field (stable codes stored in records).
    pub choices: Vec<String>,
    /// Display labels of `choices`, same length and order: (zh, en). Plain-string choices are
    /// their own label.
    pub choice_labels: Vec<(String, String)>,
    /// The columns of a `Table` field's rows.
    pub columns: Vec<Field>,
    /// Bounds of a `Number` field, inclusive.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Most characters of a `text` or `long_text` field (`None`: the default for its kind,
    /// see [`Field::text_limit`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
    /// Optional help text for the person filling in the form.
    pub help_zh: String,
    pub help_en: String,
}

impl Field {
    /// The character limit of a `text` or `long_text` field: its `max_len`, else
    /// [`TEMPLATE_TEXT_MAX`](crate::domain::text::TEMPLATE_TEXT_MAX) for `text` and
    /// [`FREE_TEXT_MAX`](crate::domain::text::FREE_TEXT_MAX) for `long_text`.
    pub fn text_limit(&self) -> usize {
        use crate::domain::text::{FREE_TEXT_MAX, TEMPLATE_TEXT_MAX};
        self.max_len.unwrap_or(match self.kind {
            FieldKind::LongText => FREE_TEXT_MAX,
            _ => TEMPLATE_TEXT_MAX,
        })
    }

    /// The field's label in the current language.
    pub fn label(&self) -> String {
        pick(&self.label_zh, &self.label_en)
    }

    /// The field's help text in the current language (empty if none).
    pub fn help(&self) -> String {
        pick(&self.help_zh, &self.help_en)
    }

    /// The label of choice `value` in the current language (the value itself if unknown).
    pub fn choice_label(&self, value: &str) -> String {
        match self.choices.iter().position(|c| c == value) {
            Some(i) => {
                let (zh, en) = &self.choice_labels[i];
                let l = pick(zh, en);
                if l.is_empty() {
                    value.to_string()
                } else {
                    l
                }
            }
            None => value.to_string(),
        }
    }

    /// The column named `name` of a table field.
    pub fn column(&self, name: &str) -> Option<&Field> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A record template: the form a record of this kind follows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Template {
    /// Stable kind name; equals the template file's stem.
    pub kind: String,
    pub label_zh: String,
    pub label_en: String,
    /// Tier a new record of this kind is filed at unless the author picks another.
    pub default_tier: u8,
    /// Years the record is kept after its case closes; the audit reports records past it.
    pub retention_years: u32,
    pub fields: Vec<Field>,
}

impl Template {
    /// The template's label in the current language.
    pub fn label(&self) -> String {
        pick(&self.label_zh, &self.label_en)
    }

    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Names of the required fields, in template order.
    pub fn required_fields(&self) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.name.as_str())
            .collect()
    }
}

/// Deadlines for data-subject and partner requests, in calendar days.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requests {
    /// Days to answer a client's or guardian's access request.
    pub access_days: u32,
    /// Days to answer a correction request.
    pub correction_days: u32,
    /// Days to answer a partner agency's data request.
    pub partner_days: u32,
    /// How many years back an access request covers by default.
    pub lookback_years: u32,
}

/// A transparency-log witness the vault's checkpoints must be cosigned by (issue 11 item 2,
/// `docs/witness.md`): `[[witness]]` in `policy.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessPolicy {
    /// The witness's key name (as in its cosignature lines).
    pub name: String,
    /// Its public key, `<name>+<key id>+<base64(0x04 ‖ key)>` (C2SP tlog-cosignature vkey).
    pub key: String,
    /// Where it serves `add-checkpoint`: `http://host:port[/prefix]`.
    pub url: String,
}

/// A parsed, validated policy.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Policy {
    /// Below this age (in whole years) a guardian must sign consents.
    pub minor_age: u32,
    /// Sorted by level, levels 1..=n.
    pub tiers: Vec<Tier>,
    /// Exactly the four roles.
    pub roles: BTreeMap<Role, RolePolicy>,
    /// By kind.
    pub templates: BTreeMap<String, Template>,
    pub requests: Requests,
    /// Witnesses that cosign the log's checkpoints (none by default).
    pub witnesses: Vec<WitnessPolicy>,
    /// How many of [`Policy::witnesses`] must cosign a disclosure's checkpoint before it is
    /// released (0 by default: no witnessing).
    pub witness_quorum: usize,
    /// The agency's time zone (IANA name, default Asia/Shanghai): dates are judged and times
    /// shown in it (`crate::domain::time`).
    pub time_zone: String,
    /// [`Policy::digest`] of the sources this policy was parsed from.
    pub source_digest: [u8; 32],
}

/// `(name, text)` of a shipped policy file, `name` relative to the policy directory.
macro_rules! policy_file {
    ($name:literal) => {
        ($name, include_str!(concat!("../../policy/", $name)))
    };
}

/// The shipped default policy files. Keep in step with `policy/` (a test checks).
const EMBEDDED: &[(&str, &str)] = &[
    policy_file!("policy.toml"),
    policy_file!("templates/closing.toml"),
    policy_file!("templates/consent.toml"),
    policy_file!("templates/evaluation.toml"),
    policy_file!("templates/intake.toml"),
    policy_file!("templates/process.toml"),
    policy_file!("templates/referral.toml"),
    policy_file!("templates/risk_assessment.toml"),
    policy_file!("templates/service_plan.toml"),
    policy_file!("templates/supervision.toml"),
];

impl Policy {
    /// The shipped default policy files, sorted by name.
    pub fn embedded_sources() -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = EMBEDDED
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        v.sort();
        v
    }

    /// The shipped default policy. It is tested to be valid, so this never panics in practice.
    pub fn embedded() -> Policy {
        Policy::from_sources(&Policy::embedded_sources())
            .unwrap_or_else(|e| panic!("the embedded default policy is invalid: {e}"))
    }

    /// The agency's time zone ([`Policy::time_zone`], checked when the policy loaded).
    pub fn zone(&self) -> jiff::tz::TimeZone {
        crate::domain::time::parse_zone(&self.time_zone).unwrap_or_else(crate::domain::time::zone)
    }

    /// The tier at `level`.
    pub fn tier(&self, level: u8) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.level == level)
    }

    /// The tier named `name` (machine name, case-insensitive), or by its level written as text.
    pub fn tier_by_name(&self, name: &str) -> Option<&Tier> {
        let name = name.trim();
        if let Ok(level) = name.parse::<u8>() {
            return self.tier(level);
        }
        self.tiers
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// The highest (supervisor-only) tier.
    pub fn top_tier(&self) -> &Tier {
        self.tiers.last().expect("a valid policy has tiers")
    }

    /// The highest tier level.
    pub fn max_tier(&self) -> u8 {
        self.top_tier().level
    }

    /// The template of `kind`.
    pub fn template(&self, kind: &str) -> Option<&Template> {
        self.templates.get(kind)
    }

    /// Whether `role` may perform `action` at all (case assignment and tiers are separate checks).
    pub fn allows(&self, role: Role, action: Action) -> bool {
        self.roles
            .get(&role)
            .is_some_and(|r| r.actions.contains(&action))
    }

    /// Whether `role` sees every case (true) or only cases assigned to them (false).
    pub fn all_cases(&self, role: Role) -> bool {
        self.roles.get(&role).is_some_and(|r| r.all_cases)
    }

    /// Tiers whose case keys a role holds: supervisors every tier; caseworkers (when assigned)
    /// the non-supervisor-only tiers; admin/auditor none.
    pub fn readable_tiers(&self, role: Role) -> Vec<u8> {
        match role {
            Role::Supervisor => self.tiers.iter().map(|t| t.level).collect(),
            Role::Caseworker => self
                .tiers
                .iter()
                .filter(|t| !t.supervisor_only)
                .map(|t| t.level)
                .collect(),
            Role::Admin | Role::Auditor => Vec::new(),
        }
    }

    /// Whether a person of `age_years` is a minor whose consents need a guardian.
    pub fn is_minor(&self, age_years: u32) -> bool {
        age_years < self.minor_age
    }

    /// Template kinds, sorted.
    pub fn template_kinds(&self) -> Vec<&str> {
        self.templates.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests;
