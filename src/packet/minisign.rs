//! The minisign file formats (jedisct1/minisign), so that partners can check our signatures
//! with the stock `minisign -V` and sign with `minisign -S` using keys we generate.
//!
//! Layouts (all base64 is standard, padded):
//! - public key: `"Ed" ‖ key id (8) ‖ Ed25519 public key (32)`;
//! - signature: `"ED" ‖ key id ‖ Ed25519(BLAKE2b-512(message))` (legacy `"Ed"` signs the message
//!   itself), then a global signature over `signature (64) ‖ trusted comment bytes`;
//! - secret key: `"Ed" ‖ kdf ‖ "B2" ‖ salt (32) ‖ opslimit (8) ‖ memlimit (8) ‖ key id ‖
//!   Ed25519 secret (64) ‖ BLAKE2b-256 checksum (32)`; we only read and write kdf = `00 00`
//!   (unencrypted, as `minisign -W` writes).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use blake2::digest::consts::U32;
use blake2::{Blake2b, Blake2b512, Digest};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use secrecy::SecretString;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{PacketError, Part, MAX_SIGNATURE_TEXT_BYTES};

const UNTRUSTED_PREFIX: &str = "untrusted comment: ";
const TRUSTED_PREFIX: &str = "trusted comment: ";
/// minisign's limits: untrusted comment line and trusted comment, in bytes.
const COMMENT_MAX: usize = 1024;
const TRUSTED_COMMENT_MAX: usize = 8192;
const SECRET_KEY_LEN: usize = 2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + 32;

/// A minisign key id: 8 bytes, shown as minisign shows it (hex of the little-endian u64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// Our deterministic key id for an Ed25519 key: the first 8 bytes of SHA-256(public key).
    /// (Stock `minisign -G` picks random ids; those are read from the key text instead.)
    pub fn derive(key: &VerifyingKey) -> Self {
        let digest = Sha256::digest(key.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }
}

impl std::fmt::Display for KeyId {
    /// As `minisign` prints it: 16 uppercase hex digits of the little-endian u64.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

/// A minisign public key: Ed25519 key plus the key id signatures must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    pub key_id: KeyId,
    pub key: VerifyingKey,
}

impl PublicKey {
    /// The public key of `key` with our derived key id.
    pub fn from_signing_key(key: &SigningKey) -> Self {
        let key = key.verifying_key();
        PublicKey {
            key_id: KeyId::derive(&key),
            key,
        }
    }

    /// The bare base64 line, as passed to `minisign -V -P`.
    pub fn to_base64(&self) -> String {
        let mut raw = Vec::with_capacity(42);
        raw.extend_from_slice(b"Ed");
        raw.extend_from_slice(&self.key_id.0);
        raw.extend_from_slice(self.key.as_bytes());
        B64.encode(raw)
    }

    /// The two-line `.pub` file, as `minisign -G` writes it.
    pub fn to_file(&self) -> String {
        format!(
            "{UNTRUSTED_PREFIX}minisign public key {}\n{}\n",
            self.key_id,
            self.to_base64()
        )
    }

    /// Reads either the bare base64 line or the two-line `.pub` file (surrounding whitespace
    /// and CRLF tolerated, nothing else).
    pub fn parse(text: &str) -> Result<Self, PacketError> {
        let bad = |d: &str| PacketError::malformed(Part::PublicKey, d);
        if text.len() > 2 * COMMENT_MAX {
            return Err(bad("too long"));
        }
        let lines: Vec<&str> = text
            .trim()
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .collect();
        let line = match lines.as_slice() {
            [one] => *one,
            [comment, one] if comment.starts_with(UNTRUSTED_PREFIX) => *one,
            _ => {
                return Err(bad(
                    "expected a base64 line, optionally after an untrusted comment",
                ))
            }
        };
        let raw = B64.decode(line.trim()).map_err(|_| bad("not base64"))?;
        if raw.len() != 42 {
            return Err(bad("wrong length"));
        }
        if &raw[..2] != b"Ed" {
            return Err(bad("not an Ed25519 key"));
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&raw[2..10]);
        let mut pk = [0u8; 32];
        pk.copy_from_slice(&raw[10..42]);
        let key = VerifyingKey::from_bytes(&pk).map_err(|_| bad("not a valid Ed25519 point"))?;
        if key.is_weak() {
            return Err(bad("weak (small-order) key"));
        }
        Ok(PublicKey {
            key_id: KeyId(id),
            key,
        })
    }
}

