//! A C2SP tlog-witness (`casevault witness serve`): it cosigns a log's checkpoint only when it
//! is consistent with the last one it cosigned for that log, so a vault cannot show one
//! history to a partner and another to an auditor, or roll its log back, without a witness
//! noticing. See `docs/witness.md`.
//!
//! State directory (0700, files 0600):
//! - `name`: the witness's key name; `key`: its Ed25519 seed (32 bytes);
//! - `logs/<id>`: the verifier key of a trusted log (`<id>` = hex SHA-256 of the origin);
//! - `state/<id>`: `<size>\n<base64 root>\n`, the latest checkpoint cosigned for that log,
//!   replaced atomically (temp file, fsync, rename, fsync of the folder) before answering.

pub mod http;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::log::cosign::{cosign, CosignerKey};
use crate::log::merkle::{empty_root, verify_consistency, Hash};
use crate::log::{Checkpoint, NoteError, VerifierKey};
use crate::tr;

/// Largest request body: 63 proof lines and a checkpoint with its signatures fit easily.
pub const MAX_BODY: usize = 64 * 1024;
/// Most consistency proof lines a client may send (tlog-witness).
pub const MAX_PROOF: usize = 63;

/// The answer to one `add-checkpoint` request: status, content type, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Answer {
    fn text(status: u16, body: impl Into<String>) -> Answer {
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
}

/// A witness: its key and its state directory. `lock` serializes check-and-store so two
/// requests for one log can never roll its recorded size back (tlog-witness, "atomically").
pub struct Witness {
    dir: PathBuf,
    name: String,
    key: SigningKey,
    lock: Mutex<()>,
}

fn cfg(m: String) -> Error {
    Error::WitnessConfig(m)
}

/// The file id of a log: hex SHA-256 of its origin (origins may hold `/`).
fn log_id(origin: &str) -> String {
    crate::crypto::hex(&Sha256::digest(origin.as_bytes()))
}

/// Writes `bytes` to `path` durably: a 0600 temp file beside it, fsync, rename, fsync of the
/// folder, so a crash leaves the old state or the new one, never a torn or empty file.
fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = crate::private::create_new(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Makes a new witness state directory with a fresh key; returns the witness's vkey.
pub fn init(dir: &Path, name: &str) -> Result<String> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(Error::Invalid(tr!("witness.bad_name")));
    }
    if dir.join("key").exists() {
        return Err(Error::Exists {
            what: "witness",
            id: dir.display().to_string(),
        });
    }
    for d in [dir.to_path_buf(), dir.join("logs"), dir.join("state")] {
        crate::private::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        // An existing folder keeps its mode otherwise; the key must not be listable by others.
        fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(|e| Error::io(&d, e))?;
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut());
    let key = SigningKey::from_bytes(&seed);
    write_durably(&dir.join("name"), format!("{name}\n").as_bytes())?;
    write_durably(&dir.join("key"), seed.as_ref())?;
    Ok(CosignerKey::new(name, key.verifying_key()).encode())
}

impl Witness {
    /// Opens the state directory made by [`init`].
    pub fn open(dir: &Path) -> Result<Witness> {
        let name_path = dir.join("name");
        let name = fs::read_to_string(&name_path).map_err(|e| Error::io(&name_path, e))?;
        let key_path = dir.join("key");
        // Like ssh with a host key: refuse a key file others can read.
        let mode = fs::metadata(&key_path)
            .map_err(|e| Error::io(&key_path, e))?
            .permissions();
        if std::os::unix::fs::PermissionsExt::mode(&mode) & 0o077 != 0 {
            return Err(cfg(tr!("witness.key_mode", path = key_path.display())));
        }
        let raw = Zeroizing::new(fs::read(&key_path).map_err(|e| Error::io(&key_path, e))?);
        let seed: &[u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| cfg(tr!("witness.bad_key_file", path = key_path.display())))?;
        Ok(Witness {
            dir: dir.to_path_buf(),
            name: name.trim().to_string(),
            key: SigningKey::from_bytes(seed),
            lock: Mutex::new(()),
        })
    }

