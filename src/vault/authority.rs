//! The vault's one authority on security state: signed statements in the disclosure log, checked
//! at the point of use. Database rows are indexes and caches; anyone holding the database key
//! can write them, so nothing here trusts a row unless a log entry signed by someone entitled
//! to make it says the same (docs/threat-model.md, "Trust nothing the database says").
//!
//! - **Staff** (keys, role, active): the registry rebuilt from the log's staff entries
//!   (`log::verified_registry`: O(staff entries), every signature checked) whose entry 0 must
//!   be the founding admin pinned in the member's own identity file ([`check_root`]).
//! - **Everything else** (case key epochs, assignments, consents and their revocation, record
//!   batches): an *attestation*, a log entry of the statement's kind whose `disclosed_sha256`
//!   is the SHA-256 of the statement's canonical bytes ([`Statement`]), signed by its actor.
//!   The statement and the entry's index are kept in the `authority` table; a use fetches that
//!   one entry (O(1)), checks its kind, hash and signature under the registry, and the actor's
//!   entitlement at that index, and then uses the statement (not the cache rows).

use std::cell::Ref;

use ed25519_dalek::{Signature, Verifier};
use rusqlite::{Connection, Transaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Session;
use crate::crypto::StaffIdentity;
use crate::error::{Error, Result};
use crate::log::{self, registry::Registration, Entry, Kind, Registry};
use crate::policy::Role;
use crate::store;

/// The registry from the log, every staff entry's signature checked. A log that does not
/// yield one is a tamper alarm.
pub fn load_registry(conn: &Connection) -> Result<Registry> {
    log::verified_registry(conn).map_err(|e| Error::Tampered {
        what: "log",
        id: e.to_string(),
    })
}

/// Checks the member's pinned root against the vault (log entry 0 registers the pinned
/// founder key; the log's verifier key is the pinned one) and their keys against the registry;
/// returns the role the registry gives them.
pub fn check_root(conn: &Connection, registry: &Registry, me: &StaffIdentity) -> Result<Role> {
    let mismatch = || Error::RootMismatch {
        staff: me.name.clone(),
    };
    let pin = me.root.as_ref().ok_or_else(mismatch)?;
    if registry.founder().map(|k| k.to_bytes()) != Some(pin.founder) {
        return Err(mismatch());
    }
    if super::disclosure::verifier_key(conn)? != pin.log_verifier {
        return Err(mismatch());
    }
    let m = registry
        .member(&me.name)
        .filter(|m| m.active)
        .ok_or_else(|| Error::UnknownStaff(me.name.clone()))?;
    let recipient = me.age.to_public().to_string();
    if m.key != me.signing.verifying_key() || m.recipient.as_deref() != Some(recipient.as_str()) {
        return Err(Error::IdentitySuperseded {
            staff: me.name.clone(),
        });
    }
    Role::parse(&m.role).ok_or_else(|| Error::Tampered {
        what: "staff",
        id: me.name.clone(),
    })
}

/// A security statement. Its canonical bytes (`serde_json` of this enum: fields in declaration
/// order) are kept in the `authority` table; a log entry of [`kind`](Claim::kind) carries
/// their SHA-256 and the signature of the person who made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "claim", rename_all = "snake_case")]
pub enum Claim {
    /// A case key epoch: its tier public keys and the holders it was first wrapped to.
    CaseKeys {
        case: i64,
        epoch: i64,
        tiers: Vec<(u8, String)>,
        holders: Vec<(String, Vec<u8>)>,
    },
    /// `staff` works on `case`: made by a supervisor, or by a caseworker opening the case
    /// (`opened`; valid only if they also made its first key epoch).
    Assignment {
        case: i64,
        staff: String,
        opened: bool,
    },
    /// A consent as recorded: client, agency and the terms (canonical JSON text).
    Consent {
        id: i64,
        client: i64,
        agency: i64,
        terms: String,
    },
    /// A consent's revocation: the date, the moment it takes effect, how it was received.
    ConsentRevoked {
        id: i64,
        on: String,
        at: i64,
        via: String,
    },
    /// A generation of the supervisor key (the top tier's recipient in every case epoch made
    /// while it is current), made by a supervisor.
    SupervisorKey {
        generation: i64,
        recipient: String,
        /// The agency's packet and inbound keys of this generation (held by the same people);
        /// absent in generations made before agency keys moved out of the database.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agency: Option<super::agency_keys::AgencyKeys>,
    },
    /// An admin invites `name` to enrol in `role` (the role the approval must match).
    Invitation { name: String, role: String },
    /// A partner agency's keys: what packets are encrypted to and verified with.
    Agency {
        id: i64,
        name: String,
        age_recipient: String,
        minisign_pubkey: String,
        /// The partner's checkpoint verifier key (`<origin>+<key id>+<base64>`), if it runs a
        /// signed log: its receipts are then checked. Omitted when absent, so claims made
        /// before this field existed keep their exact bytes and digest.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log_key: Option<String>,
    },
    /// A partner agency's `seq`-th key rotation: its key statement (`docs/formats.md`,
    /// "Agency key statement") signed by its previous packet key and by the new one, so an
    /// admin can only record a rotation the partner made.
    AgencyKeysRotated {
        id: i64,
        seq: i64,
        age_recipient: String,
        minisign_pubkey: String,
        statement: String,
        signed_by_previous: String,
        signed_by_new: String,
    },
    /// The `seq`-th list of witnesses whose cosignatures this vault requires on a partner's
    /// checkpoints (their vkeys, type 0x04) and how many must cosign; the latest one counts.
    AgencyWitnesses {
        id: i64,
        seq: i64,
        witnesses: Vec<String>,
        quorum: usize,
    },
}

impl Claim {
    /// The log entry kind that attests this claim.
    pub fn kind(&self) -> Kind {
        match self {
            Claim::CaseKeys { .. } => Kind::CaseKeys,
            Claim::Assignment { .. } => Kind::Assignment,
            Claim::Consent { .. } => Kind::ConsentRecorded,
            Claim::ConsentRevoked { .. } => Kind::ConsentRevoked,
            Claim::Agency { .. }
            | Claim::AgencyKeysRotated { .. }
            | Claim::AgencyWitnesses { .. }
            | Claim::SupervisorKey { .. }
            | Claim::Invitation { .. } => Kind::KeyChange,
        }
    }

    /// The `authority` row's key.
    pub fn subject(&self) -> String {
        match self {
            Claim::CaseKeys { case, epoch, .. } => epoch_subject(*case, *epoch),
            Claim::Assignment { case, staff, .. } => assign_subject(*case, staff),
            Claim::Consent { id, .. } => format!("consent/{id}"),
            Claim::ConsentRevoked { id, .. } => format!("revoked/{id}"),
            Claim::Agency { id, .. } => format!("agency/{id}"),
            Claim::AgencyKeysRotated { id, seq, .. } => agency_rotation_subject(*id, *seq),
            Claim::AgencyWitnesses { id, seq, .. } => agency_witnesses_subject(*id, *seq),
            Claim::SupervisorKey { generation, .. } => supkey_subject(*generation),
            Claim::Invitation { name, .. } => format!("invite/{name}"),
        }
    }

    /// Short text for the log entry's detail (ids of staff and epochs only; the case is the
    /// entry's keyed case id).
    fn detail(&self) -> String {
        match self {
            Claim::CaseKeys { epoch, .. } => format!("epoch {epoch}"),
            Claim::Assignment { staff, .. } => format!("assign {staff}"),
            Claim::Consent { id, .. } => format!("consent {id}"),
            Claim::ConsentRevoked { id, .. } => format!("consent {id} revoked"),
            Claim::Agency { id, .. } => format!("agency {id} keys"),
            Claim::AgencyKeysRotated { id, seq, .. } => format!("agency {id} keys rotated {seq}"),
            Claim::AgencyWitnesses { id, seq, .. } => agency_witnesses_detail(*id, *seq),
            Claim::SupervisorKey { generation, .. } => format!("supervisor key {generation}"),
            Claim::Invitation { name, role } => format!("invite {name} as {role}"),
        }
    }

    fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Invalid(e.to_string()))
    }
}

