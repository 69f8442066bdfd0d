//! Referral packets (see docs/referral-packet.md).

use std::fmt;

/// Errors of this module.
#[derive(Debug)]
pub enum PacketError {
    /// Placeholder until the module lands.
    Other(String),
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketError::Other(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for PacketError {}
