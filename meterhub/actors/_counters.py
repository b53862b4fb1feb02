"""Which metrics are cumulative registers: one declaration, read by every stage.

The profiles declare their counters (``counter = true``); the site collects them into
one ``Counters`` that the validator (jump rule) and the aggregator (consumption) share,
so the two can never disagree about a metric again.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable


class Counters:
    """Metric names or ``fnmatch`` patterns of cumulative registers, with a cache."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self.patterns = frozenset(patterns)
        self._known: dict[str, bool] = {}

    def __contains__(self, metric: object) -> bool:
        if not isinstance(metric, str):
            return False
        hit = self._known.get(metric)
        if hit is None:
            hit = self._known[metric] = any(fnmatchcase(metric, p) for p in self.patterns)
        return hit
