//! Clients (服务对象): the people the agency serves.

use serde::{Deserialize, Serialize};

use super::labeled_enum;
use super::text::{
    single_line, FieldError, FieldProblem, ADDRESS_MAX, LIST_MAX, NAME_MAX, NUMBER_MAX, PHONE_MAX,
    RELATION_MAX,
};
use super::time::{Date, EARLIEST_BIRTH};

labeled_enum!(
    /// Gender as the intake form records it.
    Gender {
        Female = "female", "女", "female";
        Male = "male", "男", "male";
        Other = "other", "其他", "other";
        Unstated = "unstated", "未填", "unstated";
    }
);

labeled_enum!(
    /// Risk marking (风险标识).
    Risk {
        None = "none", "无", "none";
        Yellow = "yellow", "黄色预警", "yellow warning";
        Red = "red", "红色风险", "red risk";
    }
);

labeled_enum!(
    /// Service category (服务类型).
    Category {
        Basic = "basic", "基础保障型", "basic support";
        Development = "development", "发展支持型", "development support";
        Crisis = "crisis", "危机干预型", "crisis intervention";
    }
);

/// A guardian or other legal representative.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Guardian {
    pub name: String,
    pub relation: String,
    #[serde(default)]
    pub phone: String,
}

/// What a worker enters to add a client. Only `number` and `name` are required: the rest is
/// collected when the service needs it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// The agency's client number (服务对象编号), unique in the vault.
    pub number: String,
    pub name: String,
    #[serde(default)]
    pub birth_date: Option<Date>,
    #[serde(default = "unstated")]
    pub gender: Gender,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub id_number: String,
    #[serde(default)]
    pub guardians: Vec<Guardian>,
    #[serde(default = "no_risk")]
    pub risk: Risk,
    #[serde(default = "basic")]
    pub category: Category,
}

fn unstated() -> Gender {
    Gender::Unstated
}
fn no_risk() -> Risk {
    Risk::None
}
fn basic() -> Category {
    Category::Basic
}

/// A stored client.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Client {
    pub id: i64,
    #[serde(flatten)]
    pub data: NewClient,
    pub created_at: i64,
    pub created_by: String,
}

impl NewClient {
    /// Checks what the forms require: a number, a name, a birth date from 1900 to today, and
    /// every text within its character rules and length (see [`super::text`]).
    pub fn check(&self, today: Date) -> Result<(), ClientProblem> {
        if self.number.trim().is_empty() {
            return Err(ClientProblem::Missing("number"));
        }
        if self.name.trim().is_empty() {
            return Err(ClientProblem::Missing("name"));
        }
        single_line("number", &self.number, NUMBER_MAX)?;
        single_line("name", &self.name, NAME_MAX)?;
        single_line("phone", &self.phone, PHONE_MAX)?;
        single_line("address", &self.address, ADDRESS_MAX)?;
        single_line("id_number", &self.id_number, NUMBER_MAX)?;
        if let Some(b) = self.birth_date {
            b.check_within("birth_date", EARLIEST_BIRTH, today)?;
        }
        if self.guardians.len() > LIST_MAX {
            return Err(
                FieldError::new("guardians", FieldProblem::TooMany { max: LIST_MAX }).into(),
            );
        }
        for (i, g) in self.guardians.iter().enumerate() {
            if g.name.trim().is_empty() {
                return Err(ClientProblem::Missing("guardians.name"));
            }
            let n = i + 1;
            single_line(&format!("guardians[{n}].name"), &g.name, NAME_MAX)?;
            single_line(
                &format!("guardians[{n}].relation"),
                &g.relation,
                RELATION_MAX,
            )?;
            single_line(&format!("guardians[{n}].phone"), &g.phone, PHONE_MAX)?;
        }
        Ok(())
    }
}

/// Why a new client's details are refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientProblem {
    /// A required field is empty.
    Missing(&'static str),
    /// A field breaks a text or date rule.
    Field(FieldError),
}

impl From<FieldError> for ClientProblem {
    fn from(e: FieldError) -> Self {
        ClientProblem::Field(e)
    }
}

impl Client {
    /// True when the client is under `minor_age` on `on` (a guardian must sign for them).
    /// Unknown birth date: not known to be a minor.
    pub fn is_minor_on(&self, on: Date, minor_age: u32) -> bool {
        self.data
            .birth_date
            .is_some_and(|b| b.age_on(on) < minor_age as i32)
    }
}
