//! The vault's witness client (issue 11 item 2, `docs/witness.md`): after a disclosure's log
//! entry and checkpoint are **committed**, the checkpoint goes to each witness the policy
//! names, with the consistency proof from the size that witness cosigned last, and the
//! cosignatures come back into the `cosignatures` table.
//!
//! Fail closed: with `witness_quorum = k > 0`, a disclosure is released only with a checkpoint
//! carrying k valid cosignatures. Otherwise it stays logged and unreleased ("queue and
//! retry"): `casevault log witness` submits the latest checkpoint again, then `referral
//! resend` / `request resend` release it. Never called inside a write transaction: a witness
//! that saw a checkpoint later rolled back would hold a fork of the log for ever.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Serialize;

use super::Session;
use crate::error::{Error, Result};
use crate::log::cosign::{with_lines, CosignerKey};
use crate::log::{self, Checkpoint, Receipt};
use crate::policy::WitnessPolicy;
use crate::store::{self, cosignatures::Cosignature};
use crate::tr;
use crate::witness::http;

/// What one submission of a checkpoint to the policy's witnesses gave.
#[derive(Debug, Serialize)]
pub struct WitnessRun {
    pub size: u64,
    /// The checkpoint note with every valid cosignature appended.
    pub note: String,
    /// Witnesses with a valid cosignature on it.
    pub cosigned: Vec<String>,
    /// Why the others have none, one line each.
    pub failures: Vec<String>,
    pub need: usize,
}

/// Stored cosignatures checked against the policy (for `log verify`).
#[derive(Debug, Default, Serialize)]
pub struct WitnessCheck {
    /// Checkpoint sizes with at least one stored cosignature (and the latest checkpoint).
    pub checkpoints: usize,
    /// Of those, how many carry the quorum of valid cosignatures.
    pub meeting_quorum: usize,
    pub need: usize,
    /// Whether the latest checkpoint meets the quorum.
    pub latest_ok: bool,
    /// Cosignatures that do not verify or do not sign this log's tree at that size.
    pub invalid: Vec<String>,
}

/// The outcome of one submission to one witness.
enum Submitted {
    Line(String),
    Failed(String),
    Alarm(String),
}

fn keys_of(policy: &[WitnessPolicy]) -> Vec<(WitnessPolicy, CosignerKey)> {
    // The policy was validated when it was put in force; a key that no longer parses counts
    // as no witness (fail closed: the quorum cannot be met with it).
    policy
        .iter()
        .filter_map(|w| CosignerKey::parse(&w.key).ok().map(|k| (w.clone(), k)))
        .collect()
}

impl Session {
    /// The receipt whose checkpoint carries the quorum of witness cosignatures, or
    /// [`Error::AwaitingWitnesses`] (logged, not released) or [`Error::WitnessAlarm`]. With
    /// no quorum in the policy, the receipt as it is. Call after the commit, before release.
    pub fn witnessed(&self, mut receipt: Receipt) -> Result<Receipt> {
        // Made by a member without the checkpoint key: nothing anchors it yet (fail closed).
        if receipt.checkpoint.is_empty() {
            let retry = match store::cosignatures::disclosure_at(&self.conn, receipt.index)? {
                Some((what, id)) => super::output::resend_command(
                    &self.dir.root,
                    &self.me.name,
                    &format!("{what} resend {id}"),
                    std::path::Path::new("FILE"),
                ),
                None => "casevault log verify".into(),
            };
            return Err(Error::AwaitingCheckpoint {
                log_index: receipt.index,
                retry,
            });
        }
        let need = self.policy.witness_quorum;
        if need == 0 {
            return Ok(receipt);
        }
        self.witness_handover()?;
        let run = self.witness_note(&receipt.checkpoint)?;
        if run.cosigned.len() >= need {
            receipt.checkpoint = run.note;
            return Ok(receipt);
        }
        let retry = match store::cosignatures::disclosure_at(&self.conn, receipt.index)? {
            Some((what, id)) => super::output::resend_command(
                &self.dir.root,
                &self.me.name,
                &format!("{what} resend {id}"),
                std::path::Path::new("FILE"),
            ),
            None => "casevault log witness".into(),
        };
        Err(Error::AwaitingWitnesses {
            log_index: receipt.index,
            have: run.cosigned.len(),
            need,
            failures: run.failures,
            retry,
        })
    }

