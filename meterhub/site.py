"""The composition root: builds a site's actors from its settings and runs them."""

from __future__ import annotations

import contextlib
import gc
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Self

import anyio

from meterhub._meters import (
    alert_rules,
    input_spec,
    load_directory,
    load_profiles,
    pipeline_factory,
    register_configured,
)
from meterhub._mqtt import device_rules, mqtt_specs
from meterhub._plugins import forget_stale_cursors, load_site_plugins
from meterhub.actors import (
    COMMANDER,
    SINK,
    AggregatorActor,
    AlertCommand,
    AlertEngine,
    AlerterActor,
    ConsumptionTracker,
    Counters,
    DeviceDirectory,
    DeviceEventWriter,
    HeartbeatActor,
    JournalView,
    LiveBoard,
    MaintenanceActor,
    OperatorMetrics,
    Queued,
    ReadingLogger,
    Retention,
    StoreWriter,
    TrendTracker,
    WriterSettings,
)
from meterhub.adapters.journal import Journal
from meterhub.adapters.stores import Store, open_store
from meterhub.api import KeyStore, create_app, serve
from meterhub.platform import (
    ActorMetrics,
    ActorSpec,
    ActorStatus,
    ActorSystem,
    Bus,
    ConfigError,
    MailboxClosedError,
    MailboxPolicy,
    Readiness,
    Telemetry,
    ask,
)
from meterhub.topics import COMMANDS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from types import TracebackType
    from typing import Any

    from meterhub._plugins import SitePlugins
    from meterhub.adapters.stores import CommandRow
    from meterhub.adapters.transports import Transport
    from meterhub.model import Alert, CommandUpdate
    from meterhub.plugins import PluginReport
    from meterhub.settings import Settings

_log = logging.getLogger(__name__)
MIB = 1024 * 1024


