//! An independent verifier written from c2sp.org/signed-note and c2sp.org/tlog-checkpoint,
//! sharing no code with `src/log`, accepts our checkpoints and refuses tampered ones.

mod log_common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use log_common::*;
use sha2::{Digest, Sha256};

/// Returns (origin, size, root) if `note` is a checkpoint validly signed by `vkey`.
fn spec_verify(note: &str, vkey: &str) -> Option<(String, u64, [u8; 32])> {
    // Verifier key: <name>+<hex key id>+<base64(type ‖ key)>.
    let mut parts = vkey.splitn(3, '+');
    let name = parts.next()?;
    let id_hex = parts.next()?;
    let key_raw = STANDARD.decode(parts.next()?).ok()?;
    if key_raw.len() != 33 || key_raw[0] != 0x01 {
        return None;
    }
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0A]);
    h.update(&key_raw);
    let id: [u8; 4] = h.finalize()[..4].try_into().ok()?;
    let want_hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    if want_hex != id_hex {
        return None;
    }
    let key = VerifyingKey::from_bytes(key_raw[1..].try_into().ok()?).ok()?;

    // Note: text ending in "\n", a blank line, then signature lines each ending in "\n".
    let split = note.rfind("\n\n")?;
    let text = &note[..split + 1];
    let sigs = note[split + 2..].strip_suffix('\n')?;
    let mut verified = false;
    for line in sigs.split('\n') {
        let rest = line.strip_prefix("\u{2014} ")?;
        let (sig_name, b64) = rest.split_once(' ')?;
        let blob = STANDARD.decode(b64).ok()?;
        if sig_name == name && blob.len() == 68 && blob[..4] == id {
            let sig = Signature::from_slice(&blob[4..]).ok()?;
            key.verify_strict(text.as_bytes(), &sig).ok()?;
            verified = true;
        }
    }
    if !verified {
        return None;
    }
    // Checkpoint body: origin, decimal size, base64 root hash.
    let mut lines = text.strip_suffix('\n')?.split('\n');
    let origin = lines.next()?.to_string();
    let size: u64 = lines.next()?.parse().ok()?;
    let root: [u8; 32] = STANDARD.decode(lines.next()?).ok()?.try_into().ok()?;
    if origin != name {
        return None;
    }
    Some((origin, size, root))
}

/// RFC 6962 root computed independently over the exported stored entries.
fn spec_root(leaves: &[Vec<u8>]) -> [u8; 32] {
    fn mth(d: &[Vec<u8>]) -> [u8; 32] {
        match d.len() {
            0 => Sha256::digest(b"").into(),
            1 => {
                let mut h = Sha256::new();
                h.update([0]);
                h.update(&d[0]);
                h.finalize().into()
            }
            n => {
                let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
                let mut h = Sha256::new();
                h.update([1]);
                h.update(mth(&d[..k]));
                h.update(mth(&d[k..]));
                h.finalize().into()
            }
        }
    }
    mth(leaves)
}

#[test]
fn independent_verifier_accepts_our_checkpoints_and_refuses_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("vault.db"));
    let receipts = populated(&mut conn, 9);
    let vk = std::fs::read_to_string({
        let out = dir.path().join("export");
        casevault::log::export(&conn, &out).unwrap();
        out.join("verifier-key.txt")
    })
    .unwrap();
    let vk = vk.trim();

    // The exported entries file, parsed by hand: u32 BE length ‖ stored entry.
    let raw = std::fs::read(dir.path().join("export/entries.bin")).unwrap();
    let mut leaves = Vec::new();
    let mut rest = &raw[..];
    while !rest.is_empty() {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        leaves.push(rest[4..4 + len].to_vec());
        rest = &rest[4 + len..];
    }

    for (i, r) in receipts.iter().enumerate() {
        let (origin, size, root) = spec_verify(&r.checkpoint, vk).expect("spec verifier accepts");
        assert_eq!(origin, ORIGIN);
        assert_eq!(size, i as u64 + 1);
        assert_eq!(root, spec_root(&leaves[..=i]));
    }

    let note = &receipts.last().unwrap().checkpoint;
    let tampered = [
        note.replacen("\n12\n", "\n11\n", 1),
        note.replacen(ORIGIN, "other.example/log", 1),
        note.replacen('\u{2014}', "-", 1),
        {
            let mut n = note.clone();
            n.insert_str(note.find("\n\n").unwrap(), "\nextra");
            n
        },
        note.replace("\n\n", "\n"),
    ];
    for t in &tampered {
        assert!(spec_verify(t, vk).is_none(), "spec verifier accepted:\n{t}");
        let key = casevault::log::VerifierKey::parse(vk).unwrap();
        assert!(
            casevault::log::Checkpoint::open(t, &key).is_err(),
            "library accepted:\n{t}"
        );
    }
    let other = casevault::log::verifier_key(
        ORIGIN,
        &ed25519_dalek::SigningKey::from_bytes(&[3; 32]).verifying_key(),
    );
    assert!(spec_verify(note, &other).is_none());
}
