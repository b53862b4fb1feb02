"""The actor that runs one processor plugin, and the context it hands the plugin.

The plugin's mailbox drops its oldest messages when full, so a slow or stuck plugin
never slows the site; an exception from the plugin crashes only this actor, which its
supervisor restarts with backoff and, after too many crashes, gives up on (the plugin
shows as disabled until the supervisor tries it again).

A durable processor takes its readings from the journal rather than the bus: it reads
the records after its own cursor, decodes them with its own pipeline and hands each
reading to the plugin; the cursor (kept in the plugin's state, reported to the journal
for retention) moves only after the plugin handled them, so downtime loses nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from meterhub.actors._alert_rules import PluginFinding
from meterhub.actors._plugin_data import StoreData, StoreState
from meterhub.model import DeviceNews, PluginEvent, Reading, Severity
from meterhub.platform import Actor, MailboxClosedError
from meterhub.topics import BY_KIND, PLUGIN_EVENTS, READINGS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from meterhub.actors._pipeline import Pipeline
    from meterhub.actors._store_writer import JournalReader
    from meterhub.adapters.stores import Store
    from meterhub.plugins import ProcessorMessage, ProcessorPlugin

_log = logging.getLogger(__name__)
ALERTER = "alerter"
CURSOR_KEY = "meterhub.cursor"
"""The plugin-state key of a durable processor's journal cursor."""


def processor_actor_name(plugin: str) -> str:
    """The actor that runs processor plugin ``plugin``."""
    return f"plugin:{plugin}"


def cursor_name(plugin: str) -> str:
    """The journal cursor of a durable processor plugin."""
    return f"plugin:{plugin}"


class Poll(msgspec.Struct, frozen=True):
    """Time for a durable processor to read the journal after its cursor."""


@dataclasses.dataclass(frozen=True, slots=True)
class DurableSource:
    """Where a durable processor reads: the journal, and a pipeline to decode it."""

    journal: JournalReader
    make_pipeline: Callable[[], Pipeline]
    poll_s: float = 0.5
    batch: int = 1000


class HostContext:
    """The ``ProcessorContext`` of one plugin (see ``meterhub.plugins``)."""

    def __init__(self, name: str, store: Store, actor: Actor[Any]) -> None:
        self._name = name
        self._actor = actor
        self._logger = logging.getLogger(f"meterhub.plugin.{name}")
        self._data = StoreData(store)
        self._state = StoreState(store, name)

    @property
    def name(self) -> str:
        """The plugin's name."""
        return self._name

    @property
    def logger(self) -> logging.Logger:
        """``meterhub.plugin.<name>``."""
        return self._logger

    @property
    def data(self) -> StoreData:
        """The site's history."""
        return self._data

    @property
    def state(self) -> StoreState:
        """The plugin's key-value store."""
        return self._state

    async def publish_reading(
        self,
        meter_id: str,
        ts: datetime,
        values: Mapping[str, float | int],
        units: Mapping[str, str] | None = None,
    ) -> None:
        """Publish a derived reading on ``readings/<meter_id>``.

        Raises:
            ValueError: ``ts`` is naive.
        """
        if ts.tzinfo is None:
            raise ValueError("a derived reading needs a timezone-aware ts")
        reading = Reading(meter_id=meter_id, ts=ts.astimezone(UTC), values=dict(values),
                          units=dict(units or {}), received_at=datetime.now(UTC),
                          ts_source="derived", origin=self._name)  # fmt: skip
        await READINGS.publish(self._actor.context.bus, meter_id, reading)

    async def raise_alert(
        self,
        key: str,
        meter_id: str,
        *,
        message: str,
        severity: Severity = Severity.WARNING,
        value: float | None = None,
        evidence: Mapping[str, float | int | str] | None = None,
    ) -> None:
        """Open alert ``<plugin>:<key>`` of ``meter_id`` (or keep it open)."""
        await self._tell(PluginFinding(rule=f"{self._name}:{key}", meter_id=meter_id,
                                       firing=True, message=message, severity=Severity(severity),
                                       value=value, evidence=dict(evidence or {})))  # fmt: skip

    async def clear_alert(self, key: str, meter_id: str, *, value: float | None = None) -> None:
        """Resolve alert ``<plugin>:<key>`` of ``meter_id`` if it is open."""
        await self._tell(PluginFinding(rule=f"{self._name}:{key}", meter_id=meter_id,
                                       firing=False, value=value))  # fmt: skip

    async def _tell(self, finding: PluginFinding) -> None:
        try:
            await self._actor.context.system.lookup(ALERTER).send(finding)
        except MailboxClosedError:
            _log.warning("the alerter is not running; alert %s of %s not changed",
                         finding.rule, finding.meter_id)  # fmt: skip

    async def publish_event(self, name: str, key: str, data: Mapping[str, Any]) -> None:
        """Push a ``plugin`` event to the live feed under ``plugins/<key>``."""
        event = PluginEvent(plugin=self._name, name=name, key=key, ts=datetime.now(UTC),
                            data=dict(data))  # fmt: skip
        await PLUGIN_EVENTS.publish(self._actor.context.bus, key, event)