    /// This witness's vkey (what vault policies name).
    pub fn vkey(&self) -> String {
        CosignerKey::new(&self.name, self.key.verifying_key()).encode()
    }

    /// Trusts the log `origin` signed by `vkey` (a log verifier key, type 0x01). For a log
    /// already trusted, another key is added as a candidate next checkpoint key: it becomes
    /// current only at a checkpoint co-signed by the current key (`log::KeyChain`), so adding
    /// one never lets it sign on its own.
    pub fn add_log(&self, origin: &str, vkey: &str) -> Result<()> {
        let vk = VerifierKey::parse(vkey).map_err(|e| Error::Invalid(e.to_string()))?;
        if vk.name != origin {
            return Err(Error::Invalid(tr!(
                "witness.origin_mismatch",
                origin = origin,
                name = vk.name
            )));
        }
        let mut keys = match self.trusted(origin)? {
            Some((pinned, candidates)) => std::iter::once(pinned).chain(candidates).collect(),
            None => Vec::new(),
        };
        if !keys.contains(&vk) {
            keys.push(vk);
        }
        let text: String = keys.iter().map(|k| format!("{}\n", k.encode())).collect();
        write_durably(&self.dir.join("logs").join(log_id(origin)), text.as_bytes())
    }

    /// The pinned key of `origin` and its candidate next checkpoint keys.
    fn trusted(&self, origin: &str) -> Result<Option<(VerifierKey, Vec<VerifierKey>)>> {
        let p = self.dir.join("logs").join(log_id(origin));
        let bad = || cfg(tr!("witness.bad_state", path = p.display()));
        match fs::read_to_string(&p) {
            Ok(t) => {
                let keys = t
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| VerifierKey::parse(l.trim()).map_err(|_| bad()))
                    .collect::<Result<Vec<_>>>()?;
                let mut it = keys.into_iter();
                let pinned = it.next().ok_or_else(bad)?;
                Ok(Some((pinned, it.collect())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&p, e)),
        }
    }

