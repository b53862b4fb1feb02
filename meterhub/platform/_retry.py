"""Retry with capped exponential backoff and jitter, for supervisors and actors alike.

OTP leaves retrying to the runtime; so does meterhub: an adapter fails fast, and the
actor that owns it retries through ``Backoff`` or ``retry`` instead of a hand-written
``while True: sleep`` loop.
"""

from __future__ import annotations

import dataclasses
import random
from typing import TYPE_CHECKING, TypeVar

import anyio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class RestartPolicy:
    """Restart intensity and backoff.

    Attributes:
        max_restarts: restarts allowed within ``within_seconds`` before giving up.
        within_seconds: the sliding window for ``max_restarts``.
        backoff_initial: delay before the first restart in a window.
        backoff_max: longest delay.
        jitter: fraction (0..1) by which each delay is randomly stretched or shrunk, so
            that many children that crashed together do not restart in lockstep.
        retry_failed_after: after the root supervisor gave up on a component, seconds
            before it tries it again (doubled on each further give-up).
        retry_failed_max: the longest wait between such tries.
    """

    max_restarts: int = 5
    within_seconds: float = 30.0
    backoff_initial: float = 0.05
    backoff_max: float = 10.0
    jitter: float = 0.2
    retry_failed_after: float = 60.0
    retry_failed_max: float = 600.0

    def backoff(self, attempt: int, rand: float) -> float:
        """Delay before restart number ``attempt`` (1-based) in the current window."""
        base = min(self.backoff_max, self.backoff_initial * 2 ** max(0, attempt - 1))
        return self._jittered(base, rand)

    def retry_failed(self, give_ups: int, rand: float) -> float:
        """Delay before trying a given-up component again after give-up ``give_ups``."""
        base = min(self.retry_failed_max, self.retry_failed_after * 2 ** max(0, give_ups - 1))
        return self._jittered(base, rand)

    def _jittered(self, base: float, rand: float) -> float:
        return float(base * (1.0 + self.jitter * (2.0 * rand - 1.0)))


class Backoff:
    """Counts consecutive failures and sleeps the policy's delay after each.

    ``reset()`` once the thing works again (a port opened, a call succeeded), so the
    next failure starts from the shortest delay.
    """

    def __init__(self, policy: RestartPolicy, rand: Callable[[], float] = random.random) -> None:
        self.policy = policy
        self.attempt = 0
        self._rand = rand

    def reset(self) -> None:
        """The operation succeeded: start the next series of delays afresh."""
        self.attempt = 0

    def next_delay(self) -> float:
        """Count one failure; the delay before the next try."""
        self.attempt += 1
        return self.policy.backoff(self.attempt, self._rand())

    async def sleep(self) -> float:
        """Count one failure and wait before the next try; returns the delay slept."""
        delay = self.next_delay()
        await anyio.sleep(delay)
        return delay


async def retry(
    call: Callable[[], Awaitable[T]],
    *,
    errors: type[Exception] | tuple[type[Exception], ...],
    policy: RestartPolicy,
    on_failure: Callable[[Exception, int], None] | None = None,
    on_recovery: Callable[[int], None] | None = None,
) -> T:
    """Run ``call`` until it returns, sleeping with backoff after each of ``errors``.

    Args:
        call: the operation; other exceptions propagate at once.
        errors: the failures worth retrying (a store that is down, a broken link).
        policy: the delays.
        on_failure: called with the error and the attempt number (1-based).
        on_recovery: called with the number of failed attempts once it succeeds.
    """
    backoff = Backoff(policy)
    while True:
        try:
            result = await call()
        except errors as exc:
            delay = backoff.next_delay()
            if on_failure is not None:
                on_failure(exc, backoff.attempt)
            await anyio.sleep(delay)
            continue
        if backoff.attempt and on_recovery is not None:
            on_recovery(backoff.attempt)
        return result
