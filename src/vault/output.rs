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
use std::io::Write;
use std::path::{Path, PathBuf};

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

    /// Run before anything is committed: the folder exists and takes a file (probed with the
    /// temporary name, which also clears a killed run's leftover), and no final path exists
    /// (a companion whose primary is missing is an incomplete output and may be replaced).
    pub fn check(&self, replace: bool) -> Result<()> {
        for p in self.all() {
            let dir = dir_of(p);
            if !dir.is_dir() {
                return Err(Error::OutputDir { path: dir });
            }
            let tmp = tmp_of(p);
            remove_leftover(&tmp)?;
            match create_tmp(&tmp) {
                Ok(_) => {
                    let _ = fs::remove_file(&tmp);
                }
                Err(_) => return Err(Error::OutputDir { path: dir }),
            }
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
                let mut f = create_tmp(&tmp).map_err(|e| Error::io(&tmp, e))?;
                written.push(tmp.clone());
                f.write_all(bytes)
                    .and_then(|_| f.sync_all())
                    .map_err(|e| Error::io(path.as_path(), e))?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            for t in &written {
                let _ = fs::remove_file(t);
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
                    let _ = fs::remove_file(tmp_of(p));
                }
                return Err(Error::io(path.as_path(), e));
            }
        }
        super::dir::sync_dir(&dir_of(&self.primary))
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

fn create_tmp(tmp: &Path) -> std::io::Result<fs::File> {
    crate::private::create_new(tmp)
}

/// Removes a temporary file a killed run left (only ours: a regular file by our name).
fn remove_leftover(tmp: &Path) -> Result<()> {
    match tmp.symlink_metadata() {
        Ok(m) if m.is_file() => fs::remove_file(tmp).map_err(|e| Error::io(tmp, e)),
        Ok(_) => Err(Error::Exists {
            what: "file",
            id: tmp.display().to_string(),
        }),
        Err(_) => Ok(()),
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
