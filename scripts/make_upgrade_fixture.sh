#!/usr/bin/env bash
# Makes tests/fixtures/pre-checkpoint-key/: a small test vault written by the binary of commit
# cc44db4 (the last one that kept the log's checkpoint key in `meta.log_signing_key`), made
# the way tests/common's TestVault makes one, with the test passphrases. No real data.
#
#   git -C /work/main worktree add /work/wt/oldbin cc44db4
#   (cd /work/wt/oldbin && CARGO_TARGET_DIR=$PWD/../upgrade/target-old cargo build)
#   scripts/make_upgrade_fixture.sh target-old/debug/casevault tests/fixtures/pre-checkpoint-key
#
# The test (tests/upgrade_checkpoint_key.rs) copies the result to a temporary folder and
# restores the modes (0600 files, 0700 folders) before using it.
set -euo pipefail

BIN=$(realpath "$1")
OUT=$2
[ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT/tmp"
OUT=$(realpath "$OUT")
V=$OUT/vault

ADMIN_PW="admin passphrase: amber kettle orbit"
pw() { echo "$1 pw: velvet harbour lantern"; }

# The environment of tests/common's `cmd`.
cv() {
	env -i PATH="$PATH" CASEVAULT_TEST_MODE=1 CASEVAULT_SCRYPT_LOG_N=2 CASEVAULT_LANG=en \
		TMPDIR="$OUT/tmp" CASEVAULT_STATE_DIR="$OUT/state" "$@"
}
# as WHO ARGS...: a command as a member with their passphrase in the environment.
as() {
	local who=$1 p
	shift
	if [ "$who" = admin ]; then p=$ADMIN_PW; else p=$(pw "$who"); fi
	cv CASEVAULT_PASSPHRASE="$p" "$BIN" --vault "$V" --as "$who" "$@"
}

cv CASEVAULT_NEW_PASSPHRASE="$ADMIN_PW" "$BIN" --vault "$V" init --agency "Test Agency" \
	--admin admin --recovery-shares 1/1 --recovery-out "$OUT/recovery.txt" >/dev/null

# TestVault::add_staff: invite, enrol, (endorse), approve.
for nr in li:supervisor wang:caseworker chen:caseworker audit:auditor; do
	n=${nr%%:*} r=${nr#*:}
	tok=$(as admin --json staff add "$n" --role "$r" | jq -r .invitation)
	fp=$(cv CASEVAULT_NEW_PASSPHRASE="$(pw "$n")" "$BIN" --vault "$V" --json staff enrol \
		--invite "$tok" </dev/null | jq -r .fingerprint)
	as admin staff approve "$n" --fingerprint "$fp" >/dev/null
done
# The supervisor's first session makes the supervisor key new case epochs need.
as li case list >/dev/null

# A client, a case, records, a supervision note.
as wang client add --number C001 --name "Zhang San" >/dev/null
case=$(as wang --json case open C001 | jq -r .id)
for t in "first session" "second session: housing search"; do
	jq -nc --arg t "$t" '{client_number:"any",date:"2026-11-20",session_aim:"check in",narrative:$t}' |
		as wang --json record add --case "$case" --kind process --fields - >/dev/null
done
jq -nc '{date:"2026-11-20",topic:"supervision: risk review"}' |
	as li --json record add --case "$case" --kind supervision --fields - >/dev/null

# A partner agency (TestVault::partner), a consent, a referral packet released by li.
keys=$OUT/keys-Partner
rcpt=$(as admin --json agency keygen --out-dir "$keys" | jq -r .age_recipient)
as admin agency add Partner --age-recipient "$rcpt" --minisign-pubkey "$keys/partner.minisign.pub" \
	--contact 021-555 >/dev/null
consent=$(as wang --json consent add --client C001 --agency Partner --signer client \
	--signer-name "Zhang San" --purpose "housing support" --kinds process --tiers 1,2 \
	--revoke-how "call 021-123" --signed 2025-01-01 --expires 2099-12-31 | jq -r .id)
req=$(as wang --json referral export --case "$case" --to Partner --consent "$consent" \
	--purpose "housing support" --out "$OUT/packet.age" | jq -r .release_request)
digest=$(as li --json referral pending | jq -r ".[] | select(.id == $req) | .digest")
as li --json referral release "$req" --digest "$digest" --out "$OUT/packet.age" >/dev/null
# What the partner pinned: our agency's packet key.
as admin --json agency key --out "$OUT/agency.pub" >"$OUT/agency.json"

# One more record after the release.
jq -nc '{client_number:"any",date:"2026-11-21",session_aim:"check in",narrative:"third session"}' |
	as wang --json record add --case "$case" --kind process --fields - >/dev/null

# The pinned log key and an export of the log (as the auditor).
as audit log key >"$OUT/log.key"
as audit log export --out "$OUT/log-export" >/dev/null
as audit log verify >/dev/null

rm -rf "$OUT/tmp"
du -sh "$OUT"
