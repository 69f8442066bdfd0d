//! SIGKILL during a large import at several points: the vault opens and holds exactly the
//! batches that committed; running the same file again resumes and ends complete.

mod common;

use std::time::{Duration, Instant};

use common::*;

const CLIENTS: usize = 600;
const RECORDS_PER_CLIENT: usize = 8;
const BATCH: usize = 100;

fn file() -> String {
    let mut s = String::new();
    for i in 0..CLIENTS {
        s.push_str(&format!(
            "{{\"type\":\"client\",\"number\":\"K{i:05}\",\"name\":\"Client {i}\"}}\n"
        ));
        s.push_str(&format!(
            "{{\"type\":\"case\",\"client\":\"K{i:05}\",\"source\":\"outreach\"}}\n"
        ));
        for j in 0..RECORDS_PER_CLIENT {
            s.push_str(&format!(
                "{{\"type\":\"record\",\"client\":\"K{i:05}\",\"kind\":\"process\",\"fields\":{{\"client_number\":\"K{i:05}\",\"date\":\"2026-10-01\",\"session_aim\":\"s{j}\",\"narrative\":\"{}\"}}}}\n",
                "x".repeat(200)
            ));
        }
    }
    s
}

/// (lines committed, clients, cases, records) as the vault holds them.
fn held(v: &TestVault) -> (i64, i64, i64, i64) {
    let s = v.session("li");
    let q = |sql: &str| s.conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    (
        q("SELECT coalesce(max(lines_done), 0) FROM imports"),
        q("SELECT count(*) FROM clients"),
        q("SELECT count(*) FROM cases"),
        q("SELECT count(*) FROM records"),
    )
}

/// What the first `lines` lines of the file hold.
fn expected(lines: i64) -> (i64, i64, i64, i64) {
    let per = (2 + RECORDS_PER_CLIENT) as i64;
    let clients = lines / per;
    (lines, clients, clients, clients * RECORDS_PER_CLIENT as i64)
}

#[test]
fn sigkill_during_import_keeps_exactly_the_committed_batches() {
    let v = TestVault::new();
    let path = v.tmp.path().join("import.jsonl");
    std::fs::write(&path, file()).unwrap();
    let total = (CLIENTS * (2 + RECORDS_PER_CLIENT)) as i64;
    let mut kills = 0;
    for delay_ms in [40u64, 90, 150, 230, 330, 460] {
        let mut c = v.as_("li");
        c.args(["import", "--batch", &BATCH.to_string()]).arg(&path);
        let mut child = c.spawn().unwrap();
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            child.kill().unwrap(); // SIGKILL on Unix
            kills += 1;
        }
        child.wait().unwrap();
        let h = held(&v);
        assert_eq!(
            h,
            expected(h.0),
            "after kill at {delay_ms} ms ({:?})",
            start.elapsed()
        );
        assert_eq!(h.0 % BATCH as i64, 0, "only whole batches are committed");
        if finished {
            break;
        }
    }
    assert!(
        kills >= 2,
        "the import was too fast to interrupt; make the file larger"
    );
    // Run to the end: resumes after the committed batches, nothing doubled.
    let mut c = v.as_("li");
    c.args(["--json", "import", "--batch", &BATCH.to_string()])
        .arg(&path);
    let r = run(c).ok();
    assert!(r.json()["skipped_lines"].as_i64().unwrap() > 0);
    assert_eq!(held(&v), expected(total));
    // The vault still reads normally.
    v.run("li", &["record", "show", "1"]).ok();
}

#[test]
fn two_processes_writing_at_once_do_not_corrupt_the_vault() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    v.run("li", &["case", "assign", &case.to_string(), "chen"])
        .ok();
    let fields = r#"{"client_number":"C001","date":"2026-11-20","session_aim":"a","narrative":"concurrent"}"#;
    let writers: Vec<_> = ["wang", "chen"]
        .into_iter()
        .map(|who| {
            let c = v.as_(who);
            let script =
                format!("for i in $(seq 1 15); do echo '{fields}' | \"$0\" \"$@\" || exit 1; done");
            let mut cmd = std::process::Command::new("sh");
            cmd.arg("-c").arg(script).arg(c.get_program());
            cmd.args(c.get_args());
            cmd.args([
                "record",
                "add",
                "--case",
                &case.to_string(),
                "--kind",
                "process",
                "--fields",
                "-",
            ]);
            for (k, val) in c.get_envs() {
                if let Some(val) = val {
                    cmd.env(k, val);
                }
            }
            cmd.spawn().unwrap()
        })
        .collect();
    for mut w in writers {
        assert!(w.wait().unwrap().success(), "a concurrent writer failed");
    }
    let list = v
        .run(
            "li",
            &["--json", "record", "list", "--case", &case.to_string()],
        )
        .ok()
        .json();
    let ids: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 30);
    for id in ids {
        v.run("li", &["record", "show", &id.to_string()]).ok();
    }
    v.run("li", &["log", "verify"]).ok();
}

/// Three processes importing the same records-only file at once: every line is imported once,
/// never twice; the ones that meet another's progress stop with a clear message.
#[test]
fn the_same_file_imported_by_several_processes_at_once_is_imported_once() {
    let v = TestVault::new();
    v.run(
        "wang",
        &["client", "add", "--number", "C1", "--name", "Zhang"],
    )
    .ok();
    v.run("wang", &["case", "open", "C1", "--source", "self"])
        .ok();
    let mut s = String::new();
    for i in 0..3000 {
        s.push_str(&format!(
            "{{\"type\":\"record\",\"case\":1,\"kind\":\"process\",\"fields\":{{\"client_number\":\"C1\",\"date\":\"2026-10-01\",\"session_aim\":\"s\",\"narrative\":\"n{i}\"}}}}\n"
        ));
    }
    let path = v.tmp.path().join("records.jsonl");
    std::fs::write(&path, s).unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            let mut c = v.as_("li");
            c.args(["import", path.to_str().unwrap(), "--batch", "100"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    for ch in children {
        let out = ch.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() || err.contains("another process is importing"),
            "{err}"
        );
    }
    v.run("li", &["import", path.to_str().unwrap(), "--batch", "100"])
        .ok();
    let (lines, _, _, records) = held(&v);
    assert_eq!((lines, records), (3000, 3000));
}
