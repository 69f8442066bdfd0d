//! The supervisor's queue (`/queue`) and consents (`/cases/{id}/consents`, `/consents/{id}`,
//! the printable form) through the real binary: HTTP checks, then one chromium flow.

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "common/web.rs"]
mod web;

use common::TestVault;
use serde_json::Value;
use web::*;

/// A vault with client C001 (a name to escape) and its case, a tier-3 note by wang, a closing
/// record, partner "Partner" and a consent covering tier-3 supervision notes (with separate
/// consent) that nobody approved yet. Returns (vault, case, note, consent).
fn setup() -> (TestVault, i64, i64, i64) {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "<b>张三</b>");
    let note = v
        .supervision_note("wang", case, "restricted topic")
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap();
    let closing = serde_json::json!({
        "client_number": "C001", "closing_date": "2026-11-20",
        "summary": "goals met", "reason": "goals_met"
    });
    v.run_stdin(
        "wang",
        &[
            "record",
            "add",
            "--case",
            &case.to_string(),
            "--kind",
            "closing",
            "--fields",
            "-",
        ],
        &closing.to_string(),
    )
    .ok();
    v.partner("Partner");
    let consent = v
        .run(
            "wang",
            &[
                "--json",
                "consent",
                "add",
                "--client",
                "C001",
                "--agency",
                "Partner",
                "--signer",
                "client",
                "--signer-name",
                "Zhang San",
                "--purpose",
                "counselling",
                "--kinds",
                "supervision",
                "--tiers",
                "3",
                "--separate-consent",
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
        .unwrap();
    (v, case, note, consent)
}

fn consents_of(v: &TestVault, client: &str) -> Vec<Value> {
    v.run("wang", &["--json", "consent", "list", "--client", client])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn queue_for_supervisors_only_with_approvals_checked_for_csrf() {
    let (v, case, note, consent) = setup();
    let s = serve(&v);

    // A caseworker is neither offered the queue nor let in.
    let wang = client(&s, "wang");
    let cases = wang.get("/cases");
    assert!(!cases.body.contains("href=\"/queue\""), "{}", cases.body);
    let r = wang.get("/queue");
    assert_eq!(r.status, 403);
    assert_security_headers(&r);
    let r = wang.post("/cases", "/queue/cases/1/close", &[]);
    assert_eq!(r.status, 403);

    let li = client(&s, "li");
    assert!(li.get("/cases").body.contains("href=\"/queue\""));
    let q = li.get("/queue");
    assert_eq!(q.status, 200, "{}", q.body);
    assert_security_headers(&q);
    // The unread tier-3 note, with a link to read it.
    assert!(
        q.body.contains(&format!("href=\"/records/{note}\"")),
        "{}",
        q.body
    );
    assert!(
        q.body.contains("&lt;b&gt;张三&lt;/b&gt;"),
        "client name escaped"
    );
    assert!(!q.body.contains("<b>张三"));
    // The closing to approve and the tier-3 disclosure to approve.
    assert!(q
        .body
        .contains(&format!("action=\"/queue/cases/{case}/close\"")));
    assert!(q.body.contains("action=\"/queue/approve\""));
    assert!(q
        .body
        .contains(&format!("name=\"record\" value=\"{note}\"")));

    // Without the session's CSRF token the approval is refused.
    let fields = format!(
        "csrf={}&case={case}&consent={consent}&record={note}",
        "0".repeat(64)
    );
    let r = req(
        &s,
        "POST",
        "/queue/approve",
        &[("Cookie", &li.cookie)],
        &fields,
    );
    assert_eq!(r.status, 403);
    assert!(li.get("/queue").body.contains("action=\"/queue/approve\""));

    // With it, the approval is recorded (the library's `referral approve`).
    let (c, n, k) = (case.to_string(), note.to_string(), consent.to_string());
    let r = li.post(
        "/queue",
        "/queue/approve",
        &[("case", &c), ("consent", &k), ("record", &n)],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/queue"));
    let q = li.get("/queue");
    assert!(!q.body.contains("action=\"/queue/approve\""), "{}", q.body);
    // Approved, a caseworker's export of the note waits for a supervisor's release: listed,
    // with a link to the referral screen that releases it.
    let out = v.tmp.path().join("packet.age");
    let r = v
        .run(
            "wang",
            &[
                "--json",
                "referral",
                "export",
                "--case",
                &c,
                "--agency",
                "Partner",
                "--consent",
                &k,
                "--purpose",
                "counselling",
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .ok();
    let release = r.json()["release_request"].as_i64().unwrap();
    let q = li.get("/queue");
    assert!(
        q.body
            .contains(&format!("href=\"/referrals/{release}/release\"")),
        "{}",
        q.body
    );
    let en = li.get("/queue?lang=en");
    assert!(
        en.body.contains("Referrals waiting for release"),
        "{}",
        en.body
    );
    // A bad form is a 400 with a message, not a panic.
    let r = li.post("/queue", "/queue/approve", &[("case", "x")]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("表单不完整"), "{}", r.body);

    // Once a supervisor read the note, it no longer waits.
    v.run("li", &["record", "show", &n]).ok();
    assert!(li.get("/queue").body.contains("待阅的机密记录 (0)"));

    // Approving the closing closes the case.
    let r = li.post("/queue", &format!("/queue/cases/{case}/close"), &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    let cases = v.run("li", &["--json", "case", "list"]).ok().json();
    assert_eq!(cases[0]["stage"], "closed", "{cases}");
    assert!(!li
        .get("/queue")
        .body
        .contains(&format!("/queue/cases/{case}/close")));
    // Closing it again: the library's refusal, translated, on the queue page.
    let r = li.post("/queue", &format!("/queue/cases/{case}/close"), &[]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("role=\"alert\""));

    // A new supervisor enrols: listed for endorsement; a wrong fingerprint is refused with
    // the library's message; the right one endorses, and the admin's approval then passes.
    let inv = v
        .run(
            "admin",
            &["--json", "staff", "add", "zhou", "--role", "supervisor"],
        )
        .ok()
        .json();
    let mut c = common::cmd(&v.dir);
    c.env("CASEVAULT_NEW_PASSPHRASE", common::pw("zhou")).args([
        "--json",
        "staff",
        "enrol",
        "--invite",
        inv["invitation"].as_str().unwrap(),
    ]);
    let fp = common::run(c).ok().json()["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let q = li.get("/queue");
    assert!(
        q.body.contains("name=\"name\" value=\"zhou\""),
        "{}",
        q.body
    );
    assert!(
        !q.body.contains(&fp),
        "the fingerprint is typed, never shown"
    );
    let r = li.post(
        "/queue",
        "/queue/endorse",
        &[
            ("name", "zhou"),
            ("fingerprint", "0000-0000-0000-0000-0000"),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("指纹"), "{}", r.body);
    let r = li.post(
        "/queue",
        "/queue/endorse",
        &[("name", "zhou"), ("fingerprint", &fp)],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    v.run("admin", &["staff", "approve", "zhou", "--fingerprint", &fp])
        .ok();
    assert!(!li.get("/queue").body.contains("value=\"zhou\""));

    // An endorsement with a wrong fingerprint for a name with no request: refused, explained.
    let r = li.post(
        "/queue",
        "/queue/endorse",
        &[("name", "nobody"), ("fingerprint", "0000")],
    );
    assert_eq!(r.status, 404, "{}", r.body);
}

#[test]
fn consents_add_list_revoke_and_the_printable_form() {
    let (v, case, _, _) = setup();
    let s = serve(&v);
    let wang = client(&s, "wang");
    let page = format!("/cases/{case}/consents");
    let r = wang.get(&page);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("&lt;b&gt;张三&lt;/b&gt;"));
    assert!(
        r.body.contains("counselling"),
        "the existing consent is listed"
    );
    assert!(r.body.contains("name=\"kinds\" value=\"process\""));
    let before = consents_of(&v, "C001").len();

    let good: Vec<(&str, &str)> = vec![
        ("agency", "Partner"),
        ("signer", "client"),
        ("signer_name", "<i>王</i>"),
        ("authority", "本人"),
        ("purposes", "住房支援\n就业辅导"),
        ("kinds", "process"),
        ("kinds", "intake"),
        ("tiers", "1"),
        ("tiers", "2"),
        ("revoke_how", "致电 021-123"),
        ("redisclosure", "不得再提供"),
        ("signed", "2025-01-01"),
        ("expires", "2099-12-31"),
    ];
    // Invalid: expiry before signing. 400, the library's message, the values kept (escaped).
    let mut bad = good.clone();
    bad.retain(|(k, _)| *k != "expires");
    bad.push(("expires", "2024-01-01"));
    let r = wang.post(&page, &page, &bad);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("有效期必须晚于签署日期"), "{}", r.body);
    assert!(
        r.body.contains("value=\"&lt;i&gt;王&lt;/i&gt;\""),
        "{}",
        r.body
    );
    assert!(!r.body.contains("<i>王"));
    // Invalid date text: 400 with the message.
    let mut bad = good.clone();
    bad.retain(|(k, _)| *k != "signed");
    bad.push(("signed", "yesterday"));
    let r = wang.post(&page, &page, &bad);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("yesterday"), "{}", r.body);
    assert_eq!(consents_of(&v, "C001").len(), before, "nothing recorded");

    let r = wang.post(&page, &page, &good);
    assert_eq!(r.status, 303, "{}", r.body);
    let loc = r.header("location").unwrap().to_string();
    let all = consents_of(&v, "C001");
    let c = all.last().unwrap();
    let id = c["id"].as_i64().unwrap();
    assert_eq!(loc, format!("/consents/{id}"));
    assert_eq!(c["agency_name"], "Partner");
    assert_eq!(c["signer_name"], "<i>王</i>");
    assert_eq!(c["purposes"], serde_json::json!(["住房支援", "就业辅导"]));
    assert_eq!(c["kinds"], serde_json::json!(["process", "intake"]));
    assert_eq!(c["tiers"], serde_json::json!([1, 2]));
    assert_eq!(c["expires_on"], "2099-12-31");

    // The printable form: client, scope, signature lines, both languages, escaped.
    let f = wang.get(&format!("/consents/{id}/form"));
    assert_eq!(f.status, 200);
    assert_security_headers(&f);
    for want in [
        "&lt;b&gt;张三&lt;/b&gt;",
        "&lt;i&gt;王&lt;/i&gt;",
        "过程记录表",
        "Process record",
        "住房支援",
        "服务对象签名",
        "Client&#39;s signature",
        "社工签名",
        "您的权利",
        "Your rights",
        "致电 021-123",
        "2099-12-31",
    ] {
        let want = want.replace("&#39;", "'");
        assert!(f.body.contains(&want), "{want} missing: {}", f.body);
    }
    assert!(!f.body.contains("<b>张三"), "escaped");
    assert!(
        !f.body.contains("监护人签名"),
        "no guardian line for an adult"
    );
    let css = req(&s, "GET", "/static/style.css", &[], "");
    assert!(css.body.contains("@media print") && css.body.contains("size: A4"));

    // Revoke: a confirm step first, then the revocation.
    let show = format!("/consents/{id}");
    let r = wang.get(&show);
    assert!(r
        .body
        .contains(&format!("action=\"/consents/{id}/revoke\"")));
    // The vault's today, as the revoke form offers it.
    let i = r.body.find("name=\"on\" value=\"").expect("date field") + 17;
    let today = r.body[i..i + 10].to_string();
    let r = wang.post(
        &show,
        &format!("/consents/{id}/revoke"),
        &[("on", "2999-01-01"), ("via", "电话")],
    );
    assert_eq!(r.status, 200, "the confirm page: {}", r.body);
    let r = wang.post(
        &show,
        &format!("/consents/{id}/revoke"),
        &[("on", "2999-01-01"), ("via", "电话"), ("confirm", "1")],
    );
    assert_eq!(r.status, 400, "a date in the future: {}", r.body);
    assert!(r.body.contains("晚于今天"), "{}", r.body);
    let r = wang.post(
        &show,
        &format!("/consents/{id}/revoke"),
        &[("on", &today), ("via", "电话")],
    );
    assert_eq!(r.status, 200);
    assert!(r.body.contains("确认撤回"), "{}", r.body);
    assert!(consents_of(&v, "C001").last().unwrap()["revoked_on"].is_null());
    let r = wang.post(
        &show,
        &format!("/consents/{id}/revoke"),
        &[("on", &today), ("via", "电话"), ("confirm", "1")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let c = consents_of(&v, "C001").last().unwrap().clone();
    assert_eq!(c["revoked_on"], today.as_str(), "{c}");
    assert_eq!(c["revoked_via"], "电话");
    assert!(
        !wang.get(&show).body.contains("/revoke\""),
        "no second revoke"
    );

    // A caseworker not on the case sees neither the case's consents nor this consent.
    let chen = client(&s, "chen");
    for path in [page.clone(), show.clone(), format!("/consents/{id}/form")] {
        let r = chen.get(&path);
        assert!(r.status == 403 || r.status == 404, "{path}: {}", r.status);
        assert!(!r.body.contains("张三"), "{path}");
    }

    // A minor's consent, signed by a guardian: the form has the guardian's line.
    v.run(
        "wang",
        &[
            "client",
            "add",
            "--number",
            "C002",
            "--name",
            "小雨",
            "--birth-date",
            "2015-05-01",
        ],
    )
    .ok();
    let case2 = v
        .run("wang", &["--json", "case", "open", "C002"])
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap();
    let page2 = format!("/cases/{case2}/consents");
    let mut minor = good.clone();
    // A minor's own signature is refused by the library's rule.
    let r = wang.post(&page2, &page2, &minor);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("监护人签署"), "{}", r.body);
    minor.retain(|(k, _)| *k != "signer");
    minor.push(("signer", "guardian"));
    let r = wang.post(&page2, &page2, &minor);
    assert_eq!(r.status, 303, "{}", r.body);
    let f = wang.get(&format!("{}/form", r.header("location").unwrap_or("")));
    assert!(f.body.contains("监护人签名"), "{}", f.body);
    assert!(f.body.contains("小雨"));
}

#[test]
fn chromium_queue_consent_and_the_print_view() {
    let (v, case, _, _) = setup();
    let s = serve(&v);
    let profile = v.tmp.path().join("chromium");
    let Some(b) = browser::Browser::start(&profile) else {
        return;
    };
    let base = format!("http://{}", s.addr);
    b.sign_in(&base, "li", &TestVault::passphrase("li"), "我的个案");
    b.goto(&format!("{base}/queue"));
    b.wait_title("督导待办");
    assert!(b.count("form[action='/queue/approve']") == 1);
    b.screenshots("queue");
    b.click("form[action='/queue/approve'] button");
    b.wait_title("督导待办");
    assert_eq!(b.count("form[action='/queue/approve']"), 0, "approved");

    // Record a consent through the form.
    b.goto(&format!("{base}/cases/{case}/consents"));
    b.wait_title(&format!("同意书：个案 {case}"));
    b.fill("input[name=signer_name]", "张三");
    b.fill("textarea[name=purposes]", "住房支援");
    b.click("input[name=kinds][value=process]");
    b.click("input[name=tiers][value='1']");
    b.fill("input[name=revoke_how]", "致电社工站");
    b.script("document.querySelector('input[name=expires]').value = '2099-12-31';");
    b.script("window.scrollTo(0, 0);");
    b.screenshots("consents");
    b.click("form.consent button[type=submit]");
    for _ in 0..100 {
        if b.title().starts_with("同意书 ") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let title = b.title();
    assert!(title.starts_with("同意书 "), "{title}: {}", b.body_text());
    let id: i64 = title.trim_start_matches("同意书 ").parse().unwrap();
    assert!(consents_of(&v, "C001")
        .iter()
        .any(|c| c["id"] == id && c["purposes"][0] == "住房支援"));

    // The printable form as it prints: the page frame hidden, the form on A4.
    b.goto(&format!("{base}/consents/{id}/form"));
    b.call(
        "POST",
        "/goog/cdp/execute",
        Some(serde_json::json!({"cmd": "Emulation.setEmulatedMedia",
                                "params": {"media": "print"}})),
    );
    let header_shown =
        b.script("return getComputedStyle(document.querySelector('body > header')).display;");
    assert_eq!(header_shown, "none", "the navigation is not printed");
    assert!(b.text("article.consent-form").contains("服务对象签名"));
    b.screenshots("consent-form");
    let pdf = b.call(
        "POST",
        "/print",
        Some(serde_json::json!({"page": {"width": 21.0, "height": 29.7}})),
    );
    use base64::Engine;
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(pdf.as_str().expect("a PDF"))
        .unwrap();
    assert!(pdf.starts_with(b"%PDF"));
}
