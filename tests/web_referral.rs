//! The referral wizard of `casevault serve` (issue 13 item 2): consent → records → preview →
//! export → release → download, then the downloaded packet opened with stock `age` and its
//! signature checked with stock `minisign`.

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "common/web.rs"]
mod web;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use web::{client, Client};

/// A vault with partner "Partner", client C001 with a case holding two process notes (in the
/// consent's scope) and one supervision note (out of it), a standing consent and a revoked one.
struct Setup {
    v: TestVault,
    keys: PathBuf,
    our_pub: PathBuf,
    case: i64,
    in_scope: [i64; 2],
    out_of_scope: i64,
    consent: i64,
    revoked: i64,
}

fn setup() -> Setup {
    let v = TestVault::new();
    let keys = v.partner("Partner");
    let case = v.client_with_case("C001", "张三");
    let id = |r: Run| r.ok().json()["id"].as_i64().unwrap();
    let a = id(v.process_note("wang", case, "NOTE-ONE 家访：住房困难"));
    let b = id(v.process_note("wang", case, "NOTE-TWO 不应发送"));
    let s = id(v.supervision_note("li", case, "SUPERVISION-ONLY"));
    let consent = v.run("wang", CONSENT_C001_PARTNER).ok().json()["id"]
        .as_i64()
        .unwrap();
    let revoked = v.run("wang", CONSENT_C001_PARTNER).ok().json()["id"]
        .as_i64()
        .unwrap();
    v.run(
        "wang",
        &["consent", "revoke", &revoked.to_string(), "--via", "phone"],
    )
    .ok();
    let our_pub = v.tmp.path().join("our.pub");
    v.run(
        "admin",
        &["agency", "key", "--out", our_pub.to_str().unwrap()],
    )
    .ok();
    Setup {
        v,
        keys,
        our_pub,
        case,
        in_scope: [a, b],
        out_of_scope: s,
        consent,
        revoked,
    }
}

/// A GET whose body may be binary: (status, head, body).
fn get_bytes(c: &Client, path: &str) -> (u16, String, Vec<u8>) {
    let mut t = std::net::TcpStream::connect(&c.server.addr).unwrap();
    write!(
        t,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nConnection: close\r\n\r\n",
        c.server.addr, c.cookie
    )
    .unwrap();
    let mut raw = Vec::new();
    t.read_to_end(&mut raw).unwrap();
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..at].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, raw[at + 4..].to_vec())
}

fn sh(script: &str) -> std::process::Output {
    Command::new("sh").args(["-c", script]).output().unwrap()
}

fn tool(name: &str) -> bool {
    let ok = Command::new(name).arg("-h").output().is_ok();
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "{name} is required in CI");
        eprintln!("!!!!!! SKIPPING stock-tool checks: `{name}` is not installed !!!!!!");
    }
    ok
}

/// Opens `packet` with stock `age` (the partner's identity) and checks `sig` with stock
/// `minisign -V` (our packet key); returns the packet's `records.json`.
fn open_with_stock_tools(s: &Setup, packet: &Path, sig: &Path) -> Option<String> {
    if !(tool("age") && tool("minisign") && tool("tar")) {
        return None;
    }
    let v = sh(&format!(
        "minisign -V -p '{}' -m '{}' -x '{}'",
        s.our_pub.display(),
        packet.display(),
        sig.display()
    ));
    assert!(
        v.status.success(),
        "minisign -V: {}",
        String::from_utf8_lossy(&v.stderr)
    );
    let o = sh(&format!(
        "age -d -i '{}' '{}' | tar -xO records.json",
        s.keys.join("partner.agekey").display(),
        packet.display()
    ));
    assert!(
        o.status.success(),
        "age -d: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Some(String::from_utf8(o.stdout).unwrap())
}

fn value_after<'a>(page: &'a str, marker: &str) -> &'a str {
    let i = page
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {page}"))
        + marker.len();
    let rest = &page[i..];
    &rest[..rest.find('"').unwrap()]
}

