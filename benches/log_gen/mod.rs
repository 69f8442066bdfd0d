//! A genuine, deterministic N-entry disclosure log for `benches/log_verify.rs` and
//! `examples/log_export_gen.rs`: fixed keys, entries signed in parallel, the checkpoints the
//! vault keeps (every `CHECKPOINT_RETAIN_EVERY`-th and the latest).
#![allow(dead_code)]

use std::path::Path;

use casevault::log::{self, merkle, signed_message, Checkpoint, Entry, Kind, LegalBasis};
use ed25519_dalek::{Signer, SigningKey};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

pub const ORIGIN: &str = "bench.example/casevault-log";

pub fn agency() -> SigningKey {
    SigningKey::from_bytes(&[0xB0; 32])
}
pub fn admin() -> SigningKey {
    SigningKey::from_bytes(&[0xB1; 32])
}
pub fn worker() -> SigningKey {
    SigningKey::from_bytes(&[0xB2; 32])
}

pub fn entry(i: u64) -> (Entry, SigningKey) {
    let reg = |name: &str, role: &str, key: &SigningKey| Kind::StaffRegistered {
        name: name.into(),
        role: role.into(),
        key: key.verifying_key().to_bytes(),
    };
    let (kind, actor, key) = match i {
        0 => (
            reg("zhang.admin", "admin", &admin()),
            "zhang.admin",
            admin(),
        ),
        1 => (
            reg("wang.worker", "caseworker", &worker()),
            "zhang.admin",
            admin(),
        ),
        _ => (Kind::ReferralExport, "wang.worker", worker()),
    };
    let e = Entry {
        index: i,
        time: 1_750_000_000 + i as i64,
        kind,
        actor: actor.into(),
        client_mac: Some(log::id_mac(&[1; 32], "client", &format!("C-{}", i % 5000))),
        case_mac: Some(log::id_mac(&[1; 32], "case", &format!("K-{}", i % 9000))),
        recipient: "Sunrise Youth Center".into(),
        purpose: "housing support".into(),
        basis: LegalBasis::Consent(format!("CON-{i}")),
        approver: Some("li.supervisor".into()),
        disclosed_sha256: Some(Sha256::digest(i.to_be_bytes()).into()),
        detail: format!("referral R-{i}"),
    };
    (e, key)
}

pub fn vkey() -> String {
    log::verifier_key(ORIGIN, &agency().verifying_key())
}

/// Writes an `n`-entry export (entries, checkpoints, verifier key) to `dir`.
pub fn write_export(dir: &Path, n: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let stored: Vec<Vec<u8>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let (e, key) = entry(i);
            let mut b = e.encode().unwrap();
            let sig = key.sign(&signed_message(&b));
            b.extend_from_slice(&sig.to_bytes());
            b
        })
        .collect();
    let mut f = merkle::Frontier::default();
    let mut notes = Vec::new();
    for s in &stored {
        f.push(merkle::leaf_hash(s));
        if f.size() % log::CHECKPOINT_RETAIN_EVERY == 0 || f.size() == n {
            let cp = Checkpoint {
                origin: ORIGIN.into(),
                size: f.size(),
                root: f.root(),
            };
            notes.push(cp.sign(&agency()).into_bytes());
        }
    }
    log::write_records(dir, log::ENTRIES_FILE, &stored).unwrap();
    // The latest checkpoint also as `checkpoint.txt`, which verification requires.
    std::fs::write(dir.join(log::LATEST_FILE), notes.last().unwrap()).unwrap();
    log::write_records(dir, log::CHECKPOINTS_FILE, &notes).unwrap();
    std::fs::write(dir.join(log::KEY_FILE), vkey()).unwrap();
}
