//! Issue 11 item 2 through the real binary: a vault whose policy names a witness
//! (`casevault witness serve` on 127.0.0.1) releases a disclosure only with a cosigned
//! checkpoint; with the witness down the disclosure is logged but held (exit 3) until `log
//! witness` and a resend; a log forked by an insider is refused by the witness and reported as
//! an alarm (exit 4).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::str::FromStr;

use casevault::log::merkle::{leaf_hash, Frontier};
use casevault::log::Checkpoint;
use common::*;

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wcmd(v: &TestVault, args: &[&str]) -> Run {
    let mut c = cmd(&v.dir);
    c.args(args);
    run(c)
}

/// Starts `casevault witness serve` on `listen` with `state`.
fn serve(v: &TestVault, state: &Path, listen: &str) -> Server {
    let mut c = cmd(&v.dir);
    c.args(["witness", "serve", "--listen", listen, "--state"])
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{line}");
    Server { child, addr }
}

/// A witness trusting `v`'s log, running; returns it, its state dir and its vkey.
fn witness_for(v: &TestVault) -> (Server, PathBuf, String) {
    let state = v.tmp.path().join("witness-state");
    let s = state.to_str().unwrap();
    let vkey = wcmd(
        v,
        &[
            "--json",
            "witness",
            "init",
            "--name",
            "w.test/w1",
            "--state",
            s,
        ],
    )
    .ok()
    .json()["vkey"]
        .as_str()
        .unwrap()
        .to_string();
    let log_key = v
        .run("admin", &["log", "key"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let origin = log_key.split('+').next().unwrap().to_string();
    wcmd(
        v,
        &[
            "witness", "add-log", "--origin", &origin, "--key", &log_key, "--state", s,
        ],
    )
    .ok();
    let srv = serve(v, &state, "127.0.0.1:0");
    (srv, state, vkey)
}

struct Setup {
    v: TestVault,
    case: i64,
    consent: String,
    keys: PathBuf,
}

fn setup() -> Setup {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    v.process_note("wang", case, "first session").ok();
    let keys = v.partner("Partner");
    let consent = v.run("wang", CONSENT_C001_PARTNER).ok().json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    Setup {
        v,
        case,
        consent,
        keys,
    }
}

fn export(s: &Setup, out: &Path) -> Run {
    // A supervisor's export releases at once (a caseworker's waits for a release).
    s.v.run(
        "li",
        &[
            "--json",
            "referral",
            "export",
            "--case",
            &s.case.to_string(),
            "--to",
            "Partner",
            "--consent",
            &s.consent,
            "--purpose",
            "housing support",
            "--out",
            out.to_str().unwrap(),
        ],
    )
}

/// The packet decrypted with the partner's key (an uncompressed tar).
fn open_packet(s: &Setup, packet: &Path) -> String {
    let text = std::fs::read_to_string(s.keys.join("partner.agekey")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap();
    let id = age::x25519::Identity::from_str(line).unwrap();
    let plain = casevault::crypto::decrypt(&[&id], &std::fs::read(packet).unwrap())
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&plain).into_owned()
}

#[test]
fn release_waits_for_the_witness_and_carries_its_cosignature() {
    let s = setup();
    let v = &s.v;
    let (srv, state, wkey) = witness_for(v);
    apply_witness_policy(v, &wkey, &srv.addr);

    // With the witness up: released, the packet's receipt carries the cosignature.
    let p1 = v.tmp.path().join("p1.age");
    export(&s, &p1).ok();
    let inside = open_packet(&s, &p1);
    assert!(
        inside.contains("\u{2014} w.test/w1 "),
        "no cosignature in the packet"
    );

    // Witness down: logged, not released, a distinct exit and how to retry.
    let addr = srv.addr.clone();
    drop(srv);
    let p2 = v.tmp.path().join("p2.age");
    let r = export(&s, &p2);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("log witness"), "{}", r.stderr);
    assert!(r.stderr.contains("referral resend"), "{}", r.stderr);
    assert!(!p2.exists() && !v.tmp.path().join("p2.age.minisig").exists());
    let rows = v.run("wang", &["--json", "referral", "list"]).ok().json();
    let id = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .max()
        .unwrap()
        .to_string();
    // Resending while it is still down releases nothing either.
    let r = v.run(
        "li",
        &["referral", "resend", &id, "--out", p2.to_str().unwrap()],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(!p2.exists());

    // Back up on the same address: log witness, then the resend releases it.
    let _srv = serve(v, &state, &addr);
    let r = v.run("wang", &["log", "witness"]).ok();
    assert!(r.stdout.contains("1/1"), "{}", r.stdout);
    v.run(
        "li",
        &["referral", "resend", &id, "--out", p2.to_str().unwrap()],
    )
    .ok();
    assert!(open_packet(&s, &p2).contains("\u{2014} w.test/w1 "));
    let r = v.run("audit", &["log", "verify"]).ok();
    assert!(r.stderr.contains("witnesses: "), "{}", r.stderr);

    // The export carries the cosignatures; offline verify checks them with the witness key.
    let ex = v.tmp.path().join("export");
    v.run("audit", &["log", "export", "--out", ex.to_str().unwrap()])
        .ok();
    let key = v
        .run("audit", &["log", "key"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let offline = |quorum: &str| {
        let mut c = cmd(&v.dir);
        c.args([
            "log",
            "verify",
            "--export",
            ex.to_str().unwrap(),
            "--key",
            &key,
        ])
        .args(["--witness", &wkey, "--witness-quorum", quorum]);
        run(c)
    };
    let r = offline("1").ok();
    // Every stored checkpoint meets the quorum (M/M; how many depends on which commands
    // grew the log, each witnessed when it ended).
    let counts = r
        .stderr
        .split("witnesses: ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_default()
        .to_string();
    let (have, of) = counts.split_once('/').unwrap_or(("?", "!"));
    assert_eq!(have, of, "{}", r.stderr);
    let file = ex.join("cosignatures.txt");
    let text = std::fs::read_to_string(&file).unwrap();
    let i = text.find("\u{2014} w.test/w1 ").unwrap() + "\u{2014} w.test/w1 ".len() + 20;
    let mut bytes = text.into_bytes();
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    std::fs::write(&file, bytes).unwrap();
    let r = offline("1").fails();
    assert!(r.stderr.contains("invalid"), "{}", r.stderr);
}

/// Rewrites the tail of the last entry and makes the stored state consistent again (frontier,
/// checkpoint re-signed with the log key from `meta`): what an insider with the database key
/// can do, and what only a witness can catch.
fn fork_log(v: &TestVault) {
    let db = v.insider_db("li");
    let mut entries: Vec<Vec<u8>> = db
        .prepare("SELECT stored FROM log_entries ORDER BY idx")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let last = entries.len() - 1;
    *entries[last].last_mut().unwrap() ^= 1;
    db.execute(
        "UPDATE log_entries SET stored = ?1 WHERE idx = ?2",
        rusqlite::params![entries[last], last as i64],
    )
    .unwrap();
    let mut f = Frontier::default();
    let mut proof = Vec::new();
    for e in &entries {
        proof = f.push(leaf_hash(e));
    }
    store_frontier(&db, &f);
    // The checkpoint key as a supervisor holds it (no longer in `meta`).
    let key = v.checkpoint_key("li");
    let origin: String = db
        .query_row(
            "SELECT value FROM log_meta WHERE name = 'origin'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let cp = Checkpoint {
        origin,
        size: f.size(),
        root: f.root(),
    };
    db.execute(
        "UPDATE log_checkpoints SET note = ?1, last_proof = ?2 WHERE size = ?3",
        rusqlite::params![cp.sign(&key), proof.concat(), f.size() as i64],
    )
    .unwrap();
}

#[test]
fn a_forked_log_is_refused_by_the_witness_and_raises_an_alarm() {
    let s = setup();
    let v = &s.v;
    let (srv, state, wkey) = witness_for(v);
    apply_witness_policy(v, &wkey, &srv.addr);
    export(&s, &v.tmp.path().join("p1.age")).ok();
    let held = std::fs::read_dir(state.join("state"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<Vec<_>>();

    fork_log(v);
    // The same size with another root: 409 from the witness, an alarm here.
    let r = v.run("wang", &["log", "witness"]);
    assert_eq!(r.code, 4, "{}\n{}", r.stderr, r.stdout);
    assert!(r.stderr.contains("ALARM"), "{}", r.stderr);
    // A new disclosure on top of the fork: 422 (the proof does not verify), not released.
    // (Made from an installation that never saw the original, so its remembered state does
    // not stop it first: the witness must.)
    let p2 = v.tmp.path().join("p2.age");
    let mut c = v.as_("li");
    c.env("CASEVAULT_STATE_DIR", v.tmp.path().join("fresh-state"))
        .args([
            "--json",
            "referral",
            "export",
            "--case",
            &s.case.to_string(),
            "--to",
            "Partner",
            "--consent",
            &s.consent,
            "--purpose",
            "housing support",
            "--out",
            p2.to_str().unwrap(),
        ]);
    let r = run(c);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr.contains("ALARM") && r.stderr.contains("422"),
        "{}",
        r.stderr
    );
    assert!(!p2.exists());
    // The witness still holds the honest head.
    let now = std::fs::read_dir(state.join("state"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<Vec<_>>();
    assert_eq!(held, now);
}

#[test]
fn witness_policy_changes_that_lower_protection_need_a_supervisor() {
    let s = setup();
    let v = &s.v;
    let (srv, state, wkey) = witness_for(v);
    apply_witness_policy(v, &wkey, &srv.addr);
    // Back to the shipped policy (no witness, quorum 0): refused without an approval.
    let shipped = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/policy"));
    let r = v.run("admin", &["policy", "apply", shipped.to_str().unwrap()]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("policy approve"), "{}", r.stderr);
    v.run("li", &["policy", "approve", shipped.to_str().unwrap()])
        .ok();
    v.run("admin", &["policy", "apply", shipped.to_str().unwrap()])
        .ok();
    // A quorum larger than the list is refused by the check.
    let bad = v.tmp.path().join("policy-bad");
    std::fs::create_dir_all(bad.join("templates")).unwrap();
    let main = std::fs::read_to_string(shipped.join("policy.toml")).unwrap();
    std::fs::write(
        bad.join("policy.toml"),
        format!("witness_quorum = 2\n{main}"),
    )
    .unwrap();
    for e in std::fs::read_dir(shipped.join("templates")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), bad.join("templates").join(e.file_name())).unwrap();
    }
    let r = v.run("admin", &["policy", "check", bad.to_str().unwrap()]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("witness_quorum"), "{}", r.stderr);

    // Found by the insider test: adding a witness (quorum unchanged) needs the approval too,
    // since a witness the admin runs could stand in for the real one; and one witness's key
    // under a second name is refused (it would count twice).
    let name = wkey.split('+').next().unwrap();
    let add = v.tmp.path().join("policy-add");
    std::fs::create_dir_all(add.join("templates")).unwrap();
    std::fs::write(
        add.join("policy.toml"),
        format!("witness_quorum = 1\n{main}\n[[witness]]\nname = \"{name}\"\nkey = \"{wkey}\"\nurl = \"http://{}\"\n", srv.addr),
    )
    .unwrap();
    for e in std::fs::read_dir(shipped.join("templates")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), add.join("templates").join(e.file_name())).unwrap();
    }
    let r = v.run("admin", &["policy", "apply", add.to_str().unwrap()]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("policy approve"), "{}", r.stderr);
    let key_b64 = wkey.splitn(3, '+').nth(2).unwrap();
    let alias = {
        use base64::Engine;
        use sha2::{Digest, Sha256};
        let raw = base64::engine::general_purpose::STANDARD
            .decode(key_b64)
            .unwrap();
        let mut h = Sha256::new();
        h.update(b"alias.test/w9\n");
        h.update(&raw);
        let id: String = h.finalize()[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("alias.test/w9+{id}+{key_b64}")
    };
    std::fs::write(
        add.join("policy.toml"),
        format!("witness_quorum = 2\n{main}\n[[witness]]\nname = \"{name}\"\nkey = \"{wkey}\"\nurl = \"http://{0}\"\n[[witness]]\nname = \"alias.test/w9\"\nkey = \"{alias}\"\nurl = \"http://{0}\"\n", srv.addr),
    )
    .unwrap();
    let r = v.run("admin", &["policy", "check", add.to_str().unwrap()]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("alias.test/w9"), "{}", r.stderr);

    // One server per state folder (`srv` serves `state`).
    let r = wcmd(
        v,
        &[
            "witness",
            "serve",
            "--state",
            state.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
    );
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("one witness server per state folder"),
        "{}",
        r.stderr
    );
}

/// Found by the insider test: entries that are not disclosures (a tier-3 read, a note) were
/// witnessed only at the next disclosure, so an insider could cut them out unseen. Every
/// command that grows the log now submits its checkpoint when it ends.
#[test]
fn every_command_that_grows_the_log_has_its_checkpoint_witnessed() {
    let s = setup();
    let v = &s.v;
    let (srv, _state, wkey) = witness_for(v);
    apply_witness_policy(v, &wkey, &srv.addr);
    let note = v
        .process_note("li", s.case, "a note after the policy")
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    v.run("li", &["record", "show", &note]).ok();
    let db = v.insider_db("audit");
    let size: i64 = db
        .query_row("SELECT count(*) FROM log_entries", [], |r| r.get(0))
        .unwrap();
    let cosigned: Option<i64> = db
        .query_row("SELECT max(size) FROM cosignatures", [], |r| r.get(0))
        .unwrap();
    assert_eq!(cosigned, Some(size));
}

/// Found by the insider test: clients that send a byte every few seconds held every
/// connection slot, so no checkpoint could be witnessed. Each request now has one deadline.
#[test]
fn slow_clients_do_not_block_the_witness() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let v = TestVault::new();
    let (srv, _state, _wkey) = witness_for(&v);
    let mut slow = Vec::new();
    for _ in 0..40 {
        let mut c = TcpStream::connect(&srv.addr).unwrap();
        c.write_all(b"POST /add-checkpoint HTTP/1.1\r\n").unwrap();
        slow.push(c);
    }
    let start = std::time::Instant::now();
    let mut c = TcpStream::connect(&srv.addr).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    c.write_all(b"POST /add-checkpoint HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    drop(slow);
}

/// The insider test of issue 11 (round 3): a departed holder of the current checkpoint key
/// hands the witness over to a key of their own before the vault does. The witness then
/// refuses the vault's checkpoints (403): the vault must raise an alarm, not wait quietly.
#[test]
fn a_witness_taken_over_by_an_old_key_holder_raises_an_alarm() {
    let s = setup();
    let v = &s.v;
    let (srv, state, wkey) = witness_for(v);
    apply_witness_policy(v, &wkey, &srv.addr);
    export(&s, &v.tmp.path().join("p1.age")).ok();

    // The checkpoint the witness holds, handed over to the attacker's key with the current
    // key (a copy kept by a supervisor who left).
    let current = v.checkpoint_key("li");
    let evil = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let db = v.insider_db("wang");
    let note: String = db
        .query_row(
            "SELECT note FROM log_checkpoints ORDER BY size DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(db);
    let cp = Checkpoint::parse_unverified(&note).unwrap();
    let body = format!("old {}\n\n{}", cp.size, cp.sign_handover(&current, &evil));
    let w = casevault::witness::Witness::open(&state).unwrap();
    let r = w.add_checkpoint(body.as_bytes(), 1_700_000_000);
    assert_eq!(
        r.status, 200,
        "the witness follows a handover by its current key"
    );

    // The vault's next checkpoint under its real key: refused by the witness, an alarm here.
    v.process_note("wang", s.case, "second session").ok();
    let r = v.run("li", &["log", "witness"]);
    assert_eq!(r.code, 4, "{}\n{}", r.stderr, r.stdout);
    assert!(
        r.stderr.contains("ALARM") && r.stderr.contains("403"),
        "{}",
        r.stderr
    );
}
