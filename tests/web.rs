//! `casevault serve` through the real binary and a plain `TcpStream` HTTP client: sign-in,
//! cookies, security headers, CSRF, Origin and Host checks, sign-out, the cases page.

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "common/web.rs"]
mod web;

use common::{cmd, TestVault};
use web::*;

#[test]
fn sign_in_cookie_headers_and_the_cases_page() {
    let v = TestVault::new();
    v.client_with_case("C-001", "<script>alert(1)</script>李雷");
    v.run(
        "chen",
        &["client", "add", "--number", "C-002", "--name", "韩梅梅"],
    )
    .ok();
    v.run("chen", &["case", "open", "C-002"]).ok();
    let s = serve(&v);

    // Not signed in: the cases page sends to the sign-in page.
    let r = req(&s, "GET", "/cases", &[], "");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login"));
    assert_security_headers(&r);

    let page = req(&s, "GET", "/login", &[], "");
    assert_eq!(page.status, 200);
    assert_security_headers(&page);
    assert!(page.body.contains("登录"), "Chinese by default");

    // Wrong passphrase: refused, no session.
    let bad = sign_in(&s, "wang", "not the passphrase at all");
    assert_eq!(bad.status, 401);
    assert!(bad.cookie("cv_session").is_none());
    assert!(bad.body.contains("姓名或口令不正确"), "{}", bad.body);
    assert_security_headers(&bad);
    // Unknown name: the same answer.
    let unknown = sign_in(&s, "nobody", "not the passphrase at all");
    assert_eq!(unknown.status, 401);

    let ok = sign_in(&s, "wang", &TestVault::passphrase("wang"));
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.header("location"), Some("/cases"));
    let set = ok
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("cv_session="))
        .unwrap()
        .to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "{set}");
    }
    let id = ok.cookie("cv_session").unwrap();
    assert_eq!(id.len(), 64);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let cookie = session_cookie(&ok);

    let cases = req(&s, "GET", "/cases", &[("Cookie", &cookie)], "");
    assert_eq!(cases.status, 200);
    assert_security_headers(&cases);
    assert!(cases.body.contains("我的个案"));
    assert!(cases.body.contains("C-001"));
    assert!(cases
        .body
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;李雷"));
    assert!(!cases.body.contains("<script>"), "client name escaped");
    assert!(cases.body.contains("接案"), "stage label in Chinese");
    assert!(
        !cases.body.contains("C-002"),
        "another worker's case is not shown"
    );

    // English by `?lang=en`, kept in a cookie.
    let en = req(&s, "GET", "/cases?lang=en", &[("Cookie", &cookie)], "");
    assert!(en.body.contains("My cases"), "{}", en.body);
    assert!(en.set_cookies().iter().any(|c| c.starts_with("cv_lang=en")));
    let en2 = req(
        &s,
        "GET",
        "/cases",
        &[("Cookie", &format!("{cookie}; cv_lang=en"))],
        "",
    );
    assert!(en2.body.contains("My cases"));

    // Other responses carry the headers too.
    for path in ["/static/style.css", "/nowhere", "/"] {
        assert_security_headers(&req(&s, "GET", path, &[("Cookie", &cookie)], ""));
    }
}

