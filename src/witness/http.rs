//! A minimal HTTP/1.1 over `std::net` for the witness protocol: one request per connection
//! (`Connection: close`), `Content-Length` bodies only. Small on purpose: the protocol is one
//! POST with a few hundred bytes each way, and a hand-written handler adds no dependency.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{Answer, Witness, MAX_BODY};

/// Header section limit (request line and headers together).
const MAX_HEAD: usize = 8 * 1024;
/// Connections served at once; more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 32;
/// How long one side waits for the other.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client has to send its whole request: a per-read timeout alone lets a client
/// that sends a byte every few seconds hold a connection slot for ever (found by the insider
/// test: 40 such clients blocked every release).
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);

/// A stream whose reads all end by one deadline.
struct Deadline<'a> {
    stream: &'a TcpStream,
    until: std::time::Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self
            .until
            .checked_duration_since(std::time::Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::TimedOut, "deadline"))?;
        self.stream.set_read_timeout(Some(left))?;
        let mut s = self.stream;
        s.read(buf)
    }
}

/// One parsed HTTP message: the start line, the headers (names lowercased), the body.
struct Message {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a start line, headers and a `Content-Length` body (none: empty, up to EOF for a
/// response when `to_eof`).
fn read_message(stream: &mut impl Read, to_eof: bool) -> std::io::Result<Message> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let mut r = BufReader::new(stream);
    let mut head_len = 0;
    let mut line = String::new();
    let mut read_line = |r: &mut BufReader<_>, line: &mut String| -> std::io::Result<()> {
        line.clear();
        let n = r.by_ref().take(MAX_HEAD as u64).read_line(line)?;
        head_len += n;
        if n == 0 || head_len > MAX_HEAD || !line.ends_with('\n') {
            return Err(bad("header"));
        }
        Ok(())
    };
    read_line(&mut r, &mut line)?;
    let start = line.trim_end().to_string();
    let mut headers = Vec::new();
    loop {
        read_line(&mut r, &mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').ok_or_else(|| bad("header"))?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let mut msg = Message {
        start,
        headers,
        body: Vec::new(),
    };
    if msg.header("transfer-encoding").is_some() {
        return Err(bad("chunked"));
    }
    match msg.header("content-length") {
        Some(n) => {
            let n: usize = n.parse().map_err(|_| bad("content-length"))?;
            if n > MAX_BODY {
                return Err(bad("too large"));
            }
            msg.body = vec![0; n];
            r.read_exact(&mut msg.body)?;
        }
        None if to_eof => {
            r.take(MAX_BODY as u64 + 1).read_to_end(&mut msg.body)?;
        }
        None => {}
    }
    Ok(msg)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        _ => "Internal Server Error",
    }
}

fn respond(stream: &mut TcpStream, a: &Answer) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        a.status,
        reason(a.status),
        a.content_type,
        a.body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(a.body.as_bytes())?;
    stream.flush()
}

fn serve_one(w: &Witness, mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let mut limited = Deadline {
        stream: &stream,
        until: std::time::Instant::now() + REQUEST_DEADLINE,
    };
    let answer = match read_message(&mut limited, false) {
        Err(_) => Answer::text(400, "malformed request\n"),
        Ok(m) => {
            let mut parts = m.start.split(' ');
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let path = path.split('?').next().unwrap_or("");
            if !path.ends_with("/add-checkpoint") {
                Answer::text(404, "not found\n")
            } else if method != "POST" {
                Answer::text(405, "POST only\n")
            } else {
                let now = crate::domain::time::now().max(0) as u64;
                w.add_checkpoint(&m.body, now)
            }
        }
    };
    let _ = respond(&mut stream, &answer);
}

/// Serves `POST /add-checkpoint` on `listener` until the process ends, one thread per
/// connection (at most [`MAX_CONNECTIONS`] at once).
pub fn serve(w: Witness, listener: TcpListener) -> ! {
    let w = Arc::new(w);
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
        let (w, busy) = (Arc::clone(&w), Arc::clone(&busy));
        std::thread::spawn(move || {
            serve_one(&w, stream);
            busy.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

/// A witness's answer as the client sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// Splits `http://host:port[/prefix]` into the address and the path prefix. Only plain HTTP:
/// a checkpoint holds no client data and its cosignature authenticates itself (see
/// docs/witness.md); put a TLS bastion in front of a witness on another network.
pub fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if host.is_empty() || !host.contains(':') {
        return None;
    }
    Some((host.to_string(), path.to_string()))
}

/// POSTs `body` to `<url>/add-checkpoint`.
pub fn post_add_checkpoint(url: &str, body: &str) -> std::io::Result<Reply> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, m.to_string());
    let (host, prefix) = split_url(url).ok_or_else(|| bad("url"))?;
    let addr = host
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| bad("address"))?;
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let req = format!(
        "POST {prefix}/add-checkpoint HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    s.flush()?;
    let m = read_message(&mut s, true)?;
    let status: u16 = m
        .start
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("status"))?;
    Ok(Reply {
        status,
        content_type: m.header("content-type").unwrap_or("").to_string(),
        body: String::from_utf8_lossy(&m.body).into_owned(),
    })
}
