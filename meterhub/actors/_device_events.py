"""What MQTT devices said, into the store: registrations, dead letters, acks, OTA runs.

Called by the store writer with the events of journal records before its cursor passes
them, and again with the same events after a crash or a replay. So every write is
idempotent: dead letters and data-quality events are keyed by their journal record,
command and OTA changes are conditional transitions that happen once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from meterhub.adapters.stores import DeadLetterRow, Device, DeviceEventRow
from meterhub.model import (
    CommandAck,
    CommandState,
    CommandUpdate,
    CounterRestart,
    DeadLetter,
    DeviceHello,
    DeviceLink,
    OtaProgress,
    SequenceGap,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from meterhub.adapters.stores import Store
    from meterhub.model import DeviceEvent

_log = logging.getLogger(__name__)
SOURCE, INPUT, APPROVAL = "meterhub.source", "meterhub.input", "meterhub.approval"
FW_VERSION, CAPABILITIES = "fw_version", "capabilities"
OTA_COMMAND = "ota_update"
_OPEN = (CommandState.QUEUED, CommandState.SENT)
_OTA_RANK = {"requested": 0, "downloading": 1, "installing": 2, "updated": 3, "failed": 3}


def ota_predecessors(state: str) -> list[str]:
    """The OTA states a run may move to ``state`` from (never back, never out of a final)."""
    rank = _OTA_RANK.get(state, 3)
    return [s for s, r in _OTA_RANK.items() if r < 3 and r <= rank]  # noqa: PLR2004 (final)


class DeviceEventWriter:
    """Stores device events; tells the registry and the live feed what changed.

    Args:
        store: where they go.
        registry_changed: reloads the device directory (a device registered or changed).
        command_changed: publishes a command's new state (the live feed).
    """

    def __init__(
        self,
        store: Store,
        registry_changed: Callable[[], Awaitable[None]] | None = None,
        command_changed: Callable[[CommandUpdate], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._registry_changed = registry_changed
        self._command_changed = command_changed

    async def apply(self, events: Sequence[tuple[int | None, DeviceEvent]]) -> None:
        """Store one batch of events (each with its journal record), in their order."""
        letters = [_letter(e) for _, e in events if isinstance(e, DeadLetter)]
        quality = [row for seq, e in events if (row := _quality(e, seq)) is not None]
        if letters:
            await self._store.write_dead_letters(letters)
        if quality:
            await self._store.write_device_events(quality)
        registered = False
        for _, event in events:
            if isinstance(event, DeviceHello):
                registered |= await self._hello(event)
            elif isinstance(event, CommandAck):
                await self._ack(event)
            elif isinstance(event, OtaProgress):
                await self._ota(event)
        if registered and self._registry_changed is not None:
            await self._registry_changed()

    async def _hello(self, hello: DeviceHello) -> bool:
        """Register the device or update it; whether the registry changed."""
        existing = await self._store.get_device(hello.device_id)
        metadata = dict(existing.metadata) if existing is not None else {}
        if metadata.get(SOURCE) == "config":
            return False  # refused by the pipeline already; never overwrite a meter
        # an operator's approval stands; a new device gets the site's policy
        metadata.setdefault(APPROVAL, hello.approval.value)
        metadata |= {SOURCE: "mqtt", INPUT: "mqtt", CAPABILITIES: ",".join(hello.capabilities)}
        if hello.fw_version is not None:
            metadata[FW_VERSION] = hello.fw_version
        if (
            existing is not None
            and existing.device_type == hello.device_type
            and existing.metadata == metadata
        ):
            return False
        device = Device(
            id=hello.device_id,
            name=existing.name if existing is not None else hello.device_id,
            device_type=hello.device_type,
            location=existing.location if existing is not None else "",
            tags=list(existing.tags) if existing is not None else [],
            metadata=metadata,
            created_at=existing.created_at if existing is not None else hello.ts,
            updated_at=hello.ts,
        )
        await self._store.upsert_device(device)
        _log.info("device %s registered (%s, firmware %s, %s)", hello.device_id,
                  hello.device_type, hello.fw_version, metadata[APPROVAL],
                  extra={"device": hello.device_id})  # fmt: skip
        return True

    async def _ack(self, ack: CommandAck) -> None:
        command = await self._store.get_command(ack.command_id)
        if command is None or command.device_id != ack.device_id:
            # a device answers only its own commands
            _log.warning("device %s acknowledged unknown command %s", ack.device_id,
                         ack.command_id, extra={"device": ack.device_id})  # fmt: skip
            return
        state = CommandState.ACKNOWLEDGED if ack.ok else CommandState.FAILED
        changed = await self._store.update_command(
            ack.command_id, state=state, at=ack.ts, from_states=_OPEN,
            result=ack.result, error=ack.error,
        )  # fmt: skip
        if changed is None:
            return  # acknowledged already (a replay), or expired before the answer came
        if not ack.ok and command.command == OTA_COMMAND:
            await self._store.update_ota(
                ack.command_id, state="failed", at=ack.ts, error=ack.error or "refused",
                from_states=ota_predecessors("failed"),
            )  # fmt: skip
        if self._command_changed is not None:
            await self._command_changed(CommandUpdate(
                id=changed.id, device_id=changed.device_id, command=changed.command,
                state=changed.state, updated_at=changed.updated_at, error=changed.error,
            ))  # fmt: skip

    async def _ota(self, progress: OtaProgress) -> None:
        run = await self._store.get_ota(progress.ota_id)
        if run is None or run.device_id != progress.device_id:
            _log.warning("device %s reported unknown OTA run %s", progress.device_id,
                         progress.ota_id, extra={"device": progress.device_id})  # fmt: skip
            return
        await self._store.update_ota(
            progress.ota_id, state=progress.state, at=progress.ts, progress=progress.progress,
            error=progress.error, from_states=ota_predecessors(progress.state),
        )  # fmt: skip


def _letter(letter: DeadLetter) -> DeadLetterRow:
    return DeadLetterRow(device_id=letter.device_id, ts=letter.ts, reason=letter.reason,
                         detail=letter.detail, topic=letter.topic, payload=letter.payload,
                         journal_seq=letter.journal_seq)  # fmt: skip


def _quality(event: DeviceEvent, seq: int | None) -> DeviceEventRow | None:
    """The event as a row of the device's history, if it is one."""
    details: dict[str, object]
    if isinstance(event, SequenceGap):
        kind = "gap"
        details = {"after_seq": event.after_seq, "next_seq": event.next_seq,
                   "missing": event.missing}  # fmt: skip
    elif isinstance(event, CounterRestart):
        kind, details = "restart", {"last_seq": event.last_seq, "next_seq": event.next_seq}
    elif isinstance(event, DeviceLink):
        kind = "online" if event.online else "offline"
        details = {"reason": event.reason, **event.details}
    else:
        return None
    return DeviceEventRow(device_id=event.device_id, ts=event.ts, kind=kind, journal_seq=seq,
                          details=details)  # fmt: skip