    /// Submits the latest checkpoint to every witness in the policy (`casevault log witness`).
    /// Any staff member may: it reveals nothing a released receipt does not, and the one
    /// whose disclosure waits needs it.
    pub fn log_witness(&self) -> Result<WitnessRun> {
        let Some((_, note)) = log::latest_checkpoint(&self.conn)? else {
            return Err(Error::Invalid(tr!("witness.no_checkpoint")));
        };
        self.witness_handover()?;
        self.witness_note(&note)
    }

    /// Submits the checkpoint key handovers no witness cosigned yet, oldest first: a witness
    /// follows the key chain only through the handover notes (co-signed by the old and new
    /// key, naming the new one), so later checkpoints signed by the new key alone would be
    /// refused otherwise. Failures here are left to the submission of the checkpoint itself.
    fn witness_handover(&self) -> Result<()> {
        for note in log::handover_notes(&self.conn)? {
            let Ok(cp) = Checkpoint::parse_unverified(&note) else {
                continue;
            };
            if store::cosignatures::at(&self.conn, cp.size)?.is_empty() {
                let _ = self.witness_note(&note);
            }
        }
        Ok(())
    }

    /// Collects cosignatures on `note` (one of our checkpoints, committed): stored valid ones,
    /// and from each witness without one, a fresh submission.
    fn witness_note(&self, note: &str) -> Result<WitnessRun> {
        let cp = Checkpoint::parse_unverified(note)
            .map_err(|reason| log::LogError::Checkpoint { size: None, reason })?;
        let body = cp.body();
        let stored = store::cosignatures::at(&self.conn, cp.size)?;
        let mut lines = Vec::new();
        let mut cosigned = Vec::new();
        let mut failures = Vec::new();
        let mut alarm = None;
        for (w, key) in keys_of(&self.policy.witnesses) {
            let have = stored.iter().find(|c| {
                c.witness == w.name && c.body == body && key.verify_line(&body, &c.line).is_ok()
            });
            let line = match have {
                Some(c) => c.line.clone(),
                None => match self.submit(&w, &key, note, &cp)? {
                    Submitted::Line(l) => l,
                    Submitted::Failed(why) => {
                        failures.push(why);
                        continue;
                    }
                    Submitted::Alarm(why) => {
                        failures.push(why.clone());
                        alarm.get_or_insert(Error::WitnessAlarm {
                            witness: w.name.clone(),
                            reason: why,
                        });
                        continue;
                    }
                },
            };
            lines.push(line);
            cosigned.push(w.name.clone());
        }
        if let Some(a) = alarm {
            return Err(a);
        }
        Ok(WitnessRun {
            size: cp.size,
            note: with_lines(note, &lines),
            cosigned,
            failures,
            need: self.policy.witness_quorum,
        })
    }

