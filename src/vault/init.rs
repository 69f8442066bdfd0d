//! Creating a vault.

use std::fs;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use super::dir::{valid_staff_name, write_atomic, VaultDir, VERSION_LINE};
use super::disclosure;
use super::recovery::{self, ShareSpec};
use crate::crypto::{self, hex, StaffIdentity};
use crate::domain::time::now;
use crate::error::{Error, Result};
use crate::log::{Kind, NewEntry};
use crate::policy::{Policy, Role};
use crate::store;
use crate::tr;

/// What `init` needs.
pub struct InitOptions {
    pub agency: String,
    pub admin: String,
    pub admin_passphrase: SecretString,
    pub policy_sources: Vec<(String, String)>,
    /// Where the recovery key is written, once: with [`ShareSpec::SINGLE`] a new file, else
    /// a new (or empty) folder that receives one file per share.
    pub recovery_out: PathBuf,
    /// How the recovery key is handed out: one key file (`1/1`) or k-of-n shares.
    pub recovery_shares: ShareSpec,
}

/// Creates a vault in `dir` (absent or empty). On failure, removes what it created.
pub fn init(dir: &VaultDir, opts: InitOptions) -> Result<()> {
    if fs::read_dir(&dir.root).is_ok_and(|mut d| d.next().is_some()) {
        clear_interrupted(dir, &opts)?;
    }
    // The recovery key's destination is checked before anything is created.
    if opts.recovery_shares.is_single() {
        super::output::OutputSet::single(&opts.recovery_out).check(false)?;
    } else {
        recovery::check_out_dir(&opts.recovery_out)?;
    }
    if !valid_staff_name(&opts.admin) {
        return Err(Error::Invalid(tr!(
            "vault.bad_staff_name",
            name = opts.admin
        )));
    }
    if opts.agency.trim().is_empty() {
        return Err(Error::Invalid(tr!("vault.agency_required")));
    }
    crate::domain::text::single_line("agency", &opts.agency, crate::domain::text::NAME_MAX)?;
    Policy::from_sources(&opts.policy_sources)?;
    check_new_passphrase(&opts.admin_passphrase, &[&opts.admin, &opts.agency])?;
    let existed = dir.root.exists();
    let result = create(dir, &opts);
    if result.is_err() {
        if existed {
            for sub in [
                "VERSION",
                "vault.db",
                "vault.db-wal",
                "vault.db-shm",
                "keys",
                "staff",
            ] {
                let p = dir.root.join(sub);
                let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
            }
        } else {
            let _ = fs::remove_dir_all(&dir.root);
        }
    }
    result
}

/// Init's own files: what a killed `init` can leave (`VERSION` is written last, so a directory
/// without it never was a vault).
const INIT_FILES: &[&str] = &[
    "vault.db",
    "vault.db-wal",
    "vault.db-shm",
    "vault.db-journal",
    "vault.lock",
    "keys",
    "staff",
];

