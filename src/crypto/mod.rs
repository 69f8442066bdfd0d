//! Cryptography: staff identities, case keys, record envelopes and the secret types they use.
//!
//! Every format here is plain age (C2SP age v1) or Ed25519 so that stock tools can check our
//! work; see `docs/key-hierarchy.md` and `docs/formats.md`.

mod age_io;
mod case_keys;
mod identity;
mod kdf;
mod sign;

pub use age_io::{decrypt, encrypt, encrypt_to_many};
pub use case_keys::{CaseKeySet, TierSecret};
pub use identity::{IdentityParts, RootPin, StaffIdentity, StaffPublic};
pub use kdf::{scrypt_work_factor, KDF_FLOOR_LOG_N};
pub use sign::{record_message, RecordSigInput};

use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A 256-bit secret that is wiped when dropped.
pub type Key32 = Zeroizing<[u8; 32]>;

/// Fresh random 256 bits from the OS.
pub fn random_key32() -> Key32 {
    let mut k = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(k.as_mut());
    k
}

/// Fresh random bytes (salts, ids).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Lower-case hex.
pub fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses lower- or upper-case hex of exactly `N` bytes.
pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim();
    if s.len() != 2 * N || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}
