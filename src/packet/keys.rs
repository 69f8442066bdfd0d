//! Keys for a partner agency that has no tools of its own (`agency keygen`): an age identity to
//! open packets we send, and a minisign key pair to sign what they send back. Every file is in
//! the stock format, so `age -d -i` and `minisign -S -s` work with them.

use ed25519_dalek::SigningKey;
use secrecy::{ExposeSecret, SecretString};

use super::minisign::{secret_key_file, KeyId, PublicKey};
use super::time::format_utc;

/// A freshly generated partner key set. Secrets are wiped on drop.
pub struct PartnerKeys {
    pub age_identity: age::x25519::Identity,
    pub age_recipient: age::x25519::Recipient,
    pub signing_key: SigningKey,
    pub minisign_public: PublicKey,
}

impl PartnerKeys {
    /// New random keys (OS randomness); the minisign key id is [`KeyId::derive`]d.
    pub fn generate() -> Self {
        let age_identity = age::x25519::Identity::generate();
        let age_recipient = age_identity.to_public();
        let signing_key = SigningKey::generate(&mut rand::rngs::OsRng);
        let minisign_public = PublicKey::from_signing_key(&signing_key);
        PartnerKeys {
            age_identity,
            age_recipient,
            signing_key,
            minisign_public,
        }
    }

    /// The age identity file, as `age-keygen` writes it (`age -d -i FILE` reads it).
    pub fn age_identity_file(&self, created_unix: u64) -> SecretString {
        SecretString::from(format!(
            "# created: {}\n# public key: {}\n{}\n",
            format_utc(created_unix),
            self.age_recipient,
            self.age_identity.to_string().expose_secret()
        ))
    }

    /// The unencrypted minisign secret key file (`minisign -S -s FILE`).
    pub fn minisign_secret_key_file(&self) -> SecretString {
        secret_key_file(&self.signing_key, self.minisign_public.key_id)
    }

    /// The minisign `.pub` file (`minisign -V -p FILE`).
    pub fn minisign_public_key_file(&self) -> String {
        self.minisign_public.to_file()
    }

    /// The minisign key id, as minisign prints it.
    pub fn key_id(&self) -> KeyId {
        self.minisign_public.key_id
    }
}
