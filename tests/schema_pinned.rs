//! Issue 10 item 4: an insider with her own database key plants schema objects in `vault.db`;
//! every command refuses to open the vault, naming the object, until it is gone.

mod common;

use casevault::crypto::StaffIdentity;
use common::*;
use rusqlite::Connection;
use secrecy::SecretString;

/// Opens `vault.db` the way a curious insider would: her identity file and passphrase unwrap
/// `keys/dbkey.age`, and any SQLCipher client takes the raw key.
fn insider_db(v: &TestVault, who: &str) -> Connection {
    let id_file = std::fs::read(v.dir.join(format!("staff/{who}.age"))).unwrap();
    let me = StaffIdentity::open(&id_file, &SecretString::from(pw(who)), who).unwrap();
    let wrapped = std::fs::read(v.dir.join("keys/dbkey.age")).unwrap();
    let key = casevault::crypto::decrypt(&[&me.age], &wrapped)
        .unwrap()
        .unwrap();
    let conn = Connection::open(v.dir.join("vault.db")).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\"; PRAGMA busy_timeout = 5000;",
        casevault::crypto::hex(&key)
    ))
    .unwrap();
    conn
}

/// Runs SQL as the insider `wang` and closes the connection.
fn plant(v: &TestVault, sql: &str) {
    insider_db(v, "wang").execute_batch(sql).unwrap();
}

/// Every kind of command (read, write, audit) refuses, naming `what` (e.g. "extra trigger
/// steal") and saying to alert a supervisor; `audit run` says it could not run (exit 2).
fn assert_refused(v: &TestVault, what: &str, case: i64) {
    let case = case.to_string();
    let runs = [
        v.run("wang", &["case", "list"]),
        v.run("li", &["case", "show", &case]),
        v.run(
            "wang",
            &["client", "add", "--number", "C900", "--name", "X"],
        ),
        v.run("audit", &["audit", "run"]),
    ];
    for r in runs {
        let r = r.fails();
        assert!(r.stderr.contains(what), "names {what}: {}", r.stderr);
        assert!(r.stderr.contains("alert a supervisor"), "{}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
    let r = v.run("audit", &["audit", "run"]);
    assert_eq!(r.code, 2, "audit could not run: {}", r.stderr);
    assert!(r.stderr.contains("the audit could not run"), "{}", r.stderr);
}

fn assert_opens(v: &TestVault) {
    v.run("wang", &["case", "list"]).ok();
    let r = v.run("audit", &["audit", "run", "--fail-on", "critical"]);
    assert_ne!(r.code, 2, "audit runs again: {}", r.stderr);
}

#[test]
fn a_planted_trigger_on_case_keys_never_runs() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    // The attack of issue 10: every new case's tier-3 key becomes hers.
    plant(
        &v,
        "CREATE TRIGGER steal AFTER INSERT ON case_keys WHEN NEW.tier = 3 BEGIN
           UPDATE case_keys SET recipient = 'age1insider' WHERE case_id = NEW.case_id
             AND epoch = NEW.epoch AND tier = 3;
         END;",
    );
    assert_refused(&v, "extra trigger steal", case);
    // A supervisor opening a case is refused before anything is written.
    v.run("li", &["case", "open", "C001"]).fails();
    let n: i64 = insider_db(&v, "wang")
        .query_row("SELECT count(*) FROM cases", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    // In Chinese too, with the object's type in words.
    let mut c = v.as_("li");
    c.env("CASEVAULT_LANG", "zh").args(["case", "list"]);
    let r = run(c).fails();
    assert!(r.stderr.contains("多出的触发器 steal"), "{}", r.stderr);
    assert!(r.stderr.contains("督导"), "{}", r.stderr);
    plant(&v, "DROP TRIGGER steal;");
    assert_opens(&v);
    // Nothing was repaired behind anyone's back: the new case's keys are the genuine ones.
    let r = v.run("wang", &["--json", "case", "open", "C001"]).ok();
    let id = r.json()["id"].as_i64().unwrap();
    let planted: i64 = insider_db(&v, "wang")
        .query_row(
            "SELECT count(*) FROM case_keys WHERE case_id = ?1 AND recipient = 'age1insider'",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(planted, 0);
}

#[test]
fn a_view_a_table_and_an_index_are_refused_until_dropped() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    for (sql, what, undo) in [
        (
            "CREATE VIEW mine AS SELECT * FROM key_wraps;",
            "extra view mine",
            "DROP VIEW mine;",
        ),
        (
            "CREATE TABLE notes (x TEXT);",
            "extra table notes",
            "DROP TABLE notes;",
        ),
        (
            "CREATE INDEX staff_role ON staff(role);",
            "extra index staff_role",
            "DROP INDEX staff_role;",
        ),
        // Statistics steer the query planner; the vault never runs ANALYZE.
        (
            "ANALYZE;",
            "extra table sqlite_stat1",
            "DROP TABLE sqlite_stat1; DROP TABLE IF EXISTS sqlite_stat4;",
        ),
    ] {
        plant(&v, sql);
        assert_refused(&v, what, case);
        plant(&v, undo);
        assert_opens(&v);
    }
}

#[test]
fn an_altered_or_missing_object_is_refused() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    plant(&v, "ALTER TABLE staff ADD COLUMN note TEXT;");
    assert_refused(&v, "changed table staff", case);
    plant(&v, "ALTER TABLE staff DROP COLUMN note;");
    assert_opens(&v);
    plant(&v, "DROP INDEX key_wraps_holder;");
    assert_refused(&v, "missing index key_wraps_holder", case);
    plant(&v, "CREATE INDEX key_wraps_holder ON key_wraps(holder);");
    assert_opens(&v);
}
