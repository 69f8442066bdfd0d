//! Property tests: the parsers never panic on arbitrary bytes and never accept a changed
//! packet. Cases: `PROPTEST_CASES` (default 2000) for the parsers, a quarter of that for the
//! full `open` pipeline, which encrypts and signs per case.

mod packet_common;

use std::io::{Read, Write};
use std::sync::OnceLock;

use casevault::packet::{self, minisign, parse_bundle, BuiltPacket, Manifest, PublicKey};
use packet_common::{input, sender_key};
use proptest::prelude::*;

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cheap() -> ProptestConfig {
    ProptestConfig::with_cases(cases(2000))
}

fn costly() -> ProptestConfig {
    ProptestConfig::with_cases((cases(2000) / 4).max(1))
}

struct Fixture {
    identity: age::x25519::Identity,
    sender: PublicKey,
    built: BuiltPacket,
    bundle: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let identity = age::x25519::Identity::generate();
        let built = packet::build(&input(2, 300), &sender_key(), &identity.to_public()).unwrap();
        let mut bundle = Vec::new();
        age::Decryptor::new(&built.ciphertext[..])
            .unwrap()
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .unwrap()
            .read_to_end(&mut bundle)
            .unwrap();
        Fixture {
            sender: PublicKey::from_signing_key(&sender_key()),
            identity,
            built,
            bundle,
        }
    })
}

/// Flips bits in one byte; `xor` is never 0 so the result always differs.
fn flip(bytes: &[u8], pos: usize, xor: u8) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let i = pos % b.len();
    b[i] ^= xor;
    b
}

/// Byte range of `name`'s data in our tar (header before it, 512-byte padding).
fn entry_range(tar: &[u8], name: &str) -> std::ops::Range<usize> {
    let mut pos = 0;
    loop {
        let h = &tar[pos..pos + 512];
        let n = &h[..h.iter().position(|&b| b == 0).unwrap_or(100)];
        let size = usize::from_str_radix(std::str::from_utf8(&h[124..135]).unwrap(), 8).unwrap();
        if n == name.as_bytes() {
            return pos + 512..pos + 512 + size;
        }
        pos += 512 + size.div_ceil(512) * 512;
    }
}

fn reseal(bundle: &[u8], f: &Fixture) -> (Vec<u8>, String) {
    let mut c = Vec::new();
    let mut w = age::Encryptor::with_recipients(std::iter::once(
        &f.identity.to_public() as &dyn age::Recipient
    ))
    .unwrap()
    .wrap_output(&mut c)
    .unwrap();
    w.write_all(bundle).unwrap();
    w.finish().unwrap();
    let sig = minisign::sign_detached(&sender_key(), &c, "resealed").unwrap();
    (c, sig)
}

proptest! {
    #![proptest_config(cheap())]

    #[test]
    fn minisign_parsers_never_panic(text in ".{0,400}", bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let f = fixture();
        let _ = minisign::verify_detached(&f.sender, b"m", &text);
        let _ = PublicKey::parse(&text);
        let _ = minisign::parse_secret_key_file(&text);
        let lossy = String::from_utf8_lossy(&bytes);
        let _ = minisign::verify_detached(&f.sender, &bytes, &lossy);
    }

    #[test]
    fn changed_signature_text_never_verifies(pos in any::<usize>(), xor in 1u8..) {
        let f = fixture();
        let sig = f.built.minisig.as_bytes();
        // The first line is the untrusted comment: unsigned by design, so left alone.
        let start = sig.iter().position(|&b| b == b'\n').unwrap() + 1;
        let mut changed = sig.to_vec();
        let i = start + pos % (sig.len() - start);
                changed[i] ^= xor;
        // Turning the final newline into another line-end character changes nothing signed
        // (line endings are not part of any signed text).
        let only_line_end = changed.trim_ascii_end() == sig.trim_ascii_end();
        if let (Ok(text), false) = (std::str::from_utf8(&changed), only_line_end) {
            prop_assert!(packet::verify_signature(&f.built.ciphertext, text, &f.sender).is_err());
        }
    }

    #[test]
    fn changed_ciphertext_never_verifies(pos in any::<usize>(), xor in 1u8..) {
        let f = fixture();
        let c = flip(&f.built.ciphertext, pos, xor);
        prop_assert!(packet::verify_signature(&c, &f.built.minisig, &f.sender).is_err());
    }

    #[test]
    fn bundle_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..3000), blocks in 0usize..12) {
        let _ = parse_bundle(&bytes);
        // Also random bytes laid over a valid prefix, to get past the first header.
        let f = fixture();
        let cut = (blocks * 512).min(f.bundle.len());
        let mut mixed = f.bundle[..cut].to_vec();
        mixed.extend_from_slice(&bytes);
        let _ = parse_bundle(&mixed);
    }

    #[test]
    fn bundle_structure_changes_are_refused(pos in any::<usize>(), xor in 1u8..) {
        // Bytes outside any entry's data (headers, padding, end blocks) are all checked.
        let f = fixture();
        let i = pos % f.bundle.len();
        let in_data = ["manifest.json", "records.json", "records.md", "receipt.json",
            "attachments/a-note.txt", "attachments/转介同意书扫描 consent-scan.pdf"]
            .iter()
            .any(|n| entry_range(&f.bundle, n).contains(&i));
        if !in_data {
            prop_assert!(parse_bundle(&flip(&f.bundle, i, xor)).is_err());
        }
    }

    #[test]
    fn manifest_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000), text in "\\PC{0,300}") {
        let _ = Manifest::parse(&bytes);
        let _ = Manifest::parse(text.as_bytes());
    }

    #[test]
    fn changed_manifest_is_refused_or_visibly_different(pos in any::<usize>(), xor in 1u8..) {
        let f = fixture();
        let original = f.built.manifest.to_bytes();
        match Manifest::parse(&flip(&original, pos, xor)) {
            Err(_) => {}
            Ok(m) => prop_assert_ne!(m, f.built.manifest.clone()),
        }
    }
}

proptest! {
    #![proptest_config(costly())]

    #[test]
    fn open_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..2000), sig in ".{0,300}") {
        let f = fixture();
        let _ = packet::open(&bytes, &sig, &f.sender, &f.identity);
        let _ = packet::open(&bytes, &f.built.minisig, &f.sender, &f.identity);
    }

    /// Even with the sender's key re-signing a changed bundle, every byte outside
    /// manifest.json is covered by a manifest hash or the layout checks, and a change
    /// inside manifest.json shows in the opened manifest.
    #[test]
    fn resealed_changes_never_pass_unnoticed(pos in any::<usize>(), xor in 1u8..) {
        let f = fixture();
        let i = pos % f.bundle.len();
        let (c, sig) = reseal(&flip(&f.bundle, i, xor), f);
        match packet::open(&c, &sig, &f.sender, &f.identity) {
            Err(_) => {}
            Ok(opened) => {
                prop_assert!(entry_range(&f.bundle, "manifest.json").contains(&i));
                prop_assert_ne!(opened.manifest, f.built.manifest.clone());
            }
        }
    }
}
