//! Staff enrol themselves: the admin never sees or makes a member's secret keys.
//!
//! 1. `staff add NAME --role R` (admin): an invitation row and a token carrying the name, the
//!    role and the vault's root (founding admin key, log verifier key), handed to the member.
//! 2. `staff enrol --invite TOKEN` (the member, on their own session): fresh keys sealed with
//!    their passphrase into `staff/NAME.age` with the root pinned, and a request
//!    `staff/NAME.request` holding their public keys, signed with the new key; it prints the
//!    fingerprint.
//! 3. For a supervisor: `staff endorse NAME --fingerprint F` by an existing supervisor (the
//!    second person), a `staff_endorsed` log entry.
//! 4. `staff approve NAME --fingerprint F` (admin): the request's signature and the fingerprint
//!    the member read out are checked; the registration is signed into the log and the
//!    database key rewrapped to include them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64U;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, VerifyingKey};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::authority::Claim;
use super::dir::{valid_staff_name, write_atomic, VaultDir};
use super::Session;
use crate::crypto::{hex, unhex, RootPin, StaffIdentity};
use crate::domain::time::now;
use crate::error::{Error, Result};
use crate::log::{Kind, NewEntry};
use crate::policy::{Action, Role};
use crate::store::{self, staff::StaffRow};
use crate::tr;

const TOKEN_PREFIX: &str = "cvinv1.";

/// What an invitation carries (not secret, but it must reach the member unaltered: it pins
/// their vault's root).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub name: String,
    pub role: String,
    pub founder: String,
    pub log_verifier: String,
}

impl Invitation {
    /// The one-line token.
    pub fn token(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("{TOKEN_PREFIX}{}", B64U.encode(json))
    }

    /// Parses a token.
    pub fn parse(token: &str) -> Result<Invitation> {
        let bad = || Error::Invalid(tr!("vault.bad_invitation"));
        let b = token.trim().strip_prefix(TOKEN_PREFIX).ok_or_else(bad)?;
        let json = B64U.decode(b).map_err(|_| bad())?;
        let inv: Invitation = serde_json::from_slice(&json).map_err(|_| bad())?;
        if !valid_staff_name(&inv.name) || Role::parse(&inv.role).is_none() {
            return Err(bad());
        }
        Ok(inv)
    }

    fn root(&self) -> Result<RootPin> {
        RootPin::parse(&format!("{} {}", self.founder, self.log_verifier))
            .ok_or_else(|| Error::Invalid(tr!("vault.bad_invitation")))
    }
}

/// A member's enrolment request: public keys, signed with the new Ed25519 key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    pub name: String,
    pub role: String,
    pub verify_key: String,
    pub age_recipient: String,
    pub signature: String,
}

/// The fingerprint both people compare: 80 bits of SHA-256 over name, role and keys, in five
/// groups of four hex digits.
pub fn fingerprint(name: &str, role: &str, verify_key: &[u8; 32], age_recipient: &str) -> String {
    let d = fingerprint_digest(name, role, verify_key, age_recipient);
    let h = hex(&d[..10]);
    h.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("-")
}

fn fingerprint_digest(name: &str, role: &str, key: &[u8; 32], age_recipient: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"casevault staff fingerprint v1\0");
    for part in [
        name.as_bytes(),
        role.as_bytes(),
        key,
        age_recipient.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

fn same_fingerprint(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_hexdigit())
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    !norm(a).is_empty() && norm(a) == norm(b)
}

impl Request {
    /// The checked public keys and fingerprint.
    fn check(&self) -> Result<(VerifyingKey, String)> {
        let bad = || Error::Tampered {
            what: "enrolment request",
            id: self.name.clone(),
        };
        let key: [u8; 32] = unhex(&self.verify_key).ok_or_else(bad)?;
        let vk = VerifyingKey::from_bytes(&key).map_err(|_| bad())?;
        super::keys::parse_recipient(&self.age_recipient).map_err(|_| bad())?;
        let sig: [u8; 64] = unhex(&self.signature).ok_or_else(bad)?;
        let d = fingerprint_digest(&self.name, &self.role, &key, &self.age_recipient);
        vk.verify_strict(&d, &Signature::from_bytes(&sig))
            .map_err(|_| bad())?;
        Ok((
            vk,
            fingerprint(&self.name, &self.role, &key, &self.age_recipient),
        ))
    }

