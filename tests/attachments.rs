//! Record attachments: round trip, signature coverage, tier-3 keys, no plaintext on disk,
//! and attachments in referral packets opened with stock `age` and `tar`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use casevault::log::{Filter, KindCode};
use casevault::vault::Session;
use common::*;

fn session(v: &TestVault, who: &str) -> Session {
    v.session(who)
}

/// Writes `bytes` to `<tmp>/files/<name>` and returns the path.
fn file(v: &TestVault, name: &str, bytes: &[u8]) -> PathBuf {
    let d = v.tmp.path().join("files");
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Adds a record of `kind` with `fields` and `--attach` for each file, as `who`.
fn add(v: &TestVault, who: &str, case: i64, kind: &str, files: &[&Path], extra: &[&str]) -> Run {
    let fields = match kind {
        "supervision" => serde_json::json!({ "date": "2026-11-20", "topic": "t" }),
        _ => serde_json::json!({
            "client_number": "C001", "date": "2026-11-20", "session_aim": "a", "narrative": "n"
        }),
    };
    let case = case.to_string();
    let mut args = vec![
        "--json", "record", "add", "--case", &case, "--kind", kind, "--fields", "-",
    ];
    for f in files {
        args.extend(["--attach", f.to_str().unwrap()]);
    }
    args.extend_from_slice(extra);
    v.run_stdin(who, &args, &fields.to_string())
}

fn id(r: &Run) -> i64 {
    r.json()["id"].as_i64().unwrap()
}

/// `record attachment` as `who`, stdout piped: (exit code, raw stdout, stderr).
fn fetch(v: &TestVault, who: &str, record: i64, name: &str) -> (i32, Vec<u8>, String) {
    let mut c = v.as_(who);
    c.args(["record", "attachment", &record.to_string(), name]);
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn binary(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn round_trip_names_and_limits() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let scan = binary(200_000, 7);
    let a = file(&v, "家访 scan (1).pdf", &scan);
    let b = file(&v, "notes.txt", b"plain notes");
    let r = add(&v, "wang", case, "process", &[&a, &b], &[]).ok();
    let rid = id(&r);

    let shown = v.run("wang", &["record", "show", &rid.to_string()]).ok();
    assert!(
        shown.stdout.contains("attachments (2)")
            && shown.stdout.contains("家访 scan (1).pdf")
            && shown.stdout.contains("195.3 KiB")
            && shown.stdout.contains("notes.txt"),
        "{}",
        shown.stdout
    );
    let j = v
        .run("wang", &["--json", "record", "show", &rid.to_string()])
        .ok()
        .json();
    assert_eq!(j["attachments"][0]["name"], "家访 scan (1).pdf");
    assert_eq!(j["attachments"][0]["size"], 200_000);
    assert_eq!(
        j["attachments"][0]["sha256"],
        casevault::crypto::hex(&casevault::crypto::sha256(&scan))
    );

    let (code, out, err) = fetch(&v, "wang", rid, "家访 scan (1).pdf");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, scan);
    let (code, out, _) = fetch(&v, "wang", rid, "notes.txt");
    assert_eq!((code, out.as_slice()), (0, &b"plain notes"[..]));
    let (code, _, err) = fetch(&v, "wang", rid, "nope.txt");
    assert_ne!(code, 0);
    assert!(err.contains("has no attachment of that name"), "{err}");
    // Not assigned: no fetch.
    let (code, _, err) = fetch(&v, "chen", rid, "notes.txt");
    assert_ne!(code, 0);
    assert!(err.contains("not assigned"), "{err}");

    // An amendment carries its own attachments; the original keeps its own.
    let c = file(&v, "update.txt", b"second");
    let fields = serde_json::json!({"client_number": "C001", "date": "2026-11-21",
        "session_aim": "a", "narrative": "amended"});
    let am = v
        .run_stdin(
            "wang",
            &[
                "--json",
                "record",
                "amend",
                &rid.to_string(),
                "--fields",
                "-",
                "--attach",
                c.to_str().unwrap(),
            ],
            &fields.to_string(),
        )
        .ok();
    let am = id(&am);
    assert_eq!(fetch(&v, "wang", am, "update.txt").1, b"second");
    assert_ne!(fetch(&v, "wang", am, "notes.txt").0, 0);

    // A record without attachments still works and lists none.
    let plain = id(&v.process_note("wang", case, "no files").ok());
    let j = v
        .run("wang", &["--json", "record", "show", &plain.to_string()])
        .ok()
        .json();
    assert_eq!(j["attachments"], serde_json::json!([]));

    // Names: only the file name is kept; unusable names and duplicates are refused.
    let hidden = file(&v, ".hidden", b"x");
    let r = add(&v, "wang", case, "process", &[&hidden], &[]).fails();
    assert!(r.stderr.contains("unusable file name"), "{}", r.stderr);
    let sub = v.tmp.path().join("files/sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("notes.txt"), b"y").unwrap();
    let r = add(
        &v,
        "wang",
        case,
        "process",
        &[&b, &sub.join("notes.txt")],
        &[],
    )
    .fails();
    assert!(r.stderr.contains("same name"), "{}", r.stderr);
    let r = add(&v, "wang", case, "process", &[&sub], &[]).fails();
    assert!(r.stderr.contains("not a regular file"), "{}", r.stderr);

    // Size: 64 MiB + 1 byte (sparse file) is refused before it is read.
    let big = v.tmp.path().join("files/big.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    let r = add(&v, "wang", case, "process", &[&big], &[]).fails();
    assert!(r.stderr.contains("limit of 64 MiB"), "{}", r.stderr);
}

#[test]
fn stored_ciphertext_is_covered_by_the_signature() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let a = file(&v, "a.txt", b"attachment of record one");
    let b = file(&v, "a.txt.b", b"attachment of record two");
    let r1 = id(&add(&v, "wang", case, "process", &[&a], &[]).ok());
    let r2 = id(&add(&v, "wang", case, "process", &[&b], &[]).ok());
    let body = |s: &Session, r: i64| -> Vec<u8> {
        s.conn
            .query_row(
                "SELECT body FROM attachments WHERE record_id = ?1 AND seq = 0",
                [r],
                |row| row.get(0),
            )
            .unwrap()
    };
    let set = |s: &Session, r: i64, b: &[u8]| {
        s.conn
            .execute(
                "UPDATE attachments SET body = ?2 WHERE record_id = ?1 AND seq = 0",
                rusqlite::params![r, b],
            )
            .unwrap();
    };
    let tampered = |r: i64, name: &str| {
        let (code, out, err) = fetch(&v, "wang", r, name);
        assert_ne!(code, 0, "tampering went unnoticed");
        assert!(out.is_empty(), "bytes left despite the failed check");
        assert!(err.contains("integrity check"), "{err}");
    };
    let (orig1, orig2) = {
        let s = session(&v, "wang");
        (body(&s, r1), body(&s, r2))
    };

    // 1. A flipped ciphertext byte.
    {
        let s = session(&v, "wang");
        let mut x = orig1.clone();
        let n = x.len();
        x[n - 3] ^= 1;
        set(&s, r1, &x);
    }
    tampered(r1, "a.txt");
    // 2. Swapped between two records of the same case and tier (both decrypt fine).
    {
        let s = session(&v, "wang");
        set(&s, r1, &orig2);
        set(&s, r2, &orig1);
    }
    tampered(r1, "a.txt");
    tampered(r2, "a.txt.b");
    // 3. Fresh, valid ciphertext of other bytes to the case's public tier key: only the
    //    signed hash can tell.
    {
        let s = session(&v, "wang");
        let rcpt: String = s
            .conn
            .query_row(
                "SELECT recipient FROM case_keys WHERE case_id = ?1 AND tier = 2",
                [case],
                |r| r.get(0),
            )
            .unwrap();
        let rcpt: age::x25519::Recipient = rcpt.parse().unwrap();
        let forged = casevault::crypto::encrypt(&rcpt, b"attachment of record ONE").unwrap();
        set(&s, r1, &forged);
        set(&s, r2, &orig2);
    }
    tampered(r1, "a.txt");
    // 4. Deleted.
    {
        let s = session(&v, "wang");
        set(&s, r1, &orig1);
        s.conn
            .execute("DELETE FROM attachments WHERE record_id = ?1", [r2])
            .unwrap();
    }
    assert_eq!(
        fetch(&v, "wang", r1, "a.txt").1,
        b"attachment of record one"
    );
    tampered(r2, "a.txt.b");
}

#[test]
fn tier3_attachments_are_supervisor_only_and_logged() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let a = file(&v, "disclosure.txt", b"restricted attachment");
    // A caseworker writes a tier-3 note with an attachment but cannot read it back.
    let rid = id(&add(&v, "wang", case, "supervision", &[&a], &[]).ok());
    let (code, out, err) = fetch(&v, "wang", rid, "disclosure.txt");
    assert_ne!(code, 0);
    assert!(out.is_empty());
    assert!(err.contains("restricted (supervisors only)"), "{err}");
    // Even going around the payload: the stored ciphertext is to the tier-3 key, which
    // the caseworker does not hold.
    {
        let s = session(&v, "wang");
        let meta = casevault::store::records::get(&s.conn, rid)
            .unwrap()
            .unwrap()
            .meta;
        let (epoch, body) = casevault::store::attachments::get(&s.conn, rid, 0)
            .unwrap()
            .unwrap();
        assert_eq!(meta.tier, 3);
        assert!(s.case_keys(case, epoch).unwrap().tier(3).is_none());
        assert!(!body.is_empty());
    }
    // The supervisor reads it; the read is logged with the attachment's hash.
    let (code, out, err) = fetch(&v, "li", rid, "disclosure.txt");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, b"restricted attachment");
    let s = session(&v, "audit");
    let e = casevault::log::entries(
        &s.conn,
        &Filter {
            kind: Some(KindCode::Tier3Read),
            ..Default::default()
        },
    )
    .unwrap();
    let e = e
        .iter()
        .find(|e| e.entry.detail == format!("record {rid} attachment #1"))
        .expect("tier-3 attachment read logged");
    assert_eq!(
        e.entry.disclosed_sha256.unwrap(),
        casevault::crypto::sha256(b"restricted attachment")
    );

    // Rekey re-encrypts attachments too; they stay readable and verified.
    v.run("li", &["rekey", "--case", &case.to_string()]).ok();
    assert_eq!(
        fetch(&v, "li", rid, "disclosure.txt").1,
        b"restricted attachment"
    );
}

