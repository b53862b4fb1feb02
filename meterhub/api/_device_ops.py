"""MQTT device operations: dead letters, device events, commands and firmware updates.

Commands and updates are stored first (``queued``, ``requested``) and then handed to the
site, which sends them (``iot/{id}/command``, docs/mqtt-protocol.md) and records their
acks and progress; these routes only read what it recorded.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from litestar import Router, get, post, put
from litestar.params import FromPath, JSONBody, QueryParameter

from meterhub.adapters.stores import CommandRow, DeadLetterRow, Device, DeviceEventRow, OtaRow
from meterhub.api._auth import access
from meterhub.api._deps import View  # noqa: TC001 (Litestar resolves it at runtime)
from meterhub.api._paging import aware
from meterhub.api._problems import ApiProblem, bad_param, problem_specs
from meterhub.api._schemas import Name
from meterhub.model import CommandState

_TAGS = ["device operations"]
_INPUT = "meterhub.input"
_APPROVAL = "meterhub.approval"
_CAPABILITIES = "capabilities"
OTA_COMMAND = "ota_update"
"""The command that asks a device to update its firmware (docs/mqtt-protocol.md)."""

EventKind = Literal["gap", "restart", "online", "offline"]
Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="rows per page")]
Start = Annotated[datetime | None, QueryParameter(
    description="ISO 8601, inclusive; naive times are UTC")]  # fmt: skip
End = Annotated[datetime | None, QueryParameter(description="ISO 8601, exclusive")]
Before = Annotated[int | None, QueryParameter(
    ge=1, le=2**62, description="next of the previous page")]  # fmt: skip
Kinds = Annotated[list[EventKind] | None, QueryParameter(
    description="repeat for several; omitted: all")]  # fmt: skip
# checked here, not by Litestar: ``state`` is a name Litestar reserves, and its own error
# would name the Python argument instead of the query parameter
States = Annotated[list[str] | None, QueryParameter(
    name="state", description="queued, sent, acknowledged, failed or expired; repeat for "
    "several; omitted: all")]  # fmt: skip


# bodies -------------------------------------------------------------------------------


class CommandIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A command for an MQTT device."""

    command: Name
    params: Annotated[dict[str, Any], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=dict
    )
    timeout_s: Annotated[float, msgspec.Meta(ge=1, le=86_400)] | None = None
    """How long to wait for the device's ack; default ``[mqtt] command_timeout_s``."""


class OtaIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A firmware update for an MQTT device."""

    url: Annotated[str, msgspec.Meta(
        max_length=2048, pattern=r"^https?://[^/?#\s\x00-\x1f\x7f]+[^\s\x00-\x1f\x7f]*$",
        description="where the device downloads the image (http or https)")]  # fmt: skip
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=64,
                                         pattern=r"^[^\x00-\x1f\x7f]+$")]  # fmt: skip
    sha256: Annotated[str, msgspec.Meta(
        pattern=r"^[0-9A-Fa-f]{64}$", description="of the image, 64 hex digits")]  # fmt: skip


# responses ----------------------------------------------------------------------------


class DeadLetterOut(msgspec.Struct, frozen=True, kw_only=True):
    """A payload that gave nothing usable (reasons: docs/mqtt-protocol.md)."""

    id: int
    device_id: str
    ts: datetime
    reason: str
    detail: str
    topic: str
    journal_seq: int | None
    payload_hex: str
    payload_text: str | None
    """The payload as text, null when it is not valid UTF-8."""


class DeadLettersOut(msgspec.Struct, frozen=True, kw_only=True):
    """Dead letters, newest (highest id) first."""

    items: list[DeadLetterOut]
    next: int | None = None
    """Pass as ``before`` for the next page; null on the last page."""


class DeviceEventsOut(msgspec.Struct, frozen=True, kw_only=True):
    """A device's events, newest first."""

    items: list[DeviceEventRow]


class CommandsOut(msgspec.Struct, frozen=True, kw_only=True):
    """Commands, newest first."""

    items: list[CommandRow]


class OtaRunsOut(msgspec.Struct, frozen=True, kw_only=True):
    """Firmware updates, newest first."""

    items: list[OtaRow]


class OtaRequested(msgspec.Struct, frozen=True, kw_only=True):
    """A firmware update and the command (same id) that asks the device for it."""

    ota: OtaRow
    command: CommandRow


# helpers ------------------------------------------------------------------------------


def _dead_letter(row: DeadLetterRow) -> DeadLetterOut:
    try:
        text: str | None = row.payload.decode()
    except UnicodeDecodeError:
        text = None
    return DeadLetterOut(
        id=row.id or 0, device_id=row.device_id, ts=row.ts, reason=row.reason,
        detail=row.detail, topic=row.topic, journal_seq=row.journal_seq,
        payload_hex=row.payload.hex(), payload_text=text,
    )  # fmt: skip


