-- Change notices received (spec §6.7): a participant holds newer records about a case's
-- person than the last summary this node received from it.
CREATE TABLE notices (
    case_id    BLOB NOT NULL,
    source     TEXT NOT NULL,
    noticed_at INTEGER NOT NULL,
    PRIMARY KEY (case_id, source)
) STRICT;
