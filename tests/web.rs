//! `casevault serve` through the real binary and a plain `TcpStream` HTTP client: sign-in,
//! cookies, security headers, CSRF, Origin and Host checks, sign-out, the cases page.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use common::{cmd, TestVault};

/// A running `casevault serve` on a free loopback port, killed on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(v: &TestVault) -> Server {
    serve_with(v, &[])
}

fn serve_with(v: &TestVault, env: &[(&str, &str)]) -> Server {
    let mut c = cmd(&v.dir);
    c.envs(env.iter().copied());
    c.args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let start = line.find("http://").expect("address printed") + 7;
    let addr = line[start..].split('/').next().unwrap().to_string();
    Server { child, addr }
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// The value a `Set-Cookie` gives `name`.
    fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies().into_iter().find_map(|c| {
            c.strip_prefix(&format!("{name}="))
                .map(|r| r.split(';').next().unwrap().to_string())
        })
    }
}

/// Sends one request; `headers` replace the defaults (Host = the server, Origin = the server
/// for a POST) when they name the same header.
fn req(s: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let mut all: Vec<(String, String)> = vec![("Host".into(), s.addr.clone())];
    if method == "POST" {
        all.push(("Origin".into(), format!("http://{}", s.addr)));
        all.push((
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
    }
    for (n, v) in headers {
        all.retain(|(m, _)| !m.eq_ignore_ascii_case(n));
        if !v.is_empty() {
            all.push((n.to_string(), v.to_string()));
        }
    }
    let mut text = format!("{method} {path} HTTP/1.1\r\n");
    for (n, v) in &all {
        text.push_str(&format!("{n}: {v}\r\n"));
    }
    text.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    let mut t = TcpStream::connect(&s.addr).unwrap();
    t.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    t.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_string(), v.trim().to_string())
        })
        .collect();
    Resp {
        status,
        headers,
        body: body.to_string(),
    }
}

/// Percent-encodes a form value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The value of the hidden `csrf` field of a page.
fn csrf_of(page: &str) -> String {
    let i = page.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
    page[i..i + 64].to_string()
}

fn assert_security_headers(r: &Resp) {
    assert_eq!(
        r.header("content-security-policy"),
        Some(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'"
        )
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
}

/// Signs in `who`; returns the response and the login cookie used.
fn sign_in(s: &Server, who: &str, pass: &str) -> Resp {
    let page = req(s, "GET", "/login", &[], "");
    let login = page.cookie("cv_login").unwrap();
    let body = format!(
        "csrf={}&name={}&passphrase={}",
        csrf_of(&page.body),
        enc(who),
        enc(pass)
    );
    req(
        s,
        "POST",
        "/login",
        &[("Cookie", &format!("cv_login={login}"))],
        &body,
    )
}

fn session_cookie(r: &Resp) -> String {
    format!(
        "cv_session={}",
        r.cookie("cv_session").expect("session cookie")
    )
}

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
    // Cross-origin, or no Origin at all: refused even with the right token.
    let body = format!("csrf={token}");
    for origin in ["http://evil.example", "null", ""] {
        let r = req(
            &s,
            "POST",
            "/logout",
            &[("Cookie", &cookie), ("Origin", origin)],
            &body,
        );
        assert_eq!(r.status, 403, "origin {origin:?}");
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
