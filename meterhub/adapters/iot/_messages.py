"""The payloads MQTT devices publish, parsed strictly (``docs/mqtt-protocol.md``, "Topics").

Parsing is pure: bytes in, a typed message or a :class:`PayloadError` out. The JSON is
decoded untyped first, so that a payload naming another device is ``wrong_device``
whatever else is wrong with it, then converted into private wire Structs whose field
names are the protocol's; the public messages use meterhub's words.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from meterhub.platform._errors import MeterhubError

DEAD_LETTER_REASONS: tuple[str, ...] = (
    "malformed_json",
    "wrong_type",
    "oversize",
    "unknown_device_type",
    "wrong_device",
    "unknown_topic",
    "unregistered",
    "pending_device",
    "rejected_device",
)
"""Why a payload went to the dead letters, in the order of the protocol document's table."""

MESSAGE_KINDS: tuple[str, ...] = ("hello", "telemetry", "status", "command/ack", "ota/status")
"""The topics below ``<prefix>/<device_id>/`` a device publishes on."""

MAX_BATCH = 10_000
"""At most this many readings in one telemetry array."""


class PayloadError(MeterhubError):
    """A device's payload gave nothing usable.

    Attributes:
        reason: one of :data:`DEAD_LETTER_REASONS`.
        detail: what was wrong and where (a byte offset or a JSON path such as ``$.seq``).
    """

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in DEAD_LETTER_REASONS:
            msg = f"unknown dead-letter reason {reason!r}"
            raise ValueError(msg)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class Hello(msgspec.Struct, frozen=True):
    """A device (re)started or changed: its type, firmware and capabilities."""

    device_type: str
    fw_version: str | None
    capabilities: list[str]


class TelemetryItem(msgspec.Struct, frozen=True):
    """One reading: its sequence number, time (aware UTC), boot id and raw measurements."""

    seq: int
    ts: datetime | None
    boot: int | str | None
    measurements: dict[str, Any]


class Status(msgspec.Struct, frozen=True):
    """A heartbeat or the broker's last will; ``details`` holds the other scalar fields."""

    online: bool
    details: dict[str, float | int | str | bool]


class Ack(msgspec.Struct, frozen=True):
    """A device's answer to the command ``command_id``."""

    command_id: str
    ok: bool
    result: dict[str, Any]
    error: str | None


class OtaStatus(msgspec.Struct, frozen=True):
    """Progress of the firmware update requested by the command ``ota_id``."""

    ota_id: str
    state: str
    progress: float | None
    error: str | None


_T = TypeVar("_T")

Message = Hello | list[TelemetryItem] | Status | Ack | OtaStatus

_Text = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class _HelloWire(msgspec.Struct, frozen=True, kw_only=True):
    device_type: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    fw_version: str | None = None
    capabilities: list[str] | None = None


class _TelemetryWire(msgspec.Struct, frozen=True, kw_only=True):
    seq: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
    ts: datetime | None = None
    boot: int | str | None = None
    measurements: dict[str, Any]


class _StatusWire(msgspec.Struct, frozen=True, kw_only=True):
    state: Literal["online", "offline"]


class _AckWire(msgspec.Struct, frozen=True, kw_only=True):
    id: _Text
    status: Literal["ok", "error"]
    result: dict[str, Any] | None = None
    error: str | None = None


class _OtaWire(msgspec.Struct, frozen=True, kw_only=True):
    ota_id: _Text
    state: Literal["downloading", "installing", "updated", "failed"]
    progress: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    error: str | None = None


# Protocol fields that are not a status's details.
_STATUS_FIELDS = frozenset(("state", "device_id", "v"))


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    # The protocol takes a time without an offset as UTC.
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _where(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column} (byte {offset})"


