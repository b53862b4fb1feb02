"""What plugins store: alert evidence, plugin state, raw consumption intervals."""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import asyncpg
import pytest

from meterhub.adapters.stores import (
    AlertRow,
    ConsumptionRow,
    PostgresStore,
    SqliteStore,
    Store,
    StoreError,
)
from meterhub.adapters.stores._time import to_us
from tests.integration.stores._data import today

if TYPE_CHECKING:
    from collections.abc import Callable

T0 = datetime(2026, 5, 1, 8, tzinfo=UTC)
MIB = 1024 * 1024


def alert(alert_id: str = "a1", **kw: object) -> AlertRow:
    fields: dict[str, object] = {
        "rule": "anomaly",
        "meter_id": "m1",
        "severity": "warning",
        "state": "open",
        "message": "power far from its usual level",
        "value": 4200.0,
        "opened_at": T0,
        "updated_at": T0,
    }
    return AlertRow(id=alert_id, **(fields | kw))  # type: ignore[arg-type]


async def _execute(store: Store, statements: list[str]) -> None:
    """Run SQL beside the store, on its file or database."""
    if isinstance(store, SqliteStore):
        con = sqlite3.connect(store.path)
        try:
            for sql in statements:
                con.execute(sql)
            con.commit()
        finally:
            con.close()
        return
    assert isinstance(store, PostgresStore)
    pg = await asyncpg.connect(store.dsn)
    try:
        for sql in statements:
            await pg.execute(sql)
    finally:
        await pg.close()


# alert evidence -----------------------------------------------------------------------


async def test_alert_evidence_round_trips(store: Store) -> None:
    # 1e16 and 1.0 stay floats, 3 an int, and a NUL stays a NUL (jsonb would change all)
    evidence = {"z": 4.25, "window": 3, "model": "mad", "big": 1e16, "one": 1.0, "raw": "a\x00b"}
    await store.upsert_alert(alert(evidence=evidence))
    got = await store.get_alert("a1")
    assert got is not None
    assert got.evidence == evidence
    assert [type(v) for v in got.evidence.values()] == [float, int, str, float, float, str]
    assert [a.evidence for a in await store.list_alerts()] == [evidence]


async def test_an_update_replaces_the_evidence(store: Store) -> None:
    await store.upsert_alert(alert(evidence={"z": 4.25, "median": 800.0}))
    await store.upsert_alert(alert(state="acknowledged", evidence={"z": 5}))
    got = await store.get_alert("a1")
    assert got is not None
    assert (got.state, got.evidence) == ("acknowledged", {"z": 5})
    await store.upsert_alert(alert(state="resolved"))
    assert [a.evidence for a in await store.list_alerts(state="resolved")] == [{}]


async def test_an_alert_without_evidence_reads_an_empty_object(store: Store) -> None:
    await store.upsert_alert(alert())
    got = await store.get_alert("a1")
    assert got is not None
    assert got.evidence == {}
    assert got == alert()


async def test_alerts_stored_before_the_migration_read_an_empty_object(
    make_store: Callable[[], Store],
) -> None:
    async with make_store() as first:
        await first.migrate()
        # back to schema 4 by hand, with an alert written as that schema had it
        opened = str(to_us(T0)) if isinstance(first, SqliteStore) else f"'{T0.isoformat()}'"
        old_alert = (
            "INSERT INTO alerts (id, rule, meter_id, severity, state, message, value, "  # noqa: S608 - the test's own constants
            "opened_at, updated_at) VALUES ('old', 'anomaly', 'm1', 'warning', 'open', "
            f"'power far from its usual level', 4200.0, {opened}, {opened})"
        )
        await _execute(first, [
            "ALTER TABLE alerts DROP COLUMN evidence",
            "DROP TABLE plugin_state",
            "DELETE FROM schema_migrations WHERE version = 5",
            old_alert,
        ])  # fmt: skip
    async with make_store() as second:
        assert await second.migrate() == 5
        assert await second.get_alert("old") == alert("old")
        assert [a.evidence for a in await second.list_alerts()] == [{}]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, True])
