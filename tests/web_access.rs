//! The web interface's requests, audit and log screens (issue 13 item 2) through the real
//! binary: requests recorded on the web are the command line's, overdue marks, an access
//! package made and downloaded in the browser opens as the CLI's does, a caseworker's waits
//! for a supervisor's checkpoint, the audit page for auditors only, the log's status with a
//! tamper alarm.

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "common/web.rs"]
mod web;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{run, TestVault};
use serde_json::Value;
use web::*;

const NOW: &str = "2026-11-30";

/// The server with the test clock at [`NOW`].
fn serve_now(v: &TestVault) -> Server {
    serve_with(v, &[("CASEVAULT_NOW", NOW)])
}

/// `args` as `who` with the clock at [`NOW`].
fn cli(v: &TestVault, who: &str, args: &[&str]) -> common::Run {
    let mut c = v.as_(who);
    c.env("CASEVAULT_NOW", NOW).args(args);
    run(c)
}

/// A POST whose answer is read as bytes (a download): (status, head, body).
fn post_raw(c: &Client, from: &str, path: &str, fields: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    let page = c.get(from);
    let mut body = format!("csrf={}&once={}", csrf_of(&page.body), once_of(&page.body));
    for (k, v) in fields {
        body.push_str(&format!("&{}={}", enc(k), enc(v)));
    }
    let s = c.server;
    let text = format!(
        "POST {path} HTTP/1.1\r\nHost: {a}\r\nOrigin: http://{a}\r\nCookie: {cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {n}\r\n\
         Connection: close\r\n\r\n{body}",
        a = s.addr,
        cookie = c.cookie,
        n = body.len()
    );
    let mut t = TcpStream::connect(&s.addr).unwrap();
    t.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    t.read_to_end(&mut raw).unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..end].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, raw[end + 4..].to_vec())
}

/// Entries of a ustar archive (name → data).
fn untar(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 512 <= bytes.len() && bytes[pos] != 0 {
        let h = &bytes[pos..pos + 512];
        let name = String::from_utf8(h[..100].split(|b| *b == 0).next().unwrap().to_vec()).unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&h[124..135]).unwrap(), 8).unwrap();
        pos += 512;
        out.push((name, bytes[pos..pos + size].to_vec()));
        pos += size.div_ceil(512) * 512;
    }
    out
}

/// Opens a package the way tests/requests.rs does: age, then the archive; (plaintext,
/// package.json, document.md).
fn open_package(file: &[u8], id: &dyn age::Identity) -> (Vec<u8>, Value, String) {
    let dec = age::Decryptor::new_buffered(file).unwrap();
    let mut plain = Vec::new();
    dec.decrypt(std::iter::once(id))
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    let files = untar(&plain);
    assert_eq!(files[0].0, "package.json");
    assert_eq!(files[1].0, "document.md");
    let j: Value = serde_json::from_slice(&files[0].1).unwrap();
    let doc = String::from_utf8(files[1].1.clone()).unwrap();
    (plain, j, doc)
}

fn sha256_hex(b: &[u8]) -> String {
    casevault::crypto::hex(&casevault::crypto::sha256(b))
}

/// The request id in a `Location: /requests/N`.
fn request_id(r: &Resp) -> i64 {
    assert_eq!(r.status, 303, "{}", r.body);
    r.header("location")
        .and_then(|l| l.strip_prefix("/requests/"))
        .expect("sent to the request")
        .parse()
        .unwrap()
}

