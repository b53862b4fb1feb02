"""One device's health: its state machine and counters, kept by the actor of its input.

Synchronous and free of I/O: the actor feeds it what happened (a frame, a rejection, a
reading, the link going up or down, a clock tick) and publishes the status it returns
whenever the state changed.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from meterhub.model import MeterState, MeterStatus

_log = logging.getLogger(__name__)
_KEY_REASONS = frozenset({"no_key", "wrong_key", "auth_tag"})


class MeterHealth:
    """State (``online``, ``stale``, ``offline``...) and counters of one device.

    Args:
        meter_id: the device.
        stale_after: seconds without a reading before it is ``stale``.
        offline_after: seconds without any bytes before it is ``offline``.
    """

    def __init__(self, meter_id: str, stale_after: float, offline_after: float) -> None:
        self.meter_id = meter_id
        self.stale_after = stale_after
        self.offline_after = offline_after
        self.state = MeterState.STARTING
        self._since = datetime.now(UTC)
        self._last_reading_at: datetime | None = None
        now = time.monotonic()
        self._last_reading_mono = now
        self._last_heard_mono = now
        self.received = 0
        self.readings = 0
        self.duplicates = 0
        self.errors: dict[str, int] = {}
        self._last_error: str | None = None
        self.transport_failures = 0
        self._unmapped_logged = False

    def heard(self) -> None:
        """The device sent bytes."""
        self._last_heard_mono = time.monotonic()

    def frame(self) -> None:
        """The device's input delivered a frame."""
        self.received += 1

    def reading(self, received_at: datetime, *, unmapped: bool = False) -> MeterStatus | None:
        """A frame became a reading (``unmapped``: one whose values no profile names)."""
        self.readings += 1
        self._last_reading_at = received_at
        self._last_reading_mono = time.monotonic()
        if unmapped:
            return self._set(MeterState.UNMAPPED, "no profile names the telegram's values")
        return self._set(MeterState.ONLINE, None)

    def duplicate(self) -> None:
        """A frame repeated the previous telegram."""
        self.duplicates += 1

    def rejected(self, reason: str, detail: str) -> MeterStatus | None:
        """A frame was rejected (framing, decoding, or the journal failed)."""
        self.errors[reason] = self.errors.get(reason, 0) + 1
        self._last_error = detail
        if reason in _KEY_REASONS:
            return self._set(MeterState.AUTH_FAILED, detail)
        if reason == "journal" or self.state is MeterState.AUTH_FAILED:
            return None
        return self._set(MeterState.ERRORS, detail)

    def link_up(self) -> MeterStatus | None:
        """The input's link works (again)."""
        if self.state not in (MeterState.STARTING, MeterState.OFFLINE):
            return None
        self._last_heard_mono = time.monotonic()
        return self._set(MeterState.STALE, "link up, waiting for telegrams")

    def link_down(self, reason: str) -> MeterStatus | None:
        """The input's link broke or could not be opened."""
        self.transport_failures += 1
        self._last_error = reason
        return self._set(MeterState.OFFLINE, reason)

    def tick(self) -> MeterStatus | None:
        """Re-check ``stale`` and ``offline`` against the clock."""
        now = time.monotonic()
        if self.state is MeterState.OFFLINE:
            return None
        if now - self._last_heard_mono > self.offline_after:
            return self._set(MeterState.OFFLINE, "nothing heard from the meter")
        reading = self.state in (MeterState.ONLINE, MeterState.UNMAPPED)
        if reading and now - self._last_reading_mono > self.stale_after:
            return self._set(MeterState.STALE, "no reading")
        return None

    def _set(self, state: MeterState, reason: str | None) -> MeterStatus | None:
        if state is self.state:
            return None
        previous, self.state = self.state, state
        self._since = datetime.now(UTC)
        meter = self.meter_id
        fields = {"meter": meter, "state": state.value, "was": previous.value}
        if state is MeterState.UNMAPPED and not self._unmapped_logged:
            # once per meter: the fix is a profile, which a log flood would not bring sooner
            self._unmapped_logged = True
            _log.warning("meter %s is unmapped: its telegrams decode but no profile names "
                         "their values; set capture = true for it, then run `meterhub profile "
                         "draft <capture file> --key <key>` (see docs/meters.md)", meter,
                         extra=fields)  # fmt: skip
        elif state is MeterState.AUTH_FAILED:
            # once per transition, not per telegram: a wrong key must not flood the log
            _log.error("meter %s: telegrams do not decrypt, check its key (%s)", meter, reason,
                       extra=fields)  # fmt: skip
        elif state in (MeterState.OFFLINE, MeterState.ERRORS) or previous is MeterState.ONLINE:
            _log.warning("meter %s is %s: %s", meter, state.value, reason, extra=fields)
        else:
            _log.info("meter %s is %s: %s", meter, state.value, reason or "reading",
                      extra=fields)  # fmt: skip
        return self.status()

    def status(self) -> MeterStatus:
        """The device's current health."""
        return MeterStatus(
            meter_id=self.meter_id,
            state=self.state,
            since=self._since,
            last_reading_at=self._last_reading_at,
            readings=self.readings,
            duplicates=self.duplicates,
            errors=dict(self.errors),
            last_error=self._last_error,
            transport_failures=self.transport_failures,
            received=self.received,
        )