    pub(super) fn read(dir: &VaultDir, name: &str) -> Result<Request> {
        let path = request_path(dir, name);
        let bytes = match crate::error::read_capped(&path, 64 * 1024) {
            Ok(b) => b,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound {
                    what: "enrolment request",
                    id: name.to_string(),
                })
            }
            Err(e) => return Err(e),
        };
        let r: Request = serde_json::from_slice(&bytes).map_err(|_| Error::Tampered {
            what: "enrolment request",
            id: name.to_string(),
        })?;
        if r.name != name {
            return Err(Error::Tampered {
                what: "enrolment request",
                id: name.to_string(),
            });
        }
        Ok(r)
    }
}

fn request_path(dir: &VaultDir, name: &str) -> std::path::PathBuf {
    dir.staff_dir().join(format!("{name}.request"))
}

/// What `staff enrol` reports.
#[derive(Debug, Serialize)]
pub struct Enrolled {
    pub name: String,
    pub role: String,
    pub fingerprint: String,
}

/// The member's side: makes their keys, seals them with `passphrase` (root pinned from the
/// invitation) and writes the request. Refuses if an identity for the name exists.
pub fn enrol(dir: &VaultDir, token: &str, passphrase: &SecretString) -> Result<Enrolled> {
    dir.check()?;
    let inv = Invitation::parse(token)?;
    super::init::check_new_passphrase(passphrase, &[&inv.name])?;
    let path = dir.identity(&inv.name);
    if path.exists() {
        return Err(Error::Exists {
            what: "staff",
            id: inv.name.clone(),
        });
    }
    let mut id = StaffIdentity::generate(&inv.name);
    id.root = Some(inv.root()?);
    let public = id.public();
    let d = fingerprint_digest(
        &inv.name,
        &inv.role,
        &public.verify_key,
        &public.age_recipient,
    );
    let req = Request {
        name: inv.name.clone(),
        role: inv.role.clone(),
        verify_key: hex(&public.verify_key),
        age_recipient: public.age_recipient.clone(),
        signature: hex(&id.signing.sign(&d).to_bytes()),
    };
    write_atomic(&path, &id.seal(passphrase)?)?;
    let json = serde_json::to_vec_pretty(&req).map_err(|e| Error::Invalid(e.to_string()))?;
    write_atomic(&request_path(dir, &inv.name), &json)?;
    Ok(Enrolled {
        fingerprint: fingerprint(
            &inv.name,
            &inv.role,
            &public.verify_key,
            &public.age_recipient,
        ),
        name: inv.name,
        role: inv.role,
    })
}

impl Session {
    /// The admin's side, step 1: an invitation for `name` in `role`.
    pub fn staff_invite(&mut self, name: &str, role: Role) -> Result<Invitation> {
        self.require(Action::StaffManage)?;
        if !valid_staff_name(name) {
            return Err(Error::Invalid(tr!("vault.bad_staff_name", name = name)));
        }
        if self.registry().member(name).is_some() || store::staff::get(&self.conn, name)?.is_some()
        {
            return Err(Error::Exists {
                what: "staff",
                id: name.to_string(),
            });
        }
        let root = self.me.root.clone().ok_or_else(|| Error::RootMismatch {
            staff: self.me.name.clone(),
        })?;
        // Signed, so the role the approval checks is the admin's, not a row's.
        let claim = Claim::Invitation {
            name: name.to_string(),
            role: role.as_str().to_string(),
        };
        store::write(&self.conn, |tx| self.attest(tx, &claim, None).map(|_| ()))?;
        Ok(Invitation {
            name: name.to_string(),
            role: role.as_str().to_string(),
            founder: hex(&root.founder),
            log_verifier: root.log_verifier,
        })
    }