class ProcessorHost(Actor[Any]):
    """Runs one processor plugin: subscribes its kinds, hands it every message.

    Args:
        name: the plugin's name.
        make: a fresh plugin instance for every (re)start.
        store: where its context reads history and keeps state.
        durable: with a journal source, readings come from the journal after the
            plugin's cursor instead of the bus.
    """

    def __init__(
        self,
        name: str,
        make: Callable[[], ProcessorPlugin[Any]],
        store: Store,
        durable: DurableSource | None = None,
    ) -> None:
        self._name = name
        self._plugin = make()
        self._durable = durable
        self._pipeline: Pipeline | None = None
        self._cursor = 0
        self._plugin_context = HostContext(name, store, self)
        self.handled = 0

    async def on_start(self) -> None:
        """Start the plugin, then subscribe its kinds (and poll the journal if durable)."""
        await self._plugin.start(self._plugin_context)
        bus, ref = self.context.bus, self.context.ref
        for kind in self._plugin.subscribes:
            if kind == "reading" and self._durable is not None:
                continue
            BY_KIND[kind].subscribe(bus, ref)
        if self._durable is not None:
            stored = await self._plugin_context.state.get(CURSOR_KEY)
            if stored is None:
                # a new durable plugin starts at the journal's end: it follows from now
                # on; history before it is in the store (``context.data``)
                self._cursor = self._durable.journal.durable_seq
                await self._save_cursor()
            else:
                self._cursor = int(stored.decode())
            self._pipeline = self._durable.make_pipeline()
            self.context.every(self._durable.poll_s, Poll, "journal-poll")
            self.context.ref.send_nowait(Poll())

    async def handle(self, message: ProcessorMessage | Poll) -> None:
        """Hand the plugin one message (a poll reads the journal)."""
        if isinstance(message, Poll):
            await self._read_journal()
        elif not (isinstance(message, Reading) and message.origin == self._name):
            await self._plugin.handle(message, self._plugin_context)
            self.handled += 1

    async def _read_journal(self) -> None:
        source, pipeline = self._durable, self._pipeline
        if source is None or pipeline is None:
            return
        journal = source.journal
        if journal.durable_seq <= self._cursor:
            return
        records = await anyio.to_thread.run_sync(journal.read_batch, self._cursor, source.batch)
        for seq, frame in records:
            outcome = pipeline.run(frame, seq)
            readings = outcome.readings if isinstance(outcome, DeviceNews) else (
                [outcome] if isinstance(outcome, Reading) else [])  # fmt: skip
            for reading in readings:
                await self._plugin.handle(reading, self._plugin_context)
                self.handled += 1
            self._cursor = seq
        if records:
            await self._save_cursor()
            if len(records) == source.batch:
                self.context.ref.send_nowait(Poll())  # more to read: go on after the mailbox

    async def _save_cursor(self) -> None:
        await self._plugin_context.state.put(CURSOR_KEY, str(self._cursor).encode())
        if self._durable is not None:
            self._durable.journal.report_cursor(cursor_name(self._name), self._cursor)

    async def on_stop(self) -> None:
        """Let the plugin save what it needs."""
        await self._plugin.stop(self._plugin_context)
