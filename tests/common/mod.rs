//! Shared test fixture: a vault in a temporary directory driven through the real binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// Strong enough for the passphrase check (at least 10 characters, zxcvbn score 3).
pub const ADMIN_PW: &str = "admin passphrase: amber kettle orbit";

/// Passphrase used for each test staff member: "<name> pw: velvet harbour lantern".
pub fn pw(name: &str) -> String {
    format!("{name} pw: velvet harbour lantern")
}

pub struct TestVault {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

/// A command for the casevault binary with test settings: cheap KDF, English, this vault.
pub fn cmd(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_casevault"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CASEVAULT_TEST_MODE", "1")
        .env("CASEVAULT_SCRYPT_LOG_N", "2")
        .env("CASEVAULT_LANG", "en")
        .env("TMPDIR", dir.parent().unwrap().join("tmp"))
        // Each vault's own installation state (remembered log heads), never the user's.
        .env("CASEVAULT_STATE_DIR", state_dir(dir))
        .arg("--vault")
        .arg(dir)
        .stdin(Stdio::null());
    c
}

/// The remembered-state folder of the installation the tests run for the vault at `dir`:
/// beside the vault, outside it.
pub fn state_dir(dir: &Path) -> PathBuf {
    dir.parent().unwrap().join("state")
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "command failed: {}\n{}",
            self.stderr, self.stdout
        );
        self
    }
    pub fn fails(self) -> Run {
        assert_ne!(self.code, 0, "command should have failed: {}", self.stdout);
        assert!(!self.stderr.trim().is_empty(), "a failure must say why");
        self
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

pub fn run(mut c: Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("binary runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

impl TestVault {
    /// A new vault with admin `admin`, supervisor `li`, caseworkers `wang` and `chen`, auditor `audit`.
    /// The recovery key is the single file at [`TestVault::recovery_path`].
    pub fn new() -> TestVault {
        TestVault::with_recovery_shares("1/1")
    }

    /// The same with the recovery key in `spec` (`k/n`) shares in
    /// [`TestVault::shares_dir`] (`1/1`: the single file).
    pub fn with_recovery_shares(spec: &str) -> TestVault {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("tmp")).unwrap();
        let dir = tmp.path().join("vault");
        let v = TestVault { dir, tmp };
        let out = if spec == "1/1" {
            v.recovery_path()
        } else {
            v.shares_dir()
        };
        let mut c = cmd(&v.dir);
        c.env("CASEVAULT_NEW_PASSPHRASE", ADMIN_PW)
            .args([
                "init",
                "--agency",
                "Test Agency",
                "--admin",
                "admin",
                "--recovery-shares",
                spec,
                "--recovery-out",
            ])
            .arg(out);
        run(c).ok();
        for (n, r) in [
            ("li", "supervisor"),
            ("wang", "caseworker"),
            ("chen", "caseworker"),
            ("audit", "auditor"),
        ] {
            v.add_staff(n, r);
        }
        // The supervisor's first session makes the supervisor key new case epochs need.
        v.run("li", &["case", "list"]).ok();
        v
    }

    pub fn recovery_path(&self) -> PathBuf {
        self.tmp.path().join("recovery.txt")
    }

    /// Where [`TestVault::with_recovery_shares`] writes the share files.
    pub fn shares_dir(&self) -> PathBuf {
        self.tmp.path().join("recovery-shares")
    }

    /// Adds a member the way people do: the admin invites, the member enrols with their own
    /// passphrase, a serving supervisor (`li`) endorses a new supervisor, the admin approves.
    pub fn add_staff(&self, name: &str, role: &str) {
        let inv = self
            .run("admin", &["--json", "staff", "add", name, "--role", role])
            .ok()
            .json();
        let token = inv["invitation"].as_str().unwrap().to_string();
        let mut c = cmd(&self.dir);
        c.env("CASEVAULT_NEW_PASSPHRASE", pw(name))
            .args(["--json", "staff", "enrol", "--invite", &token]);
        let fp = run(c).ok().json()["fingerprint"]
            .as_str()
            .unwrap()
            .to_string();
        if role == "supervisor" && name != "li" {
            self.run("li", &["staff", "endorse", name, "--fingerprint", &fp])
                .ok();
        }
        self.run("admin", &["staff", "approve", name, "--fingerprint", &fp])
            .ok();
    }

    /// A command acting as `who` with their passphrase in the environment.
    pub fn as_(&self, who: &str) -> Command {
        let mut c = cmd(&self.dir);
        c.args(["--as", who])
            .env("CASEVAULT_PASSPHRASE", Self::passphrase(who));
        c
    }

    /// Runs `args` as `who`.
    pub fn run(&self, who: &str, args: &[&str]) -> Run {
        let mut c = self.as_(who);
        c.args(args);
        run(c)
    }

    /// Runs `args` as `who` with `stdin` piped in.
    pub fn run_stdin(&self, who: &str, args: &[&str], stdin: &str) -> Run {
        use std::io::Write;
        let mut c = self.as_(who);
        c.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        // The command may exit before reading (a usage error): a broken pipe is not a failure.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The passphrase of `who` in these tests.
    pub fn passphrase(who: &str) -> String {
        if who == "admin" {
            ADMIN_PW.to_string()
        } else {
            pw(who)
        }
    }

    /// A library session as `who` (for checks at the key and database level).
    pub fn session(&self, who: &str) -> casevault::vault::Session {
        casevault::vault::Session::open_in(
            &casevault::vault::VaultDir::new(&self.dir),
            who,
            &secrecy::SecretString::from(Self::passphrase(who)),
            &casevault::vault::remember::StateDir::new(state_dir(&self.dir)),
        )
        .unwrap()
    }

    /// A partner agency `name` with keys made by `agency keygen` (as admin); returns the
    /// directory holding the partner's key files.
    pub fn partner(&self, name: &str) -> PathBuf {
        let dir = self.tmp.path().join(format!("keys-{name}"));
        let r = self
            .run(
                "admin",
                &[
                    "--json",
                    "agency",
                    "keygen",
                    "--out-dir",
                    dir.to_str().unwrap(),
                ],
            )
            .ok();
        let rcpt = r.json()["age_recipient"].as_str().unwrap().to_string();
        let pubfile = dir.join("partner.minisign.pub");
        self.run(
            "admin",
            &[
                "agency",
                "add",
                name,
                "--age-recipient",
                &rcpt,
                "--minisign-pubkey",
                pubfile.to_str().unwrap(),
                "--contact",
                "021-555",
            ],
        )
        .ok();
        dir
    }

    /// Adds client `number` (as wang) and opens a case for it; returns the case id.
    pub fn client_with_case(&self, number: &str, name: &str) -> i64 {
        self.run(
            "wang",
            &["client", "add", "--number", number, "--name", name],
        )
        .ok();
        let r = self.run("wang", &["--json", "case", "open", number]).ok();
        r.json()["id"].as_i64().unwrap()
    }

    /// Adds a process record to a case as `who`; returns the record id.
    pub fn process_note(&self, who: &str, case: i64, text: &str) -> Run {
        let fields = serde_json::json!({
            "client_number": "any", "date": "2026-11-20", "session_aim": "check in", "narrative": text
        });
        self.run_stdin(
            who,
            &[
                "--json",
                "record",
                "add",
                "--case",
                &case.to_string(),
                "--kind",
                "process",
                "--fields",
                "-",
            ],
            &fields.to_string(),
        )
    }

    /// Adds a supervision note (tier 3 by default).
    pub fn supervision_note(&self, who: &str, case: i64, text: &str) -> Run {
        let fields = serde_json::json!({ "date": "2026-11-20", "topic": text });
        self.run_stdin(
            who,
            &[
                "--json",
                "record",
                "add",
                "--case",
                &case.to_string(),
                "--kind",
                "supervision",
                "--fields",
                "-",
            ],
            &fields.to_string(),
        )
    }
}

/// `consent add` arguments (JSON output) for the usual test consent: client C001 to the partner
/// "Partner" for housing support, process notes of tiers 1-2, signed 2025-01-01, until 2099.
pub const CONSENT_C001_PARTNER: &[&str] = &[
    "--json",
    "consent",
    "add",
    "--client",
    "C001",
    "--agency",
    "Partner",
    "--signer",
    "client",
    "--signer-name",
    "Zhang San",
    "--purpose",
    "housing support",
    "--kinds",
    "process",
    "--tiers",
    "1,2",
    "--revoke-how",
    "call 021-123",
    "--signed",
    "2025-01-01",
    "--expires",
    "2099-12-31",
];

impl TestVault {
    /// Opens `vault.db` the way a curious insider would (issue 10's test helper): `who`'s own
    /// identity file and passphrase unwrap `keys/dbkey.age`, and any SQLCipher client takes
    /// the raw key. Everything written through it bypasses casevault.
    pub fn insider_db(&self, who: &str) -> rusqlite::Connection {
        let id_file = std::fs::read(self.dir.join(format!("staff/{who}.age"))).unwrap();
        let me = casevault::crypto::StaffIdentity::open(
            &id_file,
            &secrecy::SecretString::from(Self::passphrase(who)),
            who,
        )
        .unwrap();
        let wrapped = std::fs::read(self.dir.join("keys/dbkey.age")).unwrap();
        let key = casevault::crypto::decrypt(&[&me.age], &wrapped)
            .unwrap()
            .unwrap();
        let conn = rusqlite::Connection::open(self.dir.join("vault.db")).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA key = \"x'{}'\"; PRAGMA busy_timeout = 5000;",
            casevault::crypto::hex(&key)
        ))
        .unwrap();
        conn
    }
}

/// `CONSENT_C001_PARTNER` naming `agency` instead of "Partner".
pub fn consent_c001(agency: &str) -> Vec<&str> {
    CONSENT_C001_PARTNER
        .iter()
        .map(|a| if *a == "Partner" { agency } else { *a })
        .collect()
}

/// Copies a directory tree (a backup of a vault, as an insider or an admin would take one).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let t = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &t);
        } else {
            std::fs::copy(&p, &t).unwrap();
        }
    }
}

