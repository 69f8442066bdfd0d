//! `casevault staff …`

use std::path::PathBuf;

use clap::Subcommand;

use super::context::table;
use super::Context;
use crate::domain::time::format_time;
use crate::error::{Error, Result};
use crate::policy::Role;
use crate::tr;

#[derive(Subcommand, Debug)]
pub enum StaffCmd {
    /// Invite a staff member (admin): prints the invitation the member enrols with.
    #[command(visible_alias = "invite")]
    Add {
        name: String,
        /// caseworker, supervisor, admin or auditor.
        #[arg(long)]
        role: String,
    },
    /// Enrol yourself with an invitation (no --as needed): makes your own keys, sealed with
    /// your new passphrase (--new-passphrase-file, $CASEVAULT_NEW_PASSPHRASE or a prompt), and
    /// prints the fingerprint to read out to the admin (and, for supervisors, a supervisor).
    Enrol {
        /// The invitation token from `staff add`.
        #[arg(long)]
        invite: String,
        /// File holding your new passphrase.
        #[arg(long)]
        new_passphrase_file: Option<PathBuf>,
    },
    /// Vouch for a new supervisor after comparing their fingerprint (supervisor).
    Endorse {
        name: String,
        /// The fingerprint the new member read out to you.
        #[arg(long)]
        fingerprint: String,
    },
    /// Register an enrolled member after comparing their fingerprint (admin).
    Approve {
        name: String,
        /// The fingerprint the new member read out to you.
        #[arg(long)]
        fingerprint: String,
    },
    /// List staff.
    List,
    /// Offboard a staff member: remove their keys, rotate the database key and their cases' keys.
    Remove { name: String },
    /// Rotate the database key now, finishing any removal whose rotation is pending (admin).
    Rotate,
    /// Change your own passphrase (--new-passphrase-file, $CASEVAULT_NEW_PASSPHRASE or a
    /// prompt); with --rotate-keys also make new keys, so old copies of your identity file
    /// open nothing.
    Passwd {
        /// File holding your new passphrase.
        #[arg(long)]
        new_passphrase_file: Option<PathBuf>,
        /// Also replace your keys (recommended after any doubt about who saw your file).
        #[arg(long)]
        rotate_keys: bool,
    },
    /// Give a new supervisor the keys of every existing case (run by a supervisor).
    Grant { name: String },
    /// Use the recovery key to give a supervisor every case's keys (admin, when no
    /// supervisor with access is left; logged).
    RecoverGrant {
        name: String,
        /// A recovery key share (repeat for at least the threshold), or the single recovery
        /// key file of a 1/1 vault. The key is rebuilt in memory only.
        #[arg(
            long = "recovery-share",
            visible_alias = "recovery-key",
            required = true
        )]
        recovery_share: Vec<PathBuf>,
    },
}

/// A `staff list` row: the stored row and whether their removal still waits for a rotation.
#[derive(serde::Serialize)]
struct ListedStaff {
    #[serde(flatten)]
    row: crate::store::staff::StaffRow,
    rotation_pending: bool,
}

