"""The narrow view of a running site that the API is built on.

The app never reaches into actors: it reads the store, the live board and the runtime's
reports through this protocol, and changes the site by the few commands here. The site
(``meterhub.site.Site``) implements it; tests can hand in a fake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from meterhub.actors import LiveBoard
    from meterhub.adapters.stores import CommandRow, Store
    from meterhub.platform import ActorStatus, Bus, Readiness
    from meterhub.plugins import PluginReport


class SiteView(Protocol):
    """What the HTTP API may see and do of a running site."""

    @property
    def store(self) -> Store:
        """History: readings, trends, consumption, devices, alerts."""
        ...

    @property
    def bus(self) -> Bus:
        """Live messages (``readings/#``, ``trends/#``, ``alerts/#``, ``status/#``...)."""
        ...

    @property
    def board(self) -> LiveBoard:
        """Each meter's latest status and reading, straight from its actor."""
        ...

    def meter_ids(self) -> list[str]:
        """The configured meters."""
        ...

    def configured_ids(self) -> frozenset[str]:
        """The devices the site's file owns: the API refuses to edit them."""
        ...

    def trend_windows(self) -> list[int]:
        """The trend window lengths (seconds) the site computes."""
        ...

    def actor_status(self) -> list[ActorStatus]:
        """Every actor's state, mailbox depth, counters and last error."""
        ...

    def readiness(self) -> Readiness:
        """Ready, or the failed components with their reasons."""
        ...

    def plugin_reports(self) -> list[PluginReport]:
        """Every installed plugin and its state."""
        ...

    def metrics_text(self) -> bytes:
        """The runtime's metrics in Prometheus text format."""
        ...

    async def alert_command(self, alert_id: str, action: Literal["acknowledge", "resolve"]) -> bool:
        """Acknowledge or resolve an alert; False if it is unknown or not in that state.

        Raises:
            MailboxClosedError: the alerter is not running.
        """
        ...

    async def devices_changed(self) -> None:
        """Tell the pipeline the device registry changed (it loads it again)."""
        ...

    def command_timeout_s(self) -> float:
        """How long a command waits for its ack when the request names no timeout."""
        ...

    async def command_queued(self, command: CommandRow) -> None:
        """Send a command the API just stored (state ``queued``) to its device.

        The site publishes it, moves it on (``sent``, then ``acknowledged``, ``failed``
        or ``expired``) and reports each change on the Bus.
        """
        ...