/// Files anywhere under `dir` (recursively).
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn a_request_recorded_on_the_web_is_listed_by_the_cli_with_overdue_marks() {
    let v = TestVault::new();
    let case = v.client_with_case("C1", "刘洋");
    let s = serve_now(&v);
    let c = client(&s, "wang");
    let form = format!("/cases/{case}/requests");
    let page = c.get(&form);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("15 天内答复"), "policy deadline shown");

    // Bad input: re-shown with the message and the values typed, escaped.
    let bad = c.post(
        &form,
        &form,
        &[
            ("kind", "nonsense"),
            ("requester", "<b>刘洋</b>"),
            ("authority", "self"),
            ("received", "2026-10-01"),
        ],
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("&lt;b&gt;刘洋&lt;/b&gt;"), "{}", bad.body);
    assert!(!bad.body.contains("<b>刘洋</b>"));
    let bad = c.post(
        &form,
        &form,
        &[
            ("kind", "access"),
            ("requester", "刘洋"),
            ("authority", "self"),
            ("received", "2026-13-45"),
        ],
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("YYYY-MM-DD"));
    // A guardian not listed on the client: the library's refusal, the form again.
    let bad = c.post(
        &form,
        &form,
        &[
            ("kind", "access"),
            ("requester", "某某"),
            ("authority", "guardian"),
            ("received", "2026-11-01"),
        ],
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("role=\"alert\""));

    let old = request_id(&c.post(
        &form,
        &form,
        &[
            ("kind", "access"),
            ("requester", "刘洋"),
            ("authority", "self"),
            ("identity_check", "身份证"),
            ("received", "2026-10-01"),
        ],
    ));
    let new = request_id(&c.post(
        &form,
        &form,
        &[
            ("kind", "access"),
            ("requester", "刘洋"),
            ("authority", "self"),
            ("received", "2026-11-29"),
        ],
    ));

    // The command line sees both, with the due dates policy gives and the overdue flag.
    let list = cli(&v, "wang", &["--json", "request", "list"]).ok().json();
    let list = list.as_array().unwrap();
    let by_id = |id: i64| list.iter().find(|r| r["id"] == id).expect("listed");
    assert_eq!(by_id(old)["requester"], "刘洋");
    assert_eq!(by_id(old)["identity_check"], "身份证");
    assert_eq!(by_id(old)["due"], "2026-10-16");
    assert_eq!(by_id(old)["overdue"], true);
    assert_eq!(by_id(new)["overdue"], false);

    // The web list marks exactly the overdue one.
    let page = c.get("/requests");
    assert_eq!(page.status, 200);
    assert_eq!(page.body.matches("<tr class=\"overdue\">").count(), 1);
    let row = page.body.split("<tr class=\"overdue\">").nth(1).unwrap();
    assert!(row.contains(&format!("/requests/{old}\"")), "{row}");
    assert!(row.split("</tr>").next().unwrap().contains("已逾期"));
    assert!(page.body.contains("有 1 个请求已超过答复期限"));
    // The request page shows it too.
    let one = c.get(&format!("/requests/{old}"));
    assert!(one.body.contains("2026-10-16") && one.body.contains("已逾期"));

    // Roles without request.manage are refused, and not offered the link.
    let a = client(&s, "audit");
    assert_eq!(a.get("/requests").status, 403);
    assert!(!a.get("/audit").body.contains("href=\"/requests\""));
}