#[test]
fn csrf_origin_and_host_are_checked_and_sign_out_wipes() {
    let v = TestVault::new();
    let s = serve(&v);
    let ok = sign_in(&s, "li", &TestVault::passphrase("li"));
    assert_eq!(ok.status, 303, "{}", ok.body);
    let cookie = session_cookie(&ok);
    let cases = req(&s, "GET", "/cases", &[("Cookie", &cookie)], "");
    assert_eq!(cases.status, 200);
    let token = csrf_of(&cases.body);

    // A sign-in without its token is refused.
    let r = req(&s, "POST", "/login", &[], "name=li&passphrase=x");
    assert_eq!(r.status, 403);
    assert_security_headers(&r);
    // Sign-out without a token, with a wrong one: refused, still signed in.
    let r = req(&s, "POST", "/logout", &[("Cookie", &cookie)], "");
    assert_eq!(r.status, 403);
    let wrong = "0".repeat(64);
    let r = req(
        &s,
        "POST",
        "/logout",
        &[("Cookie", &cookie)],
        &format!("csrf={wrong}"),
    );
    assert_eq!(r.status, 403);
    // Cross-origin, or no Origin at all: refused even with the right token. `null` (what
    // browsers send under `Referrer-Policy: no-referrer`) only with Sec-Fetch-Site same-origin.
    let body = format!("csrf={token}");
    for (origin, site) in [
        ("http://evil.example", ""),
        ("http://evil.example", "same-origin"),
        ("null", ""),
        ("null", "cross-site"),
        ("", ""),
        ("", "same-site"),
    ] {
        let r = req(
            &s,
            "POST",
            "/logout",
            &[
                ("Cookie", &cookie),
                ("Origin", origin),
                ("Sec-Fetch-Site", site),
            ],
            &body,
        );
        assert_eq!(r.status, 403, "origin {origin:?}, site {site:?}");
    }
    // A name that is not ours (DNS rebinding): refused.
    let r = req(
        &s,
        "GET",
        "/cases",
        &[("Cookie", &cookie), ("Host", "evil.example")],
        "",
    );
    assert_eq!(r.status, 421);
    assert_security_headers(&r);
    assert_eq!(
        req(&s, "GET", "/cases", &[("Cookie", &cookie)], "").status,
        200,
        "still signed in"
    );

    // Sign-out with the token: the old cookie no longer opens anything.
    let r = req(&s, "POST", "/logout", &[("Cookie", &cookie)], &body);
    assert_eq!(r.status, 303);
    assert!(r
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("cv_session=;") && c.contains("Max-Age=0")));
    let r = req(&s, "GET", "/cases", &[("Cookie", &cookie)], "");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login"));
}

#[test]
fn sign_in_is_rate_limited_per_name() {
    let v = TestVault::new();
    let s = serve(&v);
    for _ in 0..5 {
        assert_eq!(sign_in(&s, "chen", "wrong passphrase, again").status, 401);
    }
    let r = sign_in(&s, "chen", &TestVault::passphrase("chen"));
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.cookie("cv_session").is_none());
    // Another name is not held back by chen's failures.
    assert_eq!(
        sign_in(&s, "wang", &TestVault::passphrase("wang")).status,
        303
    );
}

#[test]
fn serve_refuses_a_non_loopback_address() {
    let v = TestVault::new();
    let mut c = cmd(&v.dir);
    c.args(["serve", "--listen", "0.0.0.0:0"]);
    let r = common::run(c);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("loopback"), "{}", r.stderr);
    let mut c = cmd(&v.dir);
    c.args(["serve", "--listen", "not-an-address"]);
    let r = common::run(c);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("not valid"), "{}", r.stderr);
}

#[test]
fn an_idle_session_is_locked() {
    let v = TestVault::new();
    let s = serve_with(&v, &[("CASEVAULT_TEST_WEB_IDLE_SECS", "1")]);
    let ok = sign_in(&s, "wang", &TestVault::passphrase("wang"));
    assert_eq!(ok.status, 303, "{}", ok.body);
    let cookie = session_cookie(&ok);
    assert_eq!(
        req(&s, "GET", "/cases", &[("Cookie", &cookie)], "").status,
        200
    );
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let r = req(&s, "GET", "/cases", &[("Cookie", &cookie)], "");
    assert_eq!(r.status, 303, "locked after the idle time");
    assert_eq!(r.header("location"), Some("/login"));
}

/// A minimal W3C WebDriver client over `TcpStream` (docs/web.md, "Stack"): one JSON request
/// per connection to `chromedriver`.
/// Chromium through chromedriver: sign in with the form, land on the cases page, and the
/// session cookie is out of reach of page scripts. Skipped without `chromium` and
/// `chromedriver` (Debian `chromium-driver`), except under CI.
#[test]
fn chromium_signs_in_through_the_form() {
    let v = TestVault::new();
    v.client_with_case("C-001", "<b>李雷</b>");
    let s = serve(&v);
    let Some(b) = browser::Browser::start(&v.tmp.path().join("chromium-profile")) else {
        return;
    };
    let base = format!("http://{}", s.addr);
    b.goto(&format!("{base}/login"));
    assert_eq!(b.title(), "登录");
    b.screenshots("login");
    b.sign_in(&base, "wang", &TestVault::passphrase("wang"), "我的个案");
    assert_eq!(
        b.text("tbody td:nth-child(3)"),
        "<b>李雷</b>",
        "the name is shown as text, not markup"
    );
    b.screenshots("cases");
    // HttpOnly: page scripts cannot read the session cookie.
    let cookie = b.script("return document.cookie");
    assert!(
        !cookie.as_str().unwrap_or("").contains("cv_session"),
        "{cookie}"
    );
}
