//! The agency's own keys for partners: the **packet key** (minisign, signs every outgoing
//! packet) and the **inbound key** (age X25519, partners encrypt packets for us to it).
//!
//! They are not in the database. Each generation of the supervisor key (see
//! `vault::supervisor_key`) carries a fresh pair: made by a supervisor, wrapped with the
//! supervisor key to every serving supervisor and the recovery key only, so only a supervisor
//! signs a packet (a caseworker's export waits for a supervisor's release) and only a
//! supervisor opens an incoming one. When a supervisor leaves, the next supervisor session
//! makes a new generation: the departed member's copies sign nothing partners will accept
//! once they follow the rotation, and new packets are encrypted to a key they never held.
//!
//! Each generation's public keys are written in a short text statement that partners check
//! with stock `minisign`: signed by the previous packet key (so a partner who trusts the old
//! key can trust the new one) and by the new key (so nobody can name a key they do not hold).
//! The statement and both signatures are part of the generation's signed claim in the log.

use std::str::FromStr;

use ed25519_dalek::SigningKey;
use rusqlite::Connection;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::authority::{supervisor_entitled, Claim};
use super::Session;
use crate::error::{Error, Result};
use crate::packet::minisign::{self, PublicKey};
use crate::policy::Role;
use crate::store;

/// The public half of one generation's agency keys, with the rotation statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyKeys {
    /// The packet key's minisign public key (base64, as in a `.pub` file).
    pub packet: String,
    /// The inbound age recipient.
    pub inbound: String,
    /// The rotation statement text (see [`statement_text`]).
    pub statement: String,
    /// `.minisig` of the statement by the previous packet key, if there was one.
    pub signed_by_previous: Option<String>,
    /// `.minisig` of the statement by the new packet key.
    pub signed_by_new: String,
    /// The verifier key of the generation's checkpoint key (signs the disclosure log's
    /// checkpoints once a checkpoint co-signed by the previous key hands over to it; see
    /// `log::KeyChain`). Absent in generations made before checkpoint keys moved here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
}

/// What one holder unwraps for one generation. The first line is the supervisor key (older
/// generations hold nothing else); then the comment lines `# packet <hex seed>`,
/// `# inbound <age secret>` and `# legacy-inbound <age secret>` (the inbound key a vault kept in its database before
/// generations carried one, moved here so packets sent to it still open), and
/// `# checkpoint <hex seed>` (the disclosure log's checkpoint key).
pub(super) struct GenerationSecrets {
    pub supervisor: age::x25519::Identity,
    pub packet: Option<SigningKey>,
    pub checkpoint: Option<SigningKey>,
    pub inbound: Option<age::x25519::Identity>,
    pub legacy_inbound: Option<age::x25519::Identity>,
}

impl GenerationSecrets {
    /// The wrapped text (wiped on drop).
    pub fn encode(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(self.supervisor.to_string().expose_secret().to_string());
        if let Some(k) = &self.packet {
            s.push_str("\n# packet ");
            // The seed and its hex form are secrets too: wiped, not just dropped.
            let seed = Zeroizing::new(k.to_bytes());
            s.push_str(&Zeroizing::new(crate::crypto::hex(seed.as_slice())));
        }
        if let Some(k) = &self.checkpoint {
            s.push_str("\n# checkpoint ");
            let seed = Zeroizing::new(k.to_bytes());
            s.push_str(&Zeroizing::new(crate::crypto::hex(seed.as_slice())));
        }
        if let Some(i) = &self.inbound {
            s.push_str("\n# inbound ");
            s.push_str(i.to_string().expose_secret());
        }
        if let Some(i) = &self.legacy_inbound {
            s.push_str("\n# legacy-inbound ");
            s.push_str(i.to_string().expose_secret());
        }
        s
    }

    /// Parses [`encode`](Self::encode)'s text; `None` if anything is malformed.
    pub fn decode(text: &str) -> Option<GenerationSecrets> {
        let mut lines = text.trim().lines();
        let supervisor = age::x25519::Identity::from_str(lines.next()?.trim()).ok()?;
        let mut out = GenerationSecrets {
            supervisor,
            packet: None,
            checkpoint: None,
            inbound: None,
            legacy_inbound: None,
        };
        for line in lines {
            // Comment lines, so stock `age -d -i` reads the file as the supervisor identity.
            let (tag, value) = line.trim().strip_prefix("# ")?.split_once(' ')?;
            match tag {
                "packet" => {
                    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(crate::crypto::unhex(value)?);
                    out.packet = Some(SigningKey::from_bytes(&seed));
                }
                "checkpoint" => {
                    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(crate::crypto::unhex(value)?);
                    out.checkpoint = Some(SigningKey::from_bytes(&seed));
                }
                "inbound" => out.inbound = Some(age::x25519::Identity::from_str(value).ok()?),
                "legacy-inbound" => {
                    out.legacy_inbound = Some(age::x25519::Identity::from_str(value).ok()?)
                }
                _ => return None,
            }
        }
        Some(out)
    }
}

