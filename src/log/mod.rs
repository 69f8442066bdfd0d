//! The signed disclosure log (see `docs/disclosure-log.md`).
//!
//! Every disclosure, tier-3 read, recovery-key use and key or policy change is an [`Entry`]
//! in canonical binary form, signed by the acting staff member, appended to an RFC 6962
//! Merkle tree, and followed by a C2SP checkpoint signed by the agency log key.
//!
//! - [`append`]: the one write path, inside the vault's transaction, returning a [`Receipt`];
//! - [`verify_db`], [`entries`]: audit and display inside the vault;
//! - [`export`], [`verify_export`]: the offline audit with the agency's public key alone.

mod chain;
mod consistency;
pub mod cosign;
mod entry;
mod error;
mod export;
mod export_readme;
pub mod merkle;
mod note;
mod receipt;
pub mod registry;
mod store;
mod verify;

pub use chain::KeyChain;
pub use consistency::{prove, ConsistencyProof, PROOF_FORMAT, PROOF_VERSION};
pub use entry::{
    id_mac, signed_message, split_stored, Entry, Kind, KindCode, LegalBasis, ADMIN_ROLE,
    ENTRY_VERSION, MAX_TEXT, SIGN_CONTEXT, SIG_LEN,
};
pub use error::{DecodeError, FrameError, LogError, NoteError, Warning};
pub use export::{
    export, for_each_entry, read_records, verify_export, verify_export_with, write_records,
    Earlier, CHAIN_KEYS_FILE, CHECKPOINTS_FILE, ENTRIES_FILE, KEY_FILE, LATEST_FILE, README_FILE,
};
pub use note::{key_id, Checkpoint, VerifierKey};
pub use receipt::{verify_receipt, Receipt};
pub use registry::Registry;
pub use store::{
    append, append_many, append_many_with, append_with, chain_candidates, checkpoint, entries,
    entry_at, first_where, handover_notes, has_kind, head, key_chain, latest_page, leaf_hashes,
    receipt_for, revocation_logged, stored_at, stored_size, stored_verifier_key, verified_registry,
    verify_db, verify_db_with, walk_kind_desc, Filter, Listed, LogHead, NewEntry,
    CHECKPOINT_RETAIN_EVERY, SCHEMA,
};
pub use store::{consistency_between, latest_checkpoint, roots_at};
pub use verify::{Verifier, VerifyOptions, VerifyReport, MAX_ERRORS, STREAM_CHUNK};

/// The verifier key string for the log `origin` signed by `log_key` (what auditors receive).
pub fn verifier_key(origin: &str, log_key: &ed25519_dalek::VerifyingKey) -> String {
    VerifierKey::new(origin, *log_key).encode()
}
