-- meterhub SQLite schema, version 1.
-- Instants are INTEGER microseconds since the Unix epoch (UTC): exact, sortable, and
-- cheap to bucket with integer division.

-- One row per (meter, metric, ts). WITHOUT ROWID keeps the rows of one meter and
-- metric together in primary-key order, so a meter's history is one range scan.
CREATE TABLE readings (
    meter_id      TEXT    NOT NULL,
    metric        TEXT    NOT NULL,
    ts            INTEGER NOT NULL,
    value         REAL    NOT NULL,
    quality       TEXT    NOT NULL CHECK (quality IN ('good', 'suspect', 'invalid')),
    quality_rule  TEXT,
    journal_seq   INTEGER,
    ts_source     TEXT    NOT NULL CHECK (ts_source IN ('meter', 'received')),
    decode_status TEXT    NOT NULL DEFAULT 'ok',
    PRIMARY KEY (meter_id, metric, ts)
) WITHOUT ROWID;

-- Time-range queries across meters and pruning walk this index.
CREATE INDEX readings_ts ON readings (ts, meter_id, metric);

-- Newest row per meter and metric, kept by write_readings, so latest() is a lookup.
CREATE TABLE readings_latest (
    meter_id      TEXT    NOT NULL,
    metric        TEXT    NOT NULL,
    ts            INTEGER NOT NULL,
    value         REAL    NOT NULL,
    quality       TEXT    NOT NULL,
    quality_rule  TEXT,
    journal_seq   INTEGER,
    ts_source     TEXT    NOT NULL,
    decode_status TEXT    NOT NULL,
    PRIMARY KEY (meter_id, metric)
) WITHOUT ROWID;

CREATE TABLE sink_cursors (
    sink       TEXT    PRIMARY KEY,
    seq        INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE trends (
    meter_id     TEXT    NOT NULL,
    metric       TEXT    NOT NULL,
    window_s     INTEGER NOT NULL CHECK (window_s > 0),
    window_start INTEGER NOT NULL,
    avg          REAL    NOT NULL,
    min          REAL    NOT NULL,
    max          REAL    NOT NULL,
    last         REAL    NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (meter_id, metric, window_s, window_start)
) WITHOUT ROWID;

CREATE TABLE consumption (
    meter_id       TEXT    NOT NULL,
    metric         TEXT    NOT NULL,
    interval_start INTEGER NOT NULL,
    interval_s     INTEGER NOT NULL CHECK (interval_s > 0),
    wh             REAL    NOT NULL,
    flag           TEXT    NOT NULL CHECK (flag IN ('measured', 'interpolated', 'missing')),
    PRIMARY KEY (meter_id, metric, interval_start, interval_s)
) WITHOUT ROWID;

CREATE TABLE devices (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    device_type TEXT    NOT NULL,
    location    TEXT    NOT NULL,
    tags        TEXT    NOT NULL,  -- JSON array of strings
    metadata    TEXT    NOT NULL,  -- JSON object of strings
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE device_types (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    metrics     TEXT NOT NULL  -- JSON array of strings
);

CREATE TABLE applications (
    name         TEXT PRIMARY KEY,
    description  TEXT NOT NULL,
    device_types TEXT NOT NULL  -- JSON array of strings
);

CREATE TABLE alerts (
    id              TEXT    PRIMARY KEY,
    rule            TEXT    NOT NULL,
    meter_id        TEXT    NOT NULL,
    severity        TEXT    NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    state           TEXT    NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    message         TEXT    NOT NULL,
    value           REAL,
    opened_at       INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    acknowledged_at INTEGER,
    resolved_at     INTEGER
);
CREATE INDEX alerts_opened ON alerts (opened_at DESC);
CREATE INDEX alerts_state ON alerts (state, opened_at DESC);

-- Rollup tiers: one row per meter, metric and closed period.
CREATE TABLE rollup_15m (
    meter_id     TEXT    NOT NULL,
    metric       TEXT    NOT NULL,
    period_start INTEGER NOT NULL,
    avg          REAL    NOT NULL,
    min          REAL    NOT NULL,
    max          REAL    NOT NULL,
    sum          REAL    NOT NULL,
    last         REAL    NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (meter_id, metric, period_start)
) WITHOUT ROWID;
CREATE INDEX rollup_15m_start ON rollup_15m (period_start);

CREATE TABLE rollup_1d (
    meter_id     TEXT    NOT NULL,
    metric       TEXT    NOT NULL,
    period_start INTEGER NOT NULL,
    avg          REAL    NOT NULL,
    min          REAL    NOT NULL,
    max          REAL    NOT NULL,
    sum          REAL    NOT NULL,
    last         REAL    NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (meter_id, metric, period_start)
) WITHOUT ROWID;
CREATE INDEX rollup_1d_start ON rollup_1d (period_start);

-- UTC days (epoch day numbers) that received raw rows since their rollups were made.
CREATE TABLE rollup_dirty (day INTEGER PRIMARY KEY);

-- Oldest instant each tier still holds, moved forward by prune.
CREATE TABLE tier_horizons (
    tier    TEXT    PRIMARY KEY,
    horizon INTEGER NOT NULL
);
