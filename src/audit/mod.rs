//! The confidentiality audit (`casevault audit run`, see `docs/audit.md`).
//!
//! One run executes every check of the design brief against a vault's metadata, never its
//! record content: the auditor role (no case keys, no `client.read`) can run all of it. Each
//! check lives in its own file and returns [`Finding`]s naming ids, never content. Checks
//! that need tables added by later schema migrations (consents, agencies, referrals,
//! requests) run only when those tables exist and say so in the report otherwise.
//!
//! Output for people (Markdown, HTML) and machines (JSON) is in [`report`].

mod access;
mod authority;
mod disclosures;
mod files;
mod keys;
mod logcheck;
mod policy;
pub mod report;
mod requests;
mod retention;

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::Serialize;

use crate::domain::time::{now, Date};
use crate::error::Result;
use crate::log::{Entry, KindCode};
use crate::policy::{Action, Policy};
use crate::store;
use crate::tr;
use crate::vault::Session;

/// How bad a finding is. Ordered: `Low < Medium < High < Critical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The name for people, in the current language.
    pub fn label(self) -> String {
        match self {
            Severity::Low => tr!("audit.sev.low"),
            Severity::Medium => tr!("audit.sev.medium"),
            Severity::High => tr!("audit.sev.high"),
            Severity::Critical => tr!("audit.sev.critical"),
        }
    }
}

/// One problem found: which check, how bad, what is wrong, where (ids), how to fix it.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Stable check id, e.g. `keys.tier_holder` (scripts key on it).
    pub check: &'static str,
    pub severity: Severity,
    /// What is wrong, in the current language (ids only, never content).
    pub what: String,
    /// Where: ids such as `case 12`, `record 7`, `log entry 40`, `staff wang`, a file path.
    pub location: Vec<String>,
    /// How to fix it, in the current language.
    pub fix: String,
}

impl Finding {
    pub fn new(
        check: &'static str,
        severity: Severity,
        what: String,
        location: Vec<String>,
        fix: String,
    ) -> Finding {
        Finding {
            check,
            severity,
            what,
            location,
            fix,
        }
    }
}

/// Whether a check ran.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    /// Ran to the end.
    Ran,
    /// Not applicable to this vault (e.g. its schema has no such table yet); the reason.
    Skipped(String),
    /// Could not run (a database error); the audit is incomplete.
    Failed(String),
}

/// One check of the run.
#[derive(Clone, Debug, Serialize)]
pub struct CheckRun {
    pub id: &'static str,
    pub title: String,
    pub state: CheckState,
    pub findings: usize,
    pub millis: u64,
}

/// Key figures of the vault (counts only).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Figures {
    pub staff_active: u64,
    pub staff_departed: u64,
    pub clients: u64,
    pub cases: u64,
    pub cases_closed: u64,
    pub records: u64,
    pub log_entries: u64,
    /// Disclosure entries (referral exports, access packages, partner responses) in range.
    pub disclosures: u64,
    pub tier3_reads: u64,
    pub key_wrappings: u64,
}

/// A whole audit run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub format_version: u32,
    pub agency: String,
    pub vault_id: String,
    pub auditor: String,
    pub role: String,
    /// Unix seconds (honours `CASEVAULT_NOW` in test mode).
    pub generated_at: i64,
    /// `YYYY-MM-DD`: time-based checks look at events from this date on.
    pub since: Option<String>,
    pub figures: Figures,
    pub checks: Vec<CheckRun>,
    pub findings: Vec<Finding>,
    /// Disclosures per month `YYYY-MM`, oldest first.
    pub disclosures_by_month: Vec<(String, u64)>,
    /// Disclosures per recipient, most first.
    pub disclosures_by_recipient: Vec<(String, u64)>,
}

impl Report {
    /// The worst severity found, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Number of findings of each severity, lowest first.
    pub fn counts(&self) -> Vec<(Severity, usize)> {
        Severity::ALL
            .into_iter()
            .map(|s| (s, self.findings.iter().filter(|f| f.severity == s).count()))
            .collect()
    }

