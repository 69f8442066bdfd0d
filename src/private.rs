//! Private by default: everything casevault writes, in the vault and outside it, is readable
//! by its owner only (files 0600, folders 0700). The content is encrypted, but names, sizes,
//! an auditor's report or a recovery key are not for other accounts on the machine. Modes are
//! set explicitly where a file is created (not left to the umask), and `tighten` repairs a
//! vault whose modes were loosened (a copy, a backup restore) each time it is opened.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of every file casevault writes.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every folder casevault creates.
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` and any missing parents, each 0700. An existing folder is left as it is:
/// a folder the user chose is theirs.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

/// Creates one new folder, 0700 (fails if it exists).
pub fn create_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new().mode(DIR_MODE).create(dir)
}

/// Creates an empty file, 0600, failing if it exists.
pub fn create_new(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Writes `bytes` to `path` (created or truncated), leaving it 0600 even if it existed with a
/// looser mode.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    f.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    f.write_all(bytes)
}

/// Sets `path` to `mode` when it grants anything to group or others. Symbolic links are
/// skipped (never followed). Returns whether it changed anything.
fn tighten_one(path: &Path, meta: &fs::Metadata, mode: u32) -> bool {
    if meta.permissions().mode() & 0o077 == 0 {
        return false;
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).is_ok()
}

/// Tightens the vault folder, its files and its subfolders' files (`keys/`, `staff/`) to
/// 0700/0600. Best effort: a mode that cannot be changed (another owner) is left, never an
/// error, since the vault still opens. Returns how many modes were changed.
pub fn tighten(root: &Path) -> usize {
    fn walk(dir: &Path, depth: u8, changed: &mut usize) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                *changed += tighten_one(&path, &meta, DIR_MODE) as usize;
                if depth > 0 {
                    walk(&path, depth - 1, changed);
                }
            } else if meta.is_file() {
                *changed += tighten_one(&path, &meta, FILE_MODE) as usize;
            }
        }
    }
    let mut changed = 0;
    if let Ok(meta) = fs::symlink_metadata(root) {
        if meta.is_dir() {
            changed += tighten_one(root, &meta, DIR_MODE) as usize;
            walk(root, 1, &mut changed);
        }
    }
    changed
}
