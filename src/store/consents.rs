//! Consent rows: terms as JSON, revocation, and the scanned form as age ciphertext.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::domain::time::Date;
use crate::domain::{Consent, ConsentTerms};
use crate::error::{Error, Result};

const COLS: &str = "c.id, c.client_id, c.agency_id, a.name, c.data, c.revoked_on, c.revoked_via,
    c.form IS NOT NULL, c.created_at, c.created_by, c.revoked_at";

fn row(r: &Row) -> rusqlite::Result<Consent> {
    let data: String = r.get(4)?;
    let revoked: Option<String> = r.get(5)?;
    let terms: ConsentTerms = serde_json::from_str(&data).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(Consent {
        id: r.get(0)?,
        client_id: r.get(1)?,
        agency_id: r.get(2)?,
        agency_name: r.get(3)?,
        terms,
        revoked_on: revoked.as_deref().and_then(Date::parse),
        revoked_at: r.get(10)?,
        revoked_via: r.get(6)?,
        has_form: r.get(7)?,
        created_at: r.get(8)?,
        created_by: r.get(9)?,
    })
}

/// The scanned form's ciphertext and where its key is.
pub struct StoredForm {
    pub case_id: i64,
    pub epoch: i64,
    pub tier: u8,
    pub body: Vec<u8>,
}

/// Adds a consent.
pub fn insert(
    conn: &Connection,
    client_id: i64,
    agency_id: i64,
    terms: &ConsentTerms,
    form: Option<&StoredForm>,
    at: i64,
    by: &str,
) -> Result<i64> {
    let data = serde_json::to_string(terms).map_err(|e| Error::Invalid(e.to_string()))?;
    conn.execute(
        "INSERT INTO consents(client_id, agency_id, data, form_case, form_epoch, form_tier, form, created_at, created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            client_id,
            agency_id,
            data,
            form.map(|f| f.case_id),
            form.map(|f| f.epoch),
            form.map(|f| f.tier),
            form.map(|f| f.body.as_slice()),
            at,
            by
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// A consent by id.
pub fn get(conn: &Connection, id: i64) -> Result<Option<Consent>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLS} FROM consents c JOIN agencies a ON a.id = c.agency_id WHERE c.id = ?1"
            ),
            [id],
            row,
        )
        .optional()?)
}

/// Consents, optionally of one client, oldest first.
pub fn list(conn: &Connection, client: Option<i64>) -> Result<Vec<Consent>> {
    let mut st = conn.prepare(&format!(
        "SELECT {COLS} FROM consents c JOIN agencies a ON a.id = c.agency_id
         WHERE (?1 IS NULL OR c.client_id = ?1) ORDER BY c.id"
    ))?;
    let v = st
        .query_map(params![client], row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Records a revocation: its day (for display) and the moment it takes effect.
pub fn revoke(conn: &Connection, id: i64, on: Date, at: i64, via: &str) -> Result<()> {
    conn.execute(
        "UPDATE consents SET revoked_on = ?2, revoked_via = ?3, revoked_at = ?4 WHERE id = ?1",
        params![id, on.to_string(), via, at],
    )?;
    Ok(())
}

/// The scanned form's ciphertext, if any.
pub fn form(conn: &Connection, id: i64) -> Result<Option<StoredForm>> {
    Ok(conn
        .query_row(
            "SELECT form_case, form_epoch, form_tier, form FROM consents WHERE id = ?1 AND form IS NOT NULL",
            [id],
            |r| {
                Ok(StoredForm {
                    case_id: r.get(0)?,
                    epoch: r.get(1)?,
                    tier: r.get(2)?,
                    body: r.get(3)?,
                })
            },
        )
        .optional()?)
}

/// Consents whose scanned form is stored under a key epoch of `case_id` older than `epoch`
/// (what a rekey to `epoch` must re-encrypt), with the form.
pub fn forms_before_epoch(
    conn: &Connection,
    case_id: i64,
    epoch: i64,
) -> Result<Vec<(i64, StoredForm)>> {
    let mut st = conn.prepare_cached(
        "SELECT id, form_case, form_epoch, form_tier, form FROM consents
         WHERE form_case = ?1 AND form_epoch < ?2 AND form IS NOT NULL ORDER BY id",
    )?;
    let v = st
        .query_map(params![case_id, epoch], |r| {
            Ok((
                r.get(0)?,
                StoredForm {
                    case_id: r.get(1)?,
                    epoch: r.get(2)?,
                    tier: r.get(3)?,
                    body: r.get(4)?,
                },
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Replaces a scanned form's ciphertext (rekey).
pub fn set_form(conn: &Connection, id: i64, epoch: i64, body: &[u8]) -> Result<()> {
    conn.prepare_cached("UPDATE consents SET form = ?2, form_epoch = ?3 WHERE id = ?1")?
        .execute(params![id, body, epoch])?;
    Ok(())
}
