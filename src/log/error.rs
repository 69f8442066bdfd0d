//! Hand-written errors of the log. Every message comes from `src/i18n/log.toml` and names
//! the entry (by index) or the checkpoint (by size) it is about.

use std::fmt;
use std::path::PathBuf;

use crate::tr;

/// Why entry bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes end inside this field.
    Truncated(&'static str),
    /// Bytes remain after the last field.
    TrailingBytes(usize),
    /// A format version this build does not know.
    UnknownVersion(u8),
    /// A kind code this build does not know.
    UnknownKind(u8),
    /// A presence flag or tag byte outside its allowed values.
    BadTag { field: &'static str, value: u8 },
    /// A text field is not UTF-8.
    NotUtf8(&'static str),
    /// A text field exceeds [`MAX_TEXT`](super::entry::MAX_TEXT).
    TooLong(&'static str),
    /// A text field that must not be empty is.
    Empty(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            DecodeError::Truncated(field) => tr!("log.decode.truncated", field = field),
            DecodeError::TrailingBytes(n) => tr!("log.decode.trailing", count = n),
            DecodeError::UnknownVersion(v) => tr!("log.decode.version", version = v),
            DecodeError::UnknownKind(k) => tr!("log.decode.kind", code = k),
            DecodeError::BadTag { field, value } => {
                tr!("log.decode.tag", field = field, value = value)
            }
            DecodeError::NotUtf8(field) => tr!("log.decode.utf8", field = field),
            DecodeError::TooLong(field) => tr!("log.decode.too_long", field = field),
            DecodeError::Empty(field) => tr!("log.decode.empty", field = field),
        };
        f.write_str(&s)
    }
}

impl std::error::Error for DecodeError {}

/// Why a signed note (checkpoint) or verifier key is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteError {
    /// Not UTF-8, too large, or contains control characters.
    Malformed,
    /// No blank line separating text and signatures, or no signature lines.
    NoSignatures,
    /// A signature line does not follow `— <name> <base64>`.
    BadSignatureLine(usize),
    /// The checkpoint body does not follow `<origin>\n<size>\n<root>\n`.
    BadBody(&'static str),
    /// The verifier key string is malformed.
    BadVerifierKey(&'static str),
    /// No signature by the expected key is present.
    NotSignedByKey(String),
    /// A signature by the expected key is present but wrong.
    SignatureFails(String),
    /// The checkpoint belongs to another log.
    WrongOrigin { expected: String, found: String },
    /// Signed only by a checkpoint key the chain superseded at size `at`, for a larger size.
    Superseded { key: String, at: u64, size: u64 },
}

impl fmt::Display for NoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            NoteError::Malformed => tr!("log.note.malformed"),
            NoteError::NoSignatures => tr!("log.note.no_signatures"),
            NoteError::BadSignatureLine(n) => tr!("log.note.bad_sig_line", line = n),
            NoteError::BadBody(what) => tr!("log.note.bad_body", what = what),
            NoteError::BadVerifierKey(what) => tr!("log.note.bad_vkey", what = what),
            NoteError::NotSignedByKey(k) => tr!("log.note.not_signed", key = k),
            NoteError::SignatureFails(k) => tr!("log.note.sig_fails", key = k),
            NoteError::WrongOrigin { expected, found } => {
                tr!("log.note.origin", expected = expected, found = found)
            }
            NoteError::Superseded { key, at, size } => {
                tr!("log.note.superseded", key = key, at = at, size = size)
            }
        };
        f.write_str(&s)
    }
}

impl std::error::Error for NoteError {}

