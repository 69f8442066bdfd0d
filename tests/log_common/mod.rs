//! Shared fixtures for the log integration tests: a real SQLCipher database and keys.
#![allow(dead_code)]

use std::path::Path;

use casevault::log::{self, id_mac, Kind, LegalBasis, NewEntry, Receipt};
use ed25519_dalek::SigningKey;
use rusqlite::{Connection, TransactionBehavior};

pub const ORIGIN: &str = "agency.example/casevault-log";
pub const T0: i64 = 1_750_000_000;

pub fn agency() -> SigningKey {
    SigningKey::from_bytes(&[0xA0; 32])
}
pub fn admin() -> SigningKey {
    SigningKey::from_bytes(&[0xA1; 32])
}
pub fn worker() -> SigningKey {
    SigningKey::from_bytes(&[0xA2; 32])
}
pub fn supervisor() -> SigningKey {
    SigningKey::from_bytes(&[0xA3; 32])
}

pub fn vkey() -> String {
    log::verifier_key(ORIGIN, &agency().verifying_key())
}

/// Opens (or creates) an encrypted database the way the vault must: raw key, WAL, FULL sync.
pub fn open(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA key = \"x'2DD29CA851E7B56E4697B0E1F08507293D761A05CE4D1B628663F411A8086D99'\";
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA busy_timeout = 5000;",
    )
    .unwrap();
    conn.execute_batch(log::SCHEMA).unwrap();
    conn
}

/// Appends in its own IMMEDIATE transaction and commits, as the vault does.
pub fn append(
    conn: &mut Connection,
    req: &NewEntry,
    key: &SigningKey,
    now: i64,
) -> Result<Receipt, log::LogError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    let r = log::append(&tx, req, key, &agency(), ORIGIN, now)?;
    tx.commit().unwrap();
    Ok(r)
}

pub fn register(name: &str, role: &str, key: &SigningKey) -> NewEntry {
    NewEntry::new(
        Kind::StaffRegistered {
            name: name.into(),
            role: role.into(),
            key: key.verifying_key().to_bytes(),
        },
        "zhang.admin",
    )
}

pub fn disclosure(i: u64) -> NewEntry {
    NewEntry {
        kind: Kind::ReferralExport,
        actor: "wang.worker".into(),
        client_mac: Some(id_mac(&[9; 32], "client", &format!("C-{}", i % 7))),
        case_mac: Some(id_mac(&[9; 32], "case", &format!("K-{i}"))),
        recipient: if i.is_multiple_of(2) {
            "Sunrise Youth Center".into()
        } else {
            "City Hospital".into()
        },
        purpose: "housing support".into(),
        basis: LegalBasis::Consent(format!("CON-{i}")),
        approver: Some("li.supervisor".into()),
        disclosed_sha256: Some([i as u8; 32]),
        detail: format!("referral R-{i}"),
    }
}

/// A log with the founding admin, a worker, a supervisor and `n` disclosures.
pub fn populated(conn: &mut Connection, n: u64) -> Vec<Receipt> {
    let mut receipts = vec![
        append(
            conn,
            &{
                let mut e = register("zhang.admin", "admin", &admin());
                e.actor = "zhang.admin".into();
                e
            },
            &admin(),
            T0,
        )
        .unwrap(),
        append(
            conn,
            &register("wang.worker", "caseworker", &worker()),
            &admin(),
            T0 + 1,
        )
        .unwrap(),
        append(
            conn,
            &register("li.supervisor", "supervisor", &supervisor()),
            &admin(),
            T0 + 2,
        )
        .unwrap(),
    ];
    for i in 0..n {
        receipts.push(append(conn, &disclosure(i), &worker(), T0 + 10 + i as i64).unwrap());
    }
    receipts
}