#[test]
fn referral_through_the_wizard_release_and_download_opens_with_stock_tools() {
    let s = setup();
    let server = web::serve(&s.v);
    let wang = client(&server, "wang");
    let case = s.case;
    let start = format!("/cases/{case}/referral");
    let [a, b] = s.in_scope;

    // 1. Consents: the standing one can be chosen; the revoked one says why not.
    let p = wang.get(&start);
    assert_eq!(p.status, 200, "{}", p.body);
    let choice = format!("{}:0", s.consent);
    assert!(p.body.contains(&format!("value=\"{choice}\"")));
    assert!(!p.body.contains(&format!("value=\"{}:0\"", s.revoked)));
    assert!(p.body.contains("已撤回"), "{}", p.body);
    let en = wang.get(&format!("{start}?lang=en"));
    assert!(en.body.contains("Next: choose records") && en.body.contains("revoked (from"));

    // 2. Records: only those the consent covers are offered.
    let r = wang.post(&start, &start, &[("choice", &choice)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(&format!("id=\"record-{a}\"")));
    assert!(r.body.contains(&format!("id=\"record-{b}\"")));
    assert!(!r
        .body
        .contains(&format!("id=\"record-{}\"", s.out_of_scope)));

    let preview = format!("{start}/preview");
    let (cid, rec_a) = (s.consent.to_string(), a.to_string());
    let fields = |rec: &str| -> Vec<(&str, String)> {
        vec![
            ("consent", cid.clone()),
            ("purpose", "0".into()),
            ("record", rec.to_string()),
        ]
    };
    let post = |path: &str, f: &[(&str, String)]| {
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        wang.post(&start, path, &f)
    };
    // No record chosen: back to the records with a message (never "every record").
    let none = post(
        &preview,
        &[("consent", cid.clone()), ("purpose", "0".into())],
    );
    assert_eq!(none.status, 400, "{}", none.body);
    assert!(none.body.contains("请至少选择一条记录"));

    // A record outside the consent's scope, posted anyway, is refused by the library.
    let out = post(&preview, &fields(&s.out_of_scope.to_string()));
    assert_eq!(out.status, 403, "{}", out.body);
    assert!(!out.body.contains("SUPERVISION-ONLY"));
    // A revoked consent is refused at every step.
    let rev = wang.post(&start, &start, &[("choice", &format!("{}:0", s.revoked))]);
    assert_eq!(rev.status, 403, "{}", rev.body);
    let mut f = fields(&rec_a);
    f[0].1 = s.revoked.to_string();
    assert_eq!(post(&preview, &f).status, 403);
    let ex = post(&format!("{start}/export"), &f);
    assert_eq!(ex.status, 403, "{}", ex.body);

    // 3. Preview: exactly the chosen record, the agency and its key, the log notice.
    let pv = post(&preview, &fields(&rec_a));
    assert_eq!(pv.status, 200, "{}", pv.body);
    assert!(pv.body.contains("NOTE-ONE 家访：住房困难"), "{}", pv.body);
    assert!(!pv.body.contains("NOTE-TWO"));
    assert!(pv.body.contains("Partner"));
    assert!(pv.body.contains("披露日志"));
    assert!(pv.body.contains(&format!("id=\"preview-{a}\"")));
    let shown = value_after(&pv.body, "<code class=\"key\">");
    let shown = &shown[..shown.find('<').unwrap()];
    let pubkey =
        s.v.run("admin", &["--json", "agency", "show", "Partner"])
            .ok()
            .json()["minisign_pubkey"]
            .as_str()
            .unwrap()
            .to_string();
    let key_id = casevault::packet::PublicKey::parse(&pubkey)
        .unwrap()
        .key_id
        .to_string();
    assert_eq!(shown, key_id);

    // 4. Export: a caseworker's waits for a supervisor's release; nothing logged yet.
    let ex = post(&format!("{start}/export"), &fields(&rec_a));
    assert_eq!(ex.status, 200, "{}", ex.body);
    assert!(ex.body.contains("等待督导放行"), "{}", ex.body);
    let log = |who: &str| {
        s.v.run(who, &["--json", "log", "show", "--kind", "referral_export"])
            .ok()
            .json()
    };
    assert_eq!(log("li").as_array().unwrap().len(), 0);

    // The supervisor reviews and releases it from the web.
    let li = client(&server, "li");
    let list = li.get("/referrals");
    assert_eq!(list.status, 200, "{}", list.body);
    let href = value_after(&list.body, "href=\"/referrals/");
    let rid: i64 = href.trim_end_matches("/release").parse().unwrap();
    let review = li.get(&format!("/referrals/{rid}/release"));
    assert_eq!(review.status, 200, "{}", review.body);
    // A caseworker cannot release.
    let refused = wang.post(
        "/referrals",
        &format!("/referrals/{rid}/release"),
        &[("digest", "00")],
    );
    assert_eq!(refused.status, 403);
    let digest = value_after(&review.body, "name=\"digest\" value=\"").to_string();
    let rel = li.post(
        &format!("/referrals/{rid}/release"),
        &format!("/referrals/{rid}/release"),
        &[("digest", &digest)],
    );
    assert_eq!(rel.status, 303, "{}", rel.body);
    let to = rel.header("location").unwrap().to_string();
    assert!(to.starts_with("/referrals/"), "{to}");
    let referral: i64 = to["/referrals/".len()..].parse().unwrap();

    // The log has the entry, under the consent, to the partner.
    let entries = log("li");
    let e = &entries.as_array().unwrap()[0];
    assert_eq!(e["recipient"], "Partner");
    assert_eq!(e["basis"], format!("consent {}", s.consent));

    // 5. Download: attachments, no-store; the caseworker too (the same build).
    let page = wang.get(&to);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page
        .body
        .contains(&format!("/referrals/{referral}/download/packet")));
    let dir = s.v.tmp.path().join("dl");
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for what in ["packet", "signature", "receipt"] {
        let (st, head, body) = get_bytes(&wang, &format!("/referrals/{referral}/download/{what}"));
        assert_eq!(st, 200, "{head}");
        let h = head.to_ascii_lowercase();
        assert!(
            h.contains("content-type: application/octet-stream"),
            "{head}"
        );
        assert!(
            h.contains("content-disposition: attachment; filename=\""),
            "{head}"
        );
        assert!(h.contains("cache-control: no-store"));
        let name = value_after(&head, "filename=\"").to_string();
        let path = dir.join(&name);
        std::fs::write(&path, &body).unwrap();
        files.push(path);
    }
    assert!(files[0].to_string_lossy().ends_with(".age"));
    let receipt: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[2]).unwrap()).unwrap();
    assert_eq!(receipt["index"], e["index"]);
    if let Some(records) = open_with_stock_tools(&s, &files[0], &files[1]) {
        assert!(records.contains("NOTE-ONE 家访：住房困难"), "{records}");
        assert!(!records.contains("NOTE-TWO"));
        assert!(!records.contains("SUPERVISION-ONLY"));
    }
    drop(wang);
    drop(li);
    drop(server);

    // Resend: a new server holds nothing; the packet is rebuilt from the vault, the same
    // disclosure (no second log entry), and opens and verifies again.
    let server = web::serve(&s.v);
    let li = client(&server, "li");
    let (st, _, ct) = get_bytes(&li, &format!("/referrals/{referral}/download/packet"));
    assert_eq!(st, 200);
    let (st, _, sig) = get_bytes(&li, &format!("/referrals/{referral}/download/signature"));
    assert_eq!(st, 200);
    let (p, g) = (dir.join("again.age"), dir.join("again.age.minisig"));
    std::fs::write(&p, ct).unwrap();
    std::fs::write(&g, sig).unwrap();
    if let Some(records) = open_with_stock_tools(&s, &p, &g) {
        assert!(records.contains("NOTE-ONE"));
    }
    assert_eq!(log("li").as_array().unwrap().len(), 1);
    // Nothing was written into the vault's folder for the downloads.
    let stray = sh(&format!(
        "find '{}' -name '*.age' -newer '{}' | grep -v '/staff/' | grep -v '/keys/'",
        s.v.dir.display(),
        s.our_pub.display()
    ));
    assert!(
        stray.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&stray.stdout)
    );
}

