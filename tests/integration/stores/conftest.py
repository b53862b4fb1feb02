"""A store per backend: SQLite in tmp_path and PostgreSQL in a fresh database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from meterhub.adapters.stores import PostgresStore, SqliteStore, Store
from tests.pg import pg_dsn, pg_server  # noqa: F401 - fixtures

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated, empty store of each backend."""
    backend: Store
    if request.param == "sqlite":
        backend = SqliteStore(tmp_path / "meterhub.db")
    else:
        backend = PostgresStore(request.getfixturevalue("pg_dsn"))
    async with backend:
        await backend.migrate()
        yield backend
