-- Rounds counting the persons followed by several sectors (spec/statistics.md §10). No person,
-- element or secret is stored: a round's start and outcome, the size and digest of every set
-- message sent or received, and, at the dashboard member only, the final blinded sets until
-- the outcome is computed or the round ends.
CREATE TABLE psi_rounds (
    round        BLOB PRIMARY KEY,
    month        TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    -- 'dashboard' (this node started it) or 'participant'.
    role         TEXT NOT NULL,
    start        BLOB NOT NULL,
    started_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    -- running, complete, refused, expired, abandoned; a participant: running, done (its N
    -- messages sent), stopped (restarted without its secret), expired.
    state        TEXT NOT NULL,
    problem      TEXT,
    -- The signed outcome, sent (dashboard) or received (participant).
    outcome      BLOB,
    published_at INTEGER,
    UNIQUE (month, attempt, role)
) STRICT;

CREATE TABLE psi_messages (
    round     BLOB NOT NULL,
    origin    TEXT NOT NULL,
    hop       INTEGER NOT NULL,
    direction TEXT NOT NULL,
    peer      TEXT NOT NULL,
    size      INTEGER NOT NULL,
    digest    BLOB NOT NULL,
    PRIMARY KEY (round, origin, hop, direction)
) STRICT;

-- The dashboard member's hop-N sets, deleted with the outcome or at the round's end.
CREATE TABLE psi_final_sets (
    round    BLOB NOT NULL,
    origin   TEXT NOT NULL,
    elements BLOB NOT NULL,
    PRIMARY KEY (round, origin)
) STRICT;
