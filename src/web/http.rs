//! HTTP/1.1 for the web interface over `std::net`: one request per connection
//! (`Connection: close`), `Content-Length` bodies only, headers and body capped. The same
//! approach as the witness (`crate::witness::http`): a form-based interface for a few people
//! at a station needs no async stack (see docs/web.md).

use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// Request line and headers together.
const MAX_HEAD: usize = 16 * 1024;
/// Largest request body (forms are small; uploads come later with their own limit).
pub const MAX_BODY: usize = 64 * 1024;
/// How long a client has to send its whole request (a slow sender cannot hold a slot).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// How long a client has for the request line and headers: a silent connection (slowloris)
/// is dropped sooner than a slow form upload.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);

/// One request. The body is wiped on drop: a sign-in form carries a passphrase.
pub struct Request {
    pub method: String,
    /// The path without the query.
    pub path: String,
    pub query: String,
    headers: Vec<(String, String)>,
    pub body: Zeroizing<Vec<u8>>,
    /// On loopback, the uid of the peer process (set by the server after reading).
    pub peer_uid: Option<u32>,
}

impl Request {
    /// The first header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// How many times header `name` occurs (two `Host` headers are refused).
    pub fn header_count(&self, name: &str) -> usize {
        self.headers.iter().filter(|(n, _)| n == name).count()
    }

    /// The cookie `name` from the `Cookie` headers.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// How many `name` cookies the request carries (a second `cv_session`, e.g. one with
    /// `Path=/cases` pushed by another site on this host, would shadow ours).
    pub fn cookie_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .filter(|(k, _)| *k == name)
            .count()
    }

    /// A query parameter (only non-sensitive ones such as `lang` are ever put in URLs).
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_pairs(self.query.as_bytes())
            .into_iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v.to_string())
    }

    /// Every value of a repeated field (checkboxes), in order, wiped on drop.
    pub fn form_all(&self, name: &str) -> Vec<Zeroizing<String>> {
        form_pairs(&self.body)
            .into_iter()
            .filter(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v)
            .collect()
    }

    /// The `application/x-www-form-urlencoded` body's field `name`, wiped on drop.
    pub fn form(&self, name: &str) -> Option<Zeroizing<String>> {
        form_pairs(&self.body)
            .into_iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v)
    }
}

/// A connection whose reads all end by a deadline that can be moved (plain or TLS).
pub trait Deadlined: Read {
    fn set_deadline(&mut self, until: Instant);
}

/// Reads one request from `stream`, plain or TLS: the handshake and the head within
/// [`HEAD_DEADLINE`], all of it within [`REQUEST_DEADLINE`]. Strict: CRLF line ends, no
/// folded or malformed header lines, no control characters, `HTTP/1.0` or `HTTP/1.1` only
/// (anything a proxy might read otherwise is refused).
pub fn read_request<R: Deadlined>(stream: &mut R) -> std::io::Result<Request> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let start = Instant::now();
    stream.set_deadline(start + HEAD_DEADLINE);
    let mut r = BufReader::new(stream);
    let mut head_len = 0;
    let mut line = String::new();
    let mut read_line = |r: &mut BufReader<&mut R>, line: &mut String| -> std::io::Result<()> {
        line.clear();
        let n = r.by_ref().take(MAX_HEAD as u64).read_line(line)?;
        head_len += n;
        if n == 0 || head_len > MAX_HEAD || !line.ends_with("\r\n") {
            return Err(bad("header"));
        }
        line.truncate(line.len() - 2);
        // Control characters (NUL, bare CR, …) have no place in a request head.
        if line
            .chars()
            .any(|c| (c.is_ascii_control() && c != '\t') || c == '\u{7f}')
        {
            return Err(bad("control character"));
        }
        Ok(())
    };
    read_line(&mut r, &mut line)?;
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(bad("request line"));
    };
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") || method.is_empty() || target.is_empty() {
        return Err(bad("request line"));
    }
    let (method, target) = (method.to_string(), target.to_string());
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    let mut headers = Vec::new();
    loop {
        read_line(&mut r, &mut line)?;
        let l = line.as_str();
        if l.is_empty() {
            break;
        }
        // `name:value`, the name a token: no obs-fold continuation line (starting with a
        // space or tab), no space before the colon.
        let (n, v) = l.split_once(':').ok_or_else(|| bad("header"))?;
        if !is_token(n) {
            return Err(bad("header name"));
        }
        headers.push((
            n.to_ascii_lowercase(),
            v.trim_matches([' ', '\t']).to_string(),
        ));
    }
    // The body has until the whole request's deadline.
    r.get_mut().set_deadline(start + REQUEST_DEADLINE);
    let mut req = Request {
        method,
        path,
        query,
        headers,
        body: Zeroizing::new(Vec::new()),
        peer_uid: None,
    };
    if req.header("transfer-encoding").is_some() || req.header_count("content-length") > 1 {
        return Err(bad("framing"));
    }
    if let Some(n) = req.header("content-length") {
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("content-length"));
        }
        let n: usize = n.parse().map_err(|_| bad("content-length"))?;
        if n > MAX_BODY {
            return Err(bad("too large"));
        }
        req.body.resize(n, 0);
        r.read_exact(&mut req.body)?;
    }
    Ok(req)
}

