//! Issue 10: an insider holding her own database key writes rows with a stock SQLCipher
//! client; the vault refuses to use what no signature chaining to its root says, or `audit run`
//! names it.

mod common;

use common::*;
use rusqlite::params;

fn assert_tamper(r: Run, what: &str) {
    assert_ne!(r.code, 0, "refused: {}", r.stdout);
    assert!(
        r.stderr.contains("tampered") || r.stderr.contains("tell a supervisor"),
        "tamper message: {}",
        r.stderr
    );
    assert!(r.stderr.contains(what), "names {what}: {}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

/// A key of the insider's own, as `age-keygen` would make.
fn own_key() -> age::x25519::Identity {
    age::x25519::Identity::generate()
}

#[test]
fn tier_key_substitution_is_ignored_and_the_statement_cannot_be_swapped() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang");
    let mine = own_key();
    // chen is not on the case: she writes her own key into every tier row of the case.
    let db = v.insider_db("chen");
    db.execute(
        "UPDATE case_keys SET recipient = ?1 WHERE case_id = ?2",
        params![mine.to_public().to_string(), case],
    )
    .unwrap();
    drop(db);
    // The supervisor's tier-3 note and wang's note are encrypted to the signed keys, not hers.
    let sup = v
        .supervision_note("li", case, "secret supervision")
        .ok()
        .json();
    let note = v.process_note("wang", case, "process").ok().json();
    let db = v.insider_db("chen");
    for id in [sup["id"].as_i64().unwrap(), note["id"].as_i64().unwrap()] {
        let body: Vec<u8> = db
            .query_row("SELECT body FROM records WHERE id = ?1", [id], |r| r.get(0))
            .unwrap();
        let opened = casevault::crypto::decrypt(&[&mine as &dyn age::Identity], &body).unwrap();
        assert!(opened.is_none(), "record {id} is not readable with her key");
    }
    v.run("li", &["record", "show", &sup["id"].to_string()])
        .ok();
    // Swapping the signed statement itself for one naming her key is refused by name.
    let (subject, stmt): (String, Vec<u8>) = db
        .query_row(
            "SELECT subject, statement FROM authority WHERE subject LIKE 'epoch/' || ?1 || '/%'",
            [case],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let mut claim: serde_json::Value = serde_json::from_slice(&stmt).unwrap();
    for t in claim["tiers"].as_array_mut().unwrap() {
        t[1] = mine.to_public().to_string().into();
    }
    db.execute(
        "UPDATE authority SET statement = ?1 WHERE subject = ?2",
        params![serde_json::to_vec(&claim).unwrap(), subject],
    )
    .unwrap();
    drop(db);
    assert_tamper(v.process_note("wang", case, "another"), "case key");
    assert_tamper(v.supervision_note("li", case, "another"), "case key");
}

#[test]
fn a_role_flip_in_the_staff_row_changes_nothing() {
    let v = TestVault::new();
    v.insider_db("chen")
        .execute(
            "UPDATE staff SET role = 'supervisor' WHERE name = 'chen'",
            [],
        )
        .unwrap();
    // Her session's role comes from the signed registry: she is still a caseworker.
    let r = v.run("chen", &["staff", "grant", "wang"]).fails();
    assert!(r.stderr.contains("caseworker"), "{}", r.stderr);
    // The next case a supervisor opens is not wrapped to her at all.
    v.run(
        "wang",
        &["client", "add", "--number", "C002", "--name", "Li"],
    )
    .ok();
    let case = v.run("li", &["--json", "case", "open", "C002"]).ok().json()["id"]
        .as_i64()
        .unwrap();
    let n: i64 = v
        .insider_db("chen")
        .query_row(
            "SELECT count(*) FROM key_wraps WHERE case_id = ?1 AND holder = 'chen'",
            [case],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0, "no wrapping for her");
}

#[test]
fn an_inserted_assignment_is_refused_by_name() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang");
    v.process_note("wang", case, "process").ok();
    let db = v.insider_db("chen");
    db.execute(
        "INSERT INTO assignments (case_id, staff, assigned_at) VALUES (?1, 'chen', 0)",
        [case],
    )
    .unwrap();
    // Copying wang's signed assignment under her name does not help either.
    db.execute(
        "INSERT INTO authority (subject, log_index, statement)
         SELECT 'assign/' || ?1 || '/chen', log_index, statement FROM authority
         WHERE subject = 'assign/' || ?1 || '/wang'",
        [case],
    )
    .unwrap();
    drop(db);
    assert_tamper(
        v.run("chen", &["record", "list", "--case", &case.to_string()]),
        "assignment",
    );
    assert_tamper(v.run("chen", &["client", "show", "C001"]), "assignment");
}

#[test]
fn a_record_signed_by_an_inserted_author_is_refused() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang");
    let id = v.process_note("chen", case, "x");
    assert_ne!(id.code, 0, "chen is not on the case");
    let id = v.process_note("wang", case, "genuine").ok().json()["id"]
        .as_i64()
        .unwrap();
    // An inactive "director" row carrying wang's own verify key, and the record re-attributed.
    let db = v.insider_db("wang");
    db.execute_batch(
        "INSERT INTO staff (name, role, age_recipient, verify_key, active, added_at, added_by)
         SELECT 'director', 'supervisor', age_recipient, verify_key, 0, 0, 'admin'
         FROM staff WHERE name = 'wang';",
    )
    .unwrap();
    db.execute("UPDATE records SET author = 'director' WHERE id = ?1", [id])
        .unwrap();
    drop(db);
    assert_tamper(v.run("li", &["record", "show", &id.to_string()]), "record");
}

