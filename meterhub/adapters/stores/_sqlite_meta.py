"""Synchronous SQLite work for trends, consumption and the small site tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from meterhub.adapters.stores._plugin_data import decode_evidence, encode_evidence
from meterhub.adapters.stores._rows import (
    AlertRow,
    Application,
    ConsumptionRow,
    Device,
    DeviceType,
    TrendRow,
)
from meterhub.adapters.stores._sqlite_readings import transaction
from meterhub.adapters.stores._time import from_us, require_utc, to_us

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Sequence
    from datetime import datetime

_STRS = msgspec.json.Decoder(list[str])
_STR_MAP = msgspec.json.Decoder(dict[str, str])


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


def _us(value: datetime, what: str) -> int:
    return to_us(require_utc(value, what))


def _opt_us(value: datetime | None, what: str) -> int | None:
    return None if value is None else _us(value, what)


def _opt_dt(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)


def _in_list(column: str, values: list[str] | None, args: dict[str, object]) -> str:
    if values is None:
        return ""
    args[column] = _json(values)
    # column names come from the callers below, never from user input
    return f" AND {column} IN (SELECT value FROM json_each(:{column}))"  # noqa: S608


# trends -----------------------------------------------------------------------------


def write_trends(con: sqlite3.Connection, rows: Sequence[TrendRow]) -> None:
    """Insert or replace trend windows."""
    params = [
        (
            r.meter_id,
            r.metric,
            r.window_s,
            _us(r.window_start, "TrendRow.window_start"),
            r.avg,
            r.min,
            r.max,
            r.last,
            r.count,
        )
        for r in rows
    ]
    with transaction(con):
        con.executemany("INSERT OR REPLACE INTO trends VALUES (?,?,?,?,?,?,?,?,?)", params)


def query_trends(
    con: sqlite3.Connection,
    *,
    meters: list[str] | None,
    metrics: list[str] | None,
    window_s: int,
    start: datetime,
    end: datetime,
) -> list[TrendRow]:
    """Trend windows starting in ``[start, end)``."""
    args: dict[str, object] = {"w": window_s, "start": to_us(start), "end": to_us(end)}
    sql = (
        "SELECT meter_id, metric, window_s, window_start, avg, min, max, last, count "
        "FROM trends WHERE window_s = :w AND window_start >= :start AND window_start < :end"
    )
    sql += _in_list("meter_id", meters, args) + _in_list("metric", metrics, args)
    sql += " ORDER BY meter_id, metric, window_start"
    return [
        TrendRow(
            meter_id=r[0],
            metric=r[1],
            window_s=r[2],
            window_start=from_us(r[3]),
            avg=r[4],
            min=r[5],
            max=r[6],
            last=r[7],
            count=r[8],
        )
        for r in con.execute(sql, args)
    ]


# consumption ------------------------------------------------------------------------


def write_consumption(con: sqlite3.Connection, rows: Sequence[ConsumptionRow]) -> None:
    """Insert or replace consumption intervals."""
    params = [
        (
            r.meter_id,
            r.metric,
            _us(r.interval_start, "ConsumptionRow.interval_start"),
            r.interval_s,
            r.wh,
            r.flag,
        )
        for r in rows
    ]
    with transaction(con):
        con.executemany("INSERT OR REPLACE INTO consumption VALUES (?,?,?,?,?,?)", params)


def consumption_intervals(
    con: sqlite3.Connection, meter_id: str, metric: str, start: datetime, end: datetime
) -> list[ConsumptionRow]:
    """Intervals of one counter starting in ``[start, end)``, in time order."""
    cur = con.execute(
        "SELECT interval_start, interval_s, wh, flag FROM consumption "
        "WHERE meter_id = ? AND metric = ? AND interval_start >= ? AND interval_start < ? "
        "ORDER BY interval_start",
        (meter_id, metric, to_us(start), to_us(end)),
    )
    return [
        ConsumptionRow(
            meter_id=meter_id,
            metric=metric,
            interval_start=from_us(r[0]),
            interval_s=r[1],
            wh=r[2],
            flag=r[3],
        )
        for r in cur
    ]


# devices, device types, applications -------------------------------------------------

_DEVICE_COLS = "id, name, device_type, location, tags, metadata, created_at, updated_at"


def upsert_device(con: sqlite3.Connection, d: Device) -> None:
    """Create or update a device, keeping the first ``created_at``."""
    with transaction(con):
        con.execute(
            f"INSERT INTO devices ({_DEVICE_COLS}) VALUES (?,?,?,?,?,?,?,?) "  # noqa: S608
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
            "device_type = excluded.device_type, location = excluded.location, "
            "tags = excluded.tags, metadata = excluded.metadata, updated_at = excluded.updated_at",
            (
                d.id,
                d.name,
                d.device_type,
                d.location,
                _json(d.tags),
                _json(d.metadata),
                _us(d.created_at, "Device.created_at"),
                _us(d.updated_at, "Device.updated_at"),
            ),
        )


def _device(r: tuple[Any, ...]) -> Device:
    return Device(
        id=str(r[0]),
        name=str(r[1]),
        device_type=str(r[2]),
        location=str(r[3]),
        tags=_STRS.decode(str(r[4])),
        metadata=_STR_MAP.decode(str(r[5])),
        created_at=from_us(int(r[6])),
        updated_at=from_us(int(r[7])),
    )


def get_device(con: sqlite3.Connection, device_id: str) -> Device | None:
    """One device or None."""
    row = con.execute(
        f"SELECT {_DEVICE_COLS} FROM devices WHERE id = ?",  # noqa: S608
        (device_id,),
    ).fetchone()
    return None if row is None else _device(row)


def list_devices(con: sqlite3.Connection) -> list[Device]:
    """All devices by id."""
    return [_device(r) for r in con.execute(f"SELECT {_DEVICE_COLS} FROM devices ORDER BY id")]  # noqa: S608


def delete_by_key(con: sqlite3.Connection, table: str, column: str, key: str) -> bool:
    """Delete one row of a small table by its key; ``table`` is one of ours."""
    with transaction(con):
        return con.execute(f"DELETE FROM {table} WHERE {column} = ?", (key,)).rowcount > 0  # noqa: S608


def upsert_device_type(con: sqlite3.Connection, t: DeviceType) -> None:
    """Create or update a device type."""
    with transaction(con):
        con.execute(
            "INSERT OR REPLACE INTO device_types (name, description, metrics) VALUES (?,?,?)",
            (t.name, t.description, _json(t.metrics)),
        )


def list_device_types(con: sqlite3.Connection) -> list[DeviceType]:
    """All device types by name."""
    cur = con.execute("SELECT name, description, metrics FROM device_types ORDER BY name")
    return [DeviceType(name=r[0], description=r[1], metrics=_STRS.decode(r[2])) for r in cur]


def upsert_application(con: sqlite3.Connection, a: Application) -> None:
    """Create or update an application."""
    with transaction(con):
        con.execute(
            "INSERT OR REPLACE INTO applications (name, description, device_types) VALUES (?,?,?)",
            (a.name, a.description, _json(a.device_types)),
        )


def list_applications(con: sqlite3.Connection, device_type: str | None) -> list[Application]:
    """Applications by name, optionally only those including ``device_type``."""
    sql = "SELECT name, description, device_types FROM applications"
    args: tuple[str, ...] = ()
    if device_type is not None:
        sql += " WHERE EXISTS (SELECT 1 FROM json_each(device_types) WHERE value = ?)"
        args = (device_type,)
    cur = con.execute(sql + " ORDER BY name", args)
    return [Application(name=r[0], description=r[1], device_types=_STRS.decode(r[2])) for r in cur]


# alerts ---------------------------------------------------------------------------

_ALERT_COLS = (
    "id, rule, meter_id, severity, state, message, value, opened_at, updated_at, "
    "acknowledged_at, resolved_at, evidence"
)


def upsert_alert(con: sqlite3.Connection, a: AlertRow) -> None:
    """Create or update an alert, keeping the first ``opened_at``."""
    evidence = encode_evidence(a.evidence, alert_id=a.id, backend="sqlite")
    with transaction(con):
        con.execute(
            f"INSERT INTO alerts ({_ALERT_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "  # noqa: S608
            "ON CONFLICT (id) DO UPDATE SET rule = excluded.rule, meter_id = excluded.meter_id, "
            "severity = excluded.severity, state = excluded.state, message = excluded.message, "
            "value = excluded.value, updated_at = excluded.updated_at, "
            "acknowledged_at = excluded.acknowledged_at, resolved_at = excluded.resolved_at, "
            "evidence = excluded.evidence",
            (
                a.id,
                a.rule,
                a.meter_id,
                a.severity,
                a.state,
                a.message,
                a.value,
                _us(a.opened_at, "AlertRow.opened_at"),
                _us(a.updated_at, "AlertRow.updated_at"),
                _opt_us(a.acknowledged_at, "AlertRow.acknowledged_at"),
                _opt_us(a.resolved_at, "AlertRow.resolved_at"),
                evidence,
            ),
        )


def _alert(r: tuple[Any, ...]) -> AlertRow:
    return AlertRow(
        id=str(r[0]),
        rule=str(r[1]),
        meter_id=str(r[2]),
        severity=r[3],
        state=r[4],
        message=str(r[5]),
        value=r[6],
        opened_at=from_us(r[7]),
        updated_at=from_us(r[8]),
        acknowledged_at=_opt_dt(r[9]),
        resolved_at=_opt_dt(r[10]),
        evidence=decode_evidence(str(r[11])),
    )


def get_alert(con: sqlite3.Connection, alert_id: str) -> AlertRow | None:
    """One alert or None."""
    row = con.execute(f"SELECT {_ALERT_COLS} FROM alerts WHERE id = ?", (alert_id,)).fetchone()  # noqa: S608
    return None if row is None else _alert(row)


def list_alerts(
    con: sqlite3.Connection, state: str | None, severity: str | None, meter: str | None, limit: int
) -> list[AlertRow]:
    """Alerts matching every given filter, newest first."""
    sql = f"SELECT {_ALERT_COLS} FROM alerts WHERE true"  # noqa: S608
    args: dict[str, object] = {"limit": limit}
    for column, value in (("state", state), ("severity", severity), ("meter_id", meter)):
        if value is not None:
            sql += f" AND {column} = :{column}"
            args[column] = value
    sql += " ORDER BY opened_at DESC, id LIMIT :limit"
    return [_alert(r) for r in con.execute(sql, args)]
