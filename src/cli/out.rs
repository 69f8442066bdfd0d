//! Every byte the CLI prints goes through here, so that a closed or full stdout never panics
//! (`println!` does) and never interrupts a command halfway: the first write error is recorded,
//! later output is dropped, the command runs to completion (its commits and file writes
//! included), and [`finish`] turns the error into the exit code at the very end.

use std::io::{self, Write};
use std::sync::Mutex;

/// The first stdout write error of this process, if any.
static FAILED: Mutex<Option<io::Error>> = Mutex::new(None);

fn failed() -> bool {
    FAILED.lock().map(|f| f.is_some()).unwrap_or(true)
}

fn record(e: io::Error) {
    if let Ok(mut f) = FAILED.lock() {
        if f.is_none() {
            *f = Some(e);
        }
    }
}

/// Writes raw bytes to stdout (attachments, scans), or drops them after a write error.
pub fn bytes(b: &[u8]) {
    if failed() {
        return;
    }
    if let Err(e) = io::stdout().lock().write_all(b) {
        record(e);
    }
}

/// Writes one line of text to stdout, or drops it after a write error.
pub fn line(s: &str) {
    if failed() {
        return;
    }
    let mut o = io::stdout().lock();
    if let Err(e) = o.write_all(s.as_bytes()).and_then(|_| o.write_all(b"\n")) {
        record(e);
    }
}

/// Writes one line to stderr; a closed or full stderr is ignored (there is nowhere to say it).
pub fn err_line(s: &str) {
    let mut e = io::stderr().lock();
    let _ = e.write_all(s.as_bytes()).and_then(|_| e.write_all(b"\n"));
}

/// A question on stderr, without a newline (the answer is typed after it).
pub fn err_prompt(s: &str) {
    let mut e = io::stderr().lock();
    let _ = e
        .write_all(s.as_bytes())
        .and_then(|_| e.write_all(b" "))
        .and_then(|_| e.flush());
}

/// Flushes stdout and returns the first write error of the process, if any. A broken pipe
/// (the reader went away, e.g. `| head -1`) is a normal end and is returned as `None`.
pub fn finish() -> Option<io::Error> {
    if let Err(e) = io::stdout().lock().flush() {
        record(e);
    }
    let e = FAILED.lock().ok()?.take()?;
    (e.kind() != io::ErrorKind::BrokenPipe).then_some(e)
}

/// `outln!("…", args)`: like `println!`, through [`line`].
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::out::line(&format!($($arg)*))
    };
}

/// `errln!("…", args)`: like `eprintln!`, through [`err_line`].
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::out::err_line(&format!($($arg)*))
    };
}