def _decode_json(payload: bytes) -> object:
    if not payload:
        raise PayloadError("malformed_json", "empty payload")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError("malformed_json", f"not UTF-8 at byte {exc.start}") from exc
    try:
        return msgspec.json.decode(payload)
    except RecursionError as exc:
        raise PayloadError("malformed_json", "nested too deeply to decode") from exc
    except msgspec.ValidationError as exc:  # a number beyond what a float holds (1e400)
        raise PayloadError("malformed_json", str(exc)) from exc
    except msgspec.DecodeError as exc:
        message = str(exc)
        if "(byte " in message:
            offset = int(message.rsplit("(byte ", 1)[1].rstrip(")"))
            if "trailing characters" in message:  # msgspec counts one past the first
                offset -= 1
            message = f"{message.rsplit(' (byte ', 1)[0]} at {_where(text, offset)}"
        elif "truncated" in message:
            message = f"truncated: the payload ends at {_where(text, len(payload))}"
        raise PayloadError("malformed_json", message) from exc


def _check_device(data: object, device_id: str, path: str) -> None:
    if not isinstance(data, dict) or "device_id" not in data:
        return
    named = data["device_id"]
    if not isinstance(named, str):
        detail = f"Expected `str`, got `{type(named).__name__}` - at `{path}.device_id`"
        raise PayloadError("wrong_type", detail)
    if named != device_id:
        detail = f"`{path}.device_id` is {named!r}, but the topic is {device_id!r}'s"
        raise PayloadError("wrong_device", detail)


def _convert(data: object, kind: type[_T]) -> _T:
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        message = str(exc)
        # msgspec names no path for an error in the top-level value.
        where = "" if " - at `" in message else " - at `$`"
        raise PayloadError("wrong_type", message + where) from exc


def _telemetry(data: object) -> list[TelemetryItem]:
    if isinstance(data, list):
        if not data or len(data) > MAX_BATCH:
            detail = f"a batch holds 1 to {MAX_BATCH} readings, not {len(data)} - at `$`"
            raise PayloadError("wrong_type", detail)
        wires = _convert(data, list[_TelemetryWire])
    else:
        wires = [_convert(data, _TelemetryWire)]
    return [TelemetryItem(w.seq, _utc(w.ts), w.boot, w.measurements) for w in wires]


def _status(data: object) -> Status:
    wire = _convert(data, _StatusWire)
    assert isinstance(data, dict)  # noqa: S101 - the conversion above checked it
    details = {
        key: value
        for key, value in data.items()
        if key not in _STATUS_FIELDS and isinstance(value, float | int | str | bool)
    }
    return Status(online=wire.state == "online", details=details)


def _build(kind: str, data: object) -> Message:
    if kind == "telemetry":
        return _telemetry(data)
    if kind == "hello":
        hello = _convert(data, _HelloWire)
        return Hello(hello.device_type, hello.fw_version, list(hello.capabilities or ()))
    if kind == "status":
        return _status(data)
    if kind == "command/ack":
        ack = _convert(data, _AckWire)
        return Ack(ack.id, ack.status == "ok", dict(ack.result or {}), ack.error)
    ota = _convert(data, _OtaWire)
    return OtaStatus(ota.ota_id, ota.state, ota.progress, ota.error)


def parse_payload(kind: str, device_id: str, payload: bytes, *, max_bytes: int) -> Message:
    """Parse the payload a device published on ``<prefix>/<device_id>/<kind>``.

    Args:
        kind: the topic below ``<prefix>/<device_id>/`` (``telemetry``, ``command/ack``...).
        device_id: the device the topic names.
        payload: the raw MQTT payload.
        max_bytes: the largest payload accepted (``[mqtt] max_payload_bytes``).

    Returns:
        a :class:`Hello`, :class:`Status`, :class:`Ack`, :class:`OtaStatus`, or for
        telemetry the list of its readings (one for a single object).

    Raises:
        PayloadError: ``unknown_topic``, ``oversize``, ``malformed_json``,
            ``wrong_device`` or ``wrong_type``, with a detail saying where.
    """
    if kind not in MESSAGE_KINDS:
        detail = f"{kind!r} is not a device topic (one of {', '.join(MESSAGE_KINDS)})"
        raise PayloadError("unknown_topic", detail)
    if len(payload) > max_bytes:
        raise PayloadError("oversize", f"{len(payload)} bytes, more than the {max_bytes} allowed")
    data = _decode_json(payload)
    if kind == "telemetry" and isinstance(data, list):
        for index, item in enumerate(data[: MAX_BATCH + 1]):
            _check_device(item, device_id, f"$[{index}]")
    else:
        _check_device(data, device_id, "$")
    return _build(kind, data)
