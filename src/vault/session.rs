//! Opening a vault as a staff member.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use rusqlite::Connection;
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::dir::VaultDir;
use super::lock::VaultLock;
use super::remember::{self, StateDir};
use crate::crypto::{self, CaseKeySet, Key32, StaffIdentity};
use crate::domain::Case;
use crate::error::{Error, Result};
use crate::policy::{Action, Policy, Role};
use crate::store;

/// One staff member's open vault.
pub struct Session {
    pub dir: VaultDir,
    pub conn: Connection,
    pub me: StaffIdentity,
    pub role: Role,
    pub policy: Policy,
    pub(super) db_key: Key32,
    /// Case keys unwrapped in this session, by (case, epoch); wiped on drop.
    pub(super) key_cache: RefCell<HashMap<(i64, i64), Rc<CaseKeySet>>>,
    /// `vault.lock`, shared (exclusive while rotating the database key). Declared after
    /// `conn` so the database closes before the lock is released.
    pub(super) lock: VaultLock,
    /// The staff registry from the log, verified at open (`authority`).
    pub(super) registry: RefCell<crate::log::Registry>,
    /// Client ids by the keyed hash the log stores (for the log page; ids never change).
    pub(super) client_macs: RefCell<super::disclosure::ClientMacs>,
    /// Attestations already checked in this session: (log index, statement digest).
    pub(super) attested: RefCell<HashSet<(u64, [u8; 32])>>,
    /// How many modes of the vault's files and folders were too loose and were set to
    /// 0600/0700 when it was opened (see `crate::private`); the command line says so once.
    pub tightened: usize,
    /// Where this installation remembers the log heads it has seen (`remember.rs`).
    pub(super) state: StateDir,
}

/// Spends the time a real unlock would, so an unknown name cannot be told from a wrong
/// passphrase by timing (for the web sign-in and the CLI alike): tries `passphrase` on an
/// existing member's identity file (the same scrypt cost as a real one; whatever comes out is
/// dropped and wiped), or without any, seals a throwaway text at the configured cost.
pub fn dummy_unlock(dir: &VaultDir, passphrase: &SecretString) {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir.staff_dir())
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "age"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    if let Some(bytes) = files.first().and_then(|f| std::fs::read(f).ok()) {
        let _ = StaffIdentity::open(&bytes, passphrase, "");
        return;
    }
    let mut r = age::scrypt::Recipient::new(passphrase.clone());
    if let Ok(Some(n)) = crypto::scrypt_work_factor() {
        r.set_work_factor(n);
    }
    let _ = crypto::encrypt(&r, b"dummy");
}

impl Session {
    /// Unlocks `name`'s identity with `passphrase` and opens the database, checking the log
    /// against the head this installation remembers ([`StateDir::from_env`]).
    pub fn open(dir: &VaultDir, name: &str, passphrase: &SecretString) -> Result<Session> {
        Self::open_in(dir, name, passphrase, &StateDir::from_env()?)
    }

