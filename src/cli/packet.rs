//! `casevault packet …`: the receiving side of referral packets.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::Context;
use crate::domain::NewClient;
use crate::error::{read_capped, read_capped_text, Result};
use crate::packet::{MAX_PACKET_BYTES, MAX_SIGNATURE_TEXT_BYTES};
use crate::tr;
use crate::vault::PacketView;

#[derive(Subcommand, Debug)]
pub enum PacketCmd {
    /// Check a packet's signature (FILE.minisig) by a partner agency.
    Verify {
        file: PathBuf,
        /// The sending partner agency (name or id). `--from` is the older name.
        #[arg(long, visible_alias = "from")]
        agency: String,
    },
    /// Verify, decrypt and show a packet (nothing is written to disk).
    Open {
        file: PathBuf,
        /// The sending partner agency (name or id). `--from` is the older name.
        #[arg(long, visible_alias = "from")]
        agency: String,
    },
    /// Import a packet: a new client and case with its records.
    Import {
        file: PathBuf,
        /// The sending partner agency (name or id). `--from` is the older name.
        #[arg(long, visible_alias = "from")]
        agency: String,
        /// Client number for the new client (default REF-<packet id>).
        #[arg(long)]
        client_number: Option<String>,
        #[arg(long)]
        client_name: Option<String>,
    },
    /// Verify a consistency proof a partner made with `casevault log prove` (from a receipt
    /// of theirs we hold) under their recorded log key, and remember its checkpoints.
    CheckProof {
        /// The partner agency (name or id). `--from` is the older name.
        #[arg(long, visible_alias = "from")]
        agency: String,
        #[arg(long)]
        proof: PathBuf,
    },
}

fn read(file: &Path) -> Result<(Vec<u8>, String)> {
    // Sizes are checked before reading: a huge file is refused at once.
    let ct = read_capped(file, MAX_PACKET_BYTES as u64)?;
    let mut sig = file.as_os_str().to_owned();
    sig.push(".minisig");
    let sig = PathBuf::from(sig);
    let minisig = read_capped_text(&sig, MAX_SIGNATURE_TEXT_BYTES as u64)?;
    Ok((ct, minisig))
}

/// The notice above a packet some of whose records were withheld: how many, which (ids and
/// tiers only), and that a supervisor must open it.
fn withheld_notice(view: &PacketView) -> String {
    let ids: Vec<String> = view
        .withheld
        .iter()
        .map(|r| format!("{} ({})", r.id, r.tier))
        .collect();
    let mut t = tr!(
        "referral.packet_withheld",
        count = view.withheld.len(),
        records = ids.join(", ")
    );
    if view.withheld_attachments > 0 {
        t.push('\n');
        t.push_str(&tr!(
            "referral.packet_withheld_attachments",
            count = view.withheld_attachments
        ));
    }
    t
}

/// The manifest for people: "label: value" lines (the JSON is under --json).
fn manifest_text(m: &crate::packet::Manifest) -> String {
    use crate::packet::manifest::Expiry;
    let c = &m.consent;
    let role = crate::domain::SignerRole::parse(&c.signer.role)
        .map_or_else(|| c.signer.role.clone(), |r| r.label().to_string());
    let expires = match &c.expires {
        Expiry::Date(d) => d.clone(),
        Expiry::Event(e) => e.clone(),
    };
    let records: Vec<String> = m
        .records
        .iter()
        .map(|r| format!("{} ({}, {})", r.id, r.kind, r.tier))
        .collect();
    let attachments: Vec<String> = m
        .attachments
        .iter()
        .map(|a| format!("{} ({} B)", a.name, a.size))
        .collect();
    let mut lines = vec![
        (tr!("forms.p_id"), m.packet_id.clone()),
        (tr!("forms.p_created"), m.created.clone()),
        (
            tr!("forms.p_sender"),
            format!("{} ({})", m.sender.name, m.sender.key_id),
        ),
        (tr!("forms.p_recipient"), m.recipient.name.clone()),
        (tr!("forms.c_purposes"), m.purpose.clone()),
        (tr!("forms.c_id"), c.consent_id.clone()),
        (
            tr!("forms.c_signer"),
            format!("{} ({role}; {})", c.signer.name, c.signer.authority),
        ),
        (tr!("forms.c_kinds"), c.scope.kinds.join(", ")),
        (tr!("forms.c_tiers"), c.scope.tiers.join(", ")),
        (tr!("forms.c_description"), c.scope.description.clone()),
        (tr!("forms.c_signed"), c.signed_on.clone()),
        (tr!("forms.c_expires"), expires),
        (tr!("forms.c_revoke_how"), c.revoke.clone()),
        (tr!("forms.c_redisclosure"), m.redisclosure_notice.clone()),
        (tr!("forms.p_records"), records.join(", ")),
        (tr!("forms.p_attachments"), attachments.join(", ")),
    ];
    if let Some(r) = &m.receipt {
        lines.push((tr!("forms.p_log_entry"), r.entry_index.to_string()));
    }
    lines
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}: {v}\n"))
        .collect()
}