    /// One witness, with one retry after a 409 that names the size it holds.
    fn submit(
        &self,
        w: &WitnessPolicy,
        key: &CosignerKey,
        note: &str,
        cp: &Checkpoint,
    ) -> Result<Submitted> {
        let name = &w.name;
        let mut old = store::cosignatures::witness_size(&self.conn, name)?;
        let log_size = log::latest_checkpoint(&self.conn)?.map_or(0, |c| c.0);
        for attempt in 0..2 {
            if old > cp.size {
                // It cosigned a later checkpoint of ours: this older one cannot be shown to it
                // any more; the latest checkpoint (log witness + resend) can.
                return Ok(Submitted::Failed(tr!(
                    "witness.refused",
                    witness = name,
                    status = 409,
                    reason = format!("{old} > {}", cp.size)
                )));
            }
            let proof = log::consistency_between(&self.conn, old, cp.size)?;
            let mut req = format!("old {old}\n");
            for h in &proof {
                req.push_str(&B64.encode(h));
                req.push('\n');
            }
            req.push('\n');
            req.push_str(note);
            let reply = match http::post_add_checkpoint(&w.url, &req) {
                Ok(r) => r,
                Err(e) => {
                    return Ok(Submitted::Failed(tr!(
                        "witness.unreachable",
                        witness = name,
                        reason = e
                    )))
                }
            };
            let reason = reply.body.trim().chars().take(200).collect::<String>();
            match reply.status {
                200 => {
                    let body = cp.body();
                    let Some(line) = reply
                        .body
                        .lines()
                        .find(|l| key.verify_line(&body, l).is_ok())
                    else {
                        return Ok(Submitted::Failed(tr!("witness.bad_reply", witness = name)));
                    };
                    store::cosignatures::put(
                        &self.conn,
                        &Cosignature {
                            size: cp.size,
                            witness: name.clone(),
                            body,
                            line: line.to_string(),
                        },
                    )?;
                    store::cosignatures::set_witness_size(&self.conn, name, cp.size)?;
                    return Ok(Submitted::Line(line.to_string()));
                }
                409 if attempt == 0 && reply.content_type.starts_with("text/x.tlog.size") => {
                    let Ok(theirs) = reply.body.trim().parse::<u64>() else {
                        return Ok(Submitted::Failed(tr!("witness.bad_reply", witness = name)));
                    };
                    if theirs > log_size {
                        // It cosigned a larger tree than we have: our log was rolled back.
                        return Ok(Submitted::Alarm(tr!(
                            "witness.refused",
                            witness = name,
                            status = 409,
                            reason = format!("{theirs} > {log_size}")
                        )));
                    }
                    if theirs == old {
                        // Same size, another root: a fork.
                        return Ok(Submitted::Alarm(tr!(
                            "witness.refused",
                            witness = name,
                            status = 409,
                            reason = reason
                        )));
                    }
                    store::cosignatures::set_witness_size(&self.conn, name, theirs)?;
                    old = theirs;
                }
                // 403: it no longer accepts our checkpoint key. After it has cosigned for us,
                // that means someone handed it over to another key first (a departed holder of
                // the current key): an alarm, not a wait.
                403 if old > 0 => {
                    return Ok(Submitted::Alarm(tr!(
                        "witness.refused",
                        witness = name,
                        status = 403,
                        reason = reason
                    )))
                }
                409 | 422 => {
                    return Ok(Submitted::Alarm(tr!(
                        "witness.refused",
                        witness = name,
                        status = reply.status,
                        reason = reason
                    )))
                }
                status => {
                    return Ok(Submitted::Failed(tr!(
                        "witness.refused",
                        witness = name,
                        status = status,
                        reason = reason
                    )))
                }
            }
        }
        Ok(Submitted::Failed(tr!("witness.bad_reply", witness = name)))
    }

    /// Checks every stored cosignature against the policy's witness keys and this log's tree
    /// at its size, and counts the checkpoints that meet the quorum (`log verify`).
    pub fn witness_check(&self) -> Result<WitnessCheck> {
        let need = self.policy.witness_quorum;
        let keys = keys_of(&self.policy.witnesses);
        let all = store::cosignatures::all(&self.conn)?;
        let origin = super::disclosure::origin(&self.conn)?;
        let latest = log::latest_checkpoint(&self.conn)?.map(|c| c.0);
        let mut sizes: BTreeSet<u64> = all.iter().map(|c| c.size).collect();
        sizes.extend(latest);
        if all.is_empty() {
            // Nothing to check: no second pass over the entries.
            let met = if need == 0 { sizes.len() } else { 0 };
            return Ok(WitnessCheck {
                checkpoints: sizes.len(),
                meeting_quorum: met,
                need,
                latest_ok: need == 0 || latest.is_none(),
                invalid: Vec::new(),
            });
        }
        let roots = log::roots_at(&self.conn, &sizes)?;
        let mut valid: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
        let mut out = WitnessCheck {
            checkpoints: sizes.len(),
            need,
            ..Default::default()
        };
        for c in &all {
            let bad = || {
                tr!(
                    "witness.bad_cosignature",
                    size = c.size,
                    witness = c.witness
                )
            };
            let Some((_, key)) = keys.iter().find(|(w, _)| w.name == c.witness) else {
                // A witness no longer in the policy: its cosignatures count for nothing.
                continue;
            };
            let ok = Checkpoint::parse_body(&c.body).is_ok_and(|cp| {
                cp.origin == origin && cp.size == c.size && roots.get(&c.size) == Some(&cp.root)
            }) && key.verify_line(&c.body, &c.line).is_ok();
            if ok {
                valid.entry(c.size).or_default().insert(c.witness.clone());
            } else {
                out.invalid.push(bad());
            }
        }
        let meets = |s: u64| valid.get(&s).map_or(0, |v| v.len()) >= need;
        out.meeting_quorum = sizes.iter().filter(|s| meets(**s)).count();
        out.latest_ok = latest.is_none_or(meets);
        Ok(out)
    }
}

