-- What MQTT devices send besides readings (docs/mqtt-protocol.md), and what the site
-- sends them. Times are microseconds since the epoch, JSON columns are text.

-- AUTOINCREMENT: ids are never reused after pruning, so a paging cursor stays valid.
CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id   TEXT    NOT NULL,
    ts          INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    topic       TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    journal_seq INTEGER
);
-- a replayed journal record gives the same dead letter again: it is stored once
CREATE UNIQUE INDEX dead_letters_journal ON dead_letters (journal_seq, device_id)
    WHERE journal_seq IS NOT NULL;
CREATE INDEX dead_letters_device ON dead_letters (device_id, id);
CREATE INDEX dead_letters_reason ON dead_letters (reason, id);
CREATE INDEX dead_letters_ts ON dead_letters (ts);

CREATE TABLE device_events (
    id          INTEGER PRIMARY KEY,
    device_id   TEXT    NOT NULL,
    ts          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    journal_seq INTEGER,
    details     TEXT    NOT NULL
);
CREATE UNIQUE INDEX device_events_journal ON device_events (device_id, kind, journal_seq)
    WHERE journal_seq IS NOT NULL;
CREATE INDEX device_events_device ON device_events (device_id, ts);
CREATE INDEX device_events_ts ON device_events (ts);

CREATE TABLE commands (
    id          TEXT    PRIMARY KEY,
    device_id   TEXT    NOT NULL,
    command     TEXT    NOT NULL,
    params      TEXT    NOT NULL,
    state       TEXT    NOT NULL
        CHECK (state IN ('queued', 'sent', 'acknowledged', 'failed', 'expired')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    sent_at     INTEGER,
    finished_at INTEGER,
    result      TEXT    NOT NULL,
    error       TEXT
);
CREATE INDEX commands_device ON commands (device_id, created_at);
CREATE INDEX commands_state ON commands (state, created_at);
CREATE INDEX commands_finished ON commands (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE ota_runs (
    id         TEXT    PRIMARY KEY,
    device_id  TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    url        TEXT    NOT NULL,
    sha256     TEXT    NOT NULL,
    state      TEXT    NOT NULL
        CHECK (state IN ('requested', 'downloading', 'installing', 'updated', 'failed')),
    progress   REAL,
    error      TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX ota_runs_device ON ota_runs (device_id, created_at);
CREATE INDEX ota_runs_updated ON ota_runs (updated_at);