/// Errors of the disclosure log.
#[derive(Debug)]
pub enum LogError {
    /// The database refused an operation.
    Db(rusqlite::Error),
    /// A file of an export could not be read or written.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The caller's new entry cannot be encoded (a field too long or empty).
    BadRequest(DecodeError),
    /// The stored entry at `index` does not decode.
    Malformed { index: u64, reason: DecodeError },
    /// The entry stored at position `index` claims another index.
    IndexMismatch { index: u64, claimed: u64 },
    /// The entry's signature does not verify under its actor's registered key.
    BadSignature { index: u64, actor: String },
    /// The actor had no registered key at that point of the log.
    UnknownSigner { index: u64, actor: String },
    /// The actor's key had been revoked by entry `revoked_at`.
    RevokedSigner {
        index: u64,
        actor: String,
        revoked_at: u64,
    },
    /// A staff registration or revocation not signed by an admin.
    NotAdmin { index: u64, actor: String },
    /// A supervisor registration without an active supervisor's earlier endorsement.
    NotEndorsed { index: u64, name: String },
    /// There is nothing to verify: a log always holds at least the founding entry.
    EmptyLog,
    /// An export lacks its `checkpoint.txt` (the latest checkpoint), which must cover it.
    LatestMissing,
    /// The `kind` or `time` column of stored entry `index` disagrees with its signed bytes.
    IndexColumn { index: u64 },
    /// A registration of a name that was revoked (names are never reused).
    NameRevoked { index: u64, name: String },
    /// A serving member's key changed by someone other than the member.
    KeyChangeNotSelf { index: u64, name: String },
    /// An endorsement not signed by a supervisor.
    NotSupervisor { index: u64, actor: String },
    /// Entry 0 is not the founding admin's self-registration.
    BadFounding,
    /// A registration carries a key that is not a usable Ed25519 public key.
    WeakStaffKey { index: u64 },
    /// Record `records` (0-based) of an export file cannot be framed: reading stops there.
    ExportFormat {
        file: &'static str,
        records: u64,
        reason: FrameError,
    },
    /// The signing key handed to `append` is not the actor's registered key.
    WrongActorKey { actor: String },
    /// A checkpoint does not parse or its signature fails.
    Checkpoint {
        size: Option<u64>,
        reason: NoteError,
    },
    /// A signed checkpoint's root differs from the entries' root at that size: entries
    /// below `size` were changed.
    CheckpointMismatch { size: u64 },
    /// A signed checkpoint covers entries that are missing.
    Truncated { have: u64, signed: u64 },
    /// Entries `from..to` are not covered by any checkpoint.
    Unsigned { from: u64, to: u64 },
    /// The stored log disagrees with its last checkpoint: writing stopped, nothing repaired.
    Alarm { size: u64, reason: String },
    /// A receipt's entry is not included under its checkpoint.
    ReceiptFails { index: u64 },
    /// A receipt is not well-formed JSON or base64.
    ReceiptMalformed(String),
    /// The requested entry index is past the end of the log.
    NoSuchEntry { index: u64, size: u64 },
    /// More errors than a report keeps; only their number is given.
    MoreErrors { count: u64 },
}

