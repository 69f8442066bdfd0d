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
    /// No agent answers on the socket (`casevault agent start` first).
    AgentNotRunning { socket: PathBuf },
    /// The agent's folder or socket is not safely ours (owner, mode, symlink): not used.
    AgentUnsafe { path: PathBuf, reason: String },
    /// The agent answered something unexpected, or refused the request.
    AgentProtocol(String),
    /// `agent start`: an agent already answers on the socket.
    AgentRunning { socket: PathBuf },
    /// A rule of the agency's policy refuses this action (the message, translated, says what
    /// and why); unlike [`Error::Invalid`] the input is well-formed, the policy says no.
    PolicyRefused(String),
    /// A consent does not allow this disclosure (missing, revoked, expired, another client or
    /// recipient, out of scope): scripts get the consent's id, people the translated reason.
    ConsentRefused { consent: i64, reason: String },
    /// The vault's database stayed locked by another process's write for the whole wait
    /// (SQLITE_BUSY/LOCKED): nothing was changed, trying again later works.
    Busy,
    /// `log verify` found `problems` problems (listed before): a tamper alarm.
    LogVerifyFailed { problems: usize },
    /// A disclosure by a member who holds no checkpoint key is logged and committed but not
    /// released: no checkpoint covers its entry yet (a supervisor's next session signs one);
    /// `retry` is what to run then.
    AwaitingCheckpoint { log_index: u64, retry: String },
}

/// Exit codes of the command line, one per [`Family`] (docs/cli.md "Exit codes"). `audit
/// run` keeps its own 0 clean, 1 findings, 2 could not run, which these do not contradict.
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILURE: i32 = 1;
    /// Bad arguments or input (clap's errors too).
    pub const USAGE: i32 = 2;
    /// A disclosure is logged but held until witnesses cosign it.
    pub const AWAITING_WITNESSES: i32 = 3;
    /// Tamper or log alarm: stored data fails its checks, the log forks or rolls back.
    pub const ALARM: i32 = 4;
    /// Wrong passphrase, unknown or removed member, no passphrase.
    pub const AUTH: i32 = 5;
    /// Refused by the policy, a role, an assignment or a consent.
    pub const REFUSED: i32 = 6;
    /// An id names nothing, or there is no vault.
    pub const NOT_FOUND: i32 = 7;
    /// The vault is locked by another process (a rotation, a write that did not end).
    pub const BUSY: i32 = 8;
}

/// The kind of a failure, as scripts see it: one exit code each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Other,
    Usage,
    AwaitingWitnesses,
    Alarm,
    Auth,
    Refused,
    NotFound,
    Busy,
}

impl Family {
    /// The process exit code of this family (see [`exit`]).
    pub fn exit_code(self) -> i32 {
        match self {
            Family::Other => exit::FAILURE,
            Family::Usage => exit::USAGE,
            Family::AwaitingWitnesses => exit::AWAITING_WITNESSES,
            Family::Alarm => exit::ALARM,
            Family::Auth => exit::AUTH,
            Family::Refused => exit::REFUSED,
            Family::NotFound => exit::NOT_FOUND,
            Family::Busy => exit::BUSY,
        }
    }
}

