//! Referral export through the library (issue 4): a vault with one case of 200 `process`
//! records (~1 KiB of content each), one of them carrying a 5 MiB attachment, a partner agency
//! and a covering consent. Timed: `Session::referral_export` (checks, decrypt and verify every
//! record and the attachment, build, disclosure-log append, commit, seal, sign) plus writing the
//! packet and its signature with `write_atomic`: what `casevault referral export` does after
//! the session is open. Target: under 300 ms (median).
//!
//! For scale, stock `age -r <partner recipient>` encrypts the same bundle bytes in the same run
//! (fed through a pipe, no temp file), and the ratio is printed. All data is fictional.
//!
//! Run: `cargo bench --bench referral_export` (`CASEVAULT_BENCH_RUNS`, default 15).

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use casevault::crypto::StaffIdentity;
use casevault::domain::time::Date;
use casevault::domain::{ConsentTerms, NewClient, SignerRole, Source};
use casevault::packet::PartnerKeys;
use casevault::policy::{Policy, Role};
use casevault::vault::{
    self, write_atomic, ExportRequest, InitOptions, NewAttachment, NewRecord, Session, VaultDir,
};
use secrecy::SecretString;
use zeroize::Zeroizing;

const RECORDS: usize = 200;
const CONTENT_BYTES: usize = 1024;
const ATTACHMENT: usize = 5 << 20;
const ADMIN_PW: &str = "admin pw: amber kettle orbit";
const SUP_PW: &str = "li pw: velvet harbour lantern";

fn fields(j: usize) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("client_number".into(), "B001".into());
    m.insert(
        "date".into(),
        format!("2026-{:02}-{:02}", 1 + j % 12, 1 + j % 28).into(),
    );
    m.insert(
        "session_aim".into(),
        format!("session {} aim: review the plan", j + 1).into(),
    );
    let words = [
        "family", "school", "support", "housing", "plan", "follow", "visit", "goal",
    ];
    let mut text = String::new();
    let mut k = j;
    while text.len() < CONTENT_BYTES - 180 {
        text.push_str(words[k % words.len()]);
        text.push(' ');
        k = k.wrapping_mul(7).wrapping_add(3);
    }
    m.insert("narrative".into(), text.into());
    m
}

fn setup(root: &Path) -> (VaultDir, PartnerKeys, i64, i64) {
    let dir = VaultDir::new(root.join("vault"));
    vault::init(
        &dir,
        InitOptions {
            agency: "Bench Agency".into(),
            admin: "admin".into(),
            admin_passphrase: SecretString::from(ADMIN_PW),
            policy_sources: Policy::embedded_sources(),
            recovery_out: root.join("recovery.txt"),
            recovery_shares: casevault::vault::recovery::ShareSpec::SINGLE,
        },
    )
    .unwrap();
    let partner = PartnerKeys::generate();
    {
        let mut admin = Session::open(&dir, "admin", &SecretString::from(ADMIN_PW)).unwrap();
        {
            // Enrolment as people do it: invite, the member's own keys, approval.
            let inv = admin.staff_invite("li", Role::Supervisor).unwrap();
            let e = casevault::vault::enrol(
                &admin.dir.clone(),
                &inv.token(),
                &SecretString::from(SUP_PW),
            )
            .unwrap();
            admin.staff_approve("li", &e.fingerprint).unwrap();
        }
        admin
            .agency_add(
                "Partner",
                &partner.age_recipient.to_string(),
                &partner.minisign_public_key_file(),
                None,
                "021-555",
            )
            .unwrap();
    }
    let mut s = session(&dir);
    let client: NewClient =
        serde_json::from_value(serde_json::json!({"number": "B001", "name": "Bench Client"}))
            .unwrap();
    s.client_add(&client).unwrap();
    let case = s.case_open("B001", Source::Referral, &[]).unwrap().id;
    for j in 0..RECORDS {
        let new = NewRecord {
            case_id: case,
            kind: "process".into(),
            tier: None,
            fields: fields(j),
        };
        if j == 0 {
            let bytes: Vec<u8> = (0..ATTACHMENT).map(|i| (i * 131 % 251) as u8).collect();
            s.record_add_with(
                &new,
                &[NewAttachment {
                    name: "scan.pdf".into(),
                    bytes: Zeroizing::new(bytes),
                }],
            )
            .unwrap();
        } else {
            s.record_add(&new).unwrap();
        }
    }
    let consent = s
        .consent_add(
            "B001",
            "Partner",
            &ConsentTerms {
                signer_role: SignerRole::Client,
                signer_name: "Bench Client".into(),
                authority: "self".into(),
                purposes: vec!["housing support".into()],
                kinds: vec!["process".into()],
                tiers: vec![1, 2],
                description: "process records".into(),
                separate_consent: false,
                revoke_how: "call 021-123".into(),
                redisclosure_notice: "no redisclosure".into(),
                signed_on: Date::parse("2025-01-01").unwrap(),
                expires_on: Date::parse("2099-12-31").unwrap(),
            },
            None,
        )
        .unwrap()
        .id;
    (dir, partner, case, consent)
}