/// BLAKE2b-512 of the message: what an `ED` (prehashed) signature signs.
fn prehash(msg: &[u8]) -> [u8; 64] {
    Blake2b512::digest(msg).into()
}

/// A detached `.minisig` text by `key` (key id derived with [`KeyId::derive`]), prehashed
/// (`ED`) as current minisign does. `trusted_comment` must be one line; it is signed.
pub fn sign_detached(
    key: &SigningKey,
    msg: &[u8],
    trusted_comment: &str,
) -> Result<String, PacketError> {
    sign_detached_with_id(
        key,
        KeyId::derive(&key.verifying_key()),
        msg,
        trusted_comment,
    )
}

/// As [`sign_detached`], with an explicit key id (for keys made by stock `minisign -G`).
pub fn sign_detached_with_id(
    key: &SigningKey,
    key_id: KeyId,
    msg: &[u8],
    trusted_comment: &str,
) -> Result<String, PacketError> {
    if trusted_comment.contains(['\n', '\r']) || trusted_comment.len() > TRUSTED_COMMENT_MAX - 1 {
        return Err(PacketError::invalid(
            "trusted comment must be one line under 8 KiB",
        ));
    }
    let sig = key.sign(&prehash(msg)).to_bytes();
    let mut sig_struct = Vec::with_capacity(74);
    sig_struct.extend_from_slice(b"ED");
    sig_struct.extend_from_slice(&key_id.0);
    sig_struct.extend_from_slice(&sig);
    let mut global_msg = sig.to_vec();
    global_msg.extend_from_slice(trusted_comment.as_bytes());
    let global = key.sign(&global_msg).to_bytes();
    Ok(format!(
        "{UNTRUSTED_PREFIX}signature from casevault key {key_id}\n{}\n{TRUSTED_PREFIX}{trusted_comment}\n{}\n",
        B64.encode(sig_struct),
        B64.encode(global)
    ))
}

/// Checks a `.minisig` text over `msg` with `pubkey`; returns the (verified) trusted comment.
///
/// Strict: exactly four lines (CRLF tolerated, a final newline optional), comment prefixes as
/// minisign writes them, canonical base64, the key id of `pubkey`, and both signatures checked
/// with `verify_strict`. Accepts prehashed `ED` and legacy `Ed` signatures.
pub fn verify_detached(
    pubkey: &PublicKey,
    msg: &[u8],
    sig_text: &str,
) -> Result<String, PacketError> {
    let bad = |d: &str| PacketError::malformed(Part::Signature, d);
    if sig_text.len() > MAX_SIGNATURE_TEXT_BYTES {
        return Err(bad("too long"));
    }
    let body = sig_text.strip_suffix('\n').unwrap_or(sig_text);
    let lines: Vec<&str> = body
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let [untrusted, sig_line, trusted, global_line] = lines.as_slice() else {
        return Err(bad("expected exactly four lines"));
    };
    if !untrusted.starts_with(UNTRUSTED_PREFIX) || untrusted.len() >= COMMENT_MAX {
        return Err(bad("first line must be an untrusted comment"));
    }
    let Some(comment) = trusted.strip_prefix(TRUSTED_PREFIX) else {
        return Err(bad("third line must be a trusted comment"));
    };
    if comment.len() >= TRUSTED_COMMENT_MAX || comment.contains('\r') {
        return Err(bad("trusted comment too long"));
    }
    let sig_struct = B64
        .decode(sig_line)
        .map_err(|_| bad("signature is not base64"))?;
    if sig_struct.len() != 74 {
        return Err(bad("signature has the wrong length"));
    }
    let global = B64
        .decode(global_line)
        .map_err(|_| bad("global signature is not base64"))?;
    let global: [u8; 64] = global
        .try_into()
        .map_err(|_| bad("global signature has the wrong length"))?;
    let prehashed = match &sig_struct[..2] {
        b"ED" => true,
        b"Ed" => false,
        _ => return Err(bad("unknown signature algorithm")),
    };
    let mut id = [0u8; 8];
    id.copy_from_slice(&sig_struct[2..10]);
    if KeyId(id) != pubkey.key_id {
        return Err(PacketError::WrongSigner {
            expected: pubkey.key_id.to_string(),
            found: KeyId(id).to_string(),
        });
    }
    let mut sig = [0u8; 64];
    sig.copy_from_slice(&sig_struct[10..74]);
    let checked = if prehashed {
        pubkey
            .key
            .verify_strict(&prehash(msg), &Signature::from_bytes(&sig))
    } else {
        pubkey.key.verify_strict(msg, &Signature::from_bytes(&sig))
    };
    checked.map_err(|_| PacketError::BadSignature)?;
    let mut global_msg = sig.to_vec();
    global_msg.extend_from_slice(comment.as_bytes());
    pubkey
        .key
        .verify_strict(&global_msg, &Signature::from_bytes(&global))
        .map_err(|_| PacketError::BadSignature)?;
    Ok(comment.to_string())
}

