//! The recovery key in k-of-n Shamir shares (docs/key-hierarchy.md, docs/formats.md).
//!
//! The recovery key decrypts everything, so no single person should hold it: at `init` its 32
//! secret bytes are split over GF(256) (the `blahaj` crate) into n shares, any k of which
//! rebuild it. Each share is a small text file naming the vault, the share set, its number,
//! k, n and the recovery recipient, with a checksum, so a mistyped share or one of another
//! vault or set is refused by name before anything is combined. The rebuilt key lives only in
//! memory and must match the recipient the founding log entry signed.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use bech32::{FromBase32, ToBase32};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::Session;
use crate::crypto::{self, hex};
use crate::error::{Error, Result};
use crate::log::Kind;
use crate::policy::Action;
use crate::store;
use crate::tr;

/// First line of a share (after comments): the format and its version.
pub const SHARE_MAGIC: &str = "casevault-recovery-share/v1";
/// Most shares a set may have (more holders than a small agency has is a typing error).
pub const MAX_SHARES: u8 = 32;
/// The bech32 human-readable part of an age X25519 secret key.
const SECRET_HRP: &str = "age-secret-key-";

/// Why shares were refused. Each names the file or share at fault, never a secret.
#[derive(Debug)]
pub enum ShareError {
    /// `--recovery-shares` is not `k/n` with 1 ≤ k ≤ n ≤ 32 (k ≥ 2 unless n = 1).
    BadSpec { spec: String },
    /// Not a share file of a version this program reads, or a line is missing or malformed.
    Malformed { file: String },
    /// The checksum does not match: a mistyped or damaged share.
    Checksum { file: String },
    /// The share belongs to another vault.
    OtherVault { file: String },
    /// The share belongs to another share set (e.g. an old set from before a reshare).
    OtherSet { file: String },
    /// The same share given twice.
    Duplicate { number: u8 },
    /// Fewer distinct shares than the threshold.
    TooFew { have: usize, need: u8 },
    /// The shares combine into a key that is not this vault's recovery key.
    Mismatch,
    /// A plain recovery key file given together with shares.
    KeyAndShares,
    /// Where shares are written must be a new or empty folder in an existing folder.
    OutDir { path: PathBuf },
}

impl fmt::Display for ShareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ShareError::BadSpec { spec } => {
                tr!("recovery.err_bad_spec", spec = spec, max = MAX_SHARES)
            }
            ShareError::Malformed { file } => tr!("recovery.err_malformed", file = file),
            ShareError::Checksum { file } => tr!("recovery.err_checksum", file = file),
            ShareError::OtherVault { file } => tr!("recovery.err_other_vault", file = file),
            ShareError::OtherSet { file } => tr!("recovery.err_other_set", file = file),
            ShareError::Duplicate { number } => tr!("recovery.err_duplicate", number = number),
            ShareError::TooFew { have, need } => {
                tr!("recovery.err_too_few", have = have, need = need)
            }
            ShareError::Mismatch => tr!("recovery.err_mismatch"),
            ShareError::KeyAndShares => tr!("recovery.err_key_and_shares"),
            ShareError::OutDir { path } => tr!("recovery.err_out_dir", path = path.display()),
        };
        f.write_str(&s)
    }
}

impl From<ShareError> for Error {
    fn from(e: ShareError) -> Error {
        Error::RecoveryShare(e)
    }
}

/// How many shares, and how many rebuild the key: `k/n`. `1/1` is the single key file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShareSpec {
    pub k: u8,
    pub n: u8,
}

impl ShareSpec {
    /// The single recovery key file (stock `age -i` reads it).
    pub const SINGLE: ShareSpec = ShareSpec { k: 1, n: 1 };
    /// The default for a small agency: three holders, any two rebuild the key, so one
    /// holder alone can do nothing and one lost share loses nothing.
    pub const DEFAULT: ShareSpec = ShareSpec { k: 2, n: 3 };

    /// Whether this is the single plain key file rather than shares.
    pub fn is_single(self) -> bool {
        self == ShareSpec::SINGLE
    }
}