async def _known(view: View, device_id: str) -> None:
    if await view.store.get_device(device_id) is None:
        raise ApiProblem(404, f"no device {device_id!r}", param=("path", "device_id"))


async def _mqtt_device(view: View, device_id: str) -> Device:
    """The device; 404 for an unknown one, 409 for one that does not speak MQTT."""
    device = await view.store.get_device(device_id)
    if device is None:
        raise ApiProblem(404, f"no device {device_id!r}", param=("path", "device_id"))
    source = device.metadata.get(_INPUT)
    if source != "mqtt":
        raise ApiProblem(409, f"device {device_id!r} is not an MQTT device (its input is "
                         f"{source or 'not set'}): only MQTT devices take commands",
                         param=("path", "device_id"), slug="not-mqtt-device")  # fmt: skip
    return device


async def _commandable(view: View, device_id: str, capability: str) -> None:
    """404 or 409 as ``_mqtt_device``; 409 also for a device that is not accepted.

    Also 409 when its hello listed capabilities without ``capability`` (``command``, ``ota``).
    """
    device = await _mqtt_device(view, device_id)
    approval = device.metadata.get(_APPROVAL, "accepted")
    if approval != "accepted":
        raise ApiProblem(409, f"device {device_id!r} is {approval}: only accepted devices take "
                         f"commands (PUT /api/v1/devices/{device_id}/approval)",
                         param=("path", "device_id"), slug="device-not-accepted")  # fmt: skip
    # capabilities are optional in a hello: only a device that listed some is held to them
    listed = [c for c in str(device.metadata.get(_CAPABILITIES, "")).split(",") if c]
    if listed and capability not in listed:
        raise ApiProblem(409, f"device {device_id!r} cannot take {capability!r}: its hello "
                         f"lists {', '.join(listed)}", param=("path", "device_id"),
                         slug="missing-capability")  # fmt: skip


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _state(value: str) -> CommandState:
    try:
        return CommandState(value)
    except ValueError:
        raise bad_param("query", "state", f"{value!r} is none of "
                        f"{', '.join(s.value for s in CommandState)}") from None  # fmt: skip


def _command_row(
    command_id: str, device_id: str, command: str, params: dict[str, Any], timeout_s: float
) -> CommandRow:
    now = datetime.now(UTC)
    return CommandRow(
        id=command_id, device_id=device_id, command=command, params=params,
        state=CommandState.QUEUED, created_at=now, updated_at=now,
        expires_at=now + timedelta(seconds=timeout_s),
    )  # fmt: skip


# routes -------------------------------------------------------------------------------


@get("/dead-letters", opt=access("operator"), summary="List dead letters")
async def list_dead_letters(
    view: View,
    *,
    device: Annotated[str | None, QueryParameter(max_length=64)] = None,
    reason: Annotated[str | None, QueryParameter(max_length=64)] = None,
    limit: Limit = 100,
    before: Before = None,
) -> DeadLettersOut:
    """Payloads from MQTT devices that gave nothing usable, with their raw bytes."""
    rows = await view.store.list_dead_letters(device=device, reason=reason, limit=limit + 1,
                                              before_id=before)  # fmt: skip
    page = rows[:limit]
    more = len(rows) > limit
    return DeadLettersOut(items=[_dead_letter(r) for r in page],
                          next=page[-1].id if more else None)  # fmt: skip


@get("/devices/{device_id:str}/events", opt=access("viewer"), summary="List device events",
     responses=problem_specs(404))  # fmt: skip
async def list_device_events(
    view: View,
    device_id: FromPath[str],
    *,
    kind: Kinds = None,
    start: Start = None,
    end: End = None,
    limit: Limit = 100,
) -> DeviceEventsOut:
    """Sequence gaps, counter restarts and link changes of one device, newest first."""
    start_, end_ = aware(start, "start"), aware(end, "end")
    if start_ is not None and end_ is not None and start_ >= end_:
        raise bad_param("query", "end", "must be later than start")
    await _known(view, device_id)
    wanted = None if kind is None else list[str](kind)
    rows = await view.store.list_device_events(
        device_id, kinds=wanted, start=start_, end=end_, limit=limit
    )
    return DeviceEventsOut(items=rows)


@post("/devices/{device_id:str}/commands", opt=access("operator"), status_code=202,
      summary="Send a command", responses=problem_specs(404, 409))  # fmt: skip
async def send_command(
    view: View, device_id: FromPath[str], data: JSONBody[CommandIn]
) -> CommandRow:
    """Queue a command for an MQTT device; follow it with ``GET /commands/{id}``.

    404 for an unknown device; 409 for one that is not an MQTT device, not accepted, or
    whose hello lists capabilities without ``command``.
    """
    # the store keeps no NUL (it would hold U+FFFD), and the device must get what it keeps
    if _has_nul(data.params):
        raise bad_param("body", "params", "must hold no NUL character (\\u0000)")
    await _commandable(view, device_id, "command")
    timeout = data.timeout_s if data.timeout_s is not None else view.command_timeout_s()
    row = _command_row(str(uuid.uuid4()), device_id, data.command, dict(data.params), timeout)
    await view.store.insert_command(row)
    await view.command_queued(row)
    return row


