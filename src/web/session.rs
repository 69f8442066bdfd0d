//! Signed-in sessions: each member's [`Session`] on a thread of its own, and the sign-in
//! rate limits.
//!
//! A `Session` is not `Send` (it caches case keys in `Rc`s), so it lives on its own thread
//! and requests hand it jobs through a channel. Signing out or the idle lock drops the
//! channel, the thread ends and the session (identity, database key, case keys) is dropped
//! and wiped. The browser holds only a random session id.

use std::collections::HashMap;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use secrecy::SecretString;

use crate::error::{Error, Result};
use crate::i18n::Lang;
use crate::policy::{Action, Role};
use crate::vault::{Session, VaultDir};

/// Failed sign-ins per name within [`FAIL_WINDOW`] before that name is refused for the window.
pub const MAX_NAME_FAILURES: u32 = 5;
/// Failed sign-ins for all names together within [`FAIL_WINDOW`] (a guess over many names):
/// beyond it every sign-in waits [`GLOBAL_DELAY`] first (one at a time), but is not refused,
/// so failures on made-up names cannot lock everyone out.
pub const MAX_GLOBAL_FAILURES: u32 = 50;
pub const GLOBAL_DELAY: Duration = Duration::from_secs(2);
pub const FAIL_WINDOW: Duration = Duration::from_secs(15 * 60);

pub type Job = Box<dyn FnOnce(&mut Session) + Send>;

/// Who is signed in, copied once at sign-in: names and permissions, never client data. The
/// pages use it to offer only what the role may do; the library still checks every call.
#[derive(Debug)]
pub struct Me {
    pub name: String,
    pub role: Role,
    /// The actions the policy allows this role (at sign-in).
    pub may: Vec<Action>,
    /// True when the policy lets this role see every case (supervisors), not only assigned ones.
    pub all_cases: bool,
}

impl Me {
    pub fn may(&self, a: Action) -> bool {
        self.may.contains(&a)
    }
}

/// The thread holding one member's open session.
pub struct Worker {
    pub tx: mpsc::Sender<Job>,
    /// Disconnected once the thread has ended and its session is dropped (graceful stop).
    pub done: mpsc::Receiver<()>,
}

impl Worker {
    /// Opens `name`'s session on a new thread; the error of a failed open comes back.
    pub fn open(
        vault: VaultDir,
        name: String,
        pass: SecretString,
        lang: Lang,
    ) -> Result<(Worker, Me)> {
        Self::open_with(lang, move || {
            let s = Session::open(&vault, &name, &pass);
            drop(pass);
            s
        })
    }

    /// Opens a session with `open` (passphrase or the agent's identity) on a new thread.
    pub fn open_with(
        lang: Lang,
        open: impl FnOnce() -> Result<Session> + Send + 'static,
    ) -> Result<(Worker, Me)> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<Me>>();
        let (done_tx, done) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            // Declared first, so dropped last: after the session below.
            let _done = done_tx;
            let opened = crate::i18n::with_lang(lang, open);
            let mut s = match opened {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let me = Me {
                name: s.me.name.clone(),
                role: s.role,
                may: Action::ALL
                    .into_iter()
                    .filter(|a| s.policy.allows(s.role, *a))
                    .collect(),
                all_cases: s.policy.all_cases(s.role),
            };
            if me.may(Action::ClientRead) && !me.all_cases {
                // The member's signed assignments are checked once here (sign-in already
                // costs a KDF) and remembered by the session, so the first "my cases" view
                // is as fast as the next; every use still checks against this result.
                let _ = crate::i18n::with_lang(lang, || s.case_list(None));
            }
            let _ = ready_tx.send(Ok(me));
            while let Ok(job) = rx.recv() {
                job(&mut s);
            }
            // Every sender is gone (signed out or locked): `s` drops here, wiping its keys.
        });
        let me = ready_rx
            .recv()
            .map_err(|_| Error::Invalid(crate::tr!("web.internal")))??;
        Ok((Worker { tx, done }, me))
    }
}

/// Runs `f` on the session's thread, in `lang`, and waits for its answer (`None`: the
/// session is gone).
pub fn call<T: Send + 'static>(
    tx: &mpsc::Sender<Job>,
    lang: Lang,
    f: impl FnOnce(&mut Session) -> T + Send + 'static,
) -> Option<T> {
    let (rtx, rrx) = mpsc::channel();
    tx.send(Box::new(move |s: &mut Session| {
        let out = crate::i18n::with_lang(lang, || f(s));
        let _ = rtx.send(out);
    }))
    .ok()?;
    rrx.recv().ok()
}

/// One signed-in browser.
pub struct Signed {
    pub csrf: String,
    pub last: Instant,
    /// When it was signed in (a member's oldest session goes first beyond the cap).
    pub born: Instant,
    /// The loopback peer's uid that signed in; only that uid may use the session.
    pub uid: Option<u32>,
    pub worker: Worker,
    pub me: Arc<Me>,
    /// The one-time form tokens already submitted (see [`Submitted`]).
    pub submitted: Arc<Submitted>,
}

/// One-time tokens of the forms a session has submitted: a form that discloses or creates
/// something is done once, so a double click, a reload or a replay of the same form does not
/// export, log or write twice. Each rendered form carries a fresh token; the newest
/// [`Submitted::KEEP`] submitted ones are remembered (hashed) for the session's life.
#[derive(Default)]
pub struct Submitted(std::sync::Mutex<std::collections::VecDeque<[u8; 32]>>);

impl Submitted {
    const KEEP: usize = 512;

    /// Marks `token` submitted; `false` if it already was.
    pub fn first(&self, token: &str) -> bool {
        use sha2::{Digest, Sha256};
        let h: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(&h) {
            return false;
        }
        if seen.len() >= Self::KEEP {
            seen.pop_front();
        }
        seen.push_back(h);
        true
    }
}

/// Failed sign-ins, for the rate limits.
#[derive(Default)]
pub struct Failures {
    by_name: HashMap<String, (u32, Instant)>,
    global: Vec<Instant>,
}

/// What the rate limits say about a sign-in.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Go,
    /// Everyone is over the global limit: wait [`GLOBAL_DELAY`], then try.
    Slow,
    /// This name is over its limit.
    Refused,
}

impl Failures {
    pub fn may_try(&mut self, name: &str) -> Verdict {
        self.global.retain(|at| at.elapsed() < FAIL_WINDOW);
        // Bounded: beyond the limit only the fact matters.
        let over = self.global.len() as u32 >= MAX_GLOBAL_FAILURES;
        if over {
            let extra = self.global.len() - MAX_GLOBAL_FAILURES as usize;
            self.global.drain(..extra);
        }
        match self.by_name.get(name) {
            Some((n, since)) if since.elapsed() < FAIL_WINDOW && *n >= MAX_NAME_FAILURES => {
                Verdict::Refused
            }
            _ if over => Verdict::Slow,
            _ => Verdict::Go,
        }
    }

    /// Counts a failure for `name`.
    pub fn failed(&mut self, name: &str) {
        // Expired counts go, so many names tried once cannot grow the table for ever.
        self.by_name
            .retain(|_, (_, since)| since.elapsed() < FAIL_WINDOW);
        self.global.push(Instant::now());
        let e = self
            .by_name
            .entry(name.to_string())
            .or_insert((0, Instant::now()));
        if e.1.elapsed() >= FAIL_WINDOW {
            *e = (0, Instant::now());
        }
        e.0 += 1;
    }
}