#[test]
fn an_admin_cannot_make_a_supervisor_alone() {
    let v = TestVault::new();
    let inv = v
        .run(
            "admin",
            &["--json", "staff", "add", "zhao", "--role", "supervisor"],
        )
        .ok()
        .json();
    let mut c = cmd(&v.dir);
    c.env("CASEVAULT_NEW_PASSPHRASE", pw("zhao")).args([
        "--json",
        "staff",
        "enrol",
        "--invite",
        inv["invitation"].as_str().unwrap(),
    ]);
    let fp = run(c).ok().json()["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let r = v
        .run("admin", &["staff", "approve", "zhao", "--fingerprint", &fp])
        .fails();
    assert!(r.stderr.contains("staff endorse zhao"), "{}", r.stderr);
    // A wrong fingerprint is refused too, even with an endorsement.
    v.run(
        "li",
        &["staff", "endorse", "zhao", "--fingerprint", "0000-1111"],
    )
    .fails();
    v.run("li", &["staff", "endorse", "zhao", "--fingerprint", &fp])
        .ok();
    v.run("admin", &["staff", "approve", "zhao", "--fingerprint", &fp])
        .ok();
    v.run("zhao", &["case", "list"]).ok();
    // The admin's identity file never held zhao's keys: only zhao's passphrase opens them.
    let list = v.run("admin", &["--json", "staff", "list"]).ok().json();
    assert!(list.to_string().contains("zhao"));
}

#[test]
fn a_replaced_log_key_or_founder_is_a_root_mismatch() {
    let v = TestVault::new();
    // The checkpoint key is no longer in `meta`: the pinned verifier key the log recorded at
    // its founding is what a writer would replace.
    let db = v.insider_db("wang");
    let origin: String = db
        .query_row(
            "SELECT value FROM log_meta WHERE name = 'origin'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let other = casevault::log::verifier_key(
        &origin,
        &ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key(),
    );
    db.execute(
        "UPDATE log_meta SET value = ?1 WHERE name = 'verifier_key'",
        [other],
    )
    .unwrap();
    drop(db);
    let r = v.run("wang", &["case", "list"]).fails();
    assert!(r.stderr.contains("vault root"), "{}", r.stderr);
}

#[test]
fn a_kept_identity_file_opens_nothing_after_a_key_rotation() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang");
    let sup = v.supervision_note("li", case, "supervision").ok().json();
    // The admin kept a copy of li's identity file (and knows her first passphrase).
    let kept = std::fs::read(v.dir.join("staff/li.age")).unwrap();
    let old_id =
        casevault::crypto::StaffIdentity::open(&kept, &secrecy::SecretString::from(pw("li")), "li")
            .unwrap();
    let new_pw = "li new pw: copper meadow lantern";
    let mut c = v.as_("li");
    c.env("CASEVAULT_NEW_PASSPHRASE", new_pw)
        .args(["staff", "passwd", "--rotate-keys"]);
    run(c).ok();
    let mut c = cmd(&v.dir);
    c.args(["--as", "li", "record", "show", &sup["id"].to_string()])
        .env("CASEVAULT_PASSPHRASE", new_pw);
    run(c).ok();
    // The old file put back in place is refused by name.
    let current = std::fs::read(v.dir.join("staff/li.age")).unwrap();
    std::fs::write(v.dir.join("staff/li.age"), &kept).unwrap();
    let r = v.run("li", &["case", "list"]).fails();
    assert!(r.stderr.contains("rotated"), "{}", r.stderr);
    std::fs::write(v.dir.join("staff/li.age"), &current).unwrap();
    // Neither the database key file nor any of li's wrappings open with the old key.
    let dbkey = std::fs::read(v.dir.join("keys/dbkey.age")).unwrap();
    assert!(casevault::crypto::decrypt(&[&old_id.age], &dbkey)
        .unwrap()
        .is_none());
    let db = v.insider_db("wang");
    let mut st = db
        .prepare("SELECT wrapped FROM key_wraps WHERE holder = 'li'")
        .unwrap();
    let wraps: Vec<Vec<u8>> = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(!wraps.is_empty());
    for w in wraps {
        assert!(casevault::crypto::decrypt(&[&old_id.age], &w)
            .unwrap()
            .is_none());
    }
}

