//! The vault's side of the disclosure log: one place that turns vault events into log
//! entries, signed by the acting staff member, inside the caller's transaction.
//!
//! Fail closed: callers append inside the same IMMEDIATE transaction as the change it
//! records, commit, and only then release anything. If the append fails, the transaction
//! rolls back and nothing is disclosed.

use ed25519_dalek::SigningKey;
use rusqlite::{Connection, Transaction};

use super::Session;
use crate::error::{Error, Result};
use crate::log::{self, Kind, LegalBasis, NewEntry, Receipt};
use crate::store;

/// The log's origin line for this vault (stable, no identities).
pub fn origin(conn: &Connection) -> Result<String> {
    Ok(format!(
        "casevault.local/{}",
        store::meta::require_text(conn, "vault_id")?
    ))
}

/// The agency log signing key, from the database.
pub fn log_key(conn: &Connection) -> Result<SigningKey> {
    let raw = zeroize::Zeroizing::new(store::meta::require(conn, "log_signing_key")?);
    let seed: [u8; 32] = raw.as_slice().try_into().map_err(|_| Error::Tampered {
        what: "vault setting",
        id: "log_signing_key".into(),
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The verifier key auditors use: `<origin>+<keyid>+<base64 key>`.
pub fn verifier_key(conn: &Connection) -> Result<String> {
    Ok(log::verifier_key(
        &origin(conn)?,
        &log_key(conn)?.verifying_key(),
    ))
}

/// The keyed hash of a client or case id, as the log stores it.
pub fn id_mac(conn: &Connection, label: &str, id: i64) -> Result<[u8; 32]> {
    let raw = zeroize::Zeroizing::new(store::meta::require(conn, "id_hmac_key")?);
    let key: [u8; 32] = raw.as_slice().try_into().map_err(|_| Error::Tampered {
        what: "vault setting",
        id: "id_hmac_key".into(),
    })?;
    Ok(log::id_mac(&key, label, &id.to_string()))
}

/// Appends `req` signed by `signer` (whose name is `req.actor`).
pub fn append_as(
    tx: &Transaction,
    req: &NewEntry,
    signer: &SigningKey,
    now: i64,
) -> Result<Receipt> {
    Ok(log::append(
        tx,
        req,
        signer,
        &log_key(tx)?,
        &origin(tx)?,
        now,
    )?)
}

impl Session {
    /// Appends an entry by this session's staff member inside `tx`.
    pub fn log_append(&self, tx: &Transaction, req: &NewEntry) -> Result<Receipt> {
        append_as(tx, req, &self.me.signing, crate::domain::time::now())
    }

    /// A new entry by this session's staff member, about a case (and its client) if given.
    pub fn log_entry(&self, kind: Kind, case_id: Option<i64>) -> Result<NewEntry> {
        let mut e = NewEntry::new(kind, &self.me.name);
        if let Some(c) = case_id {
            e.case_mac = Some(id_mac(&self.conn, "case", c)?);
            if let Some(case) = store::cases::get(&self.conn, c)? {
                e.client_mac = Some(id_mac(&self.conn, "client", case.client_id)?);
            }
        }
        Ok(e)
    }

    /// A key change (wrappings, epochs, database key) as a log entry, committed on its own.
    pub(super) fn log_key_change(&self, case_id: Option<i64>, detail: String) -> Result<()> {
        let mut e = self.log_entry(Kind::KeyChange, case_id)?;
        e.basis = LegalBasis::None;
        e.detail = detail;
        let tx = store::immediate(&self.conn)?;
        self.log_append(&tx, &e)?;
        tx.commit()?;
        Ok(())
    }
}
