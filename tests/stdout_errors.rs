//! Issue 9 item 7: a closed or full stdout never panics. A reader that goes away (broken pipe)
//! ends the output quietly with exit 0; a full device gives a clear message and exit 1; and a
//! command that commits is never cut off by its output failing.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;

const CLIENTS: usize = 1500;

/// A vault holding many clients (so that `client list` prints well over a pipe buffer).
fn busy_vault() -> TestVault {
    let v = TestVault::new();
    let mut s = String::new();
    for i in 0..CLIENTS {
        s.push_str(&format!(
            "{{\"type\":\"client\",\"number\":\"K{i:05}\",\"name\":\"Client number {i} with a long enough name\"}}\n"
        ));
    }
    let path = v.tmp.path().join("clients.jsonl");
    std::fs::write(&path, s).unwrap();
    v.run("li", &["import", path.to_str().unwrap()]).ok();
    v
}

fn finish(c: &mut std::process::Child) -> Run {
    use std::io::Read;
    let mut err = String::new();
    c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = c.wait().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: err,
    }
}

/// Stdout a pipe whose reader reads one line and goes away.
fn one_line_then_close(mut c: Command) -> Run {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(!line.is_empty());
    finish(&mut child)
}

/// Stdout a pipe whose reader is closed at once (before the command, which first opens the
/// vault, prints anything).
fn closed(mut c: Command) -> Run {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    finish(&mut child)
}

/// `casevault ARGS` started a moment later, so that `closed` has closed the reader by then.
fn delayed(args: &[&str]) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("sleep 0.3; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_casevault"))
        .args(args)
        .env("CASEVAULT_LANG", "en");
    c
}

/// Stdout is /dev/full: every write fails with "no space left on device".
fn full(mut c: Command) -> Run {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut child = c.stdout(f).stderr(Stdio::piped()).spawn().unwrap();
    finish(&mut child)
}

fn quiet(r: &Run, what: &str) {
    assert_eq!(r.code, 0, "{what}: {}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{what}: {}", r.stderr);
    assert!(r.stderr.trim().is_empty(), "{what}: {}", r.stderr);
}

fn full_refused(r: &Run, what: &str) {
    assert_eq!(r.code, 1, "{what}: {}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{what}: {}", r.stderr);
    assert!(
        r.stderr.contains("could not write to standard output"),
        "{what}: {}",
        r.stderr
    );
}

#[test]
fn a_reader_going_away_ends_output_quietly() {
    let v = busy_vault();
    let cmd = |args: &[&str]| {
        let mut c = v.as_("li");
        c.args(args);
        c
    };
    quiet(
        &one_line_then_close(cmd(&["client", "list"])),
        "client list",
    );
    quiet(
        &one_line_then_close(cmd(&["--json", "client", "list"])),
        "client list --json",
    );
    quiet(&closed(cmd(&["client", "list"])), "client list (closed)");
    quiet(&closed(cmd(&["log", "show"])), "log show");
    quiet(&closed(cmd(&["policy", "show"])), "policy show");
    quiet(&closed(delayed(&["--help"])), "--help");
    let mut help = Command::new(env!("CARGO_BIN_EXE_casevault"));
    help.args(["client", "--help"]);
    quiet(&one_line_then_close(help), "client --help");
}

#[test]
fn a_full_stdout_is_a_clear_failure() {
    let v = busy_vault();
    let cmd = |args: &[&str]| {
        let mut c = v.as_("li");
        c.args(args);
        c
    };
    full_refused(&full(cmd(&["client", "list"])), "client list");
    full_refused(&full(cmd(&["log", "show"])), "log show");
    full_refused(&full(cmd(&["--json", "policy", "show"])), "policy show");
    let mut help = cmd(&["--help"]);
    help.env("CASEVAULT_LANG", "en");
    full_refused(&full(help), "--help");
}

#[test]
fn a_committing_command_still_commits_when_its_output_fails() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let fields = v.tmp.path().join("fields.json");
    let add = |text: &str| {
        let f = serde_json::json!({
            "client_number": "C001", "date": "2026-11-20", "session_aim": "check in", "narrative": text
        });
        std::fs::write(&fields, f.to_string()).unwrap();
        let mut c = v.as_("wang");
        c.args([
            "record",
            "add",
            "--case",
            &case.to_string(),
            "--kind",
            "process",
            "--fields",
        ])
        .arg(&fields);
        c
    };
    quiet(&closed(add("closed pipe")), "record add (closed)");
    full_refused(&full(add("full disk")), "record add (full)");
    let list = v
        .run(
            "wang",
            &["--json", "record", "list", "--case", &case.to_string()],
        )
        .ok();
    let n = list.json().as_array().map(|a| a.len()).unwrap_or(0);
    assert_eq!(n, 2, "both records were committed: {}", list.stdout);
}

#[test]
fn the_demo_survives_a_closed_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_casevault"));
    c.env("CASEVAULT_TEST_MODE", "1")
        .env("CASEVAULT_SCRYPT_LOG_N", "2")
        .env("CASEVAULT_LANG", "en")
        .env("TMPDIR", tmp.path())
        .env("CASEVAULT_STATE_DIR", tmp.path().join("state"))
        .arg("demo")
        .stdin(Stdio::null());
    quiet(&closed(c), "demo");
}
