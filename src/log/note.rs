//! C2SP signed-note checkpoints (c2sp.org/tlog-checkpoint, c2sp.org/signed-note).
//!
//! A checkpoint is the text `<origin>\n<size>\n<base64 root>\n` followed by a blank line and
//! signature lines `— <key name> <base64(key id ‖ Ed25519 signature)>`. The key name is the
//! log's origin. Parsing is strict: anything our own signer would not produce is refused,
//! except additional signature lines by other keys (cosigners), which are ignored.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::error::NoteError;
use super::merkle::Hash;

/// Signature type byte of Ed25519 in signed notes.
const ALG_ED25519: u8 = 0x01;
/// Notes larger than this are refused before any parsing.
pub(crate) const MAX_NOTE: usize = 16 * 1024;
/// At most this many signature lines (the Go reference's limit).
const MAX_SIGS: usize = 100;
/// The em dash and space that start every signature line.
const SIG_PREFIX: &str = "\u{2014} ";

/// The signed statement "the log `origin` had `size` entries with this `root`".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The note text that is signed.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parses a checkpoint body strictly (exactly three lines, canonical size and root).
    pub fn parse_body(text: &str) -> Result<Checkpoint, NoteError> {
        let Some(text) = text.strip_suffix('\n') else {
            return Err(NoteError::BadBody("newline"));
        };
        let lines: Vec<&str> = text.split('\n').collect();
        let [origin, size, root] = lines[..] else {
            return Err(NoteError::BadBody("lines"));
        };
        if !valid_key_name(origin) {
            return Err(NoteError::BadBody("origin"));
        }
        let size_ok = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size: u64 = match size.parse() {
            Ok(s) if size_ok => s,
            _ => return Err(NoteError::BadBody("size")),
        };
        let root_bytes = B64.decode(root).map_err(|_| NoteError::BadBody("root"))?;
        let root: Hash = root_bytes
            .try_into()
            .map_err(|_| NoteError::BadBody("root"))?;
        if B64.encode(root) != lines[2] {
            return Err(NoteError::BadBody("root"));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }

    /// The signed note for this checkpoint, signed by the agency log key under the origin.
    pub fn sign(&self, log_key: &SigningKey) -> String {
        let body = self.body();
        let sig = log_key.sign(body.as_bytes());
        let mut blob = key_id(&self.origin, &log_key.verifying_key()).to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        format!("{body}\n{SIG_PREFIX}{} {}\n", self.origin, B64.encode(blob))
    }

    /// The signed note signed by every key of `keys` under the origin, in that order (a key
    /// handover carries the current checkpoint key's signature and the new one's).
    pub fn sign_all(&self, keys: &[&SigningKey]) -> String {
        let body = self.body();
        let mut out = format!("{body}\n");
        for k in keys {
            let mut blob = key_id(&self.origin, &k.verifying_key()).to_vec();
            blob.extend_from_slice(&k.sign(body.as_bytes()).to_bytes());
            out.push_str(&format!(
                "{SIG_PREFIX}{} {}\n",
                self.origin,
                B64.encode(blob)
            ));
        }
        out
    }

    /// The handover note from `old` to `new` (both the current checkpoint key's and the new
    /// one's signature under the origin), followed by a line under the key name
    /// [`NEXT_KEY_NAME`] carrying the new key's id and public key (`0x01 ‖ key`), so any
    /// verifier that follows the chain learns the key the current one vouches for. Verifiers
    /// that do not know that name ignore the line, as signed-note requires.
    pub fn sign_handover(&self, old: &SigningKey, new: &SigningKey) -> String {
        let mut note = self.sign_all(&[old, new]);
        let mut blob = key_id(&self.origin, &new.verifying_key()).to_vec();
        blob.push(ALG_ED25519);
        blob.extend_from_slice(new.verifying_key().as_bytes());
        note.push_str(&format!(
            "{SIG_PREFIX}{NEXT_KEY_NAME} {}\n",
            B64.encode(blob)
        ));
        note
    }

    /// Parses `note` and checks it carries a valid signature by `key` and names `key`'s
    /// log as its origin.
    pub fn open(note: &str, key: &VerifierKey) -> Result<Checkpoint, NoteError> {
        let (body, sigs) = split_note(note)?;
        let cp = Checkpoint::parse_body(body)?;
        if cp.origin != key.name {
            return Err(NoteError::WrongOrigin {
                expected: key.name.clone(),
                found: cp.origin,
            });
        }
        // As in the Go reference, the first line by our (name, key id) decides.
        let sig = sigs
            .iter()
            .find(|s| s.name == key.name && s.id == key.id)
            .ok_or_else(|| NoteError::NotSignedByKey(key.name.clone()))?;
        let sig = Signature::from_slice(&sig.sig)
            .map_err(|_| NoteError::SignatureFails(key.name.clone()))?;
        key.key
            .verify_strict(body.as_bytes(), &sig)
            .map_err(|_| NoteError::SignatureFails(key.name.clone()))?;
        Ok(cp)
    }

    /// Parses `note` without checking signatures (for display and error messages only).
    pub fn parse_unverified(note: &str) -> Result<Checkpoint, NoteError> {
        let (body, _) = split_note(note)?;
        Checkpoint::parse_body(body)
    }
}

