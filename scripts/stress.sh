#!/usr/bin/env bash
# Long reliability loops against the real binary (issue 9; not part of CI):
#   1. SIGKILL at a random moment during import, referral export, record add and offboarding,
#      STRESS_N times each (default 100), checking after every kill that nothing committed is
#      lost and the vault still opens, verifies and finishes the interrupted work;
#   2. STRESS_WRITERS (default 4) writers adding records while a supervisor rekeys the same case
#      in a loop: every record reported saved must be readable afterwards.
# Usage: scripts/stress.sh [--debug]      (builds the release binary unless --debug)
# Prints one line per scenario: runs, kills that landed mid-command, failures. Exit 1 on any.
set -u
cd "$(dirname "$0")/.."

N=${STRESS_N:-100}
WRITERS=${STRESS_WRITERS:-4}
PER_WRITER=${STRESS_PER_WRITER:-25}
if [ "${1:-}" = "--debug" ]; then
  cargo build -q && BIN=$PWD/target/debug/casevault
else
  cargo build -q --release && BIN=$PWD/target/release/casevault
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export CASEVAULT_TEST_MODE=1 CASEVAULT_SCRYPT_LOG_N=2 CASEVAULT_LANG=en TMPDIR=$WORK
V=$WORK/vault
FAILS=0

cv() { # cv WHO ARGS... : run as WHO with their passphrase from the environment
  local who=$1; shift
  CASEVAULT_PASSPHRASE="$who-纸灯笼照河岸-stress" "$BIN" --vault "$V" --as "$who" "$@"
}
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
rand_sleep() { # up to $1 seconds
  sleep "$(awk -v m="$1" -v s="$RANDOM" 'BEGIN{srand(s); printf "%.3f", rand()*m}')"
}
# Run casevault as WHO with ARGS in the background and SIGKILL it at a random moment within
# $KILL_MAX seconds; prints "killed" when it was still running. `env` execs the binary, so the
# signal reaches casevault itself, not a shell around it.
kill_during() {
  local who=$1; shift
  env CASEVAULT_PASSPHRASE="$who-纸灯笼照河岸-stress" "$BIN" --vault "$V" --as "$who" "$@" >/dev/null 2>&1 &
  local pid=$!
  rand_sleep "$KILL_MAX"
  if kill -9 "$pid" 2>/dev/null; then echo killed; fi
  wait "$pid" 2>/dev/null
}
# Sets KILL_MAX to how long casevault as WHO with ARGS takes (run once, for real), so the kills
# land inside the command rather than after it.
measure() {
  local who=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  env CASEVAULT_PASSPHRASE="$who-纸灯笼照河岸-stress" "$BIN" --vault "$V" --as "$who" "$@" >/dev/null 2>&1
  t1=$(date +%s.%N)
  KILL_MAX=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)}')
}
check_vault() { # the vault opens for everyone and the log verifies
  cv li log verify >/dev/null 2>&1 || fail "$1: log verify"
  cv wang case list >/dev/null 2>&1 || fail "$1: caseworker cannot open"
  cv admin staff list >/dev/null 2>&1 || fail "$1: admin cannot open"
  find "$V" -name '*.tmp' -o -name '*casevault-tmp*' | grep -q . && fail "$1: temp files left in the vault"
}

# --- setup -------------------------------------------------------------------------------------
CASEVAULT_NEW_PASSPHRASE="admin-纸灯笼照河岸-stress" "$BIN" --vault "$V" init --agency Stress --admin admin \
  --recovery-shares 1/1 --recovery-out "$WORK/recovery.txt" >/dev/null || { echo "init failed"; exit 1; }
for s in li:supervisor wang:caseworker; do
  CASEVAULT_NEW_PASSPHRASE="${s%%:*}-纸灯笼照河岸-stress" cv admin staff add "${s%%:*}" --role "${s##*:}" >/dev/null
done
cv wang client add --number C1 --name Zhang --birth-date 1980-01-01 >/dev/null
cv wang case open C1 --source self >/dev/null
echo '{"client_number":"C1","date":"2026-01-02","session_aim":"aim","narrative":"stress"}' > "$WORK/rec.json"

# --- 1a. import --------------------------------------------------------------------------------
KILL_MAX=0.6
python3 - "$WORK/import.jsonl" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(20000):
        f.write(json.dumps({"type": "record", "case": 1, "kind": "process", "fields": {
            "client_number": "C1", "date": "2026-01-02", "session_aim": "a", "narrative": "n%d" % i}}) + "\n")
EOF
killed=0
for i in $(seq "$N"); do
  [ "$(kill_during li import "$WORK/import.jsonl" --batch 200)" = killed ] && killed=$((killed + 1))
  check_vault "import #$i"
