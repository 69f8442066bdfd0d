//! Receipts checked on the receiving side and consistency proofs for partners (issue 11,
//! item 4). Two vaults: `a` sends packets to `b`; `b` knows `a` as "First", with `a`'s log
//! verifier key recorded (or, for the "unchecked" case, without it).

mod common;

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use casevault::log::merkle::{consistency_proof, leaf_hash, root, Hash};
use casevault::log::{Checkpoint, ConsistencyProof};
use casevault::packet::{self, Attachment, PacketInput, PublicKey};
use common::*;
use ed25519_dalek::SigningKey;
use serde_json::Value;

fn key(v: &TestVault, args: &[&str], field: &str) -> String {
    v.run("admin", args).ok().json()[field]
        .as_str()
        .unwrap()
        .to_string()
}

/// `a` and `b` register each other; `b` records `a`'s log key when `log_key` is set.
fn pair(a: &TestVault, b: &TestVault, log_key: bool) {
    let b_inbound = key(b, &["--json", "agency", "inbound-key"], "age_recipient");
    let b_pub = key(b, &["--json", "agency", "key"], "minisign_public_key");
    a.run(
        "admin",
        &[
            "agency",
            "add",
            "Second",
            "--age-recipient",
            &b_inbound,
            "--minisign-pubkey",
            &b_pub,
        ],
    )
    .ok();
    let a_inbound = key(a, &["--json", "agency", "inbound-key"], "age_recipient");
    let a_pub = key(a, &["--json", "agency", "key"], "minisign_public_key");
    let a_log = key(a, &["--json", "agency", "key"], "log_verifier_key");
    let mut args = vec![
        "agency",
        "add",
        "First",
        "--age-recipient",
        &a_inbound,
        "--minisign-pubkey",
        &a_pub,
    ];
    if log_key {
        args.extend(["--log-key", &a_log]);
    }
    b.run("admin", &args).ok();
}

