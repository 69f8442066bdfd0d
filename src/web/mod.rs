//! `casevault serve`: the web interface (issue 13). Server-rendered HTML over a small
//! `std::net` HTTP server, on the same library calls as the command line (see docs/web.md).
//!
//! - `http`: reading requests and writing responses with the security headers;
//! - `session`: each signed-in member's session on its own thread, sign-in rate limits;
//! - `layout`: the page frame, navigation by role, the per-request [`layout::Ctx`];
//! - `pages`: one module per screen.

pub mod form;
pub mod http;
pub mod layout;
pub mod pages;
pub mod peer;
pub mod session;
pub mod tls;

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::i18n::{text_in, Lang};
use crate::vault::VaultDir;
use http::{Request, Response};
use layout::Ctx;
use session::{Failures, Signed, Worker};

pub use session::{MAX_GLOBAL_FAILURES, MAX_NAME_FAILURES};

/// Connections served at once; more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 256;
/// Connections served at once for one peer address (after the uid check on loopback).
const MAX_PER_PEER: usize = 16;
/// Sessions one member may hold; a further sign-in drops the oldest.
const MAX_SESSIONS_PER_MEMBER: usize = 4;
/// Cookie names.
const SESSION_COOKIE: &str = "cv_session";
const LOGIN_COOKIE: &str = "cv_login";
const LANG_COOKIE: &str = "cv_lang";

const STYLE: &str = include_str!("style.css");

/// `Strict-Transport-Security` on every HTTPS response.
const HSTS: &str = "max-age=31536000";
/// How long a one-time agent sign-in link stays valid, and how many may be outstanding.
pub const AGENT_LINK_TTL: Duration = Duration::from_secs(120);
const MAX_AGENT_LINKS: usize = 8;

/// Set once when serving HTTPS: every cookie then gets `Secure`.
static SECURE_COOKIES: AtomicBool = AtomicBool::new(false);

/// What `casevault serve` was given.
pub struct Config {
    pub vault: VaultDir,
    /// Signed-in sessions unused this long are locked (dropped).
    pub idle: Duration,
    /// The certificate when serving HTTPS (always off loopback; `--tls` on loopback).
    pub tls: Option<tls::Identity>,
    /// `--host NAME`: a name the LAN's browsers use besides the address.
    pub host: Option<String>,
}

/// Parses `--listen`. Any address but an unspecified one (`0.0.0.0`, `::`): the certificate
/// and the `Host` check need the address browsers will use. Off loopback, `serve` always
/// uses TLS (docs/web.md, "TLS").
pub fn check_listen(listen: &str) -> Result<SocketAddr> {
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| Error::Invalid(crate::tr!("web.bad_listen", addr = listen)))?;
    if addr.ip().is_unspecified() || addr.ip().is_multicast() {
        return Err(Error::Invalid(crate::tr!(
            "web.tls_unspecified",
            addr = listen
        )));
    }
    Ok(addr)
}

struct Server {
    vault: VaultDir,
    idle: Duration,
    /// The `Host` values we answer to: exactly the bound `IP:PORT` (not `localhost`, which
    /// a browser may resolve to `::1`, where another account could listen).
    hosts: Vec<String>,
    /// By SHA-256 of the session id: the ids themselves are kept only by browsers.
    sessions: Mutex<HashMap<[u8; 32], Signed>>,
    failures: Mutex<Failures>,
    /// One sign-in at a time: the passphrase KDF is costly on purpose.
    signing_in: Mutex<()>,
    tls: Option<Arc<rustls::ServerConfig>>,
    fingerprint: Option<String>,
    /// Serving on loopback: only then is sign-in through the agent offered.
    loopback: bool,
    /// Outstanding one-time agent sign-in links: SHA-256 of the token, when it was made.
    agent_links: Mutex<Vec<([u8; 32], Instant)>>,
    /// `scheme://host:port` for the links printed on the terminal.
    base: String,
}

