//! `casevault demo --serve` (issue 13, the README's third line): the demo vault opens in the
//! browser with a printed name and passphrase, and Ctrl+C removes the demo folder.

mod common;
#[path = "common/web.rs"]
mod web;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn demo_folders(tmp: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("casevault-demo-"))
        })
        .collect()
}

#[test]
fn demo_serve_signs_in_with_the_printed_passphrase_and_ctrl_c_removes_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_casevault"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CASEVAULT_LANG", "en")
        .env("CASEVAULT_TEST_MODE", "1")
        .env("CASEVAULT_SCRYPT_LOG_N", "2")
        .env("TMPDIR", tmp.path())
        .env("CASEVAULT_STATE_DIR", tmp.path().join("installation-state"))
        .args(["demo", "--serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut addr, mut who) = (None, Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the demo ended before it said how to stop it"
        );
        if let Some(i) = line.find("http://127.0.0.1:") {
            addr = Some(line[i + 7..].split('/').next().unwrap().to_string());
        }
        if let Some((head, pw)) = line.trim().split_once(", passphrase: ") {
            let name = head.rsplit(' ').next().unwrap().to_string();
            who.push((name, pw.to_string()));
        }
        if line.contains("Press Ctrl+C") {
            break;
        }
    }
    let server = web::Server {
        child,
        addr: addr.expect("address printed"),
    };
    let folders = demo_folders(tmp.path());
    assert_eq!(folders.len(), 1, "{folders:?}");
    assert_eq!(
        std::fs::metadata(&folders[0]).unwrap().permissions().mode() & 0o777,
        0o700
    );

    // The caseworker and the supervisor are printed; the caseworker signs in with what was
    // printed and sees her demo clients.
    let names: Vec<&str> = who.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"wangfang") && names.contains(&"limin"),
        "{names:?}"
    );
    let (_, pw) = who.iter().find(|(n, _)| n == "wangfang").unwrap();
    let r = web::sign_in(&server, "wangfang", pw);
    assert_eq!(r.status, 303, "{}", r.body);
    let cookie = web::session_cookie(&r);
    let cases = web::req(&server, "GET", "/cases", &[("Cookie", &cookie)], "");
    assert_eq!(cases.status, 200);
    assert!(cases.body.contains("SZ2026-001"), "{}", cases.body);
    assert!(cases.body.contains("张小雨"));
    let (_, pw) = who.iter().find(|(n, _)| n == "limin").unwrap();
    assert_eq!(web::sign_in(&server, "limin", pw).status, 303);

    // Ctrl+C (SIGINT) ends the server; the folder goes with it.
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    drop(server);
    let t = Instant::now();
    while !demo_folders(tmp.path()).is_empty() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        demo_folders(tmp.path()).is_empty(),
        "the demo folder is still there"
    );
}
