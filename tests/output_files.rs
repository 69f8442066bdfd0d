//! Output files of commit-first commands (issue 9 item 5): destinations checked before the
//! commit, bare names, packet and signature both or neither, and `resend` after a failed
//! write giving the same disclosure without a second log entry.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use secrecy::ExposeSecret;
use serde_json::Value;

struct Fixture {
    v: TestVault,
    case: i64,
    consent: String,
    keys: PathBuf,
    our_pub: PathBuf,
}

fn fixture() -> Fixture {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    v.process_note("li", case, "first session").ok();
    let keys = v.partner("Partner");
    let r = v.run("li", common::CONSENT_C001_PARTNER).ok();
    let consent = r.json()["id"].as_i64().unwrap().to_string();
    let our_pub = v.tmp.path().join("our.pub");
    v.run(
        "admin",
        &["agency", "key", "--out", our_pub.to_str().unwrap()],
    )
    .ok();
    Fixture {
        v,
        case,
        consent,
        keys,
        our_pub,
    }
}

impl Fixture {
    fn export_cmd(&self, out: &str) -> Command {
        let mut c = self.v.as_("li");
        c.args([
            "--json",
            "referral",
            "export",
            "--case",
            &self.case.to_string(),
            "--to",
            "Partner",
            "--consent",
            &self.consent,
            "--purpose",
            "housing support",
            "--out",
            out,
        ]);
        c
    }

    fn log(&self) -> Vec<Value> {
        let r = self.v.run("li", &["--json", "log", "show"]).ok();
        r.json().as_array().unwrap().clone()
    }

    fn disclosures(&self, kind: &str) -> Vec<Value> {
        self.log()
            .into_iter()
            .filter(|e| e["kind"] == kind)
            .collect()
    }

    fn referrals(&self) -> Vec<Value> {
        let r = self.v.run("li", &["--json", "referral", "list"]).ok();
        r.json().as_array().unwrap().clone()
    }

    /// Stock `age` opens the packet with the partner's key and `minisign -V` accepts it.
    fn stock_tools_accept(&self, packet: &Path) {
        let age = Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(self.keys.join("partner.agekey"))
            .arg(packet)
            .output()
            .expect("age is installed");
        assert!(age.status.success(), "age -d failed");
        assert!(!age.stdout.is_empty());
        let mut sig = packet.as_os_str().to_owned();
        sig.push(".minisig");
        let ms = Command::new("minisign")
            .arg("-V")
            .arg("-p")
            .arg(&self.our_pub)
            .arg("-m")
            .arg(packet)
            .arg("-x")
            .arg(&sig)
            .output()
            .expect("minisign is installed");
        assert!(ms.status.success(), "minisign -V failed");
    }
}

fn tmp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("casevault-tmp") || n.ends_with(".tmp") || n.contains("partial"))
        .collect()
}

#[test]
fn a_bare_out_name_writes_packet_and_signature_in_the_current_directory() {
    let f = fixture();
    let work = f.v.tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let mut c = f.export_cmd("packet.age");
    c.current_dir(&work);
    let r = run(c).ok();
    assert_eq!(r.json()["file"], "packet.age");
    assert!(work.join("packet.age").is_file());
    assert!(work.join("packet.age.minisig").is_file());
    assert!(tmp_files(&work).is_empty());
    f.stock_tools_accept(&work.join("packet.age"));
}

#[test]
fn bad_destinations_are_refused_before_anything_is_committed() {
    let f = fixture();
    let before_log = f.log().len();
    // A missing folder.
    let missing = f.v.tmp.path().join("no-such-dir").join("packet.age");
    let r = run(f.export_cmd(missing.to_str().unwrap())).fails();
    assert!(r.stderr.contains("no-such-dir"), "{}", r.stderr);
    // An existing packet, and an existing signature beside a packet.
    let taken = f.v.tmp.path().join("taken.age");
    std::fs::write(&taken, b"someone else's file").unwrap();
    run(f.export_cmd(taken.to_str().unwrap())).fails();
    assert_eq!(std::fs::read(&taken).unwrap(), b"someone else's file");
    assert_eq!(f.log().len(), before_log, "nothing may be logged");
    assert!(f.referrals().is_empty(), "no referral row may exist");

    // An access request with an existing package file stays open.
    let rid = access_request(&f.v);
    let out = f.v.tmp.path().join("package.age");
    std::fs::write(receipt_of(&out), b"x").unwrap();
    std::fs::write(&out, b"x").unwrap();
    let recipient = age::x25519::Identity::generate().to_public().to_string();
    f.v.run(
        "li",
        &[
            "request",
            "fulfil",
            &rid,
            "--out",
            out.to_str().unwrap(),
            "--recipient",
            &recipient,
        ],
    )
    .fails();
    let shown = f.v.run("li", &["--json", "request", "show", &rid]).ok();
    assert_eq!(shown.json()["status"], "open");
    assert_eq!(f.log().len(), before_log);
}

