//! `casevault serve`: the web interface (src/web/, docs/web.md).

use std::time::Duration;

use super::Context;
use crate::error::{Error, Result};
use crate::tr;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The address and port to listen on (loopback only until HTTPS; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:7390")]
    listen: String,
    /// Lock (wipe) a signed-in session after this many minutes without a request.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=1440))]
    idle: u64,
}

pub fn run(ctx: &mut Context, a: ServeArgs) -> Result<()> {
    ctx.vault.check()?;
    let addr = crate::web::check_listen(&a.listen)?;
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| Error::io(std::path::PathBuf::from(&a.listen), e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::io(std::path::PathBuf::from(&a.listen), e))?;
    // One line with the bound address, flushed now: scripts that chose port 0 read it.
    crate::outln!("{}", tr!("web.listening", url = format!("http://{bound}/")));
    let _ = super::out::finish();
    let cfg = crate::web::Config {
        vault: ctx.vault.clone(),
        idle: test_idle().unwrap_or(Duration::from_secs(a.idle * 60)),
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
