//! Requests (请求): a client's or guardian's request to see or correct their data, or a
//! partner agency's request for data. Each has a due date from policy and a status.

use serde::{Deserialize, Serialize};

use super::labeled_enum;
use super::time::Date;

labeled_enum!(
    /// What is asked.
    RequestKind {
        Access = "access", "查阅", "access";
        Correction = "correction", "更正", "correction";
        Partner = "partner", "合作机构请求", "partner request";
    }
);

labeled_enum!(
    /// On what authority the requester acts.
    Authority {
        Client = "self", "本人", "self";
        Guardian = "guardian", "监护人", "guardian";
        Agent = "agent", "代理人", "agent";
        Partner = "partner", "合作机构", "partner agency";
    }
);

labeled_enum!(
    /// Where a request stands.
    RequestStatus {
        Open = "open", "待处理", "open";
        Fulfilled = "fulfilled", "已答复", "fulfilled";
        Accepted = "accepted", "已更正", "accepted";
        Denied = "denied", "已拒绝", "denied";
    }
);

/// Something held about the client that a response left out, and why.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Withheld {
    pub record_id: i64,
    pub kind: String,
    /// Stable code: `supervisor_only_tier` or `third_party`.
    pub reason: String,
    pub reason_zh: String,
    pub reason_en: String,
}

/// A stored request.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Request {
    pub id: i64,
    pub kind: RequestKind,
    pub client_id: i64,
    pub client_number: String,
    /// Who asked (a person's or agency's name).
    pub requester: String,
    pub authority: Authority,
    /// How the requester's identity and authority were checked (a short note).
    pub identity_check: String,
    pub received: Date,
    pub due: Date,
    /// The record a correction request is about.
    pub record_id: Option<i64>,
    pub status: RequestStatus,
    /// The written response: a denial's or refusal's reason, or a short summary.
    pub response: String,
    pub withheld: Vec<Withheld>,
    /// The amendment an accepted correction appended.
    pub amendment_id: Option<i64>,
    /// The record holding the client's statement of disagreement after a denial.
    pub statement_id: Option<i64>,
    /// The disclosure-log entry of the response, if one was logged.
    pub log_index: Option<u64>,
    pub created_at: i64,
    pub created_by: String,
    pub closed_at: Option<i64>,
    pub closed_by: Option<String>,
    /// Open and past its due date (computed when read, not stored).
    pub overdue: bool,
}

impl Request {
    /// Open and `today` is after the due date.
    pub fn is_overdue(&self, today: Date) -> bool {
        self.status == RequestStatus::Open && today > self.due
    }
}
