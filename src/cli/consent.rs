//! `casevault consent …`: consents to disclose to a partner agency.

use std::path::PathBuf;

use clap::Subcommand;

use super::context::{read_input, table};
use super::Context;
use crate::domain::time::{today, Date};
use crate::domain::MAX_RECORD_ATTACHMENT_BYTES;
use crate::domain::{ConsentTerms, SignerRole};
use crate::error::{Error, Result};
use crate::tr;

#[derive(Subcommand, Debug)]
pub enum ConsentCmd {
    /// Record a signed consent.
    Add(Box<AddArgs>),
    /// List consents (of one client).
    List {
        #[arg(long)]
        client: Option<String>,
    },
    /// Show a consent.
    Show { id: i64 },
    /// Record that the client revoked a consent.
    Revoke {
        id: i64,
        /// YYYY-MM-DD (default: today).
        #[arg(long)]
        on: Option<String>,
        /// How the revocation came (phone, letter, in person…).
        #[arg(long)]
        via: String,
    },
    /// Print the consent form (Chinese and English) for signing or the file.
    Form { id: i64 },
    /// Send the stored scanned form (decrypted) to a pipe, e.g. a printer or viewer.
    Scan { id: i64 },
}

/// `consent add` options.
#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// Client id or number.
    #[arg(long)]
    client: String,
    /// Recipient partner agency (name or id).
    #[arg(long)]
    agency: String,
    /// client, guardian or agent.
    #[arg(long)]
    signer: String,
    #[arg(long)]
    signer_name: String,
    /// The signer's authority, e.g. "self", "mother, legal guardian".
    #[arg(long, default_value = "self")]
    authority: String,
    /// A purpose the client agreed to (repeat for several).
    #[arg(long = "purpose", required = true)]
    purposes: Vec<String>,
    /// Record kinds covered, comma-separated (template keys).
    #[arg(long)]
    kinds: String,
    /// Tier levels covered, comma-separated (e.g. 1,2).
    #[arg(long)]
    tiers: String,
    /// The consent's own words for the information.
    #[arg(long, default_value = "")]
    description: String,
    /// Separate consent for sensitive (tier-3) information was given.
    #[arg(long)]
    separate_consent: bool,
    /// How the client revokes (channel and contact), as told to them.
    #[arg(long)]
    revoke_how: String,
    /// The redisclosure notice given (default: the standard notice).
    #[arg(long)]
    redisclosure: Option<String>,
    /// YYYY-MM-DD (default: today).
    #[arg(long)]
    signed: Option<String>,
    /// YYYY-MM-DD.
    #[arg(long)]
    expires: String,
    /// Scanned form (stored encrypted to --form-case's tier-2 key).
    #[arg(long, requires = "form_case")]
    form: Option<PathBuf>,
    #[arg(long)]
    form_case: Option<i64>,
}

/// `consent show` for people: one "label: value" line per term, kinds and tiers by their
/// labels (JSON only under --json).
fn consent_text(policy: &crate::policy::Policy, c: &crate::domain::Consent) -> String {
    let t = &c.terms;
    let kinds: Vec<String> = t
        .kinds
        .iter()
        .map(|k| match policy.template(k) {
            Some(tpl) => format!("{} ({k})", tpl.label()),
            None => k.clone(),
        })
        .collect();
    let tiers: Vec<String> = t
        .tiers
        .iter()
        .map(|l| match policy.tier(*l) {
            Some(x) => format!("{l} {}", x.label()),
            None => l.to_string(),
        })
        .collect();
    let yes_no = |b: bool| {
        if b {
            tr!("forms.yes")
        } else {
            tr!("forms.no")
        }
    };
    let mut lines = vec![
        (tr!("forms.c_id"), c.id.to_string()),
        (tr!("forms.c_client"), c.client_id.to_string()),
        (tr!("forms.c_agency"), c.agency_name.clone()),
        (
            tr!("forms.c_signer"),
            format!("{} ({})", t.signer_name, t.signer_role.label()),
        ),
        (tr!("forms.c_authority"), t.authority.clone()),
        (tr!("forms.c_purposes"), t.purposes.join("; ")),
        (tr!("forms.c_kinds"), kinds.join(", ")),
        (tr!("forms.c_tiers"), tiers.join(", ")),
        (tr!("forms.c_description"), t.description.clone()),
        (tr!("forms.c_separate"), yes_no(t.separate_consent)),
        (tr!("forms.c_revoke_how"), t.revoke_how.clone()),
        (tr!("forms.c_redisclosure"), t.redisclosure_notice.clone()),
        (tr!("forms.c_signed"), t.signed_on.to_string()),
        (tr!("forms.c_expires"), t.expires_on.to_string()),
    ];
    if let Some(d) = c.revoked_on {
        let via = c.revoked_via.clone().unwrap_or_default();
        lines.push((tr!("forms.c_revoked"), format!("{d} ({via})")));
    }
    lines.push((tr!("forms.c_form"), yes_no(c.has_form)));
    lines.push((
        tr!("forms.c_recorded"),
        format!(
            "{} · {}",
            crate::domain::time::format_time(c.created_at),
            c.created_by
        ),
    ));
    lines
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}: {v}\n"))
        .collect()
}

