-- What plugins keep in the store (docs/storage.md, "Plugin data").

-- The figures an alert was raised on, as a JSON object of numbers and strings. Text, not
-- jsonb: jsonb rewrites numbers (1e16 comes back as 10000000000000000, an int) and
-- refuses an escaped NUL, so the object would not come back as it was written, nor as
-- SQLite returns it. A constant default adds the column without rewriting the table;
-- rows from before this migration get the empty object.
ALTER TABLE alerts ADD COLUMN evidence text NOT NULL DEFAULT '{}';

-- A small key-value store per plugin; never pruned.
CREATE TABLE plugin_state (
    plugin     text        NOT NULL,
    key        text        NOT NULL,
    value      bytea       NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (plugin, key)
);
