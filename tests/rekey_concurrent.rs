//! `rekey` against concurrent writers: nothing committed under a retiring key epoch is ever
//! left unreadable (records, attachments, scanned consent forms), for supervisors and through
//! the recovery key.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// Writes `bytes` to `<tmp>/files/<name>` and returns the path.
fn file(v: &TestVault, name: &str, bytes: &[u8]) -> PathBuf {
    let d = v.tmp.path().join("files");
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A process record by wang, with `attach` as its attachment if given; the id if saved.
fn add(v: &TestVault, case: i64, text: &str, attach: Option<&Path>) -> Option<i64> {
    let fields = serde_json::json!({
        "client_number": "C001", "date": "2026-11-20", "session_aim": "a", "narrative": text
    });
    let case = case.to_string();
    let mut args = vec![
        "--json", "record", "add", "--case", &case, "--kind", "process", "--fields", "-",
    ];
    if let Some(f) = attach {
        args.extend(["--attach", f.to_str().unwrap()]);
    }
    let r = v.run_stdin("wang", &args, &fields.to_string());
    (r.code == 0).then(|| r.json()["id"].as_i64().unwrap())
}

/// A consent by wang for client C001 with a scanned form encrypted to `case`; the id if saved.
fn consent_with_form(v: &TestVault, case: i64, form: &Path) -> Option<i64> {
    let case = case.to_string();
    let r = v.run(
        "wang",
        &[
            common::CONSENT_C001_PARTNER,
            &["--form", form.to_str().unwrap(), "--form-case", &case],
        ]
        .concat(),
    );
    (r.code == 0).then(|| r.json()["id"].as_i64().unwrap())
}

/// What was saved, to be read back.
#[derive(Default)]
struct Saved {
    records: Vec<i64>,
    /// (record, attachment name, bytes)
    attachments: Vec<(i64, String, Vec<u8>)>,
    /// (consent, form bytes)
    forms: Vec<(i64, Vec<u8>)>,
}

/// Everything saved is readable by `who` (in-process, through the library).
fn all_readable(v: &TestVault, who: &str, saved: &Saved) {
    let mut s = v.session(who);
    for &id in &saved.records {
        let r = s
            .record_show(id)
            .unwrap_or_else(|e| panic!("{who} cannot read record {id}: {e}"));
        assert!(r.signature_valid);
    }
    for (id, name, bytes) in &saved.attachments {
        let (_, got) = s
            .record_attachment(*id, name)
            .unwrap_or_else(|e| panic!("{who} cannot read attachment {name} of {id}: {e}"));
        assert_eq!(&got[..], &bytes[..]);
    }
    for (id, bytes) in &saved.forms {
        let got = s
            .consent_form_scan(*id)
            .unwrap_or_else(|e| panic!("{who} cannot read the form of consent {id}: {e}"));
        assert_eq!(&got[..], &bytes[..]);
    }
}

/// Readable by the supervisor, then by a new supervisor given every key through the
/// recovery key; and a further rekey succeeds.
fn check_all(v: &TestVault, case: i64, saved: &Saved) {
    all_readable(v, "li", saved);
    v.add_staff("zhou", "supervisor");
    let key = v.recovery_path();
    v.run(
        "admin",
        &[
            "staff",
            "recover-grant",
            "zhou",
            "--recovery-key",
            key.to_str().unwrap(),
        ],
    )
    .ok();
    all_readable(v, "zhou", saved);
    v.run("li", &["rekey", "--case", &case.to_string()]).ok();
    all_readable(v, "li", saved);
    // Every case at once, too; old epochs' keys are really gone.
    v.run("li", &["rekey"]).ok();
    all_readable(v, "li", saved);
    let s = v.session("li");
    assert_eq!(
        casevault::store::keys::epochs(&s.conn, case).unwrap().len(),
        1,
        "old epochs kept"
    );
}

fn setup() -> (TestVault, i64, Saved) {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    v.partner("Partner");
    let mut saved = Saved::default();
    for i in 0..3 {
        saved
            .records
            .push(add(&v, case, &format!("before {i}"), None).unwrap());
    }
    let bytes = b"attachment before".to_vec();
    let id = add(&v, case, "with file", Some(&file(&v, "a0.txt", &bytes))).unwrap();
    saved.records.push(id);
    saved.attachments.push((id, "a0.txt".into(), bytes));
    let form = b"scanned form before".to_vec();
    let c = consent_with_form(&v, case, &file(&v, "form0.pdf", &form)).unwrap();
    saved.forms.push((c, form));
    (v, case, saved)
}

/// Deterministic: a record, an attachment and a scanned form committed after the rekey has
/// read the case but before its write transaction are re-encrypted too, not stranded.
#[test]
fn writes_in_the_rekey_window_are_not_stranded() {
    let (v, case, mut saved) = setup();
    let go = v.tmp.path().join("go");
    let ready = v.tmp.path().join("go.ready");
    let mut c = v.as_("li");
    c.args(["rekey", "--case", &case.to_string()])
        .env("CASEVAULT_TEST_REKEY_PAUSE", &go)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    let start = Instant::now();
    while !ready.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "rekey never reached its pause point"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The window: rekey has decrypted what it saw and not yet taken the write lock.
    saved
        .records
        .push(add(&v, case, "in the window", None).expect("record add works meanwhile"));
    let bytes = b"attachment in the window".to_vec();
    let id = add(
        &v,
        case,
        "file in window",
        Some(&file(&v, "a1.txt", &bytes)),
    )
    .unwrap();
    saved.records.push(id);
    saved.attachments.push((id, "a1.txt".into(), bytes));
    let form = b"scanned form in the window".to_vec();
    let c = consent_with_form(&v, case, &file(&v, "form1.pdf", &form)).unwrap();
    saved.forms.push((c, form));
    std::fs::write(&go, b"").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "rekey failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_all(&v, case, &saved);
}

/// Five rekeys while 100 records (some with attachments, some consents with scanned forms)
/// are added by separate processes: everything reported saved stays readable.
#[test]
fn rekey_loop_against_concurrent_writers() {
    let (v, case, mut saved) = setup();
    let dir = v.dir.clone();
    let rekeys = std::thread::spawn(move || {
        let mut results = Vec::new();
        for _ in 0..5 {
            let mut c = cmd(&dir);
            c.args(["--as", "li", "rekey", "--case", &case.to_string()])
                .env("CASEVAULT_PASSPHRASE", pw("li"));
            results.push(run(c));
            std::thread::sleep(Duration::from_millis(150));
        }
        results
    });
    for i in 0..100 {
        let attach = (i % 10 == 3).then(|| {
            let name = format!("w{i}.bin");
            let bytes: Vec<u8> = (0..4096).map(|j| (i * 7 + j) as u8).collect();
            (file(&v, &name, &bytes), name, bytes)
        });
        if let Some(id) = add(
            &v,
            case,
            &format!("note {i}"),
            attach.as_ref().map(|a| &*a.0),
        ) {
            saved.records.push(id);
            if let Some((_, name, bytes)) = attach {
                saved.attachments.push((id, name, bytes));
            }
        }
        if i % 25 == 11 {
            let form = format!("form {i}").into_bytes();
            if let Some(c) = consent_with_form(&v, case, &file(&v, &format!("f{i}.pdf"), &form)) {
                saved.forms.push((c, form));
            }
        }
    }
    for r in rekeys.join().unwrap() {
        r.ok();
    }
    assert!(saved.records.len() >= 100, "record add kept failing");
    check_all(&v, case, &saved);
}
