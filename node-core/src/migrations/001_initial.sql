-- Passerelle node store, version 1.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

-- The institution's own records.
CREATE TABLE persons (
    avs        TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    birth_date TEXT NOT NULL
) STRICT;

CREATE TABLE record_fields (
    avs      TEXT NOT NULL,
    category TEXT NOT NULL,
    field    TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (avs, category, field)
) STRICT;

CREATE TABLE staff (
    staff_id   TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    key        BLOB NOT NULL UNIQUE,
    issued_by  TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

-- Coordinated cases: the signed history is the source of truth; person is kept to list cases.
CREATE TABLE cases (
    case_id BLOB PRIMARY KEY,
    person  TEXT NOT NULL,
    history BLOB NOT NULL
) STRICT;
CREATE INDEX cases_person ON cases (person);

-- Request ids already answered, per requester, for replay refusal.
CREATE TABLE seen_requests (
    request_id BLOB PRIMARY KEY,
    requester  TEXT NOT NULL,
    seen_at    INTEGER NOT NULL
) STRICT;

-- Summaries received, kept sealed exactly as they arrived.
CREATE TABLE summaries (
    summary_id   BLOB PRIMARY KEY,
    case_id      BLOB NOT NULL,
    source       TEXT NOT NULL,
    request      BLOB NOT NULL,
    disclosure   BLOB NOT NULL,
    requested_by TEXT NOT NULL,
    received_at  INTEGER NOT NULL
) STRICT;

-- Messages to peers that could not be delivered yet.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient    TEXT NOT NULL,
    message      BLOB NOT NULL,
    staff        TEXT,
    created_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL
) STRICT;

-- The transparency log: entries in order, with their RFC 6962 leaf hashes.
CREATE TABLE log_entries (
    idx       INTEGER PRIMARY KEY,
    entry     BLOB NOT NULL,
    leaf_hash BLOB NOT NULL
) STRICT;

-- Every checkpoint this node signed; the newest bounds what it may sign next.
CREATE TABLE checkpoints (
    size INTEGER PRIMARY KEY,
    root BLOB NOT NULL,
    note TEXT NOT NULL
) STRICT;