/// A case with a process note, partner agency "Partner" and a consent for it; returns
/// (case, consent id).
fn with_consent(v: &TestVault) -> (i64, i64) {
    let case = v.client_with_case("C001", "Zhang San");
    v.process_note("wang", case, "process").ok();
    v.partner("Partner");
    let c = v.run("wang", CONSENT_C001_PARTNER).ok().json()["id"]
        .as_i64()
        .unwrap();
    (case, c)
}

fn export(v: &TestVault, case: i64, consent: i64) -> Run {
    let out = v
        .tmp
        .path()
        .join(format!("p-{consent}-{}.age", rand_suffix()));
    v.run(
        "li",
        &[
            "referral",
            "export",
            "--case",
            &case.to_string(),
            "--to",
            "Partner",
            "--consent",
            &consent.to_string(),
            "--purpose",
            "housing support",
            "--out",
            out.to_str().unwrap(),
        ],
    )
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[test]
fn an_un_revoked_consent_is_refused_and_audited() {
    let v = TestVault::new();
    let (case, consent) = with_consent(&v);
    v.run(
        "wang",
        &["consent", "revoke", &consent.to_string(), "--via", "phone"],
    )
    .ok();
    // The row cleared, and then its signed revocation deleted as well.
    let db = v.insider_db("wang");
    db.execute(
        "UPDATE consents SET revoked_on = NULL, revoked_at = NULL, revoked_via = NULL WHERE id = ?1",
        [consent],
    )
    .unwrap();
    drop(db);
    assert_tamper(export(&v, case, consent), "consent");
    v.insider_db("wang")
        .execute(
            "DELETE FROM authority WHERE subject = 'revoked/' || ?1",
            [consent],
        )
        .unwrap();
    assert_tamper(export(&v, case, consent), "consent");
    let r = v.run("audit", &["--json", "audit", "run"]);
    assert!(r.stdout.contains("authority.consent"), "{}", r.stdout);
}

#[test]
fn widened_consent_terms_are_refused() {
    let v = TestVault::new();
    let (case, consent) = with_consent(&v);
    let db = v.insider_db("wang");
    let data: String = db
        .query_row("SELECT data FROM consents WHERE id = ?1", [consent], |r| {
            r.get(0)
        })
        .unwrap();
    let wider = data.replace("[1,2]", "[1,2,3]");
    assert_ne!(wider, data);
    db.execute(
        "UPDATE consents SET data = ?1 WHERE id = ?2",
        rusqlite::params![wider, consent],
    )
    .unwrap();
    drop(db);
    assert_tamper(export(&v, case, consent), "consent");
}

#[test]
fn a_substituted_partner_key_is_refused() {
    let v = TestVault::new();
    let (case, consent) = with_consent(&v);
    let mine = own_key();
    v.insider_db("wang")
        .execute(
            "UPDATE agencies SET age_recipient = ?1 WHERE name = 'Partner'",
            [mine.to_public().to_string()],
        )
        .unwrap();
    assert_tamper(export(&v, case, consent), "agency");
}

#[test]
fn a_deleted_or_inserted_record_is_named_by_the_audit() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang");
    let abuse = v
        .supervision_note("li", case, "abuse disclosed")
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap();
    v.process_note("wang", case, "later").ok();
    let r = v.run("audit", &["--json", "audit", "run"]);
    assert!(
        !r.stdout.contains("authority.record"),
        "clean: {}",
        r.stdout
    );
    v.insider_db("wang")
        .execute("DELETE FROM records WHERE id = ?1", [abuse])
        .unwrap();
    let r = v.run("audit", &["--json", "audit", "run"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let f = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "authority.record_missing")
        .unwrap_or_else(|| panic!("{:#}", j["findings"]));
    assert!(
        f["location"]
            .to_string()
            .contains(&format!("record {abuse}")),
        "{f}"
    );
    // A record row copied in under a new id has no commitment.
    v.insider_db("wang")
        .execute(
            "INSERT INTO records (id, case_id, kind, tier, epoch, author, created_at, amends, body, signature)
             SELECT 999, case_id, kind, tier, epoch, author, created_at, amends, body, signature
             FROM records WHERE id = (SELECT max(id) FROM records)",
            [],
        )
        .unwrap();
    let r = v.run("audit", &["--json", "audit", "run"]);
    assert!(
        r.stdout.contains("authority.record_uncommitted"),
        "{}",
        r.stdout
    );
}

#[test]
fn the_audit_names_an_inserted_assignment_and_a_swapped_case_key_row() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang");
    let db = v.insider_db("chen");
    db.execute(
        "INSERT INTO assignments (case_id, staff, assigned_at) VALUES (?1, 'chen', 0)",
        [case],
    )
    .unwrap();
    db.execute(
        "UPDATE case_keys SET recipient = ?1 WHERE case_id = ?2 AND tier = 3",
        rusqlite::params![own_key().to_public().to_string(), case],
    )
    .unwrap();
    drop(db);
    let r = v.run("audit", &["--json", "audit", "run"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("authority.assignment"), "{}", r.stdout);
    assert!(r.stdout.contains("authority.case_keys"), "{}", r.stdout);
}

#[test]
fn offboarding_leaves_the_fresh_epoch_to_the_next_writer_never_the_admin() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang");
    v.run("li", &["case", "assign", &case.to_string(), "chen"])
        .ok();
    v.run("admin", &["staff", "remove", "chen"]).ok();
    let epochs = |v: &TestVault| -> i64 {
        v.insider_db("wang")
            .query_row(
                "SELECT max(epoch) FROM case_keys WHERE case_id = ?1",
                [case],
                |r| r.get(0),
            )
            .unwrap()
    };
    let before = epochs(&v);
    v.process_note("wang", case, "after she left").ok();
    assert_eq!(epochs(&v), before + 1, "the writer started a fresh epoch");
    let db = v.insider_db("wang");
    let chen: i64 = db
        .query_row(
            "SELECT count(*) FROM key_wraps WHERE holder = 'chen'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(chen, 0);
    // No case key statement in the whole log is signed by the admin.
    let log = v
        .run("audit", &["--json", "log", "show", "--kind", "case_keys"])
        .ok();
    let entries: serde_json::Value = serde_json::from_str(&log.stdout).unwrap();
    let list = entries.as_array().unwrap();
    assert!(!list.is_empty());
    assert!(
        list.iter().all(|e| e["actor"] != "admin"),
        "{log:?}",
        log = log.stdout
    );
}

/// Appends a case-keys statement signed by `who` through the library (what an insider with
/// her own signing key and the database key can do), replacing the epoch's authority row.
fn forge_epoch(v: &TestVault, who: &str, case: i64, epoch: i64) -> age::x25519::Identity {
    let s = v.session(who);
    let key = own_key();
    let mine = key.to_public().to_string();
    let claim = serde_json::json!({
        "claim": "case_keys", "case": case, "epoch": epoch,
        "tiers": [[1, mine], [2, mine], [3, mine]],
        "holders": [[who, [1, 2]]],
    });
    let bytes = serde_json::to_vec(&claim).unwrap();
    let mut e = casevault::log::NewEntry::new(casevault::log::Kind::CaseKeys, who);
    e.case_mac = Some(casevault::vault::disclosure::id_mac(&s.conn, "case", case).unwrap());
    e.disclosed_sha256 = Some(casevault::vault::authority::digest(&bytes));
    e.detail = format!("epoch {epoch}");
    let tx = casevault::store::immediate(&s.conn).unwrap();
    let r = casevault::vault::disclosure::append_as(&tx, &e, &s.me.signing, 1_800_000_000).unwrap();
    casevault::store::authority::put(&tx, &format!("epoch/{case}/{epoch}"), r.index, &bytes)
        .unwrap();
    for tier in 1..=3 {
        tx.execute(
            "INSERT OR REPLACE INTO case_keys (case_id, epoch, tier, recipient, created_at) VALUES (?1, ?2, ?3, ?4, 0)",
            rusqlite::params![case, epoch, tier, mine],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    key
}

#[test]
fn a_caseworker_re_making_another_workers_first_epoch_is_refused_and_audited() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang");
    v.process_note("wang", case, "first").ok();
    forge_epoch(&v, "chen", case, 1);
    assert_tamper(v.supervision_note("li", case, "secret"), "case key");
    let r = v.run("audit", &["--json", "audit", "run"]);
    assert!(
        r.stdout.contains("authority.case_keys_conflict"),
        "{}",
        r.stdout
    );
}

#[test]
fn an_admin_cannot_change_a_serving_members_key() {
    let v = TestVault::new();
    let s = v.session("admin");
    let evil = casevault::crypto::StaffIdentity::generate("li");
    let mut e = casevault::log::NewEntry::new(
        casevault::log::Kind::StaffRegistered {
            name: "li".into(),
            role: "supervisor".into(),
            key: evil.public().verify_key,
        },
        "admin",
    );
    e.detail = format!("age={}", evil.public().age_recipient);
    let tx = casevault::store::immediate(&s.conn).unwrap();
    let r = casevault::vault::disclosure::append_as(&tx, &e, &s.me.signing, 1_800_000_000);
    let msg = format!("{}", r.expect_err("refused"));
    assert!(
        msg.contains("not signed by them") || msg.contains("不是由本人签署"),
        "{msg}"
    );
}

#[test]
fn an_edited_kind_column_is_reported_by_log_verify_and_the_audit() {
    let v = TestVault::new();
    v.add_staff("zhao", "caseworker");
    v.run("admin", &["staff", "remove", "zhao"]).ok();
    // Hide the revocation from the registry's index lookup.
    v.insider_db("wang")
        .execute(
            "UPDATE log_entries SET kind = 3 WHERE idx = (SELECT max(idx) FROM log_entries WHERE kind = 2)",
            [],
        )
        .unwrap();
    let r = v.run("audit", &["log", "verify"]).fails();
    assert!(
        r.stdout.contains("index columns") || r.stderr.contains("index columns"),
        "{} {}",
        r.stdout,
        r.stderr
    );
    let r = v.run("audit", &["--json", "audit", "run"]);
    assert!(r.stdout.contains("index columns"), "{}", r.stdout);
}

/// Round 2 of the insider test: an attested statement re-signed by an insider, through the
/// library with her own key (what her own build of casevault could do).
fn resign_statement(
    v: &TestVault,
    who: &str,
    subject: &str,
    kind: casevault::log::Kind,
    claim: serde_json::Value,
) {
    let s = v.session(who);
    let bytes = serde_json::to_vec(&claim).unwrap();
    let mut e = casevault::log::NewEntry::new(kind, who);
    e.disclosed_sha256 = Some(casevault::vault::authority::digest(&bytes));
    if let Some(id) = claim.get("id").and_then(|i| i.as_i64()) {
        if subject.starts_with("consent/") {
            e.basis = casevault::log::LegalBasis::Consent(id.to_string());
            e.detail = format!("consent {id}");
        } else {
            e.detail = format!("agency {id} keys");
        }
    }
    let tx = casevault::store::immediate(&s.conn).unwrap();
    let r = casevault::vault::disclosure::append_as(&tx, &e, &s.me.signing, 1_800_000_000).unwrap();
    casevault::store::authority::put(&tx, subject, r.index, &bytes).unwrap();
    tx.commit().unwrap();
}

#[test]
fn a_departed_name_is_never_registered_again() {
    let v = TestVault::new();
    v.run("admin", &["staff", "remove", "chen"]).ok();
    let s = v.session("admin");
    let evil = casevault::crypto::StaffIdentity::generate("chen");
    let mut e = casevault::log::NewEntry::new(
        casevault::log::Kind::StaffRegistered {
            name: "chen".into(),
            role: "caseworker".into(),
            key: evil.public().verify_key,
        },
        "admin",
    );
    e.detail = format!("age={}", evil.public().age_recipient);
    let tx = casevault::store::immediate(&s.conn).unwrap();
    let r = casevault::vault::disclosure::append_as(&tx, &e, &s.me.signing, 1_800_000_000);
    let msg = format!("{}", r.expect_err("refused"));
    assert!(msg.contains("chen"), "{msg}");
    drop(tx);
    drop(s);
    // And the rotation the removal needed is known from the log, not from a row.
    v.insider_db("wang")
        .execute("DELETE FROM meta WHERE key = 'rotation_pending'", [])
        .unwrap();
    let list = v.run("admin", &["--json", "staff", "list"]).ok();
    let rows: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let chen = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "chen")
        .unwrap();
    assert_eq!(
        chen["rotation_pending"], false,
        "the removal rotated: {chen}"
    );
}

#[test]
fn no_caseworker_epoch_holds_a_supervisor_only_secret() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang");
    // wang opened the case and made its epoch: its top tier is the supervisor key.
    let db = v.insider_db("wang");
    let stmt: Vec<u8> = db
        .query_row(
            "SELECT statement FROM authority WHERE subject = 'epoch/' || ?1 || '/1'",
            [case],
            |r| r.get(0),
        )
        .unwrap();
    let sup: Vec<u8> = db
        .query_row(
            "SELECT statement FROM authority WHERE subject LIKE 'supkey/%' ORDER BY subject DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let stmt: serde_json::Value = serde_json::from_slice(&stmt).unwrap();
    let sup: serde_json::Value = serde_json::from_slice(&sup).unwrap();
    let top = stmt["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t[0] == 3)
        .unwrap()[1]
        .clone();
    assert_eq!(top, sup["recipient"]);
    drop(db);
    // wang (assigned) signs a new epoch keeping a tier-3 key of her own: nothing is written
    // to it.
    v.process_note("wang", case, "before").ok();
    let mine = forge_epoch(&v, "wang", case, 2);
    // The supervisor's next note goes under a fresh epoch (the signed top tier is not the
    // supervisor key), never to her key.
    let id = v.supervision_note("li", case, "secret").ok().json()["id"]
        .as_i64()
        .unwrap();
    let db = v.insider_db("wang");
    let (epoch, body): (i64, Vec<u8>) = db
        .query_row("SELECT epoch, body FROM records WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(epoch, 3);
    assert!(
        casevault::crypto::decrypt(&[&mine as &dyn age::Identity], &body)
            .unwrap()
            .is_none()
    );
    v.run("li", &["record", "show", &id.to_string()]).ok();
}

#[test]
fn a_consent_or_an_agency_key_signed_again_is_refused() {
    let v = TestVault::new();
    let (case, consent) = with_consent(&v);
    // chen signs wider terms over wang's consent and rewrites the row.
    let db = v.insider_db("chen");
    let (client, agency, data): (i64, i64, String) = db
        .query_row(
            "SELECT client_id, agency_id, data FROM consents WHERE id = ?1",
            [consent],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let wider = data.replace("[1,2]", "[1,2,3]");
    db.execute(
        "UPDATE consents SET data = ?1 WHERE id = ?2",
        rusqlite::params![wider, consent],
    )
    .unwrap();
    drop(db);
    resign_statement(
        &v,
        "chen",
        &format!("consent/{consent}"),
        casevault::log::Kind::ConsentRecorded,
        serde_json::json!({"claim": "consent", "id": consent, "client": client, "agency": agency, "terms": wider}),
    );
    assert_tamper(export(&v, case, consent), "consent");
    // The admin re-signs the partner's key as one of his own.
    let (v2, case2, consent2) = {
        let v2 = TestVault::new();
        let (c, k) = with_consent(&v2);
        (v2, c, k)
    };
    let mine = own_key().to_public().to_string();
    let db = v2.insider_db("admin");
    let (id, name, sign): (i64, String, String) = db
        .query_row(
            "SELECT id, name, minisign_pubkey FROM agencies WHERE name = 'Partner'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    db.execute(
        "UPDATE agencies SET age_recipient = ?1 WHERE id = ?2",
        rusqlite::params![mine, id],
    )
    .unwrap();
    drop(db);
    resign_statement(
        &v2,
        "admin",
        &format!("agency/{id}"),
        casevault::log::Kind::KeyChange,
        serde_json::json!({"claim": "agency", "id": id, "name": name, "age_recipient": mine, "minisign_pubkey": sign}),
    );
    assert_tamper(export(&v2, case2, consent2), "agency");
}

#[test]
fn the_audit_names_a_case_rolled_back_to_an_older_epoch() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang");
    v.run("li", &["case", "assign", &case.to_string(), "chen"])
        .ok();
    v.run("li", &["case", "unassign", &case.to_string(), "chen"])
        .ok();
    v.insider_db("chen")
        .execute(
            "DELETE FROM case_keys WHERE case_id = ?1 AND epoch = (SELECT max(epoch) FROM case_keys WHERE case_id = ?1)",
            [case],
        )
        .unwrap();
    let r = v.run("audit", &["--json", "audit", "run"]);
    assert!(
        r.stdout.contains("authority.case_keys_rolled_back"),
        "{}",
        r.stdout
    );
}
