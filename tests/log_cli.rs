//! The disclosure log through the binary: what gets logged, who sees names, offline
//! verification, and fail-closed tier-3 reads.

mod common;

use common::*;

fn kinds(v: &TestVault, who: &str) -> Vec<String> {
    v.run(who, &["--json", "log", "show"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn staff_key_changes_and_tier3_reads_are_logged() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let id = v.supervision_note("wang", case, "words").ok().json()["id"]
        .as_i64()
        .unwrap();
    v.run("li", &["record", "show", &id.to_string()]).ok();
    v.run("li", &["case", "assign", &case.to_string(), "chen"])
        .ok();
    v.run("admin", &["staff", "remove", "chen"]).ok();
    let k = kinds(&v, "li");
    assert_eq!(k[0], "staff_registered");
    assert_eq!(k[1], "policy_change");
    for want in ["tier3_read", "key_change", "staff_revoked"] {
        assert!(k.iter().any(|x| x == want), "{want} missing from {k:?}");
    }
    // A refused tier-3 read is not logged as a read.
    v.run("wang", &["record", "show", &id.to_string()]).fails();
    assert_eq!(
        kinds(&v, "li")
            .iter()
            .filter(|x| *x == "tier3_read")
            .count(),
        1
    );
    // Filters.
    let r = v
        .run(
            "li",
            &[
                "--json",
                "log",
                "show",
                "--kind",
                "tier3_read",
                "--client",
                "C001",
            ],
        )
        .ok()
        .json();
    assert_eq!(r.as_array().unwrap().len(), 1);
    assert_eq!(r[0]["client"], "C001");
    assert_eq!(r[0]["detail"], format!("record {id}"));
    // The auditor sees the keyed hash, not the client.
    let r = v
        .run("audit", &["--json", "log", "show", "--kind", "tier3_read"])
        .ok()
        .json();
    assert!(r[0]["client"].as_str().unwrap().starts_with('#'));
    // Caseworkers do not read the log.
    v.run("wang", &["log", "show"]).fails();
    v.run("li", &["log", "verify"]).ok();
}

#[test]
fn offline_verification_needs_only_the_key_and_names_the_entry() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let id = v.supervision_note("wang", case, "words").ok().json()["id"]
        .as_i64()
        .unwrap();
    v.run("li", &["record", "show", &id.to_string()]).ok();
    let key = v
        .run("audit", &["log", "key"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let out = v.tmp.path().join("export");
    v.run("audit", &["log", "export", "--out", out.to_str().unwrap()])
        .ok();
    // No vault, no passphrase, no actor.
    let bare = || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_casevault"));
        c.env_clear()
            .env("CASEVAULT_LANG", "en")
            .args([
                "--vault",
                "/nonexistent",
                "--json",
                "log",
                "verify",
                "--export",
            ])
            .arg(&out)
            .args(["--key", &key]);
        run(c)
    };
    let r = bare().ok();
    assert_eq!(r.json()["ok"], true);
    // The export holds no client identity.
    for f in std::fs::read_dir(&out).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        assert!(!bytes.windows(9).any(|w| w == b"Zhang San"));
        assert!(!bytes.windows(4).any(|w| w == b"C001"));
    }
    // Flip a byte in the entries: verification fails and names an entry.
    let entries = out.join(casevault::log::ENTRIES_FILE);
    let mut b = std::fs::read(&entries).unwrap();
    let n = b.len();
    b[n - 70] ^= 1;
    std::fs::write(&entries, b).unwrap();
    let r = bare();
    assert_ne!(r.code, 0);
    let errors = r.json()["errors"].to_string();
    assert!(errors.contains("entry"), "{errors}");
}

#[test]
fn tier3_read_fails_closed_when_the_log_cannot_be_written() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let id = v
        .supervision_note("wang", case, "must-not-leak")
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap();
    // Written while the log still works (every write signs a commitment into the log).
    let t2 = v.process_note("wang", case, "ordinary").ok().json()["id"]
        .as_i64()
        .unwrap();
    // The log cannot be written (a write failure simulated by a trigger). A trigger stored in
    // the database would refuse every open (the schema is pinned), so it is a TEMP trigger on
    // this session's own connection, and the read runs in this process.
    {
        let mut s = v.session("li");
        s.conn
            .execute_batch("CREATE TEMP TRIGGER no_log BEFORE INSERT ON main.log_entries BEGIN SELECT RAISE(FAIL, 'log unavailable'); END;")
            .unwrap();
        assert!(
            s.record_show(id).is_err(),
            "content released without a log entry"
        );
    }
    // The log's stored state no longer matches its last checkpoint: an alarm, no read.
    {
        let s = v.session("li");
        s.conn
            .execute("UPDATE log_entries SET stored = stored || x'00' WHERE idx = (SELECT max(idx) FROM log_entries)", [])
            .unwrap();
    }
    let r = v.run("li", &["record", "show", &id.to_string()]).fails();
    assert!(
        !r.stdout.contains("must-not-leak"),
        "content released without a log entry"
    );
    // A tier-2 read does not need the log and still works; a write does and is refused.
    v.run("li", &["record", "show", &t2.to_string()]).ok();
    v.process_note("wang", case, "refused").fails();
    // And verification reports the damage.
    v.run("li", &["log", "verify"]).fails();
}

#[test]
fn recovery_key_use_and_policy_changes_are_logged() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let id = v
        .supervision_note("wang", case, "old restricted note")
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap();
    // A new supervisor added after the case exists holds nothing for it.
    v.add_staff("zhao", "supervisor");
    v.run("zhao", &["record", "show", &id.to_string()]).fails();
    // A wrong key file is refused; the real one grants access, and its use is logged.
    let wrong = v.tmp.path().join("wrong.txt");
    std::fs::write(
        &wrong,
        format!(
            "{}\n",
            secrecy::ExposeSecret::expose_secret(&age::x25519::Identity::generate().to_string())
        ),
    )
    .unwrap();
    v.run(
        "admin",
        &[
            "staff",
            "recover-grant",
            "zhao",
            "--recovery-key",
            wrong.to_str().unwrap(),
        ],
    )
    .fails();
    let rec = v.recovery_path();
    v.run(
        "admin",
        &[
            "staff",
            "recover-grant",
            "zhao",
            "--recovery-key",
            rec.to_str().unwrap(),
        ],
    )
    .ok();
    assert!(v
        .run("zhao", &["record", "show", &id.to_string()])
        .ok()
        .stdout
        .contains("old restricted note"));
    assert!(kinds(&v, "li").iter().any(|k| k == "recovery_key_use"));

    // Policy: a change of deadlines is applied and logged; a change of tiers is refused.
    let dir = v.tmp.path().join("policy");
    copy_dir(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/policy")),
        &dir,
    );
    let p = dir.join("policy.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let changed = text.replacen("minor_age = 14", "minor_age = 16", 1);
    assert_ne!(text, changed, "policy.toml should set minor_age = 14");
    std::fs::write(&p, &changed).unwrap();
    v.run("admin", &["policy", "apply", dir.to_str().unwrap()])
        .ok();
    assert_eq!(
        kinds(&v, "li")
            .iter()
            .filter(|k| *k == "policy_change")
            .count(),
        2
    );
    v.run("wang", &["policy", "apply", dir.to_str().unwrap()])
        .fails();
}
