//! `casevault serve` over HTTPS (issue 13, item 1): the self-signed certificate kept in the
//! vault and its fingerprint, `Secure` cookies, the `https` Origin, HSTS, no answer to plain
//! HTTP on the TLS port; sign-in through the agent by a one-time link; graceful stop.

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "common/web.rs"]
mod web;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::{cmd, run, TestVault};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use web::{csrf_of, enc, Resp};

/// `serve` with its stdout lines arriving on a channel (the agent link comes later).
struct Serve {
    server: web::Server,
    lines: mpsc::Receiver<String>,
    /// `https://…` or `http://…`, without the trailing slash.
    base: String,
    fingerprint: Option<String>,
}

impl Serve {
    fn start(v: &TestVault, args: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut c = cmd(&v.dir);
        c.envs(env.iter().copied());
        c.arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child: Child = c.spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("address line");
        let i = first.find("http").expect("address printed");
        let base = first[i..].split_whitespace().next().unwrap();
        let base = base.trim_end_matches('/').to_string();
        let addr = base.split("://").nth(1).unwrap().to_string();
        let mut fingerprint = None;
        if base.starts_with("https://") {
            loop {
                let l = lines.recv_timeout(Duration::from_secs(20)).unwrap();
                if let Some(f) = l.strip_prefix("Certificate SHA-256 fingerprint: ") {
                    fingerprint = Some(f.to_string());
                    break;
                }
            }
        }
        Serve {
            server: web::Server { child, addr },
            lines,
            base,
            fingerprint,
        }
    }

    /// The next one-time agent link printed on the terminal.
    fn agent_link(&self) -> String {
        loop {
            let l = self.lines.recv_timeout(Duration::from_secs(20)).unwrap();
            if let Some(i) = l.find("/login/agent/") {
                return l[i..].trim().to_string();
            }
        }
    }
}

