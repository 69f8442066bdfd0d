//! The log in a real SQLCipher database: append, verify, list, receipts, export.

mod log_common;

use casevault::log::{self, id_mac, Filter, Kind, KindCode, LogError, NewEntry};
use log_common::*;

#[test]
fn append_verify_list_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("vault.db"));
    let receipts = populated(&mut conn, 20);

    let report = log::verify_db(&conn, &vkey()).unwrap();
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(report.size, 23);
    assert_eq!(report.signatures_checked, 23);
    assert!(report.warnings.is_empty());

    // Every receipt verifies against the key, each under its own checkpoint.
    for (i, r) in receipts.iter().enumerate() {
        let r = log::Receipt::from_json(&r.to_json()).unwrap();
        let (cp, entry) = log::verify_receipt(&r, &vkey()).unwrap();
        assert_eq!(entry.index, i as u64);
        assert_eq!(cp.size, i as u64 + 1);
    }
    // An old entry gets a fresh receipt under the latest checkpoint.
    let again = log::receipt_for(&conn, 4).unwrap();
    assert_eq!(log::verify_receipt(&again, &vkey()).unwrap().0.size, 23);

    let all = log::entries(&conn, &Filter::default()).unwrap();
    assert_eq!(all.len(), 23);
    let regs = log::entries(
        &conn,
        &Filter {
            kind: Some(KindCode::StaffRegistered),
            ..Filter::default()
        },
    )
    .unwrap();
    assert_eq!(regs.len(), 3);
    let client = id_mac(&[9; 32], "client", "C-3");
    let by_client = log::entries(
        &conn,
        &Filter {
            client_mac: Some(client),
            ..Filter::default()
        },
    )
    .unwrap();
    assert_eq!(
        by_client.iter().map(|l| l.entry.index).collect::<Vec<_>>(),
        vec![6, 13, 20]
    );
    let to_hospital = log::entries(
        &conn,
        &Filter {
            recipient: Some("City Hospital".into()),
            ..Filter::default()
        },
    )
    .unwrap();
    assert_eq!(to_hospital.len(), 10);
    let window = log::entries(
        &conn,
        &Filter {
            from: Some(T0 + 10),
            until: Some(T0 + 15),
            ..Filter::default()
        },
    )
    .unwrap();
    assert_eq!(window.len(), 5);

    let out = dir.path().join("export");
    assert_eq!(log::export(&conn, &out).unwrap(), 23);
    let exported_key = std::fs::read_to_string(out.join(log::KEY_FILE)).unwrap();
    assert_eq!(exported_key.trim(), vkey());
    let report = log::verify_export(&out, &vkey(), Some(&receipts[7].checkpoint));
    assert!(report.is_ok(), "{:?}", report.errors);
    // The stored one, the receipt's and the export's own checkpoint.txt.
    assert_eq!(report.checkpoints_checked, 3);
    // No client identity appears anywhere in the export.
    for f in std::fs::read_dir(&out).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("C-3") && !text.contains("K-1"));
    }
}

#[test]
fn append_refuses_wrong_unknown_and_revoked_signers() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("vault.db"));
    populated(&mut conn, 2);

    let err = append(&mut conn, &disclosure(9), &supervisor(), T0 + 100).unwrap_err();
    assert!(
        matches!(err, LogError::WrongActorKey { ref actor } if actor == "wang.worker"),
        "{err}"
    );
    let mut stranger = disclosure(9);
    stranger.actor = "nobody".into();
    let err = append(&mut conn, &stranger, &worker(), T0 + 100).unwrap_err();
    assert!(
        matches!(err, LogError::UnknownSigner { index: 5, .. }),
        "{err}"
    );
    let err = append(
        &mut conn,
        &register("x", "admin", &worker()).with_actor("wang.worker"),
        &worker(),
        T0,
    )
    .unwrap_err();
    assert!(matches!(err, LogError::NotAdmin { index: 5, .. }), "{err}");

    append(
        &mut conn,
        &NewEntry::new(
            Kind::StaffRevoked {
                name: "wang.worker".into(),
            },
            "zhang.admin",
        ),
        &admin(),
        T0 + 101,
    )
    .unwrap();
    let err = append(&mut conn, &disclosure(10), &worker(), T0 + 102).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::RevokedSigner {
                index: 6,
                revoked_at: 5,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains('6'));
    // Failed appends wrote nothing.
    assert_eq!(log::verify_db(&conn, &vkey()).unwrap().size, 6);
}

