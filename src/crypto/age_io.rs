//! Thin wrappers over the age crate: whole-buffer encryption to recipients and decryption
//! with identities, with errors mapped to ours and plaintext returned in wiping buffers.

use std::io::{Read, Write};

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Encrypts `plaintext` to one recipient (plain age v1, binary).
pub fn encrypt(recipient: &dyn age::Recipient, plaintext: &[u8]) -> Result<Vec<u8>> {
    encrypt_to_many(&[recipient], plaintext)
}

/// Encrypts `plaintext` to several recipients in one age file.
pub fn encrypt_to_many(recipients: &[&dyn age::Recipient], plaintext: &[u8]) -> Result<Vec<u8>> {
    let enc = age::Encryptor::with_recipients(recipients.iter().copied())
        .map_err(|e| Error::Crypto(e.to_string()))?;
    let mut out = Vec::with_capacity(plaintext.len() + 300);
    let mut w = enc
        .wrap_output(&mut out)
        .map_err(|e| Error::Crypto(e.to_string()))?;
    w.write_all(plaintext)
        .and_then(|_| w.finish().map(|_| ()))
        .map_err(|e| Error::Crypto(e.to_string()))?;
    Ok(out)
}

/// Decrypts an age file with any of `identities`. `None` when none of them fits
/// (the caller knows whether that means "not yours" or "wrong passphrase").
pub fn decrypt(
    identities: &[&dyn age::Identity],
    ciphertext: &[u8],
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let dec = age::Decryptor::new_buffered(ciphertext).map_err(|e| Error::Crypto(e.to_string()))?;
    let mut r = match dec.decrypt(identities.iter().copied()) {
        Ok(r) => r,
        Err(age::DecryptError::NoMatchingKeys) | Err(age::DecryptError::DecryptionFailed) => {
            return Ok(None)
        }
        Err(e) => return Err(Error::Crypto(e.to_string())),
    };
    let mut out = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
    r.read_to_end(&mut out)
        .map_err(|e| Error::Crypto(e.to_string()))?;
    Ok(Some(out))
}
