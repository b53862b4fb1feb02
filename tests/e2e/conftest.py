"""End-to-end fixtures: the PostgreSQL server for the site process tests."""

from tests.pg import pg_dsn, pg_server  # noqa: F401 - fixtures
