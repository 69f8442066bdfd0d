//! Referrals sent, tier-3 approvals, and packets imported (replay protection).

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::error::Result;

/// A referral as stored.
#[derive(Clone, Debug, Serialize)]
pub struct ReferralRow {
    pub id: i64,
    pub case_id: i64,
    pub agency_id: i64,
    pub agency_name: String,
    pub consent_id: i64,
    pub purpose: String,
    pub records: Vec<i64>,
    pub approver: Option<String>,
    pub packet_id: String,
    pub content_sha256: String,
    pub packet_sha256: Option<String>,
    pub log_index: i64,
    pub status: String,
    pub reason: Option<String>,
    pub sent_at: i64,
    pub sent_by: String,
    pub updated_at: i64,
    /// The manifest's `created` time (unix seconds), kept to rebuild the same packet;
    /// `None` for referrals made before migration 7.
    pub created_unix: Option<i64>,
}

/// A referral to insert.
pub struct NewReferral<'a> {
    pub case_id: i64,
    pub agency_id: i64,
    pub consent_id: i64,
    pub purpose: &'a str,
    pub records: &'a [i64],
    pub approver: Option<&'a str>,
    pub packet_id: &'a str,
    pub content_sha256: &'a str,
    pub log_index: i64,
    pub at: i64,
    pub by: &'a str,
    pub created_unix: i64,
}

const COLS: &str = "r.id, r.case_id, r.agency_id, a.name, r.consent_id, r.purpose, r.records,
    r.approver, r.packet_id, r.content_sha256, r.packet_sha256, r.log_index, r.status, r.reason,
    r.sent_at, r.sent_by, r.updated_at, r.created_unix";

fn row(r: &Row) -> rusqlite::Result<ReferralRow> {
    let records: String = r.get(6)?;
    Ok(ReferralRow {
        id: r.get(0)?,
        case_id: r.get(1)?,
        agency_id: r.get(2)?,
        agency_name: r.get(3)?,
        consent_id: r.get(4)?,
        purpose: r.get(5)?,
        records: serde_json::from_str(&records).unwrap_or_default(),
        approver: r.get(7)?,
        packet_id: r.get(8)?,
        content_sha256: r.get(9)?,
        packet_sha256: r.get(10)?,
        log_index: r.get(11)?,
        status: r.get(12)?,
        reason: r.get(13)?,
        sent_at: r.get(14)?,
        sent_by: r.get(15)?,
        updated_at: r.get(16)?,
        created_unix: r.get(17)?,
    })
}

/// Inserts a referral with status `sent`.
pub fn insert(conn: &Connection, n: &NewReferral) -> Result<i64> {
    let records = serde_json::to_string(n.records).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT INTO referrals(case_id, agency_id, consent_id, purpose, records, approver, packet_id,
             content_sha256, log_index, status, sent_at, sent_by, updated_at, created_unix)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'sent', ?10, ?11, ?10, ?12)",
        params![
            n.case_id,
            n.agency_id,
            n.consent_id,
            n.purpose,
            records,
            n.approver,
            n.packet_id,
            n.content_sha256,
            n.log_index,
            n.at,
            n.by,
            n.created_unix
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Sets the ciphertext hash once the packet is sealed.
pub fn set_packet_sha256(conn: &Connection, id: i64, sha: &str) -> Result<()> {
    conn.execute(
        "UPDATE referrals SET packet_sha256 = ?2 WHERE id = ?1",
        params![id, sha],
    )?;
    Ok(())
}

/// A referral by id.
pub fn get(conn: &Connection, id: i64) -> Result<Option<ReferralRow>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLS} FROM referrals r JOIN agencies a ON a.id = r.agency_id WHERE r.id = ?1"
            ),
            [id],
            row,
        )
        .optional()?)
}

/// Referrals, optionally of one case.
pub fn list(conn: &Connection, case_id: Option<i64>) -> Result<Vec<ReferralRow>> {
    let mut st = conn.prepare(&format!(
        "SELECT {COLS} FROM referrals r JOIN agencies a ON a.id = r.agency_id
         WHERE (?1 IS NULL OR r.case_id = ?1) ORDER BY r.id"
    ))?;
    let v = st
        .query_map(params![case_id], row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Changes a referral's status.
pub fn set_status(
    conn: &Connection,
    id: i64,
    status: &str,
    reason: Option<&str>,
    at: i64,
) -> Result<()> {
    conn.execute(
        "UPDATE referrals SET status = ?2, reason = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, status, reason, at],
    )?;
    Ok(())
}

/// Stores a supervisor's approval to disclose a tier-3 record under a consent.
pub fn approve(
    conn: &Connection,
    consent_id: i64,
    record_id: i64,
    case_id: i64,
    approver: &str,
    at: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO referral_approvals(consent_id, record_id, case_id, approver, approved_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(consent_id, record_id) DO UPDATE SET approver = excluded.approver,
             approved_at = excluded.approved_at",
        params![consent_id, record_id, case_id, approver, at],
    )?;
    Ok(())
}

/// The supervisor who approved disclosing `record_id` under `consent_id`, if any.
pub fn approver(conn: &Connection, consent_id: i64, record_id: i64) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT approver FROM referral_approvals WHERE consent_id = ?1 AND record_id = ?2",
            params![consent_id, record_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// True when a packet with this id or ciphertext hash was imported already.
pub fn imported(conn: &Connection, packet_id: &str, packet_sha256: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM packet_imports WHERE packet_id = ?1 OR packet_sha256 = ?2)",
        params![packet_id, packet_sha256],
        |r| r.get(0),
    )?)
}

/// Notes an imported packet.
pub fn note_import(
    conn: &Connection,
    packet_id: &str,
    packet_sha256: &str,
    agency_id: i64,
    case_id: i64,
    at: i64,
    by: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO packet_imports(packet_id, packet_sha256, agency_id, case_id, imported_at, imported_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![packet_id, packet_sha256, agency_id, case_id, at, by],
    )?;
    Ok(())
}

/// The referral whose log entry is `log_index` (a partner request's answer).
pub fn by_log_index(conn: &Connection, log_index: u64) -> Result<Option<ReferralRow>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLS} FROM referrals r JOIN agencies a ON a.id = r.agency_id
                 WHERE r.log_index = ?1"
            ),
            [log_index as i64],
            row,
        )
        .optional()?)
}

/// Whether any referral was ever made (a packet went out).
pub fn any(conn: &Connection) -> Result<bool> {
    Ok(conn.query_row("SELECT EXISTS (SELECT 1 FROM referrals)", [], |r| r.get(0))?)
}