/// Serves the web interface on `listener` until the process ends.
pub fn serve(cfg: Config, listener: TcpListener) -> Result<std::convert::Infallible> {
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io(std::path::PathBuf::from("listen"), e))?;
    if !addr.ip().is_loopback() && cfg.tls.is_none() {
        // Plain HTTP never leaves this machine: passphrases would cross the LAN in clear.
        return Err(Error::Invalid(crate::tr!("web.tls_required", addr = addr)));
    }
    let port = addr.port();
    // Only the exact bound address: answering `localhost` would let another local user on
    // [::1]:PORT (which browsers try first) receive what was meant for us.
    let mut hosts = vec![addr.to_string()];
    if let Some(h) = &cfg.host {
        hosts.push(format!("{h}:{port}"));
    }
    if cfg.tls.is_some() && port == 443 {
        // Browsers leave the default port out of `Host`.
        let bare: Vec<String> = hosts
            .iter()
            .filter_map(|h| h.strip_suffix(":443").map(str::to_string))
            .collect();
        hosts.extend(bare);
    }
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    SECURE_COOKIES.store(cfg.tls.is_some(), Ordering::Release);
    let server = Arc::new(Server {
        vault: cfg.vault,
        idle: cfg.idle,
        base: format!("{scheme}://{addr}"),
        hosts,
        sessions: Mutex::new(HashMap::new()),
        failures: Mutex::new(Failures::default()),
        signing_in: Mutex::new(()),
        fingerprint: cfg.tls.as_ref().map(|t| t.fingerprint.clone()),
        tls: cfg.tls.map(|t| t.config),
        loopback: addr.ip().is_loopback(),
        agent_links: Mutex::new(Vec::new()),
    });
    if server.loopback && !server.agent_names().is_empty() {
        server.print_agent_link();
    }
    {
        // Graceful stop: SIGINT or SIGTERM drops every session (each remembers the log head
        // it leaves, as a CLI command does at its end) before the process exits 0.
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
            .map_err(|e| Error::io(std::path::PathBuf::from("signals"), e))?;
        let server = Arc::clone(&server);
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                server.stop();
                crate::errln!("{}", crate::tr!("web.stopped"));
                let _ = crate::cli::out::finish();
                std::process::exit(0);
            }
        });
    }
    {
        // The idle lock: sessions unused for `idle` are dropped even if no request comes.
        let server = Arc::clone(&server);
        let tick = (server.idle / 4).clamp(Duration::from_millis(200), Duration::from_secs(10));
        std::thread::spawn(move || loop {
            std::thread::sleep(tick);
            server.sweep();
        });
    }
    let busy = Arc::new(AtomicUsize::new(0));
    let per_peer: Arc<Mutex<HashMap<std::net::IpAddr, usize>>> = Arc::default();
    loop {
        let Ok((mut stream, peer)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let Some(uid) = admit(&mut stream, peer, addr, &per_peer) else {
            continue;
        };
        while busy.load(Ordering::Acquire) >= MAX_CONNECTIONS {
            std::thread::sleep(Duration::from_millis(5));
        }
        busy.fetch_add(1, Ordering::AcqRel);
        let (server, busy, per_peer) = (
            Arc::clone(&server),
            Arc::clone(&busy),
            Arc::clone(&per_peer),
        );
        std::thread::spawn(move || {
            server.serve_one(stream, uid);
            busy.fetch_sub(1, Ordering::AcqRel);
            release(&per_peer, peer);
        });
    }
}

/// Decides on a new connection before reading anything from it: on loopback only our own
/// uid (docs/web.md, "Who may connect"), then at most [`MAX_PER_PEER`] at once per peer
/// address. A refused connection gets a plain answer and is closed. `Some(uid)`: serve it
/// (`uid` is the loopback peer's, `None` off loopback).
fn admit(
    stream: &mut TcpStream,
    peer: SocketAddr,
    ours: SocketAddr,
    per_peer: &Mutex<HashMap<std::net::IpAddr, usize>>,
) -> Option<Option<u32>> {
    let no = |stream: &mut TcpStream, status: u16, text: &'static str| {
        refuse(stream, status, text);
        None
    };
    let uid = match peer::check(peer, ours) {
        peer::Verdict::Remote => None,
        peer::Verdict::Own(u) => Some(u),
        peer::Verdict::Refused => {
            return no(stream, 403, "only the account that started the server\n")
        }
    };
    {
        let mut map = lock(per_peer);
        let n = map.entry(peer.ip()).or_insert(0);
        if *n >= MAX_PER_PEER {
            drop(map);
            return no(stream, 503, "too many connections\n");
        }
        *n += 1;
    }
    Some(uid)
}