impl FromStr for ShareSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<ShareSpec> {
        let bad = || {
            Error::from(ShareError::BadSpec {
                spec: s.to_string(),
            })
        };
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let k: u8 = k.trim().parse().map_err(|_| bad())?;
        let n: u8 = n.trim().parse().map_err(|_| bad())?;
        let spec = ShareSpec { k, n };
        if spec.is_single() || ((2..=n).contains(&k) && n <= MAX_SHARES) {
            Ok(spec)
        } else {
            Err(bad())
        }
    }
}

impl fmt::Display for ShareSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// One share as written to and read from its file.
pub struct ShareFile {
    /// The vault's id (`meta.vault_id`).
    pub vault_id: String,
    /// Random id of the set this share belongs to: shares of different sets never combine.
    pub set_id: String,
    /// The share number (the x coordinate), 1..=n.
    pub number: u8,
    pub k: u8,
    pub n: u8,
    /// The recovery key's public recipient (`age1…`).
    pub recipient: String,
    /// The share's bytes: x then one y per secret byte.
    secret: Zeroizing<Vec<u8>>,
}

impl ShareFile {
    /// The lines the checksum covers, in order (secret hex included: it is the file's
    /// content, and the checksum must catch a mistyped digit there).
    fn body(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{SHARE_MAGIC}\nvault: {}\nset: {}\nshare: {}\nthreshold: {}\nshares: {}\nrecipient: {}\nsecret: {}\n",
            self.vault_id,
            self.set_id,
            self.number,
            self.k,
            self.n,
            self.recipient,
            hex(&self.secret)
        ))
    }

    /// First 8 bytes of SHA-256 over [`ShareFile::body`], in hex.
    fn checksum(&self) -> String {
        let digest = Sha256::digest(self.body().as_bytes());
        hex(&digest[..8])
    }

    /// The file's text: comments for the holder, the body, the checksum.
    pub fn to_text(&self, agency: &str) -> Zeroizing<String> {
        let mut text = Zeroizing::new(format!(
            "# casevault recovery share {} of {}, any {} rebuild the key: {}\n# {}\n",
            self.number,
            self.n,
            self.k,
            agency,
            tr!("recovery.share_comment", k = self.k, n = self.n)
        ));
        text.push_str(&self.body());
        text.push_str(&format!("checksum: {}\n", self.checksum()));
        text
    }

    /// File name in the output folder: the set id's start tells sets apart.
    pub fn file_name(&self) -> String {
        format!(
            "recovery-share-{}-{}-of-{}.txt",
            &self.set_id[..8],
            self.number,
            self.n
        )
    }

    /// Parses a share file's text; `file` names it in messages.
    pub fn parse(text: &str, file: &str) -> std::result::Result<ShareFile, ShareError> {
        let malformed = || ShareError::Malformed {
            file: file.to_string(),
        };
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        if lines.next() != Some(SHARE_MAGIC) {
            return Err(malformed());
        }
        let mut field = |name: &str| -> std::result::Result<String, ShareError> {
            let line = lines.next().ok_or_else(malformed)?;
            let (k, v) = line.split_once(':').ok_or_else(malformed)?;
            if k.trim() != name {
                return Err(malformed());
            }
            Ok(v.trim().to_string())
        };
        let vault_id = field("vault")?.to_ascii_lowercase();
        let set_id = field("set")?.to_ascii_lowercase();
        let number: u8 = field("share")?.parse().map_err(|_| malformed())?;
        let k: u8 = field("threshold")?.parse().map_err(|_| malformed())?;
        let n: u8 = field("shares")?.parse().map_err(|_| malformed())?;
        let recipient = field("recipient")?;
        let mut secret_hex = Zeroizing::new(field("secret")?);
        secret_hex.make_ascii_lowercase();
        let checksum = field("checksum")?.to_ascii_lowercase();
        let secret = Zeroizing::new(unhex(&secret_hex).ok_or_else(malformed)?);
        let is_hex =
            |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_hex(&vault_id, 32) || !is_hex(&set_id, 16) || !is_hex(&checksum, 16) {
            return Err(malformed());
        }
        let share = ShareFile {
            vault_id,
            set_id,
            number,
            k,
            n,
            recipient,
            secret,
        };
        if share.checksum() != checksum {
            return Err(ShareError::Checksum {
                file: file.to_string(),
            });
        }
        // Checked after the checksum: a typo is reported as a typo.
        let spec_ok = (2..=n).contains(&k) && n <= MAX_SHARES;
        if !spec_ok
            || number == 0
            || number > n
            || share.secret.len() != 33
            || share.secret[0] != number
            || age::x25519::Recipient::from_str(&share.recipient).is_err()
        {
            return Err(malformed());
        }
        Ok(share)
    }
}