#[test]
fn a_supervisor_s_package_downloads_and_opens_as_the_cli_s() {
    let v = TestVault::new();
    let case = v.client_with_case("C1", "刘洋");
    v.process_note("wang", case, "talked about school").ok();
    v.supervision_note("wang", case, "SUPERVISION-SECRET").ok();
    let s = serve_now(&v);
    let c = client(&s, "li");
    let rid = request_id(&c.post(
        &format!("/cases/{case}/requests"),
        &format!("/cases/{case}/requests"),
        &[
            ("kind", "access"),
            ("requester", "刘洋"),
            ("authority", "self"),
            ("identity_check", "身份证"),
        ],
    ));
    let page_path = format!("/requests/{rid}");
    let page = c.get(&page_path);
    assert_eq!(page.status, 200);
    // What the package will hold: one record given, the supervision note withheld.
    assert!(
        page.body.contains("将提供 1 份记录，因级别不提供 1 份"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("SUPERVISION-SECRET") && !page.body.contains("talked about"));
    assert!(page
        .body
        .contains(&format!("action=\"/requests/{rid}/package\"")));

    // No target, two targets, a bad key: the page again with the reason, nothing logged.
    let key = age::x25519::Identity::generate();
    let recipient = key.to_public().to_string();
    let pkg = format!("/requests/{rid}/package");
    assert_eq!(c.post(&page_path, &pkg, &[]).status, 400);
    let r = c.post(
        &page_path,
        &pkg,
        &[
            ("recipient", &recipient),
            ("passphrase", "x"),
            ("passphrase2", "x"),
        ],
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        c.post(&page_path, &pkg, &[("recipient", "age1nope")])
            .status,
        400
    );
    assert!(cli(
        &v,
        "li",
        &["--json", "log", "show", "--kind", "access_package"]
    )
    .ok()
    .json()
    .as_array()
    .unwrap()
    .is_empty());

    // The package: an attachment, not stored, age ciphertext that opens with the client's key.
    let (status, head, file) = post_raw(&c, &page_path, &pkg, &[("recipient", &recipient)]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&file));
    let head = head.to_ascii_lowercase();
    assert!(head.contains(&format!(
        "content-disposition: attachment; filename=\"access-package-{rid}.age\""
    )));
    assert!(head.contains("cache-control: no-store"));
    assert!(file.starts_with(b"age-encryption.org/v1"));
    let (plain, j, doc) = open_package(&file, &key);
    assert_eq!(j["format"], "casevault-access-package/1");
    assert_eq!(j["client"]["name"], "刘洋");
    assert_eq!(j["records"].as_array().unwrap().len(), 1);
    assert_eq!(
        j["records"][0]["fields"]["narrative"],
        "talked about school"
    );
    assert_eq!(j["withheld"][0]["reason"], "supervisor_only_tier");
    assert!(!String::from_utf8_lossy(&plain).contains("SUPERVISION-SECRET"));
    assert!(doc.contains("您的权利") && doc.contains("Your rights"));

    // Logged as the disclosure of exactly these bytes; the request is closed.
    let log = cli(
        &v,
        "li",
        &["--json", "log", "show", "--kind", "access_package"],
    )
    .ok()
    .json();
    assert_eq!(log.as_array().unwrap().len(), 1);
    assert_eq!(log[0]["disclosed_sha256"], sha256_hex(&plain));
    assert_eq!(log[0]["recipient"], format!("self (request {rid})"));
    let shown = cli(&v, "wang", &["--json", "request", "show", &rid.to_string()])
        .ok()
        .json();
    assert_eq!(shown["status"], "fulfilled");
    cli(&v, "audit", &["log", "verify"]).ok();

    // Downloading again (after a failed download): the same package, to the stored key,
    // nothing logged twice.
    let page = c.get(&page_path);
    assert!(page.body.contains("已答复"));
    assert!(page
        .body
        .contains(&format!("action=\"/requests/{rid}/download\"")));
    assert!(!page
        .body
        .contains(&format!("action=\"/requests/{rid}/package\"")));
    let (status, _, again) = post_raw(&c, &page_path, &format!("/requests/{rid}/download"), &[]);
    assert_eq!(status, 200);
    let (plain2, _, _) = open_package(&again, &key);
    assert_eq!(plain2, plain);
    assert_eq!(
        cli(
            &v,
            "li",
            &["--json", "log", "show", "--kind", "access_package"]
        )
        .ok()
        .json()
        .as_array()
        .unwrap()
        .len(),
        1
    );
    // A second fulfilment is refused.
    let (status, _, _) = post_raw(&c, &page_path, &pkg, &[("recipient", &recipient)]);
    assert_eq!(status, 403);

    // Nothing left on disk outside the vault: no temporary file, no package file.
    let outside: Vec<_> = files_under(v.tmp.path())
        .into_iter()
        .filter(|p| !p.starts_with(&v.dir) && !p.starts_with(common::state_dir(&v.dir)))
        .filter(|p| p.file_name().unwrap() != "recovery.txt")
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
    for p in files_under(&v.dir) {
        let b = std::fs::read(&p).unwrap();
        assert!(
            !b.windows(26).any(|w| w == b"casevault-access-package/1"),
            "plaintext package in {p:?}"
        );
    }
}