/// SQLite's "another connection holds the lock" codes.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
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
            Error::Db(e) if is_busy(e) => tr!("err.db_busy"),
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
                // The role by its label (督导), not its policy id (supervisor).
                let key = format!("policy.role.{role}");
                let role = if crate::i18n::has(&key) {
                    crate::i18n::text(&key, &[])
                } else {
                    role.to_string()
                };
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
            // The message is a whole translated sentence (often a refusal): no
            // "invalid input" prefix in front of it.
            Error::Invalid(m) => m.clone(),
            Error::Field(e) => tr!("err.invalid", reason = e),
            Error::NotFound { what, id } => {
                tr!("err.not_found", what = crate::i18n::noun(what), id = id)
            }
            Error::Exists { what, id } => {
                tr!("err.exists", what = crate::i18n::noun(what), id = id)
            }
            Error::Crypto(m) => tr!("err.crypto", reason = m),
            Error::Tampered { what, id } => {
                tr!("err.tampered", what = crate::i18n::noun(what), id = id)
            }
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
            Error::AgentNotRunning { socket } => {
                tr!("agent.not_running", socket = socket.display())
            }
            Error::AgentUnsafe { path, reason } => {
                tr!("agent.unsafe", path = path.display(), reason = reason)
            }
            Error::AgentProtocol(m) => tr!("agent.protocol", reason = m),
            Error::AgentRunning { socket } => tr!("agent.already", socket = socket.display()),
            Error::PolicyRefused(m) => m.clone(),
            Error::ConsentRefused { reason, .. } => reason.clone(),
            Error::Busy => tr!("err.db_busy"),
            Error::LogVerifyFailed { problems } => tr!("cli.log_bad", count = problems),
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
        if is_busy(&e) {
            Error::Busy
        } else {
            Error::Db(e)
        }
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

/// How scripts tell failures apart: a [`Family`] (the exit code), a stable snake_case id per
/// variant and the variant's ids and numbers (never client content) as JSON fields.
impl Error {
    /// The family of this error, which decides the exit code.
    pub fn family(&self) -> Family {
        use crate::log::LogError as L;
        use crate::packet::PacketError as P;
        match self {
            Error::Db(e) if is_busy(e) => Family::Busy,
            Error::Busy | Error::RotationRunning | Error::RotationDeferred { .. } => Family::Busy,
            Error::OutputBusy { .. } => Family::Busy,
            Error::Io { .. }
            | Error::Db(_)
            | Error::VaultVersion(_)
            | Error::VaultExists(_)
            | Error::Exists { .. }
            | Error::Crypto(_)
            | Error::NoSupervisorKey
            | Error::NoAgencyKeys
            | Error::RotationFailed { .. }
            | Error::RekeyIncomplete { .. }
            | Error::NotWritten { .. }
            | Error::Several(_)
            | Error::StateFile { .. }
            | Error::TooLarge { .. }
            | Error::WitnessConfig(_)
            | Error::AgentProtocol(_)
            | Error::AgentUnsafe { .. } => Family::Other,
            Error::AgentRunning { .. } => Family::Busy,
            Error::AgentNotRunning { .. } => Family::NotFound,
            Error::Invalid(_)
            | Error::Field(_)
            | Error::NoActor
            | Error::WeakPassphrase(_)
            | Error::PolicyParse { .. }
            | Error::PolicyInvalid { .. }
            | Error::OutputDir { .. } => Family::Usage,
            Error::WrongPassphrase { .. }
            | Error::IdentityCorrupt { .. }
            | Error::NoPassphrase
            | Error::UnknownStaff(_)
            | Error::IdentitySuperseded { .. }
            | Error::KeyNotHeld { .. }
            | Error::RecoveryShare(_) => Family::Auth,
            Error::NotPermitted { .. }
            | Error::NotAssigned { .. }
            | Error::NotYourClient { .. }
            | Error::SupervisorOnly { .. }
            | Error::CosignRequired { .. }
            | Error::AgencyKeyNotHeld
            | Error::AgencyKeyNotGranted { .. }
            | Error::PolicyRefused(_)
            | Error::ConsentRefused { .. } => Family::Refused,
            Error::NotFound { .. } | Error::VaultMissing(_) => Family::NotFound,
            Error::AwaitingWitnesses { .. } | Error::AwaitingCheckpoint { .. } => {
                Family::AwaitingWitnesses
            }
            Error::Tampered { .. }
            | Error::SchemaDrift(_)
            | Error::RootMismatch { .. }
            | Error::ReceiptRefused { .. }
            | Error::ProofRefused { .. }
            | Error::LogForked { .. }
            | Error::LogRollback { .. }
            | Error::LogFork { .. }
            | Error::WitnessAlarm { .. }
            | Error::LogVerifyFailed { .. } => Family::Alarm,
            Error::Log(e) => match e {
                L::Db(d) if is_busy(d) => Family::Busy,
                L::Db(_) | L::Io { .. } | L::ExportFormat { .. } => Family::Other,
                L::BadRequest(_) | L::ReceiptMalformed(_) => Family::Usage,
                L::NoSuchEntry { .. } => Family::NotFound,
                L::WrongActorKey { .. } => Family::Auth,
                // Every other log error is a failed check of stored, signed history.
                _ => Family::Alarm,
            },
            Error::Packet(e) => match e {
                P::BadSignature | P::WrongSigner { .. } | P::Tampered { .. } => Family::Alarm,
                P::Replayed { .. } => Family::Refused,
                P::WrongRecipient { .. } => Family::Auth,
                P::InvalidInput { .. } => Family::Usage,
                _ => Family::Other,
            },
        }
    }