/// Lowercase hex to bytes (`None` if not hex).
fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The identity's 32 secret bytes (from its bech32 text).
fn secret_bytes(id: &age::x25519::Identity) -> Result<Zeroizing<Vec<u8>>> {
    let text = id.to_string();
    let (_, mut data, _) = bech32::decode(text.expose_secret())
        .map_err(|_| Error::Crypto(tr!("vault.not_the_recovery_key")))?;
    let bytes = Zeroizing::new(
        Vec::<u8>::from_base32(&data)
            .map_err(|_| Error::Crypto(tr!("vault.not_the_recovery_key")))?,
    );
    wipe_u5(&mut data);
    Ok(bytes)
}

/// The identity of 32 secret bytes.
fn identity_of(bytes: &[u8]) -> std::result::Result<age::x25519::Identity, ShareError> {
    let mut data = bytes.to_base32();
    let text = bech32::encode(SECRET_HRP, &data, bech32::Variant::Bech32)
        .map(|s| Zeroizing::new(s.to_ascii_uppercase()));
    wipe_u5(&mut data);
    let mut text = text.map_err(|_| ShareError::Mismatch)?;
    let id = age::x25519::Identity::from_str(&text).map_err(|_| ShareError::Mismatch);
    text.zeroize();
    id
}

/// Overwrites 5-bit groups of a secret (`u5` has no `Zeroize`).
fn wipe_u5(data: &mut [bech32::u5]) {
    let zero = bech32::u5::try_from_u8(0).expect("0 is a u5");
    for d in data.iter_mut() {
        *d = zero;
    }
}

/// Splits `id` into a new set of shares (new random polynomial, new set id).
pub fn split(
    id: &age::x25519::Identity,
    vault_id: &str,
    spec: ShareSpec,
) -> Result<Vec<ShareFile>> {
    let secret = secret_bytes(id)?;
    let set_id = hex(&crypto::random_bytes::<8>());
    let recipient = id.to_public().to_string();
    let shares = blahaj::Sharks(spec.k)
        .dealer(&secret)
        .take(spec.n as usize)
        .map(|s| {
            let bytes = Zeroizing::new(Vec::<u8>::from(&s));
            ShareFile {
                vault_id: vault_id.to_string(),
                set_id: set_id.clone(),
                number: bytes[0],
                k: spec.k,
                n: spec.n,
                recipient: recipient.clone(),
                secret: bytes,
            }
        })
        .collect();
    Ok(shares)
}

