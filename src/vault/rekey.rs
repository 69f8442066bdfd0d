//! Re-encrypting old records under fresh case keys (after offboarding or a suspected leak).

use std::collections::HashMap;

use rayon::prelude::*;
use zeroize::Zeroizing;

use super::Session;
use crate::crypto;
use crate::domain::time::now;
use crate::error::{Error, Result};
use crate::policy::Action;
use crate::store;

/// What a rekey did.
#[derive(Debug, Default, serde::Serialize)]
pub struct RekeyReport {
    pub cases: u64,
    pub records: u64,
}

impl Session {
    /// Gives each case (one, or all with `None`) a fresh key epoch, re-encrypts every record
    /// to it and deletes the old epochs' keys, one transaction per case. Signatures stay valid:
    /// they cover the plaintext, not the ciphertext. Needs a holder of every tier (a supervisor).
    pub fn rekey(
        &mut self,
        case: Option<i64>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<RekeyReport> {
        self.require(Action::Rekey)?;
        let cases = match case {
            Some(c) => {
                self.case_access(c)?;
                vec![c]
            }
            None => store::keys::all_cases(&self.conn)?,
        };
        let mut report = RekeyReport::default();
        for (i, &c) in cases.iter().enumerate() {
            report.records += self.rekey_case(c)?;
            report.cases += 1;
            progress(i as u64 + 1, cases.len() as u64);
        }
        Ok(report)
    }

    /// Rekeys one case in one IMMEDIATE transaction. The records present beforehand are
    /// decrypted first, outside the write lock (the bulk of the work); inside the transaction
    /// everything still under an older epoch is listed again (records, attachments, scanned
    /// consent forms), so a row another process committed meanwhile is re-encrypted too. Old
    /// keys are deleted only once the transaction shows nothing references them; any failure
    /// rolls the whole case back, old keys and all.
    fn rekey_case(&mut self, case_id: i64) -> Result<u64> {
        let mut plain: HashMap<(i64, i64), Zeroizing<Vec<u8>>> = HashMap::new();
        {
            // One read snapshot: rows and the keys they name stay consistent even if another
            // rekey commits meanwhile.
            let _snapshot = self.conn.unchecked_transaction()?;
            for m in store::records::list(&self.conn, case_id)? {
                if let Some(rec) = store::records::get(&self.conn, m.id)? {
                    plain.insert((m.id, m.epoch), self.decrypt_record(&rec)?);
                }
            }
        }
        test_pause();
        let at = now();
        let policy = &self.policy;
        let tx = store::immediate(&self.conn)?;
        self.new_epochs(&tx, &[case_id], at)?;
        let epoch = store::keys::current_epoch(&tx, case_id)?.unwrap_or(1);
        let mut recipients = HashMap::new();
        for t in &policy.tiers {
            recipients.insert(t.level, self.tier_recipient(&tx, case_id, epoch, t.level)?);
        }
        let recipient = |tier: u8| {
            recipients.get(&tier).ok_or(Error::Tampered {
                what: "case key",
                id: format!("{case_id}/{epoch}/{tier}"),
            })
        };
        // Records: what was decrypted above, and anything written or rekeyed since.
        let stale = store::records::before_epoch(&tx, case_id, epoch)?;
        let mut jobs = Vec::with_capacity(stale.len());
        for m in &stale {
            let p = match plain.remove(&(m.id, m.epoch)) {
                Some(p) => p,
                None => {
                    let rec = store::records::get(&tx, m.id)?.ok_or(Error::NotFound {
                        what: "record",
                        id: m.id.to_string(),
                    })?;
                    self.decrypt_record(&rec)?
                }
            };
            jobs.push((m.id, recipient(m.tier)?, p));
        }
        let bodies: Vec<Vec<u8>> = jobs
            .par_iter()
            .map(|(_, r, p)| crypto::encrypt(*r, p))
            .collect::<Result<_>>()?;
        for ((id, _, _), body) in jobs.iter().zip(&bodies) {
            store::records::set_body(&tx, *id, epoch, body)?;
        }
        // Attachments, one at a time (they can be large).
        for (record, seq, old, tier) in store::attachments::before_epoch(&tx, case_id, epoch)? {
            let (_, body) = store::attachments::get(&tx, record, seq)?.ok_or(Error::NotFound {
                what: "attachment",
                id: format!("{}#{}", record, seq + 1),
            })?;
            let bytes = self.decrypt_old(case_id, old, tier, &body, "attachment", || {
                format!("{}#{}", record, seq + 1)
            })?;
            let body = crypto::encrypt(recipient(tier)?, &bytes)?;
            store::attachments::set_body(&tx, record, seq, epoch, &body)?;
        }
        // Scanned consent forms encrypted to this case's keys.
        for (id, f) in store::consents::forms_before_epoch(&tx, case_id, epoch)? {
            let bytes =
                self.decrypt_old(case_id, f.epoch, f.tier, &f.body, "consent form", || {
                    id.to_string()
                })?;
            let body = crypto::encrypt(recipient(f.tier)?, &bytes)?;
            store::consents::set_form(&tx, id, epoch, &body)?;
        }
        // The proof, in the same transaction as the delete: nothing is left under an old epoch.
        let left = store::keys::refs_before_epoch(&tx, case_id, epoch)?;
        if left != 0 {
            return Err(Error::RekeyIncomplete {
                case: case_id,
                left,
            });
        }
        store::keys::delete_before_epoch(&tx, case_id, epoch)?;
        let mut e = self.log_entry(crate::log::Kind::KeyChange, Some(case_id))?;
        e.detail = format!("rekey: {} records", stale.len());
        self.log_append(&tx, &e)?;
        tx.commit()?;
        self.key_cache
            .borrow_mut()
            .retain(|(c, _), _| *c != case_id);
        Ok(stale.len() as u64)
    }

    /// Decrypts a ciphertext stored under tier `tier` of an older epoch of a case.
    fn decrypt_old(
        &self,
        case_id: i64,
        epoch: i64,
        tier: u8,
        body: &[u8],
        what: &'static str,
        id: impl Fn() -> String,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let set = self.case_keys(case_id, epoch)?;
        let identity = set.tier(tier).ok_or(Error::NotAssigned {
            case: case_id.to_string(),
        })?;
        crypto::decrypt(&[identity], body)?.ok_or_else(|| Error::Tampered { what, id: id() })
    }
}

/// Tests only (`CASEVAULT_TEST_MODE=1`): with `CASEVAULT_TEST_REKEY_PAUSE=<path>`, a rekey
/// creates `<path>.ready` once it has decrypted a case's records and waits (up to a minute)
/// for `<path>` to exist before taking its write transaction, so a test can commit a
/// concurrent write exactly in that window. No content is written.
fn test_pause() {
    if !std::env::var("CASEVAULT_TEST_MODE").is_ok_and(|v| v == "1") {
        return;
    }
    let Some(path) = std::env::var_os("CASEVAULT_TEST_REKEY_PAUSE") else {
        return;
    };
    let go = std::path::PathBuf::from(path);
    let mut ready = go.clone().into_os_string();
    ready.push(".ready");
    let _ = crate::private::write(std::path::Path::new(&ready), b"");
    for _ in 0..600 {
        if go.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
