-- What plugins keep in the store (docs/storage.md, "Plugin data").

-- The figures an alert was raised on, as a JSON object of numbers and strings. Rows from
-- before this migration get the empty object.
ALTER TABLE alerts ADD COLUMN evidence TEXT NOT NULL DEFAULT '{}';

-- A small key-value store per plugin; never pruned. A rowid table, not WITHOUT ROWID:
-- values run up to 1 MiB, and WITHOUT ROWID suits rows below about a twentieth of a page
-- (https://sqlite.org/withoutrowid.html, "When To Use WITHOUT ROWID").
CREATE TABLE plugin_state (
    plugin     TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      BLOB    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (plugin, key)
);
