#!/usr/bin/env bash
# Before/after timings of the casevault CLI for issue 10 (signed authority), measured as pairs
# in one run: each pair runs the "before" and the "after" binary back to back, alternating which
# goes first, so load changes on the shared machine hit both sides alike.
#
#   scripts/bench_before_after.sh BEFORE_BIN AFTER_BIN
#
# 1. `record show` of a tier-2 (process) record as its caseworker, small vault on disk:
#    wall and CPU time of the whole CLI process, N_SHOW pairs (30) after 3 warm-up pairs.
# 2. `import` of RECORDS (100,000) process records (plus RECORDS/10 clients and cases) as a
#    supervisor into a fresh vault, batches of 1000: CPU time (user + sys) from /usr/bin/time,
#    N_IMPORT pairs (3). The JSONL file and these vaults live on tmpfs (BENCH_TMP, default
#    /dev/shm/...): they are larger than 100 MB, and the budget is about CPU time.
# 3. `audit run` as the auditor on the last imported vaults: wall and CPU, N_AUDIT pairs (5).
#
# The passphrase KDF runs at test cost (CASEVAULT_TEST_MODE=1, CASEVAULT_SCRYPT_LOG_N=2), so it
# does not dominate. The vault is created the way each version does it: `staff add --role`
# with CASEVAULT_NEW_PASSPHRASE before issue 10; invitation, `staff enrol`, `staff approve`
# after it (detected from `staff enrol --help`).
#
# Knobs: N_SHOW, N_IMPORT, N_AUDIT, RECORDS, SKIP_IMPORT=1 (only `record show`), OUT, BENCH_TMP.
# Output: one line per measurement in $OUT/raw.tsv, and a summary (median, min-max, ratio
# after/before of the medians, median and range of the per-pair ratios) on stdout.
set -euo pipefail

BEFORE=$(realpath "${1:?usage: $0 BEFORE_BIN AFTER_BIN}")
AFTER=$(realpath "${2:?usage: $0 BEFORE_BIN AFTER_BIN}")
N_SHOW=${N_SHOW:-30}
N_IMPORT=${N_IMPORT:-3}
N_AUDIT=${N_AUDIT:-5}
RECORDS=${RECORDS:-100000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/target/bench-before-after}   # small vaults and results, on disk
BENCH_TMP=${BENCH_TMP:-/dev/shm/casevault-bench-before-after}

ADMIN_PW="admin passphrase: amber kettle orbit"
pw() { if [ "$1" = admin ]; then echo "$ADMIN_PW"; else echo "$1 pw: velvet harbour lantern"; fi; }

rm -rf "$OUT" "$BENCH_TMP"
mkdir -p "$OUT/tmp" "$BENCH_TMP/tmp"
chmod 700 "$OUT" "$BENCH_TMP"
RAW=$OUT/raw.tsv
printf 'what\tpair\tversion\twall_s\tcpu_s\n' >"$RAW"

# The binary with test settings, as nobody (no --as): cv BIN VAULT [VAR=VALUE...] -- ARGS...
cv_env() {
    local bin=$1 vault=$2
    shift 2
    local vars=()
    while [ "$1" != "--" ]; do
        vars+=("$1")
        shift
    done
    shift
    env -i PATH="$PATH" CASEVAULT_TEST_MODE=1 CASEVAULT_SCRYPT_LOG_N=2 CASEVAULT_LANG=en \
        TMPDIR="$(dirname "$vault")/tmp" "${vars[@]}" "$bin" --vault "$vault" "$@" </dev/null
}
# As a staff member: cv BIN VAULT WHO ARGS...
cv() {
    local bin=$1 vault=$2 who=$3
    shift 3
    cv_env "$bin" "$vault" CASEVAULT_PASSPHRASE="$(pw "$who")" -- --as "$who" "$@"
}

new_flow() { "$1" staff enrol --help >/dev/null 2>&1; }

add_staff() {
    local bin=$1 vault=$2 name=$3 role=$4
    if new_flow "$bin"; then
        local tok fp
        tok=$(cv "$bin" "$vault" admin --json staff add "$name" --role "$role" | jq -r .invitation)
        fp=$(cv_env "$bin" "$vault" CASEVAULT_NEW_PASSPHRASE="$(pw "$name")" -- \
            --json staff enrol --invite "$tok" | jq -r .fingerprint)
        # Only the first supervisor (li) is added here: it needs no endorsement.
        cv "$bin" "$vault" admin staff approve "$name" --fingerprint "$fp" >/dev/null
    else
        cv_env "$bin" "$vault" CASEVAULT_PASSPHRASE="$ADMIN_PW" \
            CASEVAULT_NEW_PASSPHRASE="$(pw "$name")" -- \
            --as admin staff add "$name" --role "$role" >/dev/null
    fi
}

