//! A small W3C WebDriver client over `std` (JSON over HTTP to Debian's `chromedriver`), for
//! end-to-end tests in headless chromium. Include with `#[path = "common/browser.rs"] mod
//! browser;`. [`Browser::start`] returns `None` (the test then skips with a note) when
//! `chromium` or `chromedriver` is missing; under `CI=1` a missing browser is a failure.
//!
//! Screenshots go to `target/web-screenshots/NAME-WIDTH.png` (kept as test artifacts).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Desktop and tablet widths for screenshots.
pub const DESKTOP: (u32, u32) = (1366, 900);
pub const TABLET: (u32, u32) = (820, 1180);

/// One raw WebDriver call; returns the `value` of the answer.
pub fn call(port: u16, method: &str, path: &str, body: Option<Value>) -> Value {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut t = TcpStream::connect(("127.0.0.1", port)).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
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

/// The path of an executable on `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A headless chromium driven through chromedriver; both end on drop.
pub struct Browser {
    port: u16,
    sid: String,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        call(self.port, "DELETE", &format!("/session/{}", self.sid), None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts chromium with a fresh profile under `profile`; `None` (skip) when the browser is
    /// not installed, except under `CI=1`.
    pub fn start(profile: &Path) -> Option<Browser> {
        Self::start_with(profile, false)
    }

    /// [`Browser::start`] that accepts a self-signed certificate when `insecure_certs` (the
    /// HTTPS tests of `serve --tls`, which check the fingerprint themselves).
    pub fn start_with(profile: &Path, insecure_certs: bool) -> Option<Browser> {
        let (Some(driver), Some(_)) = (on_path("chromedriver"), on_path("chromium")) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install chromium and chromium-driver"
            );
            eprintln!("skipped: chromium and chromedriver are not installed");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = std::process::Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut options = json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--lang=zh-CN", format!("--user-data-dir={}", profile.display()),
                     format!("--window-size={},{}", DESKTOP.0, DESKTOP.1)],
            "prefs": {"download.default_directory": profile.join("downloads").display().to_string(),
                      "download.prompt_for_download": false}
        });
        if Path::new("/usr/lib/chromium/chromium").is_file() {
            options["binary"] = json!("/usr/lib/chromium/chromium");
        }
        let session = call(
            port,
            "POST",
            "/session",
            Some(json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome", "acceptInsecureCerts": insecure_certs,
                "goog:chromeOptions": options}}})),
        );
        let sid = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {session}"))
            .to_string();
        Some(Browser { port, sid, driver })
    }

    fn at(&self, p: &str) -> String {
        format!("/session/{}{p}", self.sid)
    }

    pub fn call(&self, method: &str, p: &str, body: Option<Value>) -> Value {
        call(self.port, method, &self.at(p), body)
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn title(&self) -> String {
        self.call("GET", "/title", None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Waits up to 10 s for the page title to be `want`.
    pub fn wait_title(&self, want: &str) {
        for _ in 0..100 {
            if self.title() == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "title is {:?}, want {want:?}; page: {}",
            self.title(),
            self.body_text()
        );
    }

    /// The element matching `css` (panics with the page's text when there is none).
    pub fn find(&self, css: &str) -> String {
        let e = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        match e[ELEMENT].as_str() {
            Some(id) => id.to_string(),
            None => panic!("{css}: {e}\npage: {}", self.body_text()),
        }
    }

    /// How many elements match `css`.
    pub fn count(&self, css: &str) -> usize {
        self.call(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .as_array()
        .map_or(0, |a| a.len())
    }

    pub fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call("POST", &format!("/element/{e}/clear"), Some(json!({})));
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        );
    }

    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.call("POST", &format!("/element/{e}/click"), Some(json!({})));
    }

    pub fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.call("GET", &format!("/element/{e}/text"), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub fn body_text(&self) -> String {
        let e = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": "body"})),
        );
        match e[ELEMENT].as_str() {
            Some(id) => self
                .call("GET", &format!("/element/{id}/text"), None)
                .as_str()
                .unwrap_or("")
                .to_string(),
            None => String::new(),
        }
    }

    pub fn script(&self, js: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": js, "args": []})),
        )
    }

    /// Signs `who` in through the form at `base` (`http://host:port`) and waits for `home`.
    pub fn sign_in(&self, base: &str, who: &str, pass: &str, home: &str) {
        self.goto(&format!("{base}/login"));
        self.fill("input[name=name]", who);
        self.fill("input[name=passphrase]", pass);
        self.click("button[type=submit]");
        self.wait_title(home);
    }

    /// Saves the page at desktop and tablet widths as `target/web-screenshots/NAME-W.png`.
    pub fn screenshots(&self, name: &str) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        for (w, h) in [DESKTOP, TABLET] {
            self.call(
                "POST",
                "/window/rect",
                Some(json!({"width": w, "height": h})),
            );
            let png = self.call("GET", "/screenshot", None);
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(png.as_str().expect("screenshot"))
                .unwrap();
            std::fs::write(dir.join(format!("{name}-{w}.png")), bytes).unwrap();
        }
        self.call(
            "POST",
            "/window/rect",
            Some(json!({"width": DESKTOP.0, "height": DESKTOP.1})),
        );
    }
}
