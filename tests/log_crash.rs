//! A writer SIGKILLed at arbitrary moments never leaves a log that fails verification or
//! refuses the next append.

mod log_common;

use std::process::Command;
use std::time::Duration;

use casevault::log;
use log_common::*;

const CHILD_ENV: &str = "CASEVAULT_LOG_CRASH_DB";

/// Runs only as the child process: appends forever until killed.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut conn = open(std::path::Path::new(&path));
    let mut i = 0u64;
    loop {
        append(&mut conn, &disclosure(i), &worker(), T0 + i as i64).unwrap();
        i += 1;
    }
}

#[test]
fn sigkill_during_appends_leaves_a_verifiable_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    {
        let mut conn = open(&path);
        populated(&mut conn, 0);
    }
    let exe = std::env::current_exe().unwrap();
    let mut last = 3;
    for delay_ms in [40, 90, 150, 230, 330, 470] {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();

        let mut conn = open(&path);
        let report = log::verify_db(&conn, &vkey()).unwrap();
        assert!(
            report.is_ok(),
            "after kill at {delay_ms} ms: {:?}",
            report.errors
        );
        assert!(report.size >= last, "committed entries were lost");
        last = report.size;
        // The head check passes and the log keeps growing.
        append(&mut conn, &disclosure(999), &worker(), T0 + 1_000_000).unwrap();
        last += 1;
    }
    assert!(last > 10, "the child barely appended ({last} entries)");
}
