//! An `init` killed half way leaves no dead end: running it again finishes, replacing only
//! files the interrupted init wrote itself; a directory holding anything else is still refused.

mod common;

use common::*;

fn init(v: &TestVault) -> Run {
    let mut c = cmd(&v.dir);
    c.env("CASEVAULT_NEW_PASSPHRASE", ADMIN_PW)
        .args([
            "init",
            "--agency",
            "Test Agency",
            "--admin",
            "admin",
            "--recovery-shares",
            "1/1",
            "--recovery-out",
        ])
        .arg(v.recovery_path());
    run(c)
}

#[test]
fn init_again_after_an_interrupted_init_finishes_it() {
    let v = TestVault::new();
    // What a kill just before VERSION leaves: every file but VERSION, the recovery key written.
    std::fs::remove_file(v.dir.join("VERSION")).unwrap();
    let r = run({
        let mut c = v.as_("admin");
        c.args(["staff", "list"]);
        c
    });
    assert_ne!(r.code, 0);
    init(&v).ok();
    v.run("admin", &["staff", "list"]).ok();
    // The new recovery key opens the new key file.
    let text = std::fs::read_to_string(v.recovery_path()).unwrap();
    let id = casevault::vault::parse_recovery_key(&text).unwrap();
    let wrapped = std::fs::read(v.dir.join("keys/dbkey.age")).unwrap();
    let d = age::Decryptor::new(&wrapped[..]).unwrap();
    assert!(d
        .decrypt(std::iter::once(&id as &dyn age::Identity))
        .is_ok());
}

#[test]
fn someone_elses_recovery_key_or_files_are_never_replaced() {
    let v = TestVault::new();
    std::fs::remove_file(v.dir.join("VERSION")).unwrap();
    // A recovery key file that does not open this directory's key file: someone's real key.
    let other = TestVault::new();
    std::fs::copy(other.recovery_path(), v.recovery_path()).unwrap();
    let r = init(&v).fails();
    assert!(r.stderr.contains("exists"), "{}", r.stderr);
    assert_eq!(
        std::fs::read(v.recovery_path()).unwrap(),
        std::fs::read(other.recovery_path()).unwrap()
    );
    // A directory with a file init never writes is refused too.
    let w = TestVault::new();
    std::fs::remove_file(w.dir.join("VERSION")).unwrap();
    std::fs::remove_file(w.recovery_path()).unwrap();
    std::fs::write(w.dir.join("notes.txt"), "mine").unwrap();
    init(&w).fails();
    assert!(w.dir.join("notes.txt").exists());
}
