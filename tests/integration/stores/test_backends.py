"""What only one backend has: partitions and outages (PostgreSQL), file errors (SQLite)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from meterhub.adapters.stores import (
    PostgresStore,
    SqliteStore,
    StoreError,
    StoreUnavailableError,
    open_store,
)
from tests.integration.stores._data import reading, series, today
from tests.pg import PgServer

DAY = timedelta(days=1)


async def _partitions(dsn: str) -> dict[str, int]:
    con = await asyncpg.connect(dsn)
    try:
        rows = await con.fetch(
            "SELECT c.relname, (SELECT count(*) FROM readings r WHERE r.tableoid = c.oid) AS n "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'readings'::regclass"
        )
    finally:
        await con.close()
    return {r["relname"]: r["n"] for r in rows}


async def test_postgres_partitions_are_made_on_demand(pg_dsn: str) -> None:
    far_future = datetime(2150, 6, 1, tzinfo=UTC)
    far_past = datetime(1975, 1, 1, tzinfo=UTC)
    async with PostgresStore(pg_dsn) as store:
        await store.migrate()
        assert (
            await store.write_readings(series("m1", today() - DAY, timedelta(minutes=30), 96)) == 96
        )
        assert await store.write_readings([reading("m1", far_future), reading("m1", far_past)]) == 2
        got = await store.query_readings(
            meters=None, metrics=None, start=far_past, end=far_future + DAY, limit=1000
        )
        assert len(got) == 98
    parts = await _partitions(pg_dsn)
    yesterday, day_before = today() - DAY, today() - 2 * DAY
    assert parts[f"readings_p{yesterday:%Y%m%d}"] == 48
    assert parts[f"readings_p{today():%Y%m%d}"] == 48
    assert f"readings_p{day_before:%Y%m%d}" not in parts
    assert parts["readings_default"] == 2


async def test_postgres_moves_rows_out_of_the_default_partition(pg_dsn: str) -> None:
    week_ago = today() - 7 * DAY
    async with PostgresStore(pg_dsn, partition_past_days=1) as narrow:
        await narrow.migrate()
        await narrow.write_readings([reading("m1", week_ago + timedelta(hours=1))])
    assert (await _partitions(pg_dsn))["readings_default"] == 1
    async with PostgresStore(pg_dsn) as wide:
        assert await wide.write_readings([reading("m1", week_ago + timedelta(hours=2))]) == 1
        assert await wide.write_readings([reading("m1", week_ago + timedelta(hours=1))]) == 0
    parts = await _partitions(pg_dsn)
    assert parts["readings_default"] == 0
    assert parts[f"readings_p{week_ago:%Y%m%d}"] == 2


async def test_postgres_prune_drops_whole_partitions(pg_dsn: str) -> None:
    old_day = today() - 10 * DAY
    async with PostgresStore(pg_dsn) as store:
        await store.migrate()
        await store.write_readings(series("m1", old_day, timedelta(minutes=5), 288 * 2))
        await store.rollup(today())
        deleted = await store.prune(today(), raw_days=5, rollup_15m_days=30, rollup_1d_days=365)
        assert deleted["raw"] == 576
    parts = await _partitions(pg_dsn)
    assert f"readings_p{old_day:%Y%m%d}" not in parts
    assert f"readings_p{old_day + DAY:%Y%m%d}" not in parts


async def test_postgres_down_is_unavailable_and_recovers(pg_server: PgServer, pg_dsn: str) -> None:
    async with PostgresStore(pg_dsn) as store:
        await store.migrate()
        await store.write_readings([reading("m1", today())], cursor=("store", 1))
        with pg_server.down():
            with pytest.raises(StoreUnavailableError) as info:
                await store.write_readings(
                    [reading("m1", today() + timedelta(seconds=1))], cursor=("store", 2)
                )
            assert info.value.backend == "postgres"
            assert info.value.__cause__ is not None
            with pytest.raises(StoreUnavailableError):
                await store.latest()
        # The pool reconnects by itself once the server is back; a retry succeeds.
        assert (
            await store.write_readings(
                [reading("m1", today() + timedelta(seconds=1))], cursor=("store", 2)
            )
            == 1
        )
        assert await store.read_cursor("store") == 2


async def test_postgres_unreachable_at_start(pg_server: PgServer) -> None:
    with pg_server.down(), pytest.raises(StoreUnavailableError):
        async with PostgresStore(pg_server.dsn()):
            pass


async def test_sqlite_unwritable_path_is_a_clear_error(tmp_path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(StoreUnavailableError, match="not-a-folder"):
        async with SqliteStore(blocker / "meterhub.db"):
            pass


async def test_sqlite_creates_its_folder_and_uses_wal(tmp_path) -> None:
    path = tmp_path / "data" / "site" / "meterhub.db"
    async with SqliteStore(path) as store:
        assert await store.migrate() == 5
        await store.write_readings([reading("m1", today())])
    assert path.exists()
    import sqlite3

    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        con.close()


def test_open_store_picks_the_backend_by_url(tmp_path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/x.db")
    assert isinstance(store, SqliteStore)
    assert str(store.path) == f"{tmp_path}/x.db"
    relative = open_store("sqlite:///data/meterhub.db")
    assert isinstance(relative, SqliteStore)
    assert str(relative.path) == "data/meterhub.db"
    assert isinstance(open_store("postgresql://u@localhost:5432/db"), PostgresStore)
    with pytest.raises(StoreError, match="unsupported"):
        open_store("mysql://x")
    with pytest.raises(StoreError):
        open_store("sqlite:///")
