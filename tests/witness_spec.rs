//! Interop with the C2SP witness specs (c2sp.org/tlog-witness, tlog-cosignature, signed-note,
//! tlog-checkpoint), from an implementation written here from the spec text and sharing no
//! code with `src/`: RFC 6962 hashing and proofs, note signatures, cosignatures and the
//! `add-checkpoint` HTTP exchange are all re-implemented below.
//!
//! - a test witness (a tiny HTTP server in this process) checks the requests our vault sends
//!   (format, log signature, consistency proof) and cosigns; the vault then releases;
//! - our `casevault witness serve` is driven with hand-made checkpoints and proofs, and its
//!   status codes and cosignatures are checked independently.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::*;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

type H = [u8; 32];

// ---- RFC 6962 (section 2.1) -------------------------------------------------------------

fn leaf(d: &[u8]) -> H {
    Sha256::new()
        .chain_update([0u8])
        .chain_update(d)
        .finalize()
        .into()
}

fn node(l: &H, r: &H) -> H {
    Sha256::new()
        .chain_update([1u8])
        .chain_update(l)
        .chain_update(r)
        .finalize()
        .into()
}

/// Largest power of two smaller than n (n > 1).
fn k_of(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]).
fn mth(d: &[H]) -> H {
    match d.len() {
        0 => Sha256::digest([]).into(),
        1 => d[0],
        n => {
            let k = k_of(n);
            node(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

/// SUBPROOF(m, D[n], b).
fn subproof(m: usize, d: &[H], b: bool) -> Vec<H> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![mth(d)] };
    }
    let k = k_of(n);
    if m <= k {
        let mut p = subproof(m, &d[..k], b);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}

/// PROOF(m, D[n]).
fn consistency(m: usize, d: &[H]) -> Vec<H> {
    if m == 0 || m == d.len() {
        vec![]
    } else {
        subproof(m, d, true)
    }
}

/// RFC 9162 section 2.1.4.2, written from the text.
fn verify_consistency(m: u64, n: u64, first: &H, second: &H, proof: &[H]) -> bool {
    if m == n {
        return proof.is_empty() && first == second;
    }
    if m == 0 || m > n || proof.is_empty() {
        return false;
    }
    let mut path = proof.to_vec();
    if m.is_power_of_two() {
        path.insert(0, *first);
    }
    let (mut fnode, mut snode) = (m - 1, n - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node(c, &fr);
            sr = node(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    fr == *first && sr == *second && snode == 0
}

// ---- signed notes and cosignatures ------------------------------------------------------

fn key_id(name: &str, alg: u8, pk: &VerifyingKey) -> [u8; 4] {
    let d = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', alg])
        .chain_update(pk.as_bytes())
        .finalize();
    [d[0], d[1], d[2], d[3]]
}

fn vkey(name: &str, alg: u8, pk: &VerifyingKey) -> String {
    let id: String = key_id(name, alg, pk)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut raw = vec![alg];
    raw.extend_from_slice(pk.as_bytes());
    format!("{name}+{id}+{}", B64.encode(raw))
}

fn parse_vkey(s: &str) -> (String, u8, VerifyingKey) {
    let mut p = s.trim().splitn(3, '+');
    let (name, id, key) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap());
    let raw = B64.decode(key).unwrap();
    let pk = VerifyingKey::from_bytes(&raw[1..].try_into().unwrap()).unwrap();
    let want: String = key_id(name, raw[0], &pk)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(want, id, "vkey id");
    (name.to_string(), raw[0], pk)
}

fn body(origin: &str, size: usize, root: &H) -> String {
    format!("{origin}\n{size}\n{}\n", B64.encode(root))
}

/// A checkpoint note signed by a type-0x01 key named `origin`.
fn sign_note(origin: &str, size: usize, root: &H, k: &SigningKey) -> String {
    let b = body(origin, size, root);
    let mut blob = key_id(origin, 1, &k.verifying_key()).to_vec();
    blob.extend_from_slice(&k.sign(b.as_bytes()).to_bytes());
    format!("{b}\n\u{2014} {origin} {}\n", B64.encode(blob))
}

/// Splits a note into body and signature lines (name, blob).
fn split(note: &str) -> (String, Vec<(String, Vec<u8>)>) {
    let i = note.find("\n\n").expect("blank line");
    let sigs = note[i + 2..]
        .lines()
        .map(|l| {
            let rest = l.strip_prefix("\u{2014} ").expect("em dash");
            let (n, b) = rest.split_once(' ').unwrap();
            (n.to_string(), B64.decode(b).unwrap())
        })
        .collect();
    (note[..i + 1].to_string(), sigs)
}

fn cosign(b: &str, name: &str, k: &SigningKey, t: u64) -> String {
    let msg = format!("cosignature/v1\ntime {t}\n{b}");
    let mut blob = key_id(name, 4, &k.verifying_key()).to_vec();
    blob.extend_from_slice(&t.to_be_bytes());
    blob.extend_from_slice(&k.sign(msg.as_bytes()).to_bytes());
    format!("\u{2014} {name} {}\n", B64.encode(blob))
}

/// Checks a cosignature line by (name, key) on `b`; returns its timestamp.
fn check_cosig(b: &str, line: &str, name: &str, pk: &VerifyingKey) -> Option<u64> {
    let rest = line.trim_end().strip_prefix("\u{2014} ")?;
    let (n, b64) = rest.split_once(' ')?;
    let blob = B64.decode(b64).ok()?;
    if n != name || blob.len() != 4 + 8 + 64 || blob[..4] != key_id(name, 4, pk) {
        return None;
    }
    let t = u64::from_be_bytes(blob[4..12].try_into().unwrap());
    let sig = ed25519_dalek::Signature::from_slice(&blob[12..]).ok()?;
    let msg = format!("cosignature/v1\ntime {t}\n{b}");
    pk.verify(msg.as_bytes(), &sig).ok().map(|_| t)
}

// ---- HTTP -------------------------------------------------------------------------------

/// (status, content type, body) of a raw POST.
fn post(addr: &str, path: &str, body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, rest) = resp.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let ctype = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, ctype, rest.to_string())
}

fn request(old: usize, proof: &[H], note: &str) -> String {
    let mut s = format!("old {old}\n");
    for h in proof {
        s.push_str(&B64.encode(h));
        s.push('\n');
    }
    s.push('\n');
    s.push_str(note);
    s
}

// ---- our witness server, checked from outside -------------------------------------------

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

fn witness_cmd(tmp: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_casevault"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CASEVAULT_LANG", "en")
        .env("TMPDIR", tmp)
        .stdin(Stdio::null());
    c
}