#[test]
fn attachment_canary_never_reaches_disk() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let canary = "ATTACH-CANARY-5e1d77-紫藤-unique";
    let mut bytes = binary(100_000, 3);
    bytes.extend_from_slice(canary.as_bytes());
    bytes.extend(binary(1000, 9));
    let name_canary = "CanaryFileName-91c2.txt";
    let f = file(&v, name_canary, &bytes);
    let rid = id(&add(&v, "wang", case, "process", &[&f], &[]).ok());
    assert_eq!(fetch(&v, "wang", rid, name_canary).1, bytes);
    v.run("wang", &["record", "show", &rid.to_string()]).ok();
    std::fs::remove_dir_all(v.tmp.path().join("files")).unwrap();

    let mut needles: Vec<Vec<u8>> = Vec::new();
    for s in [canary, name_canary] {
        needles.push(s.as_bytes().to_vec());
        needles.push(s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect());
        needles.push(s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect());
    }
    fn scan(dir: &Path, needles: &[Vec<u8>], hits: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                scan(&p, needles, hits);
            } else {
                let b = std::fs::read(&p).unwrap();
                for n in needles {
                    if b.windows(n.len()).any(|w| w == n.as_slice()) {
                        hits.push(p.display().to_string());
                    }
                }
            }
        }
    }
    // The scanner finds a planted canary.
    let probe = v.tmp.path().join("probe");
    std::fs::create_dir_all(&probe).unwrap();
    std::fs::write(probe.join("p"), &bytes).unwrap();
    let mut found = Vec::new();
    scan(&probe, &needles, &mut found);
    assert!(!found.is_empty(), "the scanner misses a planted canary");

    let mut hits = Vec::new();
    scan(&v.dir, &needles, &mut hits);
    scan(&v.tmp.path().join("tmp"), &needles, &mut hits);
    assert!(hits.is_empty(), "plaintext found: {hits:#?}");
}

