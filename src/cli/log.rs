//! `casevault log …`: show, verify (inside the vault or offline), key, export.

use std::path::PathBuf;

use clap::Subcommand;

use super::context::table;
use super::Context;
use crate::domain::time::{format_time, Date};
use crate::error::{Error, Result};
use crate::log::{self, VerifyReport};
use crate::tr;
use crate::vault::disclosure::{self, LogQuery};

#[derive(Subcommand, Debug)]
pub enum LogCmd {
    /// Show log entries (client numbers only for roles that may see clients).
    Show {
        #[arg(long)]
        client: Option<String>,
        #[arg(long)]
        recipient: Option<String>,
        /// e.g. tier3_read, referral_export, staff_registered, key_change.
        #[arg(long)]
        kind: Option<String>,
        /// From this date (YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// Until this date, inclusive (YYYY-MM-DD).
        #[arg(long)]
        until: Option<String>,
    },
    /// Verify the log. Inside the vault by default; with --export DIR --key KEY, offline:
    /// no vault and no passphrase needed.
    Verify {
        #[arg(long, requires = "key")]
        export: Option<PathBuf>,
        /// The agency's verifier key (`casevault log key`).
        #[arg(long, requires = "export")]
        key: Option<String>,
        /// A checkpoint saved earlier, or a receipt (from a packet or an access package); may
        /// be given many times. Truncation or a rewrite since then shows, and a receipt's entry
        /// must be the log's entry at its index.
        #[arg(long)]
        checkpoint: Vec<PathBuf>,
        /// Offline: a witness's public key (vkey) whose cosignatures in the export count;
        /// may be given many times.
        #[arg(long, requires = "export")]
        witness: Vec<String>,
        /// Offline: how many of those witnesses must cosign the latest checkpoint.
        #[arg(long, requires = "export", default_value_t = 0)]
        witness_quorum: usize,
    },
    /// Print the verifier key auditors need.
    Key,
    /// Print (as JSON) the consistency proof from a checkpoint a partner holds to our latest
    /// checkpoint, for them to check with `casevault packet check-proof`. A checkpoint our log
    /// is not consistent with is refused: an alarm (the log was rewritten).
    Prove {
        /// A receipt (`receipt.json` of a packet, or an access package's `.receipt.json`).
        #[arg(
            long,
            conflicts_with = "checkpoint",
            required_unless_present = "checkpoint"
        )]
        receipt: Option<PathBuf>,
        /// A signed checkpoint note.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Submit the latest checkpoint to the policy's witnesses and store their cosignatures
    /// (then `referral resend` / `request resend` release disclosures that waited for them).
    Witness,
    /// Write everything an outside auditor needs to DIR (no client identities).
    Export {
        #[arg(long)]
        out: PathBuf,
    },
}

fn date(s: &Option<String>, end: bool) -> Result<Option<i64>> {
    match s {
        None => Ok(None),
        Some(v) => {
            let d = Date::parse(v).ok_or_else(|| Error::Invalid(tr!("cli.bad_date", value = v)))?;
            Ok(Some(if end {
                d.add_days(1).to_unix()
            } else {
                d.to_unix()
            }))
        }
    }
}

/// Prints a verification report; failure when it has errors (each names its entry).
/// Earlier checkpoints and receipts from files (a receipt is recognised by its JSON).
fn read_earlier(paths: &[PathBuf]) -> Result<Vec<log::Earlier>> {
    paths
        .iter()
        .map(|p| {
            let text = crate::error::read_capped_text(p, super::context::MAX_SMALL_FILE)?;
            Ok(log::Earlier::parse(&text))
        })
        .collect()
}

fn report(ctx: &Context, r: &VerifyReport) -> Result<()> {
    let errors: Vec<String> = r.errors.iter().map(|e| e.to_string()).collect();
    let warnings: Vec<String> = r.warnings.iter().map(|w| w.to_string()).collect();
    let out = serde_json::json!({
        "ok": r.is_ok(), "size": r.size, "root": crate::crypto::hex(&r.root),
        "checkpoints_checked": r.checkpoints_checked, "signatures_checked": r.signatures_checked,
        "errors": errors, "warnings": warnings,
    });
    ctx.emit(&out, || {
        let mut t = if r.is_ok() {
            tr!(
                "cli.log_ok",
                size = r.size,
                checkpoints = r.checkpoints_checked,
                signatures = r.signatures_checked
            )
        } else {
            tr!("cli.log_bad", count = errors.len())
        };
        for e in &errors {
            t.push_str(&format!("\n  ✗ {e}"));
        }
        for w in &warnings {
            t.push_str(&format!("\n  ! {w}"));
        }
        t
    });
    if r.is_ok() {
        Ok(())
    } else {
        Err(Error::LogVerifyFailed {
            problems: errors.len(),
        })
    }
}