fn serve(tmp: &Path, state: &Path) -> Server {
    let mut child = witness_cmd(tmp)
        .args(["witness", "serve", "--listen", "127.0.0.1:0", "--state"])
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    Server { child, addr }
}

#[test]
fn our_witness_server_follows_tlog_witness_and_its_cosignatures_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("w");
    let name = "witness.test/w1";
    let mut c = witness_cmd(tmp.path());
    c.args(["--json", "witness", "init", "--name", name, "--state"])
        .arg(&state);
    let r = run(c).ok();
    let wkey = r.json()["vkey"].as_str().unwrap().to_string();
    let (wname, alg, wpk) = parse_vkey(&wkey);
    assert_eq!((wname.as_str(), alg), (name, 4));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(state.clone()), 0o700);
        assert_eq!(mode(state.join("key")), 0o600);
    }

    let origin = "log.test/spec";
    let log = SigningKey::from_bytes(&[9; 32]);
    let mut c = witness_cmd(tmp.path());
    c.args(["witness", "add-log", "--origin", origin, "--key"])
        .arg(vkey(origin, 1, &log.verifying_key()))
        .arg("--state")
        .arg(&state);
    run(c).ok();
    let srv = serve(tmp.path(), &state);
    let at = |p: &str| post(&srv.addr, "/add-checkpoint", p);

    let leaves: Vec<H> = (0..13u8).map(|i| leaf(&[i; 7])).collect();
    let note = |n: usize| sign_note(origin, n, &mth(&leaves[..n]), &log);

    // First checkpoint: old 0, empty proof.
    let (st, _, resp) = at(&request(0, &[], &note(5)));
    assert_eq!(st, 200, "{resp}");
    let b5 = body(origin, 5, &mth(&leaves[..5]));
    let line = resp.lines().next().unwrap();
    let t = check_cosig(&b5, line, name, &wpk).expect("cosignature verifies");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(t <= now && t + 60 > now, "timestamp {t}");
    assert!(resp.ends_with('\n'));
    // It signs the body it was given, not another one.
    assert!(check_cosig(&body(origin, 6, &mth(&leaves[..6])), line, name, &wpk).is_none());

    // A wrong old size: 409, text/x.tlog.size, the size it holds.
    let (st, ct, resp) = at(&request(0, &[], &note(9)));
    assert_eq!(
        (st, ct.as_str(), resp.as_str()),
        (409, "text/x.tlog.size", "5\n")
    );
    // A proof that does not verify: 422, and nothing recorded.
    let mut bad = consistency(5, &leaves[..9]);
    bad[0][0] ^= 1;
    assert_eq!(at(&request(5, &bad, &note(9))).0, 422);
    // A checkpoint of another tree at a larger size: 422 (a fork).
    let mut forked = leaves.clone();
    forked[2] = leaf(b"rewritten");
    let fnote = sign_note(origin, 9, &mth(&forked[..9]), &log);
    assert_eq!(
        at(&request(5, &consistency(5, &forked[..9]), &fnote)).0,
        422
    );
    // Same size, another root: 409.
    let fnote5 = sign_note(origin, 5, &mth(&forked[..5]), &log);
    assert_eq!(at(&request(5, &[], &fnote5)).0, 409);
    // A rollback: old larger than the checkpoint: 400.
    assert_eq!(at(&request(5, &[], &note(3))).0, 400);
    // Not signed by the trusted key: 403. Unknown origin: 404. Malformed: 400.
    let other = SigningKey::from_bytes(&[3; 32]);
    let forged = sign_note(origin, 9, &mth(&leaves[..9]), &other);
    assert_eq!(
        at(&request(5, &consistency(5, &leaves[..9]), &forged)).0,
        403
    );
    let stranger = sign_note("other.test/log", 9, &mth(&leaves[..9]), &log);
    assert_eq!(at(&request(0, &[], &stranger)).0, 404);
    assert_eq!(at("old 5\nnot base64!\n\n").0, 400);
    assert_eq!(at("hello").0, 400);
    assert_eq!(at(&format!("old 05\n\n{}", note(9))).0, 400);
    assert_eq!(post(&srv.addr, "/other", "x").0, 404);

    // The consistent extension is cosigned; a second cosignature, on the new body.
    let (st, _, resp) = at(&request(5, &consistency(5, &leaves[..9]), &note(9)));
    assert_eq!(st, 200, "{resp}");
    let b9 = body(origin, 9, &mth(&leaves[..9]));
    assert!(check_cosig(&b9, resp.lines().next().unwrap(), name, &wpk).is_some());
    // Resubmitting the same checkpoint (old = size, empty proof) is cosigned again.
    assert_eq!(at(&request(9, &[], &note(9))).0, 200);

    // Concurrent submissions for one log: exactly the consistent sequence advances, the size
    // never goes back.
    let srv_addr = srv.addr.clone();
    let l2 = leaves.clone();
    let handles: Vec<_> = (10..=13)
        .map(|n| {
            let addr = srv_addr.clone();
            let note = sign_note(origin, n, &mth(&l2[..n]), &log);
            let req = request(9, &consistency(9, &l2[..n]), &note);
            std::thread::spawn(move || post(&addr, "/add-checkpoint", &req).0)
        })
        .collect();
    let codes: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 200 || *c == 409), "{codes:?}");

    // The state survives a restart (durably stored).
    drop(srv);
    let srv = serve(tmp.path(), &state);
    let (st, _, resp) = post(&srv.addr, "/add-checkpoint", &request(0, &[], &note(13)));
    assert_eq!(st, 409);
    let held: usize = resp.trim().parse().unwrap();
    assert!((10..=13).contains(&held), "{held}");
}