/// The key name of the line of a handover note that names the new checkpoint key.
pub const NEXT_KEY_NAME: &str = "casevault-next-checkpoint-key";

/// The checkpoint keys the handover lines of `note` name (unverified: a key named here is
/// only a candidate until the current key's signature vouches for the note).
pub(super) fn named_next_keys(note: &str, origin: &str) -> Vec<VerifierKey> {
    let Ok((_, sigs)) = split_note(note) else {
        return Vec::new();
    };
    sigs.iter()
        .filter(|s| s.name == NEXT_KEY_NAME && s.sig.len() == 33 && s.sig[0] == ALG_ED25519)
        .filter_map(|s| {
            let pk: [u8; 32] = s.sig[1..].try_into().ok()?;
            let vk = VerifierKey::new(origin, VerifyingKey::from_bytes(&pk).ok()?);
            (vk.id == s.id).then_some(vk)
        })
        .collect()
}

/// One parsed signature line.
pub(super) struct SigLine<'a> {
    pub(super) name: &'a str,
    pub(super) id: [u8; 4],
    pub(super) sig: Vec<u8>,
}

/// Splits a note into its signed text and its signature lines, checking the syntax.
pub(super) fn split_note(note: &str) -> Result<(&str, Vec<SigLine<'_>>), NoteError> {
    if note.len() > MAX_NOTE || note.chars().any(|c| c.is_ascii_control() && c != '\n') {
        return Err(NoteError::Malformed);
    }
    let split = note.rfind("\n\n").ok_or(NoteError::NoSignatures)?;
    let (body, sigs) = (&note[..split + 1], &note[split + 2..]);
    let Some(sigs) = sigs.strip_suffix('\n') else {
        return Err(NoteError::NoSignatures);
    };
    if sigs.is_empty() {
        return Err(NoteError::NoSignatures);
    }
    let mut out = Vec::new();
    for (i, line) in sigs.split('\n').enumerate() {
        if i >= MAX_SIGS {
            return Err(NoteError::Malformed);
        }
        let bad = || NoteError::BadSignatureLine(i + 1);
        let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(bad)?;
        let (name, b64) = rest.split_once(' ').ok_or_else(bad)?;
        if !valid_key_name(name) {
            return Err(bad());
        }
        let blob = B64.decode(b64).map_err(|_| bad())?;
        if blob.len() < 5 {
            return Err(bad());
        }
        let mut id = [0u8; 4];
        id.copy_from_slice(&blob[..4]);
        out.push(SigLine {
            name,
            id,
            sig: blob[4..].to_vec(),
        });
    }
    Ok((body, out))
}

