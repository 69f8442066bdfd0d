//! casevault: an encrypted case-file vault for social-work agencies.
//!
//! The library is layered so that each concern lives in one folder:
//! - [`domain`]: clients, cases, records, consents: plain types and the rules on them;
//! - [`policy`]: the agency policy (tiers, roles, templates) read from `policy/*.toml`;
//! - [`crypto`]: staff identities, case keys, record envelopes, secret types;
//! - [`store`]: the SQLCipher database and nothing else;
//! - [`vault`]: the operations people perform, combining the layers above under access rules;
//! - [`log`]: the signed, Merkle-tree disclosure log;
//! - [`packet`]: referral packets that stock `age` and `minisign` can open;
//! - [`audit`]: the confidentiality audit over metadata (never record content);
//! - [`witness`]: a C2SP tlog-witness server that cosigns other logs' checkpoints;
//! - [`agent`]: the per-user agent that holds unlocked identities for a work session;
//! - [`cli`]: the thin `casevault` command line over all of it.
#![forbid(unsafe_code)]

pub mod agent;
pub mod audit;
pub mod cli;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod i18n;
pub mod log;
pub mod packet;
pub mod policy;
pub mod private;
pub mod store;
pub mod vault;
pub mod web;
pub mod witness;

pub use error::{Error, Result};