# new_vault BIN VAULT: admin, supervisor li, caseworker wang, auditor audit.
new_vault() {
    local bin=$1 vault=$2
    mkdir -p "$(dirname "$vault")/tmp"
    cv_env "$bin" "$vault" CASEVAULT_NEW_PASSPHRASE="$ADMIN_PW" -- \
        init --agency "Bench Agency" --admin admin \
        --recovery-out "$(dirname "$vault")/recovery.txt" >/dev/null
    add_staff "$bin" "$vault" li supervisor
    add_staff "$bin" "$vault" wang caseworker
    add_staff "$bin" "$vault" audit auditor
    # The supervisor's first session makes the supervisor key (versions that have one).
    cv "$bin" "$vault" li case list >/dev/null
}

now() { echo "${EPOCHREALTIME/,/.}"; }

# ---------------------------------------------------------------- 1. record show
declare -A SHOW_VAULT SHOW_ID BIN
BIN[before]=$BEFORE
BIN[after]=$AFTER
for v in before after; do
    vault=$OUT/show-$v/vault
    new_vault "${BIN[$v]}" "$vault"
    cv "${BIN[$v]}" "$vault" wang client add --number C001 --name 张三 >/dev/null
    case_id=$(cv "${BIN[$v]}" "$vault" wang --json case open C001 | jq -r .id)
    fields='{"client_number":"C001","date":"2026-11-20","session_aim":"check in","narrative":"'
    fields+=$(printf 'family school support plan %.0s' $(seq 30))'"}'
    for _ in 1 2 3 4 5; do
        id=$(printf '%s' "$fields" | env -i PATH="$PATH" CASEVAULT_TEST_MODE=1 \
            CASEVAULT_SCRYPT_LOG_N=2 CASEVAULT_LANG=en TMPDIR="$OUT/show-$v/tmp" \
            CASEVAULT_PASSPHRASE="$(pw wang)" "${BIN[$v]}" --vault "$vault" --as wang --json \
            record add --case "$case_id" --kind process --fields - | jq -r .id)
    done
    SHOW_VAULT[$v]=$vault
    SHOW_ID[$v]=$id
done

# CPU seconds (user + sys) of this shell's reaped children, from the `times` builtin (1 ms
# resolution) written by the shell itself, so no extra child is counted in between.
children_cpu() { awk 'NR==2{split($1,u,"m"); split($2,s,"m"); print u[1]*60+u[2] + s[1]*60+s[2]}' "$1"; }
show_once() { # show_once VERSION PAIR
    local v=$1 t0 t1
    times >"$OUT/times0"
    t0=$(now)
    cv "${BIN[$v]}" "${SHOW_VAULT[$v]}" wang record show "${SHOW_ID[$v]}" >/dev/null
    t1=$(now)
    times >"$OUT/times1"
    [ "$2" -gt 0 ] || return 0
    printf 'show\t%d\t%s\t%s\t%s\n' "$2" "$v" "$(awk "BEGIN{print $t1 - $t0}")" \
        "$(awk "BEGIN{print $(children_cpu "$OUT/times1") - $(children_cpu "$OUT/times0")}")" >>"$RAW"
}
echo "record show: 3 warm-up pairs, then $N_SHOW pairs" >&2
for i in 0 0 0 $(seq "$N_SHOW"); do
    if [ $((i % 2)) -eq 1 ]; then order="before after"; else order="after before"; fi
    for v in $order; do show_once "$v" "$i"; done
done

if [ "${SKIP_IMPORT:-0}" != 1 ]; then # SKIP_IMPORT=1: `record show` only
# ---------------------------------------------------------------- 2. import
JSONL=$BENCH_TMP/import.jsonl
echo "generating $RECORDS records in $JSONL" >&2
python3 - "$RECORDS" "$JSONL" <<'EOF'
import json, sys
records, path = int(sys.argv[1]), sys.argv[2]
words = ("family school contact support mother teacher session goal progress housing income "
         "worry plan follow call visit group skills sleep friends work health neighbour safety").split()
