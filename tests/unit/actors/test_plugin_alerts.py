"""Alerts a processor plugin raises, in the engine's life cycle; and plugins in readiness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.metadata import EntryPoint
from typing import Any

import msgspec
import pytest

from meterhub._plugins import SitePlugins, load_site_plugins
from meterhub.actors import AlertEngine, AlertRule, PluginFinding
from meterhub.model import Alert, AlertState, Reading, Severity
from meterhub.platform import Readiness
from meterhub.plugins import PluginStatus, discover
from meterhub.settings import Settings
from tests.unit.plugins.sample_plugins import MODULE

T0 = datetime(2026, 3, 1, tzinfo=UTC)
OVERVOLTAGE = AlertRule(name="overvoltage", kind="above", metric="voltage_*_v", high=253.0)
SILENT = AlertRule(name="silent", kind="silent", minutes=5)


def engine() -> AlertEngine:
    return AlertEngine([OVERVOLTAGE, SILENT])


def spike(firing: bool = True, meter: str = "m1", **kw: Any) -> PluginFinding:
    return PluginFinding(rule="anomaly:spike", meter_id=meter, firing=firing, **kw)


def opened(alerts: list[Alert]) -> Alert:
    (alert,) = alerts
    assert alert.state is AlertState.OPEN
    return alert


# -- the life cycle of a plugin's alert ------------------------------------------------------


def test_a_firing_finding_opens_one_alert_with_its_rule_message_and_evidence() -> None:
    evidence = {"zscore": 6.2, "mean_w": 410, "window": "24h"}
    found = spike(message="power_import_w = 9000 is 6.2 sigma above the mean",
                  severity=Severity.CRITICAL, value=9000.0, evidence=evidence)  # fmt: skip
    alert = opened(engine().on_plugin(found, T0))
    assert alert.rule == "anomaly:spike"
    assert alert.meter_id == "m1"
    assert alert.severity is Severity.CRITICAL
    assert alert.message == "power_import_w = 9000 is 6.2 sigma above the mean"
    assert alert.value == 9000.0
    assert alert.evidence == evidence
    assert alert.opened_at == alert.updated_at == T0
    assert alert.id == f"anomaly:spike:m1:{int(T0.timestamp())}"


def test_the_alert_keeps_its_own_copy_of_the_evidence() -> None:
    evidence: dict[str, float | int | str] = {"zscore": 6.2}
    alert = opened(engine().on_plugin(spike(evidence=evidence), T0))
    evidence["zscore"] = 0
    assert alert.evidence == {"zscore": 6.2}


def test_a_second_firing_finding_while_open_changes_nothing() -> None:
    alerts = engine()
    first = opened(alerts.on_plugin(spike(message="first"), T0))
    assert alerts.on_plugin(spike(message="again"), T0 + timedelta(minutes=1)) == []
    assert alerts.active == [first]


def test_a_clearing_finding_resolves_the_open_alert() -> None:
    alerts = engine()
    first = opened(alerts.on_plugin(spike(), T0))
    (resolved,) = alerts.on_plugin(spike(firing=False), T0 + timedelta(minutes=3))
    assert resolved.id == first.id
    assert resolved.state is AlertState.RESOLVED
    assert resolved.resolved_at == resolved.updated_at == T0 + timedelta(minutes=3)
    assert resolved.evidence == first.evidence
    assert alerts.active == []


def test_clearing_when_nothing_is_open_gives_nothing() -> None:
    alerts = engine()
    assert alerts.on_plugin(spike(firing=False), T0) == []
    opened(alerts.on_plugin(spike(), T0))
    alerts.on_plugin(spike(firing=False), T0 + timedelta(minutes=1))
    assert alerts.on_plugin(spike(firing=False), T0 + timedelta(minutes=2)) == []


def test_after_it_resolved_the_finding_opens_a_new_alert() -> None:
    alerts = engine()
    first = opened(alerts.on_plugin(spike(), T0))
    alerts.on_plugin(spike(firing=False), T0 + timedelta(minutes=1))
    second = opened(alerts.on_plugin(spike(), T0 + timedelta(minutes=2)))
    assert second.id != first.id


def test_an_operator_acknowledges_a_plugin_alert_and_the_plugin_still_clears_it() -> None:
    alerts = engine()
    first = opened(alerts.on_plugin(spike(), T0))
    acked = alerts.acknowledge(first.id, T0 + timedelta(minutes=1))
    assert acked is not None
    assert acked.state is AlertState.ACKNOWLEDGED
    assert acked.acknowledged_at == T0 + timedelta(minutes=1)
    assert alerts.on_plugin(spike(), T0 + timedelta(minutes=2)) == []  # still the same one
    (resolved,) = alerts.on_plugin(spike(firing=False), T0 + timedelta(minutes=3))
    assert (resolved.id, resolved.state) == (first.id, AlertState.RESOLVED)
    assert resolved.acknowledged_at == T0 + timedelta(minutes=1)


def test_an_operator_resolves_a_plugin_alert() -> None:
    # its rule is no configured rule: resolve must find it among the plugins' rules
    alerts = engine()
    first = opened(alerts.on_plugin(spike(), T0))
    resolved = alerts.resolve(first.id, T0 + timedelta(minutes=1))
    assert resolved is not None
    assert (resolved.id, resolved.state) == (first.id, AlertState.RESOLVED)
    assert resolved.resolved_at == T0 + timedelta(minutes=1)
    assert alerts.active == []
    assert alerts.resolve(first.id, T0 + timedelta(minutes=2)) is None
    # resolved by hand, the plugin's next firing finding opens a new alert
    opened(alerts.on_plugin(spike(), T0 + timedelta(minutes=5)))


def test_an_operator_resolves_an_acknowledged_plugin_alert() -> None:
    alerts = engine()
    first = opened(alerts.on_plugin(spike(), T0))
    alerts.acknowledge(first.id, T0 + timedelta(minutes=1))
    resolved = alerts.resolve(first.id, T0 + timedelta(minutes=2))
    assert resolved is not None
    assert resolved.state is AlertState.RESOLVED
    assert alerts.on_plugin(spike(firing=False), T0 + timedelta(minutes=3)) == []


def test_a_plugin_rule_named_like_a_configured_rule_gets_the_plugin_prefix() -> None:
    alerts = engine()
    mine = opened(alerts.on_plugin(PluginFinding(rule="overvoltage", meter_id="m1",
                                                 firing=True), T0))  # fmt: skip
    assert mine.rule == "plugin:overvoltage"
    # the configured rule still works, apart from the plugin's alert
    high = Reading(meter_id="m1", ts=T0, values={"voltage_l1_v": 260.0}, received_at=T0)
    theirs = opened(alerts.on_reading(high))
    assert theirs.rule == "overvoltage"
    assert theirs.id != mine.id
    assert {a.rule for a in alerts.active} == {"overvoltage", "plugin:overvoltage"}
    # the plugin clearing its finding resolves only its own alert
    (cleared,) = alerts.on_plugin(PluginFinding(rule="overvoltage", meter_id="m1",
                                                firing=False), T0 + timedelta(minutes=1))  # fmt: skip
    assert (cleared.id, cleared.state) == (mine.id, AlertState.RESOLVED)
    assert [a.rule for a in alerts.active] == ["overvoltage"]
    # and an operator can resolve the configured rule's alert as before
    resolved = alerts.resolve(theirs.id, T0 + timedelta(minutes=2))
    assert resolved is not None
    assert resolved.state is AlertState.RESOLVED


def test_a_plugin_alert_per_meter() -> None:
    alerts = engine()
    one = opened(alerts.on_plugin(spike(meter="m1"), T0))
    two = opened(alerts.on_plugin(spike(meter="m2"), T0))
    assert one.id != two.id
    (resolved,) = alerts.on_plugin(spike(firing=False, meter="m1"), T0 + timedelta(minutes=1))
    assert resolved.id == one.id
    assert alerts.active == [two]


def test_plugin_rules_are_not_added_to_the_configured_rules() -> None:
    alerts = engine()
    opened(alerts.on_plugin(spike(), T0))
    opened(alerts.on_plugin(PluginFinding(rule="overvoltage", meter_id="m1", firing=True), T0))
    assert alerts.rules == (OVERVOLTAGE, SILENT)


# -- plugins in readiness --------------------------------------------------------------------


def site_plugins(plugins: dict[str, Any], **points: str) -> SitePlugins:
    """``name=class`` of sample_plugins as processors, configured with ``plugins``."""
    entries = [EntryPoint(name=name, value=f"{MODULE}:{cls}", group="meterhub.processors")
               for name, cls in points.items()]  # fmt: skip
    settings = msgspec.convert({"plugins": plugins}, Settings)
    discovered = discover(entry_points=lambda group: [e for e in entries if e.group == group])
    return load_site_plugins(settings, discovered=discovered)


@pytest.fixture
def x_enabled() -> SitePlugins:
    plugins = site_plugins({"x": {"limit": 5}}, x="GoodProcessor", idle="PlainProcessor")
    assert [p.name for p in plugins.enabled("processor")] == ["x"]
    return plugins


def test_a_failed_plugin_degrades_the_site_while_a_failed_component_still_fails_it(
    x_enabled: SitePlugins,
) -> None:
    readiness = Readiness(ready=False, state="running", failed=["plugin:x", "store"],
                          reasons={"plugin:x": "crashed 3 times in 10 s: RuntimeError: bug",
                                   "store": "store unavailable"})  # fmt: skip
    degraded = x_enabled.degrade(readiness)
    assert degraded.ready is False
    assert degraded.failed == ["store"]
    assert degraded.degraded == ["plugin:x"]
    assert degraded.reasons == {"store": "store unavailable",
                                "plugin:x": "crashed 3 times in 10 s: RuntimeError: bug"}  # fmt: skip


def test_with_only_a_plugin_failed_the_site_is_ready_and_degraded(x_enabled: SitePlugins) -> None:
    readiness = Readiness(ready=False, state="running", failed=["plugin:x"],
                          reasons={"plugin:x": "crashed"})  # fmt: skip
    degraded = x_enabled.degrade(readiness)
    assert degraded.ready is True
    assert degraded.failed == []
    assert degraded.degraded == ["plugin:x"]
    assert degraded.reasons == {"plugin:x": "crashed"}


def test_a_failed_plugin_without_a_reason_says_failed(x_enabled: SitePlugins) -> None:
    degraded = x_enabled.degrade(Readiness(ready=False, state="running", failed=["plugin:x"]))
    assert degraded.reasons == {"plugin:x": "failed"}


def test_a_site_that_is_not_running_is_not_ready_for_a_plugin_alone(
    x_enabled: SitePlugins,
) -> None:
    readiness = Readiness(ready=False, state="stopping", failed=["plugin:x"])
    assert x_enabled.degrade(readiness).ready is False


def test_a_healthy_site_stays_ready_with_nothing_degraded(x_enabled: SitePlugins) -> None:
    degraded = x_enabled.degrade(Readiness(ready=True, state="running"))
    assert degraded == Readiness(ready=True, state="running")


def test_a_refused_plugin_is_degraded_with_its_reason() -> None:
    plugins = site_plugins({"x": {"limit": 5}, "old": {}}, x="GoodProcessor",
                           old="FutureProcessor")  # fmt: skip
    (old,) = (p for p in plugins.plugins if p.name == "old")
    assert old.status is PluginStatus.REFUSED
    assert old.error is not None
    degraded = plugins.degrade(Readiness(ready=True, state="running"))
    assert degraded.ready is True
    assert degraded.failed == []
    assert degraded.degraded == ["plugin:old"]
    assert degraded.reasons == {"plugin:old": old.error}
    assert "plugin API 2" in degraded.reasons["plugin:old"]


def test_a_refused_plugin_and_a_failed_one_are_both_degraded() -> None:
    plugins = site_plugins({"x": {"limit": 5}, "bad": {"limit": -1}}, x="GoodProcessor",
                           bad="GoodProcessor")  # fmt: skip
    readiness = Readiness(ready=False, state="running", failed=["plugin:x"],
                          reasons={"plugin:x": "crashed"})  # fmt: skip
    degraded = plugins.degrade(readiness)
    assert degraded.ready is True
    assert degraded.degraded == ["plugin:bad", "plugin:x"]
    assert degraded.reasons == {"plugin:x": "crashed",
                                "plugin:bad": "plugins.bad.limit: must be above 0, got -1"}  # fmt: skip