/// Accepts exactly the certificate whose SHA-256 is the pinned fingerprint.
#[derive(Debug)]
struct Pin(String);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn fingerprint_of(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl ServerCertVerifier for Pin {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if fingerprint_of(end_entity) == self.0 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("fingerprint differs".into()))
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            m,
            c,
            d,
            &provider().signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &provider().signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// One HTTPS request to `s`, the certificate pinned to `pin`. `headers` replace the defaults
/// (Host, and Origin `https://host` for a POST).
fn treq(
    s: &Serve,
    pin: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Resp, std::io::Error> {
    let addr = &s.server.addr;
    let mut all: Vec<(String, String)> = vec![("Host".into(), addr.clone())];
    if method == "POST" {
        all.push(("Origin".into(), format!("https://{addr}")));
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
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pin(pin.to_string())))
        .with_no_client_auth();
    let ip = addr.rsplit_once(':').unwrap().0.to_string();
    let name = ServerName::try_from(ip).unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut t = rustls::StreamOwned::new(conn, tcp);
    t.write_all(text.as_bytes())?;
    t.flush()?;
    let mut raw = Vec::new();
    match t.read_to_end(&mut raw) {
        Ok(_) => {}
        // The server closes the TCP connection right after its close_notify.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
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
    Ok(Resp {
        status,
        headers,
        body: body.to_string(),
    })
}

/// Signs `who` in over HTTPS; the response.
fn tsign_in(s: &Serve, pin: &str, who: &str) -> Resp {
    let page = treq(s, pin, "GET", "/login", &[], "").unwrap();
    let login = page.cookie("cv_login").unwrap();
    let body = format!(
        "csrf={}&name={}&passphrase={}",
        csrf_of(&page.body),
        enc(who),
        enc(&TestVault::passphrase(who))
    );
    treq(
        s,
        pin,
        "POST",
        "/login",
        &[("Cookie", &format!("cv_login={login}"))],
        &body,
    )
    .unwrap()
}

/// Plain HTTP to `addr`: whatever bytes come back before the server closes.
fn plain_http(addr: &str) -> Vec<u8> {
    let mut t = TcpStream::connect(addr).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let _ = t.write_all(
        format!("GET /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let mut raw = Vec::new();
    let _ = t.read_to_end(&mut raw);
    raw
}

fn assert_no_page(raw: &[u8]) {
    let text = String::from_utf8_lossy(raw);
    assert!(
        !text.contains("HTTP/1.1"),
        "plain HTTP was answered: {text}"
    );
    assert!(!text.contains("<html"), "plain HTTP got a page: {text}");
}

fn cert_file(v: &TestVault) -> PathBuf {
    v.dir.join("web-tls.pem")
}

fn fingerprint_cmd(v: &TestVault, args: &[&str]) -> String {
    let mut c = cmd(&v.dir);
    c.args(["serve", "--fingerprint"]).args(args);
    run(c).ok().stdout.trim().to_string()
}

#[test]
fn https_on_loopback_with_a_pinned_fingerprint() {
    let v = TestVault::new();
    let s = Serve::start(&v, &["--listen", "127.0.0.1:0", "--tls"], &[]);
    assert!(s.base.starts_with("https://127.0.0.1:"), "{}", s.base);
    let fp = s.fingerprint.clone().expect("fingerprint printed");
    assert_eq!(fp.len(), 95, "{fp}");
    assert!(fp.split(':').all(|p| p.len() == 2
        && p.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase())));

    // The key file: 0600, certificate and key together, made once.
    let mode = std::fs::metadata(cert_file(&v))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let pem = std::fs::read_to_string(cert_file(&v)).unwrap();
    assert!(pem.contains("BEGIN CERTIFICATE") && pem.contains("BEGIN PRIVATE KEY"));

    // The sign-in page over HTTPS: HSTS, the fingerprint and the sentence to compare it.
    let page = treq(&s, &fp, "GET", "/login", &[], "").unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    web::assert_security_headers(&page);
    assert!(page.body.contains(&fp), "{}", page.body);
    assert!(page.body.contains("核对"), "{}", page.body);
    let login_cookie = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("cv_login="))
        .unwrap()
        .to_string();
    assert!(login_cookie.contains("; Secure"), "{login_cookie}");

    // Another certificate is refused by the pinned client (the pin is real).
    let wrong = "00:".repeat(31) + "00";
    assert!(treq(&s, &wrong, "GET", "/login", &[], "").is_err());

    // Sign-in: the session cookie is Secure.
    let ok = tsign_in(&s, &fp, "wang");
    assert_eq!(ok.status, 303, "{}", ok.body);
    let set = ok
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("cv_session="))
        .unwrap()
        .to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(set.contains(flag), "{set}");
    }
    let cookie = web::session_cookie(&ok);
    let cases = treq(&s, &fp, "GET", "/cases", &[("Cookie", &cookie)], "").unwrap();
    assert_eq!(cases.status, 200);
    assert!(cases.body.contains("我的个案"));

    // The Origin must be https://host: the http:// one is another origin.
    let csrf = csrf_of(&cases.body);
    let http_origin = format!("http://{}", s.server.addr);
    let r = treq(
        &s,
        &fp,
        "POST",
        "/logout",
        &[("Cookie", &cookie), ("Origin", &http_origin)],
        &format!("csrf={csrf}"),
    )
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    let r = treq(
        &s,
        &fp,
        "POST",
        "/logout",
        &[("Cookie", &cookie)],
        &format!("csrf={csrf}"),
    )
    .unwrap();
    assert_eq!(r.status, 303, "{}", r.body);
    let gone = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("cv_session="))
        .unwrap()
        .to_string();
    assert!(
        gone.contains("Max-Age=0") && gone.contains("Secure"),
        "{gone}"
    );

    // Plain HTTP to the TLS port: no page, no HTTP answer at all.
    assert_no_page(&plain_http(&s.server.addr));
    // The server is still fine afterwards.
    assert_eq!(treq(&s, &fp, "GET", "/login", &[], "").unwrap().status, 200);

    // A slow client that never finishes its handshake does not hold the connection for ever.
    let start = Instant::now();
    let mut slow = TcpStream::connect(&s.server.addr).unwrap();
    slow.write_all(&[0x16, 0x03, 0x01]).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(25)))
        .unwrap();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "held {:?}",
        start.elapsed()
    );
    assert_no_page(&buf);

    // Restart: the same certificate, the same fingerprint; `--fingerprint` prints it too.
    let addr = s.server.addr.clone();
    drop(s);
    assert_eq!(fingerprint_cmd(&v, &["--listen", "127.0.0.1:0"]), fp);
    // `--fingerprint` never replaces the certificate, even asked with other names.
    let other = ["--listen", "127.0.0.1:0", "--host", "other.local"];
    assert_eq!(fingerprint_cmd(&v, &other), fp);
    assert_eq!(std::fs::read_to_string(cert_file(&v)).unwrap(), pem);
    let s2 = Serve::start(&v, &["--listen", &addr, "--tls"], &[]);
    assert_eq!(s2.fingerprint.as_deref(), Some(fp.as_str()));
    assert_eq!(
        treq(&s2, &fp, "GET", "/login", &[], "").unwrap().status,
        200
    );
}

