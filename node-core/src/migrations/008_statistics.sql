-- Monthly statistics (spec/statistics.md): placements in mixed insertion measures, and the
-- privacy budget spent per month.
CREATE TABLE placements (
    avs      TEXT NOT NULL,
    measure  TEXT NOT NULL,
    start    TEXT NOT NULL,
    end_date TEXT,
    outcome  TEXT,
    PRIMARY KEY (avs, measure, start)
) STRICT;
CREATE INDEX placements_measure ON placements (measure, start);

CREATE TABLE stats_releases (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    month         TEXT NOT NULL,
    released_at   INTEGER NOT NULL,
    epsilon_milli INTEGER NOT NULL,
    role          TEXT NOT NULL
) STRICT;
CREATE INDEX stats_releases_month ON stats_releases (month);
