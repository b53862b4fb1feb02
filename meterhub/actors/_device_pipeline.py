"""The pipeline's MQTT branch: a journaled device payload in, readings and events out.

Plain synchronous code like the rest of the pipeline, so the live input, the store
writer's catch-up and ``meterhub replay`` agree on every payload. Its per-device state
(the device type said in the last hello, the sequence numbers) is rebuilt from the
stream; the registry fills in what lies before the stream's start (a catch-up that
begins after the hello).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC
from typing import TYPE_CHECKING

from meterhub.adapters.iot import (
    Ack,
    DeviceProfiles,
    Duplicate,
    Gap,
    Hello,
    OtaStatus,
    PayloadError,
    Restart,
    SequenceTracker,
    Status,
    TelemetryItem,
    parse_payload,
)
from meterhub.model import (
    Approval,
    CommandAck,
    CounterRestart,
    DeadLetter,
    DeviceEvent,
    DeviceHello,
    DeviceLink,
    DeviceNews,
    OtaProgress,
    Reading,
    SequenceGap,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from meterhub.actors._devices import DeviceDirectory
    from meterhub.actors._validation import Validator
    from meterhub.model import RawFrame

IOT_FORMAT = "iot"
"""The ``RawFrame.format`` of every MQTT device payload."""


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceRules:
    """How the site takes MQTT devices in (from ``[mqtt]``).

    Attributes:
        profiles: device type -> how its measurements map to metric names.
        max_payload_bytes: larger payloads are dead letters (``oversize``).
        unknown_devices: what a device saying its first hello is registered as.
        reserved: ids of the configured meters, which no MQTT device may speak for.
    """

    profiles: DeviceProfiles
    max_payload_bytes: int = 65_536
    unknown_devices: Approval = Approval.ACCEPTED
    reserved: frozenset[str] = frozenset()


class _Session:
    __slots__ = ("approval", "device_type", "hello_since_telemetry", "tracker")

    def __init__(self) -> None:
        self.device_type: str | None = None
        self.approval: Approval | None = None
        self.tracker = SequenceTracker()
        self.hello_since_telemetry = False


class _Refused(Exception):  # noqa: N818 (a control-flow signal, not an error to report)
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class DevicePipeline:
    """Decodes MQTT device payloads of every device, in their journal order.

    Args:
        rules: profiles and limits.
        validator: judges readings (shared with the meters' pipeline).
        directory: the registry, read at every payload (approvals, known device types).
    """

    def __init__(
        self,
        rules: DeviceRules,
        validator: Validator,
        directory: Callable[[], DeviceDirectory],
    ) -> None:
        self._rules = rules
        self._validator = validator
        self._directory = directory
        self._sessions: dict[str, _Session] = {}

    def run(self, frame: RawFrame, seq: int | None) -> DeviceNews:
        """Everything one payload gives: readings, events, or one dead letter."""
        device_id = frame.meter_id
        session = self._sessions.get(device_id)
        if session is None:
            session = self._sessions[device_id] = _Session()
        kind = frame.topic or ""
        try:
            self._check_speaker(device_id)
            message = parse_payload(
                kind, device_id, frame.payload, max_bytes=self._rules.max_payload_bytes
            )
            if isinstance(message, list):
                return self._telemetry(frame, seq, session, message)
            event = self._event(frame, session, message)
        except (PayloadError, _Refused) as exc:
            letter = self._dead_letter(frame, seq, exc.reason, exc.detail)
            return DeviceNews(device_id=device_id, journal_seq=seq, events=[letter])
        return DeviceNews(device_id=device_id, journal_seq=seq, events=[event])

    def _check_speaker(self, device_id: str) -> None:
        if device_id in self._rules.reserved:
            raise _Refused("wrong_device",
                           f"{device_id} is a configured meter; an MQTT device may not "
                           "speak for it")  # fmt: skip

    # -- message kinds -----------------------------------------------------------------

    def _event(
        self, frame: RawFrame, session: _Session, message: Hello | Status | Ack | OtaStatus
    ) -> DeviceEvent:
        device_id, ts = frame.meter_id, frame.received_at
        if isinstance(message, Hello):
            if self._rules.profiles.get(message.device_type) is None:
                known = ", ".join(self._rules.profiles.names())
                raise _Refused("unknown_device_type",
                               f"no profile for device type {message.device_type!r} "
                               f"(known: {known})")  # fmt: skip
            session.device_type = message.device_type
            session.hello_since_telemetry = True
            approval = self._approval(device_id, session)
            session.approval = approval
            return DeviceHello(
                device_id=device_id, ts=ts, device_type=message.device_type,
                fw_version=message.fw_version, capabilities=list(message.capabilities),
                approval=approval,
            )  # fmt: skip
        if isinstance(message, Status):
            reason = str(message.details.get("reason", "status"))
            return DeviceLink(device_id=device_id, ts=ts, online=message.online, reason=reason,
                              details=dict(message.details))  # fmt: skip
        if isinstance(message, Ack):
            return CommandAck(
                device_id=device_id, ts=ts, command_id=message.command_id, ok=message.ok,
                result=dict(message.result), error=message.error,
            )  # fmt: skip
        return OtaProgress(
            device_id=device_id, ts=ts, ota_id=message.ota_id, state=message.state,
            progress=message.progress, error=message.error,
        )  # fmt: skip

    def _telemetry(
        self, frame: RawFrame, seq: int | None, session: _Session, items: list[TelemetryItem]
    ) -> DeviceNews:
        device_id = frame.meter_id
        device_type = self._device_type(device_id, session)
        approval = self._approval(device_id, session)
        if approval is Approval.REJECTED:
            raise _Refused("rejected_device", f"device {device_id} is rejected")
        if approval is Approval.PENDING:
            raise _Refused("pending_device",
                           f"device {device_id} waits for approval (accept it, then "
                           "`meterhub replay` takes this payload in)")  # fmt: skip
        profile = self._rules.profiles.get(device_type)
        if profile is None:
            raise _Refused("unknown_device_type", f"no profile for device type {device_type!r}")
        readings: list[Reading] = []
        events: list[DeviceEvent] = []
        duplicates = 0
        directory = self._directory()
        for item in items:
            verdict = session.tracker.observe(
                item.seq, boot=item.boot, after_hello=session.hello_since_telemetry
            )
            session.hello_since_telemetry = False
            if isinstance(verdict, Duplicate):
                duplicates += 1
                continue
            ts = item.ts or frame.received_at
            if isinstance(verdict, Gap):
                events.append(SequenceGap(device_id=device_id, ts=ts, after_seq=verdict.after,
                                          next_seq=item.seq, missing=verdict.missing))  # fmt: skip
            elif isinstance(verdict, Restart):
                events.append(CounterRestart(device_id=device_id, ts=ts, last_seq=verdict.last,
                                             next_seq=item.seq))  # fmt: skip
            mapped = profile.map(item.measurements)
            reading = Reading(
                meter_id=device_id, ts=ts.astimezone(UTC), values=mapped.values,
                units=mapped.units, received_at=frame.received_at,
                ts_source="device" if item.ts is not None else "received", seq=item.seq,
                text=mapped.text, journal_seq=seq,
            )  # fmt: skip
            readings.append(directory.enrich(self._validator.check(reading)))
        return DeviceNews(device_id=device_id, journal_seq=seq, readings=readings, events=events,
                          duplicates=duplicates)  # fmt: skip

    # -- what the registry and the stream know -----------------------------------------

    def _device_type(self, device_id: str, session: _Session) -> str:
        if session.device_type is not None:
            return session.device_type
        meta = self._directory().devices.get(device_id)
        if meta is None or meta.device_type is None or device_id not in self._directory().approvals:
            raise _Refused("unregistered",
                           f"telemetry from {device_id}, which never said hello")  # fmt: skip
        return meta.device_type

    def _approval(self, device_id: str, session: _Session) -> Approval:
        # an operator's decision in the registry wins over what this stream assumed
        known = self._directory().approvals.get(device_id)
        if known is not None:
            return known
        return session.approval or self._rules.unknown_devices

    def _dead_letter(
        self, frame: RawFrame, seq: int | None, reason: str, detail: str
    ) -> DeadLetter:
        # the journal keeps the whole payload; the dead letter, the part worth reading
        kept = frame.payload[: self._rules.max_payload_bytes]
        return DeadLetter(device_id=frame.meter_id, ts=frame.received_at, reason=reason,
                          detail=detail, topic=frame.topic or "", payload=kept,
                          journal_seq=seq)  # fmt: skip
