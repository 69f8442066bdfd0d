//! The vault directory: where each file lives, and crash-safe writes.
//!
//! ```text
//! VERSION            "casevault-vault 1": the only plaintext besides public keys
//! vault.db           SQLCipher database (+ -wal, -shm while open)
//! vault.lock         empty; every session holds it shared, a key rotation exclusive
//! keys/dbkey.age     the database key, age-encrypted to every active staff member and the recovery key
//! keys/dbkey.next.age, vault.db.next   only during a database key rotation (docs/key-rotation.md)
//! staff/<name>.age   each staff identity, age-encrypted with its owner's passphrase
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The format line written to `VERSION`.
pub const VERSION_LINE: &str = "casevault-vault 1";

/// Paths inside a vault directory.
#[derive(Clone, Debug)]
pub struct VaultDir {
    pub root: PathBuf,
}

impl VaultDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        VaultDir { root: root.into() }
    }
    pub fn version(&self) -> PathBuf {
        self.root.join("VERSION")
    }
    pub fn db(&self) -> PathBuf {
        self.root.join("vault.db")
    }
    /// The vault-wide lock file (see `lock.rs`).
    pub fn lock(&self) -> PathBuf {
        self.root.join("vault.lock")
    }
    /// The re-encrypted copy of the database a rotation writes before swapping it in.
    pub fn db_next(&self) -> PathBuf {
        self.root.join("vault.db.next")
    }
    pub fn dbkey(&self) -> PathBuf {
        self.root.join("keys").join("dbkey.age")
    }
    /// The next database key, written before a rotation and renamed over `dbkey` after it.
    pub fn dbkey_next(&self) -> PathBuf {
        self.root.join("keys").join("dbkey.next.age")
    }
    pub fn staff_dir(&self) -> PathBuf {
        self.root.join("staff")
    }
    pub fn identity(&self, name: &str) -> PathBuf {
        self.staff_dir().join(format!("{name}.age"))
    }

    /// Checks that this is a vault of a version we read.
    pub fn check(&self) -> Result<()> {
        let v = match fs::read_to_string(self.version()) {
            Ok(v) => v,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::VaultMissing(self.root.clone()))
            }
            Err(e) => return Err(Error::io(self.version(), e)),
        };
        if v.trim() != VERSION_LINE {
            return Err(Error::VaultVersion(v.trim().chars().take(40).collect()));
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename, fsync of
/// the directory. Callers pass ciphertext or public data only.
/// Where a key rotation writes a member's new identity file before its commit.
pub fn identity_next(identity: &Path) -> PathBuf {
    let mut s = identity.as_os_str().to_owned();
    s.push(".next");
    PathBuf::from(s)
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    let io = |e| Error::io(path, e);
    // A killed run's leftover (ours: a regular file by our name) is replaced, and the new
    // temporary file is 0600 from its creation, so the renamed file is too.
    if tmp.symlink_metadata().is_ok_and(|m| m.is_file()) {
        fs::remove_file(&tmp).map_err(io)?;
    }
    {
        let mut f = crate::private::create_new(&tmp).map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    fs::rename(&tmp, path).map_err(io)?;
    sync_dir(dir)
}

/// Makes a rename or unlink in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Staff names become file names: letters (any script), digits, `.`, `_`, `-`, 1-64 chars.
pub fn valid_staff_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=64).contains(&n)
        && !name.starts_with('.')
        && !name.starts_with('@')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
}
