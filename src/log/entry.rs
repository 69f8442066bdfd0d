//! Entry encoding v1: the canonical bytes that are signed, hashed and stored.
//!
//! The bytes are produced once by [`Entry::encode`] and from then on only ever copied: the
//! signature, the Merkle leaf and the export all use the exact stored bytes, so a decoder
//! change can never change what was signed. The decoder is strict so that every entry has
//! exactly one encoding. The byte layout is documented in `docs/disclosure-log.md`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::error::DecodeError;

/// The only entry format version this build writes and reads.
pub const ENTRY_VERSION: u8 = 1;

/// Upper bound for every length-prefixed text field, in bytes. Entries hold ids and short
/// phrases, never client content, so anything longer is a caller bug.
pub const MAX_TEXT: usize = 1024;

/// The role name whose holders may register and revoke staff keys.
pub const ADMIN_ROLE: &str = "admin";

/// Length of an Ed25519 signature appended to the entry bytes in the stored form.
pub const SIG_LEN: usize = 64;

/// Domain separator prepended to the entry bytes before signing, so an entry signature can
/// never be replayed as a record, packet or checkpoint signature.
pub const SIGN_CONTEXT: &[u8] = b"casevault disclosure-log entry v1\n";

/// The message a staff member signs for `entry_bytes`.
pub fn signed_message(entry_bytes: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGN_CONTEXT.len() + entry_bytes.len());
    m.extend_from_slice(SIGN_CONTEXT);
    m.extend_from_slice(entry_bytes);
    m
}

/// Keyed hash of a client or case id, so an exported log reveals no identities while the
/// vault (which holds `key`) can still find every entry about one client. `label` separates
/// uses ("client", "case") so equal ids of different things do not collide.
pub fn id_mac(key: &[u8; 32], label: &str, id: &str) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"casevault id-mac v1\0");
    mac.update(label.as_bytes());
    mac.update(b"\0");
    mac.update(id.as_bytes());
    mac.finalize().into_bytes().into()
}

/// What happened. The numeric code is part of the format: never renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum KindCode {
    StaffRegistered = 1,
    StaffRevoked = 2,
    Tier3Read = 3,
    RecoveryKeyUse = 4,
    KeyChange = 5,
    PolicyChange = 6,
    ReferralExport = 7,
    AccessPackage = 8,
    PartnerResponse = 9,
    CorrectionNotice = 10,
    StaffEndorsed = 11,
    CaseKeys = 12,
    Assignment = 13,
    ConsentRecorded = 14,
    ConsentRevoked = 15,
    RecordsCommitted = 16,
}

impl KindCode {
    /// Every kind, in code order.
    pub const ALL: [KindCode; 16] = [
        KindCode::StaffRegistered,
        KindCode::StaffRevoked,
        KindCode::Tier3Read,
        KindCode::RecoveryKeyUse,
        KindCode::KeyChange,
        KindCode::PolicyChange,
        KindCode::ReferralExport,
        KindCode::AccessPackage,
        KindCode::PartnerResponse,
        KindCode::CorrectionNotice,
        KindCode::StaffEndorsed,
        KindCode::CaseKeys,
        KindCode::Assignment,
        KindCode::ConsentRecorded,
        KindCode::ConsentRevoked,
        KindCode::RecordsCommitted,
    ];

    /// The kind for a wire code.
    pub fn from_u8(code: u8) -> Option<KindCode> {
        KindCode::ALL.into_iter().find(|k| *k as u8 == code)
    }

    /// Stable snake_case name used in exports, filters and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            KindCode::StaffRegistered => "staff_registered",
            KindCode::StaffRevoked => "staff_revoked",
            KindCode::Tier3Read => "tier3_read",
            KindCode::RecoveryKeyUse => "recovery_key_use",
            KindCode::KeyChange => "key_change",
            KindCode::PolicyChange => "policy_change",
            KindCode::ReferralExport => "referral_export",
            KindCode::AccessPackage => "access_package",
            KindCode::PartnerResponse => "partner_response",
            KindCode::CorrectionNotice => "correction_notice",
            KindCode::StaffEndorsed => "staff_endorsed",
            KindCode::CaseKeys => "case_keys",
            KindCode::Assignment => "assignment",
            KindCode::ConsentRecorded => "consent_recorded",
            KindCode::ConsentRevoked => "consent_revoked",
            KindCode::RecordsCommitted => "records_committed",
        }
    }

    /// Kinds that change the staff registry (the registry pass must see them in full).
    pub fn is_registry(self) -> bool {
        matches!(
            self,
            KindCode::StaffRegistered | KindCode::StaffRevoked | KindCode::StaffEndorsed
        )
    }

    /// The kind with this [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<KindCode> {
        KindCode::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The kind of an entry with its kind-specific payload (staff registry changes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `name` may sign entries with `key` from this entry on (replacing any earlier key).
    StaffRegistered {
        name: String,
        role: String,
        key: [u8; 32],
    },
    /// `name` may no longer sign anything after this entry.
    StaffRevoked {
        name: String,
    },
    Tier3Read,
    RecoveryKeyUse,
    KeyChange,
    PolicyChange,
    ReferralExport,
    AccessPackage,
    PartnerResponse,
    CorrectionNotice,
    /// A supervisor vouches that `name` with `key` may be registered in `role` (the second
    /// person behind every supervisor registration).
    StaffEndorsed {
        name: String,
        role: String,
        key: [u8; 32],
    },
    /// Attestations: `disclosed_sha256` is the SHA-256 of a security statement kept in the
    /// database (`vault::authority`), signed here by the person entitled to make it.
    CaseKeys,
    Assignment,
    ConsentRecorded,
    ConsentRevoked,
    RecordsCommitted,
}

