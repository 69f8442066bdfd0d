//! Issue 12, item 1: unlock once per work session. The agent runs as a real process on a
//! socket in a per-test runtime folder; commands take the identity from it instead of asking
//! for the passphrase.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{cmd, run, Run, TestVault};

/// A test's runtime folder (`XDG_RUNTIME_DIR`), so no test meets another's agent.
fn runtime(v: &TestVault) -> PathBuf {
    let d = v.tmp.path().join("run");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

/// A command for `who` with no passphrase at all (no file, no variable, no terminal).
fn bare(v: &TestVault, rt: &Path, who: &str) -> Command {
    let mut c = cmd(&v.dir);
    c.env("XDG_RUNTIME_DIR", rt).args(["--as", who]);
    c
}

fn bare_run(v: &TestVault, rt: &Path, who: &str, args: &[&str]) -> Run {
    let mut c = bare(v, rt, who);
    c.args(args);
    run(c)
}

/// The agent in the foreground as a child of the test; killed when dropped.
struct Agent {
    child: Child,
    socket: PathBuf,
}

impl Agent {
    fn spawn(v: &TestVault, rt: &Path, idle_secs: Option<u64>) -> Agent {
        let mut c = cmd(&v.dir);
        c.env("XDG_RUNTIME_DIR", rt)
            .args(["agent", "start", "--foreground"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(s) = idle_secs {
            c.env("CASEVAULT_AGENT_IDLE_SECS", s.to_string());
        }
        let child = c.spawn().unwrap();
        let socket = rt.join("casevault").join("agent.sock");
        let a = Agent { child, socket };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !a.socket.exists() {
            assert!(Instant::now() < deadline, "the agent never made its socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        a
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pass_file(v: &TestVault, who: &str) -> PathBuf {
    let p = v.tmp.path().join(format!("{who}.pass"));
    std::fs::write(&p, TestVault::passphrase(who)).unwrap();
    p
}

fn unlock(v: &TestVault, rt: &Path, who: &str) -> Run {
    let mut c = bare(v, rt, who);
    c.arg("--passphrase-file")
        .arg(pass_file(v, who))
        .args(["agent", "unlock"]);
    run(c)
}

fn status(v: &TestVault, rt: &Path) -> serde_json::Value {
    let mut c = cmd(&v.dir);
    c.env("XDG_RUNTIME_DIR", rt)
        .args(["--json", "agent", "status"]);
    run(c).ok().json()
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            files_under(&p, out);
        } else if m.is_file() {
            out.push(p);
        }
    }
}

#[test]
fn unlock_once_then_commands_need_no_passphrase() {
    let v = TestVault::new();
    let rt = runtime(&v);
    // Without an agent there is no passphrase to be had: the command fails.
    bare_run(&v, &rt, "wang", &["client", "list"]).fails();
    let agent = Agent::spawn(&v, &rt, None);

    // Folder 0700 and socket 0600, both ours.
    let d = std::fs::symlink_metadata(rt.join("casevault")).unwrap();
    assert_eq!(d.mode() & 0o777, 0o700);
    let s = std::fs::symlink_metadata(&agent.socket).unwrap();
    assert_eq!(s.mode() & 0o777, 0o600);
    assert_eq!(s.uid(), d.uid());

    // Locked: still no passphrase.
    bare_run(&v, &rt, "wang", &["client", "list"]).fails();
    unlock(&v, &rt, "wang").ok();

    // Now the same commands work with no passphrase anywhere.
    bare_run(
        &v,
        &rt,
        "wang",
        &["client", "add", "--number", "C1", "--name", "张三"],
    )
    .ok();
    let list = bare_run(&v, &rt, "wang", &["--json", "client", "list"]).ok();
    assert!(list.stdout.contains("C1"), "{}", list.stdout);

    // Disabled: by flag or variable.
    bare_run(&v, &rt, "wang", &["--no-agent", "client", "list"]).fails();
    let mut c = bare(&v, &rt, "wang");
    c.env("CASEVAULT_AGENT", "0").args(["client", "list"]);
    run(c).fails();
    // Another member is not unlocked: fall back (and fail without a passphrase).
    bare_run(&v, &rt, "chen", &["client", "list"]).fails();
    // Another vault (a copy elsewhere) is not unlocked either.
    let other = v.tmp.path().join("copy").join("vault");
    common::copy_dir(&v.dir, &other);
    let mut c = cmd(&other);
    c.env("XDG_RUNTIME_DIR", &rt)
        .args(["--as", "wang", "client", "list"]);
    run(c).fails();

    // Status: who is held, and the agent's hardening.
    let st = status(&v, &rt);
    assert_eq!(st["running"], true);
    let held = st["unlocked"].as_array().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["member"], "wang");
    assert_eq!(st["dumpable"], false, "{st}");
    assert_eq!(st["core_limit"], 0);
    let pid = agent.child.id();
    assert_eq!(st["pid"], pid);
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let cols: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&cols[4..6], &["0", "0"], "{core}");
    // A non-dumpable process's /proc files belong to root (visible when tests are not root).
    let me = std::fs::metadata(v.tmp.path()).unwrap().uid();
    if me != 0 {
        let owner = std::fs::metadata(format!("/proc/{pid}/environ"))
            .unwrap()
            .uid();
        assert_eq!(owner, 0);
    }

    // Canary: nothing secret under the runtime folder (the socket is the only file there).
    let mut files = Vec::new();
    files_under(&rt, &mut files);
    let age_secret = {
        let s = v.session("wang");
        use secrecy::ExposeSecret;
        s.me.age.to_string().expose_secret().to_string()
    };
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&TestVault::passphrase("wang")),
            "{}",
            f.display()
        );
        assert!(!text.contains(&age_secret), "{}", f.display());
        assert!(!text.contains("AGE-SECRET-KEY"), "{}", f.display());
    }

    // Explicit lock: wiped, the passphrase is needed again.
    let mut c = cmd(&v.dir);
    c.env("XDG_RUNTIME_DIR", &rt)
        .args(["--json", "agent", "lock"]);
    assert_eq!(run(c).ok().json()["wiped"], 1);
    bare_run(&v, &rt, "wang", &["client", "list"]).fails();
    assert_eq!(status(&v, &rt)["unlocked"].as_array().unwrap().len(), 0);
}

