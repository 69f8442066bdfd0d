//! `casevault agency …`: partner agencies and this agency's own public keys.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use secrecy::ExposeSecret;

use super::context::table;
use super::Context;
use crate::domain::time::{format_time, now};
use crate::error::{Error, Result};
use crate::packet::PartnerKeys;
use crate::tr;
use crate::vault::output::OutputSet;
use crate::vault::partners::parse_witnesses;

#[derive(Subcommand, Debug)]
pub enum AgencyCmd {
    /// Register a partner agency (admin).
    Add {
        name: String,
        /// The partner's age recipient (age1…): packets to them are encrypted to it.
        #[arg(long)]
        age_recipient: String,
        /// The partner's minisign public key: the bare base64 line, or a .pub file's path.
        #[arg(long)]
        minisign_pubkey: String,
        /// The partner's log verifier key (their `casevault agency key` prints it): the log
        /// receipts in their packets are then checked. A partner with stock tools has none.
        #[arg(long)]
        log_key: Option<String>,
        /// A witness whose cosignatures the partner's checkpoints must carry, as
        /// NAME=VERIFIERKEY (what the witness's `casevault witness key` prints); repeatable.
        /// Needs --log-key.
        #[arg(long, requires = "log_key")]
        witness: Vec<String>,
        /// How many of those witnesses must cosign each receipt's checkpoint (default: all).
        #[arg(long, requires = "witness")]
        witness_quorum: Option<usize>,
        #[arg(long, default_value = "")]
        contact: String,
    },
    /// List partner agencies.
    List,
    /// Show a partner agency.
    Show { agency: String },
    /// Remove a partner agency (admin); past referrals keep naming it.
    Remove { agency: String },
    /// Make keys for a partner without tools: age identity, minisign key pair (files 0600).
    Keygen {
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Print this agency's minisign public key (partners verify our packets with it) and its
    /// log verifier key (partners check our receipts with it: `agency add --log-key`).
    Key {
        /// Also write it as a minisign .pub file.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write the current key statement (FILE, FILE.minisig by the current key, and
        /// FILE.previous.minisig by the key before it) for partners to check with minisign.
        #[arg(long)]
        statement: Option<PathBuf>,
    },
    /// Record a partner's new keys from its key statement (admin): FILE, FILE.minisig (by its
    /// new key) and FILE.previous.minisig (by the key we hold for it) must all verify. The
    /// agency keeps its id, consents and referrals; the key change is logged. Or record the
    /// witnesses whose cosignatures its checkpoints must carry (replaces the list;
    /// `--witness-quorum 0` alone clears it).
    /// Example: `casevault agency update 阳光家庭服务中心 --statement keys.txt --key-id 1A2B…`
    Update {
        /// The partner agency (name or id).
        agency: String,
        /// The partner's key statement (`agency key --statement FILE` on their side), with
        /// FILE.minisig and FILE.previous.minisig beside it.
        #[arg(long, value_name = "FILE", requires = "key_id")]
        statement: Option<PathBuf>,
        /// The new key's id (16 hex digits, as minisign prints it), read to you by the
        /// partner over a channel you already trust (a phone number on file).
        #[arg(long, requires = "statement")]
        key_id: Option<String>,
        /// A witness as NAME=VERIFIERKEY; repeatable (see `agency add`).
        #[arg(long)]
        witness: Vec<String>,
        /// How many of the witnesses must cosign (default: all of them).
        #[arg(long)]
        witness_quorum: Option<usize>,
    },
    /// Print this agency's inbound age recipient (partners encrypt packets for us to it).
    InboundKey,
}

pub fn run(ctx: &mut Context, cmd: AgencyCmd) -> Result<()> {
    let mut s = ctx.session()?;
    if let AgencyCmd::Keygen { out_dir } = &cmd {
        // The keys are the partner's: nothing is stored in the vault, but only an admin makes them.
        s.require(crate::policy::Action::AgencyManage)?;
        crate::private::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
        let k = PartnerKeys::generate();
        let files = [
            ("partner.agekey", true),
            ("partner.minisign.key", true),
            ("partner.minisign.pub", false),
            ("partner.age.pub", false),
        ];
        let texts = [
            k.age_identity_file(now().max(0) as u64)
                .expose_secret()
                .to_string(),
            k.minisign_secret_key_file().expose_secret().to_string(),
            k.minisign_public_key_file(),
            format!("{}\n", k.age_recipient),
        ];
        // One set: the age identity appears last, so all four files exist or none.
        let set = OutputSet {
            primary: out_dir.join(files[0].0),
            companions: files[1..].iter().map(|(n, _)| out_dir.join(n)).collect(),
            lone_companion_is_ours: false,
        };
        let rest: Vec<&[u8]> = texts[1..].iter().map(|t| t.as_bytes()).collect();
        set.write(texts[0].as_bytes(), &rest, false)?;
        let out = serde_json::json!({
            "dir": out_dir,
            "age_identity_file": out_dir.join(files[0].0),
            "minisign_secret_key_file": out_dir.join(files[1].0),
            "minisign_public_key_file": out_dir.join(files[2].0),
            "age_recipient": k.age_recipient.to_string(),
            "minisign_public_key": k.minisign_public.to_base64(),
            "secret_files_mode": "0600",
        });
        ctx.emit(&out, || {
            tr!(
                "referral.keygen_done",
                dir = out_dir.display(),
                age = files[0].0,
                sec = files[1].0,
                pubk = files[2].0,
                rcpt = files[3].0,
                recipient = k.age_recipient,
                pubfile = out_dir.join(files[2].0).display()
            )
        });
        return Ok(());
    }
    match cmd {
        AgencyCmd::Keygen { .. } => unreachable!("handled above"),
        AgencyCmd::Add {
            name,
            age_recipient,
            minisign_pubkey,
            log_key,
            witness,
            witness_quorum,
            contact,
        } => {
            // Checked before anything is recorded.
            let witnesses = parse_witnesses(&witness, witness_quorum)?;
            let key_text = if Path::new(&minisign_pubkey).is_file() {
                let p = Path::new(&minisign_pubkey);
                crate::error::read_capped_text(p, super::context::MAX_SMALL_FILE)?
            } else {
                minisign_pubkey
            };
            let a = s.agency_add(
                &name,
                &age_recipient,
                &key_text,
                log_key.as_deref(),
                &contact,
            )?;
            if !witnesses.keys.is_empty() {
                s.agency_set_witnesses(&a.id.to_string(), &witnesses)?;
            }
            ctx.emit(&a, || {
                tr!("referral.agency_added", name = a.name, id = a.id)
            });
        }
        AgencyCmd::List => {
            let rows = s.agency_list()?;
            ctx.emit(&rows, || {
                let body: Vec<Vec<String>> = rows
                    .iter()
                    .map(|a| {
                        vec![
                            a.id.to_string(),
                            a.name.clone(),
                            a.contact.clone(),
                            if a.active {
                                tr!("common.yes")
                            } else {
                                tr!("common.no")
                            },
                            format_time(a.added_at),
                        ]
                    })
                    .collect();
                table(
                    &[
                        tr!("cli.h_id"),
                        tr!("cli.h_agency_name"),
                        tr!("cli.h_contact"),
                        tr!("cli.h_agency_active"),
                        tr!("cli.h_added"),
                    ],
                    &body,
                )
            });
        }
        AgencyCmd::Show { agency } => {
            let a = s.agency_show(&agency)?;
            let log_key = s.agency_log_key(&a)?;
            let witnesses = s.agency_witnesses(&a)?.filter(|w| w.quorum > 0);
            let mut v = serde_json::to_value(&a).unwrap_or_default();
            v["log_key"] = serde_json::json!(log_key);
            if let Some(w) = &witnesses {
                v["witnesses"] = serde_json::json!(w.vkeys());
                v["witness_quorum"] = serde_json::json!(w.quorum);
            }
            ctx.emit(&v, || {
                let mut more = String::new();
                if let Some(w) = &witnesses {
                    more = format!(
                        "{}: {}/{}\n",
                        tr!("packet.h_witnesses"),
                        w.quorum,
                        w.keys.len()
                    );
                    for k in w.vkeys() {
                        more.push_str(&format!("  {k}\n"));
                    }
                }
                format!(
                    "{} ({})\ncontact: {}\nage: {}\nminisign: {}\n{}: {}\n{}: {}\n{more}",
                    a.name,
                    a.id,
                    a.contact,
                    a.age_recipient,
                    a.minisign_pubkey,
                    tr!("packet.h_log_key"),
                    log_key
                        .clone()
                        .unwrap_or_else(|| tr!("packet.no_log_key_short")),
                    tr!("cli.h_active"),
                    a.active
                )
            });
        }
        AgencyCmd::Remove { agency } => {
            let a = s.agency_remove(&agency)?;
            ctx.emit(&a, || tr!("referral.agency_removed", name = a.name));
        }
        AgencyCmd::Key { out, statement } => {
            let g = s.our_agency_keys()?;
            let k = g.keys.packet_key()?;
            if let Some(p) = &out {
                OutputSet::single(p).write(k.to_file().as_bytes(), &[], false)?;
            }
            let log_key = crate::vault::disclosure::verifier_key(&s.conn)?;
            if let Some(p) = &statement {
                // The statement, its signature by the current key, and by the one before.
                let mut set = OutputSet::single(p);
                set.companions.push(crate::vault::output::sig_path(p));
                let mut sigs: Vec<&[u8]> = vec![g.keys.signed_by_new.as_bytes()];
                if let Some(prev) = &g.keys.signed_by_previous {
                    let mut name = p.as_os_str().to_owned();
                    name.push(".previous.minisig");
                    set.companions.push(PathBuf::from(name));
                    sigs.push(prev.as_bytes());
                }
                set.write(g.keys.statement.as_bytes(), &sigs, false)?;
            }
            let v = serde_json::json!({
                "minisign_public_key": k.to_base64(),
                "key_id": k.key_id.to_string(),
                "generation": g.generation,
                "inbound_age_recipient": g.keys.inbound,
                "stale": g.stale,
                "statement": g.keys.statement,
                "log_verifier_key": log_key,
            });
            ctx.emit(&v, || {
                format!(
                    "{}\n# {}\n{}\n# {}\n",
                    k.to_base64(),
                    tr!("referral.our_key_hint"),
                    log_key,
                    tr!("packet.our_log_key_hint")
                )
            });
        }
        AgencyCmd::Update {
            agency,
            statement,
            key_id,
            witness,
            witness_quorum,
        } => {
            if !witness.is_empty() || witness_quorum.is_some() {
                let w = parse_witnesses(&witness, witness_quorum)?;
                let a = s.agency_set_witnesses(&agency, &w)?;
                ctx.emit(&a, || {
                    tr!(
                        "packet.agency_witnesses_set",
                        name = a.name,
                        count = w.keys.len(),
                        quorum = w.quorum
                    )
                });
                if statement.is_none() {
                    return Ok(());
                }
            }
            let (Some(statement), Some(key_id)) = (statement, key_id) else {
                return Err(Error::Invalid(tr!("packet.update_needs_input")));
            };
            let read = |p: &std::path::Path| {
                crate::error::read_capped_text(p, super::context::MAX_SMALL_FILE)
            };
            let mut prev = statement.as_os_str().to_owned();
            prev.push(".previous.minisig");
            let (a, index) = s.agency_update(
                &agency,
                &read(&statement)?,
                &read(&crate::vault::output::sig_path(&statement))?,
                &read(std::path::Path::new(&prev))?,
                &key_id,
            )?;
            let mut v = serde_json::to_value(&a).unwrap_or_default();
            v["log_index"] = index.into();
            v["key_id"] = key_id.trim().to_ascii_uppercase().into();
            ctx.emit(&v, || {
                format!(
                    "{}\n{}",
                    tr!("referral.agency_updated", name = a.name),
                    tr!(
                        "forms.agency_update_logged",
                        index = index,
                        key_id = key_id.trim().to_ascii_uppercase(),
                        inbound = a.age_recipient
                    )
                )
            });
        }
        AgencyCmd::InboundKey => {
            let r = s.inbound_recipient()?;
            let v = serde_json::json!({"age_recipient": r});
            ctx.emit(&v, || format!("{r}\n# {}\n", tr!("referral.inbound_hint")));
        }
    }
    Ok(())
}
