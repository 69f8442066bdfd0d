//! The vault: what people do with case files, under the access rules of policy and keys.
//!
//! A [`Session`] is one staff member with their identity unlocked and the database open.
//! Each operation checks the role's permissions (for a clear message) and then needs the
//! right key anyway (for enforcement): a caseworker who bypasses the checks still cannot
//! decrypt what no wrapping gives them.

mod access_package;
mod admin;
pub mod agency_keys;
pub mod attention;
pub mod authority;
mod checkpoint_key;
pub mod commit;
mod consents;
mod dir;
pub mod disclosure;
mod enrol;
mod import;
mod init;
mod keys;
mod lock;
pub mod output;
pub mod partners;
mod people;
pub mod policy_auth;
pub mod queue;
mod records;
pub mod recovery;
mod referrals;
mod rekey;
pub mod remember;
pub mod requests;
mod rotation;
mod session;
mod staff;
mod supervisor_key;
pub mod witnessing;

pub use admin::parse_recovery_key;
pub use attention::{Attention, AttentionItem};
pub use consents::FORM_TIER;
pub use dir::{valid_staff_name, write_atomic, VaultDir, VERSION_LINE};
pub use enrol::{enrol, fingerprint, Enrolled, Invitation};
pub use import::{ImportProgress, ImportReport};
pub use init::{init, InitOptions};
pub use partners::{ProofOutcome, ReceiptCheck, ReceiptProblem};
pub use people::{CasePage, CASE_PAGE_MAX};
pub use policy_auth::{PolicyDetail, PolicyOutcome};
pub use records::{describe_attachments, NewAttachment, NewRecord, OpenedRecord};
pub use referrals::{
    Export, ExportRequest, ImportedPacket, PacketView, PendingRecord, PendingRelease,
    ReferralPreview, ScopedRecord, STATUSES,
};
pub use rekey::RekeyReport;
pub use requests::{
    AccessOutcome, CorrectionOutcome, NewRequest, PackageDownload, PackagePreview, PackageState,
    PackageTo, PastRecipient,
};
pub use rotation::pending_rotation;
pub use session::{dummy_unlock, Session};