/// The `authority` subject of a case key epoch.
pub fn epoch_subject(case: i64, epoch: i64) -> String {
    format!("epoch/{case}/{epoch}")
}

/// The `authority` subject of a supervisor key generation.
pub fn supkey_subject(generation: i64) -> String {
    format!("supkey/{generation:012}")
}

/// The `authority` subject of a partner agency's `seq`-th key rotation.
pub fn agency_rotation_subject(id: i64, seq: i64) -> String {
    format!("agency/{id}/rotation/{seq:06}")
}

/// The `authority` subject of the `seq`-th witness list recorded for partner agency `id`.
pub fn agency_witnesses_subject(id: i64, seq: i64) -> String {
    format!("agency/{id}/witnesses/{seq:06}")
}

/// The log entry detail of that witness list.
pub fn agency_witnesses_detail(id: i64, seq: i64) -> String {
    format!("agency {id} witnesses {seq}")
}

/// The `authority` subject of an assignment.
pub fn assign_subject(case: i64, staff: &str) -> String {
    format!("assign/{case}/{staff}")
}

/// Who may make a claim: judged with the claim, its log entry and the signer's registration
/// in force at that entry.
type EntitledFn = dyn Fn(&Session, &Connection, &Claim, &Entry, &Registration) -> Result<bool>;

