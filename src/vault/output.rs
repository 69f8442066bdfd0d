//! Output files outside the vault (packets, packages, receipts, keys, reports): one helper so
//! that every command checks its destination before it commits anything and never leaves a
//! half-written set behind. Protocol in `docs/referral-packet.md` ("Writing the files").
//!
//! A set is a primary file (the packet, the package) and companions (its `.minisig`, its
//! `.receipt.json`). Each is written to `.NAME.casevault-tmp` beside its destination (0600),
//! fsynced; the companions are renamed first, the primary last: the primary's appearance is
//! the commit point. A companion without its primary is an incomplete output that the next
//! run on that destination replaces, and temporary files left by a killed run are removed by
//! the next run on that destination.

use std::fs;
use std::io::{Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// The suffix of temporary output files (`.NAME.casevault-tmp`).
pub const TMP_SUFFIX: &str = ".casevault-tmp";

/// The folder a destination lives in: a bare file name means the current directory.
pub fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `.NAME.casevault-tmp` beside `path`.
pub fn tmp_of(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    dir_of(path).join(format!(".{name}{TMP_SUFFIX}"))
}

/// `FILE.minisig`.
pub fn sig_path(out: &Path) -> PathBuf {
    with_suffix(out, ".minisig")
}

/// `FILE.receipt.json`.
pub fn receipt_path(out: &Path) -> PathBuf {
    with_suffix(out, ".receipt.json")
}

fn with_suffix(out: &Path, suffix: &str) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A primary output file and its companions.
#[derive(Clone, Debug)]
pub struct OutputSet {
    pub primary: PathBuf,
    pub companions: Vec<PathBuf>,
    /// A companion without its primary is this set's incomplete output (a `.minisig`, a
    /// `.receipt.json`) and may be replaced; false where companions are files of their own.
    pub lone_companion_is_ours: bool,
}

impl OutputSet {
    /// One file on its own.
    pub fn single(path: &Path) -> OutputSet {
        OutputSet {
            primary: path.to_path_buf(),
            companions: Vec::new(),
            lone_companion_is_ours: false,
        }
    }

    /// A referral packet and its `.minisig`.
    pub fn packet(path: &Path) -> OutputSet {
        OutputSet {
            primary: path.to_path_buf(),
            companions: vec![sig_path(path)],
            lone_companion_is_ours: true,
        }
    }

    /// An access package and its `.receipt.json`.
    pub fn package(path: &Path) -> OutputSet {
        OutputSet {
            primary: path.to_path_buf(),
            companions: vec![receipt_path(path)],
            lone_companion_is_ours: true,
        }
    }

    fn all(&self) -> impl Iterator<Item = &PathBuf> {
        self.companions.iter().chain(std::iter::once(&self.primary))
    }

    /// Run before anything is committed: the folder exists; each temporary file is claimed
    /// (created, locked for this process, and given [`PROBE_BYTES`] so that a full disk shows
    /// here, not after the commit; a killed run's leftover is taken over, another live
    /// command's claim refused); and no final path exists (a companion whose primary is
    /// missing is an incomplete output and may be replaced).
    pub fn check(&self, replace: bool) -> Result<()> {
        for p in self.all() {
            let dir = dir_of(p);
            if !dir.is_dir() {
                return Err(Error::OutputDir { path: dir });
            }
            claim(&tmp_of(p))?;
        }
        if replace {
            return Ok(());
        }
        let primary_exists = exists(&self.primary);
        for p in self.all() {
            let lone_companion =
                self.lone_companion_is_ours && *p != self.primary && !primary_exists;
            if exists(p) && !lone_companion {
                return Err(Error::Exists {
                    what: "file",
                    id: p.display().to_string(),
                });
            }
        }
        Ok(())
    }

    /// Writes `primary` and `companions` (in the order of [`OutputSet::companions`]): all
    /// temporaries written and fsynced, companions renamed, then the primary (commit point),
    /// then the folder fsynced. On failure no temporary file stays behind.
    pub fn write(&self, primary: &[u8], companions: &[&[u8]], replace: bool) -> Result<()> {
        test_fail_hook(&self.primary)?;
        self.check(replace)?;
        let files: Vec<(&PathBuf, &[u8])> = self
            .companions
            .iter()
            .zip(companions.iter().copied())
            .chain(std::iter::once((&self.primary, primary)))
            .collect();
        let mut written = Vec::new();
        let result = (|| -> Result<()> {
            for (path, bytes) in &files {
                let tmp = tmp_of(path);
                claim(&tmp)?;
                written.push(tmp.clone());
                with_claim(&tmp, |f| {
                    f.rewind()?;
                    f.write_all(bytes)?;
                    f.set_len(bytes.len() as u64)?;
                    f.sync_all()
                })
                .map_err(|e| Error::io(path.as_path(), e))?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            for t in &written {
                unclaim(t, true);
            }
            return Err(e);
        }
        let n = files.len();
        for (i, (path, _)) in files.iter().enumerate() {
            if i + 1 == n {
                // Companions are durable before the primary appears.
                for c in &self.companions {
                    super::dir::sync_dir(&dir_of(c))?;
                }
                test_pause_hook("packet_rename");
            }
            let tmp = tmp_of(path);
            if let Err(e) = fs::rename(&tmp, path) {
                for (p, _) in &files[i..] {
                    unclaim(&tmp_of(p), true);
                }
                return Err(Error::io(path.as_path(), e));
            }
        }
        let synced = super::dir::sync_dir(&dir_of(&self.primary));
        // Renamed: the locks go with the files; the claims end here.
        for (path, _) in &files {
            unclaim(&tmp_of(path), false);
        }
        synced
    }
}

/// The exact command line that writes a committed disclosure's file to `out` again
/// (`sub` is e.g. `referral resend 3`), for the message after a failed write.
pub fn resend_command(vault: &Path, actor: &str, sub: &str, out: &Path) -> String {
    let q = |p: &Path| shell_quote(&p.display().to_string());
    format!(
        "casevault --vault {} --as {} {sub} --out {}",
        q(vault),
        shell_quote(actor),
        q(out)
    )
}

fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || "-_./=:@+,".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn exists(p: &Path) -> bool {
    p.symlink_metadata().is_ok()
}

/// Bytes a claim writes at once, so a full disk is found before anything is committed.
pub const PROBE_BYTES: usize = 64 << 10;

/// This process's claimed temporary files: each open and locked (`flock`) until it is renamed
/// into place or released. The lock tells a live command's file from a killed run's leftover.
static CLAIMS: Mutex<Vec<(PathBuf, fs::File)>> = Mutex::new(Vec::new());

/// Claims `tmp` for this process (a no-op if already ours). Refuses another live command's
/// claim; takes over a leftover; fills it with [`PROBE_BYTES`] zero bytes and fsyncs.
fn claim(tmp: &Path) -> Result<()> {
    let mut claims = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
    if claims.iter().any(|(p, _)| p == tmp) {
        return Ok(());
    }
    let dir = dir_of(tmp);
    // Open, lock, then check the path still names the locked file: another process may have
    // renamed its claim into place between our open and our lock.
    let mut tries = 0;
    let file = loop {
        tries += 1;
        if tries > 5 {
            return Err(Error::OutputBusy {
                path: tmp.to_path_buf(),
            });
        }
        match tmp.symlink_metadata() {
            Ok(m) if !m.is_file() => {
                return Err(Error::Exists {
                    what: "file",
                    id: tmp.display().to_string(),
                })
            }
            _ => {}
        }
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(tmp)
            .map_err(|_| Error::OutputDir { path: dir.clone() })?;
        match f.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::OutputBusy {
                    path: tmp.to_path_buf(),
                })
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(tmp, e)),
        }
        let same = match (f.metadata(), tmp.symlink_metadata()) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        if same {
            // A leftover from an older version may be looser: outputs are private.
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(|e| Error::io(tmp, e))?;
            break f;
        }
    };
    let probe = (|| {
        let mut f = &file;
        f.set_len(0)?;
        f.write_all(&[0u8; PROBE_BYTES])?;
        f.sync_all()
    })();
    if let Err(e) = probe {
        let _ = fs::remove_file(tmp);
        return Err(match e.raw_os_error() {
            Some(28) => Error::io(tmp, e), // ENOSPC: say so
            _ => Error::OutputDir { path: dir },
        });
    }
    claims.push((tmp.to_path_buf(), file));
    Ok(())
}

