-- Exactly-once exchange. The responder keeps the reply it gave to each request id, so a
-- retry of the same request gets the same answer instead of a second decision.
ALTER TABLE seen_requests ADD COLUMN request BLOB;
ALTER TABLE seen_requests ADD COLUMN reply BLOB;

-- The requester fixes a request's identity before it is first sent. `state` is one of
-- pending, received, refused, failed; `outcome` says what happened, with no personal data.
CREATE TABLE requests (
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
) STRICT;

-- Every signed version of a request that was handed to the network (a request waiting long in
-- the outbox is signed again with a fresh time), by digest, so any answer can be matched.
CREATE TABLE request_versions (
    digest     BLOB PRIMARY KEY,
    request_id BLOB NOT NULL,
    signed     BLOB NOT NULL
) STRICT;
CREATE INDEX request_versions_id ON request_versions (request_id);

-- Outbox items are keyed by what they carry, so one recipient never holds two copies of the
-- same case history or roster push.
ALTER TABLE outbox ADD COLUMN topic TEXT;
CREATE UNIQUE INDEX outbox_topic ON outbox (recipient, topic) WHERE topic IS NOT NULL;