pub(super) fn date(s: &str) -> Result<Date> {
    Date::parse(s).ok_or_else(|| Error::Invalid(tr!("referral.bad_date", value = s)))
}

pub(super) fn id_list<T: std::str::FromStr>(s: &str) -> Result<Vec<T>> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| x.parse())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::Invalid(tr!("referral.bad_list", value = s)))
}

pub fn run(ctx: &mut Context, cmd: ConsentCmd) -> Result<()> {
    let mut s = ctx.session()?;
    match cmd {
        ConsentCmd::Add(args) => {
            let AddArgs {
                client,
                agency,
                signer,
                signer_name,
                authority,
                purposes,
                kinds,
                tiers,
                description,
                separate_consent,
                revoke_how,
                redisclosure,
                signed,
                expires,
                form,
                form_case,
            } = *args;
            let terms = ConsentTerms {
                signer_role: SignerRole::parse(&signer)
                    .ok_or_else(|| Error::Invalid(tr!("referral.bad_signer")))?,
                signer_name,
                authority,
                purposes,
                kinds: id_list(&kinds)?,
                tiers: id_list(&tiers)?,
                description,
                separate_consent,
                revoke_how,
                redisclosure_notice: redisclosure
                    .unwrap_or_else(|| tr!("referral.default_redisclosure")),
                signed_on: match signed {
                    Some(d) => date(&d)?,
                    None => today(),
                },
                expires_on: date(&expires)?,
            };
            let scan = match &form {
                Some(p) => Some(read_input(p, MAX_RECORD_ATTACHMENT_BYTES as u64)?),
                None => None,
            };
            let c = s.consent_add(&client, &agency, &terms, form_case.zip(scan.as_deref()))?;
            ctx.emit(&c, || {
                tr!(
                    "referral.consent_added",
                    id = c.id,
                    client = client,
                    agency = c.agency_name,
                    expires = c.terms.expires_on
                )
            });
        }
        ConsentCmd::List { client } => {
            let rows = s.consent_list(client.as_deref())?;
            ctx.emit(&rows, || {
                let body: Vec<Vec<String>> = rows
                    .iter()
                    .map(|c| {
                        vec![
                            c.id.to_string(),
                            c.client_id.to_string(),
                            c.agency_name.clone(),
                            c.terms.purposes.join("; "),
                            c.terms.expires_on.to_string(),
                            c.revoked_on.map(|d| d.to_string()).unwrap_or_default(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        tr!("cli.h_id"),
                        tr!("cli.h_client"),
                        tr!("referral.h_agency"),
                        tr!("cli.h_purpose"),
                        tr!("referral.h_expires"),
                        tr!("referral.h_revoked"),
                    ],
                    &body,
                )
            });
        }
        ConsentCmd::Show { id } => {
            let c = s.consent_show(id)?;
            ctx.emit(&c, || consent_text(&s.policy, &c));
        }
        ConsentCmd::Revoke { id, on, via } => {
            let on = match on {
                Some(d) => date(&d)?,
                None => today(),
            };
            let c = s.consent_revoke(id, on, &via)?;
            ctx.emit(&c, || {
                tr!(
                    "referral.consent_revoked_done",
                    id = id,
                    date = on,
                    via = via
                )
            });
        }
        ConsentCmd::Form { id } => {
            let c = s.consent_show(id)?;
            let client = s.client_show(&c.client_id.to_string())?;
            let agency = s.agency_show(&c.agency_id.to_string())?;
            let tiers: Vec<String> = c
                .terms
                .tiers
                .iter()
                .map(|t| match s.policy.tier(*t) {
                    Some(x) => format!("{} {} {}", t, x.label_zh, x.label_en),
                    None => t.to_string(),
                })
                .collect();
            let kinds: Vec<String> = c
                .terms
                .kinds
                .iter()
                .map(|k| match s.policy.template(k) {
                    Some(t) => format!("{} {}", t.label_zh, t.label_en),
                    None => k.clone(),
                })
                .collect();
            let text = tr!(
                "referral.form",
                id = c.id,
                client = client.data.name,
                number = client.data.number,
                signer = c.terms.signer_name,
                signer_role = format!("{:?}", c.terms.signer_role).to_lowercase(),
                authority = c.terms.authority,
                discloser = s.agency()?,
                agency = agency.name,
                contact = agency.contact,
                purposes = c.terms.purposes.join("; "),
                description = c.terms.description,
                kinds = kinds.join(", "),
                tiers = tiers.join(", "),
                separate = if c.terms.separate_consent {
                    "是 yes"
                } else {
                    "否 no"
                },
                signed = c.terms.signed_on,
                expires = c.terms.expires_on,
                revoke = c.terms.revoke_how,
                redisclosure = c.terms.redisclosure_notice
            );
            let v = serde_json::json!({"consent": c, "form": text});
            ctx.emit(&v, || text.clone());
        }
        ConsentCmd::Scan { id } => {
            // Decrypted bytes go to a pipe (a viewer, a printer), never to a file we write:
            // plaintext stays off disk.
            use std::io::IsTerminal;
            if std::io::stdout().is_terminal() {
                return Err(Error::Invalid(tr!("referral.scan_needs_pipe")));
            }
            let bytes = s.consent_form_scan(id)?;
            super::out::bytes(&bytes);
        }
    }
    Ok(())
}