async def test_evidence_that_would_not_read_back_is_refused(store: Store, bad: object) -> None:
    await store.upsert_alert(alert(evidence={"z": 4.25}))
    with pytest.raises(StoreError, match=r"alert 'a1': evidence"):
        await store.upsert_alert(alert(state="resolved", evidence={"z": bad}))
    with pytest.raises(StoreError, match=r"alert 'a2': evidence"):
        await store.upsert_alert(alert("a2", evidence={"z": bad}))
    assert [(a.id, a.state, a.evidence) for a in await store.list_alerts()] == [
        ("a1", "open", {"z": 4.25})
    ]


# plugin state -------------------------------------------------------------------------


async def test_plugin_state_put_get_replace_list_delete(store: Store) -> None:
    assert await store.get_plugin_state("anomaly", "m1/power") is None
    assert await store.list_plugin_state("anomaly") == {}
    await store.put_plugin_state("anomaly", "m1/power", b"\x00\x01median")
    await store.put_plugin_state("anomaly", "empty", b"")
    assert await store.get_plugin_state("anomaly", "m1/power") == b"\x00\x01median"
    assert await store.get_plugin_state("anomaly", "empty") == b""
    await store.put_plugin_state("anomaly", "m1/power", b"replaced")
    assert await store.get_plugin_state("anomaly", "m1/power") == b"replaced"
    await store.put_plugin_state("anomaly", "Zähler", b"3")
    listed = await store.list_plugin_state("anomaly")
    # in key order by code point on both backends
    assert list(listed.items()) == [("Zähler", b"3"), ("empty", b""), ("m1/power", b"replaced")]
    assert await store.delete_plugin_state("anomaly", "m1/power") is True
    assert await store.delete_plugin_state("anomaly", "m1/power") is False
    assert await store.get_plugin_state("anomaly", "m1/power") is None
    assert await store.list_plugin_state("anomaly") == {"Zähler": b"3", "empty": b""}


async def test_plugins_do_not_see_each_others_state(store: Store) -> None:
    await store.put_plugin_state("anomaly", "cursor", b"a")
    await store.put_plugin_state("costs", "cursor", b"c")
    await store.put_plugin_state("costs", "tariff", b"t")
    assert await store.get_plugin_state("anomaly", "cursor") == b"a"
    assert await store.get_plugin_state("anomaly", "tariff") is None
    assert await store.list_plugin_state("anomaly") == {"cursor": b"a"}
    assert await store.delete_plugin_state("anomaly", "tariff") is False
    assert await store.delete_plugin_state("costs", "cursor") is True
    assert await store.get_plugin_state("anomaly", "cursor") == b"a"
    assert await store.list_plugin_state("costs") == {"tariff": b"t"}
    assert await store.list_plugin_state("nobody") == {}


async def test_plugin_state_limits_are_refused_and_nothing_is_written(store: Store) -> None:
    await store.put_plugin_state("anomaly", "model", b"old")
    await store.put_plugin_state("anomaly", "k" * 200, b"x" * MIB)  # both at the limit
    assert await store.get_plugin_state("anomaly", "k" * 200) == b"x" * MIB
    with pytest.raises(StoreError, match=r"plugin 'anomaly' key 'model'.* 1048576 bytes") as info:
        await store.put_plugin_state("anomaly", "model", b"x" * (MIB + 1))
    assert type(info.value) is StoreError
    assert info.value.operation == "put_plugin_state"
    with pytest.raises(StoreError, match=r"plugin 'anomaly' key 'kkk.*limit of 200"):
        await store.put_plugin_state("anomaly", "k" * 201, b"new")
    with pytest.raises(StoreError, match=r"plugin 'anomaly' key 'a\\x00b'.*NUL"):
        await store.put_plugin_state("anomaly", "a\x00b", b"new")
    with pytest.raises(StoreError, match="NUL"):
        await store.put_plugin_state("ano\x00maly", "model", b"new")
    assert await store.get_plugin_state("anomaly", "model") == b"old"
    assert sorted(await store.list_plugin_state("anomaly")) == ["k" * 200, "model"]
    # a key that cannot be stored is refused by every method alike, not looked up
    for call in (
        store.get_plugin_state("anomaly", "k" * 201),
        store.delete_plugin_state("anomaly", "a\x00b"),
        store.list_plugin_state("ano\x00maly"),
    ):
        with pytest.raises(StoreError):
            await call