fn session(dir: &VaultDir) -> Session {
    let file = std::fs::read(dir.identity("li")).unwrap();
    let me = StaffIdentity::open(&file, &SecretString::from(SUP_PW), "li").unwrap();
    Session::with_identity(dir, me).unwrap()
}

/// Stock `age -r`, bundle on stdin, ciphertext from stdout; `None` if age is missing.
fn stock_age(recipient: &str, bundle: &[u8]) -> Option<Vec<u8>> {
    let mut child = Command::new("age")
        .args(["-r", recipient])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    std::thread::scope(|s| {
        s.spawn(move || stdin.write_all(bundle).unwrap());
        let out = child.wait_with_output().ok()?;
        out.status.success().then_some(out.stdout)
    })
}

fn stats(mut t: Vec<Duration>) -> (Duration, Duration, Duration) {
    t.sort();
    (t[0], t[t.len() / 2], t[t.len() - 1])
}

fn main() {
    // In-process test settings: cheap passphrase KDF for the fictional staff.
    std::env::set_var("CASEVAULT_TEST_MODE", "1");
    std::env::set_var("CASEVAULT_SCRYPT_LOG_N", "2");
    std::env::set_var("CASEVAULT_LANG", "en");
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` probes with --list
    }
    let runs: usize = std::env::var("CASEVAULT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15)
        .max(1);
    let tmp = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let (dir, partner, case, consent) = setup(tmp.path());
    println!(
        "setup (vault, 200 records, 5 MiB attachment): {:?}",
        t0.elapsed()
    );
    let out_dir = tmp.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();

    let mut s = session(&dir);
    let req = ExportRequest {
        case_id: case,
        agency: "Partner".into(),
        consent_id: consent,
        records: Vec::new(),
        purpose: "housing support".into(),
        request_id: None,
        notice_for: None,
        release_of: None,
    };
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for i in 0..runs + 1 {
        let out = out_dir.join(format!("p{i}.age"));
        let start = Instant::now();
        let (row, built) = s.referral_export(&req).unwrap();
        write_atomic(&out, &built.ciphertext).unwrap();
        write_atomic(&out.with_extension("age.minisig"), built.minisig.as_bytes()).unwrap();
        let el = start.elapsed();
        if i > 0 {
            times.push(el); // the first run warms caches (case keys, statements)
        }
        assert_eq!(row.records.len(), RECORDS);
        last = Some(built);
    }
    let built = last.unwrap();
    assert_eq!(built.manifest.attachments.len(), 1);
    let mut bundle = Vec::new();
    age::Decryptor::new(&built.ciphertext[..])
        .unwrap()
        .decrypt(std::iter::once(&partner.age_identity as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut bundle)
        .unwrap();
    let (min, med, max) = stats(times);
    println!(
        "bundle {:.2} MiB, packet {:.2} MiB, {} records + 1 attachment",
        bundle.len() as f64 / 1048576.0,
        built.ciphertext.len() as f64 / 1048576.0,
        RECORDS
    );
    println!(
        "referral export, library path (median of {runs}): {med:?}  (min {min:?}, max {max:?}; target < 300 ms)"
    );
    let rtext = partner.age_recipient.to_string();
    if stock_age(&rtext, b"probe").is_some() {
        let t: Vec<Duration> = (0..runs)
            .map(|_| {
                let st = Instant::now();
                stock_age(&rtext, &bundle).unwrap();
                st.elapsed()
            })
            .collect();
        let (amin, amed, amax) = stats(t);
        println!("stock `age -r`, same bundle bytes (median of {runs}): {amed:?}  (min {amin:?}, max {amax:?})");
        println!(
            "ratio export / stock age: {:.2}",
            med.as_secs_f64() / amed.as_secs_f64()
        );
    } else {
        println!("!!!!! stock `age` not installed: no comparison !!!!!");
    }
}
