//! Issue 12 item 8 through the binary: one flag name per concept (`--agency`, `--case`) with
//! the old names kept; readable `consent show` and `packet open`; the accounting of
//! disclosures names record kinds, tiers and dates; completions and a man page.

mod common;

use std::io::Read;
use std::path::Path;

use common::*;
use serde_json::Value;

fn key(v: &TestVault, args: &[&str], field: &str) -> String {
    v.run("admin", args).ok().json()[field]
        .as_str()
        .unwrap()
        .to_string()
}

/// `a` and `b` register each other: `a` knows `b` as "Second", `b` knows `a` as "First".
fn pair(a: &TestVault, b: &TestVault) {
    for (from, to, name) in [(b, a, "Second"), (a, b, "First")] {
        let inbound = key(from, &["--json", "agency", "inbound-key"], "age_recipient");
        let public = key(from, &["--json", "agency", "key"], "minisign_public_key");
        to.run(
            "admin",
            &[
                "agency",
                "add",
                name,
                "--age-recipient",
                &inbound,
                "--minisign-pubkey",
                &public,
            ],
        )
        .ok();
    }
}

/// A consent of client C001 to `agency` for process notes of tiers 1-2; returns its id.
fn consent(v: &TestVault, agency: &str) -> String {
    v.run("wang", &consent_c001(agency)).ok().json()["id"]
        .as_i64()
        .unwrap()
        .to_string()
}