/// `a` exports a process note of a new client `number` to "Second" as `out`.
fn send(a: &TestVault, number: &str, out: &Path) {
    let case = a.client_with_case(number, "Zhang San");
    let rec = a
        .process_note("wang", case, "ordinary-session-text")
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let consent = a
        .run(
            "wang",
            &[
                "--json",
                "consent",
                "add",
                "--client",
                number,
                "--agency",
                "Second",
                "--signer",
                "client",
                "--signer-name",
                "Zhang San",
                "--purpose",
                "housing support",
                "--kinds",
                "process",
                "--tiers",
                "1,2",
                "--revoke-how",
                "call 021-123",
                "--signed",
                "2025-01-01",
                "--expires",
                "2099-12-31",
            ],
        )
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    a.run(
        "li",
        &[
            "referral",
            "export",
            "--case",
            &case.to_string(),
            "--to",
            "Second",
            "--consent",
            &consent,
            "--purpose",
            "housing support",
            "--records",
            &rec,
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .ok();
}

fn setup(log_key: bool) -> (TestVault, TestVault, PathBuf) {
    let a = TestVault::new();
    let b = TestVault::new();
    pair(&a, &b, log_key);
    let out = a.tmp.path().join("p1.age");
    send(&a, "C001", &out);
    (a, b, out)
}

/// The sender's log (checkpoint) signing key, as an insider of `a` reads it.
fn log_key(a: &TestVault) -> SigningKey {
    // Since issue 11 item 1 only a supervisor holds it (or someone with a supervisor's copy).
    a.checkpoint_key("li")
}

/// A supervisor's own copy of the agency's current packet key and inbound identity (the
/// newest generation wrapped to `li`, opened with li's identity, as li could with stock age).
fn agency_secrets(v: &TestVault) -> (SigningKey, age::x25519::Identity) {
    let s = v.session("li");
    let wrapped: Vec<u8> = s
        .conn
        .query_row(
            "SELECT wrapped FROM supervisor_keys WHERE holder = 'li' ORDER BY generation DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let text = String::from_utf8(age::decrypt(&s.me.age, &wrapped).unwrap()).unwrap();
    let line = |tag: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(tag))
            .unwrap()
            .to_string()
    };
    let seed: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&line("# packet ")[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    (
        SigningKey::from_bytes(&seed.try_into().unwrap()),
        line("# inbound ").parse().unwrap(),
    )
}

/// Decrypts `packet` with `b`'s inbound identity, lets `change` alter the receipt (body,
/// entry index, checkpoint), and seals the same content again, signed by `a`: a packet
/// whose signature, hashes and content digest are all right and whose receipt is not.
fn reseal(
    a: &TestVault,
    b: &TestVault,
    packet: &Path,
    name: &str,
    change: impl FnOnce(&mut Value, &mut u64, &mut String),
) -> PathBuf {
    let sk = agency_secrets(a).0;
    let identity = agency_secrets(b).1;
    let ct = std::fs::read(packet).unwrap();
    let sig = std::fs::read_to_string(format!("{}.minisig", packet.display())).unwrap();
    let p = packet::open(&ct, &sig, &PublicKey::from_signing_key(&sk), &identity).unwrap();
    let m = &p.manifest;
    let created: u64 = p
        .trusted_comment
        .split('\t')
        .find_map(|f| f.strip_prefix("timestamp:"))
        .unwrap()
        .parse()
        .unwrap();
    let input = PacketInput {
        created_unix: created,
        sender_name: m.sender.name.clone(),
        recipient_name: m.recipient.name.clone(),
        purpose: m.purpose.clone(),
        consent: m.consent.clone(),
        redisclosure_notice: m.redisclosure_notice.clone(),
        records: p.records.clone(),
        attachments: p
            .attachments
            .iter()
            .map(|x| Attachment {
                name: x.name.clone(),
                bytes: x.bytes.to_vec(),
            })
            .collect(),
        receipt: None,
    };
    let recipient = identity.to_public();
    let prepared = packet::prepare_with_id(&input, &sk, &recipient, m.packet_id.clone()).unwrap();
    assert_eq!(prepared.content_sha256(), m.content_sha256());
    let r = m.receipt.clone().unwrap();
    let (mut body, mut index, mut checkpoint) = (p.receipt.clone(), r.entry_index, r.checkpoint);
    change(&mut body, &mut index, &mut checkpoint);
    let built = prepared
        .seal(packet::Receipt {
            entry_index: index,
            checkpoint,
            body,
        })
        .unwrap();
    let out = a.tmp.path().join(format!("{name}.age"));
    std::fs::write(&out, &built.ciphertext).unwrap();
    std::fs::write(format!("{}.minisig", out.display()), &built.minisig).unwrap();
    out
}

fn packet_cmd(b: &TestVault, verb: &str, file: &Path, json: bool) -> Run {
    let mut args = vec!["packet", verb, file.to_str().unwrap(), "--from", "First"];
    if json {
        args.insert(0, "--json");
    }
    b.run("li", &args)
}

/// verify, open and import each refuse `file`, naming `why`; nothing is imported.
fn refused_everywhere(b: &TestVault, file: &Path, why: &str) {
    for verb in ["verify", "open", "import"] {
        let r = packet_cmd(b, verb, file, false).fails();
        assert!(
            r.stderr.contains("refused") && r.stderr.contains(why),
            "{verb}: {}",
            r.stderr
        );
    }
    let cases = b.run("li", &["--json", "case", "list"]).ok().json();
    assert_eq!(cases.as_array().map(|c| c.len()), Some(0), "{cases}");
}

#[test]
fn a_good_receipt_is_checked_and_broken_ones_are_refused_by_verify_open_and_import() {
    let (a, b, good) = setup(true);

    // Broken inclusion proof: one hash of the path changed.
    let bad_proof = reseal(&a, &b, &good, "bad-proof", |body, _, _| {
        let h = body["proof"][0].as_str().unwrap();
        let mut bytes = B64.decode(h).unwrap();
        bytes[0] ^= 1;
        body["proof"][0] = Value::String(B64.encode(bytes));
    });
    refused_everywhere(&b, &bad_proof, "inclusion proof fails");

    // Altered checkpoint (another root, same signature line), in the receipt and manifest.
    let bad_cp = reseal(&a, &b, &good, "bad-checkpoint", |body, _, cp| {
        let lines: Vec<&str> = cp.split('\n').collect();
        let other = B64.encode([7u8; 32]);
        let altered = cp.replace(lines[2], &other);
        *cp = altered.clone();
        body["checkpoint"] = Value::String(altered);
    });
    refused_everywhere(&b, &bad_cp, "checkpoint");

    // The receipt of another (real, correctly proved) entry of the sender's log.
    let other = casevault::log::receipt_for(&a.insider_db("admin"), 1).unwrap();
    let other_json: Value = serde_json::from_str(&other.to_json()).unwrap();
    let bad_entry = reseal(&a, &b, &good, "other-entry", |body, index, cp| {
        *body = other_json;
        *index = other.index;
        *cp = other.checkpoint.clone();
    });
    refused_everywhere(&b, &bad_entry, "another log entry");

    // No receipt where one must be: receipt.json is not a receipt at all.
    let missing = reseal(&a, &b, &good, "no-receipt", |body, _, _| {
        *body = serde_json::json!({});
    });
    refused_everywhere(&b, &missing, "receipt is malformed");

    // The good packet passes each of them and says its receipt was checked.
    let v = packet_cmd(&b, "verify", &good, false).ok();
    assert!(v.stdout.contains("log receipt checked"), "{}", v.stdout);
    assert!(v.stdout.contains("first checkpoint"), "{}", v.stdout);
    let j = packet_cmd(&b, "verify", &good, true).ok().json();
    assert_eq!(j["receipt"], "checked");
    assert_eq!(j["receipt_consistency"], "proved");
    let o = packet_cmd(&b, "open", &good, true).ok().json();
    assert_eq!(o["receipt"], "checked");
    let i = packet_cmd(&b, "import", &good, true).ok().json();
    assert_eq!(i["receipt"], "checked");

    // A checkpoint with a witness cosignature line is not rejected, and the line is kept.
    let cosigned = reseal(&a, &b, &good, "cosigned", |body, _, cp| {
        let line = format!("\u{2014} witness.example/w1 {}\n", B64.encode([5u8; 68]));
        cp.push_str(&line);
        body["checkpoint"] = Value::String(cp.clone());
    });
    let j = packet_cmd(&b, "verify", &cosigned, true).ok().json();
    assert_eq!(j["receipt"], "checked");
    let notes: Vec<String> = b
        .insider_db("admin")
        .prepare("SELECT note FROM partner_checkpoints")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|n| n.unwrap())
        .collect();
    assert_eq!(notes.len(), 1);
    assert!(notes[0].contains("witness.example/w1"), "{notes:?}");
}

#[test]
fn without_the_senders_log_key_the_receipt_is_shown_unchecked() {
    let (a, b, good) = setup(false);
    let show = b
        .run("admin", &["--json", "agency", "show", "First"])
        .ok()
        .json();
    assert!(show["log_key"].is_null(), "{show}");
    let v = packet_cmd(&b, "verify", &good, false).ok();
    assert!(v.stdout.contains("could not be checked"), "{}", v.stdout);
    let j = packet_cmd(&b, "verify", &good, true).ok().json();
    assert_eq!(j["receipt"], "unchecked");
    assert_eq!(
        packet_cmd(&b, "open", &good, true).ok().json()["receipt"],
        "unchecked"
    );
    // Even a broken receipt cannot be told apart then: it is not passed silently either.
    let broken = reseal(&a, &b, &good, "bad-proof", |body, _, _| {
        body["proof"] = Value::Array(vec![]);
    });
    let i = packet_cmd(&b, "import", &broken, true).ok().json();
    assert_eq!(i["receipt"], "unchecked");
}

/// `b`'s view of packet `file` as JSON (`packet open`).
fn opened(b: &TestVault, file: &Path) -> Value {
    packet_cmd(b, "open", file, true).ok().json()
}

#[test]
fn a_consistency_proof_for_an_older_receipt_verifies_at_the_receiver() {
    let (a, b, p1) = setup(true);
    let show = b
        .run("admin", &["--json", "agency", "show", "First"])
        .ok()
        .json();
    assert!(show["log_key"]
        .as_str()
        .unwrap()
        .starts_with("casevault.local/"));
    let o1 = opened(&b, &p1);
    assert_eq!(o1["receipt_consistency"], "first");
    let r1 = a.tmp.path().join("r1.json");
    std::fs::write(&r1, o1["receipt_json"].to_string()).unwrap();

    // More appends at the sender, and a second packet under a newer checkpoint.
    let p2 = a.tmp.path().join("p2.age");
    send(&a, "C002", &p2);
    let o2 = opened(&b, &p2);
    assert_eq!(o2["receipt_consistency"], "unproved", "{o2}");
    assert!(o2["receipt_checkpoint_size"].as_u64() > o1["receipt_checkpoint_size"].as_u64());
    a.process_note("wang", 1, "later-note").ok();
    // A supervisor's session covers the caseworker's entries with a checkpoint.
    a.run("li", &["case", "list"]).ok();

    // Only an auditor or supervisor proves; the proof verifies at the receiver.
    a.run("wang", &["log", "prove", "--receipt", r1.to_str().unwrap()])
        .fails();
    let proof = a
        .run(
            "audit",
            &["log", "prove", "--receipt", r1.to_str().unwrap()],
        )
        .ok()
        .stdout;
    let pf = a.tmp.path().join("proof.json");
    std::fs::write(&pf, &proof).unwrap();
    let c = b
        .run(
            "audit",
            &[
                "--json",
                "packet",
                "check-proof",
                "--from",
                "First",
                "--proof",
                pf.to_str().unwrap(),
            ],
        )
        .ok()
        .json();
    assert_eq!(c["linked"], true, "{c}");
    assert_eq!(c["old_size"], o1["receipt_checkpoint_size"]);
    assert!(c["new_size"].as_u64() > o2["receipt_checkpoint_size"].as_u64());
    assert_eq!(
        c["unproved"],
        serde_json::json!([o2["receipt_checkpoint_size"]])
    );

    // The second packet's checkpoint is proved too once its own receipt is.
    let r2 = a.tmp.path().join("r2.json");
    std::fs::write(&r2, o2["receipt_json"].to_string()).unwrap();
    let proof2 = a
        .run("li", &["log", "prove", "--receipt", r2.to_str().unwrap()])
        .ok()
        .stdout;
    std::fs::write(&pf, &proof2).unwrap();
    let c2 = b
        .run(
            "audit",
            &[
                "--json",
                "packet",
                "check-proof",
                "--agency",
                "First",
                "--proof",
                pf.to_str().unwrap(),
            ],
        )
        .ok()
        .json();
    assert_eq!(c2["unproved"], serde_json::json!([]), "{c2}");
    assert_eq!(opened(&b, &p2)["receipt_consistency"], "proved");

    // A proof altered on the way is refused.
    let mut bad: Value = serde_json::from_str(&proof).unwrap();
    bad["proof"][0] = Value::String(B64.encode([9u8; 32]));
    std::fs::write(&pf, bad.to_string()).unwrap();
    let r = b
        .run(
            "audit",
            &[
                "packet",
                "check-proof",
                "--from",
                "First",
                "--proof",
                pf.to_str().unwrap(),
            ],
        )
        .fails();
    assert!(r.stderr.contains("ALARM"), "{}", r.stderr);
}

#[test]
fn a_forked_sender_log_is_refused_at_log_prove_and_its_proof_at_the_receiver() {
    let (a, b, p1) = setup(true);
    let o1 = opened(&b, &p1);
    let r1 = a.tmp.path().join("r1.json");
    std::fs::write(&r1, o1["receipt_json"].to_string()).unwrap();
    let old_cp = o1["receipt_json"]["checkpoint"]
        .as_str()
        .unwrap()
        .to_string();

    // An insider rewrites the disclosure entry (its signature bytes) and signs a new
    // checkpoint over the rewritten log with the log key from `meta`.
    let index = o1["receipt_entry"].as_u64().unwrap();
    let sk = log_key(&a);
    let db = a.insider_db("admin");
    let mut stored: Vec<u8> = db
        .query_row(
            "SELECT stored FROM log_entries WHERE idx = ?1",
            [index as i64],
            |r| r.get(0),
        )
        .unwrap();
    let last = stored.len() - 1;
    stored[last] ^= 1;
    db.execute(
        "UPDATE log_entries SET stored = ?1 WHERE idx = ?2",
        rusqlite::params![stored, index as i64],
    )
    .unwrap();
    let leaves: Vec<Hash> = db
        .prepare("SELECT stored FROM log_entries ORDER BY idx")
        .unwrap()
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|s| leaf_hash(&s.unwrap()))
        .collect();
    let origin = Checkpoint::parse_unverified(&old_cp).unwrap().origin;
    let forged = Checkpoint {
        origin,
        size: leaves.len() as u64,
        root: root(&leaves),
    }
    .sign(&sk);
    db.execute(
        "INSERT OR REPLACE INTO log_checkpoints(size, note, last_proof) VALUES (?1, ?2, x'')",
        rusqlite::params![leaves.len() as i64, forged],
    )
    .unwrap();
    drop(db);

    // The sender's own `log prove` refuses: an alarm, not a proof.
    let r = a
        .run(
            "audit",
            &["log", "prove", "--receipt", r1.to_str().unwrap()],
        )
        .fails();
    assert!(
        r.stderr.contains("ALARM") && r.stderr.contains("fork"),
        "{}",
        r.stderr
    );

    // A proof made by hand from the rewritten log is refused by the receiver.
    let old_size = Checkpoint::parse_unverified(&old_cp).unwrap().size;
    let proof = ConsistencyProof {
        format: casevault::log::PROOF_FORMAT.into(),
        version: casevault::log::PROOF_VERSION,
        old: old_cp,
        new: forged,
        proof: consistency_proof(&leaves, old_size)
            .unwrap()
            .iter()
            .map(|h| B64.encode(h))
            .collect(),
        // The handovers the receipt carried (the checkpoint key rotated at the first
        // supervisor session).
        chain: serde_json::from_value(o1["receipt_json"]["chain"].clone()).unwrap_or_default(),
        chain_keys: serde_json::from_value(o1["receipt_json"]["chain_keys"].clone())
            .unwrap_or_default(),
    };
    let pf = a.tmp.path().join("forged-proof.json");
    std::fs::write(&pf, proof.to_json()).unwrap();
    let r = b
        .run(
            "audit",
            &[
                "packet",
                "check-proof",
                "--from",
                "First",
                "--proof",
                pf.to_str().unwrap(),
            ],
        )
        .fails();
    assert!(
        r.stderr.contains("ALARM") && r.stderr.contains("refused"),
        "{}",
        r.stderr
    );
}