/// Combines shares of one set into the identity, after refusing shares of another vault
/// (`vault_id`, if known) or set, duplicates, too few, and a result that is not `recipient`.
/// `shares` pairs each share with the name of its file.
pub fn combine(
    shares: &[(String, ShareFile)],
    vault_id: Option<&str>,
    recipient: Option<&str>,
) -> std::result::Result<age::x25519::Identity, ShareError> {
    let Some((_, first)) = shares.first() else {
        return Err(ShareError::TooFew { have: 0, need: 2 });
    };
    let mut numbers = BTreeSet::new();
    for (file, s) in shares {
        if vault_id.is_some_and(|v| v != s.vault_id) || s.vault_id != first.vault_id {
            return Err(ShareError::OtherVault { file: file.clone() });
        }
        if s.set_id != first.set_id
            || s.k != first.k
            || s.n != first.n
            || s.recipient != first.recipient
        {
            return Err(ShareError::OtherSet { file: file.clone() });
        }
        if !numbers.insert(s.number) {
            return Err(ShareError::Duplicate { number: s.number });
        }
    }
    if numbers.len() < first.k as usize {
        return Err(ShareError::TooFew {
            have: numbers.len(),
            need: first.k,
        });
    }
    if recipient.is_some_and(|r| r != first.recipient) {
        return Err(ShareError::Mismatch);
    }
    let parts: Vec<blahaj::Share> = shares
        .iter()
        .map(|(_, s)| blahaj::Share::try_from(&s.secret[..]).map_err(|_| ShareError::Mismatch))
        .collect::<std::result::Result<_, _>>()?;
    let secret = Zeroizing::new(
        blahaj::Sharks(first.k)
            .recover(&parts)
            .map_err(|_| ShareError::Mismatch)?,
    );
    let id = identity_of(&secret)?;
    if id.to_public().to_string() != first.recipient {
        return Err(ShareError::Mismatch);
    }
    Ok(id)
}

/// What the user gave as recovery key: one plain key file, or shares.
pub enum RecoveryInput {
    Key(age::x25519::Identity),
    Shares(Vec<(String, ShareFile)>),
}

impl RecoveryInput {
    /// Reads each file (capped in size); a lone file that is a plain age key is the key.
    pub fn read(files: &[PathBuf], max: u64) -> Result<RecoveryInput> {
        let mut shares = Vec::new();
        for path in files {
            let text = Zeroizing::new(crate::error::read_capped_text(path, max)?);
            let name = path.display().to_string();
            if is_share(&text) {
                let share = ShareFile::parse(&text, &name)?;
                shares.push((name, share));
            } else if files.len() == 1 {
                return Ok(RecoveryInput::Key(super::admin::parse_recovery_key(&text)?));
            } else if super::admin::parse_recovery_key(&text).is_ok() {
                return Err(ShareError::KeyAndShares.into());
            } else {
                return Err(ShareError::Malformed { file: name }.into());
            }
        }
        Ok(RecoveryInput::Shares(shares))
    }

    /// Share numbers and set, for the log (`None` for a plain key).
    fn describe(&self) -> String {
        match self {
            RecoveryInput::Key(_) => "key file".into(),
            RecoveryInput::Shares(s) => {
                let nums: Vec<String> = s.iter().map(|(_, s)| s.number.to_string()).collect();
                let set = s.first().map(|(_, s)| s.set_id.as_str()).unwrap_or("");
                format!("shares {} of set {set}", nums.join(","))
            }
        }
    }
}

/// Whether `text` is a share file (its first non-comment line is the magic, any version).
fn is_share(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.starts_with("casevault-recovery-share/"))
}

/// Checked before anything is created or committed: `dir`'s parent is a folder and `dir` is
/// absent or an empty folder.
pub fn check_out_dir(dir: &Path) -> Result<()> {
    let bad = || {
        Error::from(ShareError::OutDir {
            path: dir.to_path_buf(),
        })
    };
    let parent = super::output::dir_of(dir);
    if !parent.is_dir() {
        return Err(bad());
    }
    match fs::symlink_metadata(dir) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => {
            let empty = fs::read_dir(dir)
                .map_err(|e| Error::io(dir, e))?
                .next()
                .is_none();
            if empty {
                Ok(())
            } else {
                Err(bad())
            }
        }
        Ok(_) => Err(bad()),
    }
}