    /// True when some check could not run.
    pub fn incomplete(&self) -> bool {
        self.checks
            .iter()
            .any(|c| matches!(c.state, CheckState::Failed(_)))
    }

    /// True when a finding is at or above `threshold`.
    pub fn reaches(&self, threshold: Severity) -> bool {
        self.worst().is_some_and(|w| w >= threshold)
    }
}

/// What `audit run` was asked for.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Time-based checks (disclosures, reads) look at events from this date on.
    pub since: Option<Date>,
}

/// Everything the checks share: the connection, policy, the decoded log, the clock.
pub(crate) struct Ctx<'a> {
    pub session: &'a Session,
    pub conn: &'a Connection,
    pub policy: &'a Policy,
    pub dir: &'a crate::vault::VaultDir,
    /// Unix seconds.
    pub now: i64,
    /// Unix seconds; 0 without `--since`.
    pub since: i64,
    /// Every entry that decodes, in index order (malformed ones are reported by the log check).
    pub entries: Vec<Entry>,
    /// May the auditor see client numbers?
    pub client_names: bool,
}

impl Ctx<'_> {
    /// True when the schema has `table`.
    pub fn has_table(&self, table: &str) -> Result<bool> {
        has_table(self.conn, table)
    }

    /// How a client is named in findings: the number when the viewer may see clients.
    pub fn client_ref(&self, id: i64, number: &str) -> String {
        if self.client_names {
            tr!("audit.loc.client", id = number)
        } else {
            tr!("audit.loc.client_id", id = id)
        }
    }
}

/// True when the schema has `table`.
pub fn has_table(conn: &Connection, table: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |_| Ok(()),
        )
        .map(|_| true)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(false),
            e => Err(e),
        })?)
}

/// Is this log entry kind a disclosure (something leaving the agency)?
pub fn is_disclosure(code: KindCode) -> bool {
    matches!(
        code,
        KindCode::ReferralExport | KindCode::AccessPackage | KindCode::PartnerResponse
    )
}

/// The outcome of one check function.
pub(crate) enum Outcome {
    Ran(Vec<Finding>),
    Skipped(String),
}

type CheckFn = fn(&Ctx) -> Result<Outcome>;

/// Every check, in report order: (id, title key, function).
fn checks() -> Vec<(&'static str, String, CheckFn)> {
    vec![
        ("log", tr!("audit.check.log"), logcheck::verify as CheckFn),
        ("log.staff", tr!("audit.check.log_staff"), logcheck::staff),
        ("authority", tr!("audit.check.authority"), authority::check),
        ("policy", tr!("audit.check.policy"), policy::check),
        ("keys", tr!("audit.check.keys"), keys::check),
        ("files", tr!("audit.check.files"), files::check),
        ("retention", tr!("audit.check.retention"), retention::check),
        ("access", tr!("audit.check.access"), access::check),
        (
            "disclosures",
            tr!("audit.check.disclosures"),
            disclosures::basis,
        ),
        (
            "consents",
            tr!("audit.check.consents"),
            disclosures::stale_consents,
        ),
        ("requests", tr!("audit.check.requests"), requests::check),
    ]
}

/// Decodes every stored entry that decodes (skipping the rest, which the log check names).
fn load_entries(conn: &Connection) -> Result<Vec<Entry>> {
    let mut st = conn.prepare("SELECT stored FROM log_entries ORDER BY idx")?;
    let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
    let mut out = Vec::new();
    for row in rows {
        let stored = row?;
        if let Ok((bytes, _)) = crate::log::split_stored(&stored) {
            if let Ok(e) = Entry::decode(bytes) {
                out.push(e);
            }
        }
    }
    Ok(out)
}

fn count(conn: &Connection, sql: &str) -> Result<u64> {
    Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
}