impl Kind {
    /// The wire code of this kind.
    pub fn code(&self) -> KindCode {
        match self {
            Kind::StaffRegistered { .. } => KindCode::StaffRegistered,
            Kind::StaffRevoked { .. } => KindCode::StaffRevoked,
            Kind::Tier3Read => KindCode::Tier3Read,
            Kind::RecoveryKeyUse => KindCode::RecoveryKeyUse,
            Kind::KeyChange => KindCode::KeyChange,
            Kind::PolicyChange => KindCode::PolicyChange,
            Kind::ReferralExport => KindCode::ReferralExport,
            Kind::AccessPackage => KindCode::AccessPackage,
            Kind::PartnerResponse => KindCode::PartnerResponse,
            Kind::CorrectionNotice => KindCode::CorrectionNotice,
            Kind::StaffEndorsed { .. } => KindCode::StaffEndorsed,
            Kind::CaseKeys => KindCode::CaseKeys,
            Kind::Assignment => KindCode::Assignment,
            Kind::ConsentRecorded => KindCode::ConsentRecorded,
            Kind::ConsentRevoked => KindCode::ConsentRevoked,
            Kind::RecordsCommitted => KindCode::RecordsCommitted,
        }
    }
}

/// Why a disclosure was lawful. Code byte values are part of the format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LegalBasis {
    /// Not a disclosure (reads, key and policy changes).
    None,
    /// The client's (or guardian's) consent with this id.
    Consent(String),
    /// Emergency exception (danger to life or health), with the reason.
    Emergency(String),
    /// A statute requires or permits it, with the reason (e.g. the article).
    Statutory(String),
    /// Internal work duty (supervision, assigned work).
    InternalDuty,
}

/// One decoded log entry. Build it, [`encode`](Entry::encode) it once, sign the bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Position in the log, starting at 0.
    pub index: u64,
    /// Unix seconds as claimed by the writer: a claim, not proof.
    pub time: i64,
    pub kind: Kind,
    /// Staff name of the signer.
    pub actor: String,
    /// [`id_mac`] of the client id with label "client".
    pub client_mac: Option<[u8; 32]>,
    /// [`id_mac`] of the case id with label "case".
    pub case_mac: Option<[u8; 32]>,
    /// Receiving agency or person ("" when nothing leaves the agency).
    pub recipient: String,
    pub purpose: String,
    pub basis: LegalBasis,
    /// Staff name of the approving supervisor, if any.
    pub approver: Option<String>,
    /// SHA-256 of the exact bytes disclosed.
    pub disclosed_sha256: Option<[u8; 32]>,
    /// Short free text for ids and kinds only (never client content).
    pub detail: String,
}