/// A key name: non-empty, no Unicode white space, no `+`.
pub(super) fn valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// First 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key).
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A parsed verifier key `<name>+<key id hex>+<base64(0x01 ‖ public key)>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierKey {
    pub name: String,
    pub id: [u8; 4],
    pub key: VerifyingKey,
}

impl VerifierKey {
    /// The verifier key of the log `origin` signed by `key`.
    pub fn new(origin: &str, key: VerifyingKey) -> VerifierKey {
        VerifierKey {
            name: origin.to_string(),
            id: key_id(origin, &key),
            key,
        }
    }

    /// Parses and checks a verifier key string (the key id must match the key).
    pub fn parse(s: &str) -> Result<VerifierKey, NoteError> {
        let mut parts = s.trim_end_matches('\n').splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadVerifierKey("parts"));
        };
        if !valid_key_name(name) {
            return Err(NoteError::BadVerifierKey("name"));
        }
        if id_hex.len() != 8
            || !id_hex
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(NoteError::BadVerifierKey("key id"));
        }
        let raw = B64
            .decode(key_b64)
            .map_err(|_| NoteError::BadVerifierKey("base64"))?;
        let [ALG_ED25519, pk @ ..] = raw.as_slice() else {
            return Err(NoteError::BadVerifierKey("algorithm"));
        };
        let pk: [u8; 32] = pk
            .try_into()
            .map_err(|_| NoteError::BadVerifierKey("length"))?;
        let key = VerifyingKey::from_bytes(&pk).map_err(|_| NoteError::BadVerifierKey("point"))?;
        let vk = VerifierKey::new(name, key);
        if hex4(&vk.id) != id_hex {
            return Err(NoteError::BadVerifierKey("key id"));
        }
        Ok(vk)
    }

    /// The string form, as handed to auditors.
    pub fn encode(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, hex4(&self.id), B64.encode(raw))
    }
}

pub(super) fn hex4(id: &[u8; 4]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[42; 32])
    }

    fn cp() -> Checkpoint {
        Checkpoint {
            origin: "agency.example/casevault-log".into(),
            size: 12,
            root: [5; 32],
        }
    }

    #[test]
    fn sign_and_open() {
        let note = cp().sign(&key());
        let vk = VerifierKey::new(&cp().origin, key().verifying_key());
        assert_eq!(Checkpoint::open(&note, &vk).unwrap(), cp());
        let parsed = VerifierKey::parse(&vk.encode()).unwrap();
        assert_eq!(parsed, vk);
    }

    #[test]
    fn refuses_tampering() {
        let note = cp().sign(&key());
        let vk = VerifierKey::new(&cp().origin, key().verifying_key());
        let changed = note.replace("\n12\n", "\n13\n");
        assert_eq!(
            Checkpoint::open(&changed, &vk),
            Err(NoteError::SignatureFails(vk.name.clone()))
        );
        let other = VerifierKey::new(
            &cp().origin,
            SigningKey::from_bytes(&[1; 32]).verifying_key(),
        );
        assert!(matches!(
            Checkpoint::open(&note, &other),
            Err(NoteError::NotSignedByKey(_))
        ));
        assert!(Checkpoint::open(&note.replace("\n12\n", "\n012\n"), &vk).is_err());
        assert!(Checkpoint::open(&note.replace('\u{2014}', "-"), &vk).is_err());
        assert!(Checkpoint::open(note.trim_end(), &vk).is_err());
    }

    #[test]
    fn verifier_key_checks_id() {
        let vk = VerifierKey::new("o", key().verifying_key()).encode();
        let bad = vk.replacen('+', "+0", 1);
        assert!(VerifierKey::parse(&bad).is_err());
        assert!(VerifierKey::parse("o+00000000+AQ==").is_err());
    }
}
