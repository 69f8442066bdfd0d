#!/usr/bin/env bash
# Cost of a read command with the agent vs without (issue 12 item 1), at the REAL passphrase
# KDF cost (no test mode: age calibrates scrypt to about a second on this machine).
# One vault, one run, interleaved pairs (alternating which side goes first) so load changes on
# the shared machine hit both sides alike; per pair the ratio without/with.
#
#   scripts/bench_agent.sh [BIN]      (default: target/debug/casevault)
#
# Knobs: N (pairs, default 15), OUT. Output: $OUT/raw.tsv, and median [min-max] per side and
# of the per-pair ratio on stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(realpath "${1:-$ROOT/target/debug/casevault}")
N=${N:-15}
OUT=${OUT:-$ROOT/target/bench-agent}

ADMIN_PW="admin passphrase: amber kettle orbit"

rm -rf "$OUT"
mkdir -p "$OUT/tmp" "$OUT/run"
chmod 700 "$OUT" "$OUT/run"
RAW=$OUT/raw.tsv
printf 'pair\tside\twall_s\n' >"$RAW"
VAULT=$OUT/vault
PWFILE=$OUT/admin.pass
printf '%s' "$ADMIN_PW" >"$PWFILE"
chmod 600 "$PWFILE"

# No CASEVAULT_TEST_MODE, no CASEVAULT_SCRYPT_LOG_N: the real KDF.
cv() {
    env -i PATH="$PATH" CASEVAULT_LANG=en TMPDIR="$OUT/tmp" CASEVAULT_STATE_DIR="$OUT/state" \
        XDG_RUNTIME_DIR="$OUT/run" "$BIN" --vault "$VAULT" "$@" </dev/null
}

env -i PATH="$PATH" CASEVAULT_LANG=en TMPDIR="$OUT/tmp" CASEVAULT_STATE_DIR="$OUT/state" \
    CASEVAULT_NEW_PASSPHRASE="$ADMIN_PW" "$BIN" --vault "$VAULT" \
    init --agency "Bench Agency" --admin admin --recovery-shares 1/1 \
    --recovery-out "$OUT/recovery.txt" >/dev/null

cv agent start --idle 60 >/dev/null
trap 'cv agent stop >/dev/null 2>&1 || true' EXIT
cv --as admin --passphrase-file "$PWFILE" agent unlock >/dev/null

now() { date +%s.%N; }
time_side() {
    local side=$1 t0 t1
    t0=$(now)
    if [ "$side" = without ]; then
        cv --as admin --passphrase-file "$PWFILE" --no-agent staff list >/dev/null
    else
        cv --as admin staff list >/dev/null
    fi
    t1=$(now)
    echo "$t1 - $t0" | bc -l
}

# One warm-up of each side.
time_side without >/dev/null
time_side with >/dev/null
for i in $(seq 1 "$N"); do
    if [ $((i % 2)) -eq 0 ]; then order="with without"; else order="without with"; fi
    for side in $order; do
        printf '%s\t%s\t%s\n' "$i" "$side" "$(time_side "$side")" >>"$RAW"
    done
done

python3 - "$RAW" <<'EOF'
import sys, statistics
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
by = {}
for pair, side, t in rows:
    by.setdefault(int(pair), {})[side] = float(t)
def show(name, xs, unit="s", fmt="{:.3f}"):
    xs = sorted(xs)
    print(f"{name}: median {fmt.format(statistics.median(xs))}{unit} "
          f"[{fmt.format(xs[0])}-{fmt.format(xs[-1])}] over {len(xs)}")
show("without agent (KDF each time)", [p["without"] for p in by.values()])
show("with agent", [p["with"] for p in by.values()])
show("ratio without/with, per pair", [p["without"] / p["with"] for p in by.values()], "x", "{:.1f}")
EOF
