"""The composition root: builds a site's actors from its settings and runs them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Self

from meterhub._meters import load_profiles, meter_spec
from meterhub.actors import HeartbeatActor, ReadingLogger
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
        await self.system.spawn(ActorSpec("reading-log", ReadingLogger, mailbox_capacity=1024))
        profiles = load_profiles(self.settings)
        for index, meter in enumerate(self.settings.meters):
            await self.system.spawn(meter_spec(meter, index, profiles))
        interval = self.settings.demo.heartbeat_interval
        await self.system.spawn(
            ActorSpec(
                "heartbeat",
                lambda: HeartbeatActor(interval),
                mailbox_capacity=16,
                mailbox_policy=MailboxPolicy.DROP_OLDEST,
            )
        )