/// Failure when a stored cosignature is invalid, or (offline, when a quorum is asked for) the
/// export's latest checkpoint misses it. Inside the vault the latest checkpoint is witnessed
/// only when a disclosure needs it, so it is reported, not failed.
fn witness_outcome(w: crate::vault::witnessing::WitnessCheck, latest: bool) -> Result<()> {
    let mut problems = w.invalid;
    if latest && w.need > 0 && !w.latest_ok {
        problems.push(tr!("witness.latest_below_quorum", need = w.need));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Several(problems))
    }
}

pub fn run(ctx: &mut Context, cmd: LogCmd) -> Result<()> {
    match cmd {
        LogCmd::Verify {
            export: Some(dir),
            key: Some(key),
            checkpoint,
            witness,
            witness_quorum,
        } => {
            let earlier = read_earlier(&checkpoint)?;
            let r = log::verify_export_with(&dir, &key, &earlier, log::VerifyOptions::default());
            report(ctx, &r)?;
            if witness.is_empty() && witness_quorum == 0 {
                return Ok(());
            }
            // Only when asked: the cosignature check reads the entries again.
            let origin = key.split('+').next().unwrap_or_default();
            let w = crate::vault::witnessing::verify_export_cosignatures(
                &dir,
                origin,
                &witness,
                witness_quorum,
            )?;
            if !ctx.json {
                crate::errln!(
                    "{}",
                    tr!(
                        "witness.verify_summary",
                        met = w.meeting_quorum,
                        total = w.checkpoints,
                        need = w.need
                    )
                );
            }
            witness_outcome(w, true)
        }
        LogCmd::Verify { checkpoint, .. } => {
            let earlier = read_earlier(&checkpoint)?;
            let s = ctx.session()?;
            let r = s.log_verify(&earlier)?;
            report(ctx, &r)?;
            let w = s.witness_check()?;
            if !ctx.json && (w.need > 0 || w.checkpoints > 1 || !w.invalid.is_empty()) {
                crate::errln!(
                    "{}",
                    tr!(
                        "witness.verify_summary",
                        met = w.meeting_quorum,
                        total = w.checkpoints,
                        need = w.need
                    )
                );
            }
            witness_outcome(w, false)
        }
        LogCmd::Witness => {
            let s = ctx.session()?;
            let run = s.log_witness()?;
            let ok = run.cosigned.len() >= run.need;
            ctx.emit(&run, || {
                let mut t = tr!(
                    "witness.submitted",
                    size = run.size,
                    have = run.cosigned.len(),
                    need = run.need
                );
                for w in &run.cosigned {
                    t.push('\n');
                    t.push_str(&tr!("witness.row_ok", witness = w));
                }
                for f in &run.failures {
                    t.push('\n');
                    t.push_str(&tr!("witness.row_failed", reason = f));
                }
                t
            });
            if ok {
                Ok(())
            } else {
                Err(Error::Several(run.failures))
            }
        }
        LogCmd::Key => {
            let s = ctx.session()?;
            let k = disclosure::verifier_key(&s.conn)?;
            ctx.emit(&serde_json::json!({ "verifier_key": k }), || k.clone());
            Ok(())
        }
        LogCmd::Prove {
            receipt,
            checkpoint,
        } => {
            let Some(path) = receipt.or(checkpoint) else {
                return Err(Error::Invalid(tr!("packet.prove_needs_input")));
            };
            let text =
                crate::error::read_capped_text(&path, crate::packet::MAX_RECEIPT_BYTES as u64)?;
            let s = ctx.session()?;
            let p = s.log_prove(&text)?;
            ctx.emit(&p, || p.to_json());
            Ok(())
        }
        LogCmd::Export { out } => {
            let s = ctx.session()?;
            let n = s.log_export(&out)?;
            s.export_cosignatures(&out)?;
            ctx.emit(&serde_json::json!({ "entries": n, "dir": out }), || {
                tr!("cli.log_exported", entries = n, dir = out.display())
            });
            Ok(())
        }
        LogCmd::Show {
            client,
            recipient,
            kind,
            from,
            until,
        } => {
            let s = ctx.session()?;
            let q = LogQuery {
                client,
                recipient,
                kind,
                from: date(&from, false)?,
                until: date(&until, true)?,
            };
            let rows = s.log_show(&q)?;
            ctx.emit(&rows, || {
                let body: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.index.to_string(),
                            format_time(r.time),
                            kind_label(r.kind),
                            r.actor.clone(),
                            r.client.clone().unwrap_or_default(),
                            r.recipient.clone(),
                            basis_label(&r.basis),
                            detail_label(&r.detail),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "#".into(),
                        tr!("cli.h_time"),
                        tr!("cli.h_kind"),
                        tr!("cli.h_actor"),
                        tr!("cli.h_client"),
                        tr!("cli.h_recipient"),
                        tr!("cli.h_basis"),
                        tr!("cli.h_detail"),
                    ],
                    &body,
                )
            });
            Ok(())
        }
    }
}