/// The rotation statement partners verify with stock `minisign` (format `docs/formats.md`,
/// "Agency key statement").
pub fn statement_text(
    agency: &str,
    vault_id: &str,
    generation: i64,
    packet: &str,
    inbound: &str,
    previous: Option<&str>,
    made: &str,
) -> String {
    format!(
        "casevault agency keys v1\nagency: {agency}\nvault: {vault_id}\ngeneration: {generation}\n\
         packet-key: {packet}\ninbound-key: {inbound}\nprevious-packet-key: {}\nmade: {made}\n",
        previous.unwrap_or("none")
    )
}

/// The trusted comment both signatures carry.
fn trusted_comment(generation: i64) -> String {
    format!("casevault agency keys generation {generation}")
}

/// Makes the public half for a new generation: the statement, signed by `previous` (if any)
/// and by `packet`.
pub(super) fn make_public(
    conn: &Connection,
    generation: i64,
    packet: &SigningKey,
    inbound: &age::x25519::Identity,
    previous: Option<&SigningKey>,
) -> Result<AgencyKeys> {
    let packet_pub = PublicKey::from_signing_key(packet).to_base64();
    let previous_pub = previous.map(|k| PublicKey::from_signing_key(k).to_base64());
    let statement = statement_text(
        &store::meta::require_text(conn, "agency")?,
        &store::meta::require_text(conn, "vault_id")?,
        generation,
        &packet_pub,
        &inbound.to_public().to_string(),
        previous_pub.as_deref(),
        &crate::domain::time::format_time_utc(crate::domain::time::now()),
    );
    let comment = trusted_comment(generation);
    let signed_by_previous = previous
        .map(|k| minisign::sign_detached(k, statement.as_bytes(), &comment))
        .transpose()?;
    let signed_by_new = minisign::sign_detached(packet, statement.as_bytes(), &comment)?;
    Ok(AgencyKeys {
        packet: packet_pub,
        inbound: inbound.to_public().to_string(),
        statement,
        signed_by_previous,
        signed_by_new,
        checkpoint: None,
    })
}

impl AgencyKeys {
    /// The packet key as a minisign public key.
    pub fn packet_key(&self) -> Result<PublicKey> {
        Ok(PublicKey::parse(&self.packet)?)
    }

    /// Checks both signatures over the statement and that it names these keys (what a
    /// partner does with stock minisign, and what we check before trusting a claim's keys).
    pub fn check(&self, previous: Option<&str>) -> Result<()> {
        let bad = || Error::Tampered {
            what: "agency keys",
            id: self.packet.clone(),
        };
        let line = |name: &str| {
            self.statement
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
                .map(str::to_string)
        };
        if line("packet-key").as_deref() != Some(self.packet.as_str())
            || line("inbound-key").as_deref() != Some(self.inbound.as_str())
            || line("previous-packet-key").as_deref() != Some(previous.unwrap_or("none"))
        {
            return Err(bad());
        }
        minisign::verify_detached(
            &self.packet_key()?,
            self.statement.as_bytes(),
            &self.signed_by_new,
        )
        .map_err(|_| bad())?;
        match (previous, &self.signed_by_previous) {
            (None, None) => Ok(()),
            (Some(p), Some(sig)) => {
                minisign::verify_detached(&PublicKey::parse(p)?, self.statement.as_bytes(), sig)
                    .map(|_| ())
                    .map_err(|_| bad())
            }
            _ => Err(bad()),
        }
    }
}

/// One signed generation with agency keys, newest first, as [`Session::agency_generations`]
/// returns them.
pub struct Generation {
    pub generation: i64,
    pub keys: AgencyKeys,
    /// Made before the latest departure of a supervisor: replaced at the next supervisor session.
    pub stale: bool,
    /// The log index of its signed claim.
    pub index: u64,
}

