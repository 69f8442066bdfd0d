//! The vault-wide lock: every session holds `vault.lock` shared for its whole life; a database
//! key rotation holds it exclusive. So a rotation never swaps the database file under an open
//! connection, and an opener never sees a rotation half done (see `docs/key-rotation.md`).
//!
//! The lock is cooperation between casevault processes, not a security boundary: it protects
//! data from accidents, and the database key protects it from people.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long an opener waits for a running rotation before saying "busy".
const SHARED_WAIT: Duration = Duration::from_secs(15);
/// How long a rotation waits for other sessions to finish before deferring.
const EXCLUSIVE_WAIT: Duration = Duration::from_secs(30);

/// A held lock on `vault.lock`; released when dropped (the file descriptor closes).
#[derive(Debug)]
pub struct VaultLock {
    file: File,
}

/// Waits allowed, overridable for tests (`CASEVAULT_LOCK_WAIT_MS`, test mode only).
fn wait(default: Duration) -> Duration {
    if std::env::var("CASEVAULT_TEST_MODE").is_ok_and(|v| v == "1") {
        if let Some(ms) = std::env::var("CASEVAULT_LOCK_WAIT_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            return Duration::from_millis(ms);
        }
    }
    default
}

fn open(path: &Path) -> Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).map_err(|e| Error::io(path, e))
}

/// Polls `try_lock` until it succeeds or `limit` passes; `Ok(false)` on time-out.
fn poll(
    path: &Path,
    limit: Duration,
    mut try_lock: impl FnMut() -> std::result::Result<(), std::fs::TryLockError>,
) -> Result<bool> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        match try_lock() {
            Ok(()) => return Ok(true),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(path, e)),
        }
        if start.elapsed() >= limit {
            return Ok(false);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

impl VaultLock {
    /// A shared lock for a session. Waits for a running rotation; `Error::RotationRunning`
    /// if it does not end in time.
    pub fn shared(path: &Path) -> Result<VaultLock> {
        let file = open(path)?;
        if poll(path, wait(SHARED_WAIT), || file.try_lock_shared())? {
            Ok(VaultLock { file })
        } else {
            Err(Error::RotationRunning)
        }
    }

    /// Turns this shared lock into an exclusive one, waiting for other sessions to close.
    /// `Ok(false)` when they did not close in time; the lock is then shared again.
    ///
    /// flock(2) converts by unlocking first, so another process may take the lock in between:
    /// callers must reopen the database after this returns `true`, never reuse a connection.
    pub fn upgrade(&mut self, path: &Path) -> Result<bool> {
        self.file.unlock().map_err(|e| Error::io(path, e))?;
        if poll(path, wait(EXCLUSIVE_WAIT), || self.file.try_lock())? {
            return Ok(true);
        }
        if poll(path, wait(SHARED_WAIT), || self.file.try_lock_shared())? {
            Ok(false)
        } else {
            Err(Error::RotationRunning)
        }
    }

    /// Back from exclusive to shared, so other sessions may open again. Like `upgrade`, callers
    /// reopen the database afterwards.
    pub fn downgrade(&mut self, path: &Path) -> Result<()> {
        if poll(path, wait(SHARED_WAIT), || self.file.try_lock_shared())? {
            Ok(())
        } else {
            Err(Error::RotationRunning)
        }
    }
}
