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
mod webdriver {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use serde_json::Value;

    pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

    pub fn call(port: u16, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut t = TcpStream::connect(("127.0.0.1", port)).unwrap();
        t.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        t.write_all(head.as_bytes()).unwrap();
        t.write_all(body.as_bytes()).unwrap();
        // chromedriver may keep the connection open: read the head, then Content-Length bytes.
        let mut raw = Vec::new();
        let mut byte = [0u8; 1];
        while !raw.ends_with(b"\r\n\r\n") {
            t.read_exact(&mut byte).unwrap();
            raw.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&raw).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .expect("content-length")
            .trim()
            .parse()
            .unwrap();
        let mut body = vec![0u8; len];
        t.read_exact(&mut body).unwrap();
        let text = String::from_utf8(body).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        v["value"].clone()
    }
}

/// The path of an executable on `PATH`.
fn on_path(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Chromium through chromedriver: sign in with the form, land on the cases page, and the
/// session cookie is out of reach of page scripts. Skipped without `chromium` and
/// `chromedriver` (Debian `chromium-driver`).
#[test]
fn chromium_signs_in_through_the_form() {
    let (Some(driver), Some(_)) = (on_path("chromedriver"), on_path("chromium")) else {
        eprintln!("skipped: chromium and chromedriver are not installed");
        return;
    };
    use serde_json::json;
    use webdriver::{call, ELEMENT};
    let v = TestVault::new();
    v.client_with_case("C-001", "<b>李雷</b>");
    let s = serve(&v);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _driver = Kill(
        std::process::Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let profile = v.tmp.path().join("chromium-profile");
    let mut options = json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 format!("--user-data-dir={}", profile.display())]
    });
    if std::path::Path::new("/usr/lib/chromium/chromium").is_file() {
        options["binary"] = json!("/usr/lib/chromium/chromium");
    }
    let session = call(
        port,
        "POST",
        "/session",
        Some(json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options}}})),
    );
    let sid = session["sessionId"]
        .as_str()
        .expect("a WebDriver session")
        .to_string();
    /// Ends the browser even when an assertion fails (chromedriver alone would leave it).
    struct Quit(u16, String);
    impl Drop for Quit {
        fn drop(&mut self) {
            webdriver::call(self.0, "DELETE", &format!("/session/{}", self.1), None);
        }
    }
    let _quit = Quit(port, sid.clone());
    let at = |p: &str| format!("/session/{sid}{p}");
    let find = |css: &str| -> String {
        let e = call(
            port,
            "POST",
            &at("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        e[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {e}"))
            .to_string()
    };
    call(
        port,
        "POST",
        &at("/url"),
        Some(json!({"url": format!("http://{}/login", s.addr)})),
    );
    assert_eq!(call(port, "GET", &at("/title"), None), json!("登录"));
    let name = find("input[name=name]");
    call(
        port,
        "POST",
        &at(&format!("/element/{name}/value")),
        Some(json!({"text": "wang"})),
    );
    let pass = find("input[name=passphrase]");
    call(
        port,
        "POST",
        &at(&format!("/element/{pass}/value")),
        Some(json!({"text": TestVault::passphrase("wang")})),
    );
    let button = find("button[type=submit]");
    call(
        port,
        "POST",
        &at(&format!("/element/{button}/click")),
        Some(json!({})),
    );
    let mut title = json!(null);
    for _ in 0..50 {
        title = call(port, "GET", &at("/title"), None);
        if title == json!("我的个案") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(title, json!("我的个案"));
    let cell = find("tbody td:nth-child(3)");
    assert_eq!(
        call(port, "GET", &at(&format!("/element/{cell}/text")), None),
        json!("<b>李雷</b>"),
        "the name is shown as text, not markup"
    );
    // HttpOnly: page scripts cannot read the session cookie.
    let cookie = call(
        port,
        "POST",
        &at("/execute/sync"),
        Some(json!({"script": "return document.cookie", "args": []})),
    );
    assert!(
        !cookie.as_str().unwrap_or("").contains("cv_session"),
        "{cookie}"
    );
}
