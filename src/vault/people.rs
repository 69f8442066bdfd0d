//! Clients and cases.

use super::authority::Claim;
use super::keys;
use super::Session;
use crate::domain::time::{now, today};
use crate::domain::{Case, Client, NewClient, Source, Stage};
use crate::error::{Error, Result};
use crate::log::registry::Member;
use crate::log::Kind;
use crate::policy::{Action, Role};
use crate::store;
use crate::tr;

/// Most cases [`Session::case_page`] returns at once.
pub const CASE_PAGE_MAX: usize = 500;

/// One page of cases with their clients (see [`Session::case_page`]).
#[derive(Debug)]
pub struct CasePage {
    /// Cases the actor may see, in all.
    pub total: usize,
    pub rows: Vec<(Case, Client)>,
}

impl Session {
    /// Adds a client.
    pub fn client_add(&mut self, c: &NewClient) -> Result<Client> {
        self.require(Action::ClientAdd)?;
        c.check(today())?;
        let me = self.me.name.clone();
        let id = store::write(&self.conn, |tx| store::clients::insert(tx, c, now(), &me))?;
        Ok(store::clients::get(&self.conn, id)?.expect("just inserted"))
    }

    pub(super) fn may_see_client(&self, c: &Client) -> Result<bool> {
        if self.policy.all_cases(self.role) || c.created_by == self.me.name {
            return Ok(true);
        }
        match store::cases::list(&self.conn, Some(c.id), Some(&self.me.name))?.first() {
            Some(case) => {
                self.require_assignment(case.id)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The actor's assignment to `case` (a row says so) must be signed: a row nobody signed is
    /// a tamper alarm naming it.
    pub(super) fn require_assignment(&self, case: i64) -> Result<()> {
        if self.verified_assignment(&self.conn, case, &self.me.name)? {
            Ok(())
        } else {
            Err(Error::Tampered {
                what: "assignment",
                id: format!("{case}/{}", self.me.name),
            })
        }
    }

    /// Clients this actor may see: all for supervisors; for others, their cases' clients.
    pub fn client_list(&self) -> Result<Vec<Client>> {
        self.require(Action::ClientRead)?;
        let worker = (!self.policy.all_cases(self.role)).then_some(self.me.name.as_str());
        let clients = store::clients::list(&self.conn, worker)?;
        if worker.is_some() {
            for case in store::cases::list(&self.conn, None, worker)? {
                self.require_assignment(case.id)?;
            }
        }
        Ok(clients)
    }

    /// A client by id or agency number.
    pub fn client_show(&self, key: &str) -> Result<Client> {
        self.require(Action::ClientRead)?;
        let c = store::clients::find(&self.conn, key)?.ok_or_else(|| Error::NotFound {
            what: "client",
            id: key.to_string(),
        })?;
        if !self.may_see_client(&c)? {
            return Err(Error::NotYourClient {
                client: key.to_string(),
            });
        }
        Ok(c)
    }

    /// A client by id only (a page that holds a case's `client_id`: a lookup by
    /// [`client_show`](Self::client_show)'s key could match another client's number).
    pub fn client_get(&self, id: i64) -> Result<Client> {
        self.require(Action::ClientRead)?;
        let c = store::clients::get(&self.conn, id)?.ok_or_else(|| Error::NotFound {
            what: "client",
            id: id.to_string(),
        })?;
        if !self.may_see_client(&c)? {
            return Err(Error::NotYourClient {
                client: c.data.number.clone(),
            });
        }
        Ok(c)
    }

    /// Clients whose name or number contains `needle` (among those the actor may see).
    pub fn client_search(&self, needle: &str, limit: usize) -> Result<Vec<Client>> {
        self.require(Action::ClientRead)?;
        let found = store::clients::search(&self.conn, needle, limit)?;
        let mut out = Vec::with_capacity(found.len());
        for c in found {
            if self.may_see_client(&c)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// The intake's duplicate check: clients who may be the same person as `c` (same number,
    /// ID number or phone, or the same name), those the actor may see, and how many others
    /// match (not named: another worker's client is theirs to tell about).
    pub fn client_similar(&self, c: &NewClient) -> Result<(Vec<Client>, usize)> {
        self.require(Action::ClientAdd)?;
        let mut seen = Vec::new();
        let mut hidden = 0;
        for found in store::clients::similar(&self.conn, c, 20)? {
            if self.may_see_client(&found)? {
                seen.push(found);
            } else {
                hidden += 1;
            }
        }
        Ok((seen, hidden))
    }

    /// Opens a case for a client; a caseworker who opens it is assigned to it.
    pub fn case_open(&mut self, client: &str, source: Source, workers: &[String]) -> Result<Case> {
        self.require(Action::CaseOpen)?;
        let c = self.client_show(client)?;
        if !workers.is_empty() {
            self.require(Action::CaseAssign)?;
        }
        let at = now();
        let me = self.me.name.clone();
        let id = store::write(&self.conn, |tx| {
            let id = store::cases::insert(tx, c.id, source, at, &me)?;
            for w in workers {
                self.check_worker(w)?;
                store::cases::assign(tx, id, w, at)?;
                let claim = Claim::Assignment {
                    case: id,
                    staff: w.clone(),
                    opened: false,
                };
                self.attest(tx, &claim, Some(id))?;
            }
            self.start_case(tx, id, at)?;
            Ok(id)
        })?;
        self.case_access(id)
    }

    /// Cases the actor may see, optionally of one client.
    pub fn case_list(&self, client: Option<&str>) -> Result<Vec<Case>> {
        self.require(Action::ClientRead)?;
        let client_id = match client {
            Some(k) => Some(self.client_show(k)?.id),
            None => None,
        };
        let worker = (!self.policy.all_cases(self.role)).then_some(self.me.name.as_str());
        let cases = store::cases::list(&self.conn, client_id, worker)?;
        if worker.is_some() {
            for c in &cases {
                self.require_assignment(c.id)?;
            }
        }
        Ok(cases)
    }

    /// One page of [`Session::case_list`] (`offset`, at most `limit` cases, 1 to
    /// [`CASE_PAGE_MAX`]) with each case's client, and how many cases there are in all: for
    /// list screens, which should not load, check and render every case on every view
    /// (docs/benchmarks.md, "Web pages"). The shown cases' assignments are checked as
    /// `case_list` checks them.
    pub fn case_page(&self, offset: usize, limit: usize) -> Result<CasePage> {
        self.require(Action::ClientRead)?;
        let worker = (!self.policy.all_cases(self.role)).then_some(self.me.name.as_str());
        let limit = limit.clamp(1, CASE_PAGE_MAX);
        let total = store::cases::count(&self.conn, worker)?;
        let mut rows = Vec::new();
        for case in store::cases::page(&self.conn, worker, offset, limit)? {
            if worker.is_some() {
                self.require_assignment(case.id)?;
            }
            let client = store::clients::get(&self.conn, case.client_id)?.ok_or_else(|| {
                Error::NotFound {
                    what: "client",
                    id: case.client_id.to_string(),
                }
            })?;
            rows.push((case, client));
        }
        Ok(CasePage { total, rows })
    }

    /// A case the actor may work on.
    pub fn case_show(&self, case_id: i64) -> Result<Case> {
        self.require(Action::ClientRead)?;
        self.case_access(case_id)
    }

    /// Assigns a worker and gives them the case's keys (their tiers, every epoch).
    pub fn case_assign(&mut self, case_id: i64, worker: &str) -> Result<Case> {
        self.require(Action::CaseAssign)?;
        self.case_access(case_id)?;
        let (m, role) = self.check_worker(worker)?;
        let holder = keys::member_holder(&self.policy, &m)?;
        let tx = store::immediate(&self.conn)?;
        store::cases::assign(&tx, case_id, worker, now())?;
        if role != Role::Supervisor {
            self.share_case_keys(&tx, case_id, &holder)?;
        }
        self.attest(
            &tx,
            &Claim::Assignment {
                case: case_id,
                staff: worker.to_string(),
                opened: false,
            },
            Some(case_id),
        )?;
        tx.commit()?;
        self.case_access(case_id)
    }

    /// Unassigns a worker: their wrappings go, and a new key epoch starts, so records added
    /// from now on are out of their reach even with key material they kept.
    pub fn case_unassign(&mut self, case_id: i64, worker: &str) -> Result<Case> {
        self.require(Action::CaseAssign)?;
        let case = self.case_access(case_id)?;
        if !case.workers.iter().any(|w| w == worker) {
            return Err(Error::NotFound {
                what: "assignment",
                id: format!("{case_id}/{worker}"),
            });
        }
        let at = now();
        let supervisor = self
            .registry()
            .member(worker)
            .is_some_and(|m| m.active && m.role == Role::Supervisor.as_str());
        let mut e = self.log_entry(Kind::Assignment, Some(case_id))?;
        e.detail = format!("unassign {worker}");
        let tx = store::immediate(&self.conn)?;
        store::cases::unassign(&tx, case_id, worker)?;
        store::authority::delete(&tx, &super::authority::assign_subject(case_id, worker))?;
        self.log_append(&tx, &e)?;
        if !supervisor {
            store::keys::delete_wraps(&tx, worker, Some(case_id))?;
            self.new_epochs(&tx, &[case_id], at)?;
        }
        tx.commit()?;
        self.key_cache
            .borrow_mut()
            .retain(|(c, _), _| *c != case_id);
        self.case_access(case_id)
    }

    /// Closes a case (a supervisor approves closings).
    pub fn case_close(&mut self, case_id: i64) -> Result<Case> {
        self.require(Action::CaseClose)?;
        let case = self.case_access(case_id)?;
        if !case.stage.may_move_to(Stage::Closed) {
            return Err(Error::Invalid(tr!(
                "vault.case_closed_already",
                case = case_id
            )));
        }
        store::write(&self.conn, |tx| {
            store::cases::set_stage(tx, case_id, Stage::Closed, now())
        })?;
        self.case_access(case_id)
    }

    /// Moves a case to its next stage.
    pub fn case_stage(&mut self, case_id: i64, stage: Stage) -> Result<Case> {
        self.require(Action::RecordWrite)?;
        let case = self.case_access(case_id)?;
        if stage == Stage::Closed {
            return self.case_close(case_id);
        }
        if !case.stage.may_move_to(stage) {
            return Err(Error::Invalid(tr!(
                "vault.bad_stage_move",
                from = case.stage.label(),
                to = stage.label()
            )));
        }
        store::write(&self.conn, |tx| {
            store::cases::set_stage(tx, case_id, stage, now())
        })?;
        self.case_access(case_id)
    }
}

impl Session {
    /// A new case's first key epoch, inside the transaction that inserted it. A caseworker
    /// opening it holds the epoch they make, and their own assignment is signed after it
    /// (valid because they made epoch 1).
    pub(super) fn start_case(&self, tx: &rusqlite::Transaction, case: i64, at: i64) -> Result<()> {
        let mut extra = Vec::new();
        let me = self.me.name.clone();
        if self.role == Role::Caseworker {
            let m = self.check_worker(&me)?.0;
            extra.push(keys::member_holder(&self.policy, &m)?);
        }
        self.new_epochs_with(tx, &[case], at, &extra)?;
        if self.role == Role::Caseworker {
            store::cases::assign(tx, case, &me, at)?;
            let claim = Claim::Assignment {
                case,
                staff: me,
                opened: true,
            };
            self.attest(tx, &claim, Some(case))?;
        }
        Ok(())
    }

    /// An active caseworker or supervisor (by the registry) who can be assigned.
    fn check_worker(&self, name: &str) -> Result<(Member, Role)> {
        let m = self
            .registry()
            .member(name)
            .filter(|m| m.active)
            .ok_or_else(|| Error::UnknownStaff(name.to_string()))?;
        let role = Role::parse(&m.role).unwrap_or(Role::Auditor);
        if !matches!(role, Role::Caseworker | Role::Supervisor) {
            return Err(Error::Invalid(tr!(
                "vault.not_a_worker",
                name = name,
                role = role
            )));
        }
        Ok((m, role))
    }
}
