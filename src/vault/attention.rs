//! What needs attention on a member's cases (the web's "my cases"): overdue client requests,
//! service plans due for review, a red mark on the latest risk assessment, consents that stop
//! within [`EXPIRING_DAYS`]. Each item comes from the rule that already decides it
//! ([`Request::is_overdue`](crate::domain::Request::is_overdue) through `request_list`,
//! [`Consent::expires_within`](crate::domain::Consent::expires_within)); nothing is stored.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use super::Session;
use crate::domain::time::{now, today, Date};
use crate::domain::{Case, RecordContent, RequestKind};
use crate::error::{Error, Result};
use crate::policy::{Action, FieldKind};
use crate::store;

/// Consents that stop within this many days are listed.
pub const EXPIRING_DAYS: i64 = 30;
/// The service plan's template kind and the date field that says when it is next reviewed
/// (used only when the policy's template has it: the default template does not).
pub const PLAN_KIND: &str = "service_plan";
pub const PLAN_REVIEW_FIELD: &str = "review_date";
/// The risk assessment's template kind and its risk-mark choice field.
pub const RISK_KIND: &str = "risk_assessment";
pub const RISK_FIELD: &str = "risk_mark";
const RED: &str = "red";

/// One thing to look at, on one case.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AttentionItem {
    pub case_id: i64,
    pub client_id: i64,
    pub what: Attention,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Attention {
    /// An access or correction request still open after its due date.
    OverdueRequest {
        request: i64,
        kind: RequestKind,
        due: Date,
    },
    /// The latest service plan's review date has come.
    PlanReview { record: i64, due: Date },
    /// The latest risk assessment the member may read marks the client red.
    RedRisk { record: i64 },
    /// A consent in force that stops within [`EXPIRING_DAYS`].
    ConsentExpiring {
        consent: i64,
        agency: String,
        expires: Date,
    },
}

impl Session {
    /// What needs attention on `cases` (as [`Session::case_list`] returned them). Requests and
    /// consents are metadata and cover every case given; the two items that need record
    /// content (plan review, risk) are read only for the cases in `read`, one record each (the
    /// newest of its kind), only where the member's role reads its tier and never for a
    /// supervisor-only record (those are read only through `record_show`, which logs the
    /// read). Such a read only derives the mark: it is not a record view, so it is not noted.
    pub fn attention(&self, cases: &[Case], read: &[i64]) -> Result<Vec<AttentionItem>> {
        self.require(Action::ClientRead)?;
        // Each client's case to link to: the newest open one, else the newest.
        let mut case_of: HashMap<i64, &Case> = HashMap::new();
        for c in cases {
            let better = match case_of.get(&c.client_id) {
                None => true,
                Some(o) => (c.closed_at.is_none(), c.id) > (o.closed_at.is_none(), o.id),
            };
            if better {
                case_of.insert(c.client_id, c);
            }
        }
        let mut out = Vec::new();
        if self.policy.allows(self.role, Action::RequestManage) {
            for r in self.request_list(None, true, true)? {
                if r.kind == RequestKind::Partner {
                    continue;
                }
                if let Some(c) = case_of.get(&r.client_id) {
                    out.push(AttentionItem {
                        case_id: c.id,
                        client_id: r.client_id,
                        what: Attention::OverdueRequest {
                            request: r.id,
                            kind: r.kind,
                            due: r.due,
                        },
                    });
                }
            }
        }
        let at = now();
        for k in store::consents::list(&self.conn, None)? {
            if !k.expires_within(at, EXPIRING_DAYS) {
                continue;
            }
            if let Some(c) = case_of.get(&k.client_id) {
                out.push(AttentionItem {
                    case_id: c.id,
                    client_id: k.client_id,
                    what: Attention::ConsentExpiring {
                        consent: k.id,
                        agency: k.agency_name.clone(),
                        expires: k.terms.expires_on,
                    },
                });
            }
        }
        if !self.policy.allows(self.role, Action::RecordRead) {
            return Ok(out);
        }
        let plan_review = self
            .policy
            .template(PLAN_KIND)
            .and_then(|t| t.field(PLAN_REVIEW_FIELD))
            .is_some_and(|f| f.kind == FieldKind::Date);
        let t = today();
        for c in cases.iter().filter(|c| read.contains(&c.id)) {
            if plan_review {
                if let Some((record, Value::String(d))) =
                    self.latest_field(c.id, PLAN_KIND, PLAN_REVIEW_FIELD)?
                {
                    if let Some(due) = Date::parse(&d).filter(|d| *d <= t) {
                        out.push(AttentionItem {
                            case_id: c.id,
                            client_id: c.client_id,
                            what: Attention::PlanReview { record, due },
                        });
                    }
                }
            }
            if let Some((record, Value::String(m))) =
                self.latest_field(c.id, RISK_KIND, RISK_FIELD)?
            {
                if m == RED {
                    out.push(AttentionItem {
                        case_id: c.id,
                        client_id: c.client_id,
                        what: Attention::RedRisk { record },
                    });
                }
            }
        }
        Ok(out)
    }

    /// Field `field` of the newest `kind` record of a case, if there is one whose tier the
    /// member's role reads (`None` otherwise: what the role may not read is not looked at).
    fn latest_field(&self, case_id: i64, kind: &str, field: &str) -> Result<Option<(i64, Value)>> {
        self.case_access(case_id)?;
        // One snapshot: a rekey committing meanwhile cannot remove the epoch's keys.
        let _snapshot = self.conn.unchecked_transaction()?;
        let Some(rec) = store::records::latest_of_kind(&self.conn, case_id, kind)? else {
            return Ok(None);
        };
        // A supervisor-only record is read only through `record_show`, which logs the read;
        // a mark derived from one would be an unlogged read, so such records mark nothing.
        let supervisor_only = self
            .policy
            .tier(rec.meta.tier)
            .is_none_or(|t| t.supervisor_only);
        if supervisor_only
            || !self
                .policy
                .readable_tiers(self.role)
                .contains(&rec.meta.tier)
        {
            return Ok(None);
        }
        let payload = self.decrypt_record(&rec)?;
        let content = RecordContent::parse(&payload).ok_or(Error::Tampered {
            what: "record",
            id: rec.meta.id.to_string(),
        })?;
        Ok(content.fields.get(field).cloned().map(|v| (rec.meta.id, v)))
    }
}
