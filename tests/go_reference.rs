//! Issue 11, witness interop: the Go reference implementations (golang.org/x/mod/sumdb/note and
//! sumdb/tlog, from Debian's golang-golang-x-mod-dev) check what our CLI produces: a log
//! export (every entry signature, record and tree hashes, every checkpoint, cosignatures),
//! packet receipts (inclusion proofs, cosigned checkpoints) and `log prove` consistency proofs.
//! `tests/go/goref/main.go` shares no code with casevault; cosignatures (not supported by
//! sumdb/note) are checked there with crypto/ed25519 from the C2SP signed message. Every
//! verdict and every size and root must agree with ours, and tampered files must be refused by
//! both. Without `go` the test is skipped with a notice, except under CI (`CI` set): then a
//! missing Go toolchain is a failure.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;

use casevault::log::{ConsistencyProof, VerifierKey};
use common::*;
use serde_json::Value;

/// Where Debian's golang-golang-x-mod-dev installs the sources (GOPATH layout).
const GOPATH: &str = "/usr/share/gocode";

/// Builds `tests/go/goref` offline (GOPATH mode, Debian's sources) into the target dir, with
/// Go's build cache there too so later runs are quick. `None` (with a notice) when Go or the
/// sources are missing outside CI.
fn goref() -> Option<PathBuf> {
    let have_go = Command::new("go")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let have_src = Path::new(GOPATH)
        .join("src/golang.org/x/mod/sumdb/tlog")
        .is_dir();
    if !(have_go && have_src) {
        let why = "go_reference: skipped, needs `go` and golang-golang-x-mod-dev \
                   (apt-get install golang-go golang-golang-x-mod-dev)";
        assert!(
            std::env::var_os("CI").is_none(),
            "{why} (required under CI)"
        );
        eprintln!("{why}");
        return None;
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-reference");
    std::fs::create_dir_all(&out).unwrap();
    let bin = out.join("goref");
    let st = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/go/goref"))
        .env("GOPATH", GOPATH)
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("GOCACHE", out.join("cache"))
        .status()
        .expect("go build runs");
    assert!(st.success(), "go build of tests/go/goref failed");
    Some(bin)
}

/// Runs the Go verifier; `Ok(json)` when it accepts, `Err(stderr)` when it refuses.
fn go(bin: &Path, args: &[&str]) -> Result<Value, String> {
    let out = Command::new(bin).args(args).output().unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.starts_with("goref: "), "goref crashed: {err}");
        Err(err)
    }
}

struct Server(Child, String);

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

/// A running `casevault witness serve` trusting `v`'s log; returns it and the witness vkey.
fn witness_for(v: &TestVault) -> (Server, String) {
    let state = v.tmp.path().join("witness-state");
    let s = state.to_str().unwrap();
    let init = [
        "--json",
        "witness",
        "init",
        "--name",
        "w.test/w1",
        "--state",
        s,
    ];
    let vkey = plain(v, &init).ok().json()["vkey"]
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
    let add = ["witness", "add-log", "--origin", &origin, "--key", &log_key];
    plain(v, &[&add[..], &["--state", s]].concat()).ok();
    let mut c = cmd(&v.dir);
    c.args(["witness", "serve", "--listen", "127.0.0.1:0", "--state", s])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    (Server(child, addr), vkey)
}