#[test]
fn a_failed_write_after_commit_says_how_and_referral_resend_writes_the_same_packet() {
    let f = fixture();
    let out = f.v.tmp.path().join("packet.age");
    let mut c = f.export_cmd(out.to_str().unwrap());
    c.env("CASEVAULT_TEST_FAIL_AFTER_COMMIT", "1");
    let r = run(c).fails();
    assert!(!out.exists() && !PathBuf::from(format!("{}.minisig", out.display())).exists());
    let refs = f.referrals();
    assert_eq!(refs.len(), 1, "the disclosure is committed");
    let id = refs[0]["id"].as_i64().unwrap().to_string();
    assert!(
        r.stderr.contains(&format!("referral resend {id} --out")),
        "the message gives the command: {}",
        r.stderr
    );
    assert!(tmp_files(f.v.tmp.path()).is_empty());
    let logged = f.disclosures("referral_export");
    assert_eq!(logged.len(), 1);
    let log_len = f.log().len();

    let r =
        f.v.run(
            "li",
            &[
                "--json",
                "referral",
                "resend",
                &id,
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .ok();
    let j = r.json();
    assert_eq!(j["packet_id"], refs[0]["packet_id"]);
    assert_eq!(j["content_sha256"], logged[0]["disclosed_sha256"]);
    f.stock_tools_accept(&out);
    assert_eq!(f.log().len(), log_len, "no second log entry");
    assert_eq!(f.disclosures("referral_export").len(), 1);
    // It opens as the same packet through casevault's own reader too.
    assert!(f.v.tmp.path().join("packet.age.minisig").exists());
    // Once written, a resend to the same place is refused (no overwrite).
    f.v.run(
        "li",
        &["referral", "resend", &id, "--out", out.to_str().unwrap()],
    )
    .fails();
    // An auditor cannot resend.
    let other = f.v.tmp.path().join("other.age");
    f.v.run(
        "audit",
        &["referral", "resend", &id, "--out", other.to_str().unwrap()],
    )
    .fails();
    assert!(!other.exists());
}

fn access_request(v: &TestVault) -> String {
    let r = v
        .run(
            "li",
            &[
                "--json",
                "request",
                "add",
                "--kind",
                "access",
                "--client",
                "C001",
                "--requester",
                "Zhang San",
            ],
        )
        .ok();
    r.json()["id"].as_i64().unwrap().to_string()
}

fn receipt_of(p: &Path) -> PathBuf {
    PathBuf::from(format!("{}.receipt.json", p.display()))
}

#[test]
fn a_failed_access_package_write_is_resent_with_the_same_plaintext() {
    let f = fixture();
    let rid = access_request(&f.v);
    let id = age::x25519::Identity::generate();
    let keyfile = f.v.tmp.path().join("client.agekey");
    std::fs::write(&keyfile, format!("{}\n", id.to_string().expose_secret())).unwrap();
    let recipient = id.to_public().to_string();
    let out = f.v.tmp.path().join("package.age");
    let mut c = f.v.as_("li");
    c.env("CASEVAULT_TEST_FAIL_AFTER_COMMIT", "1").args([
        "request",
        "fulfil",
        &rid,
        "--out",
        out.to_str().unwrap(),
        "--recipient",
        &recipient,
    ]);
    let r = run(c).fails();
    assert!(
        r.stderr.contains(&format!("request resend {rid} --out")),
        "{}",
        r.stderr
    );
    assert!(!out.exists() && !receipt_of(&out).exists());
    let shown = f.v.run("li", &["--json", "request", "show", &rid]).ok();
    assert_eq!(shown.json()["status"], "fulfilled");
    let logged = f.disclosures("access_package");
    assert_eq!(logged.len(), 1);
    let log_len = f.log().len();

    // The stored recipient is used; the plaintext hash is the logged one.
    f.v.run(
        "li",
        &["request", "resend", &rid, "--out", out.to_str().unwrap()],
    )
    .ok();
    assert!(receipt_of(&out).exists());
    let plain = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&keyfile)
        .arg(&out)
        .output()
        .unwrap();
    assert!(plain.status.success());
    let sha = casevault::crypto::hex(&casevault::crypto::sha256(&plain.stdout));
    assert_eq!(logged[0]["disclosed_sha256"], sha.as_str());
    assert_eq!(f.log().len(), log_len, "no second log entry");
}

#[test]
fn a_failed_partner_answer_is_resent_through_request_resend() {
    let f = fixture();
    let r =
        f.v.run(
            "li",
            &[
                "--json",
                "request",
                "add",
                "--kind",
                "partner",
                "--client",
                "C001",
                "--requester",
                "Partner",
                "--authority",
                "partner",
                "--identity-check",
                "letter on file",
            ],
        )
        .ok();
    let rid = r.json()["id"].as_i64().unwrap().to_string();
    let out = f.v.tmp.path().join("answer.age");
    let mut c = f.v.as_("li");
    c.env("CASEVAULT_TEST_FAIL_AFTER_COMMIT", "1").args([
        "request",
        "fulfil",
        &rid,
        "--out",
        out.to_str().unwrap(),
        "--case",
        &f.case.to_string(),
        "--consent",
        &f.consent,
        "--purpose",
        "housing support",
    ]);
    let r = run(c).fails();
    assert!(
        r.stderr.contains(&format!("request resend {rid}")),
        "{}",
        r.stderr
    );
    let logged = f.disclosures("partner_response");
    assert_eq!(logged.len(), 1);
    let log_len = f.log().len();
    let j =
        f.v.run(
            "li",
            &[
                "--json",
                "request",
                "resend",
                &rid,
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .ok()
        .json();
    assert_eq!(j["content_sha256"], logged[0]["disclosed_sha256"]);
    f.stock_tools_accept(&out);
    assert_eq!(f.log().len(), log_len);
}

#[test]
fn a_kill_between_signature_and_packet_is_recovered_by_resend() {
    let f = fixture();
    let work = f.v.tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let mut c = f.export_cmd("packet.age");
    c.current_dir(&work)
        .env("CASEVAULT_TEST_PAUSE_AT", "packet_rename")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let sig = work.join("packet.age.minisig");
    let start = Instant::now();
    while !sig.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never reached the packet rename"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !work.join("packet.age").exists(),
        "killed before the packet"
    );
    assert!(sig.exists());
    let id = f.referrals()[0]["id"].as_i64().unwrap().to_string();
    let log_len = f.log().len();

    let mut c = f.v.as_("li");
    c.current_dir(&work)
        .args(["referral", "resend", &id, "--out", "packet.age"]);
    run(c).ok();
    assert!(work.join("packet.age").exists() && sig.exists());
    assert!(tmp_files(&work).is_empty(), "{:?}", tmp_files(&work));
    f.stock_tools_accept(&work.join("packet.age"));
    assert_eq!(f.log().len(), log_len);
}

#[test]
fn init_takes_a_bare_name_and_keygen_writes_all_files_or_none() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("tmp")).unwrap();
    let vault = tmp.path().join("vault");
    let init = |recovery: &str| {
        let mut c = cmd(&vault);
        c.current_dir(tmp.path())
            .env("CASEVAULT_NEW_PASSPHRASE", ADMIN_PW)
            .args([
                "init",
                "--agency",
                "Test Agency",
                "--admin",
                "admin",
                "--recovery-shares",
                "1/1",
                "--recovery-out",
                recovery,
            ]);
        run(c)
    };
    init("missing/recovery.txt").fails();
    assert!(!vault.join("VERSION").exists(), "no vault made");
    init("recovery.txt").ok();
    let rec = tmp.path().join("recovery.txt");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&rec).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(tmp_files(tmp.path()).is_empty());

    // agency keygen: all four files or none (one already there: nothing written).
    let keys = tmp.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(keys.join("partner.minisign.pub"), b"mine").unwrap();
    let mut c = cmd(&vault);
    c.env("CASEVAULT_PASSPHRASE", ADMIN_PW).args([
        "--as",
        "admin",
        "agency",
        "keygen",
        "--out-dir",
        keys.to_str().unwrap(),
    ]);
    run(c).fails();
    assert!(!keys.join("partner.agekey").exists());
    assert!(!keys.join("partner.minisign.key").exists());
    assert_eq!(
        std::fs::read(keys.join("partner.minisign.pub")).unwrap(),
        b"mine"
    );
}

