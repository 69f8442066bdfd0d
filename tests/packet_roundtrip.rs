//! build → open, and each refusal `open` promises.

mod packet_common;

use std::io::{Read, Write};

use casevault::packet::{self, minisign, PacketError, PublicKey};
use packet_common::{input, sender_key};

fn keys() -> (age::x25519::Identity, PublicKey) {
    (
        age::x25519::Identity::generate(),
        PublicKey::from_signing_key(&sender_key()),
    )
}

#[test]
fn opens_what_it_builds() {
    let (id, pk) = keys();
    let inp = input(5, 3000);
    let built = packet::build(&inp, &sender_key(), &id.to_public()).unwrap();
    let opened = packet::open(&built.ciphertext, &built.minisig, &pk, &id).unwrap();
    assert_eq!(opened.records, inp.records);
    assert_eq!(opened.manifest, built.manifest);
    assert_eq!(opened.packet_sha256, built.packet_sha256);
    assert_eq!(opened.manifest.content_sha256(), built.content_sha256);
    assert_eq!(opened.attachments.len(), 2);
    assert_eq!(opened.attachments[0].name, "a-note.txt");
    assert_eq!(opened.attachments[1].bytes.len(), 3000);
    assert_eq!(opened.receipt, inp.receipt.as_ref().unwrap().body);
    assert!(opened.document.contains("## 记录 Records (5)"));
    assert!(opened.trusted_comment.contains(&built.packet_id));
}

#[test]
fn prepare_fixes_the_content_digest_before_the_receipt() {
    let (id, _) = keys();
    let inp = input(3, 0);
    let key = sender_key();
    let recipient = id.to_public();
    let prepared = packet::prepare(&inp, &key, &recipient).unwrap();
    let digest = prepared.content_sha256();
    let built = prepared.seal(packet_common::receipt()).unwrap();
    assert_eq!(built.content_sha256, digest);
    assert_eq!(built.manifest.content_sha256(), digest);
}

#[test]
fn wrong_identity_is_wrong_recipient() {
    let (id, pk) = keys();
    let built = packet::build(&input(2, 0), &sender_key(), &id.to_public()).unwrap();
    let other = age::x25519::Identity::generate();
    assert!(matches!(
        packet::open(&built.ciphertext, &built.minisig, &pk, &other),
        Err(PacketError::WrongRecipient {
            manifest_names: None
        })
    ));
}

#[test]
fn any_changed_byte_is_a_bad_signature() {
    let (id, pk) = keys();
    let built = packet::build(&input(2, 100), &sender_key(), &id.to_public()).unwrap();
    for pos in [
        0,
        40,
        built.ciphertext.len() / 2,
        built.ciphertext.len() - 1,
    ] {
        let mut c = built.ciphertext.clone();
        c[pos] ^= 1;
        assert!(matches!(
            packet::open(&c, &built.minisig, &pk, &id),
            Err(PacketError::BadSignature)
        ));
    }
}

#[test]
fn other_sender_key_is_wrong_signer() {
    let (id, _) = keys();
    let built = packet::build(&input(1, 0), &sender_key(), &id.to_public()).unwrap();
    let stranger = PublicKey::from_signing_key(&ed25519_dalek::SigningKey::from_bytes(&[1; 32]));
    assert!(matches!(
        packet::open(&built.ciphertext, &built.minisig, &stranger, &id),
        Err(PacketError::WrongSigner { .. })
    ));
}

