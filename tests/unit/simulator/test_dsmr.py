"""Simulated DSMR 5.0.2 telegrams: framing, CRC, line formats and values."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from meterhub.adapters.simulator import SimulatedMeter
from tests.unit.simulator.support import crc16_arc_bitwise, load_vectors

NUMBER = "E0025000000004711"
WINTER = datetime(2024, 1, 16, 12, 0, 7, tzinfo=UTC)  # Tuesday
SUMMER = datetime(2024, 7, 16, 12, 0, 7, tzinfo=UTC)  # Tuesday

TST = r"\d{12}[SW]"
LINE_FORMATS = {
    "1-3:0.2.8": r"\(50\)",
    "0-0:1.0.0": rf"\({TST}\)",
    "0-0:96.1.1": r"\(([0-9A-F]{2}){1,48}\)",
    "1-0:1.8.1": r"\(\d{6}\.\d{3}\*kWh\)",
    "1-0:1.8.2": r"\(\d{6}\.\d{3}\*kWh\)",
    "1-0:2.8.1": r"\(\d{6}\.\d{3}\*kWh\)",
    "1-0:2.8.2": r"\(\d{6}\.\d{3}\*kWh\)",
    "0-0:96.14.0": r"\(000[12]\)",
    "1-0:1.7.0": r"\(\d{2}\.\d{3}\*kW\)",
    "1-0:2.7.0": r"\(\d{2}\.\d{3}\*kW\)",
    "0-0:96.7.21": r"\(\d{5}\)",
    "0-0:96.7.9": r"\(\d{5}\)",
    "1-0:99.97.0": r"\(0\)\(0-0:96\.7\.19\)",
    "0-0:96.13.0": r"\(\)",
    "0-1:24.1.0": r"\(003\)",
    "0-1:96.1.0": r"\(([0-9A-F]{2}){1,48}\)",
    "0-1:24.2.1": rf"\({TST}\)\(\d{{5}}\.\d{{3}}\*m3\)",
}
for c in (32, 52, 72):
    LINE_FORMATS[f"1-0:{c}.32.0"] = r"\(\d{5}\)"
    LINE_FORMATS[f"1-0:{c}.36.0"] = r"\(\d{5}\)"
    LINE_FORMATS[f"1-0:{c}.7.0"] = r"\(\d{3}\.\d\*V\)"
for c in (31, 51, 71):
    LINE_FORMATS[f"1-0:{c}.7.0"] = r"\(\d{3}\*A\)"
for c in (21, 41, 61, 22, 42, 62):
    LINE_FORMATS[f"1-0:{c}.7.0"] = r"\(\d{2}\.\d{3}\*kW\)"

NAME_OF = {
    "1-0:1.8.1": "energy_import_t1_wh",
    "1-0:1.8.2": "energy_import_t2_wh",
    "1-0:2.8.1": "energy_export_t1_wh",
    "1-0:2.8.2": "energy_export_t2_wh",
    "1-0:1.7.0": "power_import_w",
    "1-0:2.7.0": "power_export_w",
    "1-0:32.7.0": "voltage_l1_v",
    "1-0:52.7.0": "voltage_l2_v",
    "1-0:72.7.0": "voltage_l3_v",
    "1-0:31.7.0": "current_l1_a",
    "1-0:51.7.0": "current_l2_a",
    "1-0:71.7.0": "current_l3_a",
    "1-0:21.7.0": "power_import_l1_w",
    "1-0:41.7.0": "power_import_l2_w",
    "1-0:61.7.0": "power_import_l3_w",
    "1-0:22.7.0": "power_export_l1_w",
    "1-0:42.7.0": "power_export_l2_w",
    "1-0:62.7.0": "power_export_l3_w",
    "0-1:24.2.1": "mbus_1_volume_m3",
}
VALUE = re.compile(r"\((\d+(?:\.\d+)?)\*(kWh|kW|V|A|m3)\)$")


def meter(*, pv: bool = True, start: datetime = WINTER) -> SimulatedMeter:
    return SimulatedMeter("dsmr5", NUMBER, None, seed=5, pv=pv, start=start)


def lines_of(telegram: bytes) -> list[str]:
    text = telegram.decode("ascii")
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")
    return text.split("\r\n")[:-1]


def parse_values(lines: list[str]) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in lines:
        obis = line.partition("(")[0]
        if obis not in NAME_OF:
            continue
        match = VALUE.search(line)
        assert match is not None, line
        number = float(match.group(1))
        scale = 1000 if match.group(2) in {"kWh", "kW"} else 1
        values[NAME_OF[obis]] = round(number * scale) if scale != 1 else number
    return values


@pytest.mark.parametrize("ts", [WINTER, SUMMER])
def test_crc_and_framing(ts: datetime) -> None:
    telegram = meter(start=ts - timedelta(hours=1)).telegram(ts)
    bang = telegram.rindex(b"!")
    assert telegram.startswith(b"/")
    assert telegram[bang + 1 :] == f"{crc16_arc_bitwise(telegram[: bang + 1]):04X}\r\n".encode()
    corrupted = telegram.replace(b"1-3:0.2.8(50)", b"1-3:0.2.8(51)")
    assert corrupted[bang + 1 :] != f"{crc16_arc_bitwise(corrupted[: bang + 1]):04X}\r\n".encode()


def test_every_line_has_the_dsmr5_format() -> None:
    lines = lines_of(meter().telegram(WINTER))
    assert re.fullmatch(r"/[A-Za-z]{3}5.+", lines[0])
    assert lines[1] == ""
    assert re.fullmatch(r"![0-9A-F]{4}", lines[-1])
    seen = set()
    for line in lines[2:-1]:
        obis, _, rest = line.partition("(")
        assert obis in LINE_FORMATS, line
        assert re.fullmatch(LINE_FORMATS[obis], "(" + rest), line
        seen.add(obis)
    assert seen == set(LINE_FORMATS)


def test_the_recorded_v5_telegram_uses_the_same_line_set() -> None:
    vector = load_vectors("dsmr_p1.json")["dsmr_v5_iskra_am550"]
    recorded = {line.partition("(")[0] for line in lines_of(vector["telegram"].encode())[2:-1]}
    ours = {line.partition("(")[0] for line in lines_of(meter().telegram(WINTER))[2:-1]}
    # The Iskra sample also announces an empty second M-Bus channel.
    assert recorded - ours == {"0-2:24.1.0", "0-2:96.1.0"}
    assert ours <= recorded


@pytest.mark.parametrize("ts", [WINTER, SUMMER + timedelta(hours=3, minutes=17)])
def test_values_parse_back_to_expected(ts: datetime) -> None:
    m = meter(start=ts - timedelta(hours=2))
    assert parse_values(lines_of(m.telegram(ts))) == m.expected(ts)


@pytest.mark.parametrize(("ts", "stamp"), [(WINTER, "240116130007W"), (SUMMER, "240716140007S")])
def test_timestamp_is_amsterdam_local_time_with_dst_flag(ts: datetime, stamp: str) -> None:
    lines = lines_of(meter(start=ts).telegram(ts))
    assert f"0-0:1.0.0({stamp})" in lines


def test_gas_reading_is_the_last_five_minute_value() -> None:
    ts = WINTER + timedelta(minutes=13, seconds=5)  # 13:13:12 local
    m = meter()
    gas_line = next(line for line in lines_of(m.telegram(ts)) if line.startswith("0-1:24.2.1"))
    assert gas_line.startswith("0-1:24.2.1(240116131000W)(")
    at_capture = m.expected(datetime(2024, 1, 16, 12, 10, tzinfo=UTC))
    assert m.expected(ts)["mbus_1_volume_m3"] == at_capture["mbus_1_volume_m3"]


@pytest.mark.parametrize(
    ("ts", "tariff"),
    [
        (datetime(2024, 1, 16, 12, 0, tzinfo=UTC), "0002"),  # Tuesday 13:00
        (datetime(2024, 1, 16, 23, 0, tzinfo=UTC), "0001"),  # Wednesday 00:00
        (datetime(2024, 1, 20, 12, 0, tzinfo=UTC), "0001"),  # Saturday 13:00
    ],
)
def test_tariff_indicator_follows_time_of_day_and_weekday(ts: datetime, tariff: str) -> None:
    assert f"0-0:96.14.0({tariff})" in lines_of(meter(start=ts).telegram(ts))


def test_only_the_active_tariff_register_grows() -> None:
    m = meter(pv=False, start=WINTER)
    before, after = m.expected(WINTER), m.expected(WINTER + timedelta(hours=2))
    assert after["energy_import_t2_wh"] > before["energy_import_t2_wh"]
    assert after["energy_import_t1_wh"] == before["energy_import_t1_wh"]