#[test]
fn idle_lock_wipes_the_identity() {
    let v = TestVault::new();
    let rt = runtime(&v);
    let _agent = Agent::spawn(&v, &rt, Some(2));
    unlock(&v, &rt, "wang").ok();
    bare_run(&v, &rt, "wang", &["client", "list"]).ok();
    assert_eq!(status(&v, &rt)["unlocked"].as_array().unwrap().len(), 1);
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(status(&v, &rt)["unlocked"].as_array().unwrap().len(), 0);
    bare_run(&v, &rt, "wang", &["client", "list"]).fails();
}

#[test]
fn a_changed_identity_file_is_not_served() {
    let v = TestVault::new();
    let rt = runtime(&v);
    let _agent = Agent::spawn(&v, &rt, None);
    unlock(&v, &rt, "wang").ok();
    bare_run(&v, &rt, "wang", &["client", "list"]).ok();
    // A new passphrase rewrites the identity file: the agent's copy is no longer used.
    let new_pw = "wang new pw: copper meadow signal";
    // Changing the passphrase asks for the current one even while the agent holds it.
    let mut c = bare(&v, &rt, "wang");
    c.env("CASEVAULT_NEW_PASSPHRASE", new_pw)
        .args(["staff", "passwd"]);
    run(c).fails();
    let mut c = v.as_("wang");
    c.env("XDG_RUNTIME_DIR", &rt)
        .env("CASEVAULT_NEW_PASSPHRASE", new_pw)
        .args(["staff", "passwd"]);
    run(c).ok();
    bare_run(&v, &rt, "wang", &["client", "list"]).fails();
    assert_eq!(status(&v, &rt)["unlocked"].as_array().unwrap().len(), 0);
    // Wrong passphrase at unlock: refused, nothing held.
    unlock(&v, &rt, "wang").fails();
    assert_eq!(status(&v, &rt)["unlocked"].as_array().unwrap().len(), 0);
}

