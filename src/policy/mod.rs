//! TEMPORARY stand-in for the policy module (replaced by the real one on merge).
#![allow(missing_docs, dead_code)]
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::error::{Error, Result};

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Caseworker,
    Supervisor,
    Admin,
    Auditor,
}
impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Caseworker => "caseworker",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        [
            Role::Caseworker,
            Role::Supervisor,
            Role::Admin,
            Role::Auditor,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
    pub fn label(&self) -> String {
        self.as_str().to_string()
    }
}
impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    ClientAdd,
    ClientRead,
    CaseOpen,
    CaseAssign,
    CaseClose,
    RecordWrite,
    RecordRead,
    RecordLowerTier,
    StaffManage,
    PolicyManage,
    LogRead,
    LogVerify,
    AuditRun,
    ConsentManage,
    AgencyManage,
    ReferralExport,
    ReferralApprove,
    RequestManage,
    Rekey,
    RecoveryUse,
}
impl Action {
    pub fn as_str(&self) -> &'static str {
        "action"
    }
}

pub struct Tier {
    pub level: u8,
    pub name: String,
    pub label_zh: String,
    pub label_en: String,
    pub supervisor_only: bool,
}
pub struct RolePolicy {
    pub actions: BTreeSet<Action>,
    pub all_cases: bool,
}
pub struct Template {
    pub kind: String,
    pub label_zh: String,
    pub label_en: String,
    pub default_tier: u8,
    pub retention_years: u32,
}
pub struct Requests {
    pub access_days: u32,
    pub correction_days: u32,
    pub partner_days: u32,
    pub lookback_years: u32,
}
pub struct Policy {
    pub minor_age: u32,
    pub tiers: Vec<Tier>,
    pub roles: BTreeMap<Role, RolePolicy>,
    pub templates: BTreeMap<String, Template>,
    pub requests: Requests,
}
impl Policy {
    pub fn from_sources(_files: &[(String, String)]) -> Result<Policy> {
        Ok(Self::embedded())
    }
    pub fn load_dir(_dir: &Path) -> Result<Policy> {
        Ok(Self::embedded())
    }
    pub fn read_sources(_dir: &Path) -> Result<Vec<(String, String)>> {
        Ok(Self::embedded_sources())
    }
    pub fn embedded_sources() -> Vec<(String, String)> {
        vec![("policy.toml".into(), "# stub".into())]
    }
    pub fn embedded() -> Policy {
        let t = |l: u8, n: &str, s| Tier {
            level: l,
            name: n.into(),
            label_zh: n.into(),
            label_en: n.into(),
            supervisor_only: s,
        };
        let tpl = |k: &str, d| {
            (
                k.to_string(),
                Template {
                    kind: k.into(),
                    label_zh: k.into(),
                    label_en: k.into(),
                    default_tier: d,
                    retention_years: 10,
                },
            )
        };
        Policy {
            minor_age: 14,
            tiers: vec![
                t(1, "general", false),
                t(2, "confidential", false),
                t(3, "restricted", true),
            ],
            roles: BTreeMap::new(),
            templates: [
                tpl("intake", 2),
                tpl("process", 2),
                tpl("supervision", 3),
                tpl("service_plan", 2),
            ]
            .into_iter()
            .collect(),
            requests: Requests {
                access_days: 15,
                correction_days: 15,
                partner_days: 30,
                lookback_years: 6,
            },
        }
    }
    pub fn digest(_s: &[(String, String)]) -> [u8; 32] {
        [0; 32]
    }
    pub fn tier(&self, level: u8) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.level == level)
    }
    pub fn tier_by_name(&self, name: &str) -> Option<&Tier> {
        self.tiers
            .iter()
            .find(|t| t.name == name || t.level.to_string() == name)
    }
    pub fn top_tier(&self) -> &Tier {
        self.tiers.last().unwrap()
    }
    pub fn max_tier(&self) -> u8 {
        self.top_tier().level
    }
    pub fn template(&self, kind: &str) -> Option<&Template> {
        self.templates.get(kind)
    }
    pub fn allows(&self, role: Role, action: Action) -> bool {
        use Action::*;
        match role {
            Role::Supervisor => !matches!(
                action,
                StaffManage | PolicyManage | AgencyManage | RecoveryUse
            ),
            Role::Caseworker => matches!(
                action,
                ClientAdd
                    | ClientRead
                    | CaseOpen
                    | RecordWrite
                    | RecordRead
                    | ConsentManage
                    | ReferralExport
                    | RequestManage
            ),
            Role::Admin => matches!(
                action,
                StaffManage
                    | PolicyManage
                    | AgencyManage
                    | RecoveryUse
                    | LogRead
                    | LogVerify
                    | AuditRun
                    | Rekey
            ),
            Role::Auditor => matches!(action, LogRead | LogVerify | AuditRun),
        }
    }
    pub fn all_cases(&self, role: Role) -> bool {
        role == Role::Supervisor
    }
    pub fn readable_tiers(&self, role: Role) -> Vec<u8> {
        match role {
            Role::Supervisor => self.tiers.iter().map(|t| t.level).collect(),
            Role::Caseworker => self
                .tiers
                .iter()
                .filter(|t| !t.supervisor_only)
                .map(|t| t.level)
                .collect(),
            _ => vec![],
        }
    }
    pub fn validate_content(&self, kind: &str, content: &serde_json::Value) -> Result<()> {
        if self.template(kind).is_none() {
            return Err(Error::Invalid(format!("unknown kind {kind}")));
        }
        if !content.is_object() {
            return Err(Error::Invalid("content must be an object".into()));
        }
        Ok(())
    }
}