pub fn run(ctx: &mut Context, cmd: StaffCmd) -> Result<()> {
    // The member enrolling has no place in the vault yet: no session.
    if let StaffCmd::Enrol {
        invite,
        new_passphrase_file,
    } = &cmd
    {
        let inv = crate::vault::Invitation::parse(invite)?;
        let p = ctx.new_passphrase(new_passphrase_file.as_deref(), &inv.name)?;
        let e = crate::vault::enrol(&ctx.vault, invite, &p)?;
        ctx.emit(&e, || {
            tr!("cli.enrolled", name = e.name, fingerprint = e.fingerprint)
        });
        return Ok(());
    }
    // A new passphrase needs the current one, agent or not: whoever finds a session unlocked
    // in the agent must not be able to lock its owner out.
    if matches!(cmd, StaffCmd::Passwd { .. }) {
        ctx.no_agent = true;
    }
    // These two rotate anyway: no need to offer it first.
    let mut s = if matches!(cmd, StaffCmd::Remove { .. } | StaffCmd::Rotate) {
        ctx.session_quiet()?
    } else {
        ctx.session()?
    };
    match cmd {
        // Answered above, before any session.
        StaffCmd::Enrol { .. } => {}
        StaffCmd::Add { name, role } => {
            let role = Role::parse(&role)
                .ok_or_else(|| Error::Invalid(tr!("cli.bad_role", role = role)))?;
            let inv = s.staff_invite(&name, role)?;
            let token = inv.token();
            ctx.emit(
                &serde_json::json!({"name": name, "role": role.as_str(), "invitation": token}),
                || {
                    tr!(
                        "cli.invited",
                        name = name,
                        role = role.label(),
                        token = token
                    )
                },
            );
        }
        StaffCmd::Endorse { name, fingerprint } => {
            let fp = s.staff_endorse(&name, &fingerprint)?;
            ctx.emit(
                &serde_json::json!({"endorsed": name, "fingerprint": fp}),
                || tr!("cli.endorsed", name = name),
            );
        }
        StaffCmd::Approve { name, fingerprint } => {
            let row = s.staff_approve(&name, &fingerprint)?;
            ctx.emit(&row, || {
                let mut t = tr!("cli.staff_added", name = row.name, role = row.role.label());
                if row.role == Role::Supervisor {
                    t.push('\n');
                    t.push_str(&tr!("cli.staff_grant_hint", name = row.name));
                }
                t
            });
        }
        StaffCmd::List => {
            let pending = s.rotation_pending()?;
            let rows: Vec<ListedStaff> = s
                .staff_list()?
                .into_iter()
                .map(|row| ListedStaff {
                    rotation_pending: pending.contains(&row.name),
                    row,
                })
                .collect();
            ctx.emit(&rows, || {
                let body: Vec<Vec<String>> = rows
                    .iter()
                    .map(|l| {
                        let r = &l.row;
                        vec![
                            r.name.clone(),
                            r.role.label(),
                            if r.active {
                                tr!("common.yes")
                            } else if l.rotation_pending {
                                tr!("cli.staff_inactive_pending")
                            } else {
                                tr!("common.no")
                            },
                            format_time(r.added_at),
                        ]
                    })
                    .collect();
                let mut text = table(
                    &[
                        tr!("cli.h_name"),
                        tr!("cli.h_role"),
                        tr!("cli.h_active"),
                        tr!("cli.h_added"),
                    ],
                    &body,
                );
                if !pending.is_empty() {
                    text.push('\n');
                    text.push_str(&tr!(
                        "cli.rotation_pending_notice",
                        names = pending.join(", ")
                    ));
                }
                text
            });
        }
        StaffCmd::Rotate => {
            let names = s.rotate_db_key()?;
            ctx.emit(
                &serde_json::json!({"database_key_rotated": true, "excluded": names}),
                || tr!("cli.rotation_done", names = names.join(", ")),
            );
        }
        StaffCmd::Remove { name } => {
            let cases = s.staff_remove(&name)?;
            let out = serde_json::json!({"removed": name, "cases_rekeyed": cases, "database_key_rotated": true});
            ctx.emit(&out, || {
                tr!("cli.staff_removed", name = name, cases = cases.len())
            });
        }
        StaffCmd::Passwd {
            new_passphrase_file,
            rotate_keys,
        } => {
            let who = s.me.name.clone();
            let p = ctx.new_passphrase(new_passphrase_file.as_deref(), &who)?;
            let db_rotated = s.staff_passwd(&p, rotate_keys)?;
            ctx.emit(
                &serde_json::json!({"changed": who, "keys_rotated": rotate_keys,
                    "database_key_rotated": rotate_keys && db_rotated}),
                || {
                    let mut t = if rotate_keys {
                        tr!("cli.passwd_rotated")
                    } else {
                        tr!("cli.passwd_done")
                    };
                    if !db_rotated {
                        t.push('\n');
                        t.push_str(&tr!("cli.passwd_db_deferred"));
                    }
                    t
                },
            );
        }
        StaffCmd::RecoverGrant {
            name,
            recovery_share,
        } => {
            let input = crate::vault::recovery::RecoveryInput::read(
                &recovery_share,
                super::context::MAX_SMALL_FILE,
            )?;
            let (id, how) = s.recovery_identity(input)?;
            let n = s.recover_grant(&id, &name, &how)?;
            ctx.emit(
                &serde_json::json!({"granted": name, "cases": n, "recovery_key_used": true}),
                || tr!("cli.granted", name = name, cases = n),
            );
        }
        StaffCmd::Grant { name } => {
            let n = s.staff_grant(&name)?;
            ctx.emit(&serde_json::json!({"granted": name, "cases": n}), || {
                tr!("cli.granted", name = name, cases = n)
            });
        }
    }
    Ok(())
}
