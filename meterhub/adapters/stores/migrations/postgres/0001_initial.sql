-- meterhub PostgreSQL schema, version 1.

-- Readings are range-partitioned by ts, one partition per UTC day, created on demand
-- by the store ahead of writes. The primary key starts with (meter_id, metric) so the
-- rows of one meter and metric sit together in the index within each day.
CREATE TABLE readings (
    meter_id      text             NOT NULL,
    metric        text             NOT NULL,
    ts            timestamptz      NOT NULL,
    value         double precision NOT NULL,
    quality       text             NOT NULL CHECK (quality IN ('good', 'suspect', 'invalid')),
    quality_rule  text,
    journal_seq   bigint,
    ts_source     text             NOT NULL CHECK (ts_source IN ('meter', 'received')),
    decode_status text             NOT NULL DEFAULT 'ok',
    PRIMARY KEY (meter_id, metric, ts)
) PARTITION BY RANGE (ts);

CREATE INDEX readings_ts ON readings (ts, meter_id, metric);

-- Takes rows outside the window of daily partitions (a meter with a broken clock
-- sending 2099 or 1970), so such a row is stored instead of failing the whole batch.
CREATE TABLE readings_default PARTITION OF readings DEFAULT;

CREATE TABLE readings_latest (
    meter_id      text             NOT NULL,
    metric        text             NOT NULL,
    ts            timestamptz      NOT NULL,
    value         double precision NOT NULL,
    quality       text             NOT NULL,
    quality_rule  text,
    journal_seq   bigint,
    ts_source     text             NOT NULL,
    decode_status text             NOT NULL,
    PRIMARY KEY (meter_id, metric)
);

CREATE TABLE sink_cursors (
    sink       text        PRIMARY KEY,
    seq        bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE trends (
    meter_id     text             NOT NULL,
    metric       text             NOT NULL,
    window_s     integer          NOT NULL CHECK (window_s > 0),
    window_start timestamptz      NOT NULL,
    avg          double precision NOT NULL,
    min          double precision NOT NULL,
    max          double precision NOT NULL,
    last         double precision NOT NULL,
    count        bigint           NOT NULL,
    PRIMARY KEY (meter_id, metric, window_s, window_start)
);

CREATE TABLE consumption (
    meter_id       text             NOT NULL,
    metric         text             NOT NULL,
    interval_start timestamptz      NOT NULL,
    interval_s     integer          NOT NULL CHECK (interval_s > 0),
    wh             double precision NOT NULL,
    flag           text             NOT NULL CHECK (flag IN ('measured', 'interpolated', 'missing')),
    PRIMARY KEY (meter_id, metric, interval_start, interval_s)
);

CREATE TABLE devices (
    id          text        PRIMARY KEY,
    name        text        NOT NULL,
    device_type text        NOT NULL,
    location    text        NOT NULL,
    tags        jsonb       NOT NULL,
    metadata    jsonb       NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE device_types (
    name        text  PRIMARY KEY,
    description text  NOT NULL,
    metrics     jsonb NOT NULL
);

CREATE TABLE applications (
    name         text  PRIMARY KEY,
    description  text  NOT NULL,
    device_types jsonb NOT NULL
);

CREATE TABLE alerts (
    id              text             PRIMARY KEY,
    rule            text             NOT NULL,
    meter_id        text             NOT NULL,
    severity        text             NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    state           text             NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    message         text             NOT NULL,
    value           double precision,
    opened_at       timestamptz      NOT NULL,
    updated_at      timestamptz      NOT NULL,
    acknowledged_at timestamptz,
    resolved_at     timestamptz
);
CREATE INDEX alerts_opened ON alerts (opened_at DESC);
CREATE INDEX alerts_state ON alerts (state, opened_at DESC);

CREATE TABLE rollup_15m (
    meter_id     text             NOT NULL,
    metric       text             NOT NULL,
    period_start timestamptz      NOT NULL,
    avg          double precision NOT NULL,
    min          double precision NOT NULL,
    max          double precision NOT NULL,
    sum          double precision NOT NULL,
    last         double precision NOT NULL,
    count        bigint           NOT NULL,
    PRIMARY KEY (meter_id, metric, period_start)
);
CREATE INDEX rollup_15m_start ON rollup_15m (period_start);

CREATE TABLE rollup_1d (LIKE rollup_15m INCLUDING ALL);

CREATE TABLE rollup_dirty (day date PRIMARY KEY);

CREATE TABLE tier_horizons (
    tier    text        PRIMARY KEY,
    horizon timestamptz NOT NULL
);
