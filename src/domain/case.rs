//! Cases (个案): one course of service to a client, from intake to follow-up.

use serde::Serialize;

use super::labeled_enum;

labeled_enum!(
    /// How the case came to the agency (服务对象来源).
    Source {
        SelfReferred = "self", "主动求助", "self-referred";
        OtherPerson = "other_person", "他人求助", "someone else asked";
        Referral = "referral", "转介", "referral";
        Outreach = "outreach", "外展", "outreach";
        Other = "other", "其他", "other";
    }
);

labeled_enum!(
    /// Where the case stands (个案阶段).
    Stage {
        Intake = "intake", "接案", "intake";
        Assessment = "assessment", "预估", "assessment";
        Plan = "plan", "计划", "plan";
        Intervention = "intervention", "介入", "intervention";
        Evaluation = "evaluation", "评估", "evaluation";
        Closed = "closed", "结案", "closed";
        FollowUp = "follow_up", "跟进", "follow-up";
    }
);

/// A stored case.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Case {
    pub id: i64,
    pub client_id: i64,
    pub source: Source,
    pub stage: Stage,
    pub workers: Vec<String>,
    pub opened_at: i64,
    pub opened_by: String,
    pub closed_at: Option<i64>,
}

impl Stage {
    /// Stages move forward one step at a time, except that a case may close from any stage
    /// and follow-up comes only after closing.
    pub fn may_move_to(self, next: Stage) -> bool {
        use Stage::*;
        match (self, next) {
            (Closed, FollowUp) => true,
            (FollowUp, _) | (Closed, _) => false,
            (_, Closed) => true,
            (a, b) => (b as u8) == (a as u8) + 1,
        }
    }
}