#[test]
fn a_caseworker_s_package_awaits_a_supervisor_s_checkpoint() {
    let v = TestVault::new();
    let case = v.client_with_case("C1", "刘洋");
    v.process_note("wang", case, "talked about school").ok();
    let s = serve_now(&v);
    let c = client(&s, "wang");
    let form = format!("/cases/{case}/requests");
    let rid = request_id(&c.post(
        &form,
        &form,
        &[
            ("kind", "access"),
            ("requester", "刘洋"),
            ("authority", "self"),
        ],
    ));
    let page_path = format!("/requests/{rid}");
    let page = c.get(&page_path);
    assert!(
        page.body.contains("您不持有检查点密钥"),
        "told before making it"
    );
    let key = age::x25519::Identity::generate();
    let recipient = key.to_public().to_string();
    let (status, _, body) = post_raw(
        &c,
        &page_path,
        &format!("/requests/{rid}/package"),
        &[("recipient", &recipient)],
    );
    let body = String::from_utf8(body).unwrap();
    assert_eq!(status, 202, "{body}");
    assert!(body.contains("等待检查点"), "{body}");
    assert!(body.contains("督导下次登录"));
    assert!(!body.contains("age-encryption"));

    // The request page says so and offers no download.
    let page = c.get(&page_path);
    assert!(page.body.contains("等待检查点"));
    assert!(!page.body.contains("/download\""));
    let (status, _, _) = post_raw(&c, &page_path, &format!("/requests/{rid}/download"), &[]);
    assert_eq!(status, 202, "still held");
    let (status, _, _) = post_raw(&c, &page_path, &format!("/requests/{rid}/receipt"), &[]);
    assert_eq!(status, 202, "the receipt too");

    // A supervisor's session signs a checkpoint: now it downloads (to the stored key).
    cli(&v, "li", &["case", "list"]).ok();
    let page = c.get(&page_path);
    assert!(!page.body.contains("等待检查点"), "{}", page.body);
    assert!(page
        .body
        .contains(&format!("action=\"/requests/{rid}/download\"")));
    let (status, _, file) = post_raw(&c, &page_path, &format!("/requests/{rid}/download"), &[]);
    assert_eq!(status, 200);
    let (plain, j, _) = open_package(&file, &key);
    assert_eq!(
        j["records"][0]["fields"]["narrative"],
        "talked about school"
    );
    let log = cli(
        &v,
        "li",
        &["--json", "log", "show", "--kind", "access_package"],
    )
    .ok()
    .json();
    assert_eq!(log[0]["disclosed_sha256"], sha256_hex(&plain));
    // Its receipt, as the CLI writes it beside the package, verifies under the log key.
    let (status, head, receipt) =
        post_raw(&c, &page_path, &format!("/requests/{rid}/receipt"), &[]);
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("attachment"));
    let receipt =
        casevault::log::Receipt::from_json(std::str::from_utf8(&receipt).unwrap()).unwrap();
    let vkey = cli(&v, "audit", &["log", "key"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let (_, entry) = casevault::log::verify_receipt(&receipt, &vkey).unwrap();
    assert_eq!(
        entry.disclosed_sha256.map(|h| casevault::crypto::hex(&h)),
        Some(sha256_hex(&plain))
    );
}

#[test]
fn a_correction_closes_with_the_amendment_made_and_a_request_can_be_denied() {
    let v = TestVault::new();
    let case = v.client_with_case("C1", "刘洋");
    let rec = v.process_note("wang", case, "wrong date").ok().json()["id"]
        .as_i64()
        .unwrap();
    let s = serve_now(&v);
    let c = client(&s, "wang");
    let form = format!("/cases/{case}/requests");
    let rid = request_id(&c.post(
        &form,
        &form,
        &[
            ("kind", "correction"),
            ("requester", "刘洋"),
            ("authority", "self"),
            ("record", &rec.to_string()),
        ],
    ));
    let page_path = format!("/requests/{rid}");
    let page = c.get(&page_path);
    assert!(page
        .body
        .contains(&format!("href=\"/records/{rec}/amend\"")));
    // The record itself is not an amendment of itself.
    let accept = format!("/requests/{rid}/accept");
    let r = c.post(&page_path, &accept, &[("amendment", &rec.to_string())]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("不是记录"), "{}", r.body);
    // Amended on the record's page (here: the CLI's `record amend`), then closed with it.
    let fields = serde_json::json!({"client_number": "C1", "date": "2026-11-21",
        "session_aim": "a", "narrative": "right date"});
    let am = v
        .run_stdin(
            "wang",
            &[
                "--json",
                "record",
                "amend",
                &rec.to_string(),
                "--fields",
                "-",
            ],
            &fields.to_string(),
        )
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap();
    let r = c.post(&page_path, &accept, &[("amendment", &am.to_string())]);
    assert_eq!(r.status, 303, "{}", r.body);
    let shown = cli(&v, "wang", &["--json", "request", "show", &rid.to_string()])
        .ok()
        .json();
    assert_eq!(shown["status"], "accepted");
    assert_eq!(shown["amendment_id"], am);
    let log = cli(
        &v,
        "li",
        &["--json", "log", "show", "--kind", "correction_notice"],
    )
    .ok()
    .json();
    assert_eq!(log.as_array().unwrap().len(), 1);
    let page = c.get(&page_path);
    assert!(page.body.contains("已更正") && page.body.contains("无需通知"));

    // Another request denied with a reason, closed for the CLI too.
    let other = request_id(&c.post(
        &form,
        &form,
        &[
            ("kind", "access"),
            ("requester", "刘洋"),
            ("authority", "self"),
        ],
    ));
    let path = format!("/requests/{other}");
    assert_eq!(
        c.post(
            &path,
            &format!("/requests/{other}/deny"),
            &[("reason", "  ")]
        )
        .status,
        400
    );
    let r = c.post(
        &path,
        &format!("/requests/{other}/deny"),
        &[("reason", "<i>重复请求</i>")],
    );
    assert_eq!(r.status, 303);
    let shown = cli(
        &v,
        "wang",
        &["--json", "request", "show", &other.to_string()],
    )
    .ok()
    .json();
    assert_eq!(shown["status"], "denied");
    assert_eq!(shown["response"], "<i>重复请求</i>");
    assert!(c.get(&path).body.contains("&lt;i&gt;重复请求&lt;/i&gt;"));
}

#[test]
fn the_audit_page_is_for_auditors_and_shows_the_findings() {
    let v = TestVault::new();
    v.client_with_case("C1", "刘洋");
    // An overdue request: a high finding.
    cli(
        &v,
        "wang",
        &[
            "request",
            "add",
            "--kind",
            "access",
            "--client",
            "C1",
            "--requester",
            "刘洋",
            "--received",
            "2026-10-01",
        ],
    )
    .ok();
    let s = serve_now(&v);
    let a = client(&s, "audit");
    let page = a.get("/audit");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("action=\"/audit/run\""));
    assert!(
        page.body.contains("href=\"/audit\""),
        "offered in the navigation"
    );
    let r = a.post("/audit", "/audit/run", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("data-severity=\"high\""), "{}", r.body);
    assert!(r.body.contains("data-check=\"requests.overdue\""));
    assert!(r.body.contains("处理建议"));
    assert!(r.body.contains("各项检查"));
    assert!(!r.body.contains("刘洋"), "no client data for an auditor");
    // A caseworker is neither offered it nor let in.
    let c = client(&s, "wang");
    let cases = c.get("/cases");
    assert!(!cases.body.contains("href=\"/audit\""));
    assert_eq!(c.get("/audit").status, 403);
    assert_eq!(c.post("/cases", "/audit/run", &[]).status, 403);
}