done
cv li import "$WORK/import.jsonl" --batch 200 >/dev/null 2>&1 || fail "import does not complete after kills"
got=$(cv li --json record list --case 1 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$got" = 20000 ] || fail "import: $got records, expected 20000"
echo "import:       $N runs (kills within ${KILL_MAX}s), $killed killed mid-command, records after resume: $got"

# --- 1b. record add ----------------------------------------------------------------------------
measure wang record add --case 1 --kind process --fields "$WORK/rec.json"
killed=0
before=$((got + 1))
for i in $(seq "$N"); do
  [ "$(kill_during wang record add --case 1 --kind process --fields "$WORK/rec.json")" = killed ] && killed=$((killed + 1))
  check_vault "record add #$i"
done
after=$(cv li --json record list --case 1 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
last=$(cv li --json record list --case 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
cv li record show "$last" >/dev/null 2>&1 || fail "record add: the newest record does not open"
echo "record add:   $N runs (kills within ${KILL_MAX}s), $killed killed mid-command, records $before -> $after (each added or not, never broken)"

# --- 1c. referral export -----------------------------------------------------------------------
KEYS=$WORK/partner
cv admin --json agency keygen --out-dir "$KEYS" > "$WORK/keygen.json"
RCPT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["age_recipient"])' "$WORK/keygen.json")
cv admin agency add Partner --age-recipient "$RCPT" --minisign-pubkey "$KEYS/partner.minisign.pub" \
  --contact 021-555 >/dev/null
cv wang consent add --client C1 --agency Partner --signer client --signer-name Zhang \
  --purpose housing --kinds process --tiers 1,2 --revoke-how phone --signed 2026-01-01 \
  --expires 2030-01-01 >/dev/null || fail "consent add"
mkdir -p "$WORK/out"
measure wang referral export --case 1 --to Partner --consent 1 --purpose housing --records "$last" --out "$WORK/out/first.age"
killed=0
for i in $(seq "$N"); do
  out="$WORK/out/p$i.age"
  [ "$(kill_during wang referral export --case 1 --to Partner --consent 1 --purpose housing --records "$last" --out "$out")" = killed ] && killed=$((killed + 1))
  check_vault "export #$i"
  if [ -e "$out" ] && [ ! -e "$out.minisig" ]; then fail "export #$i: packet without signature"; fi
done
# Every logged export has its packet, or gets it from `referral resend` without a new entry.
rows=$(cv wang --json referral list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
entries=$(cv li --json log show --kind referral_export | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$rows" = "$entries" ] || fail "export: $rows referrals but $entries log entries"
resent=0
for id in $(cv wang --json referral list | python3 -c 'import json,sys; [print(r["id"]) for r in json.load(sys.stdin)]'); do
  f="$WORK/out/resend-$id.age"
  if cv wang referral resend "$id" --out "$f" >/dev/null 2>&1; then
    age -d -i "$KEYS/partner.agekey" "$f" | tar -t >/dev/null 2>&1 || fail "resend $id: stock age cannot open it"
    resent=$((resent + 1))
  else
    fail "resend $id"
  fi
done
entries2=$(cv li --json log show --kind referral_export | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$entries" = "$entries2" ] || fail "resend added disclosure entries ($entries -> $entries2)"
echo "export:       $N runs (kills within ${KILL_MAX}s), $killed killed mid-command, $rows logged referrals, all $resent re-sent without a new entry"

# --- 1d. offboarding ---------------------------------------------------------------------------
CASEVAULT_NEW_PASSPHRASE="y-纸灯笼照河岸-stress" cv admin staff add y --role caseworker >/dev/null 2>&1
measure admin staff remove y
killed=0
for i in $(seq "$N"); do
  CASEVAULT_NEW_PASSPHRASE="x$i-纸灯笼照河岸-stress" cv admin staff add "x$i" --role caseworker >/dev/null 2>&1 || fail "staff add x$i"
  [ "$(kill_during admin staff remove "x$i")" = killed ] && killed=$((killed + 1))
  check_vault "offboarding #$i"
  age -d -i "$WORK/recovery.txt" "$V/keys/dbkey.age" >/dev/null 2>&1 \
    || age -d -i "$WORK/recovery.txt" "$V/keys/dbkey.next.age" >/dev/null 2>&1 \
    || fail "offboarding #$i: the recovery key opens no key file"
done
cv admin staff rotate >/dev/null 2>&1 || fail "staff rotate after the kills"
pending=$(cv admin --json staff list | python3 -c 'import json,sys; print(sum(r["rotation_pending"] for r in json.load(sys.stdin)))')
[ "$pending" = 0 ] || fail "offboarding: $pending rotations still pending"
cv li --json record list --case 1 >/dev/null || fail "offboarding: records"
echo "offboarding:  $N runs (kills within ${KILL_MAX}s), $killed killed mid-command, pending after staff rotate: $pending"

# --- 2. writers + rekey ------------------------------------------------------------------------
cv wang client add --number C2 --name Li --birth-date 1980-01-01 >/dev/null
cid=$(cv wang --json case open C2 --source self | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
REC2='{"client_number":"C2","date":"2026-01-02","session_aim":"aim","narrative":"w"}'
saved=$WORK/saved
: > "$saved"
for w in $(seq "$WRITERS"); do
  (
    for j in $(seq "$PER_WRITER"); do
      if out=$(echo "$REC2" | cv wang --json record add --case "$cid" --kind process --fields - 2>/dev/null); then
        echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' >> "$saved"
      fi
    done
  ) &
done
rekeys=0
while [ "$(jobs -r | wc -l)" -gt 0 ]; do
  cv li rekey --case "$cid" >/dev/null 2>&1 && rekeys=$((rekeys + 1))
done
wait
cv li rekey --case "$cid" >/dev/null 2>&1 || fail "final rekey"
unreadable=0
while read -r id; do
  cv li record show "$id" >/dev/null 2>&1 || unreadable=$((unreadable + 1))
done < "$saved"
[ "$unreadable" = 0 ] || fail "rekey: $unreadable saved records unreadable"
echo "rekey:        $WRITERS writers, $(wc -l < "$saved") records saved, $rekeys rekeys meanwhile, unreadable: $unreadable"

echo "failures: $FAILS"
[ "$FAILS" = 0 ]