async def test_plugin_state_survives_closing_and_reopening(
    make_store: Callable[[], Store],
) -> None:
    async with make_store() as first:
        await first.migrate()
        await first.put_plugin_state("anomaly", "model", b"v1")
        await first.put_plugin_state("anomaly", "model", b"v2")
        await first.put_plugin_state("costs", "tariff", b"t")
    async with make_store() as second:
        assert await second.migrate() == 5
        assert await second.get_plugin_state("anomaly", "model") == b"v2"
        assert await second.list_plugin_state("costs") == {"tariff": b"t"}


async def test_prune_leaves_plugin_state_alone(store: Store) -> None:
    await store.put_plugin_state("anomaly", "model", b"v1")
    deleted = await store.prune(
        today() + timedelta(days=3650), raw_days=0, rollup_15m_days=0, rollup_1d_days=0
    )
    assert "plugin_state" not in deleted
    assert await store.get_plugin_state("anomaly", "model") == b"v1"


# raw consumption intervals ------------------------------------------------------------


def interval(
    start: datetime, wh: float, *, meter: str = "m1", metric: str = "energy_import_wh", **kw: object
) -> ConsumptionRow:
    return ConsumptionRow(
        meter_id=meter,
        metric=metric,
        interval_start=start,
        interval_s=900,
        wh=wh,
        **kw,  # type: ignore[arg-type]
    )


async def test_raw_intervals_in_time_order_within_a_half_open_range(store: Store) -> None:
    q = timedelta(minutes=15)
    wanted = [
        interval(T0, 10.0),
        interval(T0 + q, 12.5, flag="interpolated"),
        interval(T0 + 2 * q, 0.0, flag="missing"),
        interval(T0 + 3 * q, 11.0),
    ]
    others = [
        interval(T0 - q, 9.0),  # before the range
        interval(T0 + 4 * q, 13.0),  # starts at its end
        interval(T0 + q, 99.0, meter="m2"),
        interval(T0 + q, 77.0, metric="energy_export_wh"),
    ]
    # written out of order, in two batches
    await store.write_consumption([wanted[3], others[0], wanted[1], others[2]])
    await store.write_consumption([others[3], wanted[2], others[1], wanted[0]])
    got = await store.query_consumption_intervals(
        "m1", "energy_import_wh", start=T0, end=T0 + 4 * q
    )
    assert got == wanted
    assert await store.query_consumption_intervals("m1", "gas_m3", start=T0, end=T0 + 4 * q) == []
    # the same instants in another zone select the same interval
    vienna = T0.astimezone(timezone(timedelta(hours=2)))
    assert await store.query_consumption_intervals(
        "m1", "energy_import_wh", start=vienna + q, end=vienna + 2 * q
    ) == [wanted[1]]


async def test_raw_intervals_refuse_naive_times(store: Store) -> None:
    naive = datetime(2026, 5, 1, 8)  # noqa: DTZ001 - the point of the test
    with pytest.raises(StoreError, match="start must be timezone-aware"):
        await store.query_consumption_intervals(
            "m1", "energy_import_wh", start=naive, end=T0 + timedelta(hours=1)
        )
    with pytest.raises(StoreError, match="end must be timezone-aware"):
        await store.query_consumption_intervals(
            "m1", "energy_import_wh", start=T0, end=naive + timedelta(hours=1)
        )
