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

/// Migration "V4": data-subject and partner requests (issue 5). Issue 4 adds a V3 (consents,
/// agencies, referrals) in parallel; the two are ordered when both are merged.
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

/// All migrations, oldest first. Migration 2 is the disclosure log's tables; then requests.
pub const MIGRATIONS: &[&str] = &[V1, crate::log::SCHEMA, V4_REQUESTS];
