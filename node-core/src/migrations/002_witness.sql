-- Witnessing: what this node cosigned for each peer log, how far each of its own witnesses
-- has cosigned, and inconsistent checkpoints kept as evidence.
CREATE TABLE witness_state (
    origin TEXT PRIMARY KEY,
    size   INTEGER NOT NULL,
    root   BLOB NOT NULL,
    note   TEXT NOT NULL
) STRICT;

CREATE TABLE witness_progress (
    witness TEXT PRIMARY KEY,
    size    INTEGER NOT NULL
) STRICT;

CREATE TABLE witness_evidence (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    origin   TEXT NOT NULL,
    cosigned TEXT NOT NULL,
    offered  TEXT NOT NULL,
    problem  TEXT NOT NULL,
    seen_at  INTEGER NOT NULL
) STRICT;
