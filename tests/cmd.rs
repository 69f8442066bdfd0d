//! Snapshot tests of `--help` and of the main messages, in Chinese and in English, with
//! `trycmd` (see tests/cmd/README.md; regenerate with `TRYCMD=overwrite cargo test --test cmd`).
//!
//! A regression in either language (an English word in Chinese help, a message that lost its
//! translation, a changed layout) fails here. Everything is deterministic: test mode, a fixed
//! `CASEVAULT_NOW`, a fixed terminal width, the language set by `CASEVAULT_LANG` in each step.

mod common;

use common::TestVault;

/// The cases with the settings every step shares.
fn cases() -> trycmd::TestCases {
    let t = trycmd::TestCases::new();
    t.register_bin(
        "casevault",
        trycmd::schema::Bin::Path(env!("CARGO_BIN_EXE_casevault").into()),
    )
    .env("CASEVAULT_TEST_MODE", "1")
    .env("CASEVAULT_SCRYPT_LOG_N", "2")
    .env("CASEVAULT_NOW", "2026-03-09")
    .env("COLUMNS", "100");
    // No default for CASEVAULT_LANG or CASEVAULT_PASSPHRASE: trycmd lets the defaults override
    // a step's own `VAR=value`, so each step sets them itself.
    t
}

/// `--help` of the top level and the main subcommands, and clap's errors, in both languages.
#[test]
fn help_snapshots() {
    let t = cases();
    t.env("CASEVAULT_DIR", "vault")
        .case("tests/cmd/help_*.trycmd");
    t.run();
}

/// The main messages (a success, an existing number, a not-found, refusals), in both
/// languages, against a vault made the way people make one.
#[test]
fn message_snapshots() {
    let v = TestVault::new();
    v.run(
        "wang",
        &["client", "add", "--number", "C12", "--name", "李小明"],
    )
    .ok();
    v.run("wang", &["case", "open", "C12", "--source", "self"])
        .ok();
    let fields = r#"{"client_number": "C12", "date": "2026-03-09", "session_aim": "建立关系", "narrative": "会谈记录"}"#;
    v.run_stdin(
        "wang",
        &[
            "record", "add", "--case", "1", "--kind", "process", "--fields", "-",
        ],
        fields,
    )
    .ok();
    let state = common::state_dir(&v.dir);
    // One language after the other: the steps change the vault, so their order is fixed.
    for lang in ["zh", "en"] {
        let t = cases();
        t.env("CASEVAULT_DIR", v.dir.to_str().unwrap())
            .env("CASEVAULT_STATE_DIR", state.to_str().unwrap())
            .env("TMPDIR", v.tmp.path().join("tmp").to_str().unwrap())
            .case(format!("tests/cmd/messages_{lang}.trycmd"));
        t.run();
    }
}

/// `log show` and `agency list` speak the user's language: entry kinds by their label (not
/// `staff_registered`), agencies labelled as agencies (not 姓名/在职, which are for staff).
#[test]
fn tables_speak_one_language() {
    let v = TestVault::new();
    let zh = |who: &str, args: &[&str]| {
        let mut c = v.as_(who);
        c.env("CASEVAULT_LANG", "zh").args(args);
        common::run(c).ok().stdout
    };
    let log = zh("li", &["log", "show"]);
    assert!(log.contains("工作人员登记"), "{log}");
    assert!(!log.contains("staff_registered"), "{log}");
    assert!(log.contains("邀请") && !log.contains("invite "), "{log}");
    assert!(
        !log.contains("(supervisor)") && !log.contains("internal duty"),
        "{log}"
    );
    let header = zh("admin", &["agency", "list"]);
    let header = header.lines().next().unwrap_or_default();
    assert!(
        header.contains("机构名称") && header.contains("有效"),
        "{header}"
    );
    assert!(
        !header.contains("姓名") && !header.contains("在职"),
        "{header}"
    );
    assert!(
        !header.contains("contact") && !header.contains("id"),
        "{header}"
    );
}
