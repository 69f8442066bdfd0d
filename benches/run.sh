#!/bin/sh
# Vault core benchmarks (issue 2): import vs. floor, open + show, client search.
# Prints a table; see docs/benchmarks.md. Extra knobs (environment):
#   CASEVAULT_BENCH_REPS=3          import/floor repetitions (median reported)
#   CASEVAULT_BENCH_RUNS=50         open+show and search runs (median, p95)
#   CASEVAULT_BENCH_SKIP_IMPORT=1   reuse the cached 100k vault, measure only open+show and search
#   CASEVAULT_BENCH_CLIENTS=1000    smaller data set for a quick check (not cached)
set -eu
cd "$(dirname "$0")/.."
exec cargo bench --bench vault "$@"
