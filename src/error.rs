//! The crate's error type: hand-written so that every message is translated, names the thing
//! that went wrong by id, and never carries client content.

use std::fmt;
use std::path::PathBuf;

use crate::tr;

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, in words a social worker can act on.
#[derive(Debug)]
pub enum Error {
    /// A file could not be read or written.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The database refused an operation (messages carry SQL, never values).
    Db(rusqlite::Error),
    /// No vault at this directory.
    VaultMissing(PathBuf),
    /// `init` found something already there.
    VaultExists(PathBuf),
    /// The vault directory holds a format version this build does not know.
    VaultVersion(String),
    /// The passphrase did not open this staff member's identity.
    WrongPassphrase { staff: String },
    /// The identity file is damaged or not an identity.
    IdentityCorrupt { staff: String },
    /// No passphrase could be read (no terminal, no env, no file).
    NoPassphrase,
    /// A new passphrase is too weak to guard keys an attacker can try offline.
    WeakPassphrase(crate::domain::passphrase::Weakness),
    /// No acting staff member was named.
    NoActor,
    /// A named staff member does not exist or has left.
    UnknownStaff(String),
    /// The actor's role does not allow the action.
    NotPermitted { action: String, role: String },
    /// The actor is not assigned to the case.
    NotAssigned { case: String },
    /// The client has no case the actor works on.
    NotYourClient { client: String },
    /// The record's tier is readable by supervisors only.
    SupervisorOnly { record: String },
    /// A policy file is malformed (location given).
    PolicyParse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A policy is well-formed but breaks a rule.
    PolicyInvalid { file: String, message: String },
    /// A policy change lowers protection on a vault with records and no supervisor has
    /// approved exactly this policy (`policy approve`); `changes` lists the lowering items.
    CosignRequired { changes: String },
    /// Input does not fit what was expected.
    Invalid(String),
    /// A field's value breaks a text or date rule (named field, never the value).
    Field(crate::domain::text::FieldError),
    /// An id names nothing.
    NotFound { what: &'static str, id: String },
    /// The same thing exists already.
    Exists { what: &'static str, id: String },
    /// Decryption or key unwrapping failed.
    Crypto(String),
    /// Stored data fails its signature or hash check.
    Tampered { what: &'static str, id: String },
    /// The identity file's pinned vault root is not this vault's (its log was replaced, or
    /// the file belongs to another vault).
    RootMismatch { staff: String },
    /// The identity file holds keys the registry no longer lists for this member (they were
    /// rotated): a kept copy of an old identity file.
    IdentitySuperseded { staff: String },
    /// No current supervisor key: a supervisor must open the vault first (a new case epoch
    /// needs it for its supervisor-only tier).
    NoSupervisorKey,
    /// The agency's packet and inbound keys have not been made yet, or a supervisor left since
    /// and no supervisor has opened the vault to replace them.
    NoAgencyKeys,
    /// Only supervisors hold the agency's packet and inbound keys.
    AgencyKeyNotHeld,
    /// A supervisor who has not been given the current agency keys yet (a serving supervisor
    /// runs `staff grant`).
    AgencyKeyNotGranted { staff: String },
    /// The identity opens but holds no key to this vault's database: the member was removed,
    /// or this is an old copy of an identity whose keys were rotated.
    KeyNotHeld { staff: String },
    /// The database holds schema objects the migrations did not create, or lacks or changed
    /// some they did (someone with the database key edited it): the vault does not open.
    SchemaDrift(Vec<crate::store::pinned::SchemaDrift>),
    /// A database key rotation holds the vault; the opener waited and gave up.
    RotationRunning,
    /// Staff were removed but the key rotation must wait until other sessions close.
    RotationDeferred { names: String },
    /// The key rotation failed before its swap (e.g. a full disk) and was undone.
    RotationFailed { names: String, reason: String },
    /// A rekey found ciphertexts still under an old key epoch after re-encrypting, so it kept
    /// the old keys and changed nothing.
    RekeyIncomplete { case: i64, left: i64 },
    /// Another running command is writing the same output file.
    OutputBusy { path: PathBuf },
    /// A given file is larger than anything of its kind can be: refused before reading it.
    TooLarge { path: PathBuf, size: u64, max: u64 },
    /// Errors of the disclosure log.
    Log(crate::log::LogError),
    /// Errors of referral packets.
    Packet(crate::packet::PacketError),
    /// The folder for an output file is missing or takes no file (checked before committing).
    OutputDir { path: PathBuf },
    /// A disclosure was committed (logged) but its file could not be written; `resend` is
    /// the command that writes the same disclosure without logging it again.
    NotWritten {
        log_index: u64,
        resend: String,
        source: Box<Error>,
    },
    /// Several failures already put into words (one per line), e.g. notices not written.
    Several(Vec<String>),
    /// A partner's packet carries a receipt that does not prove this packet's disclosure is
    /// in the partner's signed log: the packet is refused.
    ReceiptRefused {
        agency: String,
        packet: String,
        problem: crate::vault::partners::ReceiptProblem,
    },
    /// A partner's consistency proof does not verify, or shows two histories.
    ProofRefused {
        agency: String,
        problem: crate::vault::partners::ReceiptProblem,
    },
    /// `log prove`: our log is not consistent with a checkpoint we signed (size `size`): it
    /// was rewritten since. An alarm, not a proof.
    LogForked { size: u64 },
    /// Recovery key shares refused (malformed, another vault or set, too few, no match).
    RecoveryShare(crate::vault::recovery::ShareError),
    /// The log is shorter than this installation has seen it (truncated, or the vault was
    /// restored from an older copy): refused, the remembered state kept (issue 11, item 3).
    LogRollback { seen: u64, now: u64 },
    /// The log's history differs from the one this installation has seen (no consistency
    /// proof from the remembered head): refused, the remembered state kept.
    LogFork { seen: u64, now: u64 },
    /// The installation's remembered log state cannot be found, read or trusted.
    StateFile { path: PathBuf, reason: String },
    /// A disclosure is logged and committed but not released: its checkpoint has fewer valid
    /// witness cosignatures than the policy's quorum. `failures` says why per witness;
    /// `retry` is what to run once the witnesses answer.
    AwaitingWitnesses {
        log_index: u64,
        have: usize,
        need: usize,
        failures: Vec<String>,
        retry: String,
    },
    /// A witness refused our checkpoint as inconsistent with what it cosigned before (a fork
    /// or rollback of the log): nothing is released and a supervisor must investigate.
    WitnessAlarm { witness: String, reason: String },
    /// The witness server's state directory or its configuration is unusable.
    WitnessConfig(String),
    /// A disclosure by a member who holds no checkpoint key is logged and committed but not
    /// released: no checkpoint covers its entry yet (a supervisor's next session signs one);
    /// `retry` is what to run then.
    AwaitingCheckpoint { log_index: u64, retry: String },
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Error::Io { path, source } => {
                tr!("err.io", path = path.display(), reason = source)
            }
            Error::Db(rusqlite::Error::SqliteFailure(f, _))
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                tr!("err.db_busy")
            }
            Error::Db(e) => tr!("err.db", reason = e),
            Error::VaultMissing(p) => tr!("err.vault_missing", path = p.display()),
            Error::VaultExists(p) => tr!("err.vault_exists", path = p.display()),
            Error::VaultVersion(v) => tr!("err.vault_version", version = v),
            Error::WrongPassphrase { staff } => tr!("err.wrong_passphrase", staff = staff),
            Error::IdentityCorrupt { staff } => tr!("err.identity_corrupt", staff = staff),
            Error::NoPassphrase => tr!("err.no_passphrase"),
            Error::WeakPassphrase(w) => {
                use crate::domain::passphrase::{Weakness, MIN_CHARS};
                let why = match w {
                    Weakness::TooShort { chars } => {
                        tr!("err.passphrase_short", chars = chars, min = MIN_CHARS)
                    }
                    Weakness::Guessable => tr!("err.passphrase_guessable"),
                };
                format!("{why}{}", tr!("err.passphrase_advice"))
            }
            Error::NoActor => tr!("err.no_actor"),
            Error::UnknownStaff(n) => tr!("err.unknown_staff", name = n),
            Error::NotPermitted { action, role } => {
                tr!("err.not_permitted", action = action, role = role)
            }
            Error::NotAssigned { case } => tr!("err.not_assigned", case = case),
            Error::NotYourClient { client } => tr!("err.not_your_client", client = client),
            Error::SupervisorOnly { record } => tr!("err.supervisor_only", record = record),
            Error::PolicyParse {
                file,
                line,
                column,
                message,
            } => tr!(
                "err.policy_parse",
                file = file,
                line = line,
                column = column,
                reason = message
            ),
            Error::PolicyInvalid { file, message } => {
                tr!("err.policy_invalid", file = file, reason = message)
            }
            Error::CosignRequired { changes } => tr!("err.cosign_required", changes = changes),
            Error::Invalid(m) => tr!("err.invalid", reason = m),
            Error::Field(e) => tr!("err.invalid", reason = e),
            Error::NotFound { what, id } => tr!("err.not_found", what = what, id = id),
            Error::Exists { what, id } => tr!("err.exists", what = what, id = id),
            Error::Crypto(m) => tr!("err.crypto", reason = m),
            Error::Tampered { what, id } => tr!("err.tampered", what = what, id = id),
            Error::RootMismatch { staff } => tr!("err.root_mismatch", staff = staff),
            Error::IdentitySuperseded { staff } => tr!("err.identity_superseded", staff = staff),
            Error::KeyNotHeld { staff } => tr!("err.key_not_held", staff = staff),
            Error::NoSupervisorKey => tr!("err.no_supervisor_key"),
            Error::NoAgencyKeys => tr!("err.no_agency_keys"),
            Error::AgencyKeyNotHeld => tr!("err.agency_key_not_held"),
            Error::AgencyKeyNotGranted { staff } => {
                tr!("err.agency_key_not_granted", staff = staff)
            }
            Error::SchemaDrift(objects) => schema_drift_message(objects),
            Error::RotationRunning => tr!("err.rotation_running"),
            Error::RotationDeferred { names } => tr!("err.rotation_deferred", names = names),
            Error::RotationFailed { names, reason } => {
                tr!("err.rotation_failed", names = names, reason = reason)
            }
            Error::RekeyIncomplete { case, left } => {
                tr!("err.rekey_incomplete", case = case, left = left)
            }
            Error::OutputBusy { path } => tr!("err.output_busy", path = path.display()),
            Error::TooLarge { path, size, max } => tr!(
                "err.too_large",
                path = path.display(),
                size = size,
                max = max
            ),
            Error::Log(e) => e.to_string(),
            Error::Packet(e) => e.to_string(),
            Error::OutputDir { path } => tr!("err.output_dir", path = path.display()),
            Error::NotWritten {
                log_index,
                resend,
                source,
            } => tr!(
                "err.not_written",
                index = log_index,
                reason = source,
                command = resend
            ),
            Error::Several(lines) => lines.join("\n"),
            Error::ReceiptRefused {
                agency,
                packet,
                problem,
            } => tr!(
                "packet.receipt_refused",
                agency = agency,
                packet = packet,
                problem = problem
            ),
            Error::ProofRefused { agency, problem } => {
                tr!("packet.proof_refused", agency = agency, problem = problem)
            }
            Error::LogForked { size } => tr!("packet.log_forked", size = size),
            Error::RecoveryShare(e) => e.to_string(),
            Error::LogRollback { seen, now } => tr!("err.log_rollback", seen = seen, now = now),
            Error::LogFork { seen, now } => tr!("err.log_fork", seen = seen, now = now),
            Error::AwaitingCheckpoint { log_index, retry } => {
                tr!(
                    "vault.awaiting_checkpoint",
                    index = log_index,
                    retry = retry
                )
            }
            Error::StateFile { path, reason } => {
                tr!("err.state_file", path = path.display(), reason = reason)
            }
            Error::AwaitingWitnesses {
                log_index,
                have,
                need,
                failures,
                retry,
            } => tr!(
                "witness.awaiting",
                index = log_index,
                have = have,
                need = need,
                reasons = failures.join("; "),
                command = retry
            ),
            Error::WitnessAlarm { witness, reason } => {
                tr!("witness.alarm", witness = witness, reason = reason)
            }
            Error::WitnessConfig(m) => m.clone(),
        };
        f.write_str(&s)
    }
}