impl Entry {
    /// The canonical v1 bytes. Fails only when a field is too long or the actor is empty.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        let mut w = Vec::with_capacity(256);
        w.push(ENTRY_VERSION);
        w.extend_from_slice(&self.index.to_be_bytes());
        w.extend_from_slice(&self.time.to_be_bytes());
        w.push(self.kind.code() as u8);
        match &self.kind {
            Kind::StaffRegistered { name, role, key } | Kind::StaffEndorsed { name, role, key } => {
                put_text(&mut w, "staff_name", name, false)?;
                put_text(&mut w, "staff_role", role, false)?;
                w.extend_from_slice(key);
            }
            Kind::StaffRevoked { name } => put_text(&mut w, "staff_name", name, false)?,
            _ => {}
        }
        put_text(&mut w, "actor", &self.actor, false)?;
        put_opt32(&mut w, self.client_mac.as_ref());
        put_opt32(&mut w, self.case_mac.as_ref());
        put_text(&mut w, "recipient", &self.recipient, true)?;
        put_text(&mut w, "purpose", &self.purpose, true)?;
        match &self.basis {
            LegalBasis::None => w.push(0),
            LegalBasis::Consent(id) => {
                w.push(1);
                put_text(&mut w, "basis", id, false)?;
            }
            LegalBasis::Emergency(r) => {
                w.push(2);
                put_text(&mut w, "basis", r, false)?;
            }
            LegalBasis::Statutory(r) => {
                w.push(3);
                put_text(&mut w, "basis", r, false)?;
            }
            LegalBasis::InternalDuty => w.push(4),
        }
        match &self.approver {
            None => w.push(0),
            Some(a) => {
                w.push(1);
                put_text(&mut w, "approver", a, false)?;
            }
        }
        put_opt32(&mut w, self.disclosed_sha256.as_ref());
        put_text(&mut w, "detail", &self.detail, true)?;
        Ok(w)
    }

    /// Strictly decodes v1 bytes: unknown versions or kinds, non-canonical flags, bad UTF-8,
    /// over-long fields and trailing bytes are all refused. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Entry, DecodeError> {
        let mut r = Reader { b: bytes };
        let version = r.u8("version")?;
        if version != ENTRY_VERSION {
            return Err(DecodeError::UnknownVersion(version));
        }
        let index = u64::from_be_bytes(r.array("index")?);
        let time = i64::from_be_bytes(r.array("time")?);
        let code = r.u8("kind")?;
        let kind = match KindCode::from_u8(code).ok_or(DecodeError::UnknownKind(code))? {
            KindCode::StaffRegistered => Kind::StaffRegistered {
                name: r.text("staff_name", false)?,
                role: r.text("staff_role", false)?,
                key: r.array("staff_key")?,
            },
            KindCode::StaffRevoked => Kind::StaffRevoked {
                name: r.text("staff_name", false)?,
            },
            KindCode::Tier3Read => Kind::Tier3Read,
            KindCode::RecoveryKeyUse => Kind::RecoveryKeyUse,
            KindCode::KeyChange => Kind::KeyChange,
            KindCode::PolicyChange => Kind::PolicyChange,
            KindCode::ReferralExport => Kind::ReferralExport,
            KindCode::AccessPackage => Kind::AccessPackage,
            KindCode::PartnerResponse => Kind::PartnerResponse,
            KindCode::CorrectionNotice => Kind::CorrectionNotice,
            KindCode::StaffEndorsed => Kind::StaffEndorsed {
                name: r.text("staff_name", false)?,
                role: r.text("staff_role", false)?,
                key: r.array("staff_key")?,
            },
            KindCode::CaseKeys => Kind::CaseKeys,
            KindCode::Assignment => Kind::Assignment,
            KindCode::ConsentRecorded => Kind::ConsentRecorded,
            KindCode::ConsentRevoked => Kind::ConsentRevoked,
            KindCode::RecordsCommitted => Kind::RecordsCommitted,
        };
        let actor = r.text("actor", false)?;
        let client_mac = r.opt32("client_mac")?;
        let case_mac = r.opt32("case_mac")?;
        let recipient = r.text("recipient", true)?;
        let purpose = r.text("purpose", true)?;
        let basis = match r.u8("basis")? {
            0 => LegalBasis::None,
            1 => LegalBasis::Consent(r.text("basis", false)?),
            2 => LegalBasis::Emergency(r.text("basis", false)?),
            3 => LegalBasis::Statutory(r.text("basis", false)?),
            4 => LegalBasis::InternalDuty,
            other => {
                return Err(DecodeError::BadTag {
                    field: "basis",
                    value: other,
                })
            }
        };
        let approver = match r.u8("approver")? {
            0 => None,
            1 => Some(r.text("approver", false)?),
            other => {
                return Err(DecodeError::BadTag {
                    field: "approver",
                    value: other,
                })
            }
        };
        let disclosed_sha256 = r.opt32("disclosed_sha256")?;
        let detail = r.text("detail", true)?;
        if !r.b.is_empty() {
            return Err(DecodeError::TrailingBytes(r.b.len()));
        }
        Ok(Entry {
            index,
            time,
            kind,
            actor,
            client_mac,
            case_mac,
            recipient,
            purpose,
            basis,
            approver,
            disclosed_sha256,
            detail,
        })
    }
}

