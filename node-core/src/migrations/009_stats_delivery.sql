-- Delivery of the monthly reports (spec/statistics.md §8): what this node signed and sent to
-- the dashboard member, and, at the dashboard member, what it received. The signed bytes are
-- kept so that a delivery can be verified again later.
CREATE TABLE stats_sent (
    month    TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    signed   BLOB NOT NULL,
    digest   BLOB NOT NULL,
    sent_at  INTEGER NOT NULL,
    PRIMARY KEY (month, sequence)
) STRICT;

CREATE TABLE stats_received (
    institution TEXT NOT NULL,
    month       TEXT NOT NULL,
    sequence    INTEGER NOT NULL,
    signed      BLOB NOT NULL,
    digest      BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (institution, month, sequence)
) STRICT;
CREATE INDEX stats_received_month ON stats_received (month);
