#!/usr/bin/env bash
# Cost of witnessing a disclosure (issue 11 item 2): wall time of `referral export` in a vault
# without witnesses vs a vault whose policy names one `casevault witness serve` on loopback
# (witness_quorum = 1), measured as interleaved pairs in one run (alternating which goes
# first), so load changes on the shared machine hit both sides alike.
#
#   scripts/bench_witness.sh [BIN]      (default: target/debug/casevault)
#
# Knobs: N (pairs, default 30), OUT. Output: $OUT/raw.tsv and median / p95 per side on stdout.
# The passphrase KDF runs at test cost (CASEVAULT_TEST_MODE=1, CASEVAULT_SCRYPT_LOG_N=2).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(realpath "${1:-$ROOT/target/debug/casevault}")
N=${N:-30}
OUT=${OUT:-$ROOT/target/bench-witness}

ADMIN_PW="admin passphrase: amber kettle orbit"
pw() { if [ "$1" = admin ]; then echo "$ADMIN_PW"; else echo "$1 pw: velvet harbour lantern"; fi; }

rm -rf "$OUT"
mkdir -p "$OUT"
chmod 700 "$OUT"
RAW=$OUT/raw.tsv
printf 'pair\tside\twall_s\n' >"$RAW"

cv_env() {
    local vault=$1
    shift
    local vars=()
    while [ "$1" != "--" ]; do vars+=("$1"); shift; done
    shift
    env -i PATH="$PATH" CASEVAULT_TEST_MODE=1 CASEVAULT_SCRYPT_LOG_N=2 CASEVAULT_LANG=en \
        TMPDIR="$(dirname "$vault")/tmp" CASEVAULT_STATE_DIR="$(dirname "$vault")/state" \
        "${vars[@]}" "$BIN" --vault "$vault" "$@" </dev/null
}
cv() { local vault=$1 who=$2; shift 2; cv_env "$vault" CASEVAULT_PASSPHRASE="$(pw "$who")" -- --as "$who" "$@"; }

add_staff() {
    local vault=$1 name=$2 role=$3 tok fp
    tok=$(cv "$vault" admin --json staff add "$name" --role "$role" | jq -r .invitation)
    fp=$(cv_env "$vault" CASEVAULT_NEW_PASSPHRASE="$(pw "$name")" -- \
        --json staff enrol --invite "$tok" | jq -r .fingerprint)
    cv "$vault" admin staff approve "$name" --fingerprint "$fp" >/dev/null
}

# new_vault DIR: admin, supervisor li, caseworker wang; client C001 with a case, one record,
# partner "Partner", a consent. Prints "CASE CONSENT".
new_vault() {
    local d=$1 vault=$1/vault
    mkdir -p "$d/tmp"
    cv_env "$vault" CASEVAULT_NEW_PASSPHRASE="$ADMIN_PW" -- \
        init --agency "Bench Agency" --admin admin --recovery-shares 1/1 \
        --recovery-out "$d/recovery.txt" >/dev/null
    add_staff "$vault" li supervisor
    add_staff "$vault" wang caseworker
    cv "$vault" li case list >/dev/null
    cv "$vault" wang client add --number C001 --name 张三 >/dev/null
    local case_id consent rcpt
    case_id=$(cv "$vault" wang --json case open C001 | jq -r .id)
    printf '%s' '{"client_number":"C001","date":"2026-11-20","session_aim":"check in","narrative":"first session"}' |
        env -i PATH="$PATH" CASEVAULT_TEST_MODE=1 CASEVAULT_SCRYPT_LOG_N=2 CASEVAULT_LANG=en \
            TMPDIR="$d/tmp" CASEVAULT_STATE_DIR="$d/state" CASEVAULT_PASSPHRASE="$(pw wang)" \
            "$BIN" --vault "$vault" --as wang \
            record add --case "$case_id" --kind process --fields - >/dev/null
    rcpt=$(cv "$vault" admin --json agency keygen --out-dir "$d/keys" | jq -r .age_recipient)
    cv "$vault" admin agency add Partner --age-recipient "$rcpt" \
        --minisign-pubkey "$d/keys/partner.minisign.pub" --contact 021-555 >/dev/null
    consent=$(cv "$vault" wang --json consent add --client C001 --agency Partner --signer client \
        --signer-name "Zhang San" --purpose "housing support" --kinds process --tiers 1,2 \
        --revoke-how "call 021-123" --signed 2025-01-01 --expires 2099-12-31 | jq -r .id)
    echo "$case_id $consent"
}

