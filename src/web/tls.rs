//! HTTPS for `casevault serve` (docs/web.md, "TLS"): a self-signed certificate made on first
//! use and kept in the vault folder, served with `rustls`.
//!
//! The certificate and its private key live together in `web-tls.pem` (0600, written
//! atomically). The key lets whoever copies the vault folder impersonate this server on the
//! LAN, so it is kept like the other vault files and our copies of it are wiped after loading;
//! users compare the certificate's SHA-256 fingerprint, printed by `serve` and shown on the
//! sign-in page, with what their browser shows before typing a passphrase.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::vault::VaultDir;

/// The file in the vault folder holding the certificate and its key.
pub const FILE_NAME: &str = "web-tls.pem";
/// The comment line that records which names the certificate was made for.
const NAMES_PREFIX: &str = "# names: ";

/// The certificate `serve` presents, with what users compare.
pub struct Identity {
    pub config: Arc<rustls::ServerConfig>,
    /// SHA-256 of the certificate (DER), uppercase hex pairs joined by `:`, as browsers show it.
    pub fingerprint: String,
    /// True when this run made a new certificate (first use, or other names).
    pub made: bool,
}

/// The certificate file of `vault`.
pub fn path(vault: &VaultDir) -> PathBuf {
    vault.root.join(FILE_NAME)
}

/// The names the certificate must cover: the listen address and, if given, the host name.
pub fn names(ip: IpAddr, host: Option<&str>) -> Vec<String> {
    let mut n = vec![ip.to_string()];
    if ip.is_loopback() {
        n.push("localhost".into());
    }
    if let Some(h) = host {
        if !n.iter().any(|x| x == h) {
            n.push(h.to_string());
        }
    }
    n
}

/// A host name for `--host`: DNS labels of ASCII letters, digits and `-`, dots between.
pub fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Loads the certificate for `names`, or makes (and stores) a new one when there is none or
/// it was made for other names. With `keep`, an existing certificate is used whatever its
/// names (`serve --fingerprint` must never replace the certificate an admin has posted).
pub fn load_or_make(vault: &VaultDir, names: &[String], keep: bool) -> Result<Identity> {
    let file = path(vault);
    let want = names.join(" ");
    let (pem, made) = match read_private(&file)? {
        Some(pem) if keep || recorded_names(&pem).as_deref() == Some(want.as_str()) => (pem, false),
        _ => {
            let pem = make(names)?;
            crate::vault::write_atomic(&file, pem.as_bytes())?;
            (pem, true)
        }
    };
    let bad = |what: &str| {
        Error::Invalid(crate::tr!(
            "web.tls_bad_file",
            file = file.display(),
            what = what
        ))
    };
    let cert = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| bad(&e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| bad(&e.to_string()))?;
    drop(pem);
    let fingerprint = fingerprint(&cert);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(vec![cert], key))
        .map_err(|e| bad(&e.to_string()))?;
    Ok(Identity {
        config: Arc::new(config),
        fingerprint,
        made,
    })
}

/// SHA-256 of a certificate, as `AB:CD:…`.
pub fn fingerprint(cert: &[u8]) -> String {
    crate::crypto::sha256(cert)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The file's text (wiped on drop), `None` if there is none. A file another user could read
/// is refused: its key may already have leaked.
fn read_private(file: &Path) -> Result<Option<Zeroizing<String>>> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::symlink_metadata(file) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(file, e)),
    };
    if !meta.is_file() || meta.permissions().mode() & 0o077 != 0 {
        return Err(Error::Invalid(crate::tr!(
            "web.tls_file_mode",
            file = file.display()
        )));
    }
    let bytes = Zeroizing::new(std::fs::read(file).map_err(|e| Error::io(file, e))?);
    Ok(Some(Zeroizing::new(
        String::from_utf8_lossy(&bytes).into_owned(),
    )))
}

fn recorded_names(pem: &str) -> Option<String> {
    pem.lines()
        .find_map(|l| l.strip_prefix(NAMES_PREFIX))
        .map(|n| n.trim().to_string())
}

/// A new ECDSA P-256 key and a self-signed certificate for `names`, as the file's text.
fn make(names: &[String]) -> Result<Zeroizing<String>> {
    let fail = |e: rcgen::Error| Error::Invalid(crate::tr!("web.tls_make_failed", reason = e));
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(fail)?;
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(fail)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "casevault serve");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "casevault");
    let cert = params.self_signed(&key).map_err(fail)?;
    let key_pem = Zeroizing::new(key.serialize_pem());
    let mut out = Zeroizing::new(String::new());
    out.push_str(
        "# casevault serve: TLS certificate and its private key (docs/web.md, \"TLS\").\n",
    );
    out.push_str("# Whoever has this file can impersonate the server: keep it 0600.\n");
    out.push_str(&format!("{NAMES_PREFIX}{}\n", names.join(" ")));
    out.push_str(&cert.pem());
    out.push_str(&key_pem);
    Ok(out)
}

/// A connection's socket whose reads all end by one deadline, set when the connection is
/// accepted: the TLS handshake and the whole request must arrive within it, so a slow sender
/// (a slowloris, over TLS or not) cannot hold a thread.
pub struct DeadlineSock {
    pub tcp: TcpStream,
    until: Instant,
}

impl DeadlineSock {
    pub fn new(tcp: TcpStream, within: Duration) -> DeadlineSock {
        let _ = tcp.set_write_timeout(Some(within));
        DeadlineSock {
            tcp,
            until: Instant::now() + within,
        }
    }
}

impl Read for DeadlineSock {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self
            .until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::TimedOut, "deadline"))?;
        self.tcp.set_read_timeout(Some(left))?;
        self.tcp.read(buf)
    }
}

impl super::http::Deadlined for DeadlineSock {
    fn set_deadline(&mut self, until: Instant) {
        self.until = until;
    }
}

impl super::http::Deadlined for rustls::StreamOwned<rustls::ServerConnection, DeadlineSock> {
    fn set_deadline(&mut self, until: Instant) {
        self.sock.until = until;
    }
}

impl Write for DeadlineSock {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tcp.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.tcp.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert!(valid_host("station-1.local"));
        assert!(!valid_host("bad host"));
        assert!(!valid_host("-x.local"));
        assert!(!valid_host("a..b"));
        assert!(!valid_host(""));
    }

    #[test]
    fn fingerprint_shape() {
        let f = fingerprint(b"x");
        assert_eq!(f.len(), 32 * 3 - 1);
        assert!(f.split(':').all(|p| p.len() == 2));
    }
}
