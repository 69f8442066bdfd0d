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

/// The verifier key auditors use: `<origin>+<keyid>+<base64 key>`, of the founding checkpoint
/// key (recorded when the log was founded, pinned in every member's identity file). Later
/// checkpoint keys follow from it through `log::KeyChain`.
pub fn verifier_key(conn: &Connection) -> Result<String> {
    log::stored_verifier_key(conn)?.ok_or_else(|| Error::Tampered {
        what: "vault setting",
        id: "verifier_key".into(),
    })
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

/// Appends `req` signed by `signer` (whose name is `req.actor`) with no checkpoint: the head
/// stays uncovered until a checkpoint key holder signs one.
pub fn append_as(
    tx: &Transaction,
    req: &NewEntry,
    signer: &SigningKey,
    now: i64,
) -> Result<Receipt> {
    append_as_with(tx, req, signer, &[], now)
}

/// [`append_as`] and a checkpoint signed by the checkpoint keys `ckpt` (see
/// `log::append_with`).
pub fn append_as_with(
    tx: &Transaction,
    req: &NewEntry,
    signer: &SigningKey,
    ckpt: &[&SigningKey],
    now: i64,
) -> Result<Receipt> {
    Ok(log::append_with(tx, req, signer, ckpt, &origin(tx)?, now)?)
}

impl Session {
    /// Appends an entry by this session's staff member inside `tx` (a supervisor's session
    /// signs a checkpoint covering it; others leave it for the next supervisor session).
    pub fn log_append(&self, tx: &Transaction, req: &NewEntry) -> Result<Receipt> {
        self.append_checkpointed(tx, req)
    }

    /// Appends several non-registry entries by this member (one head check, one checkpoint).
    pub fn log_append_many(&self, tx: &Transaction, reqs: &[NewEntry]) -> Result<Vec<u64>> {
        self.append_many_checkpointed(tx, reqs)
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
}

/// One log entry as people see it.
#[derive(Debug, serde::Serialize)]
pub struct LogRow {
    pub index: u64,
    pub time: i64,
    pub kind: &'static str,
    pub actor: String,
    /// The client's number when the viewer may see clients, else the first bytes of the MAC.
    pub client: Option<String>,
    pub case: Option<String>,
    pub recipient: String,
    pub purpose: String,
    pub basis: String,
    pub approver: Option<String>,
    pub disclosed_sha256: Option<String>,
    pub detail: String,
}

/// What [`Session::log_head_status`] found.
#[derive(Debug)]
pub struct HeadStatus {
    /// Entries stored.
    pub size: u64,
    /// The latest checkpoint's size.
    pub latest: Option<u64>,
    /// Alarms, empty when the head checks out.
    pub errors: Vec<String>,
}

/// What `log show` filters on.
#[derive(Debug, Default)]
pub struct LogQuery {
    pub client: Option<String>,
    pub recipient: Option<String>,
    pub kind: Option<String>,
    pub from: Option<i64>,
    pub until: Option<i64>,
}

pub(super) fn basis_text(b: &LegalBasis) -> String {
    match b {
        LegalBasis::None => String::new(),
        LegalBasis::Consent(id) => format!("consent {id}"),
        LegalBasis::Emergency(r) => format!("emergency: {r}"),
        LegalBasis::Statutory(r) => format!("statutory: {r}"),
        LegalBasis::InternalDuty => "internal duty".into(),
    }
}

/// Client ids by their keyed hash, filled on demand: ids never change, so only clients added
/// since the last fill are hashed again (a page of the log costs no pass over every client).
#[derive(Default)]
pub(super) struct ClientMacs {
    /// Every client id up to this one is in `by_mac`.
    upto: i64,
    by_mac: std::collections::HashMap<[u8; 32], i64>,
}

impl ClientMacs {
    /// Hashes the clients added since the last fill when one of `wanted` is not known yet.
    fn extend(&mut self, conn: &Connection, wanted: &[[u8; 32]]) -> Result<()> {
        if wanted.iter().all(|m| self.by_mac.contains_key(m)) {
            return Ok(());
        }
        let ids = store::clients::ids_after(conn, self.upto)?;
        if ids.is_empty() {
            return Ok(());
        }
        let raw = zeroize::Zeroizing::new(store::meta::require(conn, "id_hmac_key")?);
        let key: [u8; 32] = raw.as_slice().try_into().map_err(|_| Error::Tampered {
            what: "vault setting",
            id: "id_hmac_key".into(),
        })?;
        let key = zeroize::Zeroizing::new(key);
        for id in ids {
            self.by_mac
                .insert(log::id_mac(&key, "client", &id.to_string()), id);
            self.upto = self.upto.max(id);
        }
        Ok(())
    }
}

/// One entry as people see it; `number` names a client by its keyed hash when known.
fn log_row(e: log::Entry, number: impl Fn(&[u8; 32]) -> Option<String>) -> LogRow {
    let short = |m: &[u8; 32]| format!("#{}", crate::crypto::hex(&m[..6]));
    let detail = match &e.kind {
        Kind::StaffRegistered { name, role, .. } => format!("{name} ({role})"),
        Kind::StaffRevoked { name } => name.clone(),
        _ => e.detail.clone(),
    };
    LogRow {
        index: e.index,
        time: e.time,
        kind: e.kind.code().name(),
        actor: e.actor,
        client: e
            .client_mac
            .map(|m| number(&m).unwrap_or_else(|| short(&m))),
        case: e.case_mac.map(|m| short(&m)),
        recipient: e.recipient,
        purpose: e.purpose,
        basis: basis_text(&e.basis),
        approver: e.approver,
        disclosed_sha256: e.disclosed_sha256.map(|h| crate::crypto::hex(&h)),
        detail,
    }
}

impl Session {
    /// Log entries matching `q`. Client numbers are shown only to roles that may see clients;
    /// others see the keyed hash the log stores.
    pub fn log_show(&self, q: &LogQuery) -> Result<Vec<LogRow>> {
        self.require(crate::policy::Action::LogRead)?;
        let names = self
            .policy
            .allows(self.role, crate::policy::Action::ClientRead);
        let mut filter = log::Filter {
            recipient: q.recipient.clone(),
            from: q.from,
            until: q.until,
            ..Default::default()
        };
        if let Some(k) = &q.kind {
            filter.kind = Some(
                log::KindCode::from_name(k)
                    .ok_or_else(|| Error::Invalid(crate::tr!("vault.log_bad_kind", kind = k)))?,
            );
        }
        if let Some(c) = &q.client {
            let client = store::clients::find(&self.conn, c)?.ok_or_else(|| Error::NotFound {
                what: "client",
                id: c.clone(),
            })?;
            filter.client_mac = Some(id_mac(&self.conn, "client", client.id)?);
        }
        let mut by_mac = std::collections::HashMap::new();
        if names {
            for c in store::clients::list(&self.conn, None)? {
                by_mac.insert(id_mac(&self.conn, "client", c.id)?, c.data.number);
            }
        }
        Ok(log::entries(&self.conn, &filter)?
            .into_iter()
            .map(|l| log_row(l.entry, |m| by_mac.get(m).cloned()))
            .collect())
    }

    /// The stored size and page `skip / limit` of the log, newest first, read by index range;
    /// each shown entry's signature checked against the staff registry (verified from the
    /// staff entries now, so members registered since this session opened count). Client
    /// numbers as in [`log_show`](Self::log_show), for the shown entries only.
    pub fn log_page(&self, skip: u64, limit: u64) -> Result<(u64, Vec<LogRow>)> {
        self.require(crate::policy::Action::LogRead)?;
        let names = self
            .policy
            .allows(self.role, crate::policy::Action::ClientRead);
        let reg = log::verified_registry(&self.conn)?;
        let (size, listed) = log::latest_page(&self.conn, &reg, skip, limit)?;
        let mut numbers = std::collections::HashMap::new();
        if names {
            let wanted: Vec<[u8; 32]> = listed.iter().filter_map(|l| l.entry.client_mac).collect();
            if !wanted.is_empty() {
                let mut macs = self.client_macs.borrow_mut();
                macs.extend(&self.conn, &wanted)?;
                for m in wanted {
                    if let Some(id) = macs.by_mac.get(&m) {
                        if let Some(c) = store::clients::get(&self.conn, *id)? {
                            numbers.insert(m, c.data.number);
                        }
                    }
                }
            }
        }
        let rows = listed
            .into_iter()
            .map(|l| log_row(l.entry, |m| numbers.get(m).cloned()))
            .collect();
        Ok((size, rows))
    }

    /// The log's state without reading every entry: the head checked against the last
    /// checkpoint (its signature under the key chain, the last entry, the entries since) and
    /// against the head this installation remembers (rollback, fork), the key chain against
    /// the generations' claims. O(log n + entries since the last checkpoint). What it finds
    /// is in `errors`; the full check is [`log_verify`](Self::log_verify).
    pub fn log_head_status(&self) -> Result<HeadStatus> {
        self.require(crate::policy::Action::LogVerify)?;
        let mut errors = Vec::new();
        let vkey =
            log::VerifierKey::parse(&verifier_key(&self.conn)?).map_err(|_| Error::Tampered {
                what: "vault setting",
                id: "verifier_key".into(),
            })?;
        if let Err(e) = log::head(&self.conn, &vkey) {
            errors.push(e.to_string());
        }
        match self.remember_head() {
            Ok(_) => {}
            Err(e @ (Error::LogRollback { .. } | Error::LogFork { .. })) => {
                errors.push(e.to_string())
            }
            Err(e) => return Err(e),
        }
        errors.extend(self.chain_alarm()?.map(|e| e.to_string()));
        Ok(HeadStatus {
            size: log::stored_size(&self.conn)?,
            latest: log::latest_checkpoint(&self.conn)?.map(|c| c.0),
            errors,
        })
    }

    /// Verifies the whole log inside the vault against the agency key.
    pub fn log_verify(&self, earlier: &[log::Earlier]) -> Result<log::VerifyReport> {
        self.require(crate::policy::Action::LogVerify)?;
        let mut report = log::verify_db_with(&self.conn, &verifier_key(&self.conn)?, earlier)?;
        report.errors.extend(self.chain_alarm()?);
        Ok(report)
    }

    /// Writes what an outside auditor needs (no client identities) to `dir`.
    pub fn log_export(&self, dir: &std::path::Path) -> Result<u64> {
        self.require(crate::policy::Action::LogRead)?;
        Ok(log::export(&self.conn, dir)?)
    }
}
