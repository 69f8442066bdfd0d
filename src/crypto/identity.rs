//! A staff member's identity: an X25519 age identity (to unwrap keys) and an Ed25519 key (to
//! sign records and log entries), kept together in one file encrypted with their passphrase.
//!
//! The decrypted file is a valid age identity file, so `age -d -i` accepts it directly:
//!
//! ```text
//! # casevault-identity: v1
//! # staff: <name>
//! # vault-root: <hex of the founding admin's Ed25519 key> <log verifier key>
//! # ed25519-secret: <base64 of the 32-byte seed>
//! AGE-SECRET-KEY-1…
//! ```

use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{SigningKey, VerifyingKey};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::age_io;
use super::kdf::scrypt_work_factor;
use crate::error::{Error, Result};

const HEADER: &str = "# casevault-identity: v1";

/// A staff member's secret keys, wiped on drop (both inner types zeroize).
pub struct StaffIdentity {
    pub name: String,
    pub age: age::x25519::Identity,
    pub signing: SigningKey,
    /// The vault's root of trust as this member first learnt it. Sealed with their passphrase,
    /// so nobody who can only write the database can change it. `None` only between
    /// generating keys and sealing them for a vault.
    pub root: Option<RootPin>,
}

/// What a member's identity file pins about their vault, checked on every open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootPin {
    /// The founding admin's Ed25519 key: log entry 0 must register exactly this key.
    pub founder: [u8; 32],
    /// The log's checkpoint verifier key (`origin+keyid+base64`).
    pub log_verifier: String,
}

impl RootPin {
    /// The `# vault-root:` line's value.
    pub fn encode(&self) -> String {
        format!("{} {}", super::hex(&self.founder), self.log_verifier)
    }

    /// Parses [`encode`](Self::encode)'s form; `None` if malformed.
    pub fn parse(s: &str) -> Option<RootPin> {
        let (founder, verifier) = s.trim().split_once(' ')?;
        let founder: [u8; 32] = super::unhex(founder)?;
        if verifier.is_empty() || verifier.contains(char::is_whitespace) {
            return None;
        }
        Some(RootPin {
            founder,
            log_verifier: verifier.to_string(),
        })
    }
}

/// An unlocked identity as the agent holds and hands it out: wiped on drop.
#[derive(Clone, serde::Serialize, serde::Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct IdentityParts {
    pub name: String,
    /// [`RootPin::encode`]'s form.
    pub root: String,
    /// Base64 of the Ed25519 seed.
    pub seed: String,
    /// `AGE-SECRET-KEY-1…`.
    pub age: String,
}

/// What others may know of a staff member's keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffPublic {
    pub age_recipient: String,
    pub verify_key: [u8; 32],
}

impl StaffIdentity {
    /// Fresh keys for `name`.
    pub fn generate(name: &str) -> Self {
        let seed = super::random_key32();
        StaffIdentity {
            name: name.to_string(),
            age: age::x25519::Identity::generate(),
            signing: SigningKey::from_bytes(&seed),
            root: None,
        }
    }

    /// The public half.
    pub fn public(&self) -> StaffPublic {
        StaffPublic {
            age_recipient: self.age.to_public().to_string(),
            verify_key: self.signing.verifying_key().to_bytes(),
        }
    }

    /// The age recipient of this identity.
    pub fn recipient(&self) -> age::x25519::Recipient {
        self.age.to_public()
    }

    /// The identity file's plaintext (a wiping buffer).
    fn to_text(&self, root: &RootPin) -> Zeroizing<String> {
        let seed = Zeroizing::new(B64.encode(self.signing.to_bytes()));
        Zeroizing::new(format!(
            "{HEADER}\n# staff: {}\n# vault-root: {}\n# ed25519-secret: {}\n{}\n",
            self.name,
            root.encode(),
            seed.as_str(),
            self.age.to_string().expose_secret()
        ))
    }

    /// Encrypts the identity with `passphrase` (age scrypt recipient). The root must be
    /// pinned first.
    pub fn seal(&self, passphrase: &SecretString) -> Result<Vec<u8>> {
        let root = self
            .root
            .as_ref()
            .ok_or_else(|| Error::Crypto("identity without a vault root".into()))?;
        let mut r = age::scrypt::Recipient::new(passphrase.clone());
        if let Some(n) = scrypt_work_factor()? {
            r.set_work_factor(n);
        }
        age_io::encrypt(&r, self.to_text(root).as_bytes())
    }

