//! Client rows.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::domain::time::Date;
use crate::domain::{Category, Client, Gender, NewClient, Risk};
use crate::error::{Error, Result};

const COLS: &str = "id, number, name, birth_date, gender, phone, address, id_number, guardians, \
                    risk, category, created_at, created_by";

fn row(r: &Row) -> rusqlite::Result<Client> {
    let birth: Option<String> = r.get(3)?;
    let gender: String = r.get(4)?;
    let guardians: String = r.get(8)?;
    let risk: String = r.get(9)?;
    let category: String = r.get(10)?;
    Ok(Client {
        id: r.get(0)?,
        data: NewClient {
            number: r.get(1)?,
            name: r.get(2)?,
            birth_date: birth.as_deref().and_then(Date::parse),
            gender: Gender::parse(&gender).unwrap_or(Gender::Unstated),
            phone: r.get(5)?,
            address: r.get(6)?,
            id_number: r.get(7)?,
            guardians: serde_json::from_str(&guardians).unwrap_or_default(),
            risk: Risk::parse(&risk).unwrap_or(Risk::None),
            category: Category::parse(&category).unwrap_or(Category::Basic),
        },
        created_at: r.get(11)?,
        created_by: r.get(12)?,
    })
}

/// Adds a client; the agency number must be new.
pub fn insert(conn: &Connection, c: &NewClient, at: i64, by: &str) -> Result<i64> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM clients WHERE number = ?1)",
        [&c.number],
        |r| r.get(0),
    )?;
    if exists {
        return Err(Error::Exists {
            what: "client number",
            id: c.number.clone(),
        });
    }
    conn.execute(
        "INSERT INTO clients(number, name, birth_date, gender, phone, address, id_number,
                             guardians, risk, category, created_at, created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            c.number,
            c.name,
            c.birth_date.map(|d| d.to_string()),
            c.gender.code(),
            c.phone,
            c.address,
            c.id_number,
            serde_json::to_string(&c.guardians).unwrap_or_else(|_| "[]".into()),
            c.risk.code(),
            c.category.code(),
            at,
            by
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// A client by id.
pub fn get(conn: &Connection, id: i64) -> Result<Option<Client>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLS} FROM clients WHERE id = ?1"))?
        .query_row([id], row)
        .optional()?)
}

/// A client by id or agency number.
pub fn find(conn: &Connection, key: &str) -> Result<Option<Client>> {
    if let Some(c) = conn
        .prepare_cached(&format!("SELECT {COLS} FROM clients WHERE number = ?1"))?
        .query_row([key], row)
        .optional()?
    {
        return Ok(Some(c));
    }
    match key.parse::<i64>() {
        Ok(id) => get(conn, id),
        Err(_) => Ok(None),
    }
}

/// The ids of clients above `after`, ascending (ids only: for the log's keyed-hash lookup).
pub fn ids_after(conn: &Connection, after: i64) -> Result<Vec<i64>> {
    let mut st = conn.prepare_cached("SELECT id FROM clients WHERE id > ?1 ORDER BY id")?;
    let v = st
        .query_map([after], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Clients by id, optionally only those with an open or closed case assigned to `worker`.
pub fn list(conn: &Connection, worker: Option<&str>) -> Result<Vec<Client>> {
    match worker {
        None => {
            let mut st = conn.prepare(&format!("SELECT {COLS} FROM clients ORDER BY id"))?;
            let v = st.query_map([], row)?.collect::<rusqlite::Result<_>>()?;
            Ok(v)
        }
        Some(w) => {
            let mut st = conn.prepare(&format!(
                "SELECT {COLS} FROM clients WHERE id IN (
                   SELECT c.client_id FROM cases c JOIN assignments a ON a.case_id = c.id
                   WHERE a.staff = ?1) OR created_by = ?1 ORDER BY id"
            ))?;
            let v = st.query_map([w], row)?.collect::<rusqlite::Result<_>>()?;
            Ok(v)
        }
    }
}

/// Clients whose name or number contains `needle`, at most `limit`.
pub fn search(conn: &Connection, needle: &str, limit: usize) -> Result<Vec<Client>> {
    let pattern = format!(
        "%{}%",
        needle
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM clients
         WHERE name LIKE ?1 ESCAPE '\\' OR number LIKE ?1 ESCAPE '\\'
         ORDER BY id LIMIT ?2"
    ))?;
    let v = st
        .query_map(params![pattern, limit as i64], row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Clients who may be the same person as `c`: the same number, ID number or phone, or the
/// same name ignoring spaces (the intake's duplicate check), at most `limit`.
pub fn similar(conn: &Connection, c: &NewClient, limit: usize) -> Result<Vec<Client>> {
    let squeeze = |s: &str| s.split_whitespace().collect::<String>();
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM clients
         WHERE number = ?1
            OR (?2 <> '' AND replace(id_number, ' ', '') = ?2)
            OR (?3 <> '' AND replace(replace(phone, ' ', ''), '-', '') = ?3)
            OR (?4 <> '' AND replace(name, ' ', '') = ?4)
         ORDER BY id LIMIT ?5"
    ))?;
    let phone: String = squeeze(&c.phone).replace('-', "");
    let v = st
        .query_map(
            params![
                c.number.trim(),
                squeeze(&c.id_number),
                phone,
                squeeze(&c.name),
                limit as i64
            ],
            row,
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}