    /// The checkpoint key the log's chain has reached, as this witness followed it.
    fn current_key(&self, origin: &str) -> Result<Option<VerifierKey>> {
        let p = self.dir.join("state").join(log_id(origin));
        match fs::read_to_string(&p) {
            Ok(t) => Ok(t.lines().nth(2).and_then(|l| VerifierKey::parse(l).ok())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&p, e)),
        }
    }

    /// The latest (size, root) cosigned for `origin`, if any.
    pub fn latest(&self, origin: &str) -> Result<Option<(u64, Hash)>> {
        let p = self.dir.join("state").join(log_id(origin));
        let text = match fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&p, e)),
        };
        let bad = || cfg(tr!("witness.bad_state", path = p.display()));
        let mut lines = text.lines();
        let (size, root) = (lines.next().ok_or_else(bad)?, lines.next().ok_or_else(bad)?);
        let size: u64 = size.parse().map_err(|_| bad())?;
        let root: Hash = B64
            .decode(root)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(bad)?;
        Ok(Some((size, root)))
    }

    fn store(&self, origin: &str, size: u64, root: &Hash, key: &VerifierKey) -> Result<()> {
        write_durably(
            &self.dir.join("state").join(log_id(origin)),
            format!("{size}\n{}\n{}\n", B64.encode(root), key.encode()).as_bytes(),
        )
    }

    /// Handles one `POST /add-checkpoint` body (tlog-witness), at time `now` (Unix seconds).
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Answer {
        match self.try_add(body, now) {
            Ok(a) => a,
            Err(e) => {
                // Our own state failed (disk): the client may retry later; nothing cosigned.
                crate::errln!("casevault witness: {}", e);
                Answer::text(500, "internal error\n")
            }
        }
    }

    fn try_add(&self, body: &[u8], now: u64) -> Result<Answer> {
        let bad = |why: &str| Ok(Answer::text(400, format!("{why}\n")));
        if body.len() > MAX_BODY {
            return bad("body too large");
        }
        let Ok(text) = std::str::from_utf8(body) else {
            return bad("not UTF-8");
        };
        let Some((head, note)) = text.split_once("\n\n") else {
            return bad("no blank line");
        };
        let mut lines = head.split('\n');
        let old = match lines.next().and_then(|l| l.strip_prefix("old ")) {
            Some(n)
                if !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_digit())
                    && (n == "0" || !n.starts_with('0')) =>
            {
                match n.parse::<u64>() {
                    Ok(v) => v,
                    Err(_) => return bad("old size"),
                }
            }
            _ => return bad("old size line"),
        };
        let mut proof: Vec<Hash> = Vec::new();
        for l in lines {
            if proof.len() == MAX_PROOF {
                return bad("too many proof lines");
            }
            let h: Option<Hash> = B64.decode(l).ok().and_then(|v| v.try_into().ok());
            match h {
                Some(h) if B64.encode(h) == l => proof.push(h),
                _ => return bad("proof line"),
            }
        }
        let Ok(cp) = Checkpoint::parse_unverified(note) else {
            return bad("checkpoint");
        };
        let Some((pinned, candidates)) = self.trusted(&cp.origin)? else {
            return Ok(Answer::text(404, "unknown log\n"));
        };
        // Before the lock: a note no known key signs is refused cheaply.
        let followed = self.current_key(&cp.origin)?;
        let known = std::iter::once(&pinned)
            .chain(followed.iter())
            .chain(candidates.iter());
        let mut signed = false;
        for k in known {
            match Checkpoint::open(note, k) {
                Ok(_) => signed = true,
                Err(NoteError::NotSignedByKey(_) | NoteError::SignatureFails(_)) => {}
                Err(_) => return bad("checkpoint"),
            }
        }
        if !signed {
            return Ok(Answer::text(403, "no valid log signature\n"));
        }
        if old > cp.size {
            return bad("old size exceeds checkpoint size");
        }
        // Check and store under one lock: no two requests interleave for any log.
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let latest = self.latest(&cp.origin)?;
        let (have_size, have_root) = latest.unwrap_or((0, empty_root()));
        // The key chain as this witness followed it: a handover co-signed by the current key
        // moves it; afterwards a note signed only by a superseded key is refused.
        let mut chain =
            crate::log::KeyChain::single(&self.current_key(&cp.origin)?.unwrap_or(pinned));
        chain.follow(note, &candidates);
        if chain.open(note).is_err() {
            return Ok(Answer::text(
                403,
                "no valid signature by the log's current checkpoint key\n",
            ));
        }
        if old != have_size {
            return Ok(Answer {
                status: 409,
                content_type: "text/x.tlog.size",
                body: format!("{have_size}\n"),
            });
        }
        if old == cp.size {
            if latest.is_some() && cp.root != have_root {
                return Ok(Answer {
                    status: 409,
                    content_type: "text/x.tlog.size",
                    body: format!("{have_size}\n"),
                });
            }
            if !proof.is_empty() {
                return Ok(Answer::text(422, "proof must be empty\n"));
            }
        } else if old == 0 {
            if !proof.is_empty() {
                return Ok(Answer::text(422, "proof must be empty for old size 0\n"));
            }
        } else if !verify_consistency(old, cp.size, &have_root, &cp.root, &proof) {
            return Ok(Answer::text(422, "consistency proof does not verify\n"));
        }
        self.store(&cp.origin, cp.size, &cp.root, chain.current())?;
        let line = cosign(&cp.body(), &self.name, &self.key, now);
        Ok(Answer::text(200, line))
    }
}