// ---- our vault's client, checked by a witness written here ------------------------------

/// What the test witness saw: (old size, proof length, checkpoint size).
type Seen = Arc<Mutex<Vec<(usize, usize, usize)>>>;

/// A minimal tlog-witness: one request per connection, state in memory.
fn spec_witness(log_vkey: String, name: &'static str, key: SigningKey) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen: Seen = Arc::default();
    let seen2 = Arc::clone(&seen);
    let (origin, alg, log_pk) = parse_vkey(&log_vkey);
    assert_eq!(alg, 1);
    std::thread::spawn(move || {
        let mut latest: (usize, H) = (0, Sha256::digest([]).into());
        for s in listener.incoming() {
            let mut s = s.unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            assert!(line.starts_with("POST /add-checkpoint HTTP/1.1"), "{line}");
            let mut len = 0;
            loop {
                line.clear();
                r.read_line(&mut line).unwrap();
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut buf = vec![0; len];
            r.read_exact(&mut buf).unwrap();
            let text = String::from_utf8(buf).unwrap();
            // Body: "old N\n", proof lines, "\n", checkpoint.
            let (head, note) = text.split_once("\n\n").unwrap();
            let mut lines = head.lines();
            let old: usize = lines
                .next()
                .unwrap()
                .strip_prefix("old ")
                .unwrap()
                .parse()
                .unwrap();
            let proof: Vec<H> = lines
                .map(|l| B64.decode(l).unwrap().try_into().unwrap())
                .collect();
            assert!(proof.len() <= 63);
            let (b, sigs) = split(note);
            let bl: Vec<&str> = b.lines().collect();
            assert_eq!(bl.len(), 3);
            assert_eq!(bl[0], origin);
            let size: usize = bl[1].parse().unwrap();
            let root: H = B64.decode(bl[2]).unwrap().try_into().unwrap();
            let id = key_id(&origin, 1, &log_pk);
            let (_, blob) = sigs
                .iter()
                .find(|(n, blob)| *n == origin && blob[..4] == id)
                .expect("signed by the log");
            let sig = ed25519_dalek::Signature::from_slice(&blob[4..]).unwrap();
            log_pk.verify(b.as_bytes(), &sig).expect("log signature");
            seen2.lock().unwrap().push((old, proof.len(), size));
            let reply = if old != latest.0 {
                format!(
                    "HTTP/1.1 409 Conflict\r\nContent-Type: text/x.tlog.size\r\nContent-Length: {}\r\n\r\n{}\n",
                    latest.0.to_string().len() + 1,
                    latest.0
                )
            } else {
                let ok = if old == 0 {
                    proof.is_empty()
                } else {
                    verify_consistency(old as u64, size as u64, &latest.1, &root, &proof)
                };
                assert!(ok, "our client sent a proof that does not verify");
                latest = (size, root);
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let line = cosign(&b, name, &key, t);
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{line}",
                    line.len()
                )
            };
            s.write_all(reply.as_bytes()).unwrap();
        }
    });
    (addr, seen)
}

