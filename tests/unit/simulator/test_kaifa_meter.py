"""Simulated Kaifa telegrams, read back with the independent readers in ``support``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from meterhub.adapters.simulator import SimulatedMeter, demo_key, system_title_for
from tests.unit.simulator.support import (
    ctr_decrypt,
    parse_glo,
    read_notification,
    registers,
    split_mbus,
)

VIENNA = ZoneInfo("Europe/Vienna")
WINTER = datetime(2024, 1, 15, 6, 0, tzinfo=UTC)
SUMMER = datetime(2024, 7, 15, 6, 0, tzinfo=UTC)
NUMBERS = {"kaifa_flat": "181220000042", "kaifa_nested": "1KFM0200175269"}
NAMES = {
    bytes((1, 0, 1, 8, 0, 255)): "energy_import_wh",
    bytes((1, 0, 2, 8, 0, 255)): "energy_export_wh",
    bytes((1, 0, 1, 7, 0, 255)): "power_import_w",
    bytes((1, 0, 2, 7, 0, 255)): "power_export_w",
    bytes((1, 0, 3, 8, 0, 255)): "reactive_energy_import_varh",
    bytes((1, 0, 4, 8, 0, 255)): "reactive_energy_export_varh",
    bytes((1, 0, 32, 7, 0, 255)): "voltage_l1_v",
    bytes((1, 0, 52, 7, 0, 255)): "voltage_l2_v",
    bytes((1, 0, 72, 7, 0, 255)): "voltage_l3_v",
    bytes((1, 0, 31, 7, 0, 255)): "current_l1_a",
    bytes((1, 0, 51, 7, 0, 255)): "current_l2_a",
    bytes((1, 0, 71, 7, 0, 255)): "current_l3_a",
    bytes((1, 0, 13, 7, 0, 255)): "power_factor",
}


def make(
    kind: str, *, key: bool = True, pv: bool = False, start: datetime = WINTER
) -> SimulatedMeter:
    number = NUMBERS[kind]
    return SimulatedMeter(
        kind,  # type: ignore[arg-type]
        number,
        demo_key(number) if key else None,
        seed=11,
        pv=pv,
        start=start,
    )


def reassemble(telegram: bytes) -> bytes:
    frames = split_mbus(telegram)
    for seq, frame in enumerate(frames):
        assert (frame.c, frame.a, frame.transport) == (0x53, 0xFF, b"\x01\x67")
        last = seq == len(frames) - 1
        assert frame.ci == (0x10 if last else 0x00) | seq
        assert frame.length == 5 + len(frame.data)
        if not last:
            assert frame.length == 0xFA
    return b"".join(frame.data for frame in frames)


def decoded_values(plaintext: bytes) -> dict[str, float]:
    values: dict[str, float] = {}
    for obis, (raw, scaler, _unit) in registers(read_notification(plaintext).body).items():
        values[NAMES[obis]] = raw * 10**scaler if scaler >= 0 else raw / 10**-scaler
    return values


@pytest.mark.parametrize(("kind", "sc"), [("kaifa_flat", 0x20), ("kaifa_nested", 0x21)])
def test_ciphered_telegram_decrypts_to_the_expected_values(kind: str, sc: int) -> None:
    meter = make(kind, pv=True, start=SUMMER)
    ts = SUMMER + timedelta(hours=5, seconds=3)
    first_counter = meter.frame_counter
    ciphered = parse_glo(reassemble(meter.telegram(ts)))
    assert ciphered.system_title == system_title_for(NUMBERS[kind]) == meter.system_title
    assert ciphered.system_title[:3] == b"KFM"
    assert ciphered.security_control == sc
    assert ciphered.frame_counter == first_counter
    plaintext = ctr_decrypt(demo_key(NUMBERS[kind]), ciphered)
    assert decoded_values(plaintext) == meter.expected(ts)
    assert NUMBERS[kind].encode() in plaintext


@pytest.mark.parametrize("kind", ["kaifa_flat", "kaifa_nested"])
def test_frame_counter_and_invoke_id_increase_per_telegram(kind: str) -> None:
    meter = make(kind)
    counters, invokes = [], []
    for i in range(5):
        ciphered = parse_glo(reassemble(meter.telegram(WINTER + timedelta(seconds=5 * i))))
        counters.append(ciphered.frame_counter)
        plaintext = ctr_decrypt(demo_key(NUMBERS[kind]), ciphered)
        invokes.append(read_notification(plaintext).invoke & 0x00FFFFFF)
    assert counters == list(range(counters[0], counters[0] + 5))
    assert invokes == list(range(invokes[0], invokes[0] + 5))
    assert meter.frame_counter == counters[-1] + 1


def test_same_instant_twice_gives_new_ciphertext_same_values() -> None:
    meter = make("kaifa_flat")
    first, second = meter.telegram(WINTER), meter.telegram(WINTER)
    assert first != second
    key = demo_key(NUMBERS["kaifa_flat"])
    assert decoded_values(ctr_decrypt(key, parse_glo(reassemble(first)))) == decoded_values(
        ctr_decrypt(key, parse_glo(reassemble(second)))
    )


@pytest.mark.parametrize("kind", ["kaifa_flat", "kaifa_nested"])
def test_plaintext_option_frames_the_bare_notification(kind: str) -> None:
    meter = make(kind, key=False)
    payload = reassemble(meter.telegram(WINTER))
    assert payload[0] == 0x0F
    assert decoded_values(payload) == meter.expected(WINTER)
    assert meter.key is None


@pytest.mark.parametrize(
    ("ts", "deviation", "status"),
    [
        (WINTER + timedelta(minutes=1, seconds=2), -60, 0x00),
        (SUMMER + timedelta(seconds=59), -120, 0x80),
    ],
)
def test_header_clock_is_vienna_local_time_with_deviation(
    ts: datetime, deviation: int, status: int
) -> None:
    meter = make("kaifa_flat", key=False, start=ts - timedelta(hours=1))
    note = read_notification(reassemble(meter.telegram(ts)))
    clock = note.header_time
    local = ts.astimezone(VIENNA)
    year = int.from_bytes(clock[0:2], "big")
    assert (year, clock[2], clock[3], clock[4]) == (
        local.year,
        local.month,
        local.day,
        local.isoweekday(),
    )
    assert (clock[5], clock[6], clock[7], clock[8]) == (local.hour, local.minute, local.second, 0)
    assert int.from_bytes(clock[9:11], "big", signed=True) == deviation
    assert clock[11] == status
    # The meter clock is local time; UTC is local time plus the deviation.
    utc = datetime(year, clock[2], clock[3], clock[5], clock[6], clock[7], tzinfo=UTC) + timedelta(
        minutes=deviation
    )
    assert utc == ts
    assert note.body[0] == clock  # the flat body repeats the clock first
    assert note.invoke & 0x80000000  # EVN sets the priority bit


def test_flat_layout_structure_matches_the_evn_meter() -> None:
    meter = make("kaifa_flat", key=False)
    body = read_notification(reassemble(meter.telegram(WINTER))).body
    assert len(body) == 35
    assert body[-1] == b"181220000042"
    assert [NAMES[body[i]] for i in range(1, 34, 3)] == [
        "energy_import_wh", "energy_export_wh", "power_import_w", "power_export_w",
        "voltage_l1_v", "voltage_l2_v", "voltage_l3_v",
        "current_l1_a", "current_l2_a", "current_l3_a", "power_factor",
    ]  # fmt: skip


def test_nested_layout_structure_matches_the_tinetz_meter() -> None:
    meter = make("kaifa_nested", key=False)
    body = read_notification(reassemble(meter.telegram(WINTER))).body
    assert len(body) == 16
    assert body[0] == bytes((0, 0, 1, 0, 0, 255))
    assert body[2] == [bytes((0, 0, 96, 1, 0, 255)), b"1KFM0200175269"]
    assert body[3] == [bytes((0, 0, 42, 0, 0, 255)), b"KFM1200200175269"]
    assert all(isinstance(item, list) and len(item) == 3 for item in body[4:])


def test_keys_and_titles_are_per_meter_and_deterministic() -> None:
    assert demo_key("A1") == demo_key("A1")
    assert len(demo_key("A1")) == 16
    assert demo_key("A1") != demo_key("A2")
    assert system_title_for("181220000001") != system_title_for("181220000002")
    assert len(system_title_for("no digits here")) == 8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "kaifa_flat", "key": b"short"}, "16 bytes"),
        ({"kind": "dsmr5", "key": bytes(16)}, "not encrypted"),
        ({"kind": "landis", "key": None}, "unknown meter kind"),
        ({"kind": "kaifa_flat", "key": None, "meter_number": "Zähler"}, "ASCII"),
    ],
)
def test_bad_configuration_is_rejected(kwargs: dict[str, object], message: str) -> None:
    args = {"meter_number": "181220000042", **kwargs}
    with pytest.raises(ValueError, match=message):
        SimulatedMeter(args["kind"], args["meter_number"], args["key"], seed=1, start=WINTER)  # type: ignore[arg-type]


def test_naive_or_early_instants_are_rejected() -> None:
    meter = make("kaifa_flat")
    with pytest.raises(ValueError, match="timezone-aware"):
        meter.telegram(datetime(2024, 1, 15, 7, 0))  # noqa: DTZ001
    with pytest.raises(ValueError, match="before the simulation start"):
        meter.telegram(WINTER - timedelta(seconds=1))
