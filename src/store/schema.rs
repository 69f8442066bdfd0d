//! The database schema, as numbered migrations applied in order (`PRAGMA user_version`).
//! A migration is never edited once released; add a new one instead.

/// Migration 1: the vault core.
const V1: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE staff (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    age_recipient TEXT NOT NULL,
    verify_key    BLOB NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1,
    added_at      INTEGER NOT NULL,
    added_by      TEXT NOT NULL,
    removed_at    INTEGER
);
CREATE TABLE clients (
    id          INTEGER PRIMARY KEY,
    number      TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    birth_date  TEXT,
    gender      TEXT NOT NULL,
    phone       TEXT NOT NULL,
    address     TEXT NOT NULL,
    id_number   TEXT NOT NULL,
    guardians   TEXT NOT NULL,
    risk        TEXT NOT NULL,
    category    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL
);
CREATE INDEX clients_name ON clients(name);
CREATE TABLE cases (
    id         INTEGER PRIMARY KEY,
    client_id  INTEGER NOT NULL REFERENCES clients(id),
    source     TEXT NOT NULL,
    stage      TEXT NOT NULL,
    opened_at  INTEGER NOT NULL,
    opened_by  TEXT NOT NULL,
    closed_at  INTEGER
);
CREATE INDEX cases_client ON cases(client_id);
CREATE TABLE assignments (
    case_id     INTEGER NOT NULL REFERENCES cases(id),
    staff       TEXT NOT NULL REFERENCES staff(name),
    assigned_at INTEGER NOT NULL,
    PRIMARY KEY (case_id, staff)
) WITHOUT ROWID;
CREATE INDEX assignments_staff ON assignments(staff);
CREATE TABLE case_keys (
    case_id    INTEGER NOT NULL REFERENCES cases(id),
    epoch      INTEGER NOT NULL,
    tier       INTEGER NOT NULL,
    recipient  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (case_id, epoch, tier)
) WITHOUT ROWID;
CREATE TABLE key_wraps (
    case_id  INTEGER NOT NULL REFERENCES cases(id),
    epoch    INTEGER NOT NULL,
    holder   TEXT NOT NULL,
    tiers    TEXT NOT NULL,
    wrapped  BLOB NOT NULL,
    PRIMARY KEY (case_id, epoch, holder)
) WITHOUT ROWID;
CREATE INDEX key_wraps_holder ON key_wraps(holder);
CREATE TABLE records (
    id         INTEGER PRIMARY KEY,
    case_id    INTEGER NOT NULL REFERENCES cases(id),
    kind       TEXT NOT NULL,
    tier       INTEGER NOT NULL,
    epoch      INTEGER NOT NULL,
    author     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    amends     INTEGER REFERENCES records(id),
    body       BLOB NOT NULL,
    signature  BLOB NOT NULL
);
CREATE INDEX records_case ON records(case_id);
CREATE TABLE record_reads (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    staff     TEXT NOT NULL,
    record_id INTEGER NOT NULL,
    case_id   INTEGER NOT NULL,
    assigned  INTEGER NOT NULL
);
CREATE TABLE imports (
    file_sha256 BLOB PRIMARY KEY,
    lines_done  INTEGER NOT NULL,
    batches     INTEGER NOT NULL
);
"#;