class Site:
    """One site: journal, store, actor system and telemetry, as a context manager.

    Entering opens the journal and the store and starts every component; leaving stops
    the components gracefully (intake first, then each mailbox drained, the store writer
    last), then closes the store and finally the journal, so every frame the meters
    accepted is on disk and in the store.
    """

    def __init__(
        self,
        settings: Settings,
        transports: Mapping[str, Callable[[], Transport]] | None = None,
        stages: Iterable[ActorSpec[Any]] = (),
        plugins: SitePlugins | None = None,
    ) -> None:
        """Prepare a site (no I/O yet).

        Args:
            settings: the site's configuration.
            transports: meter id -> transport to use instead of the configured one, for
                benchmarks and tests that feed meters from inside the process.
            stages: more actors to run beside the built-in stages (they subscribe to
                topics of ``meterhub.topics`` in ``on_start``); started after the
                sinks, before the inputs.
            plugins: the plugins to run instead of those the installed entry points and
                ``[plugins]`` give (tests hand in their own).
        """
        self.settings = settings
        self._transports = dict(transports or {})
        self._stages = tuple(stages)
        self._directory = DeviceDirectory()
        runtime = settings.runtime
        self.system = ActorSystem(
            policy=runtime.restart.policy(), shutdown_timeout=runtime.shutdown_timeout
        )
        self.telemetry = Telemetry(service=f"meterhub-{settings.site.name}")
        self.data_dir = Path(settings.data_dir)
        self.board = LiveBoard()
        # the journal is read when metrics are collected, after it exists
        self._metrics = OperatorMetrics(self.telemetry, self.board, JournalView(
            lambda: self.journal.statistics(),  # noqa: PLW0108 (bound late: made below)
            lambda: self.journal.cursors))  # fmt: skip
        journal = settings.journal
        self.journal = Journal(
            self.data_dir / "journal",
            segment_bytes=journal.segment_mb * MIB,
            flush_interval=journal.flush_interval_s,
            fsync=journal.fsync,
            on_flush=self._metrics.observe_flush,
        )
        self.store: Store = open_store(settings.store_url())
        self.plugins = plugins if plugins is not None else load_site_plugins(settings)
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Self:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError("data_dir", str(self.data_dir), f"cannot create: {exc}") from exc
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(self.journal)
            await stack.enter_async_context(self.store)
            await self.store.migrate()
            # the configured meters are devices before anything reads or asks for them
            await register_configured(self.settings, self.store)
            for device in self.plugins.devices(datetime.now(UTC)):
                await self.store.upsert_device(device)
            self._forget_stale_cursors()
            self._directory = await load_directory(self.store)
            stack.push_async_callback(self._shutdown_telemetry)
            # built before anything starts: a public address without API keys is refused
            app = create_app(self, self.settings.api, KeyStore.in_data_dir(self.data_dir),
                             self.plugins.route_routers(self.store))  # fmt: skip
            await stack.enter_async_context(self.system)
            ActorMetrics(self.system, self.telemetry)
            await self._spawn_components()
            # the API starts after the actors are ready and, unwinding first, stops
            # before they drain
            api = self.settings.api
            tg = await stack.enter_async_context(anyio.create_task_group())
            await tg.start(serve, app, api.host, api.port)
            stack.callback(tg.cancel_scope.cancel)
            self._stack = stack.pop_all()
        # everything built so far lives as long as the site: keep it out of the cyclic
        # collector's full passes, which otherwise freeze the loop for ~100 ms now and
        # then (measured on the live feed's latency tail)
        gc.freeze()
        _log.info(
            "site running",
            extra={"site": self.settings.site.name, "actors": len(self.system.status()),
                   "store": self.settings.store_url().split("@")[-1],
                   "api": f"http://{self.settings.api.listen}/schema"},
        )  # fmt: skip
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.__aexit__(exc_type, exc, tb)

    async def _shutdown_telemetry(self) -> None:
        self.telemetry.shutdown()

    # -- the view the API is built on (meterhub.api.SiteView) ---------------------------

    @property
    def bus(self) -> Bus:
        """The site's bus."""
        return self.system.bus

    def meter_ids(self) -> list[str]:
        """The configured meters."""
        return [meter.id for meter in self.settings.meters]

    def actor_status(self) -> list[ActorStatus]:
        """Every actor's snapshot."""
        return self.system.status()

    def readiness(self) -> Readiness:
        """The runtime's readiness; a plugin that is out degrades it, never fails it."""
        return self.plugins.degrade(self.system.readiness())

    def plugin_reports(self) -> list[PluginReport]:
        """Every installed plugin and its state."""
        return self.plugins.reports(self.system.status(), self.system.readiness())

    def _forget_stale_cursors(self) -> None:
        # a durable plugin no longer enabled must not hold the journal's segments
        for name in forget_stale_cursors(self.journal.cursors, self.plugins.durable_cursors()):
            _log.info("forgetting journal cursor %s (its plugin is not enabled)", name)
            self.journal.forget_cursor(name)

    def metrics_text(self) -> bytes:
        """Prometheus text of the runtime's metrics."""
        return self.telemetry.render()

    def configured_ids(self) -> frozenset[str]:
        """The meters the configuration file owns (the API may not edit them)."""
        return frozenset(meter.id for meter in self.settings.meters)

    def trend_windows(self) -> list[int]:
        """The trend window lengths (seconds) of ``[pipeline] trend_windows_s``."""
        return sorted(set(self.settings.pipeline.trend_windows_s))

    async def alert_command(self, alert_id: str, action: Literal["acknowledge", "resolve"]) -> bool:
        """Ask the alerter to change an alert's state.

        Raises:
            MailboxClosedError: the alerter is not running (given up on, or stopping).
        """
        changed: Alert | None = await ask(
            self.system.lookup("alerter"), lambda reply: AlertCommand(alert_id, action, reply)
        )
        return changed is not None

    async def devices_changed(self) -> None:
        """Load the registry again: the next frame on every path is enriched from it."""
        self._directory = await load_directory(self.store)

    async def command_queued(self, command: CommandRow) -> None:
        """Hand a stored ``queued`` command to the commander, which sends it.

        Without MQTT (or with the commander given up on) it stays queued in the store
        and expires there: the commander picks it up when it starts.
        """
        if not self.settings.mqtt.enabled:
            return
        try:
            await self.system.lookup(COMMANDER).send(Queued(command))
        except MailboxClosedError:
            _log.warning("the commander is not running; command %s waits in the store",
                         command.id)  # fmt: skip

    def command_timeout_s(self) -> float:
        """Seconds a new command waits for its acknowledgement (``[mqtt] command_timeout_s``)."""
        return self.settings.mqtt.command_timeout_s

    async def _command_changed(self, update: CommandUpdate) -> None:
        await COMMANDS.publish(self.bus, update.device_id, update)

    def _current_directory(self) -> DeviceDirectory:
        return self._directory

    async def _spawn_components(self) -> None:
        # sinks first, intake last: shutdown runs in reverse, so the inputs stop first
        # and everything they produced drains through the rest, the store writer last
        settings, spawn, store = self.settings, self.system.spawn, self.store
        pipeline, storage = settings.pipeline, settings.storage
        profiles = load_profiles(settings)
        make_pipeline = pipeline_factory(settings, profiles, self._current_directory,
                                         device_rules(settings), self.plugins.decoders)  # fmt: skip
        writer = WriterSettings(batch_rows=storage.batch_rows,
                                flush_interval=storage.flush_interval_s)  # fmt: skip
        observe = self._metrics.observe_write
        events = DeviceEventWriter(store, self.devices_changed, self._command_changed)
        await spawn(ActorSpec(SINK, lambda: StoreWriter(store, self.journal, make_pipeline,
                                                        writer, observe,
                                                        apply_events=events.apply),
                              mailbox_capacity=100_000, mailbox_policy=MailboxPolicy.DROP_OLDEST,
                              # behind, it takes bigger batches: a commit costs
                              # SQLite a fixed ~0.1 s, so bigger ones catch up
                              batch_limit=16384,
                              stop_timeout=settings.runtime.shutdown_timeout))  # fmt: skip
        retention = Retention(raw_days=storage.raw_days, rollup_15m_days=storage.rollup_15m_days,
                              rollup_1d_days=storage.rollup_1d_days,
                              journal_days=settings.journal.retention_days,
                              interval_s=storage.maintenance_interval_s)  # fmt: skip
        await spawn(ActorSpec("maintenance", lambda: MaintenanceActor(store, self.journal,
                                                                      retention)))  # fmt: skip
        await spawn(ActorSpec("reading-log", ReadingLogger, mailbox_capacity=1024,
                              mailbox_policy=MailboxPolicy.DROP_OLDEST))  # fmt: skip
        trends, counters = tuple(pipeline.trend_windows_s), Counters(profiles.counters())
        # given the store, the aggregator rebuilds the windows open at the last stop
        await spawn(ActorSpec("aggregator", lambda: AggregatorActor(
            TrendTracker(trends), ConsumptionTracker(pipeline.consumption_interval_s), counters,
            store), mailbox_capacity=4096))  # fmt: skip
        rules, meter_ids = alert_rules(settings), [m.id for m in settings.meters]
        await spawn(ActorSpec("alerter", lambda: AlerterActor(AlertEngine(rules), meter_ids),
                              mailbox_capacity=4096))  # fmt: skip
        for spec in self.plugins.processor_specs(store, self.journal, make_pipeline):
            await spawn(spec)
        for stage in self._stages:
            await spawn(stage)
        # one live pipeline for every input: its per-device state is per device anyway
        live = make_pipeline()
        for index, meter in enumerate(settings.meters):
            await spawn(input_spec(meter, index, live, journal=self.journal, board=self.board,
                                   transport=self._transports.get(meter.id),
                                   capture_dir=Path(settings.data_dir) / "captures"))  # fmt: skip
        for spec in mqtt_specs(settings, live, store, journal=self.journal, board=self.board):
            await spawn(spec)
        for spec in self.plugins.input_specs(live, self.journal, self.board):
            await spawn(spec)
        interval = settings.demo.heartbeat_interval
        await spawn(ActorSpec("heartbeat", lambda: HeartbeatActor(interval), mailbox_capacity=16,
                              mailbox_policy=MailboxPolicy.DROP_OLDEST))  # fmt: skip