fn figures(ctx: &Ctx) -> Result<Figures> {
    let c = ctx.conn;
    let in_range = |e: &&Entry| e.time >= ctx.since;
    Ok(Figures {
        staff_active: count(c, "SELECT count(*) FROM staff WHERE active = 1")?,
        staff_departed: count(c, "SELECT count(*) FROM staff WHERE active = 0")?,
        clients: count(c, "SELECT count(*) FROM clients")?,
        cases: count(c, "SELECT count(*) FROM cases")?,
        cases_closed: count(c, "SELECT count(*) FROM cases WHERE closed_at IS NOT NULL")?,
        records: count(c, "SELECT count(*) FROM records")?,
        log_entries: count(c, "SELECT count(*) FROM log_entries")?,
        disclosures: ctx
            .entries
            .iter()
            .filter(in_range)
            .filter(|e| is_disclosure(e.kind.code()))
            .count() as u64,
        tier3_reads: ctx
            .entries
            .iter()
            .filter(in_range)
            .filter(|e| e.kind.code() == KindCode::Tier3Read)
            .count() as u64,
        key_wrappings: count(c, "SELECT count(*) FROM key_wraps")?,
    })
}

/// Counts by label (month or recipient).
type Counts = Vec<(String, u64)>;

fn charts(ctx: &Ctx) -> (Counts, Counts) {
    let mut month: BTreeMap<String, u64> = BTreeMap::new();
    let mut recip: BTreeMap<String, u64> = BTreeMap::new();
    for e in ctx
        .entries
        .iter()
        .filter(|e| e.time >= ctx.since && is_disclosure(e.kind.code()))
    {
        let d = Date::from_unix(e.time);
        *month
            .entry(format!("{:04}-{:02}", d.year, d.month))
            .or_default() += 1;
        let r = if e.recipient.is_empty() {
            "-".to_string()
        } else {
            e.recipient.clone()
        };
        *recip.entry(r).or_default() += 1;
    }
    let mut by_recipient: Vec<(String, u64)> = recip.into_iter().collect();
    by_recipient.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    (month.into_iter().collect(), by_recipient)
}

/// Runs every check as the session's staff member (who needs `audit.run`). Reads metadata
/// only: no record is decrypted, no case key unwrapped. A check that cannot run is marked
/// [`CheckState::Failed`] and the others still run.
pub fn run(session: &Session, opts: &Options) -> Result<Report> {
    session.require(Action::AuditRun)?;
    let conn = &session.conn;
    let ctx = Ctx {
        session,
        conn,
        policy: &session.policy,
        dir: &session.dir,
        now: now(),
        since: opts.since.map(|d| d.to_unix()).unwrap_or(0),
        entries: load_entries(conn)?,
        client_names: session.policy.allows(session.role, Action::ClientRead),
    };
    let mut findings = Vec::new();
    let mut runs = Vec::new();
    for (id, title, f) in checks() {
        let t = std::time::Instant::now();
        let (state, n) = match f(&ctx) {
            Ok(Outcome::Ran(mut v)) => {
                let n = v.len();
                findings.append(&mut v);
                (CheckState::Ran, n)
            }
            Ok(Outcome::Skipped(why)) => (CheckState::Skipped(why), 0),
            Err(e) => (CheckState::Failed(e.to_string()), 0),
        };
        runs.push(CheckRun {
            id,
            title,
            state,
            findings: n,
            millis: t.elapsed().as_millis() as u64,
        });
    }
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.check.cmp(b.check)));
    let (by_month, by_recipient) = charts(&ctx);
    Ok(Report {
        format_version: 1,
        agency: session.agency()?,
        vault_id: store::meta::require_text(conn, "vault_id")?,
        auditor: session.me.name.clone(),
        role: session.role.as_str().to_string(),
        generated_at: ctx.now,
        since: opts.since.map(|d| d.to_string()),
        figures: figures(&ctx)?,
        checks: runs,
        findings,
        disclosures_by_month: by_month,
        disclosures_by_recipient: by_recipient,
    })
}

/// At most `max` ids for a finding's location, then "… and N more".
pub(crate) fn capped(mut ids: Vec<String>, max: usize) -> Vec<String> {
    if ids.len() > max {
        let more = ids.len() - max;
        ids.truncate(max);
        ids.push(tr!("audit.loc.more", count = more));
    }
    ids
}
