"""PostgreSQL store methods for MQTT devices: dead letters, events, commands and OTA runs."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from meterhub.adapters.stores import _pg_mqtt as mq
from meterhub.adapters.stores._pg_base import PgBase
from meterhub.adapters.stores._text import without_nul

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from meterhub.adapters.stores._rows import CommandRow, DeadLetterRow, DeviceEventRow, OtaRow
    from meterhub.model import CommandState


class PgDeviceMethods(PgBase):
    """The MQTT device tables on PostgreSQL."""

    async def write_dead_letters(self, rows: Sequence[DeadLetterRow]) -> int:
        """Store dead letters not stored yet (by journal record and device).

        Raises:
            StoreError: a time is naive (nothing is written).
            StoreUnavailableError: the server cannot be reached.
        """
        fn = functools.partial(mq.write_dead_letters, rows=without_nul(list(rows)))
        return await self._call("write_dead_letters", fn)

    async def list_dead_letters(
        self,
        *,
        device: str | None = None,
        reason: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[DeadLetterRow]:
        """Dead letters matching every given filter, highest id first.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        fn = functools.partial(
            mq.list_dead_letters, device=device, reason=reason, limit=limit, before_id=before_id
        )
        return await self._call("list_dead_letters", fn)

    async def write_device_events(self, rows: Sequence[DeviceEventRow]) -> int:
        """Store device events not stored yet (by device, kind and journal record).

        Raises:
            StoreError: a time is naive (nothing is written).
            StoreUnavailableError: the server cannot be reached.
        """
        fn = functools.partial(mq.write_device_events, rows=without_nul(list(rows)))
        return await self._call("write_device_events", fn)

    async def list_device_events(
        self,
        device_id: str,
        *,
        kinds: list[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
    ) -> list[DeviceEventRow]:
        """Events of one device with ``start <= ts < end``, newest first.

        Raises:
            StoreError: a time is naive.
        """
        fn = functools.partial(
            mq.list_device_events,
            device_id=device_id,
            kinds=kinds,
            start=start,
            end=end,
            limit=limit,
        )
        return await self._call("list_device_events", fn)

    async def insert_command(self, row: CommandRow) -> None:
        """Store a new command.

        Raises:
            StoreError: the id is taken or a time is naive.
        """
        await self._call("insert_command", functools.partial(mq.insert_command, c=without_nul(row)))

    async def get_command(self, command_id: str) -> CommandRow | None:
        """One command, or None.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        fn = functools.partial(mq.get_command, command_id=command_id)
        return await self._call("get_command", fn)

    async def list_commands(
        self,
        *,
        device_id: str | None = None,
        states: list[CommandState] | None = None,
        limit: int = 100,
    ) -> list[CommandRow]:
        """Commands matching every given filter, newest ``created_at`` first.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        fn = functools.partial(mq.list_commands, device_id=device_id, states=states, limit=limit)
        return await self._call("list_commands", fn)

    async def update_command(
        self,
        command_id: str,
        *,
        state: CommandState,
        at: datetime,
        from_states: Sequence[CommandState],
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> CommandRow | None:
        """Move a command to ``state`` if it is in one of ``from_states``, atomically.

        Raises:
            StoreError: a time is naive or a state unknown.
        """
        fn = functools.partial(
            mq.update_command,
            command_id=command_id,
            state=state,
            at=at,
            from_states=from_states,
            result=without_nul(result),
            error=without_nul(error),
        )
        return await self._call("update_command", fn)

    async def insert_ota(self, row: OtaRow) -> None:
        """Store a new firmware update.

        Raises:
            StoreError: the id is taken, the state unknown or a time naive.
        """
        await self._call("insert_ota", functools.partial(mq.insert_ota, o=without_nul(row)))

    async def get_ota(self, ota_id: str) -> OtaRow | None:
        """One firmware update, or None.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        return await self._call("get_ota", functools.partial(mq.get_ota, ota_id=ota_id))

    async def list_ota(self, device_id: str, *, limit: int = 100) -> list[OtaRow]:
        """Firmware updates of one device, newest ``created_at`` first.

        Raises:
            StoreUnavailableError: the server cannot be reached.
        """
        fn = functools.partial(mq.list_ota, device_id=device_id, limit=limit)
        return await self._call("list_ota", fn)

    async def update_ota(
        self,
        ota_id: str,
        *,
        state: str,
        at: datetime,
        from_states: Sequence[str],
        progress: float | None = None,
        error: str | None = None,
    ) -> OtaRow | None:
        """Move a firmware update to ``state`` if it is in one of ``from_states``, atomically.

        Raises:
            StoreError: a time is naive or the state unknown.
        """
        fn = functools.partial(
            mq.update_ota,
            ota_id=ota_id,
            state=state,
            at=at,
            from_states=from_states,
            progress=progress,
            error=without_nul(error),
        )
        return await self._call("update_ota", fn)
