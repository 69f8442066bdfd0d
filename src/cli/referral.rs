//! `casevault referral …`: export under a consent, approvals, tracking.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::consent::id_list;
use super::context::table;
use super::Context;
use crate::domain::time::format_time;
use crate::error::Result;
use crate::tr;
use crate::vault::output::OutputSet;
use crate::vault::{Export, ExportRequest};

#[derive(Subcommand, Debug)]
pub enum ReferralCmd {
    /// Make a referral packet for a partner agency under a consent: FILE and FILE.minisig.
    Export {
        #[arg(long)]
        case: i64,
        /// Recipient partner agency (name or id). `--to` is the older name.
        #[arg(long, visible_alias = "to")]
        agency: String,
        /// The consent id.
        #[arg(long)]
        consent: i64,
        /// Record ids, comma-separated (default: every record the consent covers).
        #[arg(long)]
        records: Option<String>,
        #[arg(long)]
        purpose: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Release a caseworker's export (supervisor): every check again, then the packet is
    /// signed with the agency's packet key, logged and written to FILE and FILE.minisig.
    Release {
        /// The release request's id (`referral pending` lists them).
        id: i64,
        /// The request's digest as `referral pending` showed it: what is released is exactly
        /// what was reviewed.
        #[arg(long)]
        digest: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// List caseworkers' exports waiting for a supervisor's release, with what each would disclose.
    Pending,
    /// Write the file of a referral already exported (logged) whose file was not written:
    /// the same packet, rebuilt and checked against the log; no second disclosure is logged.
    Resend {
        id: i64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Approve disclosing restricted (tier-3) records under a consent (supervisor).
    Approve {
        #[arg(long)]
        case: i64,
        #[arg(long)]
        consent: i64,
        #[arg(long)]
        records: String,
    },
    /// List referrals (of one case).
    List {
        #[arg(long)]
        case: Option<i64>,
    },
    /// Record what happened to a referral: accepted, rejected, done, revoked.
    Status {
        id: i64,
        status: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

pub(super) fn sig_path(out: &Path) -> PathBuf {
    crate::vault::output::sig_path(out)
}

pub fn run(ctx: &mut Context, cmd: ReferralCmd) -> Result<()> {
    let mut s = ctx.session()?;
    match cmd {
        ReferralCmd::Export {
            case,
            agency,
            consent,
            records,
            purpose,
            out,
        } => {
            let records = match records {
                Some(r) => id_list(&r)?,
                None => Vec::new(),
            };
            OutputSet::packet(&out).check(false)?;
            let export = s.referral_submit(&ExportRequest {
                case_id: case,
                agency,
                consent_id: consent,
                records,
                purpose,
                request_id: None,
                notice_for: None,
                release_of: None,
            })?;
            match export {
                Export::Released(done) => {
                    let (row, built) = *done;
                    released(ctx, &s, row, built, &out)?
                }
                Export::AwaitingRelease(id) => {
                    let v = serde_json::json!({"release_request": id, "released": false});
                    ctx.emit(&v, || tr!("referral.awaiting_release", id = id));
                }
            }
        }
        ReferralCmd::Release { id, digest, out } => {
            OutputSet::packet(&out).check(false)?;
            let (row, built) = s.referral_release(id, &digest)?;
            released(ctx, &s, row, built, &out)?;
        }
        ReferralCmd::Pending => {
            let list = s.referral_pending()?;
            ctx.emit(&list, || {
                if list.is_empty() {
                    return tr!("referral.none_pending");
                }
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|p| {
                        vec![
                            p.id.to_string(),
                            p.case_id.to_string(),
                            p.agency.clone(),
                            p.consent_id.to_string(),
                            p.purpose.clone(),
                            p.records
                                .iter()
                                .map(|r| format!("{} ({}, {})", r.id, r.kind, r.tier))
                                .collect::<Vec<_>>()
                                .join("; "),
                            p.requested_by.clone(),
                            format_time(p.requested_at),
                            p.refused.clone().unwrap_or_default(),
                            p.digest.clone(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        tr!("referral.h_release"),
                        tr!("cli.h_case"),
                        tr!("referral.h_agency"),
                        tr!("referral.h_consent"),
                        tr!("referral.h_purpose"),
                        tr!("referral.h_records"),
                        tr!("referral.h_requested_by"),
                        tr!("cli.h_time"),
                        tr!("referral.h_refused"),
                        tr!("referral.h_digest"),
                    ],
                    &rows,
                )
            });
        }
        ReferralCmd::Resend { id, out } => {
            OutputSet::packet(&out).check(false)?;
            let (row, built) = s.referral_resend(id)?;
            write_packet(&out, &built, false)?;
            let v = serde_json::json!({
                "referral": row,
                "file": out,
                "signature_file": sig_path(&out),
                "packet_id": built.packet_id,
                "packet_sha256": built.packet_sha256,
                "content_sha256": built.content_sha256,
            });
            ctx.emit(&v, || {
                tr!(
                    "referral.resent",
                    id = id,
                    file = out.display(),
                    packet = built.packet_id,
                    index = row.log_index
                )
            });
        }
        ReferralCmd::Approve {
            case,
            consent,
            records,
        } => {
            let ids = s.referral_approve(case, consent, &id_list(&records)?)?;
            let v = serde_json::json!({"case": case, "consent": consent, "records": ids});
            ctx.emit(&v, || {
                tr!(
                    "referral.approved",
                    consent = consent,
                    case = case,
                    records = records
                )
            });
        }
        ReferralCmd::List { case } => {
            let rows = s.referral_list(case)?;
            ctx.emit(&rows, || {
                let body: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.id.to_string(),
                            r.case_id.to_string(),
                            r.agency_name.clone(),
                            r.consent_id.to_string(),
                            r.purpose.clone(),
                            r.status.clone(),
                            format_time(r.sent_at),
                            r.packet_id.clone(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        tr!("cli.h_id"),
                        tr!("cli.h_case"),
                        tr!("referral.h_agency"),
                        tr!("cli.h_consent"),
                        tr!("cli.h_purpose"),
                        tr!("referral.h_status"),
                        tr!("cli.h_time"),
                        tr!("cli.h_packet"),
                    ],
                    &body,
                )
            });
        }
        ReferralCmd::Status { id, status, reason } => {
            let r = s.referral_status(id, &status, reason.as_deref())?;
            ctx.emit(&r, || {
                tr!("referral.status_set", id = id, status = r.status)
            });
        }
    }
    Ok(())
}

/// Writes a packet and its signature (both or neither; the signature first, the packet's
/// appearance is the commit point). Callers write them once the log entry is durable.
/// Writes a released packet and reports it.
fn released(
    ctx: &mut Context,
    s: &crate::vault::Session,
    row: crate::store::referrals::ReferralRow,
    built: crate::packet::BuiltPacket,
    out: &Path,
) -> Result<()> {
    write_packet(out, &built, false)
        .map_err(|e| not_written(s, e, row.log_index as u64, row.id, out))?;
    let v = serde_json::json!({
        "referral": row,
        "released": true,
        "file": out,
        "signature_file": sig_path(out),
        "packet_id": built.packet_id,
        "packet_sha256": built.packet_sha256,
        "content_sha256": built.content_sha256,
    });
    ctx.emit(&v, || {
        tr!(
            "referral.exported",
            id = row.id,
            file = out.display(),
            packet = built.packet_id,
            count = row.records.len(),
            index = row.log_index
        )
    });
    Ok(())
}

pub(super) fn write_packet(
    out: &Path,
    built: &crate::packet::BuiltPacket,
    replace: bool,
) -> Result<()> {
    OutputSet::packet(out).write(&built.ciphertext, &[built.minisig.as_bytes()], replace)
}

/// A write failure after a referral's commit: says it was logged and how to get the file.
pub(super) fn not_written(
    s: &crate::vault::Session,
    e: crate::error::Error,
    log_index: u64,
    referral: i64,
    out: &Path,
) -> crate::error::Error {
    crate::error::Error::NotWritten {
        log_index,
        resend: crate::vault::output::resend_command(
            &s.dir.root,
            &s.me.name,
            &format!("referral resend {referral}"),
            out,
        ),
        source: Box::new(e),
    }
}