    /// A supervisor vouches for a new supervisor whose fingerprint they compared.
    pub fn staff_endorse(&mut self, name: &str, fp: &str) -> Result<String> {
        if self.role != Role::Supervisor {
            return Err(Error::NotPermitted {
                action: "staff.endorse".into(),
                role: self.role.as_str().into(),
            });
        }
        let req = Request::read(&self.dir, name)?;
        let (vk, expected) = req.check()?;
        if !same_fingerprint(fp, &expected) {
            return Err(Error::Invalid(tr!(
                "vault.fingerprint_mismatch",
                name = name
            )));
        }
        let e = NewEntry::new(
            Kind::StaffEndorsed {
                name: name.to_string(),
                role: req.role.clone(),
                key: vk.to_bytes(),
            },
            &self.me.name,
        );
        store::write(&self.conn, |tx| {
            self.log_append(tx, &e)?;
            Ok(())
        })?;
        Ok(expected)
    }

    /// The admin's side, last step: registers the member whose request and fingerprint check.
    pub fn staff_approve(&mut self, name: &str, fp: &str) -> Result<StaffRow> {
        self.require(Action::StaffManage)?;
        let req = Request::read(&self.dir, name)?;
        let (vk, expected) = req.check()?;
        if !same_fingerprint(fp, &expected) {
            return Err(Error::Invalid(tr!(
                "vault.fingerprint_mismatch",
                name = name
            )));
        }
        let subject = format!("invite/{name}");
        if store::authority::get(&self.conn, &subject)?.is_none() {
            return Err(Error::NotFound {
                what: "invitation",
                id: name.to_string(),
            });
        }
        let invited = self.verified_claim(
            &self.conn,
            &subject,
            &super::authority::admin_entitled,
            "invitation",
            name,
        )?;
        if invited
            != (Claim::Invitation {
                name: name.to_string(),
                role: req.role.clone(),
            })
        {
            return Err(Error::Tampered {
                what: "invitation",
                id: name.to_string(),
            });
        }
        let role = Role::parse(&req.role).ok_or_else(|| Error::Tampered {
            what: "enrolment request",
            id: name.to_string(),
        })?;
        let public = crate::crypto::StaffPublic {
            age_recipient: req.age_recipient.clone(),
            verify_key: vk.to_bytes(),
        };
        let mut reg = NewEntry::new(
            Kind::StaffRegistered {
                name: name.to_string(),
                role: req.role.clone(),
                key: vk.to_bytes(),
            },
            &self.me.name,
        );
        reg.detail = format!("age={}", req.age_recipient);
        let at = now();
        let tx = store::immediate(&self.conn)?;
        if store::staff::get(&tx, name)?.is_some() {
            return Err(Error::Exists {
                what: "staff",
                id: name.to_string(),
            });
        }
        store::staff::insert(&tx, name, role, &public, at, &self.me.name)?;
        match self.log_append(&tx, &reg) {
            Err(Error::Log(crate::log::LogError::NotEndorsed { .. })) => {
                return Err(Error::Invalid(tr!("vault.needs_endorsement", name = name)))
            }
            r => r?,
        };
        // A new supervisor receives the generations the approver holds (the founder's: the
        // founding checkpoint key, which the first supervisor session hands over from).
        if role == Role::Supervisor {
            let me = self.me.name.clone();
            let to = super::keys::parse_recipient(&req.age_recipient)?;
            self.share_supervisor_keys(&tx, &me, &self.me.age, name, &to)?;
        }
        // Rewrapped while the write lock is held, from the registry that includes the new
        // member, so two concurrent additions cannot leave one of them out of the key file.
        self.rewrap_db_key(&tx)?;
        tx.commit()?;
        let _ = std::fs::remove_file(request_path(&self.dir, name));
        self.reload_registry(&self.conn)?;
        Ok(store::staff::get(&self.conn, name)?.expect("just inserted"))
    }
}
