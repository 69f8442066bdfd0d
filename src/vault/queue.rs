//! What waits for a supervisor (the web's `/queue`): listings only, read from the rows the
//! CLI's own commands read. Each item is acted on by the library call the CLI makes
//! (`record show`, `case close`, `referral approve`, `referral release`, `staff endorse`).

use serde::Serialize;

use super::Session;
use crate::domain::time::now;
use crate::domain::{Case, RecordMeta, Stage};
use crate::error::{Error, Result};
use crate::policy::Role;
use crate::store;

/// Unread supervisor-only notes listed at most.
pub const QUEUE_NOTES_MAX: usize = 100;

/// The record kind whose presence means a caseworker has written the closing summary.
pub const CLOSING_KIND: &str = "closing";

/// A supervisor-only record within a consent's scope that an export would need approved.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalWanted {
    pub case_id: i64,
    pub consent_id: i64,
    pub agency: String,
    pub record: RecordMeta,
}

impl Session {
    fn require_supervisor(&self, action: &str) -> Result<()> {
        if self.role == Role::Supervisor {
            Ok(())
        } else {
            Err(Error::NotPermitted {
                action: action.into(),
                role: self.role.as_str().into(),
            })
        }
    }

    /// Supervisor-only notes nobody but their author has read yet, newest first: the
    /// notes waiting for supervision (a read is noted by `record show`).
    pub fn queue_notes(&self) -> Result<Vec<RecordMeta>> {
        self.require_supervisor("queue")?;
        let mut out = Vec::new();
        for t in self.policy.tiers.iter().filter(|t| t.supervisor_only) {
            out.extend(store::records::unread_of_tier(
                &self.conn,
                t.level,
                QUEUE_NOTES_MAX,
            )?);
        }
        out.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));
        out.truncate(QUEUE_NOTES_MAX);
        Ok(out)
    }

    /// Open cases with a closing summary written: the closing waits for a supervisor's
    /// `case close` (caseworkers may not close).
    pub fn queue_closings(&self) -> Result<Vec<Case>> {
        self.require_supervisor("queue")?;
        let mut out = Vec::new();
        for id in store::records::cases_with_kind(&self.conn, CLOSING_KIND)? {
            let c = self.case_access(id)?;
            if c.stage.may_move_to(Stage::Closed) {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Supervisor-only records that a consent in force (with separate consent) covers but
    /// no supervisor has approved for it: what `referral export` would refuse until
    /// `referral approve`.
    pub fn queue_approvals(&self) -> Result<Vec<ApprovalWanted>> {
        self.require_supervisor("queue")?;
        let at = now();
        let mut out = Vec::new();
        for consent in store::consents::list(&self.conn, None)? {
            let t = &consent.terms;
            let sensitive = |tier: u8| self.policy.tier(tier).is_some_and(|x| x.supervisor_only);
            if !t.separate_consent
                || consent.permits(at).is_err()
                || !t.tiers.iter().any(|l| sensitive(*l))
            {
                continue;
            }
            // Only a consent its signed statements support may prompt an approval: a planted
            // or edited row would lead a supervisor to approve against nothing (insider test).
            self.verified_consent(&consent)?;
            for case in store::cases::list(&self.conn, Some(consent.client_id), None)? {
                if case.stage == Stage::Closed {
                    continue;
                }
                for m in store::records::list(&self.conn, case.id)? {
                    if sensitive(m.tier)
                        && t.tiers.contains(&m.tier)
                        && t.kinds.contains(&m.kind)
                        && store::referrals::approver(&self.conn, consent.id, m.id)?.is_none()
                    {
                        out.push(ApprovalWanted {
                            case_id: case.id,
                            consent_id: consent.id,
                            agency: consent.agency_name.clone(),
                            record: m,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// New supervisors whose enrolment request waits (a serving supervisor's `staff
    /// endorse`, then the admin's approval): the names, from the request files.
    pub fn queue_enrolments(&self) -> Result<Vec<String>> {
        self.require_supervisor("queue")?;
        let dir = self.dir.staff_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => return Err(Error::io(dir, e)),
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(who) = name.strip_suffix(".request") else {
                continue;
            };
            if !super::valid_staff_name(who) || store::staff::get(&self.conn, who)?.is_some() {
                continue;
            }
            if let Ok(r) = super::enrol::Request::read(&self.dir, who) {
                if r.role == Role::Supervisor.as_str() {
                    out.push(who.to_string());
                }
            }
        }
        out.sort();
        Ok(out)
    }
}
