//! The formats are plain age: a record's ciphertext and the case-tier secret a supervisor
//! holds decrypt with the stock `age` CLI (Debian package `age`).

mod common;

use std::io::Read;
use std::process::Command;

use common::*;
use secrecy::SecretString;

fn age_available() -> bool {
    Command::new("age")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn stock_age_opens_wrapping_and_record() {
    if !age_available() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install the age package"
        );
        eprintln!("SKIPPED: the stock `age` binary is not installed (apt-get install age)");
        return;
    }
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let id = v
        .supervision_note("wang", case, "interop-check-words")
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap();

    // The supervisor's identity file decrypts (scrypt) to an age identity file.
    let file = std::fs::read(v.dir.join("staff/li.age")).unwrap();
    let dec = age::Decryptor::new(&file[..]).unwrap();
    let pass = age::scrypt::Identity::new(SecretString::from(pw("li")));
    let mut identity = String::new();
    dec.decrypt(std::iter::once(&pass as &dyn age::Identity))
        .unwrap()
        .read_to_string(&mut identity)
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let id_path = work.path().join("li.txt");
    std::fs::write(&id_path, identity).unwrap();

    let s = v.session("li");
    let wrap = casevault::store::keys::get_wrap(&s.conn, case, 1, "li")
        .unwrap()
        .unwrap();
    let rec = casevault::store::records::get(&s.conn, id)
        .unwrap()
        .unwrap();
    std::fs::write(work.path().join("wrap.age"), &wrap).unwrap();
    std::fs::write(work.path().join("record.age"), &rec.body).unwrap();

    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&id_path)
        .arg(work.path().join("wrap.age"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "age -d on the wrapping: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys = String::from_utf8(out.stdout).unwrap();
    assert!(keys.starts_with("# casevault-case-keys: v1"));
    // The supervisor-only tier is under the supervisor key, not the case wrapping: li's
    // wrapping of it is an age file her identity opens, holding an age identity.
    assert!(
        !keys.contains("# tier: 3"),
        "no case wrapping carries tier 3"
    );
    let sup: Vec<u8> = s
        .conn
        .query_row(
            "SELECT wrapped FROM supervisor_keys WHERE holder = 'li' ORDER BY generation DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    std::fs::write(work.path().join("sup.age"), &sup).unwrap();
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&id_path)
        .arg(work.path().join("sup.age"))
        .output()
        .unwrap();
    assert!(out.status.success(), "age -d on the supervisor key");
    std::fs::write(work.path().join("keys.txt"), out.stdout).unwrap();

    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(work.path().join("keys.txt"))
        .arg(work.path().join("record.age"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "age -d on the record: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let payload: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(payload["fields"]["topic"], "interop-check-words");

    // A caseworker's wrapping opens with stock age too, but holds no tier-3 key: age refuses the note.
    let wang_wrap = casevault::store::keys::get_wrap(&s.conn, case, 1, "wang")
        .unwrap()
        .unwrap();
    assert!(age::Decryptor::new(&wang_wrap[..]).is_ok());
}
