//! Issue 11: a receiving agency requires witness cosignatures on a sender's checkpoints.
//! `a` sends packets to `b` with a witness (`casevault witness serve`) cosigning its
//! checkpoints; `b` records the witnesses it trusts for `a` (`agency update First --witness
//! NAME=VKEY --witness-quorum K`, a signed statement in `b`'s log), and `packet verify`,
//! `open` and `import` then require K valid cosignatures on the receipt's checkpoint.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

use common::*;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn plain(v: &TestVault, args: &[&str]) -> Run {
    let mut c = cmd(&v.dir);
    c.args(args);
    run(c)
}

/// `witness init` of a witness named `name` with its state in `v`'s temp folder; its vkey.
fn witness_init(v: &TestVault, name: &str) -> (String, String) {
    let state = v.tmp.path().join(name.replace('/', "_"));
    let s = state.to_str().unwrap().to_string();
    let init = ["--json", "witness", "init", "--name", name, "--state", &s];
    let vkey = plain(v, &init).ok().json()["vkey"]
        .as_str()
        .unwrap()
        .to_string();
    (vkey, s)
}

/// A running witness trusting `v`'s log; returns it, its vkey and address.
fn witness_for(v: &TestVault) -> (Server, String, String) {
    let (vkey, s) = witness_init(v, "w.test/w1");
    let log_key = v
        .run("admin", &["log", "key"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let origin = log_key.split('+').next().unwrap().to_string();
    let add = [
        "witness", "add-log", "--origin", &origin, "--key", &log_key, "--state", &s,
    ];
    plain(v, &add).ok();
    let mut c = cmd(&v.dir);
    c.args(["witness", "serve", "--listen", "127.0.0.1:0", "--state", &s])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    (Server(child), vkey, addr)
}

fn key(v: &TestVault, args: &[&str], field: &str) -> String {
    v.run("admin", args).ok().json()[field]
        .as_str()
        .unwrap()
        .to_string()
}

/// `a` and `b` register each other; `b` records `a` as "First" with `a`'s log key.
fn pair(a: &TestVault, b: &TestVault) {
    let b_inbound = key(b, &["--json", "agency", "inbound-key"], "age_recipient");
    let b_pub = key(b, &["--json", "agency", "key"], "minisign_public_key");
    let add = ["agency", "add", "Second", "--age-recipient", &b_inbound];
    a.run(
        "admin",
        &[&add[..], &["--minisign-pubkey", &b_pub]].concat(),
    )
    .ok();
    let a_inbound = key(a, &["--json", "agency", "inbound-key"], "age_recipient");
    let a_pub = key(a, &["--json", "agency", "key"], "minisign_public_key");
    let a_log = key(a, &["--json", "agency", "key"], "log_verifier_key");
    let add = ["agency", "add", "First", "--age-recipient", &a_inbound];
    let rest = ["--minisign-pubkey", &a_pub, "--log-key", &a_log];
    b.run("admin", &[&add[..], &rest].concat()).ok();
}

/// `a` exports a process note of a new client to "Second" as `out` (a supervisor: released
/// at once, with the witness's cosignature).
fn send(a: &TestVault, out: &Path) {
    let case = a.client_with_case("C001", "Zhang San");
    let rec = a
        .process_note("wang", case, "ordinary-session-text")
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let consent = a.run("wang", &consent_c001("Second")).ok().json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let case = case.to_string();
    let args = [
        "referral",
        "export",
        "--case",
        &case,
        "--to",
        "Second",
        "--consent",
        &consent,
        "--purpose",
        "housing support",
        "--records",
        &rec,
        "--out",
    ];
    a.run("li", &[&args[..], &[out.to_str().unwrap()]].concat())
        .ok();
}

fn packet_cmd(b: &TestVault, verb: &str, file: &Path) -> Run {
    let args = [
        "--json",
        "packet",
        verb,
        file.to_str().unwrap(),
        "--from",
        "First",
    ];
    b.run("li", &args)
}

fn cases(b: &TestVault) -> usize {
    let c = b.run("li", &["--json", "case", "list"]).ok().json();
    c.as_array().unwrap().len()
}

/// verify, open and import each refuse `file` for too few cosignatures; nothing imported.
fn refused_everywhere(b: &TestVault, file: &Path, have: usize, need: usize) {
    let before = cases(b);
    for verb in ["verify", "open", "import"] {
        let r = packet_cmd(b, verb, file).fails();
        let why = format!("{have} valid, {need} required");
        assert!(
            r.stderr.contains("cosignatures") && r.stderr.contains(&why),
            "{verb}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("ordinary-session-text"));
    }
    assert_eq!(cases(b), before);
}

fn update(b: &TestVault, args: &[&str]) -> Run {
    b.run(
        "admin",
        &[&["agency", "update", "First"][..], args].concat(),
    )
}

#[test]
fn a_receiver_requires_the_witnesses_it_recorded_for_the_sender() {
    let a = TestVault::new();
    let b = TestVault::new();
    pair(&a, &b);
    let (_srv, w1, addr) = witness_for(&a);
    apply_witness_policy(&a, &w1, &addr);
    let p1 = a.tmp.path().join("p1.age");
    send(&a, &p1);
    // A second witness that never saw `a`'s log (made in `b`'s folder).
    let (w2, _) = witness_init(&b, "w.test/w2");
    let arg1 = format!("w.test/w1={w1}");
    let arg2 = format!("w.test/w2={w2}");

    // Bad lists are refused before anything is recorded.
    let r = update(&b, &["--witness", &w1]).fails();
    assert!(r.stderr.contains("NAME=VERIFIERKEY"), "{}", r.stderr);
    let r = update(&b, &["--witness", &format!("w.test/other={w1}")]).fails();
    assert!(r.stderr.contains("differs"), "{}", r.stderr);
    update(&b, &["--witness", &arg1, "--witness", &arg1]).fails();
    let r = update(
        &b,
        &[
            "--witness",
            &arg1,
            "--witness",
            &arg2,
            "--witness-quorum",
            "3",
        ],
    );
    assert!(r.fails().stderr.contains("quorum of 3"));
    update(&b, &["--witness-quorum", "1"]).fails();
    // Only an admin records them.
    b.run("li", &["agency", "update", "First", "--witness", &arg1])
        .fails();
    // Witnesses need the sender's log key.
    let c_in = key(&a, &["--json", "agency", "inbound-key"], "age_recipient");
    let c_pub = key(&a, &["--json", "agency", "key"], "minisign_public_key");
    let add = ["agency", "add", "Third", "--age-recipient", &c_in];
    let r = b.run(
        "admin",
        &[&add[..], &["--minisign-pubkey", &c_pub, "--witness", &arg1]].concat(),
    );
    r.fails();

    // w1 required (quorum defaults to all listed): the cosigned packet passes everywhere.
    update(&b, &["--witness", &arg1]).ok();
    let show = b
        .run("admin", &["--json", "agency", "show", "First"])
        .ok()
        .json();
    assert_eq!(show["witness_quorum"], 1);
    assert_eq!(show["witnesses"], serde_json::json!([w1]));
    for verb in ["verify", "open"] {
        let j = packet_cmd(&b, verb, &p1).ok().json();
        assert_eq!(j["receipt"], "checked", "{j}");
        assert_eq!(j["receipt_cosignatures"], 1, "{j}");
    }

    // Both required: one valid cosignature of two is refused.
    update(
        &b,
        &[
            "--witness",
            &arg1,
            "--witness",
            &arg2,
            "--witness-quorum",
            "2",
        ],
    )
    .ok();
    refused_everywhere(&b, &p1, 1, 2);
    // Only w2 (which never cosigned): refused with none.
    update(&b, &["--witness", &arg2]).ok();
    refused_everywhere(&b, &p1, 0, 1);
    // One of the two: accepted again, and imported.
    update(
        &b,
        &[
            "--witness",
            &arg1,
            "--witness",
            &arg2,
            "--witness-quorum",
            "1",
        ],
    )
    .ok();
    let j = packet_cmd(&b, "import", &p1).ok().json();
    assert_eq!(j["receipt_cosignatures"], 1, "{j}");
    assert_eq!(cases(&b), 1);

    // Cleared (quorum 0 alone): no cosignatures required.
    update(&b, &["--witness-quorum", "0"]).ok();
    let j = packet_cmd(&b, "verify", &p1).ok().json();
    assert!(j.get("receipt_cosignatures").is_none(), "{j}");
    let show = b
        .run("admin", &["--json", "agency", "show", "First"])
        .ok()
        .json();
    assert!(show.get("witnesses").is_none(), "{show}");

    // Each list is a signed statement in b's log; deleting the latest row (an insider rolling
    // back to the stricter-or-looser list before) is a tamper alarm, not a silent change.
    let log = b
        .run("audit", &["--json", "log", "show", "--kind", "key_change"])
        .ok();
    assert!(log.stdout.contains("witnesses 5"), "{}", log.stdout);
    let db = b.insider_db("admin");
    let n = db
        .execute(
            "DELETE FROM authority WHERE subject LIKE 'agency/%/witnesses/000005'",
            [],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(db);
    let r = packet_cmd(&b, "verify", &p1).fails();
    assert!(r.stderr.contains("First"), "{}", r.stderr);
}
