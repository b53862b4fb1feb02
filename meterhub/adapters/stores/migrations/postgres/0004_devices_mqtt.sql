-- What MQTT devices send besides readings (docs/mqtt-protocol.md), and what the site
-- sends them.

-- an identity column never reuses ids, so a paging cursor stays valid after pruning
CREATE TABLE dead_letters (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id   text        NOT NULL,
    ts          timestamptz NOT NULL,
    reason      text        NOT NULL,
    detail      text        NOT NULL,
    topic       text        NOT NULL,
    payload     bytea       NOT NULL,
    journal_seq bigint
);
-- a replayed journal record gives the same dead letter again: it is stored once
CREATE UNIQUE INDEX dead_letters_journal ON dead_letters (journal_seq, device_id)
    WHERE journal_seq IS NOT NULL;
CREATE INDEX dead_letters_device ON dead_letters (device_id, id);
CREATE INDEX dead_letters_reason ON dead_letters (reason, id);
CREATE INDEX dead_letters_ts ON dead_letters (ts);

CREATE TABLE device_events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id   text        NOT NULL,
    ts          timestamptz NOT NULL,
    kind        text        NOT NULL,
    journal_seq bigint,
    details     jsonb       NOT NULL
);
CREATE UNIQUE INDEX device_events_journal ON device_events (device_id, kind, journal_seq)
    WHERE journal_seq IS NOT NULL;
CREATE INDEX device_events_device ON device_events (device_id, ts);
CREATE INDEX device_events_ts ON device_events (ts);

CREATE TABLE commands (
    id          text        PRIMARY KEY,
    device_id   text        NOT NULL,
    command     text        NOT NULL,
    params      jsonb       NOT NULL,
    state       text        NOT NULL
        CHECK (state IN ('queued', 'sent', 'acknowledged', 'failed', 'expired')),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    sent_at     timestamptz,
    finished_at timestamptz,
    result      jsonb       NOT NULL,
    error       text
);
CREATE INDEX commands_device ON commands (device_id, created_at);
CREATE INDEX commands_state ON commands (state, created_at);
CREATE INDEX commands_finished ON commands (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE ota_runs (
    id         text             PRIMARY KEY,
    device_id  text             NOT NULL,
    version    text             NOT NULL,
    url        text             NOT NULL,
    sha256     text             NOT NULL,
    state      text             NOT NULL
        CHECK (state IN ('requested', 'downloading', 'installing', 'updated', 'failed')),
    progress   double precision,
    error      text,
    created_at timestamptz      NOT NULL,
    updated_at timestamptz      NOT NULL
);
CREATE INDEX ota_runs_device ON ota_runs (device_id, created_at);
CREATE INDEX ota_runs_updated ON ota_runs (updated_at);