    /// Opens an identity file with `passphrase`; `staff` names it in errors.
    pub fn open(file: &[u8], passphrase: &SecretString, staff: &str) -> Result<Self> {
        let corrupt = || Error::IdentityCorrupt {
            staff: staff.to_string(),
        };
        let dec = age::Decryptor::new_buffered(file).map_err(|_| corrupt())?;
        if !dec.is_scrypt() {
            return Err(corrupt());
        }
        let id = age::scrypt::Identity::new(passphrase.clone());
        let plain = match age_io::decrypt(&[&id], file) {
            Ok(Some(p)) => p,
            Ok(None) => {
                return Err(Error::WrongPassphrase {
                    staff: staff.to_string(),
                })
            }
            Err(_) => return Err(corrupt()),
        };
        let text = std::str::from_utf8(&plain).map_err(|_| corrupt())?;
        Self::parse(text).ok_or_else(corrupt)
    }

    /// The secret parts as separate strings, for the agent (`crate::agent`): one JSON string
    /// each, none with an escape, so decoding them never copies into an unwiped scratch buffer.
    pub fn to_parts(&self) -> Result<IdentityParts> {
        let root = self
            .root
            .as_ref()
            .ok_or_else(|| Error::Crypto("identity without a vault root".into()))?;
        Ok(IdentityParts {
            name: self.name.clone(),
            root: root.encode(),
            seed: B64.encode(self.signing.to_bytes()),
            age: self.age.to_string().expose_secret().to_string(),
        })
    }

    /// The identity back from [`to_parts`](Self::to_parts); `None` if anything is malformed.
    pub fn from_parts(p: &IdentityParts) -> Option<Self> {
        if [&p.name, &p.root, &p.seed, &p.age]
            .iter()
            .any(|s| s.contains(['\n', '\r']))
        {
            return None;
        }
        let text = Zeroizing::new(format!(
            "{HEADER}\n# staff: {}\n# vault-root: {}\n# ed25519-secret: {}\n{}\n",
            p.name, p.root, p.seed, p.age
        ));
        Self::parse(&text)
    }

    /// Parses the plaintext form; `None` on anything unexpected.
    fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        if lines.next()? != HEADER {
            return None;
        }
        let name = lines.next()?.strip_prefix("# staff: ")?.to_string();
        let root = RootPin::parse(lines.next()?.strip_prefix("# vault-root: ")?)?;
        let seed_b64 = lines.next()?.strip_prefix("# ed25519-secret: ")?;
        let seed = Zeroizing::new(B64.decode(seed_b64).ok()?);
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(seed.as_slice().try_into().ok()?);
        let age = age::x25519::Identity::from_str(lines.next()?.trim()).ok()?;
        if lines.any(|l| !l.trim().is_empty()) {
            return None;
        }
        Some(StaffIdentity {
            name,
            age,
            signing: SigningKey::from_bytes(&seed),
            root: Some(root),
        })
    }
}

impl StaffPublic {
    /// The age recipient, parsed.
    pub fn recipient(&self) -> Result<age::x25519::Recipient> {
        age::x25519::Recipient::from_str(&self.age_recipient)
            .map_err(|e| Error::Crypto(e.to_string()))
    }

    /// The Ed25519 verifying key, parsed.
    pub fn verifying(&self) -> Result<VerifyingKey> {
        VerifyingKey::from_bytes(&self.verify_key).map_err(|e| Error::Crypto(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip() {
        std::env::set_var("CASEVAULT_SCRYPT_LOG_N", "4");
        std::env::set_var("CASEVAULT_TEST_MODE", "1");
        let mut id = StaffIdentity::generate("王芳");
        id.root = Some(RootPin {
            founder: [7; 32],
            log_verifier: "example.org/log+01020304+AQ==".into(),
        });
        let pass = SecretString::from("correct horse");
        let file = id.seal(&pass).unwrap();
        let back = StaffIdentity::open(&file, &pass, "王芳").unwrap();
        assert_eq!(back.public(), id.public());
        assert_eq!(back.name, "王芳");
        assert_eq!(back.root, id.root);
        let wrong = StaffIdentity::open(&file, &SecretString::from("nope"), "王芳");
        assert!(matches!(wrong, Err(Error::WrongPassphrase { .. })));
        let mut bad = file.clone();
        bad[10] ^= 1;
        assert!(StaffIdentity::open(&bad, &pass, "x").is_err());
        let parts = back.to_parts().unwrap();
        let again = StaffIdentity::from_parts(&parts).unwrap();
        assert_eq!(again.public(), id.public());
        assert_eq!(again.root, id.root);
    }
}