/// An RFC 9110 token (header names).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Decodes `a=b&c=d` (`+` is a space, `%XX` a byte); values wiped on drop.
fn form_pairs(s: &[u8]) -> Vec<(Zeroizing<String>, Zeroizing<String>)> {
    s.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = match p.iter().position(|&b| b == b'=') {
                Some(i) => (&p[..i], &p[i + 1..]),
                None => (p, &p[p.len()..]),
            };
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(Vec::with_capacity(s.len()));
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(a), Some(b)) => {
                    out.push(a * 16 + b);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    Zeroizing::new(String::from_utf8_lossy(&out).into_owned())
}

/// A response: status, extra headers, body. The security headers are added by [`write`].
/// The body (pages show client names) is wiped when the response is dropped.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn html(status: u16, body: String) -> Response {
        Response {
            status,
            content_type: "text/html; charset=utf-8",
            headers: Vec::new(),
            body: body.into_bytes(),
        }
    }

    pub fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// A 303 to `to` (a fixed path of ours, never built from input).
    pub fn redirect(to: &'static str) -> Response {
        let mut r = Response::text(303, "");
        r.headers.push(("Location", to.to_string()));
        r
    }

    /// A 303 to a computed path of ours (`/requests/12`). Only a path starting with a single
    /// `/` is taken (never another host, never `//host`); anything else goes to `/`.
    pub fn see_other(to: String) -> Response {
        let ok = to.starts_with('/')
            && !to.starts_with("//")
            && !to.contains('\\')
            && to.bytes().all(|b| b.is_ascii_graphic());
        let mut r = Response::text(303, "");
        r.headers
            .push(("Location", if ok { to } else { "/".to_string() }));
        r
    }

    /// A file download (`Content-Disposition: attachment`); with the `no-store` every response
    /// carries, the browser keeps only the file its user saves.
    pub fn attachment(content_type: &'static str, filename: &str, body: Vec<u8>) -> Response {
        let name: String = filename
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        Response {
            status: 200,
            content_type,
            headers: vec![(
                "Content-Disposition",
                format!("attachment; filename=\"{name}\""),
            )],
            body,
        }
    }

    pub fn with(mut self, name: &'static str, value: String) -> Response {
        self.headers.push((name, value));
        self
    }
}

impl Drop for Response {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.body);
    }
}

/// Sent on every response (docs/web.md, "Headers").
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    ),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
];

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// Writes `r` with the security headers and `Connection: close`.
pub fn write(stream: &mut impl Write, r: &Response) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    );
    for (n, v) in SECURITY_HEADERS {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    for (n, v) in &r.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&r.body)?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::Response;

    fn location(r: &Response) -> &str {
        r.headers
            .iter()
            .find(|(n, _)| *n == "Location")
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    #[test]
    fn see_other_goes_only_to_our_own_paths() {
        assert_eq!(
            location(&Response::see_other("/consents/12".into())),
            "/consents/12"
        );
        for bad in [
            "//evil.example/x",
            "https://evil.example/",
            "/\\evil.example",
            "/a b",
            "/x\r\nSet-Cookie: a=b",
            "",
        ] {
            assert_eq!(location(&Response::see_other(bad.into())), "/", "{bad:?}");
        }
    }
}