/// BLAKE2b-256 over `"Ed" ‖ key id ‖ secret key (64)`: minisign's secret-key checksum.
fn secret_key_checksum(key_id: &KeyId, keypair: &[u8; 64]) -> [u8; 32] {
    let mut h = Blake2b::<U32>::new();
    h.update(b"Ed");
    h.update(key_id.0);
    h.update(keypair);
    h.finalize().into()
}

/// An unencrypted minisign secret key file (kdf `00 00`, as `minisign -W` writes) that stock
/// `minisign -S -s FILE` signs with, without asking for a password. Salt and limits are zero;
/// the checksum is filled in (`minisign -W` leaves it zero; both are accepted).
pub fn secret_key_file(key: &SigningKey, key_id: KeyId) -> SecretString {
    let keypair = Zeroizing::new(key.to_keypair_bytes());
    let mut raw = Zeroizing::new(Vec::with_capacity(SECRET_KEY_LEN));
    raw.extend_from_slice(b"Ed");
    raw.extend_from_slice(&[0, 0]);
    raw.extend_from_slice(b"B2");
    raw.extend_from_slice(&[0u8; 32 + 8 + 8]);
    raw.extend_from_slice(&key_id.0);
    raw.extend_from_slice(&keypair[..]);
    raw.extend_from_slice(&secret_key_checksum(&key_id, &keypair));
    let line = Zeroizing::new(B64.encode(&raw[..]));
    SecretString::from(format!(
        "{UNTRUSTED_PREFIX}minisign secret key {key_id} (unencrypted)\n{}\n",
        &line[..]
    ))
}

