"""The composition root: builds a site's actors from its settings and runs them."""

from __future__ import annotations

import contextlib
import gc
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Self

import anyio

from meterhub._meters import (
    alert_rules,
    load_directory,
    load_profiles,
    meter_spec,
    redecoder,
    validation_rules,
)
from meterhub.actors import (
    SINK,
    AggregatorActor,
    AlertCommand,
    AlertEngine,
    AlerterActor,
    ConsumptionTracker,
    EnricherActor,
    HeartbeatActor,
    LiveBoard,
    MaintenanceActor,
    ReadingLogger,
    Retention,
    StoreWriter,
    TrendTracker,
    Validator,
    ValidatorActor,
    WriterSettings,
)
from meterhub.actors._stages import ENRICHER, ReloadDevices
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
    MailboxPolicy,
    Readiness,
    Telemetry,
    ask,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType

    from meterhub.adapters.transports import Transport
    from meterhub.model import Alert
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
    ) -> None:
        """Prepare a site (no I/O yet).

        Args:
            settings: the site's configuration.
            transports: meter id -> transport to use instead of the configured one, for
                benchmarks and tests that feed meters from inside the process.
        """
        self.settings = settings
        self._transports = dict(transports or {})
        runtime = settings.runtime
        self.system = ActorSystem(
            policy=runtime.restart.policy(), shutdown_timeout=runtime.shutdown_timeout
        )
        self.telemetry = Telemetry(service=f"meterhub-{settings.site.name}")
        self.data_dir = Path(settings.data_dir)
        journal = settings.journal
        self.journal = Journal(
            self.data_dir / "journal",
            segment_bytes=journal.segment_mb * MIB,
            flush_interval=journal.flush_interval_s,
            fsync=journal.fsync,
        )
        self.store: Store = open_store(settings.store_url())
        self.board = LiveBoard()
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
            stack.push_async_callback(self._shutdown_telemetry)
            # built before anything starts: a public address without API keys is refused
            app = create_app(self, self.settings.api, KeyStore.in_data_dir(self.data_dir))
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
        """The runtime's readiness."""
        return self.system.readiness()

    def metrics_text(self) -> bytes:
        """Prometheus text of the runtime's metrics."""
        return self.telemetry.render()

    async def alert_command(self, alert_id: str, action: Literal["acknowledge", "resolve"]) -> bool:
        """Ask the alerter to change an alert's state."""
        changed: Alert | None = await ask(
            self.system.lookup("alerter"), lambda reply: AlertCommand(alert_id, action, reply)
        )
        return changed is not None

    async def devices_changed(self) -> None:
        """Make the enricher reload the registry."""
        await self.system.lookup(ENRICHER).send(ReloadDevices())

    async def _spawn_components(self) -> None:
        # sinks first, intake last: shutdown runs in reverse, so the meters stop first
        # and everything they produced drains through the rest, the store writer last
        settings, spawn, store = self.settings, self.system.spawn, self.store
        pipeline, storage = settings.pipeline, settings.storage
        profiles = load_profiles(settings)
        directory = await load_directory(settings, store)
        catch_up = redecoder(settings, profiles, directory)
        writer = WriterSettings(batch_rows=storage.batch_rows,
                                flush_interval=storage.flush_interval_s)  # fmt: skip
        await spawn(ActorSpec(SINK, lambda: StoreWriter(store, self.journal, catch_up, writer),
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
        trends = tuple(pipeline.trend_windows_s)
        await spawn(ActorSpec("aggregator", lambda: AggregatorActor(
            TrendTracker(trends), ConsumptionTracker(pipeline.consumption_interval_s)),
            mailbox_capacity=4096))  # fmt: skip
        rules, meter_ids = alert_rules(settings), [m.id for m in settings.meters]
        await spawn(ActorSpec("alerter", lambda: AlerterActor(AlertEngine(rules), meter_ids),
                              mailbox_capacity=4096))  # fmt: skip
        await spawn(ActorSpec(ENRICHER, lambda: EnricherActor(
            lambda: load_directory(settings, store)), mailbox_capacity=4096))  # fmt: skip
        checks = validation_rules(settings)
        await spawn(ActorSpec("validator", lambda: ValidatorActor(Validator(checks)),
                              mailbox_capacity=4096))  # fmt: skip
        for index, meter in enumerate(settings.meters):
            transport = self._transports.get(meter.id)
            await spawn(meter_spec(meter, index, profiles, journal=self.journal,
                                  board=self.board, transport=transport))  # fmt: skip
        interval = settings.demo.heartbeat_interval
        await spawn(ActorSpec("heartbeat", lambda: HeartbeatActor(interval), mailbox_capacity=16,
                              mailbox_policy=MailboxPolicy.DROP_OLDEST))  # fmt: skip