#[test]
fn a_correction_notice_that_cannot_be_written_is_resent_by_its_referral() {
    let f = fixture();
    let out = f.v.tmp.path().join("p.age");
    run(f.export_cmd(out.to_str().unwrap())).ok();
    let rec = f.referrals()[0]["records"][0].as_i64().unwrap().to_string();
    let r =
        f.v.run(
            "li",
            &[
                "--json",
                "request",
                "add",
                "--kind",
                "correction",
                "--client",
                "C001",
                "--requester",
                "Zhang San",
                "--identity-check",
                "ID card seen",
                "--record",
                &rec,
            ],
        )
        .ok();
    let rid = r.json()["id"].as_i64().unwrap().to_string();
    let fixed = r#"{"client_number":"C001","date":"2026-11-21","session_aim":"check in","narrative":"right date"}"#;
    f.v.run_stdin(
        "li",
        &["--json", "request", "accept", &rid, "--fields", "-"],
        fixed,
    )
    .ok();
    let dir = f.v.tmp.path().join("notices");
    let mut c = f.v.as_("li");
    c.env("CASEVAULT_TEST_FAIL_AFTER_COMMIT", "1").args([
        "request",
        "notify",
        &rid,
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    let r = run(c).fails();
    let refs = f.referrals();
    assert_eq!(refs.len(), 2, "the notice is committed");
    let notice = refs[1]["id"].as_i64().unwrap().to_string();
    assert!(
        r.stderr
            .contains(&format!("referral resend {notice} --out")),
        "{}",
        r.stderr
    );
    let logged = f.disclosures("correction_notice");
    let log_len = f.log().len();
    let file = dir.join(format!("notice-{rid}-{}.age", refs[0]["id"]));
    assert!(!file.exists());
    let j =
        f.v.run(
            "li",
            &[
                "--json",
                "referral",
                "resend",
                &notice,
                "--out",
                file.to_str().unwrap(),
            ],
        )
        .ok()
        .json();
    assert!(logged
        .iter()
        .any(|e| e["disclosed_sha256"] == j["content_sha256"]));
    f.stock_tools_accept(&file);
    assert_eq!(f.log().len(), log_len);
}

/// Two exports to the same `--out` at once: the second is refused before it commits anything
/// (the first holds the destination), so no disclosure is logged without its file.
#[test]
fn a_second_export_to_the_same_destination_is_refused_before_it_commits() {
    let f = fixture();
    let work = f.v.tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let mut c = f.export_cmd("same.age");
    c.current_dir(&work)
        .env("CASEVAULT_TEST_PAUSE_AT", "packet_rename")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut first = c.spawn().unwrap();
    let sig = work.join("same.age.minisig");
    let start = Instant::now();
    while !sig.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "first never wrote"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let logged = f.disclosures("referral_export").len();
    let mut c = f.export_cmd("same.age");
    c.current_dir(&work);
    let r = run(c).fails();
    assert!(
        r.stderr.contains("another command is writing"),
        "{}",
        r.stderr
    );
    assert_eq!(f.disclosures("referral_export").len(), logged);
    first.kill().unwrap();
    first.wait().unwrap();
    // The killed first export is recovered as before; only one disclosure exists.
    let id = f.referrals()[0]["id"].as_i64().unwrap().to_string();
    let mut c = f.v.as_("li");
    c.current_dir(&work)
        .args(["referral", "resend", &id, "--out", "same.age"]);
    run(c).ok();
    f.stock_tools_accept(&work.join("same.age"));
    assert_eq!(f.referrals().len(), 1);
    assert!(tmp_files(&work).is_empty(), "{:?}", tmp_files(&work));
}

/// A full output disk is found before the commit: nothing is logged, no file is left.
#[test]
fn a_full_output_disk_is_refused_before_anything_is_committed() {
    let f = fixture();
    let mnt = f.v.tmp.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        assert!(
            std::env::var("CI").is_err(),
            "CI runs as root and can mount"
        );
        eprintln!("skipping: cannot mount a tmpfs here (needs root)");
        return;
    }
    // Fill it but for a few KiB.
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=1k", "count=1020"])
        .arg(format!("of={}", mnt.join("fill").display()))
        .stderr(Stdio::null())
        .status();
    let out = mnt.join("p.age");
    let r = run(f.export_cmd(out.to_str().unwrap())).fails();
    let _ = Command::new("umount").arg(&mnt).status();
    assert!(f.disclosures("referral_export").is_empty(), "{}", r.stderr);
    assert!(f.referrals().is_empty());
}