/// Reads an unencrypted minisign secret key file (ours or `minisign -G -W`). Password-protected
/// files (kdf `Sc`) are refused: decrypt them with `minisign -C` first.
pub fn parse_secret_key_file(text: &str) -> Result<(SigningKey, KeyId), PacketError> {
    let bad = |d: &str| PacketError::malformed(Part::SecretKey, d);
    if text.len() > 2 * COMMENT_MAX {
        return Err(bad("too long"));
    }
    let lines: Vec<&str> = text
        .trim()
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .collect();
    let [comment, line] = lines.as_slice() else {
        return Err(bad("expected an untrusted comment and a base64 line"));
    };
    if !comment.starts_with(UNTRUSTED_PREFIX) {
        return Err(bad("first line must be an untrusted comment"));
    }
    let raw = Zeroizing::new(B64.decode(line.trim()).map_err(|_| bad("not base64"))?);
    if raw.len() != SECRET_KEY_LEN {
        return Err(bad("wrong length"));
    }
    if &raw[..2] != b"Ed" || &raw[4..6] != b"B2" {
        return Err(bad("unknown algorithm"));
    }
    if raw[2..4] != [0, 0] {
        return Err(bad(
            "key is password-protected; only unencrypted keys are read",
        ));
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&raw[54..62]);
    let key_id = KeyId(id);
    let mut keypair = Zeroizing::new([0u8; 64]);
    keypair.copy_from_slice(&raw[62..126]);
    let chk = &raw[126..158];
    if chk != [0u8; 32] && chk != secret_key_checksum(&key_id, &keypair) {
        return Err(bad("checksum mismatch"));
    }
    let key = SigningKey::from_keypair_bytes(&keypair)
        .map_err(|_| bad("secret and public halves do not match"))?;
    Ok((key, key_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn sign_then_verify_returns_trusted_comment() {
        let k = key();
        let pk = PublicKey::from_signing_key(&k);
        let sig = sign_detached(&k, b"hello", "timestamp:1\tfile:x").unwrap();
        assert_eq!(
            verify_detached(&pk, b"hello", &sig).unwrap(),
            "timestamp:1\tfile:x"
        );
        assert!(matches!(
            verify_detached(&pk, b"hellp", &sig),
            Err(PacketError::BadSignature)
        ));
    }

    #[test]
    fn trusted_comment_is_signed() {
        let k = key();
        let pk = PublicKey::from_signing_key(&k);
        let sig = sign_detached(&k, b"m", "a").unwrap();
        let forged = sig.replace("trusted comment: a", "trusted comment: b");
        assert!(matches!(
            verify_detached(&pk, b"m", &forged),
            Err(PacketError::BadSignature)
        ));
    }

    #[test]
    fn legacy_unhashed_signature_verifies() {
        let k = key();
        let pk = PublicKey::from_signing_key(&k);
        let sig = k.sign(b"msg").to_bytes();
        let mut st = b"Ed".to_vec();
        st.extend_from_slice(&pk.key_id.0);
        st.extend_from_slice(&sig);
        let mut g = sig.to_vec();
        g.extend_from_slice(b"c");
        let text = format!(
            "untrusted comment: x\n{}\ntrusted comment: c\n{}\n",
            B64.encode(st),
            B64.encode(k.sign(&g).to_bytes())
        );
        assert_eq!(verify_detached(&pk, b"msg", &text).unwrap(), "c");
    }

    #[test]
    fn public_key_round_trips_in_both_forms() {
        let pk = PublicKey::from_signing_key(&key());
        assert_eq!(PublicKey::parse(&pk.to_base64()).unwrap(), pk);
        assert_eq!(PublicKey::parse(&pk.to_file()).unwrap(), pk);
        assert!(pk.to_file().contains(&pk.key_id.to_string()));
    }

    #[test]
    fn wrong_key_id_is_named() {
        let k = key();
        let mut pk = PublicKey::from_signing_key(&k);
        let sig = sign_detached(&k, b"m", "c").unwrap();
        pk.key_id = KeyId([1; 8]);
        assert!(matches!(
            verify_detached(&pk, b"m", &sig),
            Err(PacketError::WrongSigner { .. })
        ));
    }

    #[test]
    fn secret_key_file_round_trips() {
        use secrecy::ExposeSecret;
        let k = key();
        let id = KeyId::derive(&k.verifying_key());
        let text = secret_key_file(&k, id);
        let (back, back_id) = parse_secret_key_file(text.expose_secret()).unwrap();
        assert_eq!(back.to_bytes(), k.to_bytes());
        assert_eq!(back_id, id);
    }

    #[test]
    fn stock_unencrypted_secret_key_parses() {
        // Made by `minisign -G -W` (0.11): kdf 0000, zero salt/limits, zero checksum.
        let text = "untrusted comment: minisign encrypted secret key\nRWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAkqGleBoJuRcKXVFbnJ1LwclCNlLD6KwDTay5vmX/IeLjEDwgWRWZfwJSN96xqeKEkwLsdCIYrgfWW5Vvo/7sL34+y1PouoDRAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let (k, id) = parse_secret_key_file(text).unwrap();
        assert_eq!(id.to_string(), "17B9091A78A5A192");
        let pk =
            PublicKey::parse("RWSSoaV4Ggm5FwJSN96xqeKEkwLsdCIYrgfWW5Vvo/7sL34+y1PouoDR").unwrap();
        assert_eq!(pk.key, k.verifying_key());
        // And the stock signature of "hello\n" made with it verifies.
        let sig = "untrusted comment: signature from minisign secret key\nRUSSoaV4Ggm5F4k9BiDy15Q/zr9dR3EsMTixmG00avHBAmclVmsgd7RLuC4g1CFyevrWdsQzlomon1faaFYoYOji15MSCIyGVAQ=\ntrusted comment: timestamp:1795463560\tfile:m\thashed\nbttewZV242169NfsysAemY0k16rResQmaS1gGu9vM5KIbGSlmmXJGliXvRHQyKSlQ6aYFVxzlwc8nXsILKcpBg==\n";
        assert!(verify_detached(&pk, b"hello\n", sig).is_ok());
    }
}