/// SHA-256 of a statement's canonical bytes, domain-separated.
pub fn digest(statement: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"casevault statement v1\0");
    h.update(statement);
    h.finalize().into()
}

impl Session {
    /// The registry as verified at open (or at the last [`reload_registry`](Self::reload_registry)).
    pub fn registry(&self) -> Ref<'_, Registry> {
        self.registry.borrow()
    }

    /// Re-reads the registry from `conn` (inside a write transaction, so holder sets include
    /// whoever was registered since this session opened).
    pub(super) fn reload_registry(&self, conn: &Connection) -> Result<()> {
        let fresh = load_registry(conn)?;
        *self.registry.borrow_mut() = fresh;
        Ok(())
    }

    /// Signs `claim` into the log inside `tx` and records it in the `authority` table.
    pub(super) fn attest(&self, tx: &Transaction, claim: &Claim, case: Option<i64>) -> Result<u64> {
        Ok(self.attest_many(tx, &[(claim, case)])?[0])
    }

    /// [`attest`](Self::attest) for several claims with one log head check and checkpoint.
    /// What this session signs is marked as checked (it need not verify its own signature).
    pub(super) fn attest_many(
        &self,
        tx: &Transaction,
        claims: &[(&Claim, Option<i64>)],
    ) -> Result<Vec<u64>> {
        let mut entries = Vec::with_capacity(claims.len());
        let mut statements = Vec::with_capacity(claims.len());
        for (claim, case) in claims {
            let bytes = claim.encode()?;
            let d = digest(&bytes);
            let mut e = self.log_entry(claim.kind(), *case)?;
            e.disclosed_sha256 = Some(d);
            e.detail = claim.detail();
            if let Claim::Consent { id, .. } | Claim::ConsentRevoked { id, .. } = claim {
                e.basis = log::LegalBasis::Consent(id.to_string());
            }
            entries.push(e);
            statements.push((claim.subject(), bytes, d));
        }
        let indexes = self.log_append_many(tx, &entries)?;
        let mut checked = self.attested.borrow_mut();
        for ((subject, bytes, d), index) in statements.iter().zip(&indexes) {
            store::authority::put(tx, subject, *index, bytes)?;
            checked.insert((*index, *d));
        }
        Ok(indexes)
    }

    /// The claim about `subject`, after checking the log entry that attests it: its kind and
    /// hash, its signature under the registry, and that its actor was `entitled` to make it.
    /// Anything else is a tamper alarm naming `what`/`id`. O(1) reads; each attestation's
    /// signature is checked once per session.
    pub(super) fn verified_claim(
        &self,
        conn: &Connection,
        subject: &str,
        entitled: &EntitledFn,
        what: &'static str,
        id: &str,
    ) -> Result<Claim> {
        let tampered = || Error::Tampered {
            what,
            id: id.to_string(),
        };
        let (index, bytes) = store::authority::get(conn, subject)?.ok_or_else(tampered)?;
        let index = u64::try_from(index).map_err(|_| tampered())?;
        let claim: Claim = serde_json::from_slice(&bytes).map_err(|_| tampered())?;
        if claim.subject() != subject {
            return Err(tampered());
        }
        let d = digest(&bytes);
        let (entry, stored) = log::stored_at(conn, index)
            .map_err(|_| tampered())?
            .ok_or_else(tampered)?;
        if entry.kind.code() != claim.kind().code() || entry.disclosed_sha256 != Some(d) {
            return Err(tampered());
        }
        if self.attested.borrow().contains(&(index, d)) {
            return Ok(claim);
        }
        let reg = self
            .registry
            .borrow()
            .at(&entry.actor, index)
            .cloned()
            .ok_or_else(tampered)?;
        let (signed, sig) = log::split_stored(&stored).map_err(|_| tampered())?;
        reg.key
            .verify(&log::signed_message(signed), &Signature::from_bytes(&sig))
            .map_err(|_| tampered())?;
        if !entitled(self, conn, &claim, &entry, &reg)? {
            return Err(tampered());
        }
        self.attested.borrow_mut().insert((index, d));
        Ok(claim)
    }

    /// The verified key epoch of a case: its tier public keys as signed.
    pub(crate) fn verified_epoch(&self, conn: &Connection, case: i64, epoch: i64) -> Result<Claim> {
        self.verified_claim(
            conn,
            &epoch_subject(case, epoch),
            &epoch_entitled,
            "case key",
            &format!("{case}/{epoch}"),
        )
    }

    /// Whether `staff`'s assignment to `case` is attested (false when there is no row for it;
    /// a tamper alarm when there is one that fails its check).
    pub(crate) fn verified_assignment(
        &self,
        conn: &Connection,
        case: i64,
        staff: &str,
    ) -> Result<bool> {
        let subject = assign_subject(case, staff);
        if store::authority::get(conn, &subject)?.is_none() {
            return Ok(false);
        }
        self.verified_claim(
            conn,
            &subject,
            &assignment_entitled,
            "assignment",
            &format!("{case}/{staff}"),
        )?;
        Ok(true)
    }
}

