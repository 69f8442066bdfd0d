//! Case rows and assignments.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::domain::{Case, Source, Stage};
use crate::error::Result;

fn row(conn: &Connection, r: &Row) -> rusqlite::Result<Case> {
    let id: i64 = r.get(0)?;
    let source: String = r.get(2)?;
    let stage: String = r.get(3)?;
    Ok(Case {
        id,
        client_id: r.get(1)?,
        source: Source::parse(&source).unwrap_or(Source::Other),
        stage: Stage::parse(&stage).unwrap_or(Stage::Intake),
        workers: workers(conn, id)?,
        opened_at: r.get(4)?,
        opened_by: r.get(5)?,
        closed_at: r.get(6)?,
    })
}

const COLS: &str = "id, client_id, source, stage, opened_at, opened_by, closed_at";

/// Opens a case.
pub fn insert(conn: &Connection, client_id: i64, source: Source, at: i64, by: &str) -> Result<i64> {
    conn.execute(
        "INSERT INTO cases(client_id, source, stage, opened_at, opened_by) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![client_id, source.code(), Stage::Intake.code(), at, by],
    )?;
    Ok(conn.last_insert_rowid())
}

/// A case by id.
pub fn get(conn: &Connection, id: i64) -> Result<Option<Case>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLS} FROM cases WHERE id = ?1"),
            [id],
            |r| row(conn, r),
        )
        .optional()?)
}

/// Cases, optionally of one client and/or assigned to one worker.
pub fn list(conn: &Connection, client: Option<i64>, worker: Option<&str>) -> Result<Vec<Case>> {
    // Each filter is spelled out only when it applies: SQLite cannot use an index for
    // `(?1 IS NULL OR client_id = ?1)`, which made this a scan of every case (import calls it
    // once per record line, so that was quadratic).
    let by_client = if client.is_some() {
        "client_id = ?1"
    } else {
        "?1 IS NULL"
    };
    let by_worker = if worker.is_some() {
        "id IN (SELECT case_id FROM assignments WHERE staff = ?2)"
    } else {
        "?2 IS NULL"
    };
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM cases WHERE {by_client} AND {by_worker} ORDER BY id"
    ))?;
    let v = st
        .query_map(params![client, worker], bare_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    with_workers(conn, v)
}

/// A case row without its workers (filled by [`with_workers`]).
fn bare_row(r: &Row) -> rusqlite::Result<Case> {
    let source: String = r.get(2)?;
    let stage: String = r.get(3)?;
    Ok(Case {
        id: r.get(0)?,
        client_id: r.get(1)?,
        source: Source::parse(&source).unwrap_or(Source::Other),
        stage: Stage::parse(&stage).unwrap_or(Stage::Intake),
        workers: Vec::new(),
        opened_at: r.get(4)?,
        opened_by: r.get(5)?,
        closed_at: r.get(6)?,
    })
}

/// Fills in the workers of many cases: one query per case made a list of 2,000 cases cost
/// 2,000 statements (docs/benchmarks.md, "Web pages"). A few cases are looked up by id; for
/// many, one pass over the assignments (ordered by the primary key) is cheaper.
fn with_workers(conn: &Connection, mut cases: Vec<Case>) -> Result<Vec<Case>> {
    if cases.len() <= 8 {
        for c in &mut cases {
            c.workers = workers(conn, c.id)?;
        }
        return Ok(cases);
    }
    let (lo, hi) = (
        cases[0].id.min(cases[cases.len() - 1].id),
        cases[0].id.max(cases[cases.len() - 1].id),
    );
    let mut by_case: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
    let mut st = conn.prepare_cached(
        "SELECT case_id, staff FROM assignments WHERE case_id BETWEEN ?1 AND ?2 ORDER BY case_id, staff",
    )?;
    let rows = st.query_map([lo, hi], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    for r in rows {
        let (case, staff) = r?;
        by_case.entry(case).or_default().push(staff);
    }
    for c in &mut cases {
        c.workers = by_case.remove(&c.id).unwrap_or_default();
    }
    Ok(cases)
}

/// How many cases [`page`] pages through.
pub fn count(conn: &Connection, worker: Option<&str>) -> Result<usize> {
    let n: i64 = match worker {
        None => conn
            .prepare_cached("SELECT count(*) FROM cases")?
            .query_row([], |r| r.get(0))?,
        Some(w) => conn
            .prepare_cached("SELECT count(*) FROM assignments WHERE staff = ?1")?
            .query_row([w], |r| r.get(0))?,
    };
    Ok(n as usize)
}

/// One page of the cases (all, or those assigned to `worker`), newest first (the case opened
/// last is the one most likely worked on now):
/// `LIMIT`/`OFFSET` in SQL, so a list page does not load every case.
pub fn page(
    conn: &Connection,
    worker: Option<&str>,
    offset: usize,
    limit: usize,
) -> Result<Vec<Case>> {
    let by_worker = if worker.is_some() {
        "id IN (SELECT case_id FROM assignments WHERE staff = ?1)"
    } else {
        "?1 IS NULL"
    };
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM cases WHERE {by_worker} ORDER BY id DESC LIMIT ?2 OFFSET ?3"
    ))?;
    let v = st
        .query_map(params![worker, limit as i64, offset as i64], bare_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    with_workers(conn, v)
}

/// The workers assigned to a case.
pub fn workers(conn: &Connection, case_id: i64) -> rusqlite::Result<Vec<String>> {
    let mut st =
        conn.prepare_cached("SELECT staff FROM assignments WHERE case_id = ?1 ORDER BY staff")?;
    let v = st.query_map([case_id], |r| r.get(0))?.collect();
    v
}

/// Assigns a worker.
pub fn assign(conn: &Connection, case_id: i64, staff: &str, at: i64) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO assignments(case_id, staff, assigned_at) VALUES (?1, ?2, ?3)",
        params![case_id, staff, at],
    )?;
    Ok(())
}

/// Removes a worker.
pub fn unassign(conn: &Connection, case_id: i64, staff: &str) -> Result<()> {
    conn.execute(
        "DELETE FROM assignments WHERE case_id = ?1 AND staff = ?2",
        params![case_id, staff],
    )?;
    Ok(())
}

/// Moves a case to `stage`; closing sets the closing time.
pub fn set_stage(conn: &Connection, case_id: i64, stage: Stage, at: i64) -> Result<()> {
    let closed = (stage == Stage::Closed).then_some(at);
    conn.execute(
        "UPDATE cases SET stage = ?2, closed_at = COALESCE(?3, closed_at) WHERE id = ?1",
        params![case_id, stage.code(), closed],
    )?;
    Ok(())
}

/// Every case id (for the audit).
pub fn all_ids(conn: &Connection) -> Result<Vec<i64>> {
    let mut st = conn.prepare("SELECT id FROM cases ORDER BY id")?;
    let v = st
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// The cases `staff` is assigned to.
pub fn cases_of(conn: &Connection, staff: &str) -> Result<Vec<i64>> {
    let mut st =
        conn.prepare("SELECT case_id FROM assignments WHERE staff = ?1 ORDER BY case_id")?;
    let v = st
        .query_map([staff], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}