#[test]
fn first_entry_must_be_founding_admin() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("vault.db"));
    let err = append(&mut conn, &disclosure(0), &worker(), T0).unwrap_err();
    assert!(matches!(err, LogError::BadFounding));
    let err = append(
        &mut conn,
        &register("zhang.admin", "caseworker", &admin()).with_actor("zhang.admin"),
        &admin(),
        T0,
    )
    .unwrap_err();
    assert!(matches!(err, LogError::BadFounding));
}

#[test]
fn tampered_head_raises_alarm_and_is_not_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("vault.db"));
    populated(&mut conn, 3);
    // Change the last entry's stored bytes.
    conn.execute(
        "UPDATE log_entries SET stored = CAST(stored || x'00' AS BLOB) WHERE idx = 5",
        [],
    )
    .unwrap();
    let err = append(&mut conn, &disclosure(4), &worker(), T0 + 50).unwrap_err();
    assert!(matches!(err, LogError::Alarm { size: 6, .. }), "{err}");
    let after: Vec<u8> = conn
        .query_row("SELECT stored FROM log_entries WHERE idx = 5", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(after.last(), Some(&0));

    // Deleting the last entry is an alarm too.
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("vault.db"));
    populated(&mut conn, 3);
    conn.execute("DELETE FROM log_entries WHERE idx = 5", [])
        .unwrap();
    let err = append(&mut conn, &disclosure(4), &worker(), T0 + 50).unwrap_err();
    assert!(matches!(err, LogError::Alarm { .. }), "{err}");
}

#[test]
fn oversized_fields_are_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("vault.db"));
    populated(&mut conn, 0);
    let mut e = disclosure(1);
    e.detail = "x".repeat(5000);
    assert!(matches!(
        append(&mut conn, &e, &worker(), T0).unwrap_err(),
        LogError::BadRequest(_)
    ));
}

trait WithActor {
    fn with_actor(self, actor: &str) -> Self;
}
impl WithActor for NewEntry {
    fn with_actor(mut self, actor: &str) -> Self {
        self.actor = actor.into();
        self
    }
}

#[test]
fn append_many_is_one_head_check_and_verifies_like_single_appends() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("vault.db"));
    populated(&mut conn, 1000);
    let before: i64 = conn
        .query_row("SELECT max(idx) + 1 FROM log_entries", [], |r| r.get(0))
        .unwrap();
    let batch: Vec<NewEntry> = (0..1100).map(disclosure).collect();
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let idx = log::append_many(&tx, &batch, &worker(), &agency(), ORIGIN, T0 + 5000).unwrap();
    tx.commit().unwrap();
    assert_eq!(idx.len(), 1100);
    assert_eq!(idx[0] as i64, before);
    let report = log::verify_db(&conn, &vkey()).unwrap();
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(report.size as i64, before + 1100);
    // The retained checkpoint the batch passed (1024 and 2048) is kept, the previous head's is not.
    let sizes: Vec<i64> = conn
        .prepare("SELECT size FROM log_checkpoints ORDER BY size")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(sizes.contains(&1024) && sizes.contains(&2048), "{sizes:?}");
    assert_eq!(*sizes.last().unwrap(), before + 1100);
    assert!(!sizes.contains(&before));
    // A single append after a batch still checks the head and goes on.
    append(&mut conn, &disclosure(1), &worker(), T0 + 6000).unwrap();
    assert!(log::verify_db(&conn, &vkey()).unwrap().is_ok());
    // Registry kinds are refused in a batch.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let reg = register("x", "caseworker", &worker());
    assert!(log::append_many(&tx, &[reg], &admin(), &agency(), ORIGIN, T0).is_err());
}
