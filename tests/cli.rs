//! The command line's shape: fixed command names (scripts depend on them), global options,
//! quiet when piped, and the demo runs.

mod common;

use common::*;

fn help(args: &[&str]) -> String {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_casevault"));
    c.args(args).arg("--help").env("CASEVAULT_LANG", "en");
    let out = c.output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn command_names_are_stable() {
    let top = help(&[]);
    for cmd in [
        "init", "demo", "staff", "client", "case", "record", "import", "rekey", "policy", "log",
    ] {
        assert!(
            top.contains(&format!("  {cmd}")),
            "missing command {cmd}:\n{top}"
        );
    }
    for opt in ["--vault", "--as", "--passphrase-file", "--json"] {
        assert!(top.contains(opt), "missing global option {opt}");
    }
    let groups: &[(&str, &[&str])] = &[
        (
            "staff",
            &["add", "list", "remove", "passwd", "grant", "recover-grant"],
        ),
        ("client", &["add", "list", "show", "search"]),
        (
            "case",
            &["open", "list", "show", "assign", "unassign", "close"],
        ),
        ("record", &["add", "list", "show", "amend"]),
        ("policy", &["check", "show", "apply"]),
        ("log", &["show", "verify", "key", "export"]),
    ];
    for (group, subs) in groups {
        let h = help(&[group]);
        for s in *subs {
            assert!(h.contains(&format!("  {s}")), "missing {group} {s}:\n{h}");
        }
    }
    // No passphrase flag takes the secret itself.
    assert!(!top.contains("--passphrase ") && !help(&["init"]).contains("--passphrase "));
}

#[test]
fn piped_import_is_quiet_and_json_is_json() {
    let v = TestVault::new();
    let lines = r#"{"type":"client","number":"C1","name":"A"}
{"type":"case","client":"C1"}"#;
    let r = v.run_stdin("li", &["import", "-"], lines).ok();
    assert!(
        r.stderr.is_empty(),
        "no progress output when piped: {}",
        r.stderr
    );
    let r = v.run("li", &["--json", "case", "list"]).ok();
    assert_eq!(r.json().as_array().unwrap().len(), 1);
}

#[test]
fn demo_runs_in_both_languages() {
    for lang in ["en", "zh"] {
        let tmp = tempfile::tempdir().unwrap();
        // The installation's remembered log state lives outside the temporary folder.
        let state = tempfile::tempdir().unwrap();
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_casevault"));
        // The demo's own passphrase cost is timed in tests/demo.rs; here the test-mode one.
        c.env("CASEVAULT_LANG", lang)
            .env("CASEVAULT_TEST_MODE", "1")
            .env("CASEVAULT_SCRYPT_LOG_N", "2")
            .env("TMPDIR", tmp.path())
            .env("CASEVAULT_STATE_DIR", state.path())
            .args(["--json", "demo"]);
        let r = run(c).ok();
        let steps = r.json()["steps"].as_array().unwrap().len();
        assert!(steps > 10, "{lang}: {steps} steps");
        let text = r.json()["steps"].to_string();
        assert!(!text.contains("should have been refused") && !text.contains("本应被拒绝"));
        // The demo leaves its vaults in the one folder it names, under the temporary folder.
        let dir = r.json()["dir"].as_str().unwrap().to_string();
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].path().to_str().unwrap(), dir);
    }
}
