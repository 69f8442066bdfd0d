//! Tampering with a stored or exported log is caught, and each failure names the entry.

mod log_common;

use std::path::Path;

use casevault::log::{
    self, merkle, signed_message, Checkpoint, Entry, Kind, LogError, NewEntry, Warning,
    CHECKPOINTS_FILE, ENTRIES_FILE,
};
use ed25519_dalek::{Signer, SigningKey};
use log_common::*;

/// A populated vault and its export; returns (tempdir, export dir, receipts).
fn exported(n: u64) -> (tempfile::TempDir, std::path::PathBuf, Vec<log::Receipt>) {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("vault.db"));
    let receipts = populated(&mut conn, n);
    let out = dir.path().join("export");
    log::export(&conn, &out).unwrap();
    (dir, out, receipts)
}

fn entries(dir: &Path) -> Vec<Vec<u8>> {
    log::read_records(dir, ENTRIES_FILE).unwrap()
}

/// The strongest attacker: holds the agency key and re-signs a checkpoint over `records`.
fn resign(dir: &Path, records: &[Vec<u8>]) {
    log::write_records(dir, ENTRIES_FILE, records).unwrap();
    let leaves: Vec<merkle::Hash> = records.iter().map(|r| merkle::leaf_hash(r)).collect();
    let cp = Checkpoint {
        origin: ORIGIN.into(),
        size: records.len() as u64,
        root: merkle::root(&leaves),
    };
    let note = cp.sign(&agency());
    log::write_records(dir, CHECKPOINTS_FILE, &[note.clone().into_bytes()]).unwrap();
    // The export's own latest checkpoint is re-signed too (it is checked).
    std::fs::write(dir.join(log::LATEST_FILE), note).unwrap();
}

/// Signs a hand-made entry with `key`, as a forger holding that staff key would.
fn forge(entry: &Entry, key: &SigningKey) -> Vec<u8> {
    let mut bytes = entry.encode().unwrap();
    let sig = key.sign(&signed_message(&bytes));
    bytes.extend_from_slice(&sig.to_bytes());
    bytes
}

fn messages(report: &log::VerifyReport) -> String {
    report
        .errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn flipped_byte_names_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("vault.db"));
    populated(&mut conn, 10);
    // Flip one bit inside entry 7's purpose text (still decodes, signature breaks).
    let mut stored: Vec<u8> = conn
        .query_row("SELECT stored FROM log_entries WHERE idx = 7", [], |r| {
            r.get(0)
        })
        .unwrap();
    let at = stored.windows(7).position(|w| w == b"housing").unwrap();
    stored[at] ^= 0x01;
    conn.execute(
        "UPDATE log_entries SET stored = ?1 WHERE idx = 7",
        [&stored],
    )
    .unwrap();
    let report = log::verify_db(&conn, &vkey()).unwrap();
    assert!(
        matches!(report.errors[0], LogError::BadSignature { index: 7, .. }),
        "{}",
        messages(&report)
    );
    assert!(report
        .errors
        .iter()
        .any(|e| matches!(e, LogError::CheckpointMismatch { size: 13 })));
    assert!(report.errors[0].to_string().contains('7'));

    // Any single flipped byte anywhere in any entry fails and names that entry.
    let (_d, out, _) = exported(4);
    let original = entries(&out);
    for (i, len) in original.iter().map(|r| r.len()).enumerate() {
        for pos in [0, 9, 17, len / 2, len - 1] {
            let mut recs = original.clone();
            recs[i][pos] ^= 0x40;
            log::write_records(&out, ENTRIES_FILE, &recs).unwrap();
            let report = log::verify_export(&out, &vkey(), None);
            assert!(!report.is_ok(), "entry {i} byte {pos}");
            let names_it = report.errors.iter().any(|e| match e {
                LogError::BadSignature { index, .. }
                | LogError::Malformed { index, .. }
                | LogError::IndexMismatch { index, .. }
                | LogError::UnknownSigner { index, .. }
                | LogError::NotAdmin { index, .. }
                | LogError::WeakStaffKey { index } => *index == i as u64,
                LogError::BadFounding => i == 0,
                _ => false,
            });
            assert!(names_it, "entry {i} byte {pos}: {}", messages(&report));
        }
    }
}

#[test]
fn deleted_middle_entry_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("vault.db"));
    populated(&mut conn, 10);
    conn.execute("DELETE FROM log_entries WHERE idx = 6", [])
        .unwrap();
    let report = log::verify_db(&conn, &vkey()).unwrap();
    assert!(
        matches!(
            report.errors[0],
            LogError::IndexMismatch {
                index: 6,
                claimed: 7
            }
        ),
        "{}",
        messages(&report)
    );
    // One report for the shift, not one per following entry.
    let shifts = report
        .errors
        .iter()
        .filter(|e| matches!(e, LogError::IndexMismatch { .. }))
        .count();
    assert_eq!(shifts, 1);
    assert!(report.errors.iter().any(|e| matches!(
        e,
        LogError::Truncated {
            have: 12,
            signed: 13
        }
    )));
}