/// This machine's address on its default route, if it has one (no packet is sent).
fn lan_ip() -> Option<std::net::IpAddr> {
    let u = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    u.connect("10.255.255.1:9").ok()?;
    let ip = u.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn off_loopback_only_https_and_no_agent() {
    let v = TestVault::new();
    // An unspecified address is refused: the certificate needs the address browsers use.
    let mut c = cmd(&v.dir);
    c.args(["serve", "--listen", "0.0.0.0:0"]);
    let r = run(c);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("LAN address"), "{}", r.stderr);
    // A bad host name is refused.
    let mut c = cmd(&v.dir);
    c.args(["serve", "--listen", "127.0.0.1:0", "--host", "not a host"]);
    assert_ne!(run(c).code, 0);

    let Some(ip) = lan_ip() else {
        eprintln!("skipped the LAN part: no non-loopback address");
        return;
    };
    let listen = format!("{ip}:0");
    let s = Serve::start(&v, &["--listen", &listen, "--host", "station-1.local"], &[]);
    assert!(
        s.base.starts_with("https://"),
        "a LAN address is HTTPS only: {}",
        s.base
    );
    let fp = s.fingerprint.clone().unwrap();
    assert_no_page(&plain_http(&s.server.addr));
    let page = treq(&s, &fp, "GET", "/login", &[], "").unwrap();
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&fp));
    assert!(
        !page.body.contains("/login/agent"),
        "no agent offer on a LAN"
    );
    // The host name is one of ours; the sign-in through the agent is refused with a reason.
    let port = s.server.addr.rsplit_once(':').unwrap().1;
    let host = format!("station-1.local:{port}");
    let r = treq(&s, &fp, "GET", "/login", &[("Host", &host)], "").unwrap();
    assert_eq!(r.status, 200);
    let r = treq(
        &s,
        &fp,
        "GET",
        &format!("/login/agent/{}", "a".repeat(64)),
        &[],
        "",
    )
    .unwrap();
    assert_eq!(r.status, 403);
    assert!(r.body.contains("局域网"), "{}", r.body);
    // The certificate names the address and the host.
    let pem = std::fs::read_to_string(cert_file(&v)).unwrap();
    assert!(
        pem.contains(&format!("# names: {ip} station-1.local")),
        "{pem}"
    );
}

