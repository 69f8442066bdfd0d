//! Issue 12 item 3: forms a social worker can find: `policy show` lists every template's
//! fields, `record template KIND` prints a fill-in example, and `record add` without
//! `--fields` says how to give them when it cannot ask.

mod common;

use common::*;

/// `policy show` needs no vault: a command in an empty folder.
fn bare(lang: &str, args: &[&str]) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("tmp")).unwrap();
    let mut c = cmd(&tmp.path().join("vault"));
    c.env("CASEVAULT_LANG", lang).args(args);
    run(c)
}

#[test]
fn policy_show_lists_each_templates_fields() {
    let r = bare("en", &["--json", "policy", "show"]).ok();
    let v = r.json();
    let intake = v["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "intake")
        .unwrap();
    let fields = intake["fields"].as_array().unwrap();
    let number = fields
        .iter()
        .find(|f| f["name"] == "client_number")
        .unwrap();
    assert_eq!(number["label_zh"], "服务对象编号");
    assert_eq!(number["label_en"], "Client number");
    assert_eq!(number["type"], "text");
    assert_eq!(number["required"], true);
    let gender = fields.iter().find(|f| f["name"] == "gender").unwrap();
    assert_eq!(gender["required"], false);
    assert_eq!(gender["choices"][1]["value"], "female");
    assert_eq!(gender["choices"][1]["label_zh"], "女");
    let household = fields.iter().find(|f| f["name"] == "household").unwrap();
    assert_eq!(household["columns"][0]["name"], "name");
    assert_eq!(intake["default_tier"], 2);

    // Text, in Chinese: labels in both languages, types and required marks under each kind.
    let t = bare("zh", &["policy", "show"]).ok().stdout;
    assert!(t.contains("服务对象编号 / Client number"), "{t}");
    assert!(t.contains("必填"), "{t}");
    assert!(t.contains("日期（年-月-日）"), "{t}");
    assert!(t.contains("female=女"), "{t}");
}

#[test]
fn record_template_prints_an_example_that_record_add_accepts() {
    // Text: the field table with labels, then the example.
    let t = bare("zh", &["record", "template", "process"]).ok().stdout;
    assert!(t.contains("服务对象编号 / Client number"), "{t}");
    assert!(t.contains("必填"), "{t}");
    assert!(t.contains("\"client_number\""), "{t}");
    // `policy template` is the same command.
    assert_eq!(
        bare("zh", &["policy", "template", "process"]).ok().stdout,
        t
    );
    // --json: the bare example, in template order.
    let j = bare("en", &["--json", "record", "template", "process"]).ok();
    let example = j.json();
    assert!(example.is_object());
    assert!(j.stdout.find("client_number").unwrap() < j.stdout.find("narrative").unwrap());

    // The example fills the form in: record add takes it as it is.
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let r = v
        .run_stdin(
            "wang",
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
            &j.stdout,
        )
        .ok();
    assert_eq!(r.json()["kind"], "process");

    // An unknown kind names the kinds there are.
    let r = bare("en", &["record", "template", "nope"]).fails();
    assert!(
        r.stderr.contains("intake") && r.stderr.contains("nope"),
        "{}",
        r.stderr
    );
}

#[test]
fn record_add_without_fields_off_a_terminal_says_to_use_fields() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let r = v
        .run(
            "wang",
            &[
                "record",
                "add",
                "--case",
                &case.to_string(),
                "--kind",
                "intake",
            ],
        )
        .fails();
    assert!(r.stderr.contains("not a terminal"), "{}", r.stderr);
    assert!(r.stderr.contains("--fields"), "{}", r.stderr);
    assert!(r.stderr.contains("record template intake"), "{}", r.stderr);
    // In Chinese too, and nothing was added.
    let mut c = v.as_("wang");
    c.env("CASEVAULT_LANG", "zh").args([
        "record",
        "add",
        "--case",
        &case.to_string(),
        "--kind",
        "intake",
    ]);
    let r = run(c).fails();
    assert!(r.stderr.contains("不是终端"), "{}", r.stderr);
    let list = v
        .run(
            "wang",
            &["--json", "record", "list", "--case", &case.to_string()],
        )
        .ok();
    assert_eq!(list.json().as_array().unwrap().len(), 0);
}

/// `record add` on a terminal asks the fields one by one: run under a pseudo-terminal made by
/// util-linux `script`, answers typed in (bad ones asked again).
#[test]
fn record_add_on_a_terminal_asks_the_fields_one_by_one() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no script(1) to make a pseudo-terminal");
        return;
    }
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let line = format!(
        "{} --vault {} --as wang --json record add --case {case} --kind process",
        env!("CARGO_BIN_EXE_casevault"),
        v.dir.display()
    );
    let mut c = Command::new("script");
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CASEVAULT_TEST_MODE", "1")
        .env("CASEVAULT_SCRYPT_LOG_N", "2")
        .env("CASEVAULT_LANG", "zh")
        .env("TMPDIR", v.tmp.path().join("tmp"))
        .env("CASEVAULT_STATE_DIR", state_dir(&v.dir))
        .env("CASEVAULT_PASSPHRASE", TestVault::passphrase("wang"))
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    // client_number; worker skipped; session_no "abc" (asked again) then 2; date 2026-13-01
    // (asked again) then a real one; time_slot, form, place skipped; session_aim; narrative;
    // findings, next_plan skipped; the note.
    let answers = [
        "C001",
        "",
        "abc",
        "2",
        "2026-13-01",
        "2026-11-20",
        "",
        "",
        "",
        "家访",
        "谈话内容",
        "",
        "",
        "备注",
    ];
    let mut stdin = child.stdin.take().unwrap();
    for a in answers {
        stdin.write_all(format!("{a}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("服务对象编号（client_number，单行文字，必填）"),
        "{text}"
    );
    assert!(text.contains("请重新输入"), "{text}");
    let list = v
        .run(
            "wang",
            &["--json", "record", "list", "--case", &case.to_string()],
        )
        .ok()
        .json();
    let id = list[0]["id"].as_i64().unwrap().to_string();
    let r = v
        .run("wang", &["--json", "record", "show", &id])
        .ok()
        .json();
    assert_eq!(r["fields"]["session_no"], 2, "{r}");
    assert_eq!(r["fields"]["date"], "2026-11-20");
    assert_eq!(r["fields"]["narrative"], "谈话内容");
    assert_eq!(r["fields"]["note"], "备注");
    assert!(r["fields"].get("worker").is_none());
}