    /// The process exit code of this error.
    pub fn exit_code(&self) -> i32 {
        self.family().exit_code()
    }

    /// A stable snake_case id of this error for scripts (`{"error": {"code": …}}`); it does
    /// not change with the language or the wording.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Db(e) if is_busy(e) => "busy",
            Error::Db(_) => "database",
            Error::VaultMissing(_) => "vault_missing",
            Error::VaultExists(_) => "vault_exists",
            Error::VaultVersion(_) => "vault_version",
            Error::WrongPassphrase { .. } => "wrong_passphrase",
            Error::IdentityCorrupt { .. } => "identity_corrupt",
            Error::NoPassphrase => "no_passphrase",
            Error::WeakPassphrase(_) => "weak_passphrase",
            Error::NoActor => "no_actor",
            Error::UnknownStaff(_) => "unknown_staff",
            Error::NotPermitted { .. } => "not_permitted",
            Error::NotAssigned { .. } => "not_assigned",
            Error::NotYourClient { .. } => "not_your_client",
            Error::SupervisorOnly { .. } => "supervisor_only",
            Error::PolicyParse { .. } => "policy_parse",
            Error::PolicyInvalid { .. } => "policy_invalid",
            Error::CosignRequired { .. } => "cosign_required",
            Error::Invalid(_) => "invalid_input",
            Error::Field(_) => "invalid_field",
            Error::NotFound { .. } => "not_found",
            Error::Exists { .. } => "exists",
            Error::Crypto(_) => "crypto",
            Error::Tampered { .. } => "tampered",
            Error::RootMismatch { .. } => "root_mismatch",
            Error::IdentitySuperseded { .. } => "identity_superseded",
            Error::NoSupervisorKey => "no_supervisor_key",
            Error::NoAgencyKeys => "no_agency_keys",
            Error::AgencyKeyNotHeld => "agency_key_not_held",
            Error::AgencyKeyNotGranted { .. } => "agency_key_not_granted",
            Error::KeyNotHeld { .. } => "key_not_held",
            Error::SchemaDrift(_) => "schema_drift",
            Error::RotationRunning => "rotation_running",
            Error::RotationDeferred { .. } => "rotation_deferred",
            Error::RotationFailed { .. } => "rotation_failed",
            Error::RekeyIncomplete { .. } => "rekey_incomplete",
            Error::OutputBusy { .. } => "output_busy",
            Error::TooLarge { .. } => "too_large",
            Error::Log(_) => match self.family() {
                Family::Alarm => "log_alarm",
                Family::Busy => "busy",
                Family::NotFound => "not_found",
                _ => "log",
            },
            Error::Packet(_) => match self.family() {
                Family::Alarm => "packet_tampered",
                Family::Refused => "packet_replayed",
                Family::Auth => "packet_wrong_recipient",
                _ => "packet",
            },
            Error::OutputDir { .. } => "output_dir",
            Error::NotWritten { .. } => "not_written",
            Error::Several(_) => "several",
            Error::ReceiptRefused { .. } => "receipt_refused",
            Error::ProofRefused { .. } => "proof_refused",
            Error::LogForked { .. } => "log_forked",
            Error::RecoveryShare(_) => "recovery_share",
            Error::LogRollback { .. } => "log_rollback",
            Error::LogFork { .. } => "log_fork",
            Error::StateFile { .. } => "state_file",
            Error::AwaitingWitnesses { .. } => "awaiting_witnesses",
            Error::WitnessAlarm { .. } => "witness_alarm",
            Error::WitnessConfig(_) => "witness_config",
            Error::PolicyRefused(_) => "policy_refused",
            Error::ConsentRefused { .. } => "consent_refused",
            Error::Busy => "busy",
            Error::LogVerifyFailed { .. } => "log_verify_failed",
            Error::AgentNotRunning { .. } => "agent_not_running",
            Error::AgentUnsafe { .. } => "agent_unsafe",
            Error::AgentProtocol(_) => "agent_protocol",
            Error::AgentRunning { .. } => "agent_running",
            Error::AwaitingCheckpoint { .. } => "awaiting_checkpoint",
        }
    }

    /// Ids and numbers a script may act on (which record, which consent, what to retry);
    /// never client content and never the translated text.
    pub fn fields(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::json;
        let v = match self {
            Error::Io { path, .. }
            | Error::OutputBusy { path }
            | Error::OutputDir { path }
            | Error::StateFile { path, .. } => json!({ "path": path }),
            Error::VaultMissing(path) | Error::VaultExists(path) => json!({ "path": path }),
            Error::TooLarge { path, size, max } => {
                json!({ "path": path, "size": size, "max": max })
            }
            Error::WrongPassphrase { staff }
            | Error::IdentityCorrupt { staff }
            | Error::RootMismatch { staff }
            | Error::IdentitySuperseded { staff }
            | Error::AgencyKeyNotGranted { staff }
            | Error::KeyNotHeld { staff } => json!({ "staff": staff }),
            Error::UnknownStaff(staff) => json!({ "staff": staff }),
            Error::NotPermitted { action, role } => json!({ "action": action, "role": role }),
            Error::NotAssigned { case } => json!({ "case": case }),
            Error::NotYourClient { client } => json!({ "client": client }),
            Error::SupervisorOnly { record } => json!({ "record": record }),
            Error::PolicyParse {
                file, line, column, ..
            } => json!({ "file": file, "line": line, "column": column }),
            Error::PolicyInvalid { file, .. } => json!({ "file": file }),
            Error::NotFound { what, id }
            | Error::Exists { what, id }
            | Error::Tampered { what, id } => json!({ "what": what, "id": id }),
            Error::RekeyIncomplete { case, left } => json!({ "case": case, "left": left }),
            Error::NotWritten {
                log_index, resend, ..
            } => json!({ "log_index": log_index, "retry": resend }),
            Error::ReceiptRefused { agency, packet, .. } => {
                json!({ "agency": agency, "packet": packet })
            }
            Error::ProofRefused { agency, .. } => json!({ "agency": agency }),
            Error::LogForked { size } => json!({ "size": size }),
            Error::LogRollback { seen, now } | Error::LogFork { seen, now } => {
                json!({ "seen": seen, "now": now })
            }
            Error::AwaitingWitnesses {
                log_index,
                have,
                need,
                retry,
                ..
            } => json!({ "log_index": log_index, "have": have, "need": need, "retry": retry }),
            Error::WitnessAlarm { witness, .. } => json!({ "witness": witness }),
            Error::ConsentRefused { consent, .. } => json!({ "consent": consent }),
            Error::LogVerifyFailed { problems } => json!({ "problems": problems }),
            _ => json!({}),
        };
        match v {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        }
    }

    /// The error as one JSON object for `--json`: `{"error": {"code", "message", "exit",
    /// …fields}}` (docs/cli.md).
    pub fn to_json(&self) -> serde_json::Value {
        error_json(
            self.code(),
            &self.to_string(),
            self.exit_code(),
            self.fields(),
        )
    }
}