@get("/devices/{device_id:str}/commands", opt=access("viewer"), summary="List commands",
     responses=problem_specs(404))  # fmt: skip
async def list_commands(
    view: View,
    device_id: FromPath[str],
    *,
    states: States = None,
    limit: Limit = 100,
) -> CommandsOut:
    """A device's commands, newest first."""
    await _known(view, device_id)
    wanted = None if states is None else [_state(s) for s in states]
    return CommandsOut(items=await view.store.list_commands(device_id=device_id, states=wanted,
                                                            limit=limit))  # fmt: skip


@get("/commands/{command_id:str}", opt=access("viewer"), summary="Get a command",
     responses=problem_specs(404))  # fmt: skip
async def get_command(view: View, command_id: FromPath[str]) -> CommandRow:
    """One command and where it is: queued, sent, acknowledged, failed or expired."""
    row = await view.store.get_command(command_id)
    if row is None:
        raise ApiProblem(404, f"no command {command_id!r}", param=("path", "command_id"))
    return row


@post("/devices/{device_id:str}/ota", opt=access("admin"), status_code=202,
      summary="Update a device's firmware", responses=problem_specs(404, 409))  # fmt: skip
async def request_ota(view: View, device_id: FromPath[str], data: JSONBody[OtaIn]) -> OtaRequested:
    """Ask an MQTT device to update its firmware: an ``ota_update`` command with the same id.

    Follow it with ``GET /ota/{id}``. 404 for an unknown device; 409 for one that is not
    an MQTT device, not accepted, or whose hello lists capabilities without ``ota``.
    """
    await _commandable(view, device_id, "ota")
    ota_id = str(uuid.uuid4())
    sha256 = data.sha256.lower()
    params: dict[str, Any] = {"url": data.url, "version": data.version, "sha256": sha256}
    command = _command_row(ota_id, device_id, OTA_COMMAND, params, view.command_timeout_s())
    ota = OtaRow(id=ota_id, device_id=device_id, version=data.version, url=data.url,
                 sha256=sha256, state="requested", created_at=command.created_at,
                 updated_at=command.created_at)  # fmt: skip
    await view.store.insert_ota(ota)
    await view.store.insert_command(command)
    await view.command_queued(command)
    return OtaRequested(ota=ota, command=command)


@get("/devices/{device_id:str}/ota", opt=access("viewer"), summary="List firmware updates",
     responses=problem_specs(404))  # fmt: skip
async def list_ota(view: View, device_id: FromPath[str], limit: Limit = 100) -> OtaRunsOut:
    """A device's firmware updates, newest first."""
    await _known(view, device_id)
    return OtaRunsOut(items=await view.store.list_ota(device_id, limit=limit))


@get("/ota/{ota_id:str}", opt=access("viewer"), summary="Get a firmware update",
     responses=problem_specs(404))  # fmt: skip
async def get_ota(view: View, ota_id: FromPath[str]) -> OtaRow:
    """One firmware update and its progress."""
    row = await view.store.get_ota(ota_id)
    if row is None:
        raise ApiProblem(404, f"no firmware update {ota_id!r}", param=("path", "ota_id"))
    return row


class ApprovalIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An operator's decision on an MQTT device."""

    approval: Literal["accepted", "pending", "rejected"]


class ApprovalOut(msgspec.Struct, frozen=True, kw_only=True):
    """An MQTT device's approval, as the pipeline now applies it."""

    device_id: str
    approval: str


@put("/devices/{device_id:str}/approval", opt=access("admin"), summary="Approve a device",
     responses=problem_specs(404, 409))  # fmt: skip
async def set_approval(
    view: View, device_id: FromPath[str], data: JSONBody[ApprovalIn]
) -> ApprovalOut:
    """Accept, hold or reject an MQTT device's telemetry from its next payload on.

    Payloads that waited in the dead letters (``pending_device``) stay there: after
    accepting a device, ``meterhub replay`` over their span takes them in.
    """
    device = await _mqtt_device(view, device_id)
    metadata = {**device.metadata, _APPROVAL: data.approval}
    await view.store.upsert_device(msgspec.structs.replace(
        device, metadata=metadata, updated_at=datetime.now(UTC)))  # fmt: skip
    await view.devices_changed()
    return ApprovalOut(device_id=device_id, approval=data.approval)


def device_ops_router() -> Router:
    """The dead letter, device event, command and firmware update routes."""
    return Router(
        path="/",
        route_handlers=[list_dead_letters, list_device_events, send_command, list_commands,
                        get_command, request_ota, list_ota, get_ota, set_approval],
        tags=_TAGS,
    )  # fmt: skip
