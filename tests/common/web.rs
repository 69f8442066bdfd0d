//! Test helpers for `casevault serve`: the real binary on a free loopback port and a plain
//! `TcpStream` HTTP client (include with `#[path = "common/web.rs"] mod web;` beside
//! `mod common;`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use crate::common::{cmd, TestVault};

/// A running `casevault serve` on a free loopback port, killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(v: &TestVault) -> Server {
    serve_with(v, &[])
}

pub fn serve_with(v: &TestVault, env: &[(&str, &str)]) -> Server {
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

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// The value a `Set-Cookie` gives `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies().into_iter().find_map(|c| {
            c.strip_prefix(&format!("{name}="))
                .map(|r| r.split(';').next().unwrap().to_string())
        })
    }
}

/// Sends one request; `headers` replace the defaults (Host = the server, Origin = the server
/// for a POST) when they name the same header.
pub fn req(s: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
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
pub fn enc(s: &str) -> String {
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
pub fn csrf_of(page: &str) -> String {
    let i = page.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
    page[i..i + 64].to_string()
}

/// The value of the first hidden one-time `once` field of a page (empty if none).
pub fn once_of(page: &str) -> String {
    match page.find("name=\"once\" value=\"") {
        Some(i) => page[i + 19..i + 19 + 64].to_string(),
        None => String::new(),
    }
}

pub fn assert_security_headers(r: &Resp) {
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
pub fn sign_in(s: &Server, who: &str, pass: &str) -> Resp {
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

pub fn session_cookie(r: &Resp) -> String {
    format!(
        "cv_session={}",
        r.cookie("cv_session").expect("session cookie")
    )
}

/// A signed-in test client: the session cookie and the page's CSRF token.
pub struct Client<'a> {
    pub server: &'a Server,
    pub cookie: String,
}

impl Client<'_> {
    pub fn get(&self, path: &str) -> Resp {
        req(self.server, "GET", path, &[("Cookie", &self.cookie)], "")
    }

    /// POSTs `fields` (percent-encoded here) with the CSRF token of the page at `from`.
    pub fn post(&self, from: &str, path: &str, fields: &[(&str, &str)]) -> Resp {
        let page = self.get(from);
        let mut body = format!("csrf={}&once={}", csrf_of(&page.body), once_of(&page.body));
        for (k, v) in fields {
            body.push_str(&format!("&{}={}", enc(k), enc(v)));
        }
        req(
            self.server,
            "POST",
            path,
            &[("Cookie", &self.cookie)],
            &body,
        )
    }
}

/// Signs `who` in (their test passphrase) and returns the client.
pub fn client<'a>(s: &'a Server, who: &str) -> Client<'a> {
    let r = sign_in(s, who, &TestVault::passphrase(who));
    assert_eq!(r.status, 303, "sign-in of {who}: {}", r.body);
    Client {
        server: s,
        cookie: session_cookie(&r),
    }
}