/// `{"error": {"code", "message", "exit", …fields}}`, also for failures that are not an
/// [`Error`] (clap's usage errors).
pub fn error_json(
    code: &str,
    message: &str,
    exit: i32,
    fields: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("code".into(), code.into());
    m.insert("message".into(), message.into());
    m.insert("exit".into(), exit.into());
    for (k, v) in fields {
        m.entry(k).or_insert(v);
    }
    serde_json::json!({ "error": m })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every family, with the code each must exit with: the codes stay apart
    /// and documented (docs/cli.md), and `audit run`'s own 1/2 keep their meaning.
    #[test]
    fn every_family_has_its_exit_code() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        let cases: Vec<(Error, i32, &str)> = vec![
            (Error::Several(vec![]), 1, "several"),
            (Error::io("x", std::io::Error::other("x")), 1, "io"),
            (Error::Invalid("x".into()), 2, "invalid_input"),
            (Error::NoActor, 2, "no_actor"),
            (
                Error::AwaitingWitnesses {
                    log_index: 1,
                    have: 0,
                    need: 1,
                    failures: vec![],
                    retry: "r".into(),
                },
                3,
                "awaiting_witnesses",
            ),
            (
                Error::Tampered {
                    what: "record",
                    id: "1".into(),
                },
                4,
                "tampered",
            ),
            (Error::LogFork { seen: 2, now: 3 }, 4, "log_fork"),
            (Error::SchemaDrift(vec![]), 4, "schema_drift"),
            (
                Error::LogVerifyFailed { problems: 2 },
                4,
                "log_verify_failed",
            ),
            (
                Error::Log(crate::log::LogError::Alarm {
                    size: 1,
                    reason: "x".into(),
                }),
                4,
                "log_alarm",
            ),
            (
                Error::Packet(crate::packet::PacketError::BadSignature),
                4,
                "packet_tampered",
            ),
            (
                Error::WrongPassphrase {
                    staff: "wang".into(),
                },
                5,
                "wrong_passphrase",
            ),
            (Error::UnknownStaff("x".into()), 5, "unknown_staff"),
            (Error::NoPassphrase, 5, "no_passphrase"),
            (Error::PolicyRefused("x".into()), 6, "policy_refused"),
            (
                Error::ConsentRefused {
                    consent: 1,
                    reason: "x".into(),
                },
                6,
                "consent_refused",
            ),
            (
                Error::NotPermitted {
                    action: "a".into(),
                    role: "r".into(),
                },
                6,
                "not_permitted",
            ),
            (
                Error::NotFound {
                    what: "record",
                    id: "9".into(),
                },
                7,
                "not_found",
            ),
            (Error::VaultMissing("v".into()), 7, "vault_missing"),
            (Error::Busy, 8, "busy"),
            (Error::from(busy), 8, "busy"),
            (Error::RotationRunning, 8, "rotation_running"),
        ];
        for (e, code, id) in &cases {
            assert_eq!(e.exit_code(), *code, "{e:?}");
            assert_eq!(e.code(), *id, "{e:?}");
            let j = e.to_json();
            assert_eq!(j["error"]["exit"], *code);
            assert_eq!(j["error"]["code"], *id);
        }
        let all = [
            exit::OK,
            exit::FAILURE,
            exit::USAGE,
            exit::AWAITING_WITNESSES,
            exit::ALARM,
            exit::AUTH,
            exit::REFUSED,
            exit::NOT_FOUND,
            exit::BUSY,
        ];
        let distinct: std::collections::BTreeSet<_> = all.iter().collect();
        assert_eq!(distinct.len(), all.len());
        assert_eq!(crate::cli::LOG_ALARM, exit::ALARM);
        assert_eq!(crate::cli::WITNESS_PENDING, exit::AWAITING_WITNESSES);
    }
}