/// Consents and their revocations are recorded by caseworkers and supervisors. A consent is
/// what its first statement says: a later statement for the same consent (someone signing
/// wider terms over it) is refused, found through the log's kind index (O(consents)).
fn consent_entitled(
    _: &Session,
    conn: &Connection,
    claim: &Claim,
    entry: &Entry,
    reg: &Registration,
) -> Result<bool> {
    if !(has_role(reg, Role::Caseworker) || has_role(reg, Role::Supervisor)) {
        return Ok(false);
    }
    match claim {
        Claim::Consent { id, .. } => {
            let basis = log::LegalBasis::Consent(id.to_string());
            Ok(
                log::first_where(conn, log::KindCode::ConsentRecorded, &|e| e.basis == basis)?
                    == Some(entry.index),
            )
        }
        _ => Ok(true),
    }
}

/// Supervisor key generations are made by supervisors only.
pub(super) fn supervisor_entitled(
    _: &Session,
    _: &Connection,
    _: &Claim,
    _: &Entry,
    reg: &Registration,
) -> Result<bool> {
    Ok(has_role(reg, Role::Supervisor))
}

/// Partner agencies' keys are registered, and staff invited, by an admin. An agency's keys
/// are what its first statement says: a later one (an admin re-signing the agency's key as
/// one of their own) is refused.
pub(super) fn admin_entitled(
    _: &Session,
    conn: &Connection,
    claim: &Claim,
    entry: &Entry,
    reg: &Registration,
) -> Result<bool> {
    if !has_role(reg, Role::Admin) {
        return Ok(false);
    }
    match claim {
        Claim::Agency { .. } | Claim::AgencyKeysRotated { .. } | Claim::AgencyWitnesses { .. } => {
            let detail = claim.detail();
            Ok(
                log::first_where(conn, log::KindCode::KeyChange, &|e| e.detail == detail)?
                    == Some(entry.index),
            )
        }
        _ => Ok(true),
    }
}

