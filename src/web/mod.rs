//! `casevault serve`: the web interface (issue 13). Server-rendered HTML over a small
//! `std::net` HTTP server, on the same library calls as the command line (see docs/web.md).
//!
//! A signed-in member's [`Session`] lives on a thread of its own (a `Session` is not `Send`:
//! it caches case keys in `Rc`s); requests hand it jobs through a channel. Signing out or
//! the idle lock drops the channel, the thread ends and the session (identity, database key,
//! case keys) is dropped and wiped. The browser holds only a random session id.

pub mod html;
pub mod http;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::i18n::{text_in, Lang};
use crate::policy::Action;
use crate::vault::{Session, VaultDir};
use html::Html;
use http::{Request, Response};

/// Connections served at once; more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 64;
/// Failed sign-ins per name within [`FAIL_WINDOW`] before that name is refused for the window.
pub const MAX_NAME_FAILURES: u32 = 5;
/// Failed sign-ins for all names together within [`FAIL_WINDOW`] (a guess over many names).
pub const MAX_GLOBAL_FAILURES: u32 = 50;
const FAIL_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Cookie names.
const SESSION_COOKIE: &str = "cv_session";
const LOGIN_COOKIE: &str = "cv_login";
const LANG_COOKIE: &str = "cv_lang";

const STYLE: &str = include_str!("style.css");

/// What `casevault serve` was given.
pub struct Config {
    pub vault: VaultDir,
    /// Signed-in sessions unused this long are locked (dropped).
    pub idle: Duration,
}

/// Refuses an address other than loopback: plain HTTP leaves this machine only once TLS is
/// in place (docs/web.md, "TLS").
pub fn check_listen(listen: &str) -> Result<SocketAddr> {
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| Error::Invalid(crate::tr!("web.bad_listen", addr = listen)))?;
    if !addr.ip().is_loopback() {
        return Err(Error::Invalid(crate::tr!(
            "web.not_loopback",
            addr = listen
        )));
    }
    Ok(addr)
}

type Job = Box<dyn FnOnce(&mut Session) + Send>;

/// The thread holding one member's open session.
struct Worker {
    tx: mpsc::Sender<Job>,
}

impl Worker {
    /// Opens `name`'s session on a new thread; the error of a failed open comes back.
    fn open(vault: VaultDir, name: String, pass: SecretString) -> Result<Worker> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        std::thread::spawn(move || {
            let mut s = match Session::open(&vault, &name, &pass) {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            drop(pass);
            let _ = ready_tx.send(Ok(()));
            while let Ok(job) = rx.recv() {
                job(&mut s);
            }
            // Every sender is gone (signed out or locked): `s` drops here, wiping its keys.
        });
        ready_rx
            .recv()
            .map_err(|_| Error::Invalid(crate::tr!("web.internal")))??;
        Ok(Worker { tx })
    }
}

/// Runs `f` on the session's thread and waits for its answer (`None`: the session is gone).
fn call<T: Send + 'static>(
    tx: &mpsc::Sender<Job>,
    f: impl FnOnce(&mut Session) -> T + Send + 'static,
) -> Option<T> {
    let (rtx, rrx) = mpsc::channel();
    tx.send(Box::new(move |s: &mut Session| {
        let _ = rtx.send(f(s));
    }))
    .ok()?;
    rrx.recv().ok()
}

/// One signed-in browser.
struct Signed {
    csrf: String,
    last: Instant,
    worker: Worker,
}

#[derive(Default)]
struct Failures {
    by_name: HashMap<String, (u32, Instant)>,
    global: Vec<Instant>,
}

struct Server {
    vault: VaultDir,
    idle: Duration,
    /// The `Host` values we answer to (`127.0.0.1:PORT`, `localhost:PORT`, …).
    hosts: Vec<String>,
    /// By SHA-256 of the session id: the ids themselves are kept only by browsers.
    sessions: Mutex<HashMap<[u8; 32], Signed>>,
    failures: Mutex<Failures>,
    /// One sign-in at a time: the passphrase KDF is costly on purpose.
    signing_in: Mutex<()>,
}

