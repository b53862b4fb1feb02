"""Simulator -> codecs decoder -> the values the simulator says it encoded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from meterhub.adapters.codecs import Telegram, iter_decode
from meterhub.adapters.simulator import MeterKind, SimulatedMeter, demo_key

START = datetime(2024, 3, 29, 22, 0, tzinfo=UTC)  # the night Austria switches to summer time
CASES: list[tuple[MeterKind, str, bool]] = [
    ("kaifa_flat", "181220000042", True),
    ("kaifa_flat", "181220000043", False),
    ("kaifa_nested", "1KFM0200175269", True),
    ("kaifa_nested", "1KFM0100000035", False),
    ("dsmr5", "E0025000000004711", False),
]


@pytest.mark.parametrize(("kind", "number", "ciphered"), CASES)
@pytest.mark.parametrize("pv", [False, True])
def test_decoder_reads_back_what_the_simulator_encoded(
    kind: MeterKind, number: str, ciphered: bool, pv: bool
) -> None:
    key = demo_key(number) if ciphered else None
    meter = SimulatedMeter(kind, number, key, seed=len(number), pv=pv, start=START)
    instants = [START + timedelta(hours=h, seconds=7) for h in range(0, 48, 5)]
    stream = b"".join(meter.telegram(ts) for ts in instants)
    decoded = list(iter_decode(stream, key=key))
    assert len(decoded) == len(instants)
    local = ZoneInfo("Europe/Amsterdam" if kind == "dsmr5" else "Europe/Vienna")
    counters: list[int] = []
    for ts, telegram in zip(instants, decoded, strict=True):
        assert isinstance(telegram, Telegram), telegram
        expected = meter.expected(ts)
        assert {name: telegram.values.get(name) for name in expected} == expected
        assert telegram.meter_number == number
        if kind == "dsmr5":
            assert telegram.timestamp == ts.astimezone(local).replace(tzinfo=None)
            assert telegram.dst == bool(ts.astimezone(local).dst())
        else:
            assert telegram.timestamp == ts
            if telegram.frame_counter is not None:
                counters.append(telegram.frame_counter)
    if ciphered:
        assert len(counters) == len(instants)
        assert counters == list(range(counters[0], counters[0] + len(instants)))