/// Adds the receipt check's fields to a JSON object.
fn merge(v: &mut serde_json::Value, r: &crate::vault::ReceiptCheck) {
    if let (Some(o), Ok(serde_json::Value::Object(add))) =
        (v.as_object_mut(), serde_json::to_value(r))
    {
        o.extend(add);
    }
}

pub fn run(ctx: &mut Context, cmd: PacketCmd) -> Result<()> {
    let mut s = ctx.session()?;
    match cmd {
        PacketCmd::Verify { file, agency: from } => {
            let (ct, sig) = read(&file)?;
            let (comment, receipt) = s.packet_verify(&from, &ct, &sig)?;
            let mut v = serde_json::json!({"valid": true, "trusted_comment": comment});
            merge(&mut v, &receipt);
            ctx.emit(&v, || {
                format!(
                    "{}\n{}",
                    tr!("referral.signature_ok", agency = from, comment = comment),
                    receipt.text(&from)
                )
            });
        }
        PacketCmd::Open { file, agency: from } => {
            let (ct, sig) = read(&file)?;
            let view = s.packet_open(&from, &ct, &sig)?;
            let p = &view.packet;
            let v = serde_json::json!({
                "manifest": p.manifest,
                "records": p.records,
                "packet_sha256": p.packet_sha256,
                "withheld": view.withheld,
                "withheld_attachments": view.withheld_attachments,
                "log_index": view.logged,
                "receipt_json": p.receipt,
            });
            let mut v = v;
            merge(&mut v, &view.receipt);
            ctx.emit(&v, || {
                let mut t = view.receipt.text(&from);
                t.push_str("\n\n");
                if !view.withheld.is_empty() {
                    t.push_str(&withheld_notice(&view));
                    t.push_str("\n\n");
                }
                t.push_str(&manifest_text(&p.manifest));
                t.push('\n');
                t.push_str(&p.document);
                t
            });
        }
        PacketCmd::Import {
            file,
            agency: from,
            client_number,
            client_name,
        } => {
            let (ct, sig) = read(&file)?;
            let client = match (client_number, client_name) {
                (None, None) => None,
                (number, name) => Some(NewClient {
                    number: number.unwrap_or_default(),
                    name: name.unwrap_or_default(),
                    birth_date: None,
                    gender: crate::domain::Gender::Unstated,
                    phone: String::new(),
                    address: String::new(),
                    id_number: String::new(),
                    guardians: Vec::new(),
                    risk: crate::domain::Risk::None,
                    category: crate::domain::Category::Basic,
                }),
            };
            let r = s.packet_import(&from, &ct, &sig, client)?;
            ctx.emit(&r, || {
                let mut t = tr!(
                    "referral.imported",
                    packet = r.packet_id,
                    number = r.client_number,
                    case = r.case_id,
                    count = r.records.len()
                );
                if r.withheld > 0 {
                    t.push('\n');
                    t.push_str(&tr!("referral.import_withheld", count = r.withheld));
                }
                t.push('\n');
                t.push_str(&r.receipt.text(&from));
                t
            });
        }
        PacketCmd::CheckProof {
            agency: from,
            proof,
        } => {
            let text = read_capped_text(&proof, crate::packet::MAX_RECEIPT_BYTES as u64)?;
            let o = s.packet_check_proof(&from, &text)?;
            ctx.emit(&o, || {
                let mut t = tr!(
                    "packet.proof_ok",
                    agency = o.agency,
                    old = o.old_size,
                    new = o.new_size
                );
                t.push('\n');
                t.push_str(&if o.linked {
                    tr!("packet.proof_linked")
                } else {
                    tr!("packet.proof_not_linked")
                });
                if !o.unproved.is_empty() {
                    let sizes: Vec<String> = o.unproved.iter().map(|s| s.to_string()).collect();
                    t.push('\n');
                    t.push_str(&tr!(
                        "packet.proof_still_unproved",
                        sizes = sizes.join(", ")
                    ));
                }
                t
            });
        }
    }
    Ok(())
}
