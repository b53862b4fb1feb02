"""Alert rules and their life cycle: open, acknowledged, resolved; one open per cause.

Pure and synchronous; the alerter actor feeds it readings, meter status changes and
clock ticks, and publishes whatever changed.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
from typing import TYPE_CHECKING, Literal

import msgspec

from meterhub.model import Alert, AlertState, Quality, Reading, Severity

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

_log = logging.getLogger(__name__)
RuleKind = Literal["above", "below", "outside", "rate", "silent", "plugin"]


@dataclasses.dataclass(frozen=True, slots=True)
class AlertRule:
    """One rule.

    Attributes:
        name: unique; part of every alert it opens.
        kind: ``above``/``below``/``outside`` a threshold or band; ``rate``: the metric
            changes faster than ``limit`` per second; ``silent``: the meter delivered
            no reading (offline, wrong key, undecodable) for ``minutes``.
        metric: metric name or pattern (``voltage_*_v``); unused for ``silent``.
        low: lower bound (``below``, ``outside``).
        high: upper bound (``above``, ``outside``).
        limit: largest plausible change per second (``rate``).
        minutes: how long a meter may stay silent (``silent``).
            ``plugin``: a processor plugin decides (its alerts carry their evidence).
        severity: of the alerts it opens.
        meters: meter id patterns the rule applies to.
    """

    name: str
    kind: RuleKind
    metric: str = ""
    low: float | None = None
    high: float | None = None
    limit: float | None = None
    minutes: float = 5.0
    severity: Severity = Severity.WARNING
    meters: tuple[str, ...] = ("*",)

    def applies_to(self, meter_id: str) -> bool:
        """Whether the rule watches this meter."""
        return any(fnmatch.fnmatchcase(meter_id, pattern) for pattern in self.meters)

    @property
    def threshold(self) -> str:
        """The limit the rule compares with, as an operator reads it."""
        if self.kind == "above":
            return f"> {self.high:g}"
        if self.kind == "below":
            return f"< {self.low:g}"
        if self.kind == "outside":
            low = self.low if self.low is not None else float("-inf")
            high = self.high if self.high is not None else float("inf")
            return f"outside {low:g}..{high:g}"
        if self.kind == "rate":
            return f"> {self.limit:g}/s"
        if self.kind == "plugin":
            return "the plugin's (see the evidence)"
        return f"silent > {self.minutes:g} min"


@dataclasses.dataclass(frozen=True, slots=True)
class PluginFinding:
    """A processor plugin raised (``firing``) or cleared an alert.

    Attributes:
        rule: ``<plugin>:<key>``, the alert's rule.
        meter_id: what it is about.
        firing: open it (or keep it open) or resolve it.
    """

    rule: str
    meter_id: str
    firing: bool
    message: str = ""
    severity: Severity = Severity.WARNING
    value: float | None = None
    evidence: dict[str, float | int | str] = dataclasses.field(default_factory=dict)


class AlertEngine:
    """Evaluates rules and keeps each alert's life cycle."""

    def __init__(self, rules: Sequence[AlertRule]) -> None:
        self.rules = tuple(rules)
        self._value_rules = tuple(r for r in self.rules if r.kind != "silent")
        self._silent_rules = tuple(r for r in self.rules if r.kind == "silent")
        self._tracks_rates = any(r.kind == "rate" for r in self.rules)
        # (meter, metric) -> the rules watching it: patterns are matched once, not per value
        self._watching: dict[tuple[str, str], tuple[AlertRule, ...]] = {}
        self._open: dict[tuple[str, str, str], Alert] = {}  # (rule, meter, metric) -> alert
        self._by_id: dict[str, Alert] = {}
        self._previous: dict[tuple[str, str], tuple[datetime, float]] = {}
        self._last_reading: dict[str, datetime] = {}
        self._by_name = {rule.name: rule for rule in self.rules}

    @property
    def active(self) -> list[Alert]:
        """Alerts not resolved yet."""
        return list(self._open.values())

    def on_reading(self, reading: Reading) -> list[Alert]:
        """Alerts opened or resolved by one reading."""
        meter_id, now = reading.meter_id, reading.ts
        # silence is judged by when readings arrive: a meter's clock may be far off
        self._last_reading[meter_id] = reading.received_at or now
        changes: list[Alert] = []
        for rule in self._silent_rules:
            changes += self._transition(rule, meter_id, metric="", firing=False,
                                        message="", value=None, now=now)  # fmt: skip
        if reading.quality is Quality.INVALID:
            return changes  # an implausible value must not raise an alarm
        for metric, value in reading.values.items():
            rules = self._watching.get((meter_id, metric))
            if rules is None:
                rules = self._watching[meter_id, metric] = self._rules_watching(meter_id, metric)
            for rule in rules:
                firing, message = self._evaluate(rule, reading, metric, value)
                changes += self._transition(
                    rule, meter_id, metric=metric, firing=firing,
                    message=message, value=value, now=now,
                )  # fmt: skip
        if self._tracks_rates:
            for metric, value in reading.values.items():
                self._previous[meter_id, metric] = (now, value)
        return changes

    def _rules_watching(self, meter_id: str, metric: str) -> tuple[AlertRule, ...]:
        return tuple(
            rule
            for rule in self._value_rules
            if rule.applies_to(meter_id) and fnmatch.fnmatchcase(metric, rule.metric)
        )

    def _evaluate(
        self, rule: AlertRule, reading: Reading, metric: str, value: float
    ) -> tuple[bool, str]:
        # the message is only written for a firing rule: most evaluations are quiet
        if rule.kind == "above" and rule.high is not None:
            if value > rule.high:
                return True, f"{metric} = {value:g} above {rule.high:g}"
        elif rule.kind == "below" and rule.low is not None:
            if value < rule.low:
                return True, f"{metric} = {value:g} below {rule.low:g}"
        elif rule.kind == "outside":
            low = rule.low if rule.low is not None else float("-inf")
            high = rule.high if rule.high is not None else float("inf")
            if not low <= value <= high:
                return True, f"{metric} = {value:g} outside {low:g}..{high:g}"
        elif rule.kind == "rate" and rule.limit is not None:
            previous = self._previous.get((reading.meter_id, metric))
            if previous is None:
                return False, ""
            seconds = (reading.ts - previous[0]).total_seconds()
            rate = abs(value - previous[1]) / seconds if seconds > 0 else 0.0
            if rate > rule.limit:
                return True, f"{metric} changes by {rate:g}/s (limit {rule.limit:g}/s)"
        return False, ""

    def on_tick(self, now: datetime, meters: Sequence[str]) -> list[Alert]:
        """Open ``silent`` alerts for meters without a reading for too long."""
        changes: list[Alert] = []
        for rule in self._silent_rules:
            for meter_id in meters:
                if not rule.applies_to(meter_id):
                    continue
                last = self._last_reading.setdefault(meter_id, now)
                silent = (now - last).total_seconds()
                firing = silent > rule.minutes * 60
                message = f"no reading from {meter_id} for {silent / 60:.1f} minutes"
                changes += self._transition(rule, meter_id, metric="", firing=firing,
                                            message=message, value=None, now=now)  # fmt: skip
        return changes

    def on_plugin(self, finding: PluginFinding, now: datetime) -> list[Alert]:
        """Open or resolve the alert a processor plugin raised or cleared."""
        rule = self._by_name.get(finding.rule)
        if rule is None or rule.kind != "plugin" or rule.severity != finding.severity:
            if rule is not None and rule.kind != "plugin":
                # a configured rule of that name wins: the plugin's gets its own name
                finding = dataclasses.replace(finding, rule=f"plugin:{finding.rule}")
            rule = AlertRule(name=finding.rule, kind="plugin", severity=finding.severity)
            self._by_name[rule.name] = rule
        return self._transition(rule, finding.meter_id, metric="", firing=finding.firing,
                                message=finding.message, value=finding.value, now=now,
                                evidence=finding.evidence)  # fmt: skip

    def _transition(
        self, rule: AlertRule, meter_id: str, *, metric: str, firing: bool,
        message: str, value: float | None, now: datetime,
        evidence: dict[str, float | int | str] | None = None,
    ) -> list[Alert]:  # fmt: skip
        key = (rule.name, meter_id, metric)
        current = self._open.get(key)
        if firing and current is None:
            alert = Alert(
                id=f"{rule.name}:{meter_id}{':' + metric if metric else ''}:{int(now.timestamp())}",
                rule=rule.name, meter_id=meter_id, severity=rule.severity, state=AlertState.OPEN,
                message=message, value=value, opened_at=now, updated_at=now,
                evidence=dict(evidence or {}),
            )  # fmt: skip
            _log_change(alert, rule, metric, value)
            return [self._keep(key, alert)]
        if not firing and current is not None:
            resolved = msgspec.structs.replace(
                current, state=AlertState.RESOLVED, updated_at=now, resolved_at=now
            )
            del self._open[key]
            self._by_id[resolved.id] = resolved
            _log_change(resolved, rule, metric, value)
            return [resolved]
        return []  # still firing (de-duplicated) or still fine

    def _keep(self, key: tuple[str, str, str], alert: Alert) -> Alert:
        self._open[key] = alert
        self._by_id[alert.id] = alert
        return alert

    def acknowledge(self, alert_id: str, now: datetime) -> Alert | None:
        """Mark an open alert as seen by an operator; None if unknown or not open."""
        alert = self._by_id.get(alert_id)
        if alert is None or alert.state is not AlertState.OPEN:
            return None
        acked = msgspec.structs.replace(
            alert, state=AlertState.ACKNOWLEDGED, updated_at=now, acknowledged_at=now
        )
        key = next(k for k, v in self._open.items() if v.id == alert_id)
        return self._keep(key, acked)

    def resolve(self, alert_id: str, now: datetime) -> Alert | None:
        """Close an alert by hand; None if unknown or already resolved."""
        alert = self._by_id.get(alert_id)
        if alert is None or alert.state is AlertState.RESOLVED:
            return None
        resolved = msgspec.structs.replace(
            alert, state=AlertState.RESOLVED, updated_at=now, resolved_at=now
        )
        key = next((k for k, v in self._open.items() if v.id == alert_id), None)
        if key is not None:
            del self._open[key]
        self._by_id[alert_id] = resolved
        rule = self._by_name[alert.rule]
        _log_change(resolved, rule, key[2] if key else "", alert.value, by="operator")
        return resolved


def _log_change(
    alert: Alert, rule: AlertRule, metric: str, value: float | None, by: str = "rule"
) -> None:
    """One line per alert that opens or resolves: an operator greps the log for them."""
    fields = {"actor": "alerter", "alert": alert.id, "meter": alert.meter_id, "rule": rule.name,
              "metric": metric, "value": value, "threshold": rule.threshold,
              "state": alert.state.value, "by": by}  # fmt: skip
    shown = "-" if value is None else f"{value:g}"
    where = f" {metric}" if metric else ""
    level = logging.WARNING if alert.state is AlertState.OPEN else logging.INFO
    _log.log(level, "alert %s %s: meter %s rule %s%s = %s (threshold %s)", alert.state.value,
             alert.id, alert.meter_id, rule.name, where, shown, rule.threshold,
             extra=fields)  # fmt: skip