#[test]
fn the_log_page_shows_verified_then_a_tamper_alarm() {
    let v = TestVault::new();
    v.client_with_case("C1", "刘洋");
    let s = serve_now(&v);
    // Admins (log.verify only) land here, without the entries.
    let ok = sign_in(&s, "admin", &TestVault::passphrase("admin"));
    assert_eq!(ok.header("location"), Some("/log"));
    let admin_cookie = session_cookie(&ok);
    let page = req(&s, "GET", "/log", &[("Cookie", &admin_cookie)], "");
    assert_eq!(page.status, 200);
    // A view checks the head only (cheap); the full verification is the button's.
    assert!(page.body.contains("日志头核对通过"), "{}", page.body);
    assert!(page.body.contains("立即完整验证"));
    assert!(!page.body.contains("篡改警报"));
    let admin = Client {
        server: &s,
        cookie: admin_cookie.clone(),
    };
    let full = admin.post("/log", "/log/verify", &[]);
    assert_eq!(full.status, 200);
    assert!(full.body.contains("日志验证通过"), "{}", full.body);
    assert!(!full.body.contains("篡改警报"));
    assert!(
        !page.body.contains("日志条目（最新在前）"),
        "admin has no log.read"
    );
    assert_eq!(
        req(
            &s,
            "GET",
            "/log/entries/page/2",
            &[("Cookie", &admin_cookie)],
            ""
        )
        .status,
        403
    );

    // The auditor (log.read) sees the entries, kinds and bases in Chinese, newest first.
    let a = client(&s, "audit");
    let page = a.get("/log");
    assert!(page.body.contains("日志条目（最新在前）"));
    assert!(page.body.contains("工作人员登记"), "kind label");
    assert!(page.body.contains("第 1 页"));
    let rows = page.body.matches("<tr><td>").count();
    assert!(rows > 3 && rows <= 50, "{rows}");
    // Page 2 of a short log: empty but not an error.
    assert_eq!(a.get("/log/entries/page/2").status, 200);
    assert_eq!(a.get("/log/entries/page/0").status, 404);

    // An insider edits the last entry: the cheap check of every view raises the alarm.
    let last = "(SELECT max(idx) FROM log_entries)";
    let orig: Vec<u8> = {
        let db = v.insider_db("wang");
        let orig = db
            .query_row(
                &format!("SELECT stored FROM log_entries WHERE idx = {last}"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        db.execute(
            &format!("UPDATE log_entries SET stored = stored || x'00' WHERE idx = {last}"),
            [],
        )
        .unwrap();
        orig
    };
    let page = req(&s, "GET", "/log", &[("Cookie", &admin_cookie)], "");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("篡改警报"), "{}", page.body);
    assert!(page.body.contains("class=\"alarm\" role=\"alert\""));
    assert!(!page.body.contains("日志头核对通过"));
    {
        let db = v.insider_db("wang");
        db.execute(
            &format!("UPDATE log_entries SET stored = ?1 WHERE idx = {last}"),
            [&orig],
        )
        .unwrap();
    }
    let page = req(&s, "GET", "/log", &[("Cookie", &admin_cookie)], "");
    assert!(page.body.contains("日志头核对通过"), "{}", page.body);

    // An insider edits an old, checkpointed row: "verify now" raises the alarm, and so does
    // the entries table that shows it (each shown entry's signature is checked).
    {
        let db = v.insider_db("wang");
        db.execute(
            "UPDATE log_entries SET stored = stored || x'00' WHERE idx = 1",
            [],
        )
        .unwrap();
    }
    let page = admin.post("/log", "/log/verify", &[]);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("篡改警报"), "{}", page.body);
    assert!(page.body.contains("class=\"alarm\" role=\"alert\""));
    assert!(!page.body.contains("日志验证通过"));
    let page = a.get("/log");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("篡改警报"), "{}", page.body);
    assert!(
        !page.body.contains("<tr><td>1</td>"),
        "the edited entry is not shown"
    );
}