impl Session {
    /// Every signed generation that carries agency keys, newest first, each statement checked
    /// against the one before it.
    pub fn agency_generations(&self) -> Result<Vec<Generation>> {
        let mut out: Vec<Generation> = Vec::new();
        let last_departure = self.registry().last_supervisor_revocation();
        for (subject, index, _) in
            store::authority::with_prefix(&self.conn, super::supervisor_key::PREFIX)?
        {
            let claim = self.verified_claim(
                &self.conn,
                &subject,
                &supervisor_entitled,
                "supervisor key",
                &subject,
            )?;
            if let Claim::SupervisorKey {
                generation,
                agency: Some(keys),
                ..
            } = claim
            {
                let previous = out.last().map(|g| g.keys.packet.clone());
                // The first generation may be signed by the key the vault used before
                // generations existed; later ones must follow the chain.
                let prev = match (&previous, &keys.signed_by_previous) {
                    (Some(p), _) => Some(p.clone()),
                    (None, Some(_)) => keys
                        .statement
                        .lines()
                        .find_map(|l| l.strip_prefix("previous-packet-key: "))
                        .filter(|p| *p != "none")
                        .map(str::to_string),
                    (None, None) => None,
                };
                keys.check(prev.as_deref())?;
                out.push(Generation {
                    generation,
                    keys,
                    stale: last_departure.is_some_and(|r| r > index as u64),
                    index: index as u64,
                });
            }
        }
        out.reverse();
        Ok(out)
    }

    /// The current generation's public keys (what partners should use now).
    pub fn our_agency_keys(&self) -> Result<Generation> {
        self.agency_generations()?
            .into_iter()
            .next()
            .ok_or(Error::NoAgencyKeys)
    }

    /// This supervisor's unwrapped secrets of `generation`.
    pub(super) fn generation_secrets(&self, generation: i64) -> Result<Option<GenerationSecrets>> {
        let Some(wrapped) = store::supervisor_keys::get(&self.conn, generation, &self.me.name)?
        else {
            return Ok(None);
        };
        let tampered = || Error::Tampered {
            what: "supervisor key",
            id: generation.to_string(),
        };
        let plain = crate::crypto::decrypt(&[&self.me.age], &wrapped)?.ok_or_else(tampered)?;
        let text = Zeroizing::new(String::from_utf8(plain.to_vec()).map_err(|_| tampered())?);
        GenerationSecrets::decode(&text)
            .map(Some)
            .ok_or_else(tampered)
    }

    /// The packet key that signs outgoing packets: the current generation's, held by
    /// supervisors only.
    pub(super) fn packet_signing_key(&self) -> Result<SigningKey> {
        if self.role != Role::Supervisor {
            return Err(Error::AgencyKeyNotHeld);
        }
        let current = self.our_agency_keys()?;
        if current.stale {
            return Err(Error::NoAgencyKeys);
        }
        let not_granted = || Error::AgencyKeyNotGranted {
            staff: self.me.name.clone(),
        };
        let secrets = self
            .generation_secrets(current.generation)?
            .ok_or_else(not_granted)?;
        let key = secrets.packet.ok_or_else(not_granted)?;
        if PublicKey::from_signing_key(&key).to_base64() != current.keys.packet {
            return Err(Error::Tampered {
                what: "supervisor key",
                id: current.generation.to_string(),
            });
        }
        Ok(key)
    }

    /// Every packet key this supervisor holds, newest first (a resend re-signs with the key
    /// that signed the original).
    pub(super) fn packet_signing_keys(&self) -> Result<Vec<SigningKey>> {
        if self.role != Role::Supervisor {
            return Err(Error::AgencyKeyNotHeld);
        }
        let mut out = Vec::new();
        for g in self.agency_generations()? {
            if let Some(k) = self
                .generation_secrets(g.generation)?
                .and_then(|s| s.packet)
            {
                if PublicKey::from_signing_key(&k).to_base64() == g.keys.packet {
                    out.push(k);
                }
            }
        }
        Ok(out)
    }

    /// Every inbound identity this supervisor holds (every generation, and the one the vault
    /// kept in its database before), for opening partners' packets.
    pub(super) fn inbound_identities(&self) -> Result<Vec<age::x25519::Identity>> {
        if self.role != Role::Supervisor {
            return Err(Error::AgencyKeyNotHeld);
        }
        let mut out = Vec::new();
        for g in self.agency_generations()? {
            if let Some(s) = self.generation_secrets(g.generation)? {
                // Only the inbound key the generation's statement names (a wrapping anyone
                // could have written to us must not choose what we decrypt with).
                out.extend(
                    s.inbound
                        .filter(|i| i.to_public().to_string() == g.keys.inbound),
                );
                out.extend(s.legacy_inbound);
            }
        }
        if out.is_empty() {
            return Err(Error::AgencyKeyNotGranted {
                staff: self.me.name.clone(),
            });
        }
        Ok(out)
    }
}
