"""Synchronous SQLite work for MQTT devices: dead letters, events, commands, OTA runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from meterhub.adapters.stores._rows import CommandRow, DeadLetterRow, DeviceEventRow, OtaRow
from meterhub.adapters.stores._sqlite_readings import transaction
from meterhub.adapters.stores._time import from_us, require_utc, to_us
from meterhub.model import CommandState

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Sequence
    from datetime import datetime

_OBJECT = msgspec.json.Decoder(dict[str, Any])
_FINISHED = frozenset({CommandState.ACKNOWLEDGED, CommandState.FAILED, CommandState.EXPIRED})


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


def _us(value: datetime, what: str) -> int:
    return to_us(require_utc(value, what))


def _opt_us(value: datetime | None, what: str) -> int | None:
    return None if value is None else _us(value, what)


def _opt_dt(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)


def _where(filters: dict[str, object], args: dict[str, object]) -> str:
    """`` AND column = :column`` for each filter that is set; columns are ours."""
    sql = ""
    for column, value in filters.items():
        if value is not None:
            sql += f" AND {column} = :{column}"
            args[column] = value
    return sql


def _in_list(column: str, values: Sequence[str] | None, args: dict[str, object]) -> str:
    if values is None:
        return ""
    args[column] = _json(list(values))
    return f" AND {column} IN (SELECT value FROM json_each(:{column}))"  # noqa: S608


# dead letters -------------------------------------------------------------------------

_DEAD_COLS = "id, device_id, ts, reason, detail, topic, payload, journal_seq"


def write_dead_letters(con: sqlite3.Connection, rows: Sequence[DeadLetterRow]) -> int:
    """Insert dead letters not stored yet (by journal record and device)."""
    params = [
        (
            r.device_id,
            _us(r.ts, "DeadLetterRow.ts"),
            r.reason,
            r.detail,
            r.topic,
            r.payload,
            r.journal_seq,
        )
        for r in rows
    ]
    with transaction(con):
        cur = con.executemany(
            "INSERT INTO dead_letters (device_id, ts, reason, detail, topic, payload, "
            "journal_seq) VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            params,
        )
        return max(cur.rowcount, 0)


def list_dead_letters(
    con: sqlite3.Connection,
    device: str | None,
    reason: str | None,
    limit: int,
    before_id: int | None,
) -> list[DeadLetterRow]:
    """Dead letters matching every filter, highest id first."""
    args: dict[str, object] = {"limit": limit}
    sql = f"SELECT {_DEAD_COLS} FROM dead_letters WHERE true"  # noqa: S608
    sql += _where({"device_id": device, "reason": reason}, args)
    if before_id is not None:
        sql += " AND id < :before"
        args["before"] = before_id
    sql += " ORDER BY id DESC LIMIT :limit"
    return [
        DeadLetterRow(
            id=r[0],
            device_id=r[1],
            ts=from_us(r[2]),
            reason=r[3],
            detail=r[4],
            topic=r[5],
            payload=bytes(r[6]),
            journal_seq=r[7],
        )
        for r in con.execute(sql, args)
    ]


# device events ------------------------------------------------------------------------


def write_device_events(con: sqlite3.Connection, rows: Sequence[DeviceEventRow]) -> int:
    """Insert events not stored yet (by device, kind and journal record)."""
    params = [
        (r.device_id, _us(r.ts, "DeviceEventRow.ts"), r.kind, r.journal_seq, _json(r.details))
        for r in rows
    ]
    with transaction(con):
        cur = con.executemany(
            "INSERT INTO device_events (device_id, ts, kind, journal_seq, details) "
            "VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
            params,
        )
        return max(cur.rowcount, 0)


def list_device_events(
    con: sqlite3.Connection,
    device_id: str,
    *,
    kinds: list[str] | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[DeviceEventRow]:
    """Events of one device in ``[start, end)``, newest first."""
    args: dict[str, object] = {"device": device_id, "limit": limit}
    sql = (
        "SELECT device_id, ts, kind, journal_seq, details FROM device_events "
        "WHERE device_id = :device"
    )
    sql += _in_list("kind", kinds, args)
    if start is not None:
        sql += " AND ts >= :start"
        args["start"] = _us(start, "start")
    if end is not None:
        sql += " AND ts < :end"
        args["end"] = _us(end, "end")
    sql += " ORDER BY ts DESC, id DESC LIMIT :limit"
    return [
        DeviceEventRow(
            device_id=r[0],
            ts=from_us(r[1]),
            kind=r[2],
            journal_seq=r[3],
            details=_OBJECT.decode(r[4]),
        )
        for r in con.execute(sql, args)
    ]


# commands ---------------------------------------------------------------------------

_COMMAND_COLS = (
    "id, device_id, command, params, state, created_at, updated_at, expires_at, sent_at, "
    "finished_at, result, error"
)


# The state test and the change are one statement: of two writers moving a command out of
# the same state, only one matches.
_UPDATE_COMMAND = (
    "UPDATE commands SET state = :state, updated_at = :at, "  # noqa: S608 - our columns
    "sent_at = coalesce(:sent, sent_at), finished_at = coalesce(:finished, finished_at), "
    "result = coalesce(:result, result), error = coalesce(:error, error) "
    "WHERE id = :id AND state IN (SELECT value FROM json_each(:from)) "
    f"RETURNING {_COMMAND_COLS}"
)


def _command(r: tuple[Any, ...]) -> CommandRow:
    return CommandRow(
        id=r[0],
        device_id=r[1],
        command=r[2],
        params=_OBJECT.decode(r[3]),
        state=CommandState(r[4]),
        created_at=from_us(r[5]),
        updated_at=from_us(r[6]),
        expires_at=from_us(r[7]),
        sent_at=_opt_dt(r[8]),
        finished_at=_opt_dt(r[9]),
        result=_OBJECT.decode(r[10]),
        error=r[11],
    )


def insert_command(con: sqlite3.Connection, c: CommandRow) -> None:
    """Insert a new command; a taken id violates the primary key."""
    with transaction(con):
        con.execute(
            f"INSERT INTO commands ({_COMMAND_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",  # noqa: S608
            (
                c.id,
                c.device_id,
                c.command,
                _json(c.params),
                c.state.value,
                _us(c.created_at, "CommandRow.created_at"),
                _us(c.updated_at, "CommandRow.updated_at"),
                _us(c.expires_at, "CommandRow.expires_at"),
                _opt_us(c.sent_at, "CommandRow.sent_at"),
                _opt_us(c.finished_at, "CommandRow.finished_at"),
                _json(c.result),
                c.error,
            ),
        )


def get_command(con: sqlite3.Connection, command_id: str) -> CommandRow | None:
    """One command or None."""
    sql = f"SELECT {_COMMAND_COLS} FROM commands WHERE id = ?"  # noqa: S608
    row = con.execute(sql, (command_id,)).fetchone()
    return None if row is None else _command(row)


def list_commands(
    con: sqlite3.Connection,
    device_id: str | None,
    states: Sequence[CommandState] | None,
    limit: int,
) -> list[CommandRow]:
    """Commands matching every filter, newest first."""
    args: dict[str, object] = {"limit": limit}
    sql = f"SELECT {_COMMAND_COLS} FROM commands WHERE true"  # noqa: S608
    sql += _where({"device_id": device_id}, args)
    sql += _in_list("state", None if states is None else [s.value for s in states], args)
    sql += " ORDER BY created_at DESC, id LIMIT :limit"
    return [_command(r) for r in con.execute(sql, args)]


def update_command(
    con: sqlite3.Connection,
    command_id: str,
    *,
    state: CommandState,
    at: datetime,
    from_states: Sequence[CommandState],
    result: dict[str, Any] | None,
    error: str | None,
) -> CommandRow | None:
    """Move a command to ``state`` only from ``from_states``, in one statement."""
    at_us = _us(at, "at")
    args = {
        "id": command_id,
        "state": CommandState(state).value,
        "at": at_us,
        "sent": at_us if state == CommandState.SENT else None,
        "finished": at_us if state in _FINISHED else None,
        "result": None if result is None else _json(result),
        "error": error,
        "from": _json([CommandState(s).value for s in from_states]),
    }
    with transaction(con):
        # all rows: a RETURNING statement must finish before the commit
        row = con.execute(_UPDATE_COMMAND, args).fetchall()
    return _command(row[0]) if row else None


# firmware updates -------------------------------------------------------------------

_OTA_COLS = "id, device_id, version, url, sha256, state, progress, error, created_at, updated_at"


_UPDATE_OTA = (
    "UPDATE ota_runs SET state = :state, updated_at = :at, "  # noqa: S608 - our columns
    "progress = coalesce(:progress, progress), error = coalesce(:error, error) "
    "WHERE id = :id AND state IN (SELECT value FROM json_each(:from)) "
    f"RETURNING {_OTA_COLS}"
)


def _ota(r: tuple[Any, ...]) -> OtaRow:
    return OtaRow(
        id=r[0],
        device_id=r[1],
        version=r[2],
        url=r[3],
        sha256=r[4],
        state=r[5],
        progress=r[6],
        error=r[7],
        created_at=from_us(r[8]),
        updated_at=from_us(r[9]),
    )


def insert_ota(con: sqlite3.Connection, o: OtaRow) -> None:
    """Insert a new firmware update; a taken id violates the primary key."""
    with transaction(con):
        con.execute(
            f"INSERT INTO ota_runs ({_OTA_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)",  # noqa: S608
            (
                o.id,
                o.device_id,
                o.version,
                o.url,
                o.sha256,
                o.state,
                o.progress,
                o.error,
                _us(o.created_at, "OtaRow.created_at"),
                _us(o.updated_at, "OtaRow.updated_at"),
            ),
        )


def get_ota(con: sqlite3.Connection, ota_id: str) -> OtaRow | None:
    """One firmware update or None."""
    row = con.execute(f"SELECT {_OTA_COLS} FROM ota_runs WHERE id = ?", (ota_id,)).fetchone()  # noqa: S608
    return None if row is None else _ota(row)


def list_ota(con: sqlite3.Connection, device_id: str, limit: int) -> list[OtaRow]:
    """Firmware updates of one device, newest first."""
    sql = (
        f"SELECT {_OTA_COLS} FROM ota_runs WHERE device_id = ? "  # noqa: S608
        "ORDER BY created_at DESC, id LIMIT ?"
    )
    return [_ota(r) for r in con.execute(sql, (device_id, limit))]


def update_ota(
    con: sqlite3.Connection,
    ota_id: str,
    *,
    state: str,
    at: datetime,
    from_states: Sequence[str],
    progress: float | None,
    error: str | None,
) -> OtaRow | None:
    """Move a firmware update to ``state`` only from ``from_states``, in one statement."""
    args = {
        "id": ota_id,
        "state": state,
        "at": _us(at, "at"),
        "progress": progress,
        "error": error,
        "from": _json(list(from_states)),
    }
    with transaction(con):
        row = con.execute(_UPDATE_OTA, args).fetchall()
    return _ota(row[0]) if row else None
