"""Which metrics are counters is declared by the profiles, and every stage agrees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meterhub.actors import Counters, Validator
from meterhub.adapters.codecs import ProfileRegistry, default_registry
from meterhub.model import Reading

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def test_the_builtin_profiles_declare_the_energy_registers_and_mbus_channels() -> None:
    counters = Counters(default_registry().counters())
    for metric in ("energy_import_wh", "energy_export_t2_wh", "reactive_energy_import_varh",
                   "mbus_1_volume_m3", "mbus_2_heat_gj"):  # fmt: skip
        assert metric in counters, metric
    for metric in ("power_import_w", "voltage_l1_v", "energy_density", "mbus_1_flow"):
        assert metric not in counters, metric


def test_a_user_profile_declares_its_own_counter() -> None:
    registry = default_registry()
    registry.add({"profile": [{"name": "heat", "obis": {
        "0.0.96.99.1.255": {"name": "heat_total_kwh", "unit": "kWh", "counter": True},
        "0.0.96.99.2.255": {"name": "energy_flow_w", "unit": "W"}}}]})  # fmt: skip
    counters = Counters(registry.counters())
    assert "heat_total_kwh" in counters
    assert "energy_flow_w" not in counters  # a name is not a declaration


def test_the_jump_rule_watches_declared_counters_only() -> None:
    counters = Counters(["heat_total_kwh"])
    validator = Validator(counters=counters)

    def reading(at: int, value: float) -> Reading:
        return Reading(meter_id="m", ts=T0 + timedelta(seconds=at), received_at=T0,
                       ts_source="received", values={"heat_total_kwh": value,
                                                     "energy_odd": value})  # fmt: skip

    validator.check(reading(0, 0))
    jumped = validator.check(reading(1, 10_000_000))
    assert jumped.quality_rules == ["jump:heat_total_kwh"]
    assert Counters(ProfileRegistry(builtin=False).counters()).patterns == frozenset()