/// The insider test of issue 11 (round 3): the founding key, superseded long ago, re-signs a
/// proof and leaves out the handovers. The receiver remembers checkpoints signed by the newer
/// key that such a chain cannot open: a fork, never quietly dropped.
#[test]
fn a_proof_from_a_superseded_key_without_the_handovers_is_refused() {
    let (a, b, p1) = setup(true);
    let o1 = opened(&b, &p1);
    let r1 = a.tmp.path().join("r1.json");
    std::fs::write(&r1, o1["receipt_json"].to_string()).unwrap();
    a.process_note("wang", 1, "later-note").ok();
    a.run("li", &["case", "list"]).ok();
    let proof = a
        .run(
            "audit",
            &["log", "prove", "--receipt", r1.to_str().unwrap()],
        )
        .ok()
        .stdout;
    let k0 = a.generation_checkpoint_key("admin", 0);
    let mut forged: Value = serde_json::from_str(&proof).unwrap();
    for side in ["old", "new"] {
        let cp =
            casevault::log::Checkpoint::parse_unverified(forged[side].as_str().unwrap()).unwrap();
        forged[side] = Value::String(cp.sign(&k0));
    }
    forged.as_object_mut().unwrap().remove("chain");
    forged.as_object_mut().unwrap().remove("chain_keys");
    let pf = a.tmp.path().join("forged.json");
    std::fs::write(&pf, forged.to_string()).unwrap();
    let r = b
        .run(
            "audit",
            &[
                "packet",
                "check-proof",
                "--agency",
                "First",
                "--proof",
                pf.to_str().unwrap(),
            ],
        )
        .fails();
    assert!(r.stderr.contains("ALARM"), "{}", r.stderr);
}
