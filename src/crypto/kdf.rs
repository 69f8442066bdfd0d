//! The passphrase KDF cost (age scrypt, `N = 2^log_n`).
//!
//! By default age calibrates `log_n` so that opening an identity takes about a second here.
//! Tests set `CASEVAULT_SCRYPT_LOG_N` to something cheap; a value below
//! [`KDF_FLOOR_LOG_N`] is refused unless `CASEVAULT_TEST_MODE=1` is also set, so
//! a stray variable cannot quietly weaken real passphrases.

use crate::error::{Error, Result};
use crate::tr;

/// The lowest cost accepted outside tests (2^16: ~64 MiB·ms scale, ~0.1 s).
pub const KDF_FLOOR_LOG_N: u8 = 16;

/// The work factor to use for new passphrase-encrypted files: `None` means calibrate.
pub fn scrypt_work_factor() -> Result<Option<u8>> {
    let Ok(v) = std::env::var("CASEVAULT_SCRYPT_LOG_N") else {
        return Ok(None);
    };
    let n: u8 = v
        .trim()
        .parse()
        .ok()
        .filter(|n| (1..=30).contains(n))
        .ok_or_else(|| Error::Invalid(tr!("crypto.kdf_bad", value = v)))?;
    let tests = std::env::var("CASEVAULT_TEST_MODE").is_ok_and(|v| v == "1");
    if n < KDF_FLOOR_LOG_N && !tests {
        return Err(Error::Invalid(tr!(
            "crypto.kdf_floor",
            value = n,
            floor = KDF_FLOOR_LOG_N
        )));
    }
    Ok(Some(n))
}
