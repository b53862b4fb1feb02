"""Every alert that opens or resolves is exactly one log line naming what fired."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from meterhub.actors._alert_rules import AlertEngine, AlertRule
from meterhub.model import AlertState, Reading

if TYPE_CHECKING:
    from meterhub.model import Alert

T0 = datetime(2026, 3, 1, tzinfo=UTC)
LOGGER = "meterhub.actors._alert_rules"


def reading(value: float, second: int) -> Reading:
    at = T0 + timedelta(seconds=second)
    return Reading(meter_id="m1", ts=at, values={"x": value}, received_at=at)


# per rule: a quiet value, the value that opens, one that still fires, one that resolves
@pytest.mark.parametrize(("rule", "values", "threshold"), [
    (AlertRule("hot", "above", metric="x", high=10.0), (9.0, 12.0, 13.0, 9.0), "> 10"),
    (AlertRule("cold", "below", metric="x", low=1.0), (2.0, 0.5, 0.2, 2.0), "< 1"),
    (AlertRule("band", "outside", metric="x", low=1.0, high=10.0), (5.0, 11.0, 0.0, 5.0),
     "outside 1..10"),
    (AlertRule("ramp", "rate", metric="x", limit=1.0), (0.0, 100.0, 200.0, 200.5), "> 1/s"),
])  # fmt: skip
def test_value_rules_log_one_line_per_open_and_resolve(
    caplog: pytest.LogCaptureFixture, rule: AlertRule, values: tuple[float, ...], threshold: str
) -> None:
    engine = AlertEngine([rule])
    caplog.set_level(logging.DEBUG, LOGGER)
    quiet, bad, still, good = values
    assert engine.on_reading(reading(quiet, 0)) == []
    assert caplog.records == []  # a quiet value logs nothing
    (opened,) = engine.on_reading(reading(bad, 1))
    assert engine.on_reading(reading(still, 2)) == []  # still firing: no second line
    (resolved,) = engine.on_reading(reading(good, 3))
    records = caplog.records
    assert [r.levelno for r in records] == [logging.WARNING, logging.INFO]
    assert_line(records[0], opened, rule.name, bad, threshold)
    assert_line(records[1], resolved, rule.name, good, threshold)


def test_silent_rule_logs_open_and_resolve(caplog: pytest.LogCaptureFixture) -> None:
    engine = AlertEngine([AlertRule("quiet", "silent", minutes=5)])
    caplog.set_level(logging.DEBUG, LOGGER)
    assert engine.on_tick(T0, ["m1"]) == []
    (opened,) = engine.on_tick(T0 + timedelta(minutes=6), ["m1"])
    assert engine.on_tick(T0 + timedelta(minutes=7), ["m1"]) == []
    (resolved,) = engine.on_reading(reading(1.0, 480))
    assert len(caplog.records) == 2
    for record, alert in zip(caplog.records, (opened, resolved), strict=True):
        assert record.__dict__["alert"] == alert.id
        assert record.__dict__["state"] == alert.state.value
        assert record.__dict__["threshold"] == "silent > 5 min"
        assert "meter m1 rule quiet" in record.getMessage()


def test_a_resolve_by_hand_is_logged_and_an_acknowledge_is_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = AlertEngine([AlertRule("hot", "above", metric="x", high=10.0)])
    (opened,) = engine.on_reading(reading(12.0, 0))
    caplog.set_level(logging.DEBUG, LOGGER)
    caplog.clear()
    assert engine.acknowledge(opened.id, T0) is not None
    assert caplog.records == []
    resolved = engine.resolve(opened.id, T0)
    assert resolved is not None
    (record,) = caplog.records
    assert_line(record, resolved, "hot", 12.0, "> 10")
    assert record.__dict__["by"] == "operator"
    assert engine.active == []


def assert_line(
    record: logging.LogRecord, alert: Alert, rule: str, value: float, threshold: str
) -> None:
    fields = record.__dict__
    assert (fields["meter"], fields["rule"], fields["metric"]) == ("m1", rule, "x")
    assert (fields["value"], fields["threshold"]) == (value, threshold)
    assert fields["state"] == alert.state.value
    assert alert.state in {AlertState.OPEN, AlertState.RESOLVED}
    message = record.getMessage()
    assert f"alert {alert.state.value} {alert.id}: meter m1 rule {rule} x = {value:g}" in message
    assert f"(threshold {threshold})" in message
