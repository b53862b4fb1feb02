"""Logs every reading that passes the bus: the demo site's visible output."""

from __future__ import annotations

import logging

from meterhub.model import Reading
from meterhub.platform import Actor
from meterhub.topics import READINGS

# the values worth a glance; the rest stay in the reading
_HEADLINE = ("energy_import_wh", "energy_export_wh", "power_import_w", "power_export_w")


class ReadingLogger(Actor[Reading]):
    """Subscribes to the readings and writes one log line per reading."""

    async def on_start(self) -> None:
        """Subscribe (again, after a restart: subscribing twice is a no-op).

        Not at all when the log would drop the lines: then every reading would cost a
        mailbox hop for nothing.
        """
        if self.context.logger.isEnabledFor(logging.INFO):
            READINGS.subscribe(self.context.bus, self.context.ref)

    async def handle(self, message: Reading) -> None:
        """Log the reading's headline values."""
        fields: dict[str, object] = {"meter": message.meter_id, "ts": message.ts.isoformat()}
        fields.update((k, message.values[k]) for k in _HEADLINE if k in message.values)
        fields["values"] = len(message.values)
        self.context.logger.info("reading", extra=fields)