    /// [`Session::open`] with the remembered log state kept in `state`.
    pub fn open_in(
        dir: &VaultDir,
        name: &str,
        passphrase: &SecretString,
        state: &StateDir,
    ) -> Result<Session> {
        dir.check()?;
        let path = dir.identity(name);
        let file = match std::fs::read(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                dummy_unlock(dir, passphrase);
                return Err(Error::UnknownStaff(name.to_string()));
            }
            Err(e) => return Err(Error::io(path, e)),
        };
        let next = super::dir::identity_next(&path);
        let first = StaffIdentity::open(&file, passphrase, name)
            .and_then(|me| Self::with_identity_in(dir, me, state));
        match first {
            // A key rotation committed but was cut off before renaming the new identity file
            // into place: the new file opens the vault, and this finishes the rename.
            Err(Error::WrongPassphrase { .. } | Error::IdentitySuperseded { .. })
                if next.exists() =>
            {
                let bytes = std::fs::read(&next).map_err(|e| Error::io(&next, e))?;
                let me = StaffIdentity::open(&bytes, passphrase, name)?;
                let s = Self::with_identity_in(dir, me, state)?;
                std::fs::rename(&next, &path).map_err(|e| Error::io(&path, e))?;
                super::dir::sync_dir(&dir.staff_dir())?;
                Ok(s)
            }
            other => other,
        }
    }

    /// Opens the database with an already unlocked identity.
    pub fn with_identity(dir: &VaultDir, me: StaffIdentity) -> Result<Session> {
        Self::with_identity_in(dir, me, &StateDir::from_env()?)
    }

    /// [`Session::with_identity`] with the remembered log state kept in `state`.
    pub fn with_identity_in(
        dir: &VaultDir,
        me: StaffIdentity,
        state: &StateDir,
    ) -> Result<Session> {
        let name = me.name.clone();
        let lock = VaultLock::shared(&dir.lock())?;
        // Before SQLite opens the database, so -wal and -shm are made with the tightened mode.
        let tightened = crate::private::tighten(&dir.root);
        let (conn, db_key) = open_db(dir, &me.age, &name)?;
        // Role, keys and standing come from the signed registry, never from the staff row.
        let registry = super::authority::load_registry(&conn)?;
        let role = super::authority::check_root(&conn, &registry, &me)?;
        let sources: Vec<(String, String)> =
            serde_json::from_slice(&store::meta::require(&conn, "policy_sources")?).map_err(
                |_| Error::Tampered {
                    what: "vault setting",
                    id: "policy_sources".into(),
                },
            )?;
        // The stored copy counts only if the newest signed policy change names it (checked
        // before parsing, so a rewritten copy is a tamper alarm, not a parse error).
        super::policy_auth::check_in_force(&conn, &registry, &Policy::digest(&sources))?;
        let policy = Policy::from_stored(&sources)?;
        // Dates from here on ("today", expiry, deadlines) are the agency's.
        crate::domain::time::set_zone(policy.zone());
        // After the log's own checks (registry, policy), before anything this session
        // appends: the log must extend the head this installation last saw.
        remember::check_and_remember(&conn, &dir.root, state, &name)?;
        let session = Session {
            dir: dir.clone(),
            conn,
            me,
            role,
            policy,
            registry: RefCell::new(registry),
            client_macs: RefCell::default(),
            attested: RefCell::new(HashSet::new()),
            db_key,
            key_cache: RefCell::new(HashMap::new()),
            lock,
            tightened,
            state: state.clone(),
        };
        // A supervisor keeps the supervisor key current (the first one, and a fresh one after
        // a supervisor left), so caseworkers' new case epochs have a top tier to use.
        if session.role == Role::Supervisor
            && session.current_supervisor_key(&session.conn)?.is_none()
        {
            store::write(&session.conn, |tx| {
                session.renew_supervisor_key(tx).map(|_| ())
            })?;
        }
        // A supervisor covers what others appended since the last checkpoint (and hands the
        // checkpoint key over to the newest generation's).
        // A damaged log or a short key chain is an alarm appends and `log verify` report;
        // reads that need no log entry go on, and nothing is signed over it.
        match session.checkpoint_head() {
            Ok(()) => {}
            Err(Error::Log(e)) => crate::errln!("casevault: {}", e),
            Err(e) => return Err(e),
        }
        Ok(session)
    }

    /// Checks the log against the remembered head again and remembers the current one (what
    /// this session and others appended since it opened). Runs when the session ends.
    pub fn remember_head(&self) -> Result<remember::Outcome> {
        remember::check_and_remember(&self.conn, &self.dir.root, &self.state, &self.me.name)
    }

    /// The agency's name.
    pub fn agency(&self) -> Result<String> {
        store::meta::require_text(&self.conn, "agency")
    }

    /// Fails unless the actor's role may perform `action`.
    pub fn require(&self, action: Action) -> Result<()> {
        if self.policy.allows(self.role, action) {
            Ok(())
        } else {
            Err(Error::NotPermitted {
                action: action.label(),
                role: self.role.as_str().to_string(),
            })
        }
    }

    /// The case, if the actor may work on it: supervisors on every case, others when assigned.
    pub fn case_access(&self, case_id: i64) -> Result<Case> {
        let case = store::cases::get(&self.conn, case_id)?.ok_or(Error::NotFound {
            what: "case",
            id: case_id.to_string(),
        })?;
        if self.policy.all_cases(self.role) {
            return Ok(case);
        }
        if !case.workers.iter().any(|w| w == &self.me.name) {
            return Err(Error::NotAssigned {
                case: case_id.to_string(),
            });
        }
        // The assignment row is only an index: its signed statement decides.
        self.require_assignment(case_id)?;
        Ok(case)
    }
}

impl Drop for Session {
    /// Every command ends by dropping its session: the head it leaves (its own appends
    /// included) becomes the remembered one. A failure here weakens nothing already checked
    /// (the next open proves consistency from the older head) but is said, never hidden.
    fn drop(&mut self) {
        match self.remember_head() {
            // The log grew: with witnesses in the policy, their cosignature anchors every
            // entry (a tier-3 read, a record), not only disclosures, before anyone could cut
            // it out. Best effort: a disclosure still waits for its quorum on its own.
            Ok(super::remember::Outcome::Extended { .. }) if self.policy.witness_quorum > 0 => {
                match self.log_witness() {
                    Ok(run) if run.cosigned.len() >= run.need => {}
                    Ok(run) => crate::errln!(
                        "casevault: {}",
                        crate::tr!(
                            "witness.background_short",
                            have = run.cosigned.len(),
                            need = run.need
                        )
                    ),
                    Err(e) => crate::errln!("casevault: {}", e),
                }
            }
            Ok(_) => {}
            Err(e) => crate::errln!(
                "casevault: {}",
                crate::tr!("state.update_failed", reason = e.to_string())
            ),
        }
    }
}

/// Decrypts the database key with `identity` and opens the database; the caller holds
/// `vault.lock`. Tries `dbkey.age`, then `dbkey.next.age`: when only the next key opens the
/// database, a rotation crashed after its swap, and this finishes it by renaming the next key
/// into place. It never deletes a key file: only a rotation, under the exclusive lock, does.
pub(super) fn open_db(
    dir: &VaultDir,
    identity: &dyn age::Identity,
    name: &str,
) -> Result<(Connection, Key32)> {
    let mut last_err = None;
    for path in [dir.dbkey(), dir.dbkey_next()] {
        let wrapped = match std::fs::read(&path) {
            Ok(w) => w,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(path, e)),
        };
        let Some(plain) = crypto::decrypt(&[identity], &wrapped)? else {
            last_err.get_or_insert(Error::KeyNotHeld {
                staff: name.to_string(),
            });
            continue;
        };
        let key: Key32 =
            Zeroizing::new(plain.as_slice().try_into().map_err(|_| Error::Tampered {
                what: "database key file",
                id: path.display().to_string(),
            })?);
        match store::open(&dir.db(), &key, false) {
            Ok(conn) => {
                if path == dir.dbkey_next() {
                    match std::fs::rename(&path, dir.dbkey()) {
                        Ok(()) => super::dir::sync_dir(&dir.root.join("keys"))?,
                        // Another opener finished it first.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(Error::io(&path, e)),
                    }
                }
                return Ok((conn, key));
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| Error::VaultMissing(dir.root.clone())))
}
