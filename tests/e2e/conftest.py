"""End-to-end fixtures: the PostgreSQL server and the Mosquitto broker for process tests."""

from tests.mqtt import mosquitto  # noqa: F401 - fixture
from tests.pg import pg_dsn, pg_server  # noqa: F401 - fixtures