/// Migration 3: partner agencies, consents, referrals, tier-3 approvals, imported packets.
/// Consents and referrals are metadata (no record content); a consent's scanned form is age
/// ciphertext to its case's tier-2 key, like a record body.
const V3: &str = r#"
CREATE TABLE agencies (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    age_recipient   TEXT NOT NULL,
    minisign_pubkey TEXT NOT NULL,
    contact         TEXT NOT NULL,
    active          INTEGER NOT NULL DEFAULT 1,
    added_at        INTEGER NOT NULL,
    added_by        TEXT NOT NULL
);
CREATE TABLE consents (
    id          INTEGER PRIMARY KEY,
    client_id   INTEGER NOT NULL REFERENCES clients(id),
    agency_id   INTEGER NOT NULL REFERENCES agencies(id),
    data        TEXT NOT NULL,
    revoked_on  TEXT,
    revoked_via TEXT,
    form_case   INTEGER REFERENCES cases(id),
    form_epoch  INTEGER,
    form_tier   INTEGER,
    form        BLOB,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL
);
CREATE INDEX consents_client ON consents(client_id);
CREATE TABLE referral_approvals (
    consent_id  INTEGER NOT NULL REFERENCES consents(id),
    record_id   INTEGER NOT NULL REFERENCES records(id),
    case_id     INTEGER NOT NULL REFERENCES cases(id),
    approver    TEXT NOT NULL,
    approved_at INTEGER NOT NULL,
    PRIMARY KEY (consent_id, record_id)
) WITHOUT ROWID;
CREATE TABLE referrals (
    id             INTEGER PRIMARY KEY,
    case_id        INTEGER NOT NULL REFERENCES cases(id),
    agency_id      INTEGER NOT NULL REFERENCES agencies(id),
    consent_id     INTEGER NOT NULL REFERENCES consents(id),
    purpose        TEXT NOT NULL,
    records        TEXT NOT NULL,
    approver       TEXT,
    packet_id      TEXT NOT NULL UNIQUE,
    content_sha256 TEXT NOT NULL,
    packet_sha256  TEXT,
    log_index      INTEGER NOT NULL,
    status         TEXT NOT NULL,
    reason         TEXT,
    sent_at        INTEGER NOT NULL,
    sent_by        TEXT NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX referrals_case ON referrals(case_id);
CREATE TABLE packet_imports (
    packet_id     TEXT PRIMARY KEY,
    packet_sha256 TEXT NOT NULL UNIQUE,
    agency_id     INTEGER NOT NULL REFERENCES agencies(id),
    case_id       INTEGER NOT NULL REFERENCES cases(id),
    imported_at   INTEGER NOT NULL,
    imported_by   TEXT NOT NULL
);
"#;

/// Migration 4: data-subject and partner requests.
const V4_REQUESTS: &str = r#"
CREATE TABLE requests (
    id             INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL,
    client_id      INTEGER NOT NULL REFERENCES clients(id),
    requester      TEXT NOT NULL,
    authority      TEXT NOT NULL,
    identity_check TEXT NOT NULL,
    received       TEXT NOT NULL,
    due            TEXT NOT NULL,
    record_id      INTEGER REFERENCES records(id),
    status         TEXT NOT NULL,
    response       TEXT NOT NULL DEFAULT '',
    withheld       TEXT NOT NULL DEFAULT '[]',
    amendment_id   INTEGER REFERENCES records(id),
    statement_id   INTEGER REFERENCES records(id),
    log_index      INTEGER,
    created_at     INTEGER NOT NULL,
    created_by     TEXT NOT NULL,
    closed_at      INTEGER,
    closed_by      TEXT
);
CREATE INDEX requests_client ON requests(client_id);
CREATE INDEX requests_status_due ON requests(status, due);
"#;

/// Migration 5: record attachments. Each row is one attachment's bytes, age-encrypted to the
/// same case-tier key as its record (`epoch` says which key epoch). Name, size and SHA-256 live
/// only inside the record's signed, encrypted payload; `seq` is the position there.
const V5_ATTACHMENTS: &str = r#"
CREATE TABLE attachments (
    id        INTEGER PRIMARY KEY,
    record_id INTEGER NOT NULL REFERENCES records(id),
    seq       INTEGER NOT NULL,
    epoch     INTEGER NOT NULL,
    body      BLOB NOT NULL,
    UNIQUE (record_id, seq)
);
"#;

/// Migration 6: the moment a consent was revoked (Unix seconds), beside the date kept for
/// display. Rows revoked before this migration keep only the date: the domain treats those as
/// revoked from the start of that day (UTC).
const V6_REVOKED_AT: &str = r#"
ALTER TABLE consents ADD COLUMN revoked_at INTEGER;
"#;

/// Migration 7: what rebuilding a committed disclosure needs (`referral resend`, `request
/// resend`): a packet's manifest time, and an access package's inputs (cases, records and
/// accounting entries as ids, the lookback window, the generation time, the recipient key).
const V7_RESEND: &str = r#"
ALTER TABLE referrals ADD COLUMN created_unix INTEGER;
CREATE TABLE access_packages (
    request_id     INTEGER PRIMARY KEY REFERENCES requests(id),
    log_index      INTEGER NOT NULL,
    plain_sha256   TEXT NOT NULL,
    generated_at   INTEGER NOT NULL,
    lookback_years INTEGER NOT NULL,
    lookback_from  TEXT NOT NULL,
    cases          TEXT NOT NULL,
    records        TEXT NOT NULL,
    disclosures    TEXT NOT NULL,
    recipient      TEXT
);
"#;

/// Migration 8: the signed authority behind security rows (`vault::authority`). Each row is a
/// statement (canonical JSON) whose SHA-256 a log entry at `log_index` carries, signed by the
/// person entitled to make it; `subject` names what it is about (`epoch/<case>/<n>`,
/// `assign/<case>/<staff>`, `consent/<id>`, `revoked/<id>`). `records.commit_index` names the
/// log entry committing the batch a record was written in.
const V8_AUTHORITY: &str = r#"
CREATE TABLE authority (
    subject   TEXT PRIMARY KEY,
    log_index INTEGER NOT NULL,
    statement BLOB NOT NULL
) WITHOUT ROWID;
ALTER TABLE records ADD COLUMN commit_index INTEGER;
"#;

/// Migration 9: the supervisor key: the top (supervisor-only) tier of every case epoch is
/// encrypted to it, and only supervisors (and the recovery key) hold it, each generation
/// wrapped to each of them. A caseworker making a case epoch never holds a top-tier secret.
const V9_SUPERVISOR_KEYS: &str = r#"
CREATE TABLE supervisor_keys (
    generation INTEGER NOT NULL,
    holder     TEXT NOT NULL,
    wrapped    BLOB NOT NULL,
    PRIMARY KEY (generation, holder)
) WITHOUT ROWID;
"#;

/// Migration 10: witness cosignatures (issue 11 item 2, `docs/witness.md`). `cosignatures`
/// keeps each witness's cosignature line with the checkpoint body it signs (the vault keeps
/// only some checkpoint notes, so the body is stored beside the line); `witness_state` the
/// tree size each witness last cosigned, from which the next consistency proof starts.
const V10_WITNESS: &str = r#"
CREATE TABLE cosignatures (
    size    INTEGER NOT NULL,
    witness TEXT NOT NULL,
    body    TEXT NOT NULL,
    line    TEXT NOT NULL,
    PRIMARY KEY (size, witness)
) WITHOUT ROWID;
CREATE TABLE witness_state (
    witness TEXT PRIMARY KEY,
    size    INTEGER NOT NULL
) WITHOUT ROWID;
"#;

/// Migration 11: caseworkers' exports waiting for a supervisor's release (only supervisors
/// hold the packet key).
const V11_RELEASES: &str = r#"
CREATE TABLE referral_releases (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id      INTEGER NOT NULL,
    request      TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at INTEGER NOT NULL
);
"#;

/// Migration 12 (issue 11 item 4; applied after witness = 10 and agency keys = 11 once merged):
/// the checkpoints each partner agency's receipts and consistency proofs showed us, one per
/// log size. `note` is the partner's signed checkpoint, checked again under its recorded log
/// key on every use; `proved` = 1 when it is on one history with the first one remembered
/// (that one, or linked to a proved one by a consistency proof).
const V12_PARTNER_CHECKPOINTS: &str = r#"
CREATE TABLE partner_checkpoints (
    agency_id INTEGER NOT NULL REFERENCES agencies(id),
    size      INTEGER NOT NULL,
    note      TEXT NOT NULL,
    proved    INTEGER NOT NULL,
    seen_at   INTEGER NOT NULL,
    PRIMARY KEY (agency_id, size)
) WITHOUT ROWID;
"#;

/// Migration 13 (issue 13 item 5): indexes for the list screens at 100,000 records. The
/// supervisor's queue asked for unread supervisor-only notes (newest first) and cases with a
/// closing summary by scanning every record row (bodies included) and, per note, every read;
/// the attention list's newest record of a kind per case scanned the whole case. Indexes only:
/// no row changes, and the pinned schema (`pinned.rs`) includes them like any other object.
const V13_LIST_INDEXES: &str = r#"
CREATE INDEX records_tier_time ON records(tier, created_at);
CREATE INDEX records_kind_case ON records(kind, case_id);
CREATE INDEX record_reads_record ON record_reads(record_id);
"#;

/// All migrations, oldest first. 2: the disclosure log; 3: consents and referrals;
/// 4: requests; 5: record attachments; 6: consent revocation moment; 7: inputs for resending
/// a disclosure; 8: signed authority; 9: supervisor keys; 10: witness cosignatures;
/// 11: release requests; 12: partner checkpoints; 13: list-screen indexes.
pub const MIGRATIONS: &[&str] = &[
    V1,
    crate::log::SCHEMA,
    V3,
    V4_REQUESTS,
    V5_ATTACHMENTS,
    V6_REVOKED_AT,
    V7_RESEND,
    V8_AUTHORITY,
    V9_SUPERVISOR_KEYS,
    V10_WITNESS,
    V11_RELEASES,
    V12_PARTNER_CHECKPOINTS,
    V13_LIST_INDEXES,
];
