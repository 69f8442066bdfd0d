//! The signed disclosure log (see docs/disclosure-log.md).

use std::fmt;

/// Errors of this module.
#[derive(Debug)]
pub enum LogError {
    /// Placeholder until the module lands.
    Other(String),
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Other(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for LogError {}
