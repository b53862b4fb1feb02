"""PostgreSQL work for MQTT devices: dead letters, events, commands and OTA runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from meterhub.adapters.stores._pg_readings import Params
from meterhub.adapters.stores._rows import CommandRow, DeadLetterRow, DeviceEventRow, OtaRow
from meterhub.adapters.stores._time import require_utc
from meterhub.model import CommandState

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from meterhub.adapters.stores._pg_types import PgConnection, Record

_OBJECT = msgspec.json.Decoder(dict[str, Any])
_FINISHED = frozenset({CommandState.ACKNOWLEDGED, CommandState.FAILED, CommandState.EXPIRED})


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


def _opt_utc(value: datetime | None, what: str) -> datetime | None:
    return None if value is None else require_utc(value, what)


def _inserted(status: str) -> int:
    """Rows an ``INSERT 0 n`` status reports."""
    return int(status.rsplit(" ", 1)[-1])


# dead letters -------------------------------------------------------------------------

_DEAD_COLS = "id, device_id, ts, reason, detail, topic, payload, journal_seq"

# One statement for the batch (asyncpg's executemany reports no counts); the partial
# unique index on (journal_seq, device_id) skips the letters stored already.
_INSERT_DEAD = (
    "INSERT INTO dead_letters (device_id, ts, reason, detail, topic, payload, journal_seq) "
    "SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], "
    "$6::bytea[], $7::bigint[]) ON CONFLICT DO NOTHING"
)


async def write_dead_letters(con: PgConnection, rows: Sequence[DeadLetterRow]) -> int:
    """Insert dead letters not stored yet (by journal record and device)."""
    if not rows:
        return 0
    ts = [require_utc(r.ts, "DeadLetterRow.ts") for r in rows]
    status = await con.execute(
        _INSERT_DEAD,
        [r.device_id for r in rows],
        ts,
        [r.reason for r in rows],
        [r.detail for r in rows],
        [r.topic for r in rows],
        [r.payload for r in rows],
        [r.journal_seq for r in rows],
    )
    return _inserted(status)


async def list_dead_letters(
    con: PgConnection,
    device: str | None,
    reason: str | None,
    limit: int,
    before_id: int | None,
) -> list[DeadLetterRow]:
    """Dead letters matching every filter, highest id first."""
    p = Params()
    sql = f"SELECT {_DEAD_COLS} FROM dead_letters WHERE true"  # noqa: S608
    if device is not None:
        sql += f" AND device_id = {p(device)}"
    if reason is not None:
        sql += f" AND reason = {p(reason)}"
    if before_id is not None:
        sql += f" AND id < {p(before_id)}"
    sql += f" ORDER BY id DESC LIMIT {p(limit)}"
    return [
        DeadLetterRow(
            id=r[0],
            device_id=r[1],
            ts=r[2],
            reason=r[3],
            detail=r[4],
            topic=r[5],
            payload=bytes(r[6]),
            journal_seq=r[7],
        )
        for r in await con.fetch(sql, *p.values)
    ]


# device events ------------------------------------------------------------------------

_INSERT_EVENTS = (
    "INSERT INTO device_events (device_id, ts, kind, journal_seq, details) "
    "SELECT d, t, k, j, x::jsonb FROM unnest($1::text[], $2::timestamptz[], $3::text[], "
    "$4::bigint[], $5::text[]) AS u (d, t, k, j, x) ON CONFLICT DO NOTHING"
)


async def write_device_events(con: PgConnection, rows: Sequence[DeviceEventRow]) -> int:
    """Insert events not stored yet (by device, kind and journal record)."""
    if not rows:
        return 0
    ts = [require_utc(r.ts, "DeviceEventRow.ts") for r in rows]
    status = await con.execute(
        _INSERT_EVENTS,
        [r.device_id for r in rows],
        ts,
        [r.kind for r in rows],
        [r.journal_seq for r in rows],
        [_json(r.details) for r in rows],
    )
    return _inserted(status)


async def list_device_events(
    con: PgConnection,
    device_id: str,
    *,
    kinds: list[str] | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[DeviceEventRow]:
    """Events of one device in ``[start, end)``, newest first."""
    p = Params()
    sql = "SELECT device_id, ts, kind, journal_seq, details FROM device_events WHERE "
    sql += f"device_id = {p(device_id)}"
    if kinds is not None:
        sql += f" AND kind = ANY({p(kinds)}::text[])"
    if start is not None:
        sql += f" AND ts >= {p(require_utc(start, 'start'))}"
    if end is not None:
        sql += f" AND ts < {p(require_utc(end, 'end'))}"
    sql += f" ORDER BY ts DESC, id DESC LIMIT {p(limit)}"
    return [
        DeviceEventRow(
            device_id=r[0], ts=r[1], kind=r[2], journal_seq=r[3], details=_OBJECT.decode(r[4])
        )
        for r in await con.fetch(sql, *p.values)
    ]


# commands ---------------------------------------------------------------------------

_COMMAND_COLS = (
    "id, device_id, command, params, state, created_at, updated_at, expires_at, sent_at, "
    "finished_at, result, error"
)

# The state test and the change are one statement: of two writers moving a command out of
# the same state, the second waits for the first's row lock, re-checks the state and misses.
_UPDATE_COMMAND = (
    "UPDATE commands SET state = $2, updated_at = $3, "  # noqa: S608 - our columns
    "sent_at = coalesce($4, sent_at), finished_at = coalesce($5, finished_at), "
    "result = coalesce($6::jsonb, result), error = coalesce($7, error) "
    f"WHERE id = $1 AND state = ANY($8::text[]) RETURNING {_COMMAND_COLS}"
)


def _command(r: Record) -> CommandRow:
    return CommandRow(
        id=r[0],
        device_id=r[1],
        command=r[2],
        params=_OBJECT.decode(r[3]),
        state=CommandState(r[4]),
        created_at=r[5],
        updated_at=r[6],
        expires_at=r[7],
        sent_at=r[8],
        finished_at=r[9],
        result=_OBJECT.decode(r[10]),
        error=r[11],
    )


async def insert_command(con: PgConnection, c: CommandRow) -> None:
    """Insert a new command; a taken id violates the primary key."""
    await con.execute(
        f"INSERT INTO commands ({_COMMAND_COLS}) "  # noqa: S608
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        c.id,
        c.device_id,
        c.command,
        _json(c.params),
        c.state.value,
        require_utc(c.created_at, "CommandRow.created_at"),
        require_utc(c.updated_at, "CommandRow.updated_at"),
        require_utc(c.expires_at, "CommandRow.expires_at"),
        _opt_utc(c.sent_at, "CommandRow.sent_at"),
        _opt_utc(c.finished_at, "CommandRow.finished_at"),
        _json(c.result),
        c.error,
    )


async def get_command(con: PgConnection, command_id: str) -> CommandRow | None:
    """One command or None."""
    sql = f"SELECT {_COMMAND_COLS} FROM commands WHERE id = $1"  # noqa: S608
    row = await con.fetchrow(sql, command_id)
    return None if row is None else _command(row)


async def list_commands(
    con: PgConnection, device_id: str | None, states: Sequence[CommandState] | None, limit: int
) -> list[CommandRow]:
    """Commands matching every filter, newest first."""
    p = Params()
    sql = f"SELECT {_COMMAND_COLS} FROM commands WHERE true"  # noqa: S608
    if device_id is not None:
        sql += f" AND device_id = {p(device_id)}"
    if states is not None:
        sql += f" AND state = ANY({p([CommandState(s).value for s in states])}::text[])"
    sql += f" ORDER BY created_at DESC, id LIMIT {p(limit)}"
    return [_command(r) for r in await con.fetch(sql, *p.values)]


async def update_command(
    con: PgConnection,
    command_id: str,
    *,
    state: CommandState,
    at: datetime,
    from_states: Sequence[CommandState],
    result: dict[str, Any] | None,
    error: str | None,
) -> CommandRow | None:
    """Move a command to ``state`` only from ``from_states``, in one statement."""
    at = require_utc(at, "at")
    row = await con.fetchrow(
        _UPDATE_COMMAND,
        command_id,
        CommandState(state).value,
        at,
        at if state == CommandState.SENT else None,
        at if state in _FINISHED else None,
        None if result is None else _json(result),
        error,
        [CommandState(s).value for s in from_states],
    )
    return None if row is None else _command(row)


# firmware updates -------------------------------------------------------------------

_OTA_COLS = "id, device_id, version, url, sha256, state, progress, error, created_at, updated_at"

_UPDATE_OTA = (
    "UPDATE ota_runs SET state = $2, updated_at = $3, "  # noqa: S608 - our columns
    "progress = coalesce($4, progress), error = coalesce($5, error) "
    f"WHERE id = $1 AND state = ANY($6::text[]) RETURNING {_OTA_COLS}"
)


def _ota(r: Record) -> OtaRow:
    return OtaRow(
        id=r[0],
        device_id=r[1],
        version=r[2],
        url=r[3],
        sha256=r[4],
        state=r[5],
        progress=r[6],
        error=r[7],
        created_at=r[8],
        updated_at=r[9],
    )


async def insert_ota(con: PgConnection, o: OtaRow) -> None:
    """Insert a new firmware update; a taken id violates the primary key."""
    await con.execute(
        f"INSERT INTO ota_runs ({_OTA_COLS}) "  # noqa: S608
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        o.id,
        o.device_id,
        o.version,
        o.url,
        o.sha256,
        o.state,
        o.progress,
        o.error,
        require_utc(o.created_at, "OtaRow.created_at"),
        require_utc(o.updated_at, "OtaRow.updated_at"),
    )


async def get_ota(con: PgConnection, ota_id: str) -> OtaRow | None:
    """One firmware update or None."""
    row = await con.fetchrow(f"SELECT {_OTA_COLS} FROM ota_runs WHERE id = $1", ota_id)  # noqa: S608
    return None if row is None else _ota(row)


async def list_ota(con: PgConnection, device_id: str, limit: int) -> list[OtaRow]:
    """Firmware updates of one device, newest first."""
    sql = (
        f"SELECT {_OTA_COLS} FROM ota_runs WHERE device_id = $1 "  # noqa: S608
        "ORDER BY created_at DESC, id LIMIT $2"
    )
    return [_ota(r) for r in await con.fetch(sql, device_id, limit)]


async def update_ota(
    con: PgConnection,
    ota_id: str,
    *,
    state: str,
    at: datetime,
    from_states: Sequence[str],
    progress: float | None,
    error: str | None,
) -> OtaRow | None:
    """Move a firmware update to ``state`` only from ``from_states``, in one statement."""
    row = await con.fetchrow(
        _UPDATE_OTA, ota_id, state, require_utc(at, "at"), progress, error, list(from_states)
    )
    return None if row is None else _ota(row)
