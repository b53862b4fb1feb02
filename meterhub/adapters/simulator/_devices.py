"""Simulated MQTT devices: the payloads of docs/mqtt-protocol.md, without the MQTT.

Pure and deterministic: a ``SimulatedDevice`` turns instants and commands into the
payloads a device of one of ``DEVICE_KINDS`` publishes, each with the topic suffix it
goes to (``Outgoing``); ``meterhub simulate --mqtt`` does the I/O. Meters and the
breaker take their values from the meter simulator's load model, so energy counters
only grow; sensors follow a daily curve.

Misbehaviours, each enabled by name, strike a telemetry message with probability
``MISBEHAVIOUR_RATE`` (one in ten), drawn from (seed, device id, message number), so a
run repeats exactly and the misbehaviours strike independently of each other:

- ``duplicates``: the message is sent twice;
- ``gaps``: 1 to 5 sequence numbers are skipped first;
- ``restarts``: the device reboots first: a fresh ``hello``, a new ``boot``, ``seq`` 0;
- ``malformed``: a broken payload (cut JSON, not UTF-8, a field of the wrong type)
  follows the message; it carries no reading of its own;
- ``batches``: the message carries 2 to 4 readings as one JSON array.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, NamedTuple

import msgspec

from meterhub.adapters.simulator._load import LoadModel, MeterState
from meterhub.adapters.simulator._noise import between, noise
from meterhub.adapters.simulator._shapes import COMMERCIAL, HOUSEHOLD

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

DEVICE_KINDS: Final = (
    "power_meter_ac",
    "power_meter_dc",
    "smart_breaker",
    "temperature_sensor",
    "humidity_sensor",
)
MISBEHAVIOURS: Final = ("duplicates", "gaps", "restarts", "malformed", "batches")
MISBEHAVIOUR_RATE: Final = 0.1
"""The chance that one misbehaviour strikes one telemetry message."""
FIRMWARE: Final = "1.0.0"
FAILING_SHA256: Final = "0" * 64
"""An ``ota_update`` with this checksum fails (``checksum mismatch``), for tests."""
OTA_PROGRESS: Final = (0, 25, 50, 75, 100)

Suffix = Literal["hello", "telemetry", "status", "command/ack", "ota/status"]


class Outgoing(NamedTuple):
    """One payload to publish on ``<prefix>/<device_id>/<suffix>``."""

    suffix: Suffix
    payload: bytes


# independent noise streams
_MISBEHAVE = {name: 100 + i for i, name in enumerate(MISBEHAVIOURS)}
_GAP_SIZE = 110
_BATCH_SIZE = 111
_MALFORMED_KIND = 112
_FREQUENCY = 120
_DC_VOLTAGE = 121
_TEMPERATURE = 122
_HUMIDITY = 123
_BATTERY = 124
_RSSI = 125
_PHASES = ("phase_a", "phase_b", "phase_c")
_RELAYS = ("l1", "l2", "l3")
_REMEMBERED_COMMANDS = 64
"""Answers kept per device, so a command the broker delivers twice is done once."""
_SECONDS_PER_DAY = 86_400.0
_MALFORMED_KINDS = 4
_encoder = msgspec.json.Encoder()


class _Command(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    id: str
    command: str
    params: dict[str, Any] = {}
    expires_at: datetime | None = None


class _SetRelay(msgspec.Struct, frozen=True):
    phase: Literal["l1", "l2", "l3", "all"]
    on: bool


class _OtaUpdate(msgspec.Struct, frozen=True):
    url: str
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    sha256: Annotated[str, msgspec.Meta(pattern="^[0-9A-Fa-f]{64}$")]


def _device_seed(seed: int, device_id: str) -> int:
    """One seed per (run seed, device), so devices of one run differ."""
    digest = hashlib.sha256(f"{seed}:{device_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _phases(values: Iterable[float], unit: str = "") -> dict[str, Any]:
    """``phase_a``..``phase_c``, with the unit beside them (booleans are relays)."""
    out: dict[str, Any] = dict(zip(_PHASES, values, strict=True))
    if unit:
        out["unit"] = unit
    return out


def _daily(local: datetime, peak_hour: float) -> float:
    """A cosine over the day, 1 at ``peak_hour`` local time, -1 twelve hours later."""
    hour = local.hour + local.minute / 60.0 + local.second / 3600.0
    return math.cos(2.0 * math.pi * (hour - peak_hour) / 24.0)


class SimulatedDevice:
    """One device of the MQTT device protocol: its payloads, counters and commands.

    Args:
        kind: one of ``DEVICE_KINDS`` (the hello's ``device_type``).
        device_id: the id in its topics.
        seed: seeds the values and the misbehaviours, together with ``device_id``.
        start: when the device starts measuring, timezone-aware.
        misbehave: names from ``MISBEHAVIOURS``.

    Raises:
        ValueError: on an unknown kind or misbehaviour, or a naive ``start``.
    """

    def __init__(
        self,
        kind: str,
        device_id: str,
        *,
        seed: int = 0,
        start: datetime,
        misbehave: frozenset[str] = frozenset(),
    ) -> None:
        if kind not in DEVICE_KINDS:
            raise ValueError(f"unknown device kind {kind!r} (known: {', '.join(DEVICE_KINDS)})")
        unknown = sorted(misbehave - set(MISBEHAVIOURS))
        if unknown:
            raise ValueError(
                f"unknown misbehaviour {', '.join(unknown)} (known: {', '.join(MISBEHAVIOURS)})"
            )
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._kind = kind
        self._device_id = device_id
        self._seed = _device_seed(seed, device_id)
        self._start = start
        self._misbehave = misbehave
        shape = COMMERCIAL if kind == "smart_breaker" else HOUSEHOLD
        self._load = LoadModel(self._seed, start=start, shape=shape)
        self._fw_version = FIRMWARE
        self._boot = 1
        self._booted_at = start
        self._seq = 0
        self._messages = 0
        self._statuses = 0
        self._last = start
        self._relays = dict.fromkeys(_RELAYS, True)
        self._answers: OrderedDict[str, Outgoing] = OrderedDict()
        self._measure: Callable[[datetime], dict[str, Any]] = {
            "power_meter_ac": self._power_meter_ac,
            "power_meter_dc": self._power_meter_dc,
            "smart_breaker": self._smart_breaker,
            "temperature_sensor": self._temperature_sensor,
            "humidity_sensor": self._humidity_sensor,
        }[kind]

    @property
    def kind(self) -> str:
        """The device type."""
        return self._kind

    @property
    def device_id(self) -> str:
        """The id in the device's topics."""
        return self._device_id

    @property
    def fw_version(self) -> str:
        """The running firmware (changes after a successful ``ota_update``)."""
        return self._fw_version

    @property
    def boot(self) -> int:
        """The boot counter sent with every reading."""
        return self._boot

    @property
    def relays(self) -> dict[str, bool]:
        """The breaker's relays (``l1``..``l3``, closed is ``True``); a copy."""
        return dict(self._relays)

    def hello(self) -> bytes:
        """Return the hello payload (send it after every connect)."""
        capabilities = ["telemetry", "command", "ota"]
        if self._kind == "smart_breaker":
            capabilities.append("relay")
        return _encoder.encode(
            {
                "device_id": self._device_id,
                "device_type": self._kind,
                "fw_version": self._fw_version,
                "capabilities": capabilities,
            }
        )

    def status(self, online: bool = True, *, now: datetime | None = None) -> bytes:
        """Return a status payload: the heartbeat (online) or the goodbye (offline)."""
        if not online:
            return self.will()
        self._statuses += 1
        body: dict[str, Any] = {
            "state": "online",
            "rssi": round(between(self._seed, _RSSI, self._statuses, -75, -50)),
        }
        if now is not None:
            body["uptime_s"] = max(0, int((now - self._booted_at).total_seconds()))
        return _encoder.encode(body)

    def will(self) -> bytes:
        """Return the last will's payload."""
        return b'{"state":"offline"}'

    def telemetry(self, now: datetime) -> list[Outgoing]:
        """Return what the device publishes for one reading at ``now``.

        Normally one telemetry payload; the enabled misbehaviours add a hello before it,
        a duplicate or a malformed payload after it, skip sequence numbers or turn it
        into a batch (see the module's docstring).

        Raises:
            ValueError: if ``now`` is naive or before ``start``.
        """
        if now.tzinfo is None or now < self._start:
            raise ValueError(f"{now.isoformat()} is naive or before the device's start")
        n = self._messages
        self._messages += 1
        out: list[Outgoing] = []
        if self._strikes("restarts", n):
            self._reboot(now)
            out.append(Outgoing("hello", self.hello()))
        if self._strikes("gaps", n):
            self._seq += 1 + int(noise(self._seed, _GAP_SIZE, n) * 5)
        size = 2 + int(noise(self._seed, _BATCH_SIZE, n) * 3) if self._strikes("batches", n) else 1
        readings = [self._reading(ts) for ts in self._instants(now, size)]
        message = Outgoing("telemetry", _encoder.encode(readings if size > 1 else readings[0]))
        out.append(message)
        if self._strikes("duplicates", n):
            out.append(message)
        if self._strikes("malformed", n):
            out.append(Outgoing("telemetry", self._malformed(n, readings[0])))
        self._last = now
        return out

    def on_command(self, payload: bytes, *, now: datetime | None = None) -> list[Outgoing]:
        """Carry out a command from ``<prefix>/<id>/command``; return what to publish.

        The ack comes first; an ``ota_update`` adds its ``ota/status`` progress and, once
        updated, the reboot's hello. A command without a readable ``id`` gets no answer
        (there is nothing to answer to); one seen before gets its first ack again.
        ``now`` (the receive time) is checked against ``expires_at``.
        """
        try:
            raw = msgspec.json.decode(payload)
        except msgspec.DecodeError:
            return []
        command_id = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(command_id, str) or not command_id:
            return []
        seen = self._answers.get(command_id)
        if seen is not None:
            return [seen]
        try:
            command = msgspec.convert(raw, _Command)
        except msgspec.ValidationError as exc:
            out = [self._ack(command_id, error=f"bad command: {exc}")]
        else:
            out = self._carry_out(command, now or self._last)
        self._answers[command_id] = out[0]
        if len(self._answers) > _REMEMBERED_COMMANDS:
            self._answers.popitem(last=False)
        return out

    def _carry_out(self, command: _Command, now: datetime) -> list[Outgoing]:
        expires_at = command.expires_at
        if expires_at is not None and expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)  # the protocol's rule for naive times
        if expires_at is not None and expires_at < now:
            return [self._ack(command.id, error="expired")]
        name = command.command
        if name == "ping":
            return [self._ack(command.id, result={"pong": True})]
        if name == "reboot":
            self._reboot(now)
            return [self._ack(command.id), Outgoing("hello", self.hello())]
        if name == "ota_update":
            return self._ota_update(command, now)
        if name == "set_relay" and self._kind == "smart_breaker":
            return [self._set_relay(command)]
        return [self._ack(command.id, error=f"unknown command {name!r} for a {self._kind}")]

    def _set_relay(self, command: _Command) -> Outgoing:
        try:
            params = msgspec.convert(command.params, _SetRelay)
        except msgspec.ValidationError as exc:
            return self._ack(command.id, error=f"bad params: {exc}")
        phases = _RELAYS if params.phase == "all" else (params.phase,)
        for phase in phases:
            self._relays[phase] = params.on
        return self._ack(command.id, result={f"relay_{p}": self._relays[p] for p in phases})

    def _ota_update(self, command: _Command, now: datetime) -> list[Outgoing]:
        try:
            params = msgspec.convert(command.params, _OtaUpdate)
        except msgspec.ValidationError as exc:
            return [self._ack(command.id, error=f"bad params: {exc}")]
        out = [self._ack(command.id, result={"version": params.version})]
        out += [self._ota(command.id, "downloading", progress=p) for p in OTA_PROGRESS]
        if params.sha256 == FAILING_SHA256:  # checked before installing, as the spec asks
            out.append(self._ota(command.id, "failed", error="checksum mismatch"))
            return out
        out += [self._ota(command.id, "installing"), self._ota(command.id, "updated")]
        self._fw_version = params.version
        self._reboot(now)
        out.append(Outgoing("hello", self.hello()))
        return out

    def _ack(
        self, command_id: str, *, result: dict[str, Any] | None = None, error: str = ""
    ) -> Outgoing:
        body: dict[str, Any] = {"id": command_id, "status": "error" if error else "ok"}
        if error:
            body["error"] = error
        if result is not None:
            body["result"] = result
        return Outgoing("command/ack", _encoder.encode(body))

    def _ota(
        self, ota_id: str, state: str, *, progress: int | None = None, error: str = ""
    ) -> Outgoing:
        body: dict[str, Any] = {"ota_id": ota_id, "state": state}
        if progress is not None:
            body["progress"] = progress
        if error:
            body["error"] = error
        return Outgoing("ota/status", _encoder.encode(body))

    def _strikes(self, misbehaviour: str, n: int) -> bool:
        if misbehaviour not in self._misbehave:
            return False
        return noise(self._seed, _MISBEHAVE[misbehaviour], n) < MISBEHAVIOUR_RATE

    def _reboot(self, now: datetime) -> None:
        self._boot += 1
        self._seq = 0
        self._booted_at = now

    def _instants(self, now: datetime, size: int) -> list[datetime]:
        """``now``, or ``size`` instants spread up to ``now`` since the last reading."""
        if size == 1:
            return [now]
        span = max(now - self._last, timedelta(0))
        return [now - span * (size - 1 - i) / size for i in range(size)]

    def _reading(self, ts: datetime) -> dict[str, Any]:
        reading = {
            "seq": self._seq,
            "ts": ts.astimezone(UTC),
            "boot": self._boot,
            "measurements": self._measure(ts),
        }
        self._seq += 1
        return reading

    def _malformed(self, n: int, reading: dict[str, Any]) -> bytes:
        valid = _encoder.encode(reading)
        kind = int(noise(self._seed, _MALFORMED_KIND, n) * _MALFORMED_KINDS)
        if kind == 0:
            return valid[: len(valid) // 2]  # cut off: not JSON
        if kind == 1:
            return b"\xff\xfe" + valid[2:]  # not UTF-8
        if kind == 2:  # noqa: PLR2004 (the third kind)
            return _encoder.encode({**reading, "seq": str(reading["seq"])})
        return _encoder.encode({**reading, "measurements": [1, 2, 3]})

    def _state(self, ts: datetime) -> MeterState:
        return self._load.state_at(ts)

    def _second(self, ts: datetime) -> int:
        return int(ts.timestamp())

    def _battery(self, ts: datetime) -> int:
        """Percent: starts 80-100 and loses 0.2 points a day."""
        days = (ts - self._start).total_seconds() / _SECONDS_PER_DAY
        return max(1, min(100, round(between(self._seed, _BATTERY, 0, 80, 100) - 0.2 * days)))

    def _power_meter_ac(self, ts: datetime) -> dict[str, Any]:
        s = self._state(ts)
        active = s.power_import_w - s.power_export_w
        reactive = s.reactive_power_var
        frequency = 50.0 + between(self._seed, _FREQUENCY, self._second(ts), -0.05, 0.05)
        return {
            "voltage": _phases((v / 10 for v in s.voltage_dv), "V"),
            "current": _phases((c / 100 for c in s.current_ca), "A"),
            # no "unit" here: it would apply to all four, and they are W, var, VA and 1
            "power": {
                "active": active,
                "reactive": reactive,
                "apparent": round(math.hypot(active, reactive)),
                "factor": s.power_factor_milli / 1000,
            },
            "energy": {
                "import": s.energy_import_wh / 1000,
                "export": s.energy_export_wh / 1000,
                "unit": "kWh",
            },
            "frequency": round(frequency, 3),
        }

    def _power_meter_dc(self, ts: datetime) -> dict[str, Any]:
        """A 48 V battery system: one phase of the load model, at battery voltage."""
        s = self._state(ts)
        voltage = round(51.2 + between(self._seed, _DC_VOLTAGE, self._second(ts), -0.8, 0.8), 2)
        power = max(0, s.phase_power_w[0])
        return {
            "voltage": voltage,
            "current": round(power / voltage, 2),
            "power": power,
            "energy": {
                "import": round(s.energy_import_wh / 3000, 3),
                "export": round(s.energy_export_wh / 3000, 3),
                "unit": "kWh",
            },
        }

    def _smart_breaker(self, ts: datetime) -> dict[str, Any]:
        """Three phases behind relays: an open relay carries no current."""
        s = self._state(ts)
        closed = tuple(self._relays[p] for p in _RELAYS)
        currents = tuple(c / 100 if on else 0.0 for c, on in zip(s.current_ca, closed, strict=True))
        active = sum(p for p, on in zip(s.phase_power_w, closed, strict=True) if on)
        return {
            "voltage": _phases((v / 10 for v in s.voltage_dv), "V"),
            "current": _phases(currents, "A"),
            "power": {"active": active, "unit": "W"},
            "energy": {"import": s.energy_import_wh / 1000, "unit": "kWh"},
            "relay": _phases(closed),
        }

    def _temperature_sensor(self, ts: datetime) -> dict[str, Any]:
        """Outdoors: coldest before dawn, warmest mid-afternoon (°C)."""
        local = ts.astimezone(self._load.tz)
        jitter = between(self._seed, _TEMPERATURE, self._second(ts), -0.15, 0.15)
        return {
            "temperature": round(12.0 + 6.0 * _daily(local, 15.0) + jitter, 2),
            "battery": self._battery(ts),
        }

    def _humidity_sensor(self, ts: datetime) -> dict[str, Any]:
        """Indoors: relative humidity (%) falls as the room warms up."""
        local = ts.astimezone(self._load.tz)
        second = self._second(ts)
        warmth = _daily(local, 18.0)
        temperature = 21.5 + 1.5 * warmth + between(self._seed, _TEMPERATURE, second, -0.1, 0.1)
        humidity = 48.0 - 8.0 * warmth + between(self._seed, _HUMIDITY, second, -1.0, 1.0)
        return {
            "humidity": round(humidity, 1),
            "temperature": round(temperature, 2),
            "battery": self._battery(ts),
        }
