//! C2SP tlog-cosignature/v1 (Ed25519, signature type 0x04): a witness's timestamped statement
//! that a checkpoint is the largest consistent one it has seen for the log.
//!
//! A cosignature is one more signed-note line on the checkpoint:
//! `— <witness name> base64(key id ‖ u64 BE timestamp ‖ Ed25519 signature)`, where the
//! signature covers `cosignature/v1\ntime <T>\n` followed by the checkpoint body, and the key
//! id is `SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key)[:4]`. The log's own verifier ignores these
//! lines (unknown signers), so a cosigned checkpoint opens exactly like a plain one.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::error::NoteError;
use super::note::{hex4, split_note, valid_key_name};

/// Signature type byte of tlog-cosignature/v1 (Ed25519).
pub const ALG_COSIGNATURE_V1: u8 = 0x04;
/// Length of the signature field: u64 timestamp ‖ 64-byte Ed25519 signature.
const TIMESTAMPED_LEN: usize = 8 + 64;

/// `SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4]`.
pub fn cosigner_key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_COSIGNATURE_V1]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The message a cosigner signs for checkpoint `body` at `time`.
pub fn cosigned_message(body: &str, time: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {time}\n{body}").into_bytes()
}

/// A witness's public key: `<name>+<hex key id>+<base64(0x04 ‖ key)>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignerKey {
    pub name: String,
    pub id: [u8; 4],
    pub key: VerifyingKey,
}

impl CosignerKey {
    /// The cosigner key named `name` for `key`.
    pub fn new(name: &str, key: VerifyingKey) -> CosignerKey {
        CosignerKey {
            name: name.to_string(),
            id: cosigner_key_id(name, &key),
            key,
        }
    }

    /// Parses a vkey of type 0x04 and checks that its key id matches.
    pub fn parse(s: &str) -> Result<CosignerKey, NoteError> {
        let mut parts = s.trim().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadVerifierKey("parts"));
        };
        if !valid_key_name(name) {
            return Err(NoteError::BadVerifierKey("name"));
        }
        let raw = B64
            .decode(key_b64)
            .map_err(|_| NoteError::BadVerifierKey("base64"))?;
        let [ALG_COSIGNATURE_V1, pk @ ..] = raw.as_slice() else {
            return Err(NoteError::BadVerifierKey("algorithm"));
        };
        let pk: [u8; 32] = pk
            .try_into()
            .map_err(|_| NoteError::BadVerifierKey("length"))?;
        let key = VerifyingKey::from_bytes(&pk).map_err(|_| NoteError::BadVerifierKey("point"))?;
        let ck = CosignerKey::new(name, key);
        if hex4(&ck.id) != id_hex {
            return Err(NoteError::BadVerifierKey("key id"));
        }
        Ok(ck)
    }

    /// The vkey string.
    pub fn encode(&self) -> String {
        let mut raw = vec![ALG_COSIGNATURE_V1];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, hex4(&self.id), B64.encode(raw))
    }

    /// Checks one cosignature line (`— name base64`, with or without its newline) on the
    /// checkpoint `body`; returns the cosignature's timestamp.
    pub fn verify_line(&self, body: &str, line: &str) -> Result<u64, NoteError> {
        let fails = || NoteError::SignatureFails(self.name.clone());
        let rest = line
            .trim_end_matches('\n')
            .strip_prefix("\u{2014} ")
            .ok_or(NoteError::BadSignatureLine(1))?;
        let (name, b64) = rest.split_once(' ').ok_or(NoteError::BadSignatureLine(1))?;
        let blob = B64
            .decode(b64)
            .map_err(|_| NoteError::BadSignatureLine(1))?;
        if name != self.name || blob.len() < 4 || blob[..4] != self.id {
            return Err(NoteError::NotSignedByKey(self.name.clone()));
        }
        if blob.len() != 4 + TIMESTAMPED_LEN {
            return Err(fails());
        }
        let time = u64::from_be_bytes(blob[4..12].try_into().map_err(|_| fails())?);
        if time > i64::MAX as u64 {
            return Err(fails());
        }
        let sig = Signature::from_slice(&blob[12..]).map_err(|_| fails())?;
        self.key
            .verify_strict(&cosigned_message(body, time), &sig)
            .map_err(|_| fails())?;
        Ok(time)
    }
}

/// Makes the cosignature line (ending in `\n`) of `name`/`key` on checkpoint `body` at `time`.
pub fn cosign(body: &str, name: &str, key: &SigningKey, time: u64) -> String {
    let sig = key.sign(&cosigned_message(body, time));
    let mut blob = cosigner_key_id(name, &key.verifying_key()).to_vec();
    blob.extend_from_slice(&time.to_be_bytes());
    blob.extend_from_slice(&sig.to_bytes());
    format!("\u{2014} {name} {}\n", B64.encode(blob))
}

/// The checkpoint body (text before the blank line) of a signed note.
pub fn note_body(note: &str) -> Result<&str, NoteError> {
    Ok(split_note(note)?.0)
}

/// The witnesses among `keys` with a valid cosignature on `note`, each counted once.
pub fn cosigners<'k>(note: &str, keys: &'k [CosignerKey]) -> Vec<&'k CosignerKey> {
    let Ok((body, _)) = split_note(note) else {
        return Vec::new();
    };
    let lines: Vec<&str> = note[body.len() + 1..].lines().collect();
    keys.iter()
        .filter(|k| lines.iter().any(|l| k.verify_line(body, l).is_ok()))
        .collect()
}

/// `note` with the signature `lines` appended (each ending in `\n`), skipping lines it
/// already carries.
pub fn with_lines(note: &str, lines: &[String]) -> String {
    let mut out = note.to_string();
    for l in lines {
        let l = if l.ends_with('\n') {
            l.clone()
        } else {
            format!("{l}\n")
        };
        if !out.contains(&l) {
            out.push_str(&l);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Checkpoint;

    #[test]
    fn cosign_verify_and_ignore() {
        let log = SigningKey::from_bytes(&[1; 32]);
        let w = SigningKey::from_bytes(&[2; 32]);
        let cp = Checkpoint {
            origin: "o.example/log".into(),
            size: 3,
            root: [7; 32],
        };
        let note = cp.sign(&log);
        let line = cosign(&cp.body(), "w.example/w1", &w, 1_700_000_000);
        let ck = CosignerKey::new("w.example/w1", w.verifying_key());
        assert_eq!(CosignerKey::parse(&ck.encode()).unwrap(), ck);
        assert_eq!(ck.verify_line(&cp.body(), &line).unwrap(), 1_700_000_000);
        let both = with_lines(&note, std::slice::from_ref(&line));
        assert_eq!(cosigners(&both, std::slice::from_ref(&ck)).len(), 1);
        // The log's own verifier ignores the cosignature.
        let vk = crate::log::VerifierKey::new(&cp.origin, log.verifying_key());
        assert_eq!(Checkpoint::open(&both, &vk).unwrap(), cp);
        // Another body does not verify.
        let other = Checkpoint { size: 4, ..cp };
        assert!(ck.verify_line(&other.body(), &line).is_err());
        // A type-0x01 key is not a cosigner key.
        assert!(CosignerKey::parse(&vk.encode()).is_err());
    }
}
