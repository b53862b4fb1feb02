"""The composition root: builds a site's actors from its settings and runs them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Self

from meterhub._meters import (
    alert_rules,
    device_directory,
    load_profiles,
    meter_spec,
    validation_rules,
)
from meterhub.actors import (
    AggregatorActor,
    AlertEngine,
    AlerterActor,
    ConsumptionTracker,
    DeviceDirectory,
    EnricherActor,
    HeartbeatActor,
    ReadingLogger,
    TrendTracker,
    Validator,
    ValidatorActor,
)
from meterhub.actors._stages import ENRICHER
from meterhub.platform import (
    ActorMetrics,
    ActorSpec,
    ActorSystem,
    ConfigError,
    MailboxPolicy,
    Telemetry,
)

if TYPE_CHECKING:
    from types import TracebackType

    from meterhub.settings import Settings

_log = logging.getLogger(__name__)


class Site:
    """One site: its actor system, telemetry and components, as a context manager.

    Entering starts every component; leaving stops them gracefully (intake first,
    then each mailbox drained, then stop hooks) within the configured deadline.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        runtime = settings.runtime
        self.system = ActorSystem(
            policy=runtime.restart.policy(), shutdown_timeout=runtime.shutdown_timeout
        )
        self.telemetry = Telemetry(service=f"meterhub-{settings.site.name}")
        self.data_dir = Path(settings.data_dir)

    async def __aenter__(self) -> Self:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError("data_dir", str(self.data_dir), f"cannot create: {exc}") from exc
        await self.system.__aenter__()
        try:
            ActorMetrics(self.system, self.telemetry)
            await self._spawn_components()
        except BaseException as exc:
            await self.system.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        _log.info(
            "site running",
            extra={"site": self.settings.site.name, "actors": len(self.system.status())},
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.system.__aexit__(exc_type, exc, tb)
        finally:
            self.telemetry.shutdown()

    async def _spawn_components(self) -> None:
        # sinks first, intake last: shutdown runs in reverse, so the meters stop first
        # and everything they produced drains through the rest
        settings, spawn = self.settings, self.system.spawn
        pipeline = settings.pipeline
        await spawn(ActorSpec("reading-log", ReadingLogger, mailbox_capacity=1024))
        trends = tuple(pipeline.trend_windows_s)
        await spawn(ActorSpec("aggregator", lambda: AggregatorActor(
            TrendTracker(trends), ConsumptionTracker(pipeline.consumption_interval_s)),
            mailbox_capacity=4096))  # fmt: skip
        rules, meter_ids = alert_rules(settings), [m.id for m in settings.meters]
        await spawn(ActorSpec("alerter", lambda: AlerterActor(AlertEngine(rules), meter_ids),
                              mailbox_capacity=4096))  # fmt: skip
        directory = device_directory(settings)

        async def load_directory() -> DeviceDirectory:
            return directory

        await spawn(ActorSpec(ENRICHER, lambda: EnricherActor(load_directory),
                              mailbox_capacity=4096))  # fmt: skip
        checks = validation_rules(settings)
        await spawn(ActorSpec("validator", lambda: ValidatorActor(Validator(checks)),
                              mailbox_capacity=4096))  # fmt: skip
        profiles = load_profiles(settings)
        for index, meter in enumerate(settings.meters):
            await spawn(meter_spec(meter, index, profiles))
        interval = settings.demo.heartbeat_interval
        await spawn(
            ActorSpec(
                "heartbeat",
                lambda: HeartbeatActor(interval),
                mailbox_capacity=16,
                mailbox_policy=MailboxPolicy.DROP_OLDEST,
            )
        )