/// A runtime folder for the agent (`XDG_RUNTIME_DIR`), private to the test.
fn runtime(v: &TestVault) -> PathBuf {
    let d = v.tmp.path().join("run");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn agent_with(v: &TestVault, rt: &Path, who: &str) -> Agent {
    let mut c = cmd(&v.dir);
    c.env("XDG_RUNTIME_DIR", rt)
        .args(["agent", "start", "--foreground"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let a = Agent(c.spawn().unwrap());
    let socket = rt.join("casevault").join("agent.sock");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the agent never made its socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pass = v.tmp.path().join(format!("{who}.pass"));
    std::fs::write(&pass, TestVault::passphrase(who)).unwrap();
    let mut c = cmd(&v.dir);
    c.env("XDG_RUNTIME_DIR", rt)
        .args(["--as", who, "--passphrase-file"])
        .arg(&pass)
        .args(["agent", "unlock"]);
    run(c).ok();
    a
}

/// POST to the sign-in side with the double-submit token of `/login`.
fn login_post(s: &web::Server, path: &str, fields: &str) -> Resp {
    let page = web::req(s, "GET", "/login", &[], "");
    let login = page.cookie("cv_login").unwrap();
    let body = format!("csrf={}{fields}", csrf_of(&page.body));
    web::req(
        s,
        "POST",
        path,
        &[("Cookie", &format!("cv_login={login}"))],
        &body,
    )
}

#[test]
fn agent_sign_in_needs_the_one_time_link_and_works_once() {
    let v = TestVault::new();
    let rt = runtime(&v);
    let _agent = agent_with(&v, &rt, "wang");
    let rt_s = rt.to_str().unwrap();
    let s = Serve::start(
        &v,
        &["--listen", "127.0.0.1:0"],
        &[("XDG_RUNTIME_DIR", rt_s)],
    );
    // The agent holds wang: serve printed a link at start, and the page offers the agent.
    let first = s.agent_link();
    let page = web::req(&s.server, "GET", "/login", &[], "");
    assert!(page.body.contains("使用已解锁的身份登录"), "{}", page.body);
    assert!(page.body.contains("wang"));

    // Without the link (a made-up token), no sign-in.
    let fake = format!("/login/agent/{}", "0".repeat(64));
    let r = login_post(&s.server, &fake, "&name=wang");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.cookie("cv_session").is_none());
    assert_eq!(web::req(&s.server, "GET", &fake, &[], "").status, 403);
    // Nor without the sign-in CSRF token.
    let r = web::req(&s.server, "POST", &first, &[], "name=wang");
    assert_eq!(r.status, 403);

    // Asking for a link prints a new one on the terminal (only its owner sees it).
    let r = login_post(&s.server, "/login/agent", "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("终端"), "{}", r.body);
    let link = s.agent_link();
    assert_ne!(link, first);

    // The link's page offers wang; signing in needs no passphrase.
    let p = web::req(&s.server, "GET", &link, &[], "");
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("使用已解锁的身份登录"));
    let ok = login_post(&s.server, &link, "&name=wang");
    assert_eq!(ok.status, 303, "{}", ok.body);
    let cookie = web::session_cookie(&ok);
    let cases = web::req(&s.server, "GET", "/cases", &[("Cookie", &cookie)], "");
    assert_eq!(cases.status, 200);
    assert!(cases.body.contains("我的个案"));

    // Once only.
    let again = login_post(&s.server, &link, "&name=wang");
    assert_eq!(again.status, 403, "{}", again.body);
    assert!(again.cookie("cv_session").is_none());
    assert_eq!(web::req(&s.server, "GET", &link, &[], "").status, 403);

    // The first link still works once, but only for a name the agent holds.
    let r = login_post(&s.server, &first, "&name=chen");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.cookie("cv_session").is_none());
}

fn vault_id(v: &TestVault) -> String {
    let raw: Vec<u8> = v
        .insider_db("li")
        .query_row("SELECT value FROM meta WHERE key = 'vault_id'", [], |r| {
            r.get(0)
        })
        .unwrap();
    String::from_utf8(raw).unwrap()
}

fn log_size(v: &TestVault) -> u64 {
    v.insider_db("li")
        .query_row("SELECT count(*) FROM log_entries", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap() as u64
}

fn remembered_size(v: &TestVault, who: &str) -> u64 {
    let f = common::state_dir(&v.dir)
        .join(vault_id(v))
        .join(format!("{who}.json"));
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
    j["size"].as_u64().unwrap()
}

#[test]
fn sigterm_drops_every_session_and_exits_zero() {
    let v = TestVault::new();
    let mut s = Serve::start(&v, &["--listen", "127.0.0.1:0", "--tls"], &[]);
    let fp = s.fingerprint.clone().unwrap();
    assert_eq!(tsign_in(&s, &fp, "chen").status, 303);
    // Others append while chen is signed in: chen's remembered head falls behind.
    v.client_with_case("C-100", "Zhang");
    let size = log_size(&v);
    assert!(remembered_size(&v, "chen") < size);

    let pid = rustix::process::Pid::from_raw(s.server.child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(st) = s.server.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "serve did not stop within 5 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    // chen's session was dropped properly: it remembered the head it left.
    assert_eq!(remembered_size(&v, "chen"), size);
}

#[test]
fn chromium_signs_in_over_https() {
    let v = TestVault::new();
    v.client_with_case("C-001", "李雷");
    let s = Serve::start(&v, &["--listen", "127.0.0.1:0", "--tls"], &[]);
    let fp = s.fingerprint.clone().unwrap();
    let Some(b) = browser::Browser::start_with(&v.tmp.path().join("chromium-profile"), true) else {
        return;
    };
    b.goto(&format!("{}/login", s.base));
    b.wait_title("登录");
    assert_eq!(b.text("#fingerprint"), fp);
    b.screenshots("login-tls");
    b.sign_in(&s.base, "wang", &TestVault::passphrase("wang"), "我的个案");
    assert!(b.body_text().contains("C-001"));
    // The session cookie is HttpOnly (not visible to script) on HTTPS too.
    let cookies = b.script("return document.cookie;");
    assert!(!cookies.as_str().unwrap_or("").contains("cv_session"));
}