#[test]
fn chromium_referral_wizard_to_downloaded_packet() {
    let s = setup();
    let server = web::serve(&s.v);
    let profile = s.v.tmp.path().join("chromium-profile");
    let Some(b) = browser::Browser::start(&profile) else {
        return;
    };
    let base = format!("http://{}", server.addr);
    b.sign_in(&base, "li", &TestVault::passphrase("li"), "我的个案");
    let title = format!("转介：个案 {}", s.case);
    b.goto(&format!("{base}/cases/{}/referral", s.case));
    b.wait_title(&title);
    b.screenshots("referral-consent");
    b.click(&format!("input[name=choice][value='{}:0']", s.consent));
    b.click("form.referral button[type=submit]");
    for _ in 0..100 {
        if b.count("tr.record") > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(b.count("tr.record"), 2, "{}", b.body_text());
    b.click(&format!("input[name=record][value='{}']", s.in_scope[0]));
    b.screenshots("referral-records");
    b.click("form.referral button[type=submit]");
    for _ in 0..100 {
        if b.count("section.preview") > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = b.body_text();
    assert!(text.contains("NOTE-ONE"), "{text}");
    assert!(!text.contains("NOTE-TWO"));
    b.screenshots("referral-preview");
    b.click("form.referral button[type=submit]");
    for _ in 0..100 {
        if b.count("#dl-packet") > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    b.screenshots("referral-done");
    b.click("#dl-packet");
    b.click("#dl-signature");
    let downloads = profile.join("downloads");
    let mut found = (None, None);
    for _ in 0..150 {
        if let Ok(rd) = std::fs::read_dir(&downloads) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().to_string();
                if n.ends_with(".age") {
                    found.0 = Some(e.path());
                } else if n.ends_with(".age.minisig") {
                    found.1 = Some(e.path());
                }
            }
        }
        if found.0.is_some() && found.1.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (Some(packet), Some(sig)) = found else {
        panic!("downloads missing in {}", downloads.display());
    };
    if let Some(records) = open_with_stock_tools(&s, &packet, &sig) {
        assert!(records.contains("NOTE-ONE"));
        assert!(!records.contains("NOTE-TWO"));
    }
}

#[test]
fn supervisor_only_records_are_marked_and_leave_only_with_a_supervisors_approval() {
    let s = setup();
    let mut args: Vec<&str> = CONSENT_C001_PARTNER
        .iter()
        .map(|a| match *a {
            "process" => "process,supervision",
            "1,2" => "1,2,3",
            other => other,
        })
        .collect();
    args.push("--separate-consent");
    let sep = s.v.run("li", &args).ok().json()["id"].as_i64().unwrap();
    let server = web::serve(&s.v);
    let wang = client(&server, "wang");
    let li = client(&server, "li");
    let case = s.case;
    let start = format!("/cases/{case}/referral");
    let preview = format!("{start}/preview");
    let choice = format!("{sep}:0");
    let (sep, sup) = (sep.to_string(), s.out_of_scope.to_string());

    // Offered under this consent, marked; a caseworker is not offered the approval.
    let r = wang.post(&start, &start, &[("choice", &choice)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(&format!("id=\"record-{sup}\"")));
    assert!(r.body.contains("发送前须经督导批准"), "{}", r.body);
    assert!(!r.body.contains("name=\"approve\""));
    let fields = [
        ("consent", sep.as_str()),
        ("purpose", "0"),
        ("record", sup.as_str()),
    ];
    // Without approval the library refuses it, whoever asks.
    assert_eq!(wang.post(&start, &preview, &fields).status, 403);
    assert_eq!(li.post(&start, &preview, &fields).status, 403);
    // A caseworker cannot approve by posting the box anyway.
    let mut with_box = fields.to_vec();
    with_box.push(("approve", "1"));
    assert_eq!(wang.post(&start, &preview, &with_box).status, 403);

    // The supervisor approves in the wizard and sees exactly what leaves.
    let r = li.post(&start, &start, &[("choice", &choice)]);
    assert!(r.body.contains("name=\"approve\""), "{}", r.body);
    let pv = li.post(&start, &preview, &with_box);
    assert_eq!(pv.status, 200, "{}", pv.body);
    assert!(pv.body.contains("SUPERVISION-ONLY"));
    let r = li.post(&start, &start, &[("choice", &choice)]);
    assert!(r.body.contains("已由 li 批准发送"), "{}", r.body);

    // Approved, a caseworker's preview lists it without opening it.
    let pv = wang.post(&start, &preview, &fields);
    assert_eq!(pv.status, 200, "{}", pv.body);
    assert!(!pv.body.contains("SUPERVISION-ONLY"));
    assert!(pv.body.contains("您无权查阅其内容"), "{}", pv.body);
}
