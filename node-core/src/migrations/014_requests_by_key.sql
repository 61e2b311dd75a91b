-- A request is found only by its id, which begins with the time it was drawn: kept in the id's
-- order without a separate row-id tree, an insert writes one page instead of two, and a lookup
-- reads one tree instead of the id's index and then the table.
CREATE TABLE requests_by_key (
    request_id BLOB PRIMARY KEY,
    case_id    BLOB NOT NULL,
    responder  TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    categories TEXT NOT NULL,
    staff      TEXT NOT NULL,
    state      TEXT NOT NULL,
    outcome    TEXT,
    summary_id BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO requests_by_key (request_id, case_id, responder, purpose, categories, staff, state,
                             outcome, summary_id, created_at, updated_at)
    SELECT request_id, case_id, responder, purpose, categories, staff, state, outcome, summary_id,
           created_at, updated_at
    FROM requests;
DROP TABLE requests;
ALTER TABLE requests_by_key RENAME TO requests;