/// Refusals being written at once; beyond that a refused connection is just closed.
static REFUSING: AtomicUsize = AtomicUsize::new(0);

/// Answers `status` with `text` on a thread of its own and closes. What the client sent is
/// discarded unread (for up to 1 s), so closing does not reset the connection before the
/// client has read the answer.
fn refuse(stream: &mut TcpStream, status: u16, text: &'static str) {
    if REFUSING.fetch_add(1, Ordering::AcqRel) >= 64 {
        REFUSING.fetch_sub(1, Ordering::AcqRel);
        return;
    }
    let Ok(mut stream) = stream.try_clone() else {
        REFUSING.fetch_sub(1, Ordering::AcqRel);
        return;
    };
    std::thread::spawn(move || {
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        let _ = http::write(&mut stream, &Response::text(status, text));
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let until = Instant::now() + Duration::from_secs(1);
        let mut sink = [0u8; 4096];
        let mut total = 0;
        while Instant::now() < until && total < http::MAX_BODY {
            match std::io::Read::read(&mut stream, &mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        sink.fill(0);
        REFUSING.fetch_sub(1, Ordering::AcqRel);
    });
}

fn release(per_peer: &Mutex<HashMap<std::net::IpAddr, usize>>, peer: SocketAddr) {
    let mut map = lock(per_peer);
    if let Some(n) = map.get_mut(&peer.ip()) {
        *n -= 1;
        if *n == 0 {
            map.remove(&peer.ip());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// 32 random bytes as hex.
pub(crate) fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let t = b.iter().map(|x| format!("{x:02x}")).collect();
    zeroize::Zeroize::zeroize(&mut b);
    t
}

/// Equality whose time does not depend on where the inputs differ.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn session_key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

fn t(l: Lang, key: &str) -> String {
    text_in(l, key, &[])
}

/// `; Secure` when serving HTTPS (the browser then never sends the cookie over plain HTTP).
fn secure() -> &'static str {
    if SECURE_COOKIES.load(Ordering::Acquire) {
        "; Secure"
    } else {
        ""
    }
}

pub(crate) fn cookie(name: &str, value: &str) -> String {
    format!(
        "{name}={value}; HttpOnly; SameSite=Strict; Path=/{}",
        secure()
    )
}

fn expired_cookie(name: &str) -> String {
    format!(
        "{name}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
        secure()
    )
}

impl Server {
    fn sweep(&self) {
        let idle = self.idle;
        let gone: Vec<Signed> = {
            let mut map = lock(&self.sessions);
            let old: Vec<[u8; 32]> = map
                .iter()
                .filter(|(_, s)| s.last.elapsed() >= idle)
                .map(|(k, _)| *k)
                .collect();
            old.iter().filter_map(|k| map.remove(k)).collect()
        };
        // Dropped outside the lock: each worker thread then ends and wipes its session.
        drop(gone);
    }

    /// One connection: the handshake (with TLS) and the whole request must arrive within
    /// [`http::REQUEST_DEADLINE`] of the accept.
    fn serve_one(&self, stream: TcpStream, peer_uid: Option<u32>) {
        let mut sock = tls::DeadlineSock::new(stream, http::REQUEST_DEADLINE);
        let Some(config) = &self.tls else {
            let resp = self.respond(http::read_request(&mut sock), peer_uid);
            let _ = http::write(&mut sock, &resp);
            return;
        };
        let Ok(conn) = rustls::ServerConnection::new(Arc::clone(config)) else {
            return;
        };
        let mut s = rustls::StreamOwned::new(conn, sock);
        let req = http::read_request(&mut s);
        if s.conn.is_handshaking() {
            // Not TLS (plain HTTP to this port), a failed handshake or a timeout: no content.
            return;
        }
        let resp = self
            .respond(req, peer_uid)
            .with("Strict-Transport-Security", HSTS.into());
        let _ = http::write(&mut s, &resp);
        s.conn.send_close_notify();
        let _ = s.flush();
    }

    fn respond(&self, req: std::io::Result<Request>, peer_uid: Option<u32>) -> Response {
        match req {
            Ok(mut req) => {
                req.peer_uid = peer_uid;
                // Server time from a complete request to the answer, for the page benchmark
                // (`Server-Timing`, shown by browsers' developer tools too).
                let start = Instant::now();
                let r = self.handle(&req);
                let ms = start.elapsed().as_secs_f64() * 1000.0;
                // Not on sign-in: its time would tell a known name from an unknown one.
                if req.path == "/login" {
                    r
                } else {
                    r.with("Server-Timing", format!("app;dur={ms:.2}"))
                }
            }
            Err(_) => Response::text(400, "bad request\n"),
        }
    }

    fn lang(req: &Request) -> (Lang, Option<String>) {
        let pick = |v: &str| match v {
            "en" => Some(Lang::En),
            "zh" => Some(Lang::Zh),
            _ => None,
        };
        if let Some(l) = req.query_param("lang").as_deref().and_then(pick) {
            let code = if l == Lang::En { "en" } else { "zh" };
            return (l, Some(cookie(LANG_COOKIE, code)));
        }
        (
            req.cookie(LANG_COOKIE).and_then(pick).unwrap_or(Lang::Zh),
            None,
        )
    }

    fn handle(&self, req: &Request) -> Response {
        // Host: exactly one, one of ours (DNS rebinding would send another name).
        let host_ok = req.header_count("host") == 1
            && req
                .header("host")
                .is_some_and(|h| self.hosts.iter().any(|o| o == h));
        if !host_ok {
            return Response::text(421, "unknown host\n");
        }
        if req.method == "POST" {
            // A cross-site form or fetch carries another origin. With `Referrer-Policy:
            // no-referrer` browsers send `Origin: null` even for our own forms (Fetch,
            // "serializing a request origin"): then the browser-set `Sec-Fetch-Site` must say
            // same-origin. Neither header can be set by a page.
            let scheme = if self.tls.is_some() { "https" } else { "http" };
            let want = format!("{scheme}://{}", req.header("host").unwrap_or(""));
            let origin = req.header("origin");
            let same = origin == Some(want.as_str())
                || (matches!(origin, None | Some("null"))
                    && req.header("sec-fetch-site") == Some("same-origin"));
            if !same || req.header_count("origin") > 1 {
                return Response::text(403, "cross-origin request refused\n");
            }
        } else if req.method != "GET" {
            return Response::text(405, "method not allowed\n");
        }
        let (lang, set_lang) = Self::lang(req);
        if req.cookie_count(SESSION_COOKIE) > 1 {
            return self.shadowed(req, lang);
        }
        let resp = match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/static/style.css") => Response {
                status: 200,
                content_type: "text/css; charset=utf-8",
                headers: Vec::new(),
                body: STYLE.as_bytes().to_vec(),
            },
            ("GET", "/login") => self.login_page(req, lang, None, None, 200),
            ("POST", "/login") => self.login(req, lang),
            ("POST", "/logout") => self.logout(req),
            (_, "/login" | "/logout") => Response::text(405, "method not allowed\n"),
            (m, p) if p == "/login/agent" || p.starts_with("/login/agent/") => {
                self.agent_login(req, lang, m, &p["/login/agent".len()..])
            }
            _ => self.signed_page(req, lang),
        };
        match set_lang {
            Some(c) => resp.with("Set-Cookie", c),
            None => resp,
        }
    }

    /// Every other path: only for a signed-in member, answered by the screen that owns it.
    fn signed_page(&self, req: &Request, lang: Lang) -> Response {
        let Some(ctx) = self.signed(req, lang) else {
            return Response::redirect("/login");
        };
        if req.method == "POST" {
            if let Err(r) = ctx.check_csrf() {
                return r;
            }
        }
        let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
        if segs.is_empty() {
            return Response::redirect(layout::home(&ctx.me));
        }
        match pages::dispatch(&ctx, &req.method, &segs) {
            Some(Ok(r)) | Some(Err(r)) => r,
            None => Response::text(404, "not found\n"),
        }
    }

    /// The signed-in session of this request (touching its idle clock).
    fn signed<'a>(&self, req: &'a Request, lang: Lang) -> Option<Ctx<'a>> {
        let id = req.cookie(SESSION_COOKIE)?;
        let mut map = lock(&self.sessions);
        let key = session_key(id);
        let s = map.get_mut(&key)?;
        // Defence in depth: a session answers only the uid that signed in.
        if s.uid != req.peer_uid {
            return None;
        }
        if s.last.elapsed() >= self.idle {
            drop(map.remove(&key));
            return None;
        }
        s.last = Instant::now();
        Some(Ctx {
            req,
            lang,
            csrf: s.csrf.clone(),
            me: Arc::clone(&s.me),
            tx: s.worker.tx.clone(),
            refresh: self.idle.as_secs() + 5,
            submitted: Arc::clone(&s.submitted),
        })
    }

    fn login(&self, req: &Request, lang: Lang) -> Response {
        let form_token = req.form("csrf");
        let ok = match (req.cookie(LOGIN_COOKIE), form_token.as_deref()) {
            (Some(c), Some(f)) => is_token(c) && is_token(f) && ct_eq(c.as_bytes(), f.as_bytes()),
            _ => false,
        };
        if !ok {
            return Response::text(403, "csrf token refused\n");
        }
        let again =
            |error: &str, status: u16| self.login_page(req, lang, Some(error), None, status);
        let name = req
            .form("name")
            .map(|n| n.trim().to_string())
            .unwrap_or_default();
        let pass = req.form("passphrase");
        let Some(pass) = pass.filter(|p| !p.is_empty() && !name.is_empty()) else {
            return again(&t(lang, "web.signin_failed"), 401);
        };
        if !crate::vault::valid_staff_name(&name) {
            return again(&t(lang, "web.signin_failed"), 401);
        }
        let opened = {
            let _one = lock(&self.signing_in);
            let verdict = lock(&self.failures).may_try(&name);
            match verdict {
                session::Verdict::Refused => return again(&t(lang, "web.too_many"), 429),
                // Many names failing (a guess over names): slow down, one at a time, rather
                // than lock everyone out.
                session::Verdict::Slow => std::thread::sleep(session::GLOBAL_DELAY),
                session::Verdict::Go => {}
            }
            let pass = SecretString::from(pass.as_str().to_string());
            let r = Worker::open(self.vault.clone(), name.clone(), pass, lang);
            // Only authentication failures count: not an I/O error such as "too many files".
            if matches!(&r, Err(e) if e.exit_code() == crate::error::exit::AUTH) {
                lock(&self.failures).failed(&name);
            }
            r
        };
        match opened {
            Ok((worker, me)) => self.signed_in(worker, me, req.peer_uid),
            Err(e) if e.exit_code() == crate::error::exit::AUTH => {
                again(&t(lang, "web.signin_failed"), 401)
            }
            Err(e) => again(&crate::i18n::with_lang(lang, || e.to_string()), 403),
        }
    }

    fn logout(&self, req: &Request) -> Response {
        let Some(id) = req.cookie(SESSION_COOKIE) else {
            return Response::redirect("/login");
        };
        let key = session_key(id);
        let gone = {
            let mut map = lock(&self.sessions);
            if !map.contains_key(&key) {
                // Already locked (idle) or signed out elsewhere: nothing to protect, so
                // clear the cookie and show the sign-in page rather than a refusal.
                return Response::redirect("/login")
                    .with("Set-Cookie", expired_cookie(SESSION_COOKIE));
            }
            let ok = match (map.get(&key), req.form("csrf")) {
                (Some(s), Some(f)) => ct_eq(s.csrf.as_bytes(), f.as_bytes()),
                _ => false,
            };
            if !ok {
                return Response::text(403, "csrf token refused\n");
            }
            map.remove(&key)
        };
        drop(gone);
        Response::redirect("/login").with("Set-Cookie", expired_cookie(SESSION_COOKIE))
    }
}