#[test]
fn packets_and_referrals_name_the_partner_with_agency_and_print_text() {
    let a = TestVault::new();
    let b = TestVault::new();
    pair(&a, &b);
    let case = a.client_with_case("C001", "Zhang San");
    let rec = a
        .process_note("wang", case, "ordinary-session-text")
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap();
    let consent = consent(&a, "Second");
    let out = a.tmp.path().join("p1.age");
    // The canonical name: --agency.
    let r = a
        .run(
            "li",
            &[
                "--json",
                "referral",
                "export",
                "--case",
                &case.to_string(),
                "--agency",
                "Second",
                "--consent",
                &consent,
                "--purpose",
                "housing support",
                "--records",
                &rec.to_string(),
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .ok();
    let packet_id = r.json()["packet_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let p = out.to_str().unwrap();
    // The receiving side: --agency, and the old --from still works.
    b.run("li", &["packet", "verify", p, "--agency", "First"])
        .ok();
    b.run("li", &["packet", "verify", p, "--from", "First"])
        .ok();
    // packet open prints text by default, with labels; JSON only under --json.
    let t = b
        .run("li", &["packet", "open", p, "--agency", "First"])
        .ok()
        .stdout;
    assert!(!t.contains("\"packet_id\""), "{t}");
    assert!(t.contains("Receiving agency: Second"), "{t}");
    assert!(t.contains("Sending agency (signing key): "), "{t}");
    assert!(t.contains("Purposes: housing support"), "{t}");
    assert!(t.contains("ordinary-session-text"), "{t}");
    let j = b
        .run("li", &["--json", "packet", "open", p, "--agency", "First"])
        .ok()
        .json();
    assert_eq!(j["manifest"]["recipient"]["name"], "Second");
    let mut c = b.as_("li");
    c.env("CASEVAULT_LANG", "zh")
        .args(["packet", "open", p, "--agency", "First"]);
    let zh = run(c).ok().stdout;
    assert!(zh.contains("接收机构: Second"), "{zh}");

    // The accounting of disclosures in C001's access package says what went to whom.
    let req = a
        .run(
            "wang",
            &[
                "--json",
                "request",
                "add",
                "--kind",
                "access",
                "--client",
                "C001",
                "--requester",
                "Zhang San",
            ],
        )
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let id = age::x25519::Identity::generate();
    let pkg = a.tmp.path().join("access.age");
    a.run(
        "li",
        &[
            "request",
            "fulfil",
            &req,
            "--out",
            pkg.to_str().unwrap(),
            "--recipient",
            &id.to_public().to_string(),
        ],
    )
    .ok();
    let (j, doc) = open_package(&pkg, &id);
    let entries = j["disclosures"]["entries"].as_array().unwrap();
    let export = entries
        .iter()
        .find(|e| e["kind"] == "referral_export")
        .unwrap();
    assert_eq!(export["recipient"], "Second");
    assert_eq!(export["records"][0]["id"], rec);
    assert_eq!(export["records"][0]["kind"], "process");
    assert_eq!(export["records"][0]["kind_en"], "Process record");
    assert_eq!(export["records"][0]["tier"], 2);
    assert_eq!(export["records"][0]["date"].as_str().unwrap().len(), 10);
    if !packet_id.is_empty() {
        assert_eq!(export["packet_id"], packet_id.as_str());
    }
    assert!(export["packet_id"].as_str().unwrap().len() >= 16);
    assert!(
        doc.contains(&format!(
            "过程记录表 / Process record #{rec} (级别 / tier 2, "
        )),
        "{doc}"
    );
    assert!(doc.contains("| Second |"), "{doc}");
}

/// Decrypts an access package; returns (package.json, document.md).
fn open_package(path: &Path, id: &dyn age::Identity) -> (Value, String) {
    let file = std::fs::read(path).unwrap();
    let dec = age::Decryptor::new_buffered(&file[..]).unwrap();
    let mut plain = Vec::new();
    dec.decrypt(std::iter::once(id))
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    // ustar: package.json then document.md.
    let mut files = Vec::new();
    let mut pos = 0;
    while pos + 512 <= plain.len() && plain[pos] != 0 {
        let h = &plain[pos..pos + 512];
        let size = usize::from_str_radix(std::str::from_utf8(&h[124..135]).unwrap(), 8).unwrap();
        pos += 512;
        files.push(plain[pos..pos + size].to_vec());
        pos += size.div_ceil(512) * 512;
    }
    (
        serde_json::from_slice(&files[0]).unwrap(),
        String::from_utf8(files[1].clone()).unwrap(),
    )
}

#[test]
fn consent_show_prints_labelled_text_and_case_takes_the_case_flag() {
    let v = TestVault::new();
    v.partner("Partner");
    let case = v.client_with_case("C001", "Zhang San");
    let id = consent(&v, "Partner");
    let t = v.run("wang", &["consent", "show", &id]).ok().stdout;
    assert!(!t.trim_start().starts_with('{'), "{t}");
    assert!(t.contains("Receiving agency: Partner"), "{t}");
    assert!(t.contains("Signed by: Zhang San (client)"), "{t}");
    assert!(t.contains("Expires on: 2099-12-31"), "{t}");
    let mut c = v.as_("wang");
    c.env("CASEVAULT_LANG", "zh").args(["consent", "show", &id]);
    let zh = run(c).ok().stdout;
    assert!(zh.contains("信息接收机构: Partner"), "{zh}");
    assert!(zh.contains("服务对象本人"), "{zh}");
    let j = v
        .run("wang", &["--json", "consent", "show", &id])
        .ok()
        .json();
    assert_eq!(j["agency_name"], "Partner");

    // `case show 1` and `case show --case 1` are the same; assign/stage take flags too.
    let c = case.to_string();
    let by_pos = v.run("li", &["--json", "case", "show", &c]).ok().json();
    let by_flag = v
        .run("li", &["--json", "case", "show", "--case", &c])
        .ok()
        .json();
    assert_eq!(by_pos, by_flag);
    let r = v
        .run(
            "li",
            &["--json", "case", "assign", "--case", &c, "--worker", "chen"],
        )
        .ok()
        .json();
    assert!(r["workers"].as_array().unwrap().iter().any(|w| w == "chen"));
    v.run("li", &["case", "unassign", &c, "chen"]).ok();
    let r = v
        .run(
            "li",
            &[
                "--json",
                "case",
                "stage",
                "--case",
                &c,
                "--stage",
                "assessment",
            ],
        )
        .ok()
        .json();
    assert_eq!(r["stage"], "assessment");
    // Both at once is a usage error.
    let r = v.run("li", &["case", "show", &c, "--case", &c]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vault");
    let mut c = cmd(&dir);
    c.args(["completions", "bash"]);
    let r = run(c).ok();
    assert!(r.stdout.contains("casevault"), "{}", r.stdout);
    assert!(r.stdout.contains("record"), "{}", r.stdout);
    assert!(r.stdout.contains("--agency"), "{}", r.stdout);
    let mut c = cmd(&dir);
    c.args(["completions", "zsh"]);
    assert!(run(c).ok().stdout.contains("#compdef casevault"));

    let mut c = cmd(&dir);
    c.arg("man");
    let r = run(c).ok();
    assert!(r.stdout.contains(".TH casevault 1"), "{}", r.stdout);
    assert!(r.stdout.contains(".SH NAME"), "{}", r.stdout);
    assert!(r.stdout.contains("record"), "{}", r.stdout);
    let mut c = cmd(&dir);
    c.args(["man", "record"]);
    let r = run(c).ok();
    assert!(r.stdout.contains(".TH casevault-record 1"), "{}", r.stdout);
    assert!(r.stdout.contains("template"), "{}", r.stdout);
    let mut c = cmd(&dir);
    c.args(["man", "nope"]);
    let r = run(c).fails();
    assert!(r.stderr.contains("record"), "{}", r.stderr);
}
