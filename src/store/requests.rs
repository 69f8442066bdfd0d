//! Request rows (data-subject and partner requests).

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::domain::time::Date;
use crate::domain::{Authority, Request, RequestKind, RequestStatus, Withheld};
use crate::error::{Error, Result};

const COLS: &str = "r.id, r.kind, r.client_id, c.number, r.requester, r.authority, \
    r.identity_check, r.received, r.due, r.record_id, r.status, r.response, r.withheld, \
    r.amendment_id, r.statement_id, r.log_index, r.created_at, r.created_by, r.closed_at, \
    r.closed_by";

/// What intake stores.
pub struct NewRow<'a> {
    pub kind: RequestKind,
    pub client_id: i64,
    pub requester: &'a str,
    pub authority: Authority,
    pub identity_check: &'a str,
    pub received: Date,
    pub due: Date,
    pub record_id: Option<i64>,
}

fn bad(id: i64) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("request {id} has an unreadable column").into(),
    )
}

fn row(r: &Row) -> rusqlite::Result<Request> {
    let id: i64 = r.get(0)?;
    let text = |i: usize| r.get::<_, String>(i);
    let withheld: Vec<Withheld> = serde_json::from_str(&text(12)?).map_err(|_| bad(id))?;
    Ok(Request {
        id,
        kind: RequestKind::parse(&text(1)?).ok_or_else(|| bad(id))?,
        client_id: r.get(2)?,
        client_number: r.get(3)?,
        requester: r.get(4)?,
        authority: Authority::parse(&text(5)?).ok_or_else(|| bad(id))?,
        identity_check: r.get(6)?,
        received: Date::parse(&text(7)?).ok_or_else(|| bad(id))?,
        due: Date::parse(&text(8)?).ok_or_else(|| bad(id))?,
        record_id: r.get(9)?,
        status: RequestStatus::parse(&text(10)?).ok_or_else(|| bad(id))?,
        response: r.get(11)?,
        withheld,
        amendment_id: r.get(13)?,
        statement_id: r.get(14)?,
        log_index: r.get::<_, Option<i64>>(15)?.map(|i| i as u64),
        created_at: r.get(16)?,
        created_by: r.get(17)?,
        closed_at: r.get(18)?,
        closed_by: r.get(19)?,
        overdue: false,
    })
}

/// Stores a new open request; returns its id.
pub fn insert(conn: &Connection, n: &NewRow, at: i64, by: &str) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO requests(kind, client_id, requester, authority, identity_check, received,
             due, record_id, status, created_at, created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'open', ?9, ?10)",
    )?
    .execute(params![
        n.kind.code(),
        n.client_id,
        n.requester,
        n.authority.code(),
        n.identity_check,
        n.received.to_string(),
        n.due.to_string(),
        n.record_id,
        at,
        by
    ])?;
    Ok(conn.last_insert_rowid())
}

/// A request by id.
pub fn get(conn: &Connection, id: i64) -> Result<Option<Request>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLS} FROM requests r JOIN clients c ON c.id = r.client_id WHERE r.id = ?1"
        ))?
        .query_row([id], row)
        .optional()?)
}

/// Requests, optionally of one client and/or only open ones, by due date then id.
pub fn list(conn: &Connection, client_id: Option<i64>, open_only: bool) -> Result<Vec<Request>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM requests r JOIN clients c ON c.id = r.client_id
         WHERE (?1 IS NULL OR r.client_id = ?1) AND (?2 = 0 OR r.status = 'open')
         ORDER BY r.due, r.id"
    ))?;
    let v = st
        .query_map(params![client_id, open_only], row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// How a request was closed.
pub struct Close<'a> {
    pub status: RequestStatus,
    pub response: &'a str,
    pub withheld: &'a [Withheld],
    pub amendment_id: Option<i64>,
    pub statement_id: Option<i64>,
    pub log_index: Option<u64>,
    pub at: i64,
    pub by: &'a str,
}

/// Closes an open request. Fails when it is no longer open (someone else answered it).
pub fn close(conn: &Connection, id: i64, c: &Close) -> Result<()> {
    let withheld = serde_json::to_string(c.withheld).map_err(|e| Error::Invalid(e.to_string()))?;
    let n = conn
        .prepare_cached(
            "UPDATE requests SET status = ?2, response = ?3, withheld = ?4, amendment_id = ?5,
                 statement_id = ?6, log_index = ?7, closed_at = ?8, closed_by = ?9
             WHERE id = ?1 AND status = 'open'",
        )?
        .execute(params![
            id,
            c.status.code(),
            c.response,
            withheld,
            c.amendment_id,
            c.statement_id,
            c.log_index.map(|i| i as i64),
            c.at,
            c.by
        ])?;
    if n != 1 {
        return Err(Error::Invalid(crate::tr!("requests.not_open", id = id)));
    }
    Ok(())
}

/// What an access package was built from, stored with the request's closing so that
/// `request resend` rebuilds the identical plaintext.
#[derive(Clone, Debug)]
pub struct PackageInputs {
    pub request_id: i64,
    pub log_index: u64,
    /// SHA-256 (hex) of the plaintext, as logged.
    pub plain_sha256: String,
    pub generated_at: i64,
    pub lookback_years: u32,
    pub lookback_from: Date,
    pub cases: Vec<i64>,
    pub records: Vec<i64>,
    /// Log indexes of the accounting's entries.
    pub disclosures: Vec<u64>,
    /// The client's age recipient, when the package went to one (else a passphrase).
    pub recipient: Option<String>,
}

/// Stores an access package's inputs (in the transaction that logs it).
pub fn insert_package(conn: &Connection, p: &PackageInputs) -> Result<()> {
    conn.execute(
        "INSERT INTO access_packages(request_id, log_index, plain_sha256, generated_at,
             lookback_years, lookback_from, cases, records, disclosures, recipient)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            p.request_id,
            p.log_index as i64,
            p.plain_sha256,
            p.generated_at,
            p.lookback_years,
            p.lookback_from.to_string(),
            json(&p.cases),
            json(&p.records),
            json(&p.disclosures),
            p.recipient
        ],
    )?;
    Ok(())
}

fn json<T: serde::Serialize>(v: &[T]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// An access package's stored inputs.
pub fn get_package(conn: &Connection, request_id: i64) -> Result<Option<PackageInputs>> {
    let r = conn
        .query_row(
            "SELECT log_index, plain_sha256, generated_at, lookback_years, lookback_from, cases,
                 records, disclosures, recipient FROM access_packages WHERE request_id = ?1",
            [request_id],
            |r| {
                let t = |i: usize| r.get::<_, String>(i);
                Ok((
                    r.get::<_, i64>(0)?,
                    t(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, u32>(3)?,
                    t(4)?,
                    t(5)?,
                    t(6)?,
                    t(7)?,
                    r.get::<_, Option<String>>(8)?,
                ))
            },
        )
        .optional()?;
    let Some((log_index, plain, generated_at, years, from, cases, records, disc, recipient)) = r
    else {
        return Ok(None);
    };
    let bad = || Error::Tampered {
        what: "request",
        id: request_id.to_string(),
    };
    Ok(Some(PackageInputs {
        request_id,
        log_index: log_index as u64,
        plain_sha256: plain,
        generated_at,
        lookback_years: years,
        lookback_from: Date::parse(&from).ok_or_else(bad)?,
        cases: serde_json::from_str(&cases).map_err(|_| bad())?,
        records: serde_json::from_str(&records).map_err(|_| bad())?,
        disclosures: serde_json::from_str(&disc).map_err(|_| bad())?,
        recipient,
    }))
}