/// Writes each share to its own new file (0600) in `dir` (created 0700 if absent; an empty
/// folder given is made 0700: it is about to hold secrets), each fsynced, then the folder.
/// On failure the files written so far are removed.
pub fn write_set(dir: &Path, shares: &[ShareFile], agency: &str) -> Result<Vec<PathBuf>> {
    use std::os::unix::fs::PermissionsExt;
    check_out_dir(dir)?;
    if dir.exists() {
        fs::set_permissions(dir, fs::Permissions::from_mode(crate::private::DIR_MODE))
            .map_err(|e| Error::io(dir, e))?;
    } else {
        crate::private::create_dir(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut written = Vec::new();
    let result = (|| -> Result<()> {
        for s in shares {
            let path = dir.join(s.file_name());
            let mut f = crate::private::create_new(&path).map_err(|e| Error::io(&path, e))?;
            written.push(path.clone());
            f.write_all(s.to_text(agency).as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| Error::io(&path, e))?;
        }
        super::dir::sync_dir(dir)
    })();
    if let Err(e) = result {
        for p in &written {
            let _ = fs::remove_file(p);
        }
        return Err(e);
    }
    Ok(written)
}

/// Reads every file in `dir` as a share (for an interrupted init: `None` unless all are).
pub fn read_dir_shares(dir: &Path, max: u64) -> Option<(Vec<PathBuf>, age::x25519::Identity)> {
    let mut shares = Vec::new();
    let mut paths = Vec::new();
    for e in fs::read_dir(dir).ok()? {
        let p = e.ok()?.path();
        let text = Zeroizing::new(crate::error::read_capped_text(&p, max).ok()?);
        let name = p.display().to_string();
        let share = ShareFile::parse(&text, &name).ok()?;
        shares.push((name, share));
        paths.push(p);
    }
    let id = combine(&shares, None, None).ok()?;
    Some((paths, id))
}

/// A new share set written by [`Session::recovery_reshare`].
#[derive(serde::Serialize)]
pub struct Reshared {
    pub set: String,
    pub k: u8,
    pub n: u8,
    pub files: Vec<PathBuf>,
}

impl Session {
    /// The vault's id, which every share names.
    fn vault_id(&self) -> Result<String> {
        store::meta::require_text(&self.conn, "vault_id")
    }

    /// The recovery identity from a key file or shares, checked against the recipient the
    /// founding log entry signed (never a database row). Returns it with a description of
    /// what was used, for the log entry.
    pub fn recovery_identity(
        &self,
        input: RecoveryInput,
    ) -> Result<(age::x25519::Identity, String)> {
        let expected = self
            .registry()
            .recovery()
            .map(str::to_string)
            .ok_or(ShareError::Mismatch)?;
        let how = input.describe();
        let id = match input {
            RecoveryInput::Key(id) => id,
            RecoveryInput::Shares(shares) => {
                combine(&shares, Some(&self.vault_id()?), Some(&expected))?
            }
        };
        if id.to_public().to_string() != expected {
            return Err(Error::Crypto(tr!("vault.not_the_recovery_key")));
        }
        Ok((id, how))
    }

    /// Makes a new share set of the same recovery key from `input` (an old set, or the key
    /// file) and writes it to `out`: a new polynomial and set id, so old shares never combine
    /// with new ones. The use is logged before any file is written (fail closed).
    pub fn recovery_reshare(
        &mut self,
        input: RecoveryInput,
        spec: ShareSpec,
        out: &Path,
    ) -> Result<Reshared> {
        self.require(Action::RecoveryUse)?;
        if spec.is_single() {
            return Err(ShareError::BadSpec {
                spec: spec.to_string(),
            }
            .into());
        }
        check_out_dir(out)?;
        let (id, how) = self.recovery_identity(input)?;
        let shares = split(&id, &self.vault_id()?, spec)?;
        let set = shares[0].set_id.clone();
        let tx = store::immediate(&self.conn)?;
        let mut e = self.log_entry(Kind::RecoveryKeyUse, None)?;
        e.detail = format!("reshare {spec} set {set} from {how}");
        self.log_append(&tx, &e)?;
        tx.commit()?;
        let agency = store::meta::require_text(&self.conn, "agency")?;
        let files = write_set(out, &shares, &agency)?;
        Ok(Reshared {
            set,
            k: spec.k,
            n: spec.n,
            files,
        })
    }
}