/// `receipt.json` from inside a packet, decrypted with the partner's key (an uncompressed tar).
fn packet_receipt(keys: &Path, packet: &Path) -> String {
    let text = std::fs::read_to_string(keys.join("partner.agekey")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap();
    let id = age::x25519::Identity::from_str(line).unwrap();
    let tar = casevault::crypto::decrypt(&[&id], &std::fs::read(packet).unwrap())
        .unwrap()
        .unwrap();
    let mut at = 0;
    while at + 512 <= tar.len() {
        let h = &tar[at..at + 512];
        let name = String::from_utf8_lossy(&h[..100])
            .trim_end_matches('\0')
            .to_string();
        let size_field = String::from_utf8_lossy(&h[124..136]);
        let size = usize::from_str_radix(size_field.trim_matches(|c| c == '\0' || c == ' '), 8)
            .unwrap_or(0);
        if name.ends_with("receipt.json") {
            return String::from_utf8(tar[at + 512..at + 512 + size].to_vec()).unwrap();
        }
        at += 512 + size.div_ceil(512) * 512;
    }
    panic!("no receipt.json in the packet");
}

/// Our offline verification of `dir` (JSON report), or its failure.
fn ours(v: &TestVault, dir: &Path, key: &str, wkey: &str, extra: &[&str]) -> Run {
    let d = dir.to_str().unwrap();
    let mut args = vec!["--json", "log", "verify", "--export", d, "--key", key];
    args.extend(["--witness", wkey, "--witness-quorum", "1"]);
    args.extend(extra);
    plain(v, &args)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Flips one byte of `file` at `pos` (from the end when negative).
fn flip(file: &Path, pos: isize) {
    let mut b = std::fs::read(file).unwrap();
    let i = if pos < 0 {
        (b.len() as isize + pos) as usize
    } else {
        pos as usize
    };
    b[i] ^= 0x01;
    std::fs::write(file, b).unwrap();
}

#[test]
fn the_go_reference_verifier_agrees_on_exports_receipts_and_proofs() {
    let Some(bin) = goref() else { return };
    let v = TestVault::new();
    let case_id = v.client_with_case("C001", "Zhang San");
    let case = case_id.to_string();
    v.process_note("wang", case_id, "first session").ok();
    let keys = v.partner("Partner");
    let consent = v.run("wang", CONSENT_C001_PARTNER).ok().json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let (srv, wkey) = witness_for(&v);
    apply_witness_policy(&v, &wkey, &srv.1);
    let export = |out: &Path| {
        let o = out.to_str().unwrap();
        let args = [
            "referral",
            "export",
            "--case",
            &case,
            "--to",
            "Partner",
            "--consent",
            &consent,
            "--purpose",
            "housing support",
            "--out",
            o,
        ];
        v.run("li", &args).ok();
    };
    let (p1, p2) = (v.tmp.path().join("p1.age"), v.tmp.path().join("p2.age"));
    export(&p1);
    v.process_note("wang", case_id, "second session").ok();
    export(&p2);
    v.process_note("wang", case_id, "third session").ok();
    // A supervisor's session covers every entry with a checkpoint (issue 11), then the
    // witness cosigns it.
    v.run("li", &["case", "list"]).ok();
    v.run("li", &["log", "witness"]).ok();
    let r1 = v.tmp.path().join("r1.json");
    let r2 = v.tmp.path().join("r2.json");
    std::fs::write(&r1, packet_receipt(&keys, &p1)).unwrap();
    std::fs::write(&r2, packet_receipt(&keys, &p2)).unwrap();

    let ex = v.tmp.path().join("export");
    let exs = ex.to_str().unwrap();
    v.run("audit", &["log", "export", "--out", exs]).ok();
    let key = v
        .run("audit", &["log", "key"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let (r1s, r2s) = (r1.to_str().unwrap(), r2.to_str().unwrap());
    let w = [
        "--key",
        key.as_str(),
        "--witness",
        wkey.as_str(),
        "--quorum",
        "1",
    ];

    // The export: same size and root, every checkpoint and cosignature accepted by both.
    let mine = ours(
        &v,
        &ex,
        &key,
        &wkey,
        &["--checkpoint", r1s, "--checkpoint", r2s],
    )
    .ok()
    .json();
    let theirs = go(
        &bin,
        &[
            &["export", exs][..],
            &w,
            &["--receipt", r1s, "--receipt", r2s],
        ]
        .concat(),
    )
    .unwrap();
    assert_eq!(mine["ok"], true);
    assert_eq!(theirs["size"], mine["size"], "{theirs} {mine}");
    assert_eq!(theirs["root"], mine["root"], "{theirs} {mine}");
    assert_eq!(theirs["signatures_checked"], mine["size"]);
    assert!(
        theirs["cosignatures_checked"].as_u64().unwrap() >= 2,
        "{theirs}"
    );
    assert_eq!(theirs["latest_cosigners"], 1);
    assert!(mine["size"].as_u64().unwrap() > 10);

    // Each receipt: the Go side finds the same index, the cosignature, and the tree at its size.
    for (r, p) in [(&r1, &p1), (&r2, &p2)] {
        let rj: Value = serde_json::from_str(&std::fs::read_to_string(r).unwrap()).unwrap();
        let g = go(&bin, &[&["receipt", r.to_str().unwrap()][..], &w].concat()).unwrap();
        assert_eq!(g["index"], rj["index"], "{}", p.display());
        assert_eq!(g["cosigners"], serde_json::json!(["w.test/w1"]));
        let cp = casevault::log::Checkpoint::parse_unverified(rj["checkpoint"].as_str().unwrap())
            .unwrap();
        assert_eq!(g["size"], cp.size);
        assert_eq!(g["root"], casevault::crypto::hex(&cp.root));
    }

    // `log prove` from the first receipt: tlog.CheckTree accepts what our verifier accepts.
    let proof = v
        .run("audit", &["log", "prove", "--receipt", r1s])
        .ok()
        .stdout;
    let pf = v.tmp.path().join("proof.json");
    std::fs::write(&pf, &proof).unwrap();
    let vk = VerifierKey::parse(&key).unwrap();
    let (old, new) = ConsistencyProof::from_json(&proof)
        .unwrap()
        .verify(&vk)
        .unwrap();
    // The new checkpoint carries the witness's cosignature (the quorum is asked for).
    let g = go(&bin, &[&["proof", pf.to_str().unwrap()][..], &w].concat()).unwrap();
    assert_eq!(g["new_cosigners"], serde_json::json!(["w.test/w1"]));
    assert_eq!(g["old_size"], old.size);
    assert_eq!(g["new_size"], new.size);
    assert_eq!(g["new_root"], casevault::crypto::hex(&new.root));
    assert_eq!(g["new_root"], mine["root"]);

    // Tampering: each change is refused by the Go side and by ours.
    let case_dir = |name: &str| {
        let d = v.tmp.path().join(name);
        copy_dir(&ex, &d);
        d
    };
    let both_refuse = |d: &Path, what: &str| {
        let g = go(&bin, &[&["export", d.to_str().unwrap()][..], &w].concat());
        assert!(g.is_err(), "Go accepted {what}: {g:?}");
        ours(&v, d, &key, &wkey, &[]).fails();
        g.unwrap_err()
    };
    // A byte of an entry in the middle of the log (its signature and every later root).
    let d = case_dir("t-entry");
    flip(&d.join("entries.bin"), 200);
    both_refuse(&d, "a changed entry");
    // The last entry cut off (checkpoint.txt still names the full size).
    let d = case_dir("t-cut");
    let bytes = std::fs::read(d.join("entries.bin")).unwrap();
    let mut at = 0;
    let mut last = 0;
    while at < bytes.len() {
        last = at;
        at += 4 + u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    }
    std::fs::write(d.join("entries.bin"), &bytes[..last]).unwrap();
    let e = both_refuse(&d, "a truncated export");
    assert!(e.contains("size"), "{e}");
    // The latest checkpoint's root (one base64 character of the body).
    let d = case_dir("t-root");
    let cp = std::fs::read_to_string(d.join("checkpoint.txt")).unwrap();
    let third = cp.split('\n').take(2).map(|l| l.len() + 1).sum::<usize>();
    flip(&d.join("checkpoint.txt"), third as isize + 5);
    both_refuse(&d, "a changed checkpoint root");
    // A cosignature.
    let d = case_dir("t-cosig");
    let text = std::fs::read_to_string(d.join("cosignatures.txt")).unwrap();
    let i = text.find("\u{2014} w.test/w1 ").unwrap() + "\u{2014} w.test/w1 ".len() + 20;
    flip(&d.join("cosignatures.txt"), i as isize);
    both_refuse(&d, "a changed cosignature");
    // No entries at all.
    let d = case_dir("t-empty");
    std::fs::write(d.join("entries.bin"), b"").unwrap();
    both_refuse(&d, "an empty export");
    // A receipt whose inclusion proof was altered.
    let mut rj: Value = serde_json::from_str(&std::fs::read_to_string(&r1).unwrap()).unwrap();
    let h = rj["proof"][0].as_str().unwrap().to_string();
    let alt = if h.starts_with('A') { "B" } else { "A" };
    rj["proof"][0] = Value::from(format!("{alt}{}", &h[1..]));
    let bad = v.tmp.path().join("r1-bad.json");
    std::fs::write(&bad, rj.to_string()).unwrap();
    let bads = bad.to_str().unwrap();
    let e = go(&bin, &[&["receipt", bads][..], &w].concat()).unwrap_err();
    assert!(e.contains("inclusion proof"), "{e}");
    let parsed = casevault::log::Receipt::from_json(&rj.to_string()).unwrap();
    assert!(casevault::log::verify_receipt(&parsed, &key).is_err());
    // Given with the export, both sides check the receipt's proof on its own as well.
    ours(&v, &ex, &key, &wkey, &["--checkpoint", bads]).fails();
    let g = go(
        &bin,
        &[&["export", exs][..], &w, &["--receipt", bads]].concat(),
    );
    assert!(g.is_err(), "Go accepted a receipt with a broken proof");
    // A consistency proof with one hash changed.
    let mut pj: Value = serde_json::from_str(&proof).unwrap();
    let h = pj["proof"][0].as_str().unwrap().to_string();
    let alt = if h.starts_with('A') { "B" } else { "A" };
    pj["proof"][0] = Value::from(format!("{alt}{}", &h[1..]));
    std::fs::write(&pf, pj.to_string()).unwrap();
    assert!(go(&bin, &[&["proof", pf.to_str().unwrap()][..], &w].concat()).is_err());
    assert!(ConsistencyProof::from_json(&pj.to_string())
        .unwrap()
        .verify(&vk)
        .is_err());
    // A witness whose cosignature the export does not carry: the quorum fails on both sides.
    let st = v.tmp.path().join("other-witness");
    let init = [
        "--json",
        "witness",
        "init",
        "--name",
        "w.test/other",
        "--state",
    ];
    let okey = plain(&v, &[&init[..], &[st.to_str().unwrap()]].concat())
        .ok()
        .json()["vkey"]
        .as_str()
        .unwrap()
        .to_string();
    let wo = [
        "--key",
        key.as_str(),
        "--witness",
        okey.as_str(),
        "--quorum",
        "1",
    ];
    let e = go(&bin, &[&["export", exs][..], &wo].concat()).unwrap_err();
    assert!(e.contains("0 of 1"), "{e}");
    let args = [
        "log",
        "verify",
        "--export",
        exs,
        "--key",
        &key,
        "--witness",
        &okey,
    ];
    plain(&v, &[&args[..], &["--witness-quorum", "1"]].concat()).fails();
    drop(srv);
}