impl TestVault {
    /// The checkpoint key of `generation` as `who` unwraps it with their own identity (what a
    /// supervisor could keep after leaving; generation 0 is the founding key).
    #[allow(dead_code)]
    pub fn generation_checkpoint_key(
        &self,
        who: &str,
        generation: i64,
    ) -> ed25519_dalek::SigningKey {
        let db = self.insider_db("wang");
        let wrapped: Vec<u8> = db
            .query_row(
                "SELECT wrapped FROM supervisor_keys WHERE generation = ?1 AND holder = ?2",
                rusqlite::params![generation, who],
                |r| r.get(0),
            )
            .unwrap();
        let id_file = std::fs::read(self.dir.join(format!("staff/{who}.age"))).unwrap();
        let me = casevault::crypto::StaffIdentity::open(
            &id_file,
            &secrecy::SecretString::from(Self::passphrase(who)),
            who,
        )
        .unwrap();
        let plain = casevault::crypto::decrypt(&[&me.age], &wrapped)
            .unwrap()
            .unwrap();
        let text = String::from_utf8(plain.to_vec()).unwrap();
        let hex = text
            .lines()
            .find_map(|l| l.strip_prefix("# checkpoint "))
            .expect("generation carries a checkpoint key");
        ed25519_dalek::SigningKey::from_bytes(&casevault::crypto::unhex(hex.trim()).unwrap())
    }