/// Why a `u32 length ‖ bytes` record of an export file is refused. Checked against the
/// file's real size before anything is allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The file ends inside the 4-byte length.
    HeaderCut { remaining: u64 },
    /// A zero length: no entry or checkpoint is empty.
    Empty,
    /// The length is larger than any record of this file can be.
    TooLarge { claimed: u64, max: u64 },
    /// The length is larger than what remains of the file.
    Beyond { claimed: u64, remaining: u64 },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            FrameError::HeaderCut { remaining } => {
                tr!("log.frame.header_cut", remaining = remaining)
            }
            FrameError::Empty => tr!("log.frame.empty"),
            FrameError::TooLarge { claimed, max } => {
                tr!("log.frame.too_large", claimed = claimed, max = max)
            }
            FrameError::Beyond { claimed, remaining } => {
                tr!("log.frame.beyond", claimed = claimed, remaining = remaining)
            }
        };
        f.write_str(&s)
    }
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            LogError::Db(e) => tr!("log.err.db", reason = e),
            LogError::Io { path, source } => {
                tr!("log.err.io", path = path.display(), reason = source)
            }
            LogError::BadRequest(r) => tr!("log.err.bad_request", reason = r),
            LogError::Malformed { index, reason } => {
                tr!("log.err.malformed", index = index, reason = reason)
            }
            LogError::IndexMismatch { index, claimed } => {
                tr!("log.err.index", index = index, claimed = claimed)
            }
            LogError::BadSignature { index, actor } => {
                tr!("log.err.signature", index = index, actor = actor)
            }
            LogError::UnknownSigner { index, actor } => {
                tr!("log.err.unknown_signer", index = index, actor = actor)
            }
            LogError::RevokedSigner {
                index,
                actor,
                revoked_at,
            } => tr!(
                "log.err.revoked_signer",
                index = index,
                actor = actor,
                revoked_at = revoked_at
            ),
            LogError::NotAdmin { index, actor } => {
                tr!("log.err.not_admin", index = index, actor = actor)
            }
            LogError::NotEndorsed { index, name } => {
                tr!("log.err.not_endorsed", index = index, name = name)
            }
            LogError::IndexColumn { index } => tr!("log.err.index_column", index = index),
            LogError::EmptyLog => tr!("log.err.empty"),
            LogError::LatestMissing => tr!("log.err.latest_missing"),
            LogError::NameRevoked { index, name } => {
                tr!("log.err.name_revoked", index = index, name = name)
            }
            LogError::KeyChangeNotSelf { index, name } => {
                tr!("log.err.key_change_not_self", index = index, name = name)
            }
            LogError::NotSupervisor { index, actor } => {
                tr!("log.err.not_supervisor", index = index, actor = actor)
            }
            LogError::BadFounding => tr!("log.err.founding"),
            LogError::WeakStaffKey { index } => tr!("log.err.weak_key", index = index),
            LogError::ExportFormat {
                file,
                records,
                reason,
            } => tr!(
                "log.err.export_format",
                file = file,
                records = records,
                reason = reason
            ),
            LogError::WrongActorKey { actor } => tr!("log.err.wrong_key", actor = actor),
            LogError::Checkpoint { size, reason } => match size {
                Some(size) => tr!("log.err.checkpoint", size = size, reason = reason),
                None => tr!("log.err.checkpoint_unparsed", reason = reason),
            },
            LogError::CheckpointMismatch { size } => {
                tr!(
                    "log.err.checkpoint_mismatch",
                    size = size,
                    last = size.saturating_sub(1)
                )
            }
            LogError::Truncated { have, signed } => tr!(
                "log.err.truncated",
                have = have,
                signed = signed,
                last = signed.saturating_sub(1)
            ),
            LogError::Unsigned { from, to } => {
                tr!("log.err.unsigned", from = from, last = to.saturating_sub(1))
            }
            LogError::Alarm { size, reason } => tr!("log.err.alarm", size = size, reason = reason),
            LogError::ReceiptFails { index } => tr!("log.err.receipt", index = index),
            LogError::ReceiptMalformed(r) => tr!("log.err.receipt_malformed", reason = r),
            LogError::NoSuchEntry { index, size } => {
                tr!("log.err.no_such_entry", index = index, size = size)
            }
            LogError::MoreErrors { count } => tr!("log.err.more_errors", count = count),
        };
        f.write_str(&s)
    }
}

impl std::error::Error for LogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LogError::Db(e) => Some(e),
            LogError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for LogError {
    fn from(e: rusqlite::Error) -> Self {
        LogError::Db(e)
    }
}

/// Findings that do not make the log invalid but that an auditor should see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The entry's claimed time is earlier than the previous entry's.
    TimeBackwards {
        index: u64,
        time: i64,
        previous: i64,
    },
    /// Entries `from..to` (appended by members who hold no checkpoint key) wait for a
    /// supervisor's checkpoint. In the vault only: offline, they are [`LogError::Unsigned`].
    Uncovered { from: u64, to: u64 },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Warning::TimeBackwards {
                index,
                time,
                previous,
            } => tr!(
                "log.warn.time_backwards",
                index = index,
                time = time,
                previous = previous
            ),
            Warning::Uncovered { from, to } => tr!("log.warn.uncovered", from = from, to = to),
        };
        f.write_str(&s)
    }
}
