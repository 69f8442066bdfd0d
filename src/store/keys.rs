//! Case public keys and key wrappings. A wrapping row says who holds which tiers of a case
//! epoch; its bytes are age ciphertext only that holder (or the recovery key) can open.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;

/// The holder name used for the recovery key's wrappings.
pub const RECOVERY: &str = "@recovery";

/// One wrapping, without its bytes.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WrapInfo {
    pub case_id: i64,
    pub epoch: i64,
    pub holder: String,
    pub tiers: Vec<u8>,
}

/// Stores the public key of one tier of a case epoch.
pub fn insert_public(
    conn: &Connection,
    case_id: i64,
    epoch: i64,
    tier: u8,
    recipient: &str,
    at: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO case_keys(case_id, epoch, tier, recipient, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![case_id, epoch, tier, recipient, at])?;
    Ok(())
}

/// The newest epoch of a case.
pub fn current_epoch(conn: &Connection, case_id: i64) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT max(epoch) FROM case_keys WHERE case_id = ?1")?
        .query_row([case_id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// All epochs of a case, oldest first.
pub fn epochs(conn: &Connection, case_id: i64) -> Result<Vec<i64>> {
    let mut st = conn
        .prepare_cached("SELECT DISTINCT epoch FROM case_keys WHERE case_id = ?1 ORDER BY epoch")?;
    let v = st
        .query_map([case_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Stores (or replaces) a wrapping.
pub fn put_wrap(
    conn: &Connection,
    case_id: i64,
    epoch: i64,
    holder: &str,
    tiers: &[u8],
    wrapped: &[u8],
) -> Result<()> {
    let tiers: Vec<String> = tiers.iter().map(|t| t.to_string()).collect();
    conn.prepare_cached(
        "INSERT INTO key_wraps(case_id, epoch, holder, tiers, wrapped) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(case_id, epoch, holder) DO UPDATE SET tiers = excluded.tiers, wrapped = excluded.wrapped",
    )?
    .execute(params![case_id, epoch, holder, tiers.join(","), wrapped])?;
    Ok(())
}

/// A holder's wrapping of a case epoch.
pub fn get_wrap(
    conn: &Connection,
    case_id: i64,
    epoch: i64,
    holder: &str,
) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached(
            "SELECT wrapped FROM key_wraps WHERE case_id = ?1 AND epoch = ?2 AND holder = ?3",
        )?
        .query_row(params![case_id, epoch, holder], |r| r.get(0))
        .optional()?)
}

/// Deletes a holder's wrappings of one case (all epochs), or of every case with `None`.
/// Returns the cases affected.
pub fn delete_wraps(conn: &Connection, holder: &str, case_id: Option<i64>) -> Result<Vec<i64>> {
    let mut st = conn.prepare(
        "SELECT DISTINCT case_id FROM key_wraps WHERE holder = ?1 AND (?2 IS NULL OR case_id = ?2) ORDER BY case_id",
    )?;
    let cases: Vec<i64> = st
        .query_map(params![holder, case_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    conn.execute(
        "DELETE FROM key_wraps WHERE holder = ?1 AND (?2 IS NULL OR case_id = ?2)",
        params![holder, case_id],
    )?;
    Ok(cases)
}

/// Every wrapping's metadata (for audits), optionally of one holder.
pub fn list_wraps(conn: &Connection, holder: Option<&str>) -> Result<Vec<WrapInfo>> {
    let mut st = conn.prepare(
        "SELECT case_id, epoch, holder, tiers FROM key_wraps WHERE (?1 IS NULL OR holder = ?1)
         ORDER BY case_id, epoch, holder",
    )?;
    let v = st
        .query_map([holder], |r| {
            let tiers: String = r.get(3)?;
            Ok(WrapInfo {
                case_id: r.get(0)?,
                epoch: r.get(1)?,
                holder: r.get(2)?,
                tiers: tiers.split(',').filter_map(|t| t.parse().ok()).collect(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// How many stored ciphertexts (records, attachments, scanned consent forms) of a case are
/// still under a key epoch older than `epoch`. Old epoch keys may be deleted only when this is
/// zero, inside the same write transaction: otherwise they would become unreadable.
pub fn refs_before_epoch(conn: &Connection, case_id: i64, epoch: i64) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT (SELECT count(*) FROM records WHERE case_id = ?1 AND epoch < ?2)
                  + (SELECT count(*) FROM attachments a JOIN records r ON r.id = a.record_id
                     WHERE r.case_id = ?1 AND a.epoch < ?2)
                  + (SELECT count(*) FROM consents
                     WHERE form_case = ?1 AND form_epoch < ?2 AND form IS NOT NULL)",
        )?
        .query_row(params![case_id, epoch], |r| r.get(0))?)
}

/// Deletes a case's public keys and wrappings of every epoch older than `epoch`.
pub fn delete_before_epoch(conn: &Connection, case_id: i64, epoch: i64) -> Result<()> {
    conn.execute(
        "DELETE FROM key_wraps WHERE case_id = ?1 AND epoch < ?2",
        params![case_id, epoch],
    )?;
    conn.execute(
        "DELETE FROM case_keys WHERE case_id = ?1 AND epoch < ?2",
        params![case_id, epoch],
    )?;
    Ok(())
}

/// Ids of every case.
pub fn all_cases(conn: &Connection) -> Result<Vec<i64>> {
    let mut st = conn.prepare("SELECT id FROM cases ORDER BY id")?;
    let v = st
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// One case epoch's public key rows: (case, epoch, [(tier, recipient)]).
pub type EpochPublics = (i64, i64, Vec<(u8, String)>);

/// Every case epoch's public key rows (for the audit).
pub fn all_publics(conn: &Connection) -> Result<Vec<EpochPublics>> {
    let mut st = conn.prepare(
        "SELECT case_id, epoch, tier, recipient FROM case_keys ORDER BY case_id, epoch, tier",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, u8>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out: Vec<EpochPublics> = Vec::new();
    for (c, e, t, r) in rows {
        match out.last_mut() {
            Some(last) if last.0 == c && last.1 == e => last.2.push((t, r)),
            _ => out.push((c, e, vec![(t, r)])),
        }
    }
    Ok(out)
}