read -r CASE_A CONSENT_A < <(new_vault "$OUT/plain")
read -r CASE_B CONSENT_B < <(new_vault "$OUT/witnessed")

# The witness, trusting vault B's log, on a free loopback port.
STATE=$OUT/witness-state
WKEY=$("$BIN" --json witness init --state "$STATE" --name bench.test/w1 | jq -r .vkey)
LOGKEY=$(cv "$OUT/witnessed/vault" admin log key)
"$BIN" witness add-log --state "$STATE" --origin "${LOGKEY%%+*}" --key "$LOGKEY" >/dev/null
coproc WITNESS { exec env -i PATH="$PATH" CASEVAULT_LANG=en "$BIN" witness serve --state "$STATE" --listen 127.0.0.1:0; }
trap 'kill "$WITNESS_PID" 2>/dev/null || true' EXIT
read -r line <&"${WITNESS[0]}"
ADDR=${line##* }

POL=$OUT/policy-w
mkdir -p "$POL"
cp -r "$ROOT/policy/templates" "$POL/"
{ echo "witness_quorum = 1"; cat "$ROOT/policy/policy.toml"
  printf '\n[[witness]]\nname = "bench.test/w1"\nkey = "%s"\nurl = "http://%s"\n' "$WKEY" "$ADDR"; } >"$POL/policy.toml"
# Adding a witness lowers protection on a vault with records: a supervisor approves first.
cv "$OUT/witnessed/vault" li policy approve "$POL" >/dev/null
cv "$OUT/witnessed/vault" admin policy apply "$POL" >/dev/null

now() { echo "${EPOCHREALTIME/,/.}"; }
export_once() { # export_once SIDE PAIR
    local side=$1 d c k t0 t1
    if [ "$side" = none ]; then d=$OUT/plain; c=$CASE_A; k=$CONSENT_A; else d=$OUT/witnessed; c=$CASE_B; k=$CONSENT_B; fi
    rm -f "$d/p.age" "$d/p.age.minisig"
    t0=$(now)
    # A supervisor's export is released at once (a caseworker's waits for a release).
    cv "$d/vault" li referral export --case "$c" --to Partner --consent "$k" \
        --purpose "housing support" --out "$d/p.age" >/dev/null
    t1=$(now)
    [ "$2" -gt 0 ] || return 0
    printf '%d\t%s\t%s\n' "$2" "$side" "$(awk "BEGIN{print $t1 - $t0}")" >>"$RAW"
}
echo "referral export: 2 warm-up pairs, then $N pairs" >&2
for i in 0 0 $(seq "$N"); do
    if [ $((i % 2)) -eq 1 ]; then order="none witness"; else order="witness none"; fi
    for s in $order; do export_once "$s" "$i"; done
done

python3 - "$RAW" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
for side in ("none", "witness"):
    v = sorted(float(r["wall_s"]) for r in rows if r["side"] == side)
    p95 = v[min(len(v) - 1, round(0.95 * (len(v) - 1)))]
    print(f"{side:8s} n={len(v)} median={statistics.median(v)*1000:.1f} ms p95={p95*1000:.1f} ms range={v[0]*1000:.1f}-{v[-1]*1000:.1f} ms")
d = {}
for r in rows:
    d.setdefault(r["pair"], {})[r["side"]] = float(r["wall_s"])
diff = sorted(p["witness"] - p["none"] for p in d.values() if len(p) == 2)
print(f"per-pair witness - none: median={statistics.median(diff)*1000:.1f} ms")
ratio = sorted(p["witness"] / p["none"] for p in d.values() if len(p) == 2)
print(f"per-pair witness / none: median={statistics.median(ratio):.3f} range={ratio[0]:.3f}-{ratio[-1]:.3f}")
PY
