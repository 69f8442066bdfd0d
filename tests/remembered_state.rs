//! Remembered log state (issue 11, item 3): each installation keeps the latest log head it has
//! seen, outside the vault, and every open demands a consistency proof from it. A restored
//! older copy, a truncated and re-signed log, or a fork is refused with an alarm naming both
//! sizes (exit code 3), and the remembered state is never overwritten then.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use casevault::log::merkle::{leaf_hash, Frontier};
use casevault::log::Checkpoint;
use common::*;
use serde_json::Value;

const ROLES: [&str; 5] = ["admin", "li", "wang", "chen", "audit"];

/// The exit code of a log rollback or fork alarm.
const LOG_ALARM: i32 = 4;

/// A command every role may run (it opens the vault and reads).
const READ: &[&str] = &["--json", "staff", "list"];

fn log_size(v: &TestVault) -> u64 {
    v.insider_db("li")
        .query_row("SELECT count(*) FROM log_entries", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap() as u64
}

fn vault_id(v: &TestVault) -> String {
    let raw: Vec<u8> = v
        .insider_db("li")
        .query_row("SELECT value FROM meta WHERE key = 'vault_id'", [], |r| {
            r.get(0)
        })
        .unwrap();
    String::from_utf8(raw).unwrap()
}

fn state_file(v: &TestVault, state: &Path, who: &str) -> PathBuf {
    state.join(vault_id(v)).join(format!("{who}.json"))
}

fn remembered(v: &TestVault, who: &str) -> Value {
    let text = std::fs::read_to_string(state_file(v, &state_dir(&v.dir), who)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Some log entries: a client, a case and notes.
fn activity(v: &TestVault, number: &str) {
    let case = v.client_with_case(number, "Zhang");
    v.process_note("wang", case, "first visit").ok();
    v.process_note("wang", case, "second visit").ok();
}

/// Rewrites the log's tail the way an insider with the database key and a supervisor's
/// checkpoint key can: keeps the first `keep` entries, appends `extra` (stored bytes, index in the
/// entry not checked by the head check), and writes a consistent frontier and a checkpoint
/// signed with the log key, so the log's own head check passes.
fn rewrite_tail(v: &TestVault, keep: u64, extra: &[Vec<u8>]) {
    // The checkpoint key as a supervisor (or a departed one's copy) holds it.
    let key = v.checkpoint_key("li");
    let db = v.insider_db("wang");
    let origin = format!("casevault.local/{}", vault_id(v));
    db.execute("DELETE FROM log_entries WHERE idx >= ?1", [keep as i64])
        .unwrap();
    for (i, stored) in extra.iter().enumerate() {
        db.execute(
            "INSERT INTO log_entries (idx, kind, time, stored)
             SELECT ?1, kind, time, ?2 FROM (SELECT kind, time FROM log_entries ORDER BY idx DESC LIMIT 1)",
            rusqlite::params![(keep as usize + i) as i64, stored],
        )
        .unwrap();
    }
    let mut st = db
        .prepare("SELECT stored FROM log_entries ORDER BY idx")
        .unwrap();
    let all: Vec<Vec<u8>> = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let mut f = Frontier::default();
    let mut proof = Vec::new();
    for s in &all {
        proof = f.push(leaf_hash(s));
    }
    let cp = Checkpoint {
        origin,
        size: f.size(),
        root: f.root(),
    };
    store_frontier(&db, &f);
    db.execute("DELETE FROM log_checkpoints", []).unwrap();
    db.execute(
        "INSERT INTO log_checkpoints (size, note, last_proof) VALUES (?1, ?2, ?3)",
        rusqlite::params![cp.size as i64, cp.sign(&key), proof.concat()],
    )
    .unwrap();
}

fn last_stored(v: &TestVault) -> Vec<u8> {
    v.insider_db("li")
        .query_row(
            "SELECT stored FROM log_entries ORDER BY idx DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

fn assert_alarm(r: &Run, words: &str, seen: u64, now: u64) {
    assert_eq!(r.code, LOG_ALARM, "{}", r.stderr);
    assert!(r.stderr.contains(words), "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("saw {seen} entries, the vault has {now}")),
        "{}",
        r.stderr
    );
}

#[test]
fn an_older_copy_of_the_vault_is_refused_for_every_role() {
    let v = TestVault::new();
    activity(&v, "C001");
    let backup = v.tmp.path().join("backup");
    copy_dir(&v.dir, &backup);
    let old = log_size(&v);
    activity(&v, "C002");
    for who in ROLES {
        v.run(who, READ).ok();
    }
    let seen = log_size(&v);
    assert!(seen > old);
    let kept: Vec<String> = ROLES
        .iter()
        .map(|w| std::fs::read_to_string(state_file(&v, &state_dir(&v.dir), w)).unwrap())
        .collect();
    // The whole vault directory put back from the backup.
    std::fs::remove_dir_all(&v.dir).unwrap();
    copy_dir(&backup, &v.dir);
    for who in ROLES {
        let r = v.run(who, READ);
        assert_alarm(&r, "restored from an older copy", seen, old);
    }
    // A write is refused the same way, and nothing was appended or remembered anew.
    let r = v.process_note("wang", 1, "after the restore");
    assert_eq!(r.code, LOG_ALARM, "{}", r.stderr);
    assert_eq!(log_size(&v), old);
    for (who, before) in ROLES.iter().zip(&kept) {
        let now = std::fs::read_to_string(state_file(&v, &state_dir(&v.dir), who)).unwrap();
        assert_eq!(&now, before, "{who}'s remembered state was overwritten");
    }
    // In Chinese too, with both sizes.
    let mut c = v.as_("li");
    c.env("CASEVAULT_LANG", "zh").args(READ);
    let r = run(c);
    assert_eq!(r.code, LOG_ALARM);
    assert!(
        r.stderr.contains(&format!("本机曾看到 {seen} 条")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(&format!("只有 {old} 条")), "{}", r.stderr);
}

#[test]
fn a_truncated_and_re_signed_log_is_refused() {
    let v = TestVault::new();
    activity(&v, "C001");
    v.run("wang", READ).ok();
    v.run("audit", READ).ok();
    let seen = log_size(&v);
    // The log's own checks pass after the rewrite: only the remembered head catches it.
    rewrite_tail(&v, seen - 2, &[]);
    let r = v.run("wang", READ);
    assert_alarm(&r, "log truncated", seen, seen - 2);
    assert_eq!(remembered(&v, "wang")["size"], seen);
    // Another member who had seen the same head is refused too.
    let r = v.run("audit", READ);
    assert_alarm(&r, "log truncated", seen, seen - 2);
}

#[test]
fn a_fork_is_refused_at_the_same_and_at_a_larger_size() {
    let v = TestVault::new();
    activity(&v, "C001");
    v.run("li", READ).ok();
    let seen = log_size(&v);
    let mut other = last_stored(&v);
    let n = other.len();
    other[n - 1] ^= 1;
    // Same size, a different last entry.
    rewrite_tail(&v, seen - 1, std::slice::from_ref(&other));
    assert_eq!(log_size(&v), seen);
    let r = v.run("li", READ);
    assert_alarm(&r, "fork", seen, seen);
    // Longer than remembered, but not an extension of it.
    rewrite_tail(&v, seen - 1, &[other.clone(), other]);
    let r = v.run("li", READ);
    assert_alarm(&r, "fork", seen, seen + 1);
    assert_eq!(remembered(&v, "li")["size"], seen);
}

#[test]
fn a_fresh_installation_opens_and_remembers_then_follows_the_log() {
    let v = TestVault::new();
    let fresh = v.tmp.path().join("fresh-state");
    let mut c = v.as_("chen");
    c.env("CASEVAULT_STATE_DIR", &fresh).args(READ);
    run(c).ok();
    let file = state_file(&v, &fresh, "chen");
    let text = std::fs::read_to_string(&file).unwrap();
    let state: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(state["format"], "casevault-state 1");
    assert_eq!(state["size"], log_size(&v));
    assert!(state["checkpoint"]
        .as_str()
        .unwrap()
        .starts_with("casevault.local/"));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    // Others append; the next open proves the extension and remembers the new head.
    activity(&v, "C001");
    let mut c = v.as_("chen");
    c.env("CASEVAULT_STATE_DIR", &fresh).args(READ);
    run(c).ok();
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(state["size"], log_size(&v));
    // Without any place for the state, the vault is not opened unchecked.
    let mut c = v.as_("chen");
    c.env_remove("CASEVAULT_STATE_DIR").args(READ);
    let r = run(c).fails();
    assert!(r.stderr.contains("CASEVAULT_STATE_DIR"), "{}", r.stderr);
    // A damaged state file is refused, not reset.
    std::fs::write(&file, "{}").unwrap();
    let mut c = v.as_("chen");
    c.env("CASEVAULT_STATE_DIR", &fresh).args(READ);
    let r = run(c).fails();
    assert!(r.stderr.contains("remembered log state"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{}");
}

#[test]
fn concurrent_appends_leave_the_largest_head_remembered() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang");
    std::thread::scope(|s| {
        for t in 0..2 {
            let v = &v;
            s.spawn(move || {
                for i in 0..4 {
                    v.process_note("wang", case, &format!("note {t}-{i}")).ok();
                }
            });
        }
    });
    assert_eq!(remembered(&v, "wang")["size"], log_size(&v));
    v.run("wang", READ).ok();
}

#[test]
fn a_damaged_log_does_not_hide_a_rollback() {
    let v = TestVault::new();
    activity(&v, "C001");
    v.run("li", READ).ok();
    let seen = log_size(&v);
    rewrite_tail(&v, seen - 2, &[]);
    // The stored tail no longer matches its checkpoint either: the signed checkpoint alone
    // still shows the log is shorter than this installation saw.
    v.insider_db("wang")
        .execute(
            "UPDATE log_entries SET stored = stored || x'00' WHERE idx = (SELECT max(idx) FROM log_entries)",
            [],
        )
        .unwrap();
    let r = v.run("li", READ);
    assert_alarm(&r, "log truncated", seen, seen - 2);
    assert_eq!(remembered(&v, "li")["size"], seen);
}

/// Found by the insider test: a restored copy whose checkpoints were then deleted (so the log
/// looks "damaged" rather than shorter) must still be refused, not opened for reading.
#[test]
fn a_restored_copy_without_checkpoints_is_still_refused() {
    let v = TestVault::new();
    activity(&v, "C001");
    let backup = v.tmp.path().join("backup");
    copy_dir(&v.dir, &backup);
    let old = log_size(&v);
    activity(&v, "C002");
    v.run("li", READ).ok();
    v.run("wang", READ).ok();
    std::fs::remove_dir_all(&v.dir).unwrap();
    copy_dir(&backup, &v.dir);
    v.insider_db("chen")
        .execute("DELETE FROM log_checkpoints", [])
        .unwrap();
    for who in ["li", "wang"] {
        let r = v.run(who, READ);
        assert_eq!(r.code, LOG_ALARM, "{who}: {}", r.stderr);
        assert!(r.stderr.contains(&old.to_string()), "{}", r.stderr);
    }
}
