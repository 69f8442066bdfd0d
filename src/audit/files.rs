//! No plaintext in the vault directory: only `VERSION`, the empty `vault.lock`, the encrypted
//! database (its WAL and shared-memory files, and a key rotation's copy) and age files under
//! `keys/` and `staff/`.

use std::io::Read;
use std::path::Path;

use super::{Ctx, Finding, Outcome, Severity};
use crate::error::{Error, Result};
use crate::tr;
use crate::vault::VERSION_LINE;

const AGE_MAGIC: &[u8] = b"age-encryption.org/v1";
const SQLITE_MAGIC: &[u8] = b"SQLite format 3";

fn head(path: &Path, n: usize) -> Result<Vec<u8>> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = vec![0; n];
    let mut got = 0;
    while got < n {
        match f.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

fn finding(check: &'static str, sev: Severity, what: String, rel: &str, fix: String) -> Finding {
    Finding::new(
        check,
        sev,
        what,
        vec![tr!("audit.loc.file", path = rel)],
        fix,
    )
}

pub fn check(ctx: &Ctx) -> Result<Outcome> {
    let root = &ctx.dir.root;
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut entries: Vec<_> = rd
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io(&dir, e))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let ft = e.file_type().map_err(|err| Error::io(&path, err))?;
            let top = dir == *root;
            if ft.is_dir() {
                if top && (rel == "keys" || rel == "staff") {
                    stack.push(path);
                } else {
                    out.push(finding(
                        "files.unexpected",
                        Severity::High,
                        tr!("audit.files.dir", path = rel),
                        &rel,
                        tr!("audit.files.unexpected_fix"),
                    ));
                }
                continue;
            }
            if !ft.is_file() {
                out.push(finding(
                    "files.unexpected",
                    Severity::High,
                    tr!("audit.files.special", path = rel),
                    &rel,
                    tr!("audit.files.unexpected_fix"),
                ));
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if top {
                match name.as_str() {
                    "VERSION" => {
                        let text = std::fs::read(&path).map_err(|err| Error::io(&path, err))?;
                        if String::from_utf8_lossy(&text).trim() != VERSION_LINE {
                            out.push(finding(
                                "files.version",
                                Severity::Medium,
                                tr!("audit.files.version", path = rel),
                                &rel,
                                tr!("audit.files.version_fix"),
                            ));
                        }
                    }
                    "vault.lock" if e.metadata().map(|m| m.len() == 0).unwrap_or(false) => {}
                    // `vault.db.next` is a rotation's copy (docs/key-rotation.md).
                    "vault.db" | "vault.db.next" => {
                        if head(&path, SQLITE_MAGIC.len())? == SQLITE_MAGIC {
                            out.push(finding(
                                "files.plain_db",
                                Severity::Critical,
                                tr!("audit.files.plain_db", path = rel),
                                &rel,
                                tr!("audit.files.plain_db_fix"),
                            ));
                        }
                    }
                    "vault.db-wal" | "vault.db-shm" => {}
                    _ => out.push(finding(
                        "files.unexpected",
                        Severity::High,
                        tr!("audit.files.unexpected", path = rel),
                        &rel,
                        tr!("audit.files.unexpected_fix"),
                    )),
                }
            } else if name.ends_with(".age") && !name.starts_with('.') {
                if head(&path, AGE_MAGIC.len())? != AGE_MAGIC {
                    out.push(finding(
                        "files.not_age",
                        Severity::Critical,
                        tr!("audit.files.not_age", path = rel),
                        &rel,
                        tr!("audit.files.unexpected_fix"),
                    ));
                }
            } else {
                out.push(finding(
                    "files.unexpected",
                    Severity::High,
                    tr!("audit.files.unexpected", path = rel),
                    &rel,
                    tr!("audit.files.unexpected_fix"),
                ));
            }
        }
    }
    Ok(Outcome::Ran(out))
}
