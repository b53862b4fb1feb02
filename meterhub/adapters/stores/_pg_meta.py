"""PostgreSQL work for trends, consumption and the small site tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from meterhub.adapters.stores._pg_readings import Params, filters
from meterhub.adapters.stores._plugin_data import decode_evidence, encode_evidence
from meterhub.adapters.stores._rows import (
    AlertRow,
    Application,
    ConsumptionRow,
    Device,
    DeviceType,
    TrendRow,
)
from meterhub.adapters.stores._time import require_utc

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from meterhub.adapters.stores._pg_types import PgConnection, Record

_STRS = msgspec.json.Decoder(list[str])
_STR_MAP = msgspec.json.Decoder(dict[str, str])


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


def _opt_utc(value: datetime | None, what: str) -> datetime | None:
    return None if value is None else require_utc(value, what)


async def write_trends(con: PgConnection, rows: Sequence[TrendRow]) -> None:
    """Insert or replace trend windows."""
    args = [
        (
            r.meter_id,
            r.metric,
            r.window_s,
            require_utc(r.window_start, "TrendRow.window_start"),
            r.avg,
            r.min,
            r.max,
            r.last,
            r.count,
        )
        for r in rows
    ]
    async with con.transaction():
        await con.executemany(
            "INSERT INTO trends (meter_id, metric, window_s, window_start, avg, min, max, last, "
            "count) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            "ON CONFLICT (meter_id, metric, window_s, window_start) DO UPDATE SET "
            "avg = excluded.avg, min = excluded.min, max = excluded.max, last = excluded.last, "
            "count = excluded.count",
            args,
        )


async def query_trends(
    con: PgConnection,
    *,
    meters: list[str] | None,
    metrics: list[str] | None,
    window_s: int,
    start: datetime,
    end: datetime,
) -> list[TrendRow]:
    """Trend windows starting in ``[start, end)``."""
    p = Params()
    sql = (
        "SELECT meter_id, metric, window_s, window_start, avg, min, max, last, count "  # noqa: S608
        "FROM trends "
        f"WHERE window_s = {p(window_s)} AND window_start >= {p(start)} AND window_start < {p(end)}"
    )
    sql += filters(meters, metrics, p) + " ORDER BY meter_id, metric, window_start"
    return [
        TrendRow(
            meter_id=r[0],
            metric=r[1],
            window_s=r[2],
            window_start=r[3],
            avg=r[4],
            min=r[5],
            max=r[6],
            last=r[7],
            count=r[8],
        )
        for r in await con.fetch(sql, *p.values)
    ]


async def write_consumption(con: PgConnection, rows: Sequence[ConsumptionRow]) -> None:
    """Insert or replace consumption intervals."""
    args = [
        (
            r.meter_id,
            r.metric,
            require_utc(r.interval_start, "ConsumptionRow.interval_start"),
            r.interval_s,
            r.wh,
            r.flag,
        )
        for r in rows
    ]
    async with con.transaction():
        await con.executemany(
            "INSERT INTO consumption (meter_id, metric, interval_start, interval_s, wh, flag) "
            "VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (meter_id, metric, interval_start, interval_s) DO UPDATE SET "
            "wh = excluded.wh, flag = excluded.flag",
            args,
        )


async def consumption_intervals(
    con: PgConnection, meter_id: str, metric: str, start: datetime, end: datetime
) -> list[ConsumptionRow]:
    """Intervals of one counter starting in ``[start, end)``, in time order."""
    rows = await con.fetch(
        "SELECT interval_start, interval_s, wh, flag FROM consumption "
        "WHERE meter_id = $1 AND metric = $2 AND interval_start >= $3 AND interval_start < $4 "
        "ORDER BY interval_start",
        meter_id,
        metric,
        start,
        end,
    )
    return [
        ConsumptionRow(
            meter_id=meter_id,
            metric=metric,
            interval_start=r[0],
            interval_s=r[1],
            wh=r[2],
            flag=r[3],
        )
        for r in rows
    ]


_DEVICE_COLS = "id, name, device_type, location, tags::text, metadata::text, created_at, updated_at"


async def upsert_device(con: PgConnection, d: Device) -> None:
    """Create or update a device, keeping the first ``created_at``."""
    await con.execute(
        "INSERT INTO devices (id, name, device_type, location, tags, metadata, created_at, "
        "updated_at) "
        "VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, device_type = excluded.device_type, "
        "location = excluded.location, tags = excluded.tags, metadata = excluded.metadata, "
        "updated_at = excluded.updated_at",
        d.id,
        d.name,
        d.device_type,
        d.location,
        _json(d.tags),
        _json(d.metadata),
        require_utc(d.created_at, "Device.created_at"),
        require_utc(d.updated_at, "Device.updated_at"),
    )


def _device(r: Record) -> Device:
    return Device(
        id=r[0],
        name=r[1],
        device_type=r[2],
        location=r[3],
        tags=_STRS.decode(r[4]),
        metadata=_STR_MAP.decode(r[5]),
        created_at=r[6],
        updated_at=r[7],
    )


async def get_device(con: PgConnection, device_id: str) -> Device | None:
    """One device or None."""
    row = await con.fetchrow(f"SELECT {_DEVICE_COLS} FROM devices WHERE id = $1", device_id)  # noqa: S608
    return None if row is None else _device(row)


async def list_devices(con: PgConnection) -> list[Device]:
    """All devices by id."""
    return [_device(r) for r in await con.fetch(f"SELECT {_DEVICE_COLS} FROM devices ORDER BY id")]  # noqa: S608


_DELETES: dict[str, str] = {
    "devices": "DELETE FROM devices WHERE id = $1",
    "device_types": "DELETE FROM device_types WHERE name = $1",
    "applications": "DELETE FROM applications WHERE name = $1",
}


async def delete_by_key(con: PgConnection, table: str, key: str) -> bool:
    """Delete one row of a small table by its key."""
    status: str = await con.execute(_DELETES[table], key)
    return status != "DELETE 0"


async def upsert_device_type(con: PgConnection, t: DeviceType) -> None:
    """Create or update a device type."""
    await con.execute(
        "INSERT INTO device_types (name, description, metrics) VALUES ($1, $2, $3::jsonb) "
        "ON CONFLICT (name) DO UPDATE SET description = excluded.description, "
        "metrics = excluded.metrics",
        t.name,
        t.description,
        _json(t.metrics),
    )


async def list_device_types(con: PgConnection) -> list[DeviceType]:
    """All device types by name."""
    rows = await con.fetch(
        "SELECT name, description, metrics::text FROM device_types ORDER BY name"
    )
    return [DeviceType(name=r[0], description=r[1], metrics=_STRS.decode(r[2])) for r in rows]


async def upsert_application(con: PgConnection, a: Application) -> None:
    """Create or update an application."""
    await con.execute(
        "INSERT INTO applications (name, description, device_types) VALUES ($1, $2, $3::jsonb) "
        "ON CONFLICT (name) DO UPDATE SET description = excluded.description, "
        "device_types = excluded.device_types",
        a.name,
        a.description,
        _json(a.device_types),
    )


async def list_applications(con: PgConnection, device_type: str | None) -> list[Application]:
    """Applications by name, optionally only those including ``device_type``."""
    sql = "SELECT name, description, device_types::text FROM applications"
    args: list[Any] = []
    if device_type is not None:
        sql += " WHERE device_types ? $1"
        args.append(device_type)
    rows = await con.fetch(sql + " ORDER BY name", *args)
    return [Application(name=r[0], description=r[1], device_types=_STRS.decode(r[2])) for r in rows]


_ALERT_COLS = (
    "id, rule, meter_id, severity, state, message, value, opened_at, updated_at, "
    "acknowledged_at, resolved_at, evidence"
)


async def upsert_alert(con: PgConnection, a: AlertRow) -> None:
    """Create or update an alert, keeping the first ``opened_at``."""
    evidence = encode_evidence(a.evidence, alert_id=a.id, backend="postgres")
    await con.execute(
        f"INSERT INTO alerts ({_ALERT_COLS}) "  # noqa: S608
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
        "ON CONFLICT (id) DO UPDATE SET rule = excluded.rule, meter_id = excluded.meter_id, "
        "severity = excluded.severity, state = excluded.state, message = excluded.message, "
        "value = excluded.value, updated_at = excluded.updated_at, "
        "acknowledged_at = excluded.acknowledged_at, resolved_at = excluded.resolved_at, "
        "evidence = excluded.evidence",
        a.id,
        a.rule,
        a.meter_id,
        a.severity,
        a.state,
        a.message,
        a.value,
        require_utc(a.opened_at, "AlertRow.opened_at"),
        require_utc(a.updated_at, "AlertRow.updated_at"),
        _opt_utc(a.acknowledged_at, "AlertRow.acknowledged_at"),
        _opt_utc(a.resolved_at, "AlertRow.resolved_at"),
        evidence,
    )


def _alert(r: Record) -> AlertRow:
    return AlertRow(
        id=r[0],
        rule=r[1],
        meter_id=r[2],
        severity=r[3],
        state=r[4],
        message=r[5],
        value=r[6],
        opened_at=r[7],
        updated_at=r[8],
        acknowledged_at=r[9],
        resolved_at=r[10],
        evidence=decode_evidence(r[11]),
    )


async def get_alert(con: PgConnection, alert_id: str) -> AlertRow | None:
    """One alert or None."""
    row = await con.fetchrow(f"SELECT {_ALERT_COLS} FROM alerts WHERE id = $1", alert_id)  # noqa: S608
    return None if row is None else _alert(row)


async def list_alerts(
    con: PgConnection, state: str | None, severity: str | None, meter: str | None, limit: int
) -> list[AlertRow]:
    """Alerts matching every given filter, newest first."""
    p = Params()
    sql = f"SELECT {_ALERT_COLS} FROM alerts WHERE true"  # noqa: S608
    if state is not None:
        sql += f" AND state = {p(state)}"
    if severity is not None:
        sql += f" AND severity = {p(severity)}"
    if meter is not None:
        sql += f" AND meter_id = {p(meter)}"
    sql += f" ORDER BY opened_at DESC, id LIMIT {p(limit)}"
    return [_alert(r) for r in await con.fetch(sql, *p.values)]