fn with_claim<T>(
    tmp: &Path,
    f: impl FnOnce(&mut fs::File) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let mut claims = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
    let (_, file) = claims
        .iter_mut()
        .find(|(p, _)| p == tmp)
        .ok_or_else(|| std::io::Error::other("output file not claimed"))?;
    f(file)
}

/// Ends a claim; with `remove`, deletes the temporary file first (it is still ours).
fn unclaim(tmp: &Path, remove: bool) {
    let mut claims = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = claims.iter().position(|(p, _)| p == tmp) {
        if remove {
            let _ = fs::remove_file(tmp);
        }
        claims.remove(i);
    }
}

/// Deletes every temporary file this process claimed and did not write (a command that was
/// refused or failed after its checks). The CLI calls it once, at the end of every command.
pub fn release_claims() {
    let mut claims = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
    for (p, _) in claims.drain(..) {
        let _ = fs::remove_file(&p);
    }
}

fn test_mode() -> bool {
    std::env::var("CASEVAULT_TEST_MODE").is_ok_and(|v| v == "1")
}

/// Tests only (`CASEVAULT_TEST_MODE=1`): `CASEVAULT_TEST_FAIL_AFTER_COMMIT=1` makes the write
/// fail as a full disk would.
fn test_fail_hook(path: &Path) -> Result<()> {
    if test_mode() && std::env::var("CASEVAULT_TEST_FAIL_AFTER_COMMIT").is_ok_and(|v| v == "1") {
        return Err(Error::io(
            path,
            std::io::Error::from_raw_os_error(28), // ENOSPC
        ));
    }
    Ok(())
}

/// Tests only: `CASEVAULT_TEST_PAUSE_AT=<point>` sleeps there so a test can kill the process.
fn test_pause_hook(point: &str) {
    if test_mode() && std::env::var("CASEVAULT_TEST_PAUSE_AT").is_ok_and(|v| v == point) {
        std::thread::sleep(std::time::Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_live_in_the_current_directory() {
        assert_eq!(dir_of(Path::new("packet.age")), PathBuf::from("."));
        assert_eq!(
            tmp_of(Path::new("packet.age")),
            PathBuf::from("./.packet.age.casevault-tmp")
        );
        assert_eq!(dir_of(Path::new("/a/b.age")), PathBuf::from("/a"));
    }
}