/// How many drifted objects a message names; the rest are counted (an insider could plant
/// thousands).
const DRIFT_SHOWN: usize = 5;

/// Names each drifted object (type in words, name escaped and shortened: it is text chosen
/// by whoever edited the database) and says to alert a supervisor.
fn schema_drift_message(objects: &[crate::store::pinned::SchemaDrift]) -> String {
    use crate::store::pinned::Drift;
    let mut items: Vec<String> = objects
        .iter()
        .take(DRIFT_SHOWN)
        .map(|o| {
            let kind = match o.kind.as_str() {
                "table" => tr!("store.kind_table"),
                "index" => tr!("store.kind_index"),
                "trigger" => tr!("store.kind_trigger"),
                "view" => tr!("store.kind_view"),
                other => other.escape_debug().take(16).collect(),
            };
            let name: String = o.name.escape_debug().take(64).collect();
            match o.drift {
                Drift::Extra => tr!("store.schema_extra", kind = kind, name = name),
                Drift::Changed => tr!("store.schema_changed", kind = kind, name = name),
                Drift::Missing => tr!("store.schema_missing", kind = kind, name = name),
            }
        })
        .collect();
    if objects.len() > DRIFT_SHOWN {
        items.push(tr!(
            "store.schema_more",
            count = objects.len() - DRIFT_SHOWN
        ));
    }
    tr!(
        "err.schema_drift",
        objects = items.join(tr!("store.schema_sep").as_str())
    )
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Db(e)
    }
}

