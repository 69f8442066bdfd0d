//! The supervisor key: the recipient of the top (supervisor-only) tier of every case epoch.
//!
//! A case epoch made by a caseworker (opening a case, or renewing its keys) generates only the
//! tiers a caseworker may read; its top tier is the current supervisor key, whose secret only
//! supervisors and the recovery key hold (`supervisor_keys` table, one wrapping per holder and
//! generation). So nobody who is not a supervisor ever has a top-tier secret in their process.
//! Each generation is a signed statement (`supkey/<n>`) made by a supervisor; a generation older
//! than the latest departure of a supervisor is no longer used for new epochs, and a
//! supervisor's session makes a fresh one when it opens (see `Session::with_identity`).

use rusqlite::{Connection, Transaction};
use std::str::FromStr;
use zeroize::Zeroizing;

use super::authority::{supervisor_entitled, Claim};
use super::keys::{parse_recipient, recovery_recipient};
use super::Session;
use crate::crypto;
use crate::error::{Error, Result};
use crate::policy::Role;
use crate::store::{self, keys::RECOVERY};

pub(super) const PREFIX: &str = "supkey/";

impl Session {
    /// The current generation and its recipient: the newest signed by a supervisor, unless a
    /// supervisor left after it was made.
    pub(super) fn current_supervisor_key(
        &self,
        conn: &Connection,
    ) -> Result<Option<(i64, String)>> {
        let Some((subject, index, _)) = store::authority::last_with_prefix(conn, PREFIX)? else {
            return Ok(None);
        };
        let Claim::SupervisorKey {
            generation,
            recipient,
            agency,
        } = self.verified_claim(
            conn,
            &subject,
            &supervisor_entitled,
            "supervisor key",
            &subject,
        )?
        else {
            return Err(Error::Tampered {
                what: "supervisor key",
                id: subject,
            });
        };
        // A generation from before agency keys moved out of the database is replaced too.
        let stale = agency.as_ref().is_none_or(|a| a.checkpoint.is_none())
            || self
                .registry()
                .last_supervisor_revocation()
                .is_some_and(|r| r > index as u64);
        Ok((!stale).then_some((generation, recipient)))
    }

    /// The generation new case epochs put in their top tier: the current one, made now if this
    /// session is a supervisor and there is none; others are refused until a supervisor has
    /// opened the vault.
    pub(super) fn supervisor_key_for_write(&self, tx: &Transaction) -> Result<(i64, String)> {
        if let Some(k) = self.current_supervisor_key(tx)? {
            return Ok(k);
        }
        if self.role == Role::Supervisor {
            return self.renew_supervisor_key(tx);
        }
        Err(Error::NoSupervisorKey)
    }

