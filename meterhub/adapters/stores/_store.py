"""The port every storage backend implements (and tests may fake)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Self

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime, timedelta
    from types import TracebackType

    from meterhub.adapters.stores._rows import (
        Agg,
        AlertRow,
        AlertState,
        Application,
        BucketRow,
        CommandRow,
        ConsumptionPeriod,
        ConsumptionRow,
        DeadLetterRow,
        Device,
        DeviceEventRow,
        DeviceType,
        OtaRow,
        Period,
        ReadingRow,
        Severity,
        TrendRow,
    )
    from meterhub.model import CommandState, Reading

PageKey = tuple["datetime", str, str]
"""Keyset position ``(ts, meter_id, metric)`` of the last row of the previous page."""


class Store(Protocol):
    """Durable storage of readings, aggregates and site metadata.

    Every method may raise :class:`StoreUnavailableError` (retry later) or
    :class:`StoreError` (bad input). Times are timezone-aware; results are UTC.
    Devices and the MQTT device rows keep their text without NUL characters: each
    becomes U+FFFD (PostgreSQL cannot store one; a device may send one); bytes are kept.
    Enter the store with ``async with`` before use; the constructor does no I/O.
    """

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def migrate(self) -> int:
        """Apply pending migrations and return the schema version."""
        ...

    # readings -----------------------------------------------------------------------

    async def write_readings(
        self,
        rows: Sequence[ReadingRow],
        *,
        cursor: tuple[str, int] | None = None,
        overwrite: bool = False,
    ) -> int:
        """Insert rows not stored yet; commit ``cursor`` in the same transaction.

        With ``overwrite``, a row already stored at (meter, metric, ts) is replaced:
        ``meterhub replay --overwrite`` repairs values after a profile fix.

        Returns:
            How many rows were new (or, with ``overwrite``, written). Replaying a batch
            without ``overwrite`` returns 0.
        """
        ...

    async def ingest(
        self, readings: Sequence[Reading], *, cursor: tuple[str, int] | None = None
    ) -> int:
        """Store decoded readings, a row per value, like ``write_readings`` of their rows.

        The live path's bulk write: the database explodes the readings into rows, so the
        event loop spends no time on the individual values. A reading's ``journal_seq``
        is its rows' provenance.

        Returns:
            How many rows were new.
        """
        ...

    async def read_cursor(self, sink: str) -> int:
        """Committed journal position of ``sink`` (0 if it never committed)."""
        ...

    async def query_readings(
        self,
        *,
        meters: list[str] | None,
        metrics: list[str] | None,
        start: datetime,
        end: datetime,
        limit: int,
        after: PageKey | None = None,
    ) -> list[ReadingRow]:
        """Rows with ``start <= ts < end`` ordered by (ts, meter_id, metric), keyset-paged."""
        ...

    async def query_buckets(
        self,
        *,
        meters: list[str] | None,
        metrics: list[str] | None,
        start: datetime,
        end: datetime,
        bucket: timedelta,
        agg: Agg,
    ) -> list[BucketRow]:
        """Aggregates over epoch-aligned buckets, from the finest tier holding the range."""
        ...

    async def latest(self, meters: list[str] | None = None) -> list[ReadingRow]:
        """The newest row per meter and metric."""
        ...

    # pipeline aggregates ------------------------------------------------------------

    async def write_trends(self, rows: Sequence[TrendRow]) -> None:
        """Insert or replace trend windows."""
        ...

    async def query_trends(
        self,
        *,
        meters: list[str] | None,
        metrics: list[str] | None,
        window_s: int,
        start: datetime,
        end: datetime,
    ) -> list[TrendRow]:
        """Trend windows starting in ``[start, end)`` ordered by meter, metric, start."""
        ...

    async def write_consumption(self, rows: Sequence[ConsumptionRow]) -> None:
        """Insert or replace consumption intervals."""
        ...

    async def query_consumption(
        self,
        meter_id: str,
        metric: str,
        *,
        start: datetime,
        end: datetime,
        period: Period,
        tz: str = "UTC",
    ) -> list[ConsumptionPeriod]:
        """Intervals starting in ``[start, end)`` summed into calendar periods of ``tz``."""
        ...

    async def query_consumption_intervals(
        self, meter_id: str, metric: str, *, start: datetime, end: datetime
    ) -> list[ConsumptionRow]:
        """The stored intervals of one counter starting in ``[start, end)``, in time order.

        Raises:
            StoreError: a time is naive.
        """
        ...

    # site metadata ------------------------------------------------------------------

    async def upsert_device(self, device: Device) -> None:
        """Create or update a device (``created_at`` of an existing one is kept)."""
        ...

    async def get_device(self, device_id: str) -> Device | None:
        """One device, or None."""
        ...

    async def list_devices(self) -> list[Device]:
        """All devices ordered by id."""
        ...

    async def delete_device(self, device_id: str) -> bool:
        """Delete a device; False if it did not exist."""
        ...

    async def upsert_device_type(self, device_type: DeviceType) -> None:
        """Create or update a device type."""
        ...

    async def list_device_types(self) -> list[DeviceType]:
        """All device types ordered by name."""
        ...

    async def delete_device_type(self, name: str) -> bool:
        """Delete a device type; False if it did not exist."""
        ...

    async def upsert_application(self, application: Application) -> None:
        """Create or update an application."""
        ...

    async def list_applications(self, device_type: str | None = None) -> list[Application]:
        """Applications ordered by name, optionally those that include ``device_type``."""
        ...

    async def delete_application(self, name: str) -> bool:
        """Delete an application; False if it did not exist."""
        ...

    async def upsert_alert(self, alert: AlertRow) -> None:
        """Create or update an alert (``opened_at`` of an existing one is kept).

        An update replaces the stored ``evidence`` with the alert's.

        Raises:
            StoreError: a time is naive, or ``evidence`` holds something other than
                finite numbers and strings (nothing is written).
        """
        ...

    async def get_alert(self, alert_id: str) -> AlertRow | None:
        """One alert, or None."""
        ...

    async def list_alerts(
        self,
        *,
        state: AlertState | None = None,
        severity: Severity | None = None,
        meter: str | None = None,
        limit: int = 100,
    ) -> list[AlertRow]:
        """Alerts matching every given filter, newest ``opened_at`` first."""
        ...

    # plugin state -------------------------------------------------------------------

    async def get_plugin_state(self, plugin: str, key: str) -> bytes | None:
        """The value ``plugin`` keeps under ``key``, or None.

        Raises:
            StoreError: the key is too long, or the name or key holds a NUL.
        """
        ...

    async def put_plugin_state(self, plugin: str, key: str, value: bytes) -> None:
        """Keep ``value`` under ``key`` for ``plugin``, replacing what was there.

        What a plugin keeps survives restarts and is never pruned. Values are at most
        1 MiB and keys at most 200 characters; plugin names and keys hold no NUL.

        Raises:
            StoreError: a limit is exceeded or a NUL is given (nothing is written).
        """
        ...

    async def delete_plugin_state(self, plugin: str, key: str) -> bool:
        """Forget the value ``plugin`` keeps under ``key``; False if there was none.

        Raises:
            StoreError: the key is too long, or the name or key holds a NUL.
        """
        ...

    async def list_plugin_state(self, plugin: str) -> dict[str, bytes]:
        """Every value ``plugin`` keeps, by key, in key order (by code point).

        Raises:
            StoreError: the name holds a NUL.
        """
        ...

    # MQTT devices -------------------------------------------------------------------

    async def write_dead_letters(self, rows: Sequence[DeadLetterRow]) -> int:
        """Store dead letters; one whose (journal_seq, device_id) is stored is skipped.

        Rows without a ``journal_seq`` are always stored; their ``id`` is ignored (the
        store assigns ids in insertion order).

        Returns:
            How many rows were new.
        """
        ...

    async def list_dead_letters(
        self,
        *,
        device: str | None = None,
        reason: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[DeadLetterRow]:
        """Dead letters matching every given filter, highest id first, below ``before_id``."""
        ...

    async def write_device_events(self, rows: Sequence[DeviceEventRow]) -> int:
        """Store device events; one whose (device_id, kind, journal_seq) is stored is skipped.

        Returns:
            How many rows were new.
        """
        ...

    async def list_device_events(
        self,
        device_id: str,
        *,
        kinds: list[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
    ) -> list[DeviceEventRow]:
        """Events of one device with ``start <= ts < end``, newest first."""
        ...

    async def insert_command(self, row: CommandRow) -> None:
        """Store a new command (a :class:`StoreError` if its id is taken)."""
        ...

    async def get_command(self, command_id: str) -> CommandRow | None:
        """One command, or None."""
        ...

    async def list_commands(
        self,
        *,
        device_id: str | None = None,
        states: list[CommandState] | None = None,
        limit: int = 100,
    ) -> list[CommandRow]:
        """Commands matching every given filter, newest ``created_at`` first."""
        ...

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

        Sets ``updated_at`` to ``at``, and ``sent_at`` (for ``sent``) or ``finished_at``
        (for ``acknowledged``, ``failed``, ``expired``) too; ``result`` and ``error``
        replace the stored ones when given. Of two writers racing from the same state
        only one gets the row.

        Returns:
            The updated command, or None when it is missing or in no ``from_states``.
        """
        ...

    async def insert_ota(self, row: OtaRow) -> None:
        """Store a new firmware update (a :class:`StoreError` if its id is taken)."""
        ...

    async def get_ota(self, ota_id: str) -> OtaRow | None:
        """One firmware update, or None."""
        ...

    async def list_ota(self, device_id: str, *, limit: int = 100) -> list[OtaRow]:
        """Firmware updates of one device, newest ``created_at`` first."""
        ...

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

        Sets ``updated_at`` to ``at``; ``progress`` and ``error`` replace the stored
        ones when given.

        Returns:
            The updated run, or None when it is missing or in no ``from_states``.
        """
        ...

    # retention ----------------------------------------------------------------------

    async def rollup(self, now: datetime) -> int:
        """Bring the 15-minute and daily rollups up to date for periods closed by ``now``.

        Returns:
            How many rollup rows were written.
        """
        ...

    async def prune(
        self, now: datetime, *, raw_days: int, rollup_15m_days: int, rollup_1d_days: int
    ) -> dict[str, int]:
        """Delete rows older than each tier's retention; counts deleted rows per tier.

        Tiers: ``raw``, ``15m``, ``1d``, and the derived rows: trends shorter than 15
        minutes (``trends_short``) go with the raw readings, longer ones
        (``trends_long``) with the 15-minute rollups, ``consumption`` and resolved
        ``alerts`` (by their resolve time) with the daily rollups. Open and
        acknowledged alerts are never pruned. ``dead_letters`` and ``device_events``
        (by their time), finished ``commands`` (by ``finished_at``) and ``ota`` runs that
        ``updated`` or ``failed`` (by ``updated_at``) go with the daily rollups too; queued
        and sent commands and running updates stay. Plugin state is never pruned.
        """
        ...
