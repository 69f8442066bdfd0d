//! The checkpoint key: signs the C2SP checkpoints of the disclosure log.
//!
//! It is not in the database. The founding key is made at `init` and wrapped, as generation 0
//! of the supervisor key table, to the founding admin and the recovery key only (the founder
//! is not a supervisor; the founder's approval of a supervisor passes it on). Each later
//! generation of the supervisor key carries a fresh checkpoint key (`# checkpoint <hex seed>`
//! in the wrapped bundle, its verifier key in the generation's signed claim). Only supervisor
//! sessions sign checkpoints: everyone else's appends leave the head uncovered until the next
//! supervisor session signs one (at open and with its own appends). The first checkpoint
//! under a new generation's key is co-signed by the chain's current key (`log::KeyChain`), so
//! a departed holder's copy of an older key signs nothing verifiers accept afterwards.
//!
//! Upgraded vaults kept the key in `meta.log_signing_key`: it is the chain's pinned key, the
//! first supervisor session hands over from it to its generation's key and deletes it in the
//! same transaction.

use ed25519_dalek::SigningKey;
use rusqlite::{Connection, Transaction};
use zeroize::Zeroizing;

use super::agency_keys::GenerationSecrets;
use super::Session;
use crate::error::{Error, Result};
use crate::log::{self, VerifierKey};
use crate::policy::Role;
use crate::store::{self, keys::RECOVERY};

/// The legacy `meta` row of vaults made before checkpoint keys moved out of the database.
const LEGACY: &str = "log_signing_key";

/// Makes the founding checkpoint key at `init` and wraps it (generation 0) to the founder and
/// the recovery key. Returns it to sign the founding checkpoints.
pub(super) fn found(
    tx: &Transaction,
    founder: &str,
    founder_recipient: &age::x25519::Recipient,
    recovery: &age::x25519::Recipient,
) -> Result<SigningKey> {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let secrets = GenerationSecrets {
        // Generation 0 has no claim and its supervisor identity is never used: only the
        // checkpoint key matters.
        supervisor: age::x25519::Identity::generate(),
        packet: None,
        checkpoint: Some(key.clone()),
        inbound: None,
        legacy_inbound: None,
    };
    let text = secrets.encode();
    for (name, r) in [(RECOVERY, recovery), (founder, founder_recipient)] {
        store::supervisor_keys::put(tx, 0, name, &crate::crypto::encrypt(r, text.as_bytes())?)?;
    }
    Ok(key)
}

impl Session {
    /// The checkpoint keys this session signs with, in `log::append_with` order: none unless
    /// it is a supervisor holding the chain's current key; the current key; or, when the
    /// newest generation's key is not current yet, the current key and that one (handover).
    pub(super) fn checkpoint_signers(&self, conn: &Connection) -> Result<Vec<SigningKey>> {
        if self.role != Role::Supervisor {
            return Ok(Vec::new());
        }
        let origin = super::disclosure::origin(conn)?;
        let pinned = pinned(conn)?;
        let chain = log::key_chain(conn, &pinned)?;
        self.check_chain(conn, &chain)?;
        let current = chain.current();
        let held = self.held_checkpoint_keys(conn)?;
        let of = |k: &SigningKey| VerifierKey::new(&origin, k.verifying_key());
        let Some(cur) = held.iter().find(|k| of(k) == *current) else {
            return Ok(Vec::new());
        };
        let mut out = vec![cur.clone()];
        // The newest generation still in use names the key that should be current.
        if let Some(g) = self.agency_generations()?.into_iter().find(|g| !g.stale) {
            if let Some(named) = &g.keys.checkpoint {
                let in_chain = chain.keys().any(|k| k.encode() == *named);
                if !in_chain {
                    if let Some(next) = held.iter().find(|k| of(k).encode() == *named) {
                        out.push(next.clone());
                    }
                }
            }
        }
        Ok(out)
    }

    /// In-vault check of the key chain against the generations' signed claims: once a
    /// checkpoint is larger than the size right after a generation's claim, the chain must
    /// have handed over to the key that claim names (every checkpoint signer holds every
    /// generation and hands over at once). A chain that stops short — handover notes deleted
    /// so an older key, e.g. a departed supervisor's copy, signs again — is a tamper alarm,
    /// never repaired by a new handover.
    pub fn check_chain(&self, conn: &Connection, chain: &log::KeyChain) -> Result<()> {
        let Some((size, _)) = log::latest_checkpoint(conn)? else {
            return Ok(());
        };
        // Newest first: a generation whose key the chain skipped (made by a supervisor who
        // could not hand over) is fine when the chain reached a newer one.
        let mut reached_newer = false;
        for g in self.agency_generations()? {
            let Some(named) = &g.keys.checkpoint else {
                continue;
            };
            let reached = reached_newer || chain.keys().any(|k| k.encode() == *named);
            // The checkpoint right after the claim may still be the old key's (the claim's own
            // append signs before the generation exists); beyond it the chain must hold the
            // generation's key. (A handover at exactly that size, replaced by an old-key note,
            // is not caught here: docs/disclosure-log.md, "Checkpoint key chain".)
            if size > g.index + 1 && !reached {
                return Err(log::LogError::Alarm {
                    size,
                    reason: crate::tr!("log.chain_short", generation = g.generation),
                }
                .into());
            }
            reached_newer = reached;
        }
        Ok(())
    }