#[test]
fn swapped_entries_are_named() {
    let (_d, out, _) = exported(8);
    let mut recs = entries(&out);
    recs.swap(4, 5);
    resign(&out, &recs); // even a re-signed checkpoint does not hide it
    let report = log::verify_export(&out, &vkey(), None);
    let idx: Vec<u64> = report
        .errors
        .iter()
        .filter_map(|e| match e {
            LogError::IndexMismatch { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(idx, vec![4, 5], "{}", messages(&report));
}

#[test]
fn truncation_is_caught_by_checkpoints_and_receipts() {
    let (_d, out, receipts) = exported(12);
    let recs = entries(&out);
    let k = 3;
    let kept = recs[..recs.len() - k].to_vec();

    // Entries cut but the vault's checkpoints left alone: the latest checkpoint shows it.
    log::write_records(&out, ENTRIES_FILE, &kept).unwrap();
    let report = log::verify_export(&out, &vkey(), None);
    assert!(
        report.errors.iter().any(|e| matches!(
            e,
            LogError::Truncated {
                have: 12,
                signed: 15
            }
        )),
        "{}",
        messages(&report)
    );
    assert!(report
        .errors
        .iter()
        .any(|e| e.to_string().contains("12") && e.to_string().contains("14")));

    // Cut and re-signed with the agency key: the log alone looks fine ...
    resign(&out, &kept);
    assert!(log::verify_export(&out, &vkey(), None).is_ok());
    // ... but a receipt handed out earlier (entry 13, checkpoint size 14) catches it.
    let receipt = &receipts[13];
    let report = log::verify_export(&out, &vkey(), Some(&receipt.checkpoint));
    assert!(
        matches!(
            report.errors[..],
            [LogError::Truncated {
                have: 12,
                signed: 14
            }]
        ),
        "{}",
        messages(&report)
    );
    // And so does the latest checkpoint an auditor saved before.
    let saved = receipts.last().unwrap().checkpoint.clone();
    let report = log::verify_export(&out, &vkey(), Some(&saved));
    assert!(matches!(
        report.errors[..],
        [LogError::Truncated {
            have: 12,
            signed: 15
        }]
    ));
}

#[test]
fn rewrite_resigned_with_agency_key_is_caught_by_earlier_checkpoint() {
    let (_d, out, receipts) = exported(10);
    let saved = receipts.last().unwrap().checkpoint.clone();
    let mut recs = entries(&out);
    // The attacker holds every key: rewrites entry 5's recipient, re-signs it as the worker,
    // rebuilds the tree and re-signs the checkpoint with the agency key.
    let (bytes, _) = log::split_stored(&recs[5]).unwrap();
    let mut e = Entry::decode(bytes).unwrap();
    e.recipient = "Somewhere Else".into();
    recs[5] = forge(&e, &worker());
    resign(&out, &recs);
    assert!(log::verify_export(&out, &vkey(), None).is_ok());
    let report = log::verify_export(&out, &vkey(), Some(&saved));
    assert!(
        matches!(
            report.errors[..],
            [LogError::CheckpointMismatch { size: 13 }]
        ),
        "{}",
        messages(&report)
    );
    assert!(report.errors[0].to_string().contains("12"));
}

#[test]
fn entry_signed_after_revocation_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("vault.db"));
    populated(&mut conn, 3);
    append(
        &mut conn,
        &NewEntry::new(
            Kind::StaffRevoked {
                name: "wang.worker".into(),
            },
            "zhang.admin",
        ),
        &admin(),
        T0 + 90,
    )
    .unwrap();
    let out = dir.path().join("export");
    log::export(&conn, &out).unwrap();

    // The departed worker still has their key and forges an entry after the revocation.
    let mut recs = entries(&out);
    let mut e = Entry::decode(log::split_stored(&recs[3]).unwrap().0).unwrap();
    e.index = recs.len() as u64;
    e.time = T0 + 100;
    recs.push(forge(&e, &worker()));
    resign(&out, &recs);
    let report = log::verify_export(&out, &vkey(), None);
    assert!(
        matches!(
            report.errors[..],
            [LogError::RevokedSigner {
                index: 7,
                revoked_at: 6,
                ..
            }]
        ),
        "{}",
        messages(&report)
    );
    assert!(report.errors[0].to_string().contains("wang.worker"));
}

#[test]
fn unknown_signer_is_named() {
    let (_d, out, _) = exported(2);
    let mut recs = entries(&out);
    let mut e = Entry::decode(log::split_stored(&recs[3]).unwrap().0).unwrap();
    e.index = recs.len() as u64;
    e.actor = "mallory".into();
    recs.push(forge(&e, &SigningKey::from_bytes(&[0x66; 32])));
    resign(&out, &recs);
    let report = log::verify_export(&out, &vkey(), None);
    assert!(
        matches!(
            report.errors[..],
            [LogError::UnknownSigner { index: 5, .. }]
        ),
        "{}",
        messages(&report)
    );
}

#[test]
fn timestamp_going_backwards_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("vault.db"));
    populated(&mut conn, 3);
    append(&mut conn, &disclosure(7), &worker(), T0 - 3600).unwrap();
    let report = log::verify_db(&conn, &vkey()).unwrap();
    assert!(report.is_ok(), "{}", messages(&report));
    assert_eq!(
        report.warnings,
        vec![Warning::TimeBackwards {
            index: 6,
            time: T0 - 3600,
            previous: T0 + 12
        }]
    );
    assert!(report.warnings[0].to_string().contains('6'));
}

