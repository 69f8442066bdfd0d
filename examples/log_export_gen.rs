//! Writes a genuine N-entry log export (as `benches/log_verify.rs` builds it) to DIR, to
//! measure offline verification outside criterion, e.g. its peak memory:
//!
//! ```sh
//! cargo run --example log_export_gen -- 1000000 /tmp/log-1m
//! /usr/bin/time -v casevault log verify --export /tmp/log-1m --key "$(cat /tmp/log-1m/verifier-key.txt)"
//! ```

use std::path::Path;

use casevault::log::{self, merkle, signed_message, Checkpoint, Entry, Kind, LegalBasis};
use ed25519_dalek::{Signer, SigningKey};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

const ORIGIN: &str = "bench.example/casevault-log";

fn agency() -> SigningKey {
    SigningKey::from_bytes(&[0xB0; 32])
}
fn admin() -> SigningKey {
    SigningKey::from_bytes(&[0xB1; 32])
}
fn worker() -> SigningKey {
    SigningKey::from_bytes(&[0xB2; 32])
}

fn entry(i: u64) -> (Entry, SigningKey) {
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

fn vkey() -> String {
    log::verifier_key(ORIGIN, &agency().verifying_key())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = Path::new(args.get(2).map(|s| s.as_str()).unwrap_or("log-export"));
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
    log::write_records(dir, log::CHECKPOINTS_FILE, &notes).unwrap();
    std::fs::write(dir.join(log::KEY_FILE), vkey()).unwrap();
    println!("{n} entries written to {}", dir.display());
}