/// Serves the web interface on `listener` until the process ends.
pub fn serve(cfg: Config, listener: TcpListener) -> Result<std::convert::Infallible> {
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io(std::path::PathBuf::from("listen"), e))?;
    let port = addr.port();
    let mut hosts = vec![addr.to_string()];
    if addr.ip().is_loopback() {
        hosts.push(format!("localhost:{port}"));
    }
    let server = Arc::new(Server {
        vault: cfg.vault,
        idle: cfg.idle,
        hosts,
        sessions: Mutex::new(HashMap::new()),
        failures: Mutex::new(Failures::default()),
        signing_in: Mutex::new(()),
    });
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
    loop {
        let Ok((stream, _)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        while busy.load(Ordering::Acquire) >= MAX_CONNECTIONS {
            std::thread::sleep(Duration::from_millis(5));
        }
        busy.fetch_add(1, Ordering::AcqRel);
        let (server, busy) = (Arc::clone(&server), Arc::clone(&busy));
        std::thread::spawn(move || {
            server.serve_one(stream);
            busy.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// 32 random bytes as hex.
fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let t = b.iter().map(|x| format!("{x:02x}")).collect();
    zeroize::Zeroize::zeroize(&mut b);
    t
}

/// Equality whose time does not depend on where the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
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

fn cookie(name: &str, value: &str) -> String {
    format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/")
}

fn expired_cookie(name: &str) -> String {
    format!("{name}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
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

    fn serve_one(&self, mut stream: TcpStream) {
        let _ = stream.set_write_timeout(Some(http::REQUEST_DEADLINE));
        let resp = match http::read_request(&stream) {
            Ok(req) => self.handle(&req),
            Err(_) => Response::text(400, "bad request\n"),
        };
        let _ = http::write(&mut stream, &resp);
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
            let want = format!("http://{}", req.header("host").unwrap_or(""));
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
        let resp = match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/static/style.css") => Response {
                status: 200,
                content_type: "text/css; charset=utf-8",
                headers: Vec::new(),
                body: STYLE.as_bytes().to_vec(),
            },
            ("GET", "/") => match self.signed(req) {
                Some(_) => Response::redirect("/cases"),
                None => Response::redirect("/login"),
            },
            ("GET", "/login") => self.login_page(req, lang, None, 200),
            ("POST", "/login") => self.login(req, lang),
            ("GET", "/cases") => self.cases(req, lang),
            ("POST", "/logout") => self.logout(req),
            (_, "/login" | "/logout" | "/cases" | "/") => {
                Response::text(405, "method not allowed\n")
            }
            _ => Response::text(404, "not found\n"),
        };
        match set_lang {
            Some(c) => resp.with("Set-Cookie", c),
            None => resp,
        }
    }

    /// The signed-in session of this request (touching its idle clock), with its CSRF token
    /// and a handle to its thread.
    fn signed(&self, req: &Request) -> Option<(String, mpsc::Sender<Job>)> {
        let id = req.cookie(SESSION_COOKIE)?;
        let mut map = lock(&self.sessions);
        let key = session_key(id);
        let s = map.get_mut(&key)?;
        if s.last.elapsed() >= self.idle {
            drop(map.remove(&key));
            return None;
        }
        s.last = Instant::now();
        Some((s.csrf.clone(), s.worker.tx.clone()))
    }

    fn login_page(&self, req: &Request, lang: Lang, error: Option<&str>, status: u16) -> Response {
        // Sign-in CSRF: a token in a cookie and in the form must match (double submit).
        let (token, set) = match req.cookie(LOGIN_COOKIE) {
            Some(t) if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) => {
                (t.to_string(), None)
            }
            _ => {
                let t = random_token();
                let c = cookie(LOGIN_COOKIE, &t);
                (t, Some(c))
            }
        };
        let mut h = Html::new();
        page_head(&mut h, lang, &t(lang, "web.signin_title"));
        h.raw("<header><span class=\"brand\">")
            .text(&t(lang, "web.brand"))
            .raw("</span>");
        lang_switch(&mut h, lang, "/login");
        h.raw("</header><main><h1>")
            .text(&t(lang, "web.signin_title"))
            .raw("</h1>");
        if let Some(e) = error {
            h.raw("<p class=\"error\" role=\"alert\">")
                .text(e)
                .raw("</p>");
        }
        h.raw("<form method=\"post\" action=\"/login\" autocomplete=\"off\">")
            .raw("<input type=\"hidden\" name=\"csrf\" value=\"")
            .text(&token)
            .raw("\"><label>")
            .text(&t(lang, "web.name"))
            .raw("<input name=\"name\" required autofocus></label><label>")
            .text(&t(lang, "web.passphrase"))
            .raw("<input name=\"passphrase\" type=\"password\" required></label><button type=\"submit\">")
            .text(&t(lang, "web.signin"))
            .raw("</button></form></main></body></html>");
        let r = Response::html(status, h.into_string());
        match set {
            Some(c) => r.with("Set-Cookie", c),
            None => r,
        }
    }

    /// Counts a failure; `false` when `name` or everyone is over the limit.
    fn may_try(&self, name: &str) -> bool {
        let mut f = lock(&self.failures);
        f.global.retain(|at| at.elapsed() < FAIL_WINDOW);
        if f.global.len() as u32 >= MAX_GLOBAL_FAILURES {
            return false;
        }
        match f.by_name.get(name) {
            Some((n, since)) if since.elapsed() < FAIL_WINDOW => *n < MAX_NAME_FAILURES,
            _ => true,
        }
    }

    fn failed(&self, name: &str) {
        let mut f = lock(&self.failures);
        // Expired counts go, so many names tried once cannot grow the table for ever.
        f.by_name
            .retain(|_, (_, since)| since.elapsed() < FAIL_WINDOW);
        f.global.push(Instant::now());
        let e = f
            .by_name
            .entry(name.to_string())
            .or_insert((0, Instant::now()));
        if e.1.elapsed() >= FAIL_WINDOW {
            *e = (0, Instant::now());
        }
        e.0 += 1;
    }

    fn login(&self, req: &Request, lang: Lang) -> Response {
        let form_token = req.form("csrf");
        let ok = match (req.cookie(LOGIN_COOKIE), form_token.as_deref()) {
            (Some(c), Some(f)) => ct_eq(c.as_bytes(), f.as_bytes()),
            _ => false,
        };
        if !ok {
            return Response::text(403, "csrf token refused\n");
        }
        let name = req
            .form("name")
            .map(|n| n.trim().to_string())
            .unwrap_or_default();
        let pass = req.form("passphrase");
        let Some(pass) = pass.filter(|p| !p.is_empty() && !name.is_empty()) else {
            return self.login_page(req, lang, Some(&t(lang, "web.signin_failed")), 401);
        };
        if !crate::vault::valid_staff_name(&name) {
            return self.login_page(req, lang, Some(&t(lang, "web.signin_failed")), 401);
        }
        let opened = {
            let _one = lock(&self.signing_in);
            if !self.may_try(&name) {
                return self.login_page(req, lang, Some(&t(lang, "web.too_many")), 429);
            }
            let pass = SecretString::from(pass.as_str().to_string());
            let r = Worker::open(self.vault.clone(), name.clone(), pass);
            if r.is_err() {
                self.failed(&name);
            }
            r
        };
        match opened {
            Ok(worker) => {
                let id = random_token();
                let s = Signed {
                    csrf: random_token(),
                    last: Instant::now(),
                    worker,
                };
                lock(&self.sessions).insert(session_key(&id), s);
                Response::redirect("/cases")
                    .with("Set-Cookie", cookie(SESSION_COOKIE, &id))
                    .with("Set-Cookie", expired_cookie(LOGIN_COOKIE))
            }
            Err(e) if e.exit_code() == crate::error::exit::AUTH => {
                self.login_page(req, lang, Some(&t(lang, "web.signin_failed")), 401)
            }
            Err(e) => self.login_page(req, lang, Some(&e.to_string()), 403),
        }
    }

    fn logout(&self, req: &Request) -> Response {
        let Some(id) = req.cookie(SESSION_COOKIE) else {
            return Response::redirect("/login");
        };
        let key = session_key(id);
        let gone = {
            let mut map = lock(&self.sessions);
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

    fn cases(&self, req: &Request, lang: Lang) -> Response {
        let Some((csrf, tx)) = self.signed(req) else {
            return Response::redirect("/login");
        };
        let got = call(&tx, |s: &mut Session| {
            let name = s.me.name.clone();
            let may_read = s.policy.allows(s.role, Action::ClientRead);
            let data = if may_read {
                s.case_list(None).and_then(|cases| {
                    let clients: HashMap<i64, (String, String)> = s
                        .client_list()?
                        .into_iter()
                        .map(|c| (c.id, (c.data.number, c.data.name)))
                        .collect();
                    Ok((cases, clients))
                })
            } else {
                Err(Error::Invalid(crate::tr!("web.no_cases_role")))
            };
            (name, data.map_err(|e| e.to_string()))
        });
        let Some((name, data)) = got else {
            return Response::redirect("/login");
        };
        let mut h = Html::new();
        page_head(&mut h, lang, &t(lang, "web.my_cases"));
        h.raw("<header><span class=\"brand\">")
            .text(&t(lang, "web.brand"))
            .raw("</span><span class=\"who\">")
            .text(&name)
            .raw("</span>");
        lang_switch(&mut h, lang, "/cases");
        h.raw("<form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"")
            .text(&csrf)
            .raw("\"><button type=\"submit\">")
            .text(&t(lang, "web.signout"))
            .raw("</button></form></header><main><h1>")
            .text(&t(lang, "web.my_cases"))
            .raw("</h1>");
        match data {
            Err(msg) => {
                h.raw("<p class=\"error\" role=\"alert\">")
                    .text(&msg)
                    .raw("</p>");
            }
            Ok((cases, _)) if cases.is_empty() => {
                h.raw("<p>").text(&t(lang, "web.no_cases")).raw("</p>");
            }
            Ok((cases, clients)) => {
                h.raw("<table><thead><tr>");
                for k in [
                    "web.h_case",
                    "web.h_client_number",
                    "web.h_client_name",
                    "web.h_stage",
                    "web.h_workers",
                    "web.h_opened",
                ] {
                    h.raw("<th>").text(&t(lang, k)).raw("</th>");
                }
                h.raw("</tr></thead><tbody>");
                for c in &cases {
                    let (number, cname) = clients
                        .get(&c.client_id)
                        .map(|(n, m)| (n.as_str(), m.as_str()))
                        .unwrap_or(("", ""));
                    h.raw("<tr><td>")
                        .text(&c.id.to_string())
                        .raw("</td><td>")
                        .text(number)
                        .raw("</td><td>")
                        .text(cname)
                        .raw("</td><td>")
                        .text(c.stage.label_in(lang))
                        .raw("</td><td>")
                        .text(&c.workers.join(", "))
                        .raw("</td><td>")
                        .text(&crate::domain::time::format_time(c.opened_at))
                        .raw("</td></tr>");
                }
                h.raw("</tbody></table>");
            }
        }
        h.raw("</main></body></html>");
        Response::html(200, h.into_string())
    }
}

fn page_head(h: &mut Html, lang: Lang, title: &str) {
    h.raw("<!doctype html><html lang=\"")
        .raw(if lang == Lang::En { "en" } else { "zh-CN" })
        .raw("\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>")
        .text(title)
        .raw("</title><link rel=\"stylesheet\" href=\"/static/style.css\"></head><body>");
}

/// A link to the same page in the other language (the choice is kept in a cookie).
fn lang_switch(h: &mut Html, lang: Lang, page: &'static str) {
    h.raw("<a class=\"lang\" href=\"").raw(page);
    match lang {
        Lang::Zh => h.raw("?lang=en\" hreflang=\"en\">English</a>"),
        Lang::En => h.raw("?lang=zh\" hreflang=\"zh\">中文</a>"),
    };
}