impl Session {
    /// The consent `id` as its signed statements say: the row must match the recorded
    /// consent; a revocation is taken from its signed statement, and a consent the row shows
    /// as standing is refused when the log holds a revocation of it (someone cleared the row).
    pub(crate) fn verified_consent(&self, c: &crate::domain::Consent) -> Result<()> {
        let id = c.id;
        let tampered = || Error::Tampered {
            what: "consent",
            id: id.to_string(),
        };
        let claim = self.verified_claim(
            &self.conn,
            &format!("consent/{id}"),
            &consent_entitled,
            "consent",
            &id.to_string(),
        )?;
        let terms = serde_json::to_string(&c.terms).map_err(|_| tampered())?;
        if claim
            != (Claim::Consent {
                id,
                client: c.client_id,
                agency: c.agency_id,
                terms,
            })
        {
            return Err(tampered());
        }
        let subject = format!("revoked/{id}");
        if store::authority::get(&self.conn, &subject)?.is_some() {
            let r = self.verified_claim(
                &self.conn,
                &subject,
                &consent_entitled,
                "consent",
                &id.to_string(),
            )?;
            let Claim::ConsentRevoked { at, .. } = r else {
                return Err(tampered());
            };
            if c.revoked_at != Some(at) {
                return Err(tampered());
            }
        } else if c.revoked_on.is_none() && log::revocation_logged(&self.conn, id)? {
            return Err(tampered());
        }
        Ok(())
    }

    /// Checks a partner agency's row against the keys its admin signed; returns the log
    /// verifier key the same statement records (the row has no copy of it).
    pub(crate) fn verified_agency(
        &self,
        a: &crate::store::agencies::AgencyRow,
    ) -> Result<Option<String>> {
        let tampered = || Error::Tampered {
            what: "agency",
            id: a.name.clone(),
        };
        let claim = self.verified_claim(
            &self.conn,
            &format!("agency/{}", a.id),
            &admin_entitled,
            "agency",
            &a.name,
        )?;
        let Claim::Agency {
            name,
            mut age_recipient,
            mut minisign_pubkey,
            log_key,
            ..
        } = claim
        else {
            return Err(tampered());
        };
        // Each rotation the partner signed, in order: the previous key signs the next.
        let mut seq = 1;
        while let Some(c) = self.agency_rotation(a, seq)? {
            let Claim::AgencyKeysRotated {
                age_recipient: r,
                minisign_pubkey: k,
                statement,
                signed_by_previous,
                signed_by_new,
                ..
            } = c
            else {
                return Err(tampered());
            };
            super::agency_keys::AgencyKeys {
                packet: k.clone(),
                inbound: r.clone(),
                statement,
                signed_by_previous: Some(signed_by_previous),
                signed_by_new,
                checkpoint: None,
            }
            .check(Some(&minisign_pubkey))
            .map_err(|_| tampered())?;
            age_recipient = r;
            minisign_pubkey = k;
            seq += 1;
        }
        // A rotation in the log whose statement row is gone is a rollback to older keys.
        let next = format!("agency {} keys rotated {seq}", a.id);
        if log::first_where(&self.conn, log::KindCode::KeyChange, &|e| e.detail == next)?.is_some()
        {
            return Err(tampered());
        }
        if name != a.name
            || age_recipient != a.age_recipient
            || minisign_pubkey != a.minisign_pubkey
        {
            return Err(tampered());
        }
        Ok(log_key)
    }

    /// The partner's `seq`-th signed rotation, if recorded.
    fn agency_rotation(
        &self,
        a: &crate::store::agencies::AgencyRow,
        seq: i64,
    ) -> Result<Option<Claim>> {
        let subject = agency_rotation_subject(a.id, seq);
        if store::authority::get(&self.conn, &subject)?.is_none() {
            return Ok(None);
        }
        self.verified_claim(&self.conn, &subject, &admin_entitled, "agency", &a.name)
            .map(Some)
    }