/// A log entry kind for people: its catalog label (`log.kind.<name>`), else its name. JSON
/// keeps the stable name.
pub(crate) fn kind_label(name: &str) -> String {
    let key = format!("log.kind.{name}");
    if crate::i18n::has(&key) {
        crate::i18n::text(&key, &[])
    } else {
        name.to_string()
    }
}

/// A legal basis for people, from the stable text the vault gives (`consent 3`,
/// `emergency: …`, `statutory: …`, `internal duty`). JSON keeps the stable text.
pub(crate) fn basis_label(basis: &str) -> String {
    if basis == "internal duty" {
        tr!("log.basis.internal_duty")
    } else if let Some(id) = basis.strip_prefix("consent ") {
        tr!("log.basis.consent", id = id)
    } else if let Some(r) = basis.strip_prefix("emergency: ") {
        tr!("log.basis.emergency", reason = r)
    } else if let Some(r) = basis.strip_prefix("statutory: ") {
        tr!("log.basis.statutory", reason = r)
    } else {
        basis.to_string()
    }
}

/// A role id in a log detail by its label (`supervisor` → 督导), else as stored.
fn role_label(role: &str) -> String {
    let key = format!("policy.role.{role}");
    if crate::i18n::has(&key) {
        crate::i18n::text(&key, &[])
    } else {
        role.to_string()
    }
}

/// The details the log stores in a fixed English form, for people (the stored, signed text
/// is unchanged, and JSON shows it as stored): `name (role)`, `invite NAME as ROLE`,
/// `policy DIGEST`, `assign NAME`, `epoch N`, `records A-B`, …. Other details are shown as
/// stored.
pub(crate) fn detail_label(detail: &str) -> String {
    if let Some(rest) = detail.strip_prefix("invite ") {
        if let Some((name, role)) = rest.split_once(" as ") {
            return tr!("log.detail.invite", name = name, role = role_label(role));
        }
    }
    // One value after a fixed English prefix.
    for (prefix, key) in [
        ("assign ", "log.detail.assign"),
        ("unassign ", "log.detail.unassign"),
        ("epoch ", "log.detail.epoch"),
        ("records ", "log.detail.records"),
        ("record ", "log.detail.record"),
        ("supervisor key ", "log.detail.supervisor_key"),
        ("database key rotated; excluded: ", "log.detail.rotated"),
    ] {
        if let Some(value) = detail.strip_prefix(prefix) {
            if !value.is_empty() && !value.contains(' ') {
                return crate::i18n::text(key, &[("value", value.to_string())]);
            }
        }
    }
    if let Some(digest) = detail.strip_prefix("policy ") {
        if digest.chars().all(|c| c.is_ascii_hexdigit()) {
            return tr!("log.detail.policy", digest = digest);
        }
    }
    if let Some((name, role)) = detail.strip_suffix(')').and_then(|d| d.rsplit_once(" (")) {
        if crate::i18n::has(&format!("policy.role.{role}")) {
            return format!("{name}（{}）", role_label(role));
        }
    }
    detail.to_string()
}