/// and downloads it; then the auditor's audit page and the log page. Screenshots
/// "requests", "access-package", "audit", "log".
#[test]
fn chromium_access_request_to_download_audit_and_log() {
    let v = TestVault::new();
    let case = v.client_with_case("C1", "刘洋");
    v.process_note("wang", case, "talked about school").ok();
    v.supervision_note("wang", case, "SUPERVISION-SECRET").ok();
    cli(
        &v,
        "wang",
        &[
            "request",
            "add",
            "--kind",
            "correction",
            "--client",
            "C1",
            "--requester",
            "刘洋",
            "--received",
            "2026-10-01",
            "--record",
            "1",
        ],
    )
    .ok();
    let s = serve_now(&v);
    let profile = v.tmp.path().join("chromium-profile");
    let Some(b) = browser::Browser::start(&profile) else {
        return;
    };
    let base = format!("http://{}", s.addr);
    b.sign_in(&base, "li", &TestVault::passphrase("li"), "我的个案");
    b.goto(&format!("{base}/cases/{case}/requests"));
    b.wait_title(&format!("登记请求：个案 {case}"));
    b.fill("input[name=requester]", "刘洋");
    b.fill("input[name=identity_check]", "身份证");
    b.click("main form button[type=submit]");
    for _ in 0..100 {
        if b.title().starts_with("查阅请求") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let title = b.title();
    let rid: i64 = title.trim_start_matches("查阅请求 ").parse().unwrap();
    assert!(b.body_text().contains("将提供 1 份记录"));
    let key = age::x25519::Identity::generate();
    b.fill("input[name=recipient]", &key.to_public().to_string());
    b.screenshots("access-package");
    b.click("form[action$='/package'] button[type=submit]");
    let file = profile
        .join("downloads")
        .join(format!("access-package-{rid}.age"));
    for _ in 0..100 {
        if file.is_file() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let bytes = std::fs::read(&file).expect("the package was downloaded");
    let (_, j, _) = open_package(&bytes, &key);
    assert_eq!(j["records"].as_array().unwrap().len(), 1);

    b.goto(&format!("{base}/requests"));
    b.wait_title("查阅与更正请求");
    assert!(
        b.body_text().contains("已逾期"),
        "the correction is overdue"
    );
    assert!(b.body_text().contains("已答复"));
    b.screenshots("requests");

    // The auditor: the audit page (run now), then the log.
    b.click("header form button[type=submit]");
    b.wait_title("登录");
    b.sign_in(&base, "audit", &TestVault::passphrase("audit"), "保密审计");
    b.click("main form button[type=submit]");
    for _ in 0..100 {
        if b.count("section.findings") > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(b.body_text().contains("处理建议"));
    b.screenshots("audit");
    b.goto(&format!("{base}/log"));
    b.wait_title("披露日志状态");
    assert!(b.body_text().contains("日志头核对通过"));
    assert!(b.body_text().contains("查阅资料包"));
    b.screenshots("log");
}