/// The shipped policy with `witness_quorum = 1` and one `[[witness]]`.
fn policy_with_witness(v: &TestVault, wkey: &str, url: &str) -> PathBuf {
    let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/policy"));
    let dst = v.tmp.path().join("policy-w");
    std::fs::create_dir_all(dst.join("templates")).unwrap();
    let main = std::fs::read_to_string(src.join("policy.toml")).unwrap();
    let name = wkey.split('+').next().unwrap();
    std::fs::write(
        dst.join("policy.toml"),
        format!("witness_quorum = 1\n{main}\n[[witness]]\nname = \"{name}\"\nkey = \"{wkey}\"\nurl = \"{url}\"\n"),
    )
    .unwrap();
    for e in std::fs::read_dir(src.join("templates")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join("templates").join(e.file_name())).unwrap();
    }
    dst
}

#[test]
fn our_vault_client_talks_tlog_witness_to_an_independent_witness() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    v.process_note("wang", case, "first session").ok();
    v.partner("Partner");
    let c = v.run("wang", CONSENT_C001_PARTNER).ok().json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let pinned = v
        .run("admin", &["log", "key"])
        .ok()
        .stdout
        .trim()
        .to_string();
    // The checkpoint key rotated from the pinned one at the first supervisor session (issue
    // 11 item 1); for this spec witness, following a rotation is configuration: it trusts
    // the current checkpoint key.
    let origin = casevault::log::VerifierKey::parse(&pinned).unwrap().name;
    let log_vkey =
        casevault::log::VerifierKey::new(&origin, v.checkpoint_key("li").verifying_key()).encode();
    let wk = SigningKey::from_bytes(&[77; 32]);
    let name = "spec.test/witness";
    let wvkey = vkey(name, 4, &wk.verifying_key());
    let (addr, seen) = spec_witness(log_vkey, name, wk.clone());
    let pol = policy_with_witness(&v, &wvkey, &format!("http://{addr}"));
    // Adding a witness lowers protection on a vault with records: a supervisor approves.
    v.run("li", &["policy", "approve", pol.to_str().unwrap()])
        .ok();
    v.run("admin", &["policy", "apply", pol.to_str().unwrap()])
        .ok();

    let export = |out: &Path| {
        // A supervisor's export releases at once.
        v.run(
            "li",
            &[
                "--json",
                "referral",
                "export",
                "--case",
                &case.to_string(),
                "--to",
                "Partner",
                "--consent",
                &c,
                "--purpose",
                "housing support",
                "--out",
                out.to_str().unwrap(),
            ],
        )
    };
    export(&v.tmp.path().join("p1.age")).ok();
    v.process_note("wang", case, "second session").ok();
    export(&v.tmp.path().join("p2.age")).ok();
    let seen = seen.lock().unwrap().clone();
    // Each export, and the note between them (every command that grows the log submits its
    // checkpoint when it ends), is submitted.
    assert!(seen.len() >= 2, "{seen:?}");
    assert_eq!(
        (seen[0].0, seen[0].1),
        (0, 0),
        "first submission: old 0, no proof"
    );
    for w in seen.windows(2) {
        assert_eq!(w[1].0, w[0].2, "each starts where the last ended: {seen:?}");
        assert!(w[1].1 > 0 && w[1].2 > w[1].0, "{seen:?}");
    }
    // In-vault verify counts every stored checkpoint as meeting the quorum.
    let r = v.run("audit", &["log", "verify"]).ok();
    let n = seen.len();
    assert!(r.stderr.contains(&format!("{n}/{n}")), "{}", r.stderr);
}