/// The 64-hex shape of our tokens (an empty or short token is never compared).
fn is_token(t: &str) -> bool {
    t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// When `name` already holds `max` sessions, the key of the oldest (to drop for a new one).
fn oldest_if_full(map: &HashMap<[u8; 32], Signed>, name: &str, max: usize) -> Option<[u8; 32]> {
    let mine: Vec<(&[u8; 32], &Signed)> = map.iter().filter(|(_, s)| s.me.name == name).collect();
    if mine.len() < max {
        return None;
    }
    mine.into_iter()
        .min_by_key(|(_, s)| s.born)
        .map(|(k, _)| *k)
}

impl Server {
    /// A request carrying two `cv_session` cookies (one pushed by another site on this host
    /// to shadow ours): refused with the sign-in page and its explanation.
    fn shadowed(&self, req: &Request, lang: Lang) -> Response {
        self.login_page(
            req,
            lang,
            Some(&t(lang, "web.two_session_cookies")),
            None,
            400,
        )
        .with("Set-Cookie", expired_cookie(SESSION_COOKIE))
    }

    /// A new signed-in session: its random id in the cookie, the table keyed by its hash.
    /// A member holds at most [`MAX_SESSIONS_PER_MEMBER`]: a new one drops the oldest.
    fn signed_in(&self, worker: Worker, me: session::Me, uid: Option<u32>) -> Response {
        let id = random_token();
        let home = layout::home(&me);
        let s = Signed {
            csrf: random_token(),
            last: Instant::now(),
            born: Instant::now(),
            uid,
            worker,
            me: Arc::new(me),
            submitted: Arc::default(),
        };
        let dropped = {
            let mut map = lock(&self.sessions);
            let oldest = oldest_if_full(&map, &s.me.name, MAX_SESSIONS_PER_MEMBER);
            map.insert(session_key(&id), s);
            oldest.and_then(|k| map.remove(&k))
        };
        // Outside the lock: the worker thread ends and wipes that session.
        drop(dropped);
        Response::redirect(home)
            .with("Set-Cookie", cookie(SESSION_COOKIE, &id))
            .with("Set-Cookie", expired_cookie(LOGIN_COOKIE))
    }

    /// The sign-in page with the fingerprint (HTTPS) and the agent's offer (loopback).
    fn login_page(
        &self,
        req: &Request,
        lang: Lang,
        error: Option<&str>,
        notice: Option<String>,
        status: u16,
    ) -> Response {
        let (token, set) = pages::login::token(req);
        let extras = pages::login::Extras {
            fingerprint: self.fingerprint.as_deref(),
            agent_names: if self.loopback {
                self.agent_names()
            } else {
                Vec::new()
            },
            notice,
        };
        let r = pages::login::page(lang, &token, error, status, &extras);
        match set {
            Some(c) => r.with("Set-Cookie", c),
            None => r,
        }
    }

    /// The names the agent of this process's uid holds for this vault (none if no agent, or
    /// `CASEVAULT_AGENT=0`). Names only: the identities stay in the agent until used.
    fn agent_names(&self) -> Vec<String> {
        if !crate::agent::enabled(false) {
            return Vec::new();
        }
        let Ok(canon) = std::fs::canonicalize(&self.vault.root) else {
            return Vec::new();
        };
        let canon = canon.to_string_lossy();
        let req = crate::agent::Request {
            op: "status".into(),
            ..Default::default()
        };
        match crate::agent::call(&req) {
            Ok(r) => r
                .status
                .map(|st| st.unlocked)
                .unwrap_or_default()
                .into_iter()
                .filter(|h| h.vault == canon && crate::vault::valid_staff_name(&h.member))
                .map(|h| h.member)
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Prints a new one-time sign-in link on the terminal of whoever started `serve`: only
    /// that user sees it, so only that user's browser can ride the agent (any local user can
    /// reach a loopback port). Valid once, for [`AGENT_LINK_TTL`].
    fn print_agent_link(&self) {
        let token = random_token();
        {
            let mut links = lock(&self.agent_links);
            links.retain(|(_, at)| at.elapsed() < AGENT_LINK_TTL);
            if links.len() >= MAX_AGENT_LINKS {
                links.remove(0);
            }
            links.push((session_key(&token), Instant::now()));
        }
        crate::outln!(
            "{}",
            crate::tr!(
                "web.agent_link_printed",
                url = format!("{}/login/agent/{token}", self.base)
            )
        );
        let _ = crate::cli::out::finish();
    }

    /// Whether `token` is an outstanding link; `take` consumes it (single use).
    fn agent_link_valid(&self, token: &str, take: bool) -> bool {
        let key = session_key(token);
        let mut links = lock(&self.agent_links);
        links.retain(|(_, at)| at.elapsed() < AGENT_LINK_TTL);
        let Some(i) = links.iter().position(|(k, _)| ct_eq(k, &key)) else {
            return false;
        };
        if take {
            links.remove(i);
        }
        true
    }

    /// `/login/agent` (POST: print a new link), `/login/agent/<token>` (GET: the names the
    /// agent holds; POST with `name`: sign in). Loopback only.
    fn agent_login(&self, req: &Request, lang: Lang, method: &str, rest: &str) -> Response {
        if !self.loopback {
            return pages::login::refused(lang, &t(lang, "web.agent_lan_refused"), 403);
        }
        let form_ok = || match (req.cookie(LOGIN_COOKIE), req.form("csrf").as_deref()) {
            (Some(c), Some(f)) => ct_eq(c.as_bytes(), f.as_bytes()),
            _ => false,
        };
        let link = rest.strip_prefix('/').unwrap_or("");
        match (method, link) {
            ("POST", "") => {
                if !form_ok() {
                    return Response::text(403, "csrf token refused\n");
                }
                self.print_agent_link();
                self.login_page(req, lang, None, Some(t(lang, "web.agent_link_sent")), 200)
            }
            ("GET", l) if !l.is_empty() => {
                if !self.agent_link_valid(l, false) {
                    return pages::login::refused(lang, &t(lang, "web.agent_link_bad"), 403);
                }
                let (token, set) = pages::login::token(req);
                let r = pages::login::agent_page(lang, &token, l, &self.agent_names());
                match set {
                    Some(c) => r.with("Set-Cookie", c),
                    None => r,
                }
            }
            ("POST", l) if !l.is_empty() => {
                if !form_ok() {
                    return Response::text(403, "csrf token refused\n");
                }
                if !self.agent_link_valid(l, true) {
                    return pages::login::refused(lang, &t(lang, "web.agent_link_bad"), 403);
                }
                let name = req
                    .form("name")
                    .map(|n| n.trim().to_string())
                    .unwrap_or_default();
                if !crate::vault::valid_staff_name(&name) {
                    return pages::login::refused(lang, &t(lang, "web.agent_none"), 403);
                }
                let vault = self.vault.clone();
                let opened = {
                    let _one = lock(&self.signing_in);
                    Worker::open_with(lang, move || {
                        let me = crate::agent::fetch(&vault.root, &vault.identity(&name), &name)
                            .ok_or_else(|| Error::Invalid(crate::tr!("web.agent_none")))?;
                        crate::vault::Session::with_identity(&vault, me)
                    })
                };
                match opened {
                    Ok((worker, me)) => self.signed_in(worker, me, req.peer_uid),
                    Err(e) => {
                        let m = crate::i18n::with_lang(lang, || e.to_string());
                        pages::login::refused(lang, &m, 403)
                    }
                }
            }
            _ => Response::text(405, "method not allowed\n"),
        }
    }

    /// Graceful stop: every session leaves the table, each worker thread ends and drops its
    /// session (remembering the log head, wiping its keys); waits for them, at most 4 s.
    fn stop(&self) {
        // No sign-in completes from now on (the process exits holding this).
        let _one = lock(&self.signing_in);
        let all: Vec<Signed> = lock(&self.sessions).drain().map(|(_, s)| s).collect();
        let until = Instant::now() + Duration::from_secs(4);
        let done: Vec<_> = all
            .into_iter()
            .map(|s| {
                let Signed { worker, .. } = s;
                let Worker { tx, done } = worker;
                drop(tx);
                done
            })
            .collect();
        for d in done {
            let _ = d.recv_timeout(until.saturating_duration_since(Instant::now()));
        }
        // Stop was asked for while holding the sign-in lock; it is released at exit.
        std::mem::forget(_one);
    }
}
