//! Stock tools against our formats: `age -d`, `tar`, `minisign -V`, `minisign -S`, keys made
//! by `minisign -G -W`. Skipped (loudly) only when a binary is missing; CI installs them.

mod packet_common;

use std::path::Path;
use std::process::{Command, Output};

use casevault::packet::{self, minisign, PartnerKeys, PublicKey};
use packet_common::{input, sender_key};
use secrecy::ExposeSecret;

fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg(if tool == "tar" { "--version" } else { "-h" })
        .output()
        .is_ok();
    if !ok {
        eprintln!("\n!!!!! SKIPPING packet interop test: `{tool}` is not installed !!!!!\n");
    }
    ok
}

fn tools() -> bool {
    ["age", "minisign", "tar"].iter().all(|t| have(t))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("tool runs")
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn stock_tools_open_and_verify_a_packet() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let partner = PartnerKeys::generate();
    let key_file = write(
        dir.path(),
        "partner.key",
        partner.age_identity_file(1_795_463_560).expose_secret(),
    );
    let built = packet::build(&input(3, 2000), &sender_key(), &partner.age_recipient).unwrap();
    let pkt = write(
        dir.path(),
        &format!("{}.age", built.packet_id),
        &built.ciphertext,
    );
    let sig = write(
        dir.path(),
        &format!("{}.age.minisig", built.packet_id),
        &built.minisig,
    );
    let pubkey = PublicKey::from_signing_key(&sender_key());

    // age -d -i opens it; tar lists and extracts it.
    let out = run(Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&key_file)
        .arg(&pkt));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tar = write(dir.path(), "bundle.tar", &out.stdout);
    let list = run(Command::new("tar").arg("-tf").arg(&tar));
    assert!(list.status.success());
    assert_eq!(
        String::from_utf8(list.stdout).unwrap(),
        "manifest.json\nrecords.json\nrecords.md\nreceipt.json\nattachments/\n\
         attachments/a-note.txt\nattachments/转介同意书扫描 consent-scan.pdf\n"
    );
    let x = dir.path().join("x");
    std::fs::create_dir(&x).unwrap();
    let ex = run(Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&x));
    assert!(
        ex.status.success(),
        "{}",
        String::from_utf8_lossy(&ex.stderr)
    );
    assert_eq!(
        std::fs::read(x.join("manifest.json")).unwrap(),
        built.manifest.to_bytes()
    );

    // minisign -V accepts, with the bare key and with the .pub file.
    let out = run(Command::new("minisign")
        .args(["-V", "-P", &pubkey.to_base64(), "-m"])
        .arg(&pkt)
        .arg("-x")
        .arg(&sig));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&built.packet_id));
    let pubfile = write(dir.path(), "sender.pub", pubkey.to_file());
    let out = run(Command::new("minisign")
        .arg("-V")
        .arg("-p")
        .arg(&pubfile)
        .arg("-m")
        .arg(&pkt)
        .arg("-x")
        .arg(&sig));
    assert!(out.status.success());

    // One changed byte: both refuse.
    let mut bad = built.ciphertext.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    let badpkt = write(dir.path(), "bad.age", &bad);
    let out = run(Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&key_file)
        .arg(&badpkt));
    assert!(!out.status.success(), "age accepted a changed byte");
    let out = run(Command::new("minisign")
        .args(["-V", "-P", &pubkey.to_base64(), "-m"])
        .arg(&badpkt)
        .arg("-x")
        .arg(&sig));
    assert!(!out.status.success(), "minisign accepted a changed byte");
}

#[test]
fn stock_minisign_keys_and_signatures_work_with_ours() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (pubf, keyf) = (dir.path().join("k.pub"), dir.path().join("k.key"));
    let out = run(Command::new("minisign")
        .args(["-G", "-W", "-f", "-p"])
        .arg(&pubf)
        .arg("-s")
        .arg(&keyf));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pubkey = PublicKey::parse(&std::fs::read_to_string(&pubf).unwrap()).unwrap();

    // Their signature, our verify (prehashed default and legacy -l if supported).
    let msg = write(dir.path(), "msg", b"fictional packet bytes\n");
    let out = run(Command::new("minisign")
        .args(["-S", "-s"])
        .arg(&keyf)
        .arg("-m")
        .arg(&msg)
        .args(["-t", "stock comment"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sig = std::fs::read_to_string(dir.path().join("msg.minisig")).unwrap();
    assert_eq!(
        minisign::verify_detached(&pubkey, b"fictional packet bytes\n", &sig).unwrap(),
        "stock comment"
    );
    assert!(minisign::verify_detached(&pubkey, b"fictional packet bytes!", &sig).is_err());
    let out = run(Command::new("minisign")
        .args(["-S", "-l", "-s"])
        .arg(&keyf)
        .arg("-m")
        .arg(&msg)
        .arg("-x")
        .arg(dir.path().join("legacy.minisig")));
    if out.status.success() {
        let sig = std::fs::read_to_string(dir.path().join("legacy.minisig")).unwrap();
        assert!(
            sig.lines().nth(1).unwrap().starts_with("RW"),
            "legacy Ed signature"
        );
        minisign::verify_detached(&pubkey, b"fictional packet bytes\n", &sig).unwrap();
    }

    // Their secret key file read by us; our signature verified by them.
    let (key, id) =
        minisign::parse_secret_key_file(&std::fs::read_to_string(&keyf).unwrap()).unwrap();
    assert_eq!(id, pubkey.key_id);
    let ours =
        minisign::sign_detached_with_id(&key, id, b"fictional packet bytes\n", "ours").unwrap();
    let sigf = write(dir.path(), "ours.minisig", ours);
    let out = run(Command::new("minisign")
        .arg("-V")
        .arg("-p")
        .arg(&pubf)
        .arg("-m")
        .arg(&msg)
        .arg("-x")
        .arg(&sigf));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn generated_partner_keys_work_with_stock_minisign() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let partner = PartnerKeys::generate();
    let keyf = write(
        dir.path(),
        "partner.key",
        partner.minisign_secret_key_file().expose_secret(),
    );
    let pubf = write(
        dir.path(),
        "partner.pub",
        partner.minisign_public_key_file(),
    );
    let msg = write(dir.path(), "reply.age", b"fictional reply\n");
    let out = run(Command::new("minisign")
        .args(["-S", "-s"])
        .arg(&keyf)
        .arg("-m")
        .arg(&msg));
    assert!(
        out.status.success(),
        "minisign -S refused our key file: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(Command::new("minisign")
        .arg("-V")
        .arg("-p")
        .arg(&pubf)
        .arg("-m")
        .arg(&msg));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sig = std::fs::read_to_string(dir.path().join("reply.age.minisig")).unwrap();
    minisign::verify_detached(&partner.minisign_public, b"fictional reply\n", &sig).unwrap();
    // minisign -R recreates the same public key from our secret key file.
    let re = dir.path().join("re.pub");
    let out = run(Command::new("minisign")
        .args(["-R", "-s"])
        .arg(&keyf)
        .arg("-p")
        .arg(&re));
    if out.status.success() {
        let again = PublicKey::parse(&std::fs::read_to_string(&re).unwrap()).unwrap();
        assert_eq!(again, partner.minisign_public);
    }
}