/// A directory that only an interrupted `init` could have left (no `VERSION`, nothing but
/// init's own files) is cleared so init can start again; anything else is refused. A recovery
/// key file already at the destination is replaced only if it opens that directory's key file
/// (it was written by the interrupted init, after the key file): never someone's real key.
fn clear_interrupted(dir: &VaultDir, opts: &InitOptions) -> Result<()> {
    let exists = || Error::VaultExists(dir.root.clone());
    if dir.version().exists() {
        return Err(exists());
    }
    let entries: Vec<String> = fs::read_dir(&dir.root)
        .map_err(|e| Error::io(&dir.root, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let ours = |n: &String| {
        INIT_FILES.contains(&n.as_str()) || (n.starts_with('.') && n.ends_with(".tmp"))
    };
    if !entries.iter().all(ours) {
        return Err(exists());
    }
    if !opts.recovery_shares.is_single() {
        // Shares an interrupted init wrote: removed only if together they open this
        // directory's key file; an empty folder stays (init writes into it).
        if opts.recovery_out.is_dir()
            && fs::read_dir(&opts.recovery_out).is_ok_and(|mut d| d.next().is_some())
        {
            let (files, id) =
                recovery::read_dir_shares(&opts.recovery_out, 64 << 10).ok_or_else(exists)?;
            let wrapped = fs::read(dir.dbkey()).map_err(|_| exists())?;
            if crypto::decrypt(&[&id as &dyn age::Identity], &wrapped)?.is_none() {
                return Err(exists());
            }
            for f in files {
                fs::remove_file(&f).map_err(|e| Error::io(&f, e))?;
            }
        }
    } else if opts.recovery_out.exists() {
        let text =
            zeroize::Zeroizing::new(fs::read_to_string(&opts.recovery_out).map_err(|_| exists())?);
        let id = super::admin::parse_recovery_key(&text).map_err(|_| exists())?;
        let wrapped = fs::read(dir.dbkey()).map_err(|_| exists())?;
        if crypto::decrypt(&[&id as &dyn age::Identity], &wrapped)?.is_none() {
            return Err(exists());
        }
        fs::remove_file(&opts.recovery_out).map_err(|e| Error::io(&opts.recovery_out, e))?;
    }
    for n in entries {
        let p = dir.root.join(n);
        fs::remove_dir_all(&p)
            .or_else(|_| fs::remove_file(&p))
            .map_err(|e| Error::io(&p, e))?;
    }
    Ok(())
}

fn create(dir: &VaultDir, opts: &InitOptions) -> Result<()> {
    for d in [dir.root.clone(), dir.root.join("keys"), dir.staff_dir()] {
        crate::private::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    }
    // An existing empty folder given as the vault is made private too.
    crate::private::tighten(&dir.root);
    let at = now();
    let mut admin = StaffIdentity::generate(&opts.admin);
    let recovery = age::x25519::Identity::generate();
    let db_key = crypto::random_key32();
    let vault_id = hex(&crypto::random_bytes::<16>());

    let conn = store::open(&dir.db(), &db_key, true)?;
    store::write(&conn, |tx| {
        let hmac_key = crypto::random_key32();
        let sources =
            serde_json::to_vec(&opts.policy_sources).map_err(|e| Error::Invalid(e.to_string()))?;
        store::meta::set(tx, "agency", opts.agency.as_bytes())?;
        store::meta::set(tx, "vault_id", vault_id.as_bytes())?;
        store::meta::set(tx, "created_at", at.to_string().as_bytes())?;
        store::meta::set(tx, "policy_sources", &sources)?;
        store::meta::set(
            tx,
            "recovery_recipient",
            recovery.to_public().to_string().as_bytes(),
        )?;
        // The founding checkpoint key is not stored in the database: wrapped to the founder
        // and the recovery key only (`checkpoint_key.rs`).
        let ckpt = super::checkpoint_key::found(
            tx,
            &opts.admin,
            &admin.recipient(),
            &recovery.to_public(),
        )?;
        store::meta::set(tx, "id_hmac_key", &hmac_key[..])?;
        store::staff::insert(
            tx,
            &opts.admin,
            Role::Admin,
            &admin.public(),
            at,
            &opts.admin,
        )?;
        // The log's first entry: the founding admin registers their own key (anchored by
        // the agency checkpoint key); the second records the policy in force.
        let mut reg = NewEntry::new(
            Kind::StaffRegistered {
                name: opts.admin.clone(),
                role: Role::Admin.as_str().into(),
                key: admin.public().verify_key,
            },
            &opts.admin,
        );
        reg.detail = format!(
            "age={} recovery={}",
            admin.public().age_recipient,
            recovery.to_public()
        );
        disclosure::append_as_with(tx, &reg, &admin.signing, &[&ckpt], at)?;
        let mut pol = NewEntry::new(Kind::PolicyChange, &opts.admin);
        let digest = Policy::digest(&opts.policy_sources);
        pol.detail = format!("policy {}", hex(&digest));
        pol.disclosed_sha256 = Some(digest);
        let index = disclosure::append_as_with(tx, &pol, &admin.signing, &[&ckpt], at)?.index;
        super::policy_auth::keep_history(tx, &digest, index, &sources)?;
        disclosure::verifier_key(tx)
    })
    .map(|verifier| {
        admin.root = Some(crypto::RootPin {
            founder: admin.public().verify_key,
            log_verifier: verifier,
        })
    })?;
    drop(conn);

    write_atomic(
        &dir.identity(&opts.admin),
        &admin.seal(&opts.admin_passphrase)?,
    )?;
    let wrapped =
        crypto::encrypt_to_many(&[&admin.recipient(), &recovery.to_public()], &db_key[..])?;
    write_atomic(&dir.dbkey(), &wrapped)?;
    // After the key file it opens (so a rerun after a crash can tell it is ours), before
    // VERSION (so a vault never exists without its recovery key file or shares).
    if opts.recovery_shares.is_single() {
        write_recovery(opts, &recovery)?;
    } else {
        let shares = recovery::split(&recovery, &vault_id, opts.recovery_shares)?;
        recovery::write_set(&opts.recovery_out, &shares, &opts.agency)?;
    }
    // Written last: a directory without it is not a vault.
    write_atomic(&dir.version(), format!("{VERSION_LINE}\n").as_bytes())
}

/// Refuses a weak new passphrase (`domain::passphrase`); `context` names words it must not
/// lean on (staff name, agency).
pub fn check_new_passphrase(pass: &SecretString, context: &[&str]) -> Result<()> {
    crate::domain::passphrase::check(pass, context).map_err(Error::WeakPassphrase)
}

/// Writes the recovery identity to the file the admin named, readable by its owner only.
fn write_recovery(opts: &InitOptions, recovery: &age::x25519::Identity) -> Result<()> {
    let text = zeroize::Zeroizing::new(format!(
        "# casevault recovery key: {}\n# {}\n{}\n",
        opts.agency,
        tr!("vault.recovery_comment"),
        recovery.to_string().expose_secret()
    ));
    super::output::OutputSet::single(&opts.recovery_out).write(text.as_bytes(), &[], false)
}