    /// Makes a new generation, wrapped to every active supervisor and the recovery key, and
    /// signs it.
    pub(super) fn renew_supervisor_key(&self, tx: &Transaction) -> Result<(i64, String)> {
        if self.role != Role::Supervisor {
            return Err(Error::NoSupervisorKey);
        }
        self.reload_registry(tx)?;
        let generation = store::authority::last_with_prefix(tx, PREFIX)?
            .and_then(|(s, _, _)| s.strip_prefix(PREFIX)?.parse::<i64>().ok())
            .unwrap_or(0)
            + 1;
        // The previous packet key signs the new one into the chain partners follow: the
        // newest generation this supervisor holds, or the key the vault signed packets with
        // before generations carried one.
        let previous = match self.packet_signing_keys()?.into_iter().next() {
            Some(k) => Some(k),
            None => match store::meta::get(tx, "log_signing_key")? {
                // Only where partners may know it: a packet went out signed with it.
                Some(raw)
                    if self.agency_generations()?.is_empty() && store::referrals::any(tx)? =>
                {
                    let raw = Zeroizing::new(raw);
                    let seed: [u8; 32] =
                        raw.as_slice().try_into().map_err(|_| Error::Tampered {
                            what: "vault setting",
                            id: "log_signing_key".into(),
                        })?;
                    Some(ed25519_dalek::SigningKey::from_bytes(&seed))
                }
                _ => None,
            },
        };
        // The inbound key the database held before moves into the wrapped secrets.
        let legacy_inbound = match store::meta::get(tx, "inbound_identity")? {
            Some(raw) => {
                let raw = Zeroizing::new(raw);
                let text = std::str::from_utf8(&raw).unwrap_or_default();
                Some(
                    age::x25519::Identity::from_str(text.trim()).map_err(|_| Error::Tampered {
                        what: "vault setting",
                        id: "inbound_identity".into(),
                    })?,
                )
            }
            None => None,
        };
        let secrets = super::agency_keys::GenerationSecrets {
            supervisor: age::x25519::Identity::generate(),
            packet: Some(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng)),
            checkpoint: Some(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng)),
            inbound: Some(age::x25519::Identity::generate()),
            legacy_inbound,
        };
        let mut agency = super::agency_keys::make_public(
            tx,
            generation,
            secrets.packet.as_ref().expect("made above"),
            secrets.inbound.as_ref().expect("made above"),
            previous.as_ref(),
        )?;
        // Current only once a checkpoint co-signed by the chain's current key hands over to
        // it (`checkpoint_key.rs`); the claim names it so nobody can hand over to another.
        agency.checkpoint = Some(crate::log::verifier_key(
            &super::disclosure::origin(tx)?,
            &secrets
                .checkpoint
                .as_ref()
                .expect("made above")
                .verifying_key(),
        ));
        let secret = secrets.encode();
        let mut holders = vec![(RECOVERY.to_string(), recovery_recipient(&self.registry())?)];
        for m in self.registry().active_with_role(Role::Supervisor.as_str()) {
            if let Some(r) = &m.recipient {
                holders.push((m.name.clone(), parse_recipient(r)?));
            }
        }
        for (name, r) in &holders {
            store::supervisor_keys::put(
                tx,
                generation,
                name,
                &crypto::encrypt(r, secret.as_bytes())?,
            )?;
        }
        let recipient = secrets.supervisor.to_public().to_string();
        self.attest(
            tx,
            &Claim::SupervisorKey {
                generation,
                recipient: recipient.clone(),
                agency: Some(agency),
            },
            None,
        )?;
        if secrets.legacy_inbound.is_some() {
            store::meta::delete(tx, "inbound_identity")?;
        }
        Ok((generation, recipient))
    }

    /// The secret of the signed generation whose public key is `recipient`, unwrapped with
    /// `identity` (held under `holder`), if that holder holds it.
    pub(super) fn supervisor_identity(
        &self,
        conn: &Connection,
        recipient: &str,
        holder: &str,
        identity: &dyn age::Identity,
    ) -> Result<Option<age::x25519::Identity>> {
        let Some(generation) = self.supervisor_generation(conn, recipient)? else {
            return Ok(None);
        };
        let Some(wrapped) = store::supervisor_keys::get(conn, generation, holder)? else {
            return Ok(None);
        };
        let tampered = || Error::Tampered {
            what: "supervisor key",
            id: generation.to_string(),
        };
        let plain = crypto::decrypt(&[identity], &wrapped)?.ok_or_else(tampered)?;
        let text = Zeroizing::new(String::from_utf8(plain.to_vec()).map_err(|_| tampered())?);
        let id = super::agency_keys::GenerationSecrets::decode(&text)
            .ok_or_else(tampered)?
            .supervisor;
        if id.to_public().to_string() != recipient {
            return Err(tampered());
        }
        Ok(Some(id))
    }

    /// The signed generation whose public key is `recipient`, if any (a recipient in an
    /// epoch's top tier that no supervisor signed is someone else's key).
    pub(super) fn supervisor_generation(
        &self,
        conn: &Connection,
        recipient: &str,
    ) -> Result<Option<i64>> {
        for (subject, _, bytes) in store::authority::with_prefix(conn, PREFIX)? {
            let matches = serde_json::from_slice::<Claim>(&bytes).is_ok_and(
                |c| matches!(&c, Claim::SupervisorKey { recipient: r, .. } if r == recipient),
            );
            if matches {
                if let Claim::SupervisorKey { generation, .. } = self.verified_claim(
                    conn,
                    &subject,
                    &supervisor_entitled,
                    "supervisor key",
                    &subject,
                )? {
                    return Ok(Some(generation));
                }
            }
        }
        Ok(None)
    }

    /// Wraps every generation `from` holds (unwrapped with `identity`) to a new supervisor.
    pub(super) fn share_supervisor_keys(
        &self,
        tx: &Transaction,
        from: &str,
        identity: &dyn age::Identity,
        to: &str,
        to_recipient: &age::x25519::Recipient,
    ) -> Result<()> {
        for generation in store::supervisor_keys::held_by(tx, from)? {
            let wrapped = store::supervisor_keys::get(tx, generation, from)?.unwrap_or_default();
            let plain = crypto::decrypt(&[identity], &wrapped)?.ok_or(Error::Tampered {
                what: "supervisor key",
                id: generation.to_string(),
            })?;
            store::supervisor_keys::put(
                tx,
                generation,
                to,
                &crypto::encrypt(to_recipient, &plain)?,
            )?;
        }
        Ok(())
    }
}
