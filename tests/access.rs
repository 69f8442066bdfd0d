//! Who can read what: enforced by keys, not only by checks in the commands.

mod common;

use casevault::crypto::StaffIdentity;
use casevault::vault::{Session, VaultDir};
use common::*;
use secrecy::SecretString;

fn id_of(r: &Run) -> String {
    r.json()["id"].as_i64().unwrap().to_string()
}

#[test]
fn assignment_controls_reading() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let rec = id_of(&v.process_note("wang", case, "first session").ok());

    // chen is not assigned: refused, with a message that says what to do.
    let r = v.run("chen", &["record", "show", &rec]).fails();
    assert!(r.stderr.contains("not assigned"), "{}", r.stderr);
    v.run("chen", &["record", "list", "--case", &case.to_string()])
        .fails();

    // After assign, chen reads it.
    v.run("li", &["case", "assign", &case.to_string(), "chen"])
        .ok();
    let r = v.run("chen", &["record", "show", &rec]).ok();
    assert!(r.stdout.contains("first session"));

    // After unassign, records added later are out of reach, with the command and with the keys.
    v.run("li", &["case", "unassign", &case.to_string(), "chen"])
        .ok();
    let later = id_of(&v.process_note("wang", case, "after chen left").ok());
    v.run("chen", &["record", "show", &later]).fails();
    // wang (still assigned) reads the new record.
    assert!(v
        .run("wang", &["record", "show", &later])
        .ok()
        .stdout
        .contains("after chen left"));
}

#[test]
fn unassigned_worker_keys_cannot_open_later_records() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    v.run("li", &["case", "assign", &case.to_string(), "chen"])
        .ok();
    // chen keeps a copy of the keys she held while assigned.
    let s = v.session("chen");
    let old = s.case_keys(case, 1).unwrap();
    drop(s);
    v.run("li", &["case", "unassign", &case.to_string(), "chen"])
        .ok();
    let later: i64 = v.process_note("wang", case, "secret later").ok().json()["id"]
        .as_i64()
        .unwrap();
    let rec = casevault::store::records::get(&open_as(&v, "li").conn, later)
        .unwrap()
        .unwrap();
    assert!(rec.meta.epoch > 1, "unassign starts a new key epoch");
    let ids: Vec<&dyn age::Identity> = old
        .tiers
        .iter()
        .map(|t| &t.identity as &dyn age::Identity)
        .collect();
    assert!(casevault::crypto::decrypt(&ids, &rec.body)
        .unwrap()
        .is_none());
}

fn open_as(v: &TestVault, who: &str) -> Session {
    v.session(who)
}

#[test]
fn caseworker_writes_but_cannot_read_supervisor_only_notes() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let r = v
        .supervision_note("wang", case, "disclosed abuse at home")
        .ok();
    assert_eq!(r.json()["tier"], 3);
    let id = id_of(&r);
    let r = v.run("wang", &["record", "show", &id]).fails();
    assert!(r.stderr.contains("supervisors only"), "{}", r.stderr);
    assert!(!r.stderr.contains("abuse") && !r.stdout.contains("abuse"));
    // The supervisor reads it.
    assert!(v
        .run("li", &["record", "show", &id])
        .ok()
        .stdout
        .contains("disclosed abuse"));

    // Key level: everything wang's identity unlocks cannot decrypt the note.
    let s = open_as(&v, "wang");
    let keys = s.case_keys(case, 1).unwrap();
    assert!(
        keys.tier(3).is_none(),
        "a caseworker's wrapping must not carry tier 3"
    );
    let rec = casevault::store::records::get(&s.conn, id.parse().unwrap())
        .unwrap()
        .unwrap();
    let mut ids: Vec<&dyn age::Identity> = keys
        .tiers
        .iter()
        .map(|t| &t.identity as &dyn age::Identity)
        .collect();
    ids.push(&s.me.age);
    assert!(casevault::crypto::decrypt(&ids, &rec.body)
        .unwrap()
        .is_none());
    // And no wrapping row anywhere gives a caseworker tier 3.
    for w in casevault::store::keys::list_wraps(&s.conn, Some("wang")).unwrap() {
        assert!(!w.tiers.contains(&3));
    }
}

#[test]
fn admin_and_auditor_cannot_read_content() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let id = id_of(&v.process_note("wang", case, "private words").ok());
    for who in ["admin", "audit"] {
        let r = v.run(who, &["record", "show", &id]).fails();
        assert!(!r.stderr.contains("private words"));
        let s = open_as(&v, who);
        assert!(s.case_keys(case, 1).is_err(), "{who} holds no case keys");
        assert!(casevault::store::keys::list_wraps(&s.conn, Some(who))
            .unwrap()
            .is_empty());
    }
}

#[test]
fn removed_staff_cannot_open_the_vault() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    v.run("li", &["case", "assign", &case.to_string(), "chen"])
        .ok();
    let id_file = std::fs::read(v.dir.join("staff/chen.age")).unwrap();
    let dbkey_before = std::fs::read(v.dir.join("keys/dbkey.age")).unwrap();
    let r = v.run("admin", &["--json", "staff", "remove", "chen"]).ok();
    assert_eq!(r.json()["database_key_rotated"], true);
    assert!(!v.dir.join("staff/chen.age").exists());
    // With the command: unknown staff.
    v.run("chen", &["case", "list"]).fails();
    // With her saved identity file and passphrase, put back: the database key no longer opens for her.
    std::fs::write(v.dir.join("staff/chen.age"), &id_file).unwrap();
    let me = StaffIdentity::open(&id_file, &SecretString::from(pw("chen")), "chen").unwrap();
    let state = casevault::vault::remember::StateDir::new(common::state_dir(&v.dir));
    assert!(Session::with_identity_in(&VaultDir::new(&v.dir), me, &state).is_err());
    // Even the old database key file she may have kept no longer opens the rotated database.
    let me = StaffIdentity::open(&id_file, &SecretString::from(pw("chen")), "chen").unwrap();
    let old_key = casevault::crypto::decrypt(&[&me.age], &dbkey_before)
        .unwrap()
        .unwrap();
    let key = zeroize::Zeroizing::new(<[u8; 32]>::try_from(old_key.as_slice()).unwrap());
    assert!(casevault::store::open(&v.dir.join("vault.db"), &key, false).is_err());
    // Everyone else still works.
    v.run("wang", &["case", "show", &case.to_string()]).ok();
    v.run("li", &["case", "show", &case.to_string()]).ok();
}

#[test]
fn lowering_a_tier_needs_a_supervisor() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let fields = r#"{"date":"2026-11-20","topic":"t"}"#;
    let args = [
        "record",
        "add",
        "--case",
        &case.to_string(),
        "--kind",
        "supervision",
        "--tier",
        "2",
        "--fields",
        "-",
    ];
    v.run_stdin("wang", &args, fields).fails();
    v.run_stdin("li", &args, fields).ok();
}