/// The file of an export holding witness cosignatures: one block per cosigned checkpoint,
/// its body (`<origin>\n<size>\n<root>\n`), the cosignature lines, a blank line.
pub const COSIGNATURES_FILE: &str = "cosignatures.txt";

impl Session {
    /// Writes [`COSIGNATURES_FILE`] into an export directory (after `log_export`).
    pub fn export_cosignatures(&self, dir: &std::path::Path) -> Result<usize> {
        let all = store::cosignatures::all(&self.conn)?;
        let mut by_body: BTreeMap<(u64, String), Vec<String>> = BTreeMap::new();
        for c in all {
            by_body.entry((c.size, c.body)).or_default().push(c.line);
        }
        let mut text = String::new();
        for ((_, body), lines) in &by_body {
            text.push_str(body);
            for l in lines {
                text.push_str(l.trim_end());
                text.push('\n');
            }
            text.push('\n');
        }
        let path = dir.join(COSIGNATURES_FILE);
        crate::private::write(&path, text.as_bytes()).map_err(|e| Error::io(&path, e))?;
        Ok(by_body.len())
    }
}

/// Checks an export's [`COSIGNATURES_FILE`] offline against witness vkeys: each cosignature
/// must verify and sign the exported log's tree at its size under the log's origin.
pub fn verify_export_cosignatures(
    dir: &std::path::Path,
    log_origin: &str,
    witness_keys: &[String],
    need: usize,
) -> Result<WitnessCheck> {
    let keys = witness_keys
        .iter()
        .map(|k| CosignerKey::parse(k).map_err(|e| Error::Invalid(e.to_string())))
        .collect::<Result<Vec<_>>>()?;
    let path = dir.join(COSIGNATURES_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let mut out = WitnessCheck {
        need,
        ..Default::default()
    };
    let mut blocks = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let lines: Vec<&str> = block.lines().collect();
        if lines.len() < 3 {
            out.invalid
                .push(tr!("witness.bad_cosignature", size = 0, witness = "-"));
            continue;
        }
        let body = format!("{}\n{}\n{}\n", lines[0], lines[1], lines[2]);
        blocks.push((body, lines[3..].to_vec()));
    }
    let mut roots = BTreeMap::new();
    let sizes: BTreeSet<u64> = blocks
        .iter()
        .filter_map(|(b, _)| Checkpoint::parse_body(b).ok().map(|c| c.size))
        .collect();
    let mut f = log::merkle::Frontier::default();
    let latest = log::for_each_entry(dir, |e| {
        f.push(log::merkle::leaf_hash(e));
        if sizes.contains(&f.size()) {
            roots.insert(f.size(), f.root());
        }
    })?;
    out.checkpoints = blocks.len();
    for (body, lines) in &blocks {
        let cp = Checkpoint::parse_body(body).ok();
        let size = cp.as_ref().map_or(0, |c| c.size);
        let matches = cp
            .as_ref()
            .is_some_and(|c| c.origin == log_origin && roots.get(&c.size) == Some(&c.root));
        let mut ok = BTreeSet::new();
        for l in lines {
            let name = l
                .strip_prefix("\u{2014} ")
                .and_then(|r| r.split(' ').next())
                .unwrap_or("-");
            match keys.iter().find(|k| k.name == name) {
                Some(k) if matches && k.verify_line(body, l).is_ok() => {
                    ok.insert(k.name.clone());
                }
                Some(_) => {
                    out.invalid
                        .push(tr!("witness.bad_cosignature", size = size, witness = name))
                }
                None => {}
            }
        }
        if ok.len() >= need {
            out.meeting_quorum += 1;
            if size == latest {
                out.latest_ok = true;
            }
        }
    }
    Ok(out)
}