#[test]
fn background_start_status_stop() {
    let v = TestVault::new();
    let rt = runtime(&v);
    let mut c = cmd(&v.dir);
    // A passphrase in the starter's environment is not handed down to the agent.
    c.env("XDG_RUNTIME_DIR", &rt)
        .env("CASEVAULT_PASSPHRASE", TestVault::passphrase("wang"))
        .args(["--json", "agent", "start", "--idle", "5"]);
    let started = run(c).ok().json();
    let pid = started["pid"].as_u64().unwrap();
    struct Kill(u64);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("kill").arg(self.0.to_string()).status();
        }
    }
    let _kill = Kill(pid);
    assert_eq!(started["idle_lock_secs"], 300);
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(!environ.contains("CASEVAULT_PASSPHRASE"), "{environ}");
    assert!(!environ.contains(&TestVault::passphrase("wang")));

    // A second start is refused while one runs.
    let mut c = cmd(&v.dir);
    c.env("XDG_RUNTIME_DIR", &rt).args(["agent", "start"]);
    run(c).fails();

    let st = status(&v, &rt);
    assert_eq!(st["running"], true);
    assert_eq!(st["pid"], pid);
    let mut c = cmd(&v.dir);
    c.env("XDG_RUNTIME_DIR", &rt).args(["agent", "stop"]);
    run(c).ok();
    assert_eq!(status(&v, &rt)["running"], false);
    assert!(!rt.join("casevault").join("agent.sock").exists());
}

#[test]
fn an_unsafe_agent_folder_is_refused() {
    let v = TestVault::new();
    let rt = runtime(&v);
    let d = rt.join("casevault");
    std::fs::create_dir(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = cmd(&v.dir);
    c.env("XDG_RUNTIME_DIR", &rt).args(["agent", "status"]);
    let r = run(c).fails();
    assert!(r.stderr.contains("not safe"), "{}", r.stderr);
    // A command still works with its passphrase, and says why the agent was not used.
    let mut c = v.as_("wang");
    c.env("XDG_RUNTIME_DIR", &rt).args(["client", "list"]);
    let r = run(c).ok();
    assert!(r.stderr.contains("not safe"), "{}", r.stderr);
    // A symlink in its place is refused too, and `start` does not follow it.
    std::fs::remove_dir(&d).unwrap();
    let elsewhere = v.tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &d).unwrap();
    let mut c = cmd(&v.dir);
    c.env("XDG_RUNTIME_DIR", &rt)
        .args(["agent", "start", "--foreground"]);
    let r = run(c).fails();
    assert!(r.stderr.contains("symlink"), "{}", r.stderr);
    assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none());
}

/// Found by the attack on issue 12: one client trickling a request byte by byte held the
/// agent for ever (a per-read timeout only), so `agent lock` failed and nothing was wiped. Each
/// client now has its own thread and one deadline; a malformed request gets `bad_request`.
#[test]
fn a_stalled_client_does_not_hold_the_agent_and_bad_requests_are_answered() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let v = TestVault::new();
    let rt = runtime(&v);
    let a = Agent::spawn(&v, &rt, None);
    unlock(&v, &rt, "wang").ok();

    // A client that sends a length and then one byte now and then.
    let mut slow = UnixStream::connect(&a.socket).unwrap();
    slow.write_all(&64u32.to_be_bytes()).unwrap();
    slow.write_all(b"{").unwrap();
    let t = Instant::now();
    assert_eq!(status(&v, &rt)["running"], true);
    let mut c = cmd(&v.dir);
    c.env("XDG_RUNTIME_DIR", &rt).args(["agent", "lock"]);
    run(c).ok();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
    drop(slow);

    // Malformed JSON: answered, not dropped.
    let mut bad = UnixStream::connect(&a.socket).unwrap();
    let body = b"not json";
    bad.write_all(&(body.len() as u32).to_be_bytes()).unwrap();
    bad.write_all(body).unwrap();
    let mut len = [0u8; 4];
    bad.read_exact(&mut len).unwrap();
    let mut answer = vec![0u8; u32::from_be_bytes(len) as usize];
    bad.read_exact(&mut answer).unwrap();
    assert!(
        String::from_utf8_lossy(&answer).contains("bad_request"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}
