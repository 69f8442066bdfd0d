//! `casevault serve`: the web interface (src/web/, docs/web.md).

use std::time::Duration;

use super::Context;
use crate::error::{Error, Result};
use crate::tr;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The address and port to listen on; an address other than loopback serves HTTPS only
    /// (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:7390")]
    listen: String,
    /// A host name the station's browsers use besides the address (added to the certificate).
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// Serve HTTPS on loopback too (always on for other addresses).
    #[arg(long)]
    tls: bool,
    /// Print the SHA-256 fingerprint of the HTTPS certificate (made if missing) and exit.
    #[arg(long)]
    fingerprint: bool,
    /// Lock (wipe) a signed-in session after this many minutes without a request.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=1440))]
    idle: u64,
}

pub fn run(ctx: &mut Context, a: ServeArgs) -> Result<()> {
    ctx.vault.check()?;
    let addr = crate::web::check_listen(&a.listen)?;
    if let Some(h) = a
        .host
        .as_deref()
        .filter(|h| !crate::web::tls::valid_host(h))
    {
        return Err(Error::Invalid(tr!("web.tls_bad_host", host = h)));
    }
    let names = crate::web::tls::names(addr.ip(), a.host.as_deref());
    let use_tls = a.tls || a.fingerprint || !addr.ip().is_loopback() || a.host.is_some();
    let identity = if use_tls {
        Some(crate::web::tls::load_or_make(
            &ctx.vault,
            &names,
            a.fingerprint,
        )?)
    } else {
        None
    };
    if a.fingerprint {
        if let Some(id) = &identity {
            crate::outln!("{}", id.fingerprint);
        }
        return Ok(());
    }
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| Error::io(std::path::PathBuf::from(&a.listen), e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::io(std::path::PathBuf::from(&a.listen), e))?;
    // One line with the bound address, flushed now: scripts that chose port 0 read it.
    match &identity {
        None => crate::outln!("{}", tr!("web.listening", url = format!("http://{bound}/"))),
        Some(id) => {
            let url = format!("https://{bound}/");
            if bound.ip().is_loopback() {
                crate::outln!("{}", tr!("web.listening_tls_local", url = url));
            } else {
                crate::outln!("{}", tr!("web.listening_tls", url = url));
            }
            if id.made {
                crate::outln!(
                    "{}",
                    tr!(
                        "web.tls_made",
                        file = crate::web::tls::path(&ctx.vault).display()
                    )
                );
            }
            crate::outln!(
                "{}",
                tr!("web.tls_fingerprint", fingerprint = &id.fingerprint)
            );
        }
    }
    let _ = super::out::finish();
    let cfg = crate::web::Config {
        vault: ctx.vault.clone(),
        idle: test_idle().unwrap_or(Duration::from_secs(a.idle * 60)),
        tls: identity,
        host: a.host,
    };
    match crate::web::serve(cfg, listener)? {}
}

/// Tests only (`CASEVAULT_TEST_MODE=1`): `CASEVAULT_TEST_WEB_IDLE_SECS` sets the idle lock in
/// seconds, so the idle lock can be tested without waiting a minute.
fn test_idle() -> Option<Duration> {
    if std::env::var("CASEVAULT_TEST_MODE").ok()? != "1" {
        return None;
    }
    let secs: u64 = std::env::var("CASEVAULT_TEST_WEB_IDLE_SECS")
        .ok()?
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.max(1)))
}