    /// The log's current checkpoint key as supervisor `who` unwraps it from their generations
    /// (what an insider needs to re-sign checkpoints since the key left the database).
    pub fn checkpoint_key(&self, who: &str) -> ed25519_dalek::SigningKey {
        let db = self.insider_db("wang");
        let note: String = db
            .query_row(
                "SELECT note FROM log_checkpoints ORDER BY size DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let id_file = std::fs::read(self.dir.join(format!("staff/{who}.age"))).unwrap();
        let me = casevault::crypto::StaffIdentity::open(
            &id_file,
            &secrecy::SecretString::from(Self::passphrase(who)),
            who,
        )
        .unwrap();
        let mut st = db
            .prepare(
                "SELECT wrapped FROM supervisor_keys WHERE holder = ?1 ORDER BY generation DESC",
            )
            .unwrap();
        let wrapped: Vec<Vec<u8>> = st
            .query_map([who], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let origin = casevault::log::Checkpoint::parse_unverified(&note)
            .unwrap()
            .origin;
        for w in wrapped {
            let plain = casevault::crypto::decrypt(&[&me.age], &w).unwrap().unwrap();
            let text = String::from_utf8(plain.to_vec()).unwrap();
            let Some(hex) = text.lines().find_map(|l| l.strip_prefix("# checkpoint ")) else {
                continue;
            };
            let seed: [u8; 32] = casevault::crypto::unhex(hex.trim()).unwrap();
            let k = ed25519_dalek::SigningKey::from_bytes(&seed);
            let vk = casevault::log::VerifierKey::new(&origin, k.verifying_key());
            if casevault::log::Checkpoint::open(&note, &vk).is_ok() {
                return k;
            }
        }
        panic!("{who} holds no current checkpoint key");
    }
}

/// Writes `frontier` as the log's stored frontier (what an insider who edited entries does to
/// make the next append's head check agree).
#[allow(dead_code)]
pub fn store_frontier(db: &rusqlite::Connection, frontier: &casevault::log::merkle::Frontier) {
    db.execute("DELETE FROM log_frontier", []).unwrap();
    for (level, hash) in frontier.levels() {
        db.execute(
            "INSERT INTO log_frontier (level, hash) VALUES (?1, ?2)",
            rusqlite::params![level, hash.as_slice()],
        )
        .unwrap();
    }
}

/// Puts the shipped policy plus `witness_quorum = 1` and the witness into force.
#[allow(dead_code)]
pub fn apply_witness_policy(v: &TestVault, wkey: &str, addr: &str) {
    let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/policy"));
    let dst = v.tmp.path().join("policy-w");
    std::fs::create_dir_all(dst.join("templates")).unwrap();
    let main = std::fs::read_to_string(src.join("policy.toml")).unwrap();
    let name = wkey.split('+').next().unwrap();
    std::fs::write(
        dst.join("policy.toml"),
        format!("witness_quorum = 1\n{main}\n[[witness]]\nname = \"{name}\"\nkey = \"{wkey}\"\nurl = \"http://{addr}\"\n"),
    )
    .unwrap();
    for e in std::fs::read_dir(src.join("templates")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join("templates").join(e.file_name())).unwrap();
    }
    apply_with_approval(v, &dst);
}

/// `policy apply` by the admin, with a supervisor's approval first when the change lowers
/// protection (adding a witness does, on a vault with records).
#[allow(dead_code)]
pub fn apply_with_approval(v: &TestVault, dir: &Path) {
    let r = v.run("admin", &["policy", "apply", dir.to_str().unwrap()]);
    if r.code != 0 {
        assert!(r.stderr.contains("policy approve"), "{}", r.stderr);
        v.run("li", &["policy", "approve", dir.to_str().unwrap()])
            .ok();
        v.run("admin", &["policy", "apply", dir.to_str().unwrap()])
            .ok();
    }
}