impl From<crate::domain::text::FieldError> for Error {
    fn from(e: crate::domain::text::FieldError) -> Self {
        Error::Field(e)
    }
}

impl From<crate::domain::ClientProblem> for Error {
    fn from(p: crate::domain::ClientProblem) -> Self {
        match p {
            crate::domain::ClientProblem::Missing(f) => {
                Error::Invalid(tr!("vault.client_field", field = f))
            }
            crate::domain::ClientProblem::Field(e) => Error::Field(e),
        }
    }
}

impl From<crate::log::LogError> for Error {
    fn from(e: crate::log::LogError) -> Self {
        Error::Log(e)
    }
}

impl From<crate::packet::PacketError> for Error {
    fn from(e: crate::packet::PacketError) -> Self {
        Error::Packet(e)
    }
}

/// Reads a user-given file of at most `max` bytes: the size is checked with metadata before
/// anything is read, and the read itself stops past `max` (a file growing meanwhile, or a
/// device claiming size 0), so a crafted or mistaken path never costs more than `max` of memory.
pub fn read_capped(path: &std::path::Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let too_large = |size| Error::TooLarge {
        path: path.to_path_buf(),
        size,
        max,
    };
    if size > max {
        return Err(too_large(size));
    }
    // The size is only a hint (it may change): never reserve more than `max`.
    let mut out = Vec::with_capacity(size as usize);
    file.take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::io(path, e))?;
    if out.len() as u64 > max {
        return Err(too_large(out.len() as u64));
    }
    Ok(out)
}

/// [`read_capped`] as UTF-8 text.
pub fn read_capped_text(path: &std::path::Path, max: u64) -> Result<String> {
    String::from_utf8(read_capped(path, max)?).map_err(|e| {
        Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
        )
    })
}
