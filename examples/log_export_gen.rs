//! Writes a genuine N-entry log export (as `benches/log_verify.rs` builds it) to DIR, to
//! measure offline verification outside criterion, e.g. its peak memory:
//!
//! ```sh
//! cargo run --example log_export_gen -- 1000000 /tmp/log-1m
//! /usr/bin/time -v casevault log verify --export /tmp/log-1m --key "$(cat /tmp/log-1m/verifier-key.txt)"
//! ```

use std::path::Path;

#[path = "../benches/log_gen/mod.rs"]
mod log_gen;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = Path::new(args.get(2).map(|s| s.as_str()).unwrap_or("log-export"));
    log_gen::write_export(dir, n);
    println!("{n} entries written to {}", dir.display());
}