/// Splits a stored entry (entry bytes ‖ 64-byte signature) into its two parts.
pub fn split_stored(stored: &[u8]) -> Result<(&[u8], [u8; SIG_LEN]), DecodeError> {
    if stored.len() < SIG_LEN + 1 {
        return Err(DecodeError::Truncated("signature"));
    }
    let (entry, sig) = stored.split_at(stored.len() - SIG_LEN);
    let mut s = [0u8; SIG_LEN];
    s.copy_from_slice(sig);
    Ok((entry, s))
}

fn put_text(
    w: &mut Vec<u8>,
    field: &'static str,
    s: &str,
    may_be_empty: bool,
) -> Result<(), DecodeError> {
    if s.len() > MAX_TEXT {
        return Err(DecodeError::TooLong(field));
    }
    if s.is_empty() && !may_be_empty {
        return Err(DecodeError::Empty(field));
    }
    // MAX_TEXT < u16::MAX, so the cast is exact.
    w.extend_from_slice(&(s.len() as u16).to_be_bytes());
    w.extend_from_slice(s.as_bytes());
    Ok(())
}

fn put_opt32(w: &mut Vec<u8>, v: Option<&[u8; 32]>) {
    match v {
        None => w.push(0),
        Some(h) => {
            w.push(1);
            w.extend_from_slice(h);
        }
    }
}

/// A cursor over untrusted bytes; every read is bounds-checked.
struct Reader<'a> {
    b: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, field: &'static str, n: usize) -> Result<&[u8], DecodeError> {
        if self.b.len() < n {
            return Err(DecodeError::Truncated(field));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(field, 1)?[0])
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(field, N)?);
        Ok(a)
    }

    fn text(&mut self, field: &'static str, may_be_empty: bool) -> Result<String, DecodeError> {
        let len = u16::from_be_bytes(self.array(field)?) as usize;
        if len > MAX_TEXT {
            return Err(DecodeError::TooLong(field));
        }
        if len == 0 && !may_be_empty {
            return Err(DecodeError::Empty(field));
        }
        let raw = self.take(field, len)?;
        String::from_utf8(raw.to_vec()).map_err(|_| DecodeError::NotUtf8(field))
    }

    fn opt32(&mut self, field: &'static str) -> Result<Option<[u8; 32]>, DecodeError> {
        match self.u8(field)? {
            0 => Ok(None),
            1 => Ok(Some(self.array(field)?)),
            other => Err(DecodeError::BadTag {
                field,
                value: other,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(index: u64) -> Entry {
        Entry {
            index,
            time: 1_700_000_000,
            kind: Kind::ReferralExport,
            actor: "wang.fang".into(),
            client_mac: Some(id_mac(&[7; 32], "client", "C-0001")),
            case_mac: None,
            recipient: "Sunrise Youth Center".into(),
            purpose: "housing support".into(),
            basis: LegalBasis::Consent("CON-17".into()),
            approver: Some("li.supervisor".into()),
            disclosed_sha256: Some([9; 32]),
            detail: "referral R-3".into(),
        }
    }

    #[test]
    fn round_trip_is_exact() {
        let e = sample(5);
        let bytes = e.encode().unwrap();
        assert_eq!(Entry::decode(&bytes).unwrap(), e);
        assert_eq!(Entry::decode(&bytes).unwrap().encode().unwrap(), bytes);
    }

    #[test]
    fn registration_round_trips() {
        let mut e = sample(0);
        e.kind = Kind::StaffRegistered {
            name: "zhang.admin".into(),
            role: "admin".into(),
            key: [3; 32],
        };
        let bytes = e.encode().unwrap();
        assert_eq!(Entry::decode(&bytes).unwrap(), e);
    }

    #[test]
    fn refuses_trailing_unknown_and_bad_flags() {
        let bytes = sample(1).encode().unwrap();
        let mut t = bytes.clone();
        t.push(0);
        assert!(matches!(
            Entry::decode(&t),
            Err(DecodeError::TrailingBytes(1))
        ));
        let mut v = bytes.clone();
        v[0] = 2;
        assert!(matches!(
            Entry::decode(&v),
            Err(DecodeError::UnknownVersion(2))
        ));
        let mut k = bytes.clone();
        k[17] = 99;
        assert!(matches!(
            Entry::decode(&k),
            Err(DecodeError::UnknownKind(99))
        ));
        for cut in 0..bytes.len() {
            assert!(Entry::decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn id_mac_is_keyed_and_labelled() {
        let a = id_mac(&[1; 32], "client", "42");
        assert_ne!(a, id_mac(&[2; 32], "client", "42"));
        assert_ne!(a, id_mac(&[1; 32], "case", "42"));
        assert_eq!(a, id_mac(&[1; 32], "client", "42"));
    }
}