#[test]
fn wrong_key_and_damaged_files_are_reported() {
    let (_d, out, _) = exported(2);
    let other = log::verifier_key(ORIGIN, &SigningKey::from_bytes(&[1; 32]).verifying_key());
    let report = log::verify_export(&out, &other, None);
    assert!(report
        .errors
        .iter()
        .any(|e| matches!(e, LogError::Checkpoint { size: Some(5), .. })));
    assert!(report
        .errors
        .iter()
        .any(|e| matches!(e, LogError::Unsigned { from: 0, to: 5 })));

    let mut raw = std::fs::read(out.join(ENTRIES_FILE)).unwrap();
    raw.truncate(raw.len() - 10);
    std::fs::write(out.join(ENTRIES_FILE), raw).unwrap();
    let report = log::verify_export(&out, &vkey(), None);
    assert!(matches!(
        report.errors[..],
        [LogError::ExportFormat { records: 4, .. }]
    ));
}

#[test]
fn an_empty_export_or_a_missing_or_wrong_checkpoint_txt_is_not_verified() {
    let (_d, out, receipts) = exported(6);
    assert!(log::verify_export(&out, &vkey(), None).is_ok());
    // checkpoint.txt missing.
    let latest = std::fs::read_to_string(out.join(log::LATEST_FILE)).unwrap();
    std::fs::remove_file(out.join(log::LATEST_FILE)).unwrap();
    let r = log::verify_export(&out, &vkey(), None);
    assert!(
        r.errors
            .iter()
            .any(|e| matches!(e, LogError::LatestMissing)),
        "{}",
        messages(&r)
    );
    // checkpoint.txt of another (bigger) log state, or random text.
    std::fs::write(out.join(log::LATEST_FILE), "random\n").unwrap();
    assert!(!log::verify_export(&out, &vkey(), None).is_ok());
    std::fs::write(out.join(log::LATEST_FILE), &latest).unwrap();
    assert!(log::verify_export(&out, &vkey(), None).is_ok());
    // No entries at all (and no checkpoints): nothing verified is not "verified".
    log::write_records(&out, ENTRIES_FILE, &[]).unwrap();
    log::write_records(&out, CHECKPOINTS_FILE, &[]).unwrap();
    std::fs::remove_file(out.join(log::LATEST_FILE)).unwrap();
    let r = log::verify_export(&out, &vkey(), None);
    assert!(
        r.errors.iter().any(|e| matches!(e, LogError::EmptyLog)),
        "{}",
        messages(&r)
    );
    let _ = receipts;
}

#[test]
fn receipts_and_several_checkpoints_are_checked_together() {
    let (_d, out, receipts) = exported(10);
    let earlier: Vec<log::Earlier> = vec![
        log::Earlier::Receipt(receipts[3].clone()),
        log::Earlier::Checkpoint(receipts[7].checkpoint.clone()),
        log::Earlier::parse(&receipts[9].to_json()),
    ];
    let r = log::verify_export_with(&out, &vkey(), &earlier, log::VerifyOptions::default());
    assert!(r.is_ok(), "{}", messages(&r));
    // A receipt whose entry is not the log's entry at its index fails, naming the index.
    let mut bad = receipts[3].clone();
    bad.entry = receipts[4].entry.clone();
    let r = log::verify_export_with(
        &out,
        &vkey(),
        &[log::Earlier::Receipt(bad)],
        log::VerifyOptions::default(),
    );
    assert!(
        r.errors
            .iter()
            .any(|e| matches!(e, LogError::ReceiptFails { index: 3 })),
        "{}",
        messages(&r)
    );
}
