#!/usr/bin/env bash
# Web page benchmark (issue 13 item 5; benches/web_pages.rs, docs/benchmarks.md): server time
# per page kind on a 100,000-record vault against a 1,000-record vault in the same run, and the
# serve process's peak memory. Release build; the vaults are made once and kept (never in the
# repository).
#
#   scripts/bench_web.sh
#
# Knobs: CARGO_TARGET_DIR (default /work/benchrel/target), CASEVAULT_WEB_BENCH_VAULTS (where the
# vaults are kept; default /work/benchrel), CASEVAULT_WEB_BENCH_ROUNDS (5),
# CASEVAULT_WEB_BENCH_CLIENTS (2000 = 100k records; smaller for a quick check).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/benchrel/target}
export CASEVAULT_WEB_BENCH_VAULTS=${CASEVAULT_WEB_BENCH_VAULTS:-/work/benchrel}
exec cargo bench --bench web_pages