/// The sender's key signs a bundle whose content no longer matches its manifest: the
/// signature passes, the hash check must not.
#[test]
fn content_changed_before_signing_is_tampered() {
    let (id, pk) = keys();
    let key = sender_key();
    let built = packet::build(&input(3, 0), &key, &id.to_public()).unwrap();
    let mut tar = Vec::new();
    age::Decryptor::new(&built.ciphertext[..])
        .unwrap()
        .decrypt(std::iter::once(&id as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut tar)
        .unwrap();
    // records.json is the second entry: its data starts after two headers and the
    // manifest's padded data. Flip one byte of a record's text.
    let pos = find(&tar, b"\"author\":\"").unwrap() + 12;
    tar[pos] ^= 0x20;
    let mut c = Vec::new();
    let mut w =
        age::Encryptor::with_recipients(std::iter::once(&id.to_public() as &dyn age::Recipient))
            .unwrap()
            .wrap_output(&mut c)
            .unwrap();
    w.write_all(&tar).unwrap();
    w.finish().unwrap();
    let sig = minisign::sign_detached(&key, &c, "re-signed").unwrap();
    let err = packet::open(&c, &sig, &pk, &id).unwrap_err();
    assert!(matches!(err, PacketError::Tampered { .. }), "{err:?}");
    assert!(err.to_string().contains("R-2026-00000"));
}

#[test]
fn records_outside_the_consent_are_refused() {
    let (id, _) = keys();
    let mut inp = input(2, 0);
    inp.records[1].tier = "restricted".into();
    assert!(matches!(
        packet::build(&inp, &sender_key(), &id.to_public()),
        Err(PacketError::InvalidInput { .. })
    ));
}

#[test]
fn bad_attachment_names_are_refused() {
    let (id, _) = keys();
    for name in ["../x", ".hidden", "a/b", "", "x\u{0}y", &"长".repeat(40)] {
        let mut inp = input(1, 10);
        inp.attachments[0].name = name.into();
        assert!(
            packet::build(&inp, &sender_key(), &id.to_public()).is_err(),
            "{name:?}"
        );
    }
    let mut inp = input(1, 10);
    inp.attachments[1].name = inp.attachments[0].name.clone();
    assert!(packet::build(&inp, &sender_key(), &id.to_public()).is_err());
}

#[test]
fn build_is_deterministic_up_to_encryption() {
    let (id, _) = keys();
    let inp = input(4, 50);
    let key = sender_key();
    let r = id.to_public();
    let a = packet::prepare_with_id(&inp, &key, &r, "00".repeat(16)).unwrap();
    let b = packet::prepare_with_id(&inp, &key, &r, "00".repeat(16)).unwrap();
    assert_eq!(a.content_sha256(), b.content_sha256());
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn content_digest_is_the_manifest_text_without_its_receipt() {
    use sha2::{Digest, Sha256};
    let (id, _) = keys();
    let built = packet::build(&input(2, 10), &sender_key(), &id.to_public()).unwrap();
    let text = String::from_utf8(built.manifest.to_bytes()).unwrap();
    let cut = text.find(",\n  \"receipt\": {").unwrap();
    let without = format!("{}\n}}\n", &text[..cut]);
    let hex: String = Sha256::digest(without.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, built.content_sha256);
}

/// Encrypted to us, but the manifest was made for another agency.
#[test]
fn manifest_for_another_recipient_is_refused() {
    let (id, pk) = keys();
    let key = sender_key();
    let elsewhere = age::x25519::Identity::generate();
    let built = packet::build(&input(1, 0), &key, &elsewhere.to_public()).unwrap();
    let mut tar = Vec::new();
    age::Decryptor::new(&built.ciphertext[..])
        .unwrap()
        .decrypt(std::iter::once(&elsewhere as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut tar)
        .unwrap();
    let mut c = Vec::new();
    let mut w =
        age::Encryptor::with_recipients(std::iter::once(&id.to_public() as &dyn age::Recipient))
            .unwrap()
            .wrap_output(&mut c)
            .unwrap();
    w.write_all(&tar).unwrap();
    w.finish().unwrap();
    let sig = minisign::sign_detached(&key, &c, "x").unwrap();
    assert!(matches!(
        packet::open(&c, &sig, &pk, &id),
        Err(PacketError::WrongRecipient {
            manifest_names: Some(_)
        })
    ));
}

#[test]
fn messages_are_distinct_and_carry_no_attachment_names() {
    let errors = [
        PacketError::WrongRecipient {
            manifest_names: None,
        },
        PacketError::BadSignature,
        PacketError::Tampered {
            what: "records.md".into(),
        },
        PacketError::Malformed {
            part: packet::Part::Manifest,
            detail: "x".into(),
        },
        PacketError::UnsupportedVersion { found: "2".into() },
        PacketError::Replayed {
            packet_id: "ab".into(),
        },
    ];
    let texts: std::collections::HashSet<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(texts.len(), errors.len());
    // A tampered attachment is named by position.
    let (id, pk) = keys();
    let key = sender_key();
    let built = packet::build(&input(1, 64), &key, &id.to_public()).unwrap();
    let mut tar = Vec::new();
    age::Decryptor::new(&built.ciphertext[..])
        .unwrap()
        .decrypt(std::iter::once(&id as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut tar)
        .unwrap();
    let n = tar.len();
    tar[n - 1024 - 512 + 3] ^= 1; // inside the last attachment's data
    let mut c = Vec::new();
    let mut w =
        age::Encryptor::with_recipients(std::iter::once(&id.to_public() as &dyn age::Recipient))
            .unwrap()
            .wrap_output(&mut c)
            .unwrap();
    w.write_all(&tar).unwrap();
    w.finish().unwrap();
    let sig = minisign::sign_detached(&key, &c, "x").unwrap();
    let err = packet::open(&c, &sig, &pk, &id).unwrap_err();
    assert!(matches!(err, PacketError::Tampered { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("#2") && !msg.contains("consent-scan"), "{msg}");
}