given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰文辉建红鑫宇浩凯佳欣怡晨子轩"
surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
x = 0x9E3779B97F4A7C15
def rnd(n):  # xorshift64*, deterministic
    global x
    x ^= x >> 12; x ^= (x << 25) & 0xFFFFFFFFFFFFFFFF; x ^= x >> 27
    return ((x * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF) % n
with open(path, "w", encoding="utf-8") as f:
    for i in range(records // 10):
        num = f"C{i:06}"
        name = surnames[rnd(20)] + given[rnd(40)] + given[rnd(40)]
        f.write(json.dumps({"type": "client", "number": num, "name": name}, ensure_ascii=False) + "\n")
        f.write(json.dumps({"type": "case", "client": num, "source": "outreach"}) + "\n")
        for j in range(10):
            text, n = [], 0
            while n < 880:  # ~1 KiB of content JSON per record, as in benches/vault.rs
                w = words[rnd(len(words))]
                text.append(w)
                n += len(w) + 1
            fields = {"client_number": num, "date": f"2026-{1 + j % 12:02}-{1 + j % 28:02}",
                      "session_aim": f"session {j + 1} aim: review the plan",
                      "narrative": " ".join(text)[:880]}
            f.write(json.dumps({"type": "record", "client": num, "kind": "process",
                                "fields": fields}) + "\n")
EOF
chmod 600 "$JSONL"
ls -l "$JSONL" >&2

import_once() { # import_once VERSION PAIR
    local v=$1 vault=$BENCH_TMP/import-$1/vault tf=$BENCH_TMP/time-$1
    /usr/bin/time -f '%e %U %S' -o "$tf" env -i PATH="$PATH" CASEVAULT_TEST_MODE=1 \
        CASEVAULT_SCRYPT_LOG_N=2 CASEVAULT_LANG=en TMPDIR="$BENCH_TMP/import-$v/tmp" \
        CASEVAULT_PASSPHRASE="$(pw li)" "${BIN[$v]}" --vault "$vault" --as li \
        import "$JSONL" --batch 1000 >/dev/null </dev/null
    read -r e u s <"$tf"
    printf 'import\t%d\t%s\t%s\t%s\n' "$2" "$v" "$e" "$(awk "BEGIN{print $u + $s}")" >>"$RAW"
    echo "  import pair $2 $v: wall $e s, user $u s, sys $s s" >&2
}
for i in $(seq "$N_IMPORT"); do
    for v in before after; do
        rm -rf "$BENCH_TMP/import-$v"
        new_vault "${BIN[$v]}" "$BENCH_TMP/import-$v/vault"
    done
    if [ $((i % 2)) -eq 1 ]; then order="before after"; else order="after before"; fi
    for v in $order; do import_once "$v" "$i"; done
done

# ---------------------------------------------------------------- 3. audit run
audit_once() { # audit_once VERSION PAIR
    local v=$1 tf=$BENCH_TMP/time-$1 rc=0
    /usr/bin/time -f '%e %U %S' -o "$tf" env -i PATH="$PATH" CASEVAULT_TEST_MODE=1 \
        CASEVAULT_SCRYPT_LOG_N=2 CASEVAULT_LANG=en TMPDIR="$BENCH_TMP/import-$v/tmp" \
        CASEVAULT_PASSPHRASE="$(pw audit)" "${BIN[$v]}" --vault "$BENCH_TMP/import-$v/vault" \
        --as audit audit run --format json >"$BENCH_TMP/audit-$v.json" </dev/null || rc=$?
    # 0 = clean, 1 = findings; 2 = could not run (a failed bench).
    if [ "$rc" -gt 1 ]; then
        echo "audit run ($v) failed with exit $rc" >&2
        exit 1
    fi
    read -r e u s < <(tail -n1 "$tf")
    [ "$2" -gt 0 ] || return 0
    printf 'audit\t%d\t%s\t%s\t%s\n' "$2" "$v" "$e" "$(awk "BEGIN{print $u + $s}")" >>"$RAW"
}
echo "audit run: 1 warm-up pair, then $N_AUDIT pairs" >&2
for i in 0 $(seq "$N_AUDIT"); do
    if [ $((i % 2)) -eq 1 ]; then order="before after"; else order="after before"; fi
    for v in $order; do audit_once "$v" "$i"; done
done

fi

# ---------------------------------------------------------------- summary
python3 - "$RAW" "$RECORDS" <<'EOF'
import csv, statistics as st, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
def pairs(what, col):
    d = {}
    for r in rows:
        if r["what"] == what and r[col]:
            d.setdefault(int(r["pair"]), {})[r["version"]] = float(r[col])
    return [(p["before"], p["after"]) for _, p in sorted(d.items()) if len(p) == 2]
def line(label, ps, unit, scale):
    if not ps:
        return
    b = [p[0] * scale for p in ps]; a = [p[1] * scale for p in ps]
    rat = [p[1] / p[0] for p in ps]
    mb, ma = st.median(b), st.median(a)
    print(f"| {label} | {len(ps)} | {mb:.2f} {unit} ({min(b):.2f}-{max(b):.2f}) "
          f"| {ma:.2f} {unit} ({min(a):.2f}-{max(a):.2f}) | {ma - mb:+.2f} {unit} "
          f"| {ma / mb:.3f} | {st.median(rat):.3f} ({min(rat):.3f}-{max(rat):.3f}) |")
print("| measurement | pairs | before: median (range) | after: median (range) | after - before "
      "| ratio of medians | per-pair ratio: median (range) |")
print("|---|---|---|---|---|---|---|")
line("`record show`, wall", pairs("show", "wall_s"), "ms", 1000)
line("`record show`, CPU (user+sys)", pairs("show", "cpu_s"), "ms", 1000)
n = f"{int(sys.argv[2]):,}"
line(f"`import` {n} records, CPU (user+sys)", pairs("import", "cpu_s"), "s", 1)
line(f"`import` {n} records, wall", pairs("import", "wall_s"), "s", 1)
line("`audit run`, wall", pairs("audit", "wall_s"), "s", 1)
line("`audit run`, CPU (user+sys)", pairs("audit", "cpu_s"), "s", 1)
EOF
echo "raw data: $RAW" >&2
