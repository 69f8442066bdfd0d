//! `casevault request …`: access, correction and partner requests.

use std::path::PathBuf;
use std::str::FromStr;

use clap::Subcommand;

use super::context::{read_json_input, table};
use super::Context;
use crate::domain::time::Date;
use crate::domain::{Authority, Request, RequestKind, RequestStatus};
use crate::error::{Error, Result};
use crate::tr;
use crate::vault::output::{resend_command, OutputSet};
use crate::vault::{NewRequest, PackageTo};

#[derive(Subcommand, Debug)]
pub enum RequestCmd {
    /// Record a request as received; the due date follows from policy.
    Add {
        /// access, correction or partner.
        #[arg(long)]
        kind: String,
        /// Client id or agency number.
        #[arg(long)]
        client: String,
        /// Who asks: the client, a guardian's or agent's name, or the partner agency.
        #[arg(long)]
        requester: String,
        /// self, guardian, agent or partner.
        #[arg(long, default_value = "self")]
        authority: String,
        /// How identity and authority were checked (required for agents).
        #[arg(long, default_value = "")]
        identity_check: String,
        /// YYYY-MM-DD (default today).
        #[arg(long)]
        received: Option<String>,
        /// The record a correction request is about.
        #[arg(long)]
        record: Option<i64>,
    },
    /// List requests by due date, marking overdue ones.
    List {
        #[arg(long)]
        client: Option<String>,
        /// Only open requests.
        #[arg(long)]
        open: bool,
        /// Only open requests past their due date.
        #[arg(long)]
        overdue: bool,
    },
    /// Show one request.
    Show { id: i64 },
    /// Answer an access request with an encrypted package (and a receipt beside it).
    Fulfil {
        id: i64,
        /// Where to write the package (age ciphertext).
        #[arg(long)]
        out: PathBuf,
        /// The client's age X25519 recipient (age1…).
        #[arg(long)]
        recipient: Option<String>,
        /// File holding a passphrase for the package (else $CASEVAULT_PACKAGE_PASSPHRASE).
        #[arg(long)]
        package_passphrase_file: Option<PathBuf>,
        /// Partner requests: the case whose records answer it.
        #[arg(long, requires = "consent")]
        case: Option<i64>,
        /// Partner requests: the client's consent covering this agency and purpose.
        #[arg(long, requires = "case")]
        consent: Option<i64>,
        /// Partner requests: record ids (default: all the consent covers).
        #[arg(long)]
        records: Option<String>,
        /// Partner requests: the purpose (must be one the consent lists).
        #[arg(long)]
        purpose: Option<String>,
    },
    /// Write the file of a fulfilled request whose file was not written (an access package,
    /// or a partner request's packet): the same disclosure, rebuilt and checked against the
    /// log; no second disclosure is logged. An access package goes to the recipient stored
    /// with it unless --recipient or a package passphrase is given.
    Resend {
        id: i64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        recipient: Option<String>,
        #[arg(long)]
        package_passphrase_file: Option<PathBuf>,
    },
    /// Send every past recipient of an accepted correction an amendment packet (files in DIR).
    Notify {
        id: i64,
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Accept a correction: the corrected record's fields (JSON, `-` for stdin) and/or note.
    Accept {
        id: i64,
        #[arg(long)]
        fields: Option<PathBuf>,
        #[arg(long)]
        text: Option<String>,
    },
    /// Deny a request (a partner request: refuse) with a written reason.
    Deny {
        id: i64,
        #[arg(long)]
        reason: String,
        /// File with the client's statement of disagreement (corrections; `-` for stdin).
        #[arg(long)]
        statement: Option<PathBuf>,
    },
}

fn package_target(recipient: Option<String>, file: Option<PathBuf>) -> Result<PackageTo> {
    let pass = match file {
        Some(f) => {
            let text = zeroize::Zeroizing::new(crate::error::read_capped_text(
                &f,
                super::context::MAX_SMALL_FILE,
            )?);
            Some(text.trim_end_matches(['\n', '\r']).to_string())
        }
        None => std::env::var("CASEVAULT_PACKAGE_PASSPHRASE").ok(),
    }
    .filter(|p| !p.is_empty());
    match (recipient, pass) {
        (Some(_), Some(_)) => Err(Error::Invalid(tr!("requests.two_targets"))),
        (Some(r), None) => Ok(PackageTo::Recipient(
            age::x25519::Recipient::from_str(r.trim())
                .map_err(|_| Error::Invalid(tr!("requests.bad_recipient")))?,
        )),
        (None, Some(p)) => Ok(PackageTo::Passphrase(p.into())),
        (None, None) => Err(Error::Invalid(tr!("requests.no_package_target"))),
    }
}

fn show_text(r: &Request) -> String {
    let mut t = tr!(
        "requests.show",
        id = r.id,
        kind = r.kind.label(),
        client = r.client_number,
        requester = r.requester,
        authority = r.authority.label(),
        check = r.identity_check,
        received = r.received,
        due = r.due,
        status = r.status.label()
    );
    if r.overdue {
        t.push_str(&format!("  {}", tr!("requests.overdue")));
    }
    if !r.response.is_empty() {
        t.push('\n');
        t.push_str(&tr!("requests.show_response", response = r.response));
    }
    for w in &r.withheld {
        let reason = match crate::i18n::lang() {
            crate::i18n::Lang::Zh => &w.reason_zh,
            crate::i18n::Lang::En => &w.reason_en,
        };
        t.push_str(&format!("\n- #{} ({}): {reason}", w.record_id, w.kind));
    }
    t
}

pub fn run(ctx: &mut Context, cmd: RequestCmd) -> Result<()> {
    match cmd {
        RequestCmd::Add {
            kind,
            client,
            requester,
            authority,
            identity_check,
            received,
            record,
        } => {
            let kind = RequestKind::parse(&kind).ok_or_else(|| {
                Error::Invalid(tr!("requests.bad_kind", codes = RequestKind::codes()))
            })?;
            let authority = Authority::parse(&authority).ok_or_else(|| {
                Error::Invalid(tr!("requests.bad_authority", codes = Authority::codes()))
            })?;
            let received = match received {
                Some(d) => {
                    Some(Date::parse(&d).ok_or_else(|| Error::Invalid(tr!("requests.bad_date")))?)
                }
                None => None,
            };
            let mut s = ctx.session()?;
            let r = s.request_add(&NewRequest {
                kind,
                client,
                requester,
                authority,
                identity_check,
                received,
                record_id: record,
            })?;
            ctx.emit(&r, || {
                tr!(
                    "requests.added",
                    id = r.id,
                    kind = r.kind.label(),
                    due = r.due
                )
            });
        }
        RequestCmd::List {
            client,
            open,
            overdue,
        } => {
            let s = ctx.session()?;
            let rows = s.request_list(client.as_deref(), open, overdue)?;
            ctx.emit(&rows, || {
                if rows.is_empty() {
                    return tr!("requests.none");
                }
                let header = [
                    tr!("requests.h_id"),
                    tr!("requests.h_kind"),
                    tr!("requests.h_client"),
                    tr!("requests.h_authority"),
                    tr!("requests.h_received"),
                    tr!("requests.h_due"),
                    tr!("requests.h_status"),
                ];
                let body: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        let mut status = r.status.label().to_string();
                        if r.overdue {
                            status = format!("{status} {}", tr!("requests.overdue"));
                        }
                        vec![
                            r.id.to_string(),
                            r.kind.label().to_string(),
                            r.client_number.clone(),
                            r.authority.label().to_string(),
                            r.received.to_string(),
                            r.due.to_string(),
                            status,
                        ]
                    })
                    .collect();
                table(&header, &body)
            });
        }
        RequestCmd::Show { id } => {
            let s = ctx.session()?;
            let r = s.request_show(id)?;
            ctx.emit(&r, || show_text(&r));
        }
        RequestCmd::Fulfil {
            id,
            out,
            case: Some(case),
            consent: Some(consent),
            records,
            purpose,
            ..
        } => {
            // A partner's request, answered as a referral packet under the client's consent.
            let mut s = ctx.session()?;
            let r = s.request_show(id)?;
            let records = match records {
                Some(r) => super::consent::id_list(&r)?,
                None => Vec::new(),
            };
            OutputSet::packet(&out).check(false)?;
            let (row, built) = s.referral_export(&crate::vault::ExportRequest {
                case_id: case,
                agency: r.requester.clone(),
                consent_id: consent,
                records,
                purpose: purpose.unwrap_or_else(|| "partner data request".into()),
                request_id: Some(id),
                notice_for: None,
                release_of: None,
            })?;
            super::referral::write_packet(&out, &built, false).map_err(|e| Error::NotWritten {
                log_index: row.log_index as u64,
                resend: resend_command(
                    &s.dir.root,
                    &s.me.name,
                    &format!("request resend {id}"),
                    &out,
                ),
                source: Box::new(e),
            })?;
            let v = serde_json::json!({
                "request": id, "referral": row, "file": out,
                "signature_file": super::referral::sig_path(&out), "packet_id": built.packet_id,
            });
            ctx.emit(&v, || {
                tr!(
                    "requests.partner_fulfilled",
                    id = id,
                    file = out.display(),
                    packet = built.packet_id
                )
            });
        }
        RequestCmd::Fulfil {
            id,
            out,
            recipient,
            package_passphrase_file,
            ..
        } => {
            let to = package_target(recipient, package_passphrase_file)?;
            let mut s = ctx.session()?;
            let o = s.request_fulfil(id, &to, &out)?;
            ctx.emit(&o, || {
                tr!(
                    "requests.fulfilled",
                    package = o.package.display(),
                    records = o.records,
                    withheld = o.withheld,
                    disclosures = o.disclosures,
                    index = o.log_index,
                    receipt = o.receipt.display()
                )
            });
        }
        RequestCmd::Resend {
            id,
            out,
            recipient,
            package_passphrase_file,
        } => {
            let mut s = ctx.session()?;
            let r = s.request_show(id)?;
            if r.kind == RequestKind::Partner && r.status == RequestStatus::Fulfilled {
                let rid = r
                    .log_index
                    .and_then(|i| {
                        crate::store::referrals::by_log_index(&s.conn, i)
                            .ok()
                            .flatten()
                    })
                    .ok_or_else(|| Error::Invalid(tr!("requests.resend_not_fulfilled", id = id)))?
                    .id;
                OutputSet::packet(&out).check(false)?;
                let (row, built) = s.referral_resend(rid)?;
                super::referral::write_packet(&out, &built, false)?;
                let v = serde_json::json!({
                    "request": id, "referral": row, "file": out,
                    "signature_file": super::referral::sig_path(&out), "packet_id": built.packet_id,
                    "content_sha256": built.content_sha256,
                });
                ctx.emit(&v, || {
                    tr!(
                        "requests.resent_packet",
                        id = id,
                        file = out.display(),
                        packet = built.packet_id
                    )
                });
            } else {
                let to = if recipient.is_some() || package_passphrase_file.is_some() {
                    Some(package_target(recipient, package_passphrase_file)?)
                } else {
                    package_target(None, None).ok()
                };
                let o = s.request_resend_package(id, to.as_ref(), &out)?;
                ctx.emit(&o, || {
                    tr!(
                        "requests.resent",
                        id = id,
                        package = o.package.display(),
                        index = o.log_index,
                        receipt = o.receipt.display()
                    )
                });
            }
        }
        RequestCmd::Notify { id, out_dir } => {
            let mut s = ctx.session()?;
            crate::private::create_dir_all(&out_dir).map_err(|e| Error::io(&out_dir, e))?;
            let outcomes = s.request_notify(id, &out_dir)?;
            let mut lines = Vec::new();
            let mut failed = Vec::new();
            for o in &outcomes {
                match (&o.file, &o.not_written, &o.not_sent) {
                    (Some(f), _, _) => lines.push(tr!(
                        "requests.notice_sent",
                        recipient = o.recipient,
                        file = f.display()
                    )),
                    (None, Some(msg), _) => failed.push(msg.clone()),
                    (None, None, reason) => lines.push(tr!(
                        "requests.notice_not_sent",
                        recipient = o.recipient,
                        reason = reason.clone().unwrap_or_default()
                    )),
                }
            }
            ctx.emit(&outcomes, || {
                if lines.is_empty() && failed.is_empty() {
                    tr!("requests.notice_none")
                } else {
                    lines.join("\n")
                }
            });
            if !failed.is_empty() {
                return Err(Error::Several(failed));
            }
        }
        RequestCmd::Accept { id, fields, text } => {
            let fields = super::record::content(fields, text)?;
            let mut s = ctx.session()?;
            let o = s.request_accept(id, fields)?;
            ctx.emit(&o, || {
                let mut t = tr!(
                    "requests.accepted",
                    original = o.amendment.amends.unwrap_or_default(),
                    amendment = o.amendment.id,
                    index = o.log_index
                );
                if o.notify.is_empty() {
                    t.push('\n');
                    t.push_str(&tr!("requests.notify_none"));
                }
                for n in &o.notify {
                    t.push('\n');
                    t.push_str(&tr!(
                        "requests.notify_line",
                        recipient = n.recipient,
                        date = n.date,
                        index = n.log_index
                    ));
                }
                t
            });
        }
        RequestCmd::Deny {
            id,
            reason,
            statement,
        } => {
            let statement = match statement {
                Some(p) => Some(
                    String::from_utf8(read_json_input(&p)?)
                        .map_err(|_| Error::Invalid(tr!("requests.not_utf8")))?,
                ),
                None => None,
            };
            let mut s = ctx.session()?;
            let r = s.request_deny(id, &reason, statement.as_deref())?;
            ctx.emit(&r, || {
                let mut t = tr!("requests.denied", id = r.id);
                if let Some(st) = r.statement_id {
                    t.push('\n');
                    t.push_str(&tr!("requests.statement_attached", record = st));
                }
                t
            });
        }
    }
    Ok(())
}
