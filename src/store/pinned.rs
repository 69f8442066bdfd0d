//! The pinned schema: every staff member holds the database key and can open `vault.db` with
//! any SQLCipher client, so a trigger, view, table or index planted there would run inside
//! other people's sessions. On every open the whole `sqlite_master` must equal what the
//! migrations create, row for row; anything extra, changed or missing refuses the open.
//! Nothing is repaired: a supervisor must look at what was planted and by whom.

use std::sync::OnceLock;

use rusqlite::Connection;

use super::schema::MIGRATIONS;
use crate::error::{Error, Result};

/// One row of `sqlite_master` (`type`, `name`, `tbl_name`, `sql`); `rootpage` is left out
/// because it differs between two copies of the same schema.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Object {
    kind: String,
    name: String,
    table: String,
    sql: Option<String>,
}

/// How an object differs from what the migrations create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drift {
    /// In the database, not created by any migration.
    Extra,
    /// Created by the migrations, but its definition (or its table) differs.
    Changed,
    /// Created by the migrations, gone from the database.
    Missing,
}

/// One object that breaks the pin: its `sqlite_master` type (table, index, trigger, view)
/// and name, as stored (insider-chosen text: shown escaped and shortened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaDrift {
    pub kind: String,
    pub name: String,
    pub drift: Drift,
}

/// The rows of `sqlite_master`, sorted, so two schemas compare as sorted lists.
fn objects(conn: &Connection) -> Result<Vec<Object>> {
    let mut rows: Vec<Object> = conn
        .prepare("SELECT type, name, tbl_name, sql FROM main.sqlite_master")?
        .query_map([], |r| {
            Ok(Object {
                kind: r.get(0)?,
                name: r.get(1)?,
                table: r.get(2)?,
                sql: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    rows.sort();
    Ok(rows)
}

/// What the first `version` migrations create, read back from a fresh in-memory database
/// (same SQLite library, so the stored SQL text is byte for byte what a vault holds).
fn expected_for(version: usize) -> Result<Vec<Object>> {
    let mem = Connection::open_in_memory()?;
    for sql in &MIGRATIONS[..version] {
        mem.execute_batch(sql)?;
    }
    objects(&mem)
}

/// The schema of the current version, derived once per process.
fn expected_current() -> Result<&'static [Object]> {
    static CURRENT: OnceLock<Vec<Object>> = OnceLock::new();
    if let Some(v) = CURRENT.get() {
        return Ok(v);
    }
    let v = expected_for(MIGRATIONS.len())?;
    Ok(CURRENT.get_or_init(|| v))
}

/// Compares the database's schema with what migrations `1..=version` create and refuses
/// (`Error::SchemaDrift`) on any difference. `sqlite_sequence` is expected only because the
/// migrations create it too; `sqlite_stat1`/`sqlite_stat4` (made by `ANALYZE`, which the
/// vault never runs) are extra like any other object.
pub fn check(conn: &Connection, version: usize) -> Result<()> {
    let found = objects(conn)?;
    let owned;
    let expected: &[Object] = if version == MIGRATIONS.len() {
        expected_current()?
    } else {
        owned = expected_for(version)?;
        &owned
    };
    if found == expected {
        return Ok(());
    }
    let mut drift = Vec::new();
    for o in &found {
        match expected
            .iter()
            .find(|e| e.kind == o.kind && e.name == o.name)
        {
            None => drift.push((o, Drift::Extra)),
            Some(e) if e != o => drift.push((o, Drift::Changed)),
            Some(_) => {}
        }
    }
    for e in expected {
        if !found.iter().any(|o| o.kind == e.kind && o.name == e.name) {
            drift.push((e, Drift::Missing));
        }
    }
    Err(Error::SchemaDrift(
        drift
            .into_iter()
            .map(|(o, d)| SchemaDrift {
                kind: o.kind.clone(),
                name: o.name.clone(),
                drift: d,
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_schema_matches_and_a_planted_trigger_does_not() {
        let mem = Connection::open_in_memory().unwrap();
        for sql in MIGRATIONS {
            mem.execute_batch(sql).unwrap();
        }
        check(&mem, MIGRATIONS.len()).unwrap();
        mem.execute_batch("CREATE TRIGGER t AFTER INSERT ON case_keys BEGIN SELECT 1; END;")
            .unwrap();
        match check(&mem, MIGRATIONS.len()) {
            Err(Error::SchemaDrift(d)) => assert_eq!(
                d,
                vec![SchemaDrift {
                    kind: "trigger".into(),
                    name: "t".into(),
                    drift: Drift::Extra
                }]
            ),
            other => panic!("{other:?}"),
        }
    }
}