    /// The key chain's problem against the generations' claims, if any (for `log verify` and
    /// `audit run`, which report it beside the log's own errors).
    pub fn chain_alarm(&self) -> Result<Option<log::LogError>> {
        let chain = log::key_chain(&self.conn, &pinned(&self.conn)?)?;
        match self.check_chain(&self.conn, &chain) {
            Ok(()) => Ok(None),
            Err(Error::Log(e)) => Ok(Some(e)),
            Err(e) => Err(e),
        }
    }

    /// Every checkpoint key this member can unwrap (their generations, and the legacy key in
    /// the database of an upgraded vault).
    fn held_checkpoint_keys(&self, conn: &Connection) -> Result<Vec<SigningKey>> {
        let mut out = Vec::new();
        for generation in store::supervisor_keys::held_by(conn, &self.me.name)? {
            let Some(wrapped) = store::supervisor_keys::get(conn, generation, &self.me.name)?
            else {
                continue;
            };
            let tampered = || Error::Tampered {
                what: "supervisor key",
                id: generation.to_string(),
            };
            let plain = crate::crypto::decrypt(&[&self.me.age], &wrapped)?.ok_or_else(tampered)?;
            let text = Zeroizing::new(String::from_utf8(plain.to_vec()).map_err(|_| tampered())?);
            let secrets = GenerationSecrets::decode(&text).ok_or_else(tampered)?;
            out.extend(secrets.checkpoint);
        }
        if let Some(raw) = store::meta::get(conn, LEGACY)? {
            let raw = Zeroizing::new(raw);
            let seed: [u8; 32] = raw.as_slice().try_into().map_err(|_| Error::Tampered {
                what: "vault setting",
                id: LEGACY.into(),
            })?;
            out.push(SigningKey::from_bytes(&seed));
        }
        Ok(out)
    }

    /// Signs a checkpoint covering the head if it is ahead of the newest one, or hands over to
    /// the newest generation's key (what a supervisor session does when it opens). A session
    /// without the key does nothing.
    pub(super) fn checkpoint_head(&self) -> Result<()> {
        if self.role != Role::Supervisor {
            return Ok(());
        }
        // A read first: most opens have nothing to sign and take no write lock.
        let keys = self.checkpoint_signers(&self.conn)?;
        let entries: i64 = self
            .conn
            .query_row("SELECT count(*) FROM log_entries", [], |r| r.get(0))?;
        let covered = log::latest_checkpoint(&self.conn)?.map_or(0, |c| c.0);
        if keys.is_empty() || (keys.len() == 1 && covered == entries as u64) {
            return Ok(());
        }
        store::write(&self.conn, |tx| {
            let keys = self.checkpoint_signers(tx)?;
            let refs: Vec<&SigningKey> = keys.iter().collect();
            log::checkpoint(tx, &refs, &super::disclosure::origin(tx)?)?;
            if keys.len() > 1 {
                retire_legacy(tx)?;
            }
            Ok(())
        })
    }

    /// Appends `req` by this member; a supervisor holding the checkpoint key signs a
    /// checkpoint with it (and hands over if due), others leave the head uncovered.
    pub(super) fn append_checkpointed(
        &self,
        tx: &Transaction,
        req: &log::NewEntry,
    ) -> Result<log::Receipt> {
        let keys = self.checkpoint_signers(tx)?;
        let refs: Vec<&SigningKey> = keys.iter().collect();
        let r = log::append_with(
            tx,
            req,
            &self.me.signing,
            &refs,
            &super::disclosure::origin(tx)?,
            crate::domain::time::now(),
        )?;
        if keys.len() > 1 {
            retire_legacy(tx)?;
        }
        Ok(r)
    }

    /// [`append_checkpointed`](Self::append_checkpointed) for several non-registry entries.
    pub(super) fn append_many_checkpointed(
        &self,
        tx: &Transaction,
        reqs: &[log::NewEntry],
    ) -> Result<Vec<u64>> {
        let keys = self.checkpoint_signers(tx)?;
        let refs: Vec<&SigningKey> = keys.iter().collect();
        let r = log::append_many_with(
            tx,
            reqs,
            &self.me.signing,
            &refs,
            &super::disclosure::origin(tx)?,
            crate::domain::time::now(),
        )?;
        if keys.len() > 1 {
            retire_legacy(tx)?;
        }
        Ok(r)
    }
}

/// The pinned (founding) verifier key of the vault's log.
fn pinned(conn: &Connection) -> Result<VerifierKey> {
    VerifierKey::parse(&super::disclosure::verifier_key(conn)?).map_err(|_| Error::Tampered {
        what: "vault setting",
        id: "verifier_key".into(),
    })
}

/// After a handover the legacy database copy of the old key is deleted (same transaction).
fn retire_legacy(tx: &Transaction) -> Result<()> {
    if store::meta::get(tx, LEGACY)?.is_some() {
        store::meta::delete(tx, LEGACY)?;
    }
    Ok(())
}
