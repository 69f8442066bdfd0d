//! The README written into every export (kept apart so the text is easy to edit).

/// Markdown text of `README.md` in an export directory.
pub const README: &str = r#"# casevault disclosure log export

This directory is a complete copy of an agency's disclosure log. It contains no client
identities: clients and cases appear only as keyed hashes (HMAC-SHA256) that only the
agency's vault can compute.

Files:

- `entries.bin`: every log entry in order. A sequence of records, each
  `u32 big-endian length ‖ stored entry`, where a stored entry is the canonical entry bytes
  (format v1) followed by the 64-byte Ed25519 signature of the acting staff member over
  `"casevault disclosure-log entry v1\n" ‖ entry bytes`.
- `checkpoints.bin`: the agency-signed checkpoints kept by the vault, same record framing,
  each a C2SP signed note (c2sp.org/tlog-checkpoint): `<origin>\n<size>\n<base64 root>\n`,
  a blank line, and `— <origin> <base64(key id ‖ signature)>`.
- `checkpoint.txt`: the latest checkpoint, which must cover every entry.
- `verifier-key.txt`: the agency's verifier key `<origin>+<key id>+<base64(0x01 ‖ key)>`.
  Do not trust this copy: obtain the key from the agency through another channel.
- `checkpoint-keys.txt`: later checkpoint keys (the key rotates when a supervisor leaves).
  A key here counts only from a checkpoint signed by the key before it and by it (two
  signature lines under the origin); after that, a checkpoint signed only by an older key is
  refused.

The tree is RFC 6962: leaf hash `SHA-256(0x00 ‖ stored entry)`, node hash
`SHA-256(0x01 ‖ left ‖ right)`, empty root `SHA-256("")`.

To verify: `casevault log verify --export <dir> --key '<verifier key>' [--checkpoint earlier.txt]`
(no vault and no passphrase needed).
Pass any checkpoint you received earlier (for example from a referral packet's receipt): if
the log was truncated or rewritten since, verification fails there.

The full byte layout is in the casevault documentation, `docs/disclosure-log.md`.
"#;
