"""A meter that sends only tariff registers gets its total as their sum."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meterhub.actors._consumption import ConsumptionTracker
from meterhub.actors._derived import with_totals

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_tariff_registers_add_up_to_the_totals_a_meter_lacks() -> None:
    dsmr: dict[str, float] = {"energy_import_t1_wh": 100, "energy_import_t2_wh": 50, "energy_export_t1_wh": 7,
            "energy_export_t2_wh": 3, "power_import_w": 500}  # fmt: skip
    totals = with_totals(dsmr)
    assert (totals["energy_import_wh"], totals["energy_export_wh"]) == (150, 10)
    assert "energy_import_wh" not in dsmr  # the reading itself is left as the meter sent it


def test_a_total_the_meter_sends_or_a_missing_tariff_is_left_alone() -> None:
    own: dict[str, float] = {
        "energy_import_wh": 1,
        "energy_import_t1_wh": 100,
        "energy_import_t2_wh": 50,
    }
    assert with_totals(own) is own
    half: dict[str, float] = {"energy_import_t1_wh": 100}
    assert with_totals(half) is half


def test_consumption_of_the_total_is_the_sum_of_the_tariff_deltas() -> None:
    tracker = ConsumptionTracker(interval_s=60)
    readings = [(0, 100, 50), (20, 104, 50), (40, 104, 53), (60, 110, 55)]
    rows = []
    for second, t1, t2 in readings:
        values: dict[str, float] = {"energy_import_t1_wh": t1, "energy_import_t2_wh": t2}
        total = with_totals(values)
        rows += tracker.add("m1", "energy_import_wh", T0 + timedelta(seconds=second),
                            total["energy_import_wh"], None)  # fmt: skip
    (row,) = rows
    assert row.wh == (110 - 100) + (55 - 50)