    /// Records a partner's key rotation from its key statement and both signatures (admin):
    /// the statement must name the partner's current packet key as the previous one and be
    /// signed by it and by the new key. Returns the agency as updated and the index of the
    /// log entry that records the key change.
    pub fn agency_update(
        &mut self,
        key: &str,
        statement: &str,
        signed_by_new: &str,
        signed_by_previous: &str,
        confirmed_key_id: &str,
    ) -> Result<(crate::store::agencies::AgencyRow, u64)> {
        self.require(crate::policy::Action::AgencyManage)?;
        let a = self.agency_show(key)?;
        self.verified_agency(&a)?;
        let field = |name: &str| {
            statement
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
                .map(str::to_string)
                .ok_or_else(|| Error::Invalid(crate::tr!("referral.statement_malformed")))
        };
        let keys = super::agency_keys::AgencyKeys {
            packet: field("packet-key")?,
            inbound: field("inbound-key")?,
            statement: statement.to_string(),
            signed_by_previous: Some(signed_by_previous.to_string()),
            signed_by_new: signed_by_new.to_string(),
            checkpoint: None,
        };
        if field("previous-packet-key")? != a.minisign_pubkey {
            return Err(Error::Invalid(crate::tr!(
                "referral.statement_other_key",
                agency = a.name
            )));
        }
        keys.check(Some(&a.minisign_pubkey))
            .map_err(|_| Error::Invalid(crate::tr!("referral.statement_bad_signature")))?;
        // Whoever held the old key (a partner's departed staff member too) can sign a
        // statement: the new key's id must also be confirmed with the partner out of band.
        let key_id = keys.packet_key()?.key_id.to_string();
        if !confirmed_key_id.trim().eq_ignore_ascii_case(&key_id) {
            return Err(Error::Invalid(crate::tr!(
                "referral.statement_key_id",
                agency = a.name,
                key_id = key_id
            )));
        }
        <age::x25519::Recipient as std::str::FromStr>::from_str(&keys.inbound)
            .map_err(|_| Error::Invalid(crate::tr!("referral.bad_age_recipient")))?;
        let mut seq = 1;
        while self.agency_rotation(&a, seq)?.is_some() {
            seq += 1;
        }
        let claim = Claim::AgencyKeysRotated {
            id: a.id,
            seq,
            age_recipient: keys.inbound.clone(),
            minisign_pubkey: keys.packet.clone(),
            statement: keys.statement,
            signed_by_previous: signed_by_previous.to_string(),
            signed_by_new: keys.signed_by_new,
        };
        let index = store::write(&self.conn, |tx| {
            store::agencies::set_keys(tx, a.id, &keys.inbound, &keys.packet)?;
            self.attest(tx, &claim, None)
        })?;
        Ok((self.agency_show(&a.id.to_string())?, index))
    }
}

/// Who may make a case key epoch: a supervisor, or a caseworker who is among its holders and
/// either opens the case (epoch 1) or is assigned to it. An unassigned worker's epoch is
/// refused, so nobody can slip their own key into a case; an admin's is refused, so no admin
/// ever makes (and could keep) case keys.
fn epoch_entitled(
    s: &Session,
    conn: &Connection,
    claim: &Claim,
    entry: &Entry,
    reg: &Registration,
) -> Result<bool> {
    let Claim::CaseKeys {
        case,
        epoch,
        holders,
        ..
    } = claim
    else {
        return Ok(false);
    };
    if has_role(reg, Role::Supervisor) {
        return Ok(true);
    }
    if !has_role(reg, Role::Caseworker) || !holders.iter().any(|(h, _)| *h == entry.actor) {
        return Ok(false);
    }
    if *epoch == 1 {
        // A case's first epoch comes before any of its records: one signed after records of
        // the case were committed is someone re-making another worker's case keys.
        let first_record = store::records::first_commit(conn, *case)?;
        return Ok(first_record.is_none_or(|c| c > entry.index as i64));
    }
    s.verified_assignment(conn, *case, &entry.actor)
}

/// Who may assign: a supervisor; or the caseworker who opened the case, for themself, if they
/// made its first key epoch.
fn assignment_entitled(
    s: &Session,
    conn: &Connection,
    claim: &Claim,
    entry: &Entry,
    reg: &Registration,
) -> Result<bool> {
    let Claim::Assignment {
        case,
        staff,
        opened,
    } = claim
    else {
        return Ok(false);
    };
    if has_role(reg, Role::Supervisor) {
        return Ok(true);
    }
    if !*opened || *staff != entry.actor || !has_role(reg, Role::Caseworker) {
        return Ok(false);
    }
    let Some((first, _)) = store::authority::get(conn, &epoch_subject(*case, 1))? else {
        return Ok(false);
    };
    s.verified_epoch(conn, *case, 1)?;
    let opener = log::stored_at(conn, first as u64)
        .ok()
        .flatten()
        .map(|(e, _)| e.actor);
    Ok(opener.as_deref() == Some(staff.as_str()))
}

/// Whether a registration's role is `role`.
pub fn has_role(reg: &Registration, role: Role) -> bool {
    reg.role == role.as_str()
}