fn tool(name: &str) -> bool {
    let ok = Command::new(name).arg("-h").output().is_ok();
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "{name} is required in CI");
        eprintln!("!!!!!! SKIPPING stock-tool checks: `{name}` is not installed !!!!!!");
    }
    ok
}

#[test]
fn export_carries_attachments_within_scope() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let scan = binary(300_000, 1);
    let a = file(&v, "scan.pdf", &scan);
    let hidden = file(&v, "secret.txt", b"tier 3 only");
    let rid = id(&add(&v, "wang", case, "process", &[&a], &[]).ok());
    let sup = id(&add(&v, "li", case, "supervision", &[&hidden], &[]).ok());

    // Partner keys and a consent for process records, tiers 1-2.
    let keys = v.tmp.path().join("keys");
    let j = v
        .run(
            "admin",
            &[
                "--json",
                "agency",
                "keygen",
                "--out-dir",
                keys.to_str().unwrap(),
            ],
        )
        .ok()
        .json();
    let rcpt = j["age_recipient"].as_str().unwrap().to_string();
    v.run(
        "admin",
        &[
            "agency",
            "add",
            "Partner",
            "--age-recipient",
            &rcpt,
            "--minisign-pubkey",
            keys.join("partner.minisign.pub").to_str().unwrap(),
        ],
    )
    .ok();
    let c = v.run("wang", common::CONSENT_C001_PARTNER).ok().json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let out = v.tmp.path().join("packet.age");
    let r = v
        .run(
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
        .ok();
    assert!(r.json()["referral"].is_object(), "{}", r.stdout);

    // The manifest names it; the supervision note's attachment is outside scope and absent.
    let opened = {
        let s = session(&v, "wang");
        let id = std::fs::read_to_string(keys.join("partner.agekey")).unwrap();
        let id: age::x25519::Identity = id
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-"))
            .unwrap()
            .parse()
            .unwrap();
        drop(s);
        let ct = std::fs::read(&out).unwrap();
        let plain = casevault::crypto::decrypt(&[&id], &ct).unwrap().unwrap();
        casevault::packet::parse_bundle(&plain).unwrap().0
    };
    let want = format!("{rid}-scan.pdf");
    assert_eq!(opened.attachments.len(), 1);
    assert_eq!(opened.attachments[0].0, want);
    assert_eq!(opened.attachments[0].1.as_slice(), scan.as_slice());
    let manifest: serde_json::Value = serde_json::from_slice(&opened.manifest).unwrap();
    assert_eq!(manifest["attachments"][0]["name"], want.as_str());
    assert!(!String::from_utf8_lossy(&opened.manifest).contains(&format!("{sup}-secret")));

    // Stock tools: age -d | tar -t lists it, and tar -xO gives the same bytes.
    if tool("age") && tool("tar") {
        let key = keys.join("partner.agekey");
        let list = Command::new("sh")
            .args([
                "-c",
                &format!("age -d -i '{}' '{}' | tar -t", key.display(), out.display()),
            ])
            .output()
            .unwrap();
        assert!(list.status.success());
        let list = String::from_utf8_lossy(&list.stdout);
        assert!(
            list.lines().any(|l| l == format!("attachments/{want}")),
            "{list}"
        );
        assert!(!list.contains("secret.txt"), "{list}");
        let data = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "age -d -i '{}' '{}' | tar -xO 'attachments/{want}'",
                    key.display(),
                    out.display()
                ),
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(data.stdout, scan);
    }
}
