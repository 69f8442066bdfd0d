//! Re-encrypting old records under fresh case keys (after offboarding or a suspected leak).

use rayon::prelude::*;

use super::keys;
use super::Session;
use crate::crypto;
use crate::domain::time::now;
use crate::error::Result;
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

    fn rekey_case(&mut self, case_id: i64) -> Result<u64> {
        let records = store::records::list(&self.conn, case_id)?;
        // Decrypt everything first with the keys we hold (fails before any write if we can't).
        let mut plain = Vec::with_capacity(records.len());
        for m in &records {
            let rec = store::records::get(&self.conn, m.id)?.expect("listed");
            plain.push((m.clone(), self.decrypt_record(&rec)?));
        }
        let at = now();
        let policy = &self.policy;
        let mut e = self.log_entry(crate::log::Kind::KeyChange, Some(case_id))?;
        e.detail = format!("rekey case {case_id}: {} records", records.len());
        let tx = store::immediate(&self.conn)?;
        keys::new_epochs(&tx, policy, &[case_id], at)?;
        let epoch = store::keys::current_epoch(&tx, case_id)?.unwrap_or(1);
        let mut recipients = Vec::new();
        for t in &policy.tiers {
            recipients.push((t.level, keys::tier_recipient(&tx, case_id, epoch, t.level)?));
        }
        let bodies: Vec<Vec<u8>> = plain
            .par_iter()
            .map(|(m, p)| {
                let r = &recipients
                    .iter()
                    .find(|(t, _)| *t == m.tier)
                    .expect("every tier")
                    .1;
                crypto::encrypt(r, p)
            })
            .collect::<Result<_>>()?;
        for ((m, _), body) in plain.iter().zip(&bodies) {
            store::records::set_body(&tx, m.id, epoch, body)?;
        }
        // Attachments, one at a time (they can be large): the old epochs' keys are still
        // there until the deletes below.
        for (m, _) in &plain {
            let r = &recipients
                .iter()
                .find(|(t, _)| *t == m.tier)
                .expect("every tier")
                .1;
            for seq in store::attachments::seqs(&tx, m.id)? {
                let (old_epoch, body) = store::attachments::get(&tx, m.id, seq)?.expect("listed");
                let set = self.case_keys(case_id, old_epoch)?;
                let identity = set
                    .tier(m.tier)
                    .ok_or(crate::error::Error::SupervisorOnly {
                        record: m.id.to_string(),
                    })?;
                let bytes =
                    crypto::decrypt(&[identity], &body)?.ok_or(crate::error::Error::Tampered {
                        what: "attachment",
                        id: format!("{}#{}", m.id, seq + 1),
                    })?;
                store::attachments::set_body(&tx, m.id, seq, epoch, &crypto::encrypt(r, &bytes)?)?;
            }
        }
        tx.execute(
            "DELETE FROM key_wraps WHERE case_id = ?1 AND epoch < ?2",
            rusqlite::params![case_id, epoch],
        )?;
        tx.execute(
            "DELETE FROM case_keys WHERE case_id = ?1 AND epoch < ?2",
            rusqlite::params![case_id, epoch],
        )?;
        self.log_append(&tx, &e)?;
        tx.commit()?;
        self.key_cache
            .borrow_mut()
            .retain(|(c, _), _| *c != case_id);
        Ok(records.len() as u64)
    }
}
