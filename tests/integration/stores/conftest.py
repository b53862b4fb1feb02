"""A store per backend: SQLite in tmp_path and PostgreSQL in a fresh database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from meterhub.adapters.stores import PostgresStore, SqliteStore, Store
from tests.pg import pg_dsn, pg_server  # noqa: F401 - fixtures

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """Makes unopened stores of each backend, every one on the same database.

    For what must outlive a store: close one, open the next (same file, same DSN).
    """
    if request.param == "sqlite":
        path = tmp_path / "meterhub.db"
        return lambda: SqliteStore(path)
    dsn: str = request.getfixturevalue("pg_dsn")
    return lambda: PostgresStore(dsn)


@pytest.fixture
async def store(make_store: Callable[[], Store]) -> AsyncIterator[Store]:
    """A migrated, empty store of each backend."""
    backend = make_store()
    async with backend:
        await backend.migrate()
        yield backend
