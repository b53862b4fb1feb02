"""Whatever a device sends, parsing and mapping raise nothing but PayloadError."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterhub.adapters.iot import (
    MESSAGE_KINDS,
    PayloadError,
    TelemetryItem,
    default_device_profiles,
    parse_payload,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROFILES = default_device_profiles()
KEYS = st.sampled_from(
    [
        "seq",
        "ts",
        "boot",
        "measurements",
        "device_id",
        "unit",
        "voltage",
        "phase_a",
        "power",
        "active",
        "energy",
        "import",
        "state",
        "id",
        "status",
        "result",
        "ota_id",
        "progress",
        "device_type",
        "capabilities",
        "temperature",
        "relay",
        "x",
    ]
) | st.text(max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
    | st.sampled_from(["kWh", "W", "mA", "°C", "online", "ok", "2026-12-03T10:00:00Z", "pm-1"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=40,
)


def check(kind: str, payload: bytes, device_type: str) -> None:
    try:
        parsed = parse_payload(kind, "pm-1", payload, max_bytes=4096)
    except PayloadError:
        return
    if isinstance(parsed, list):
        profile = PROFILES.get(device_type)
        assert profile is not None
        for item in parsed:
            assert isinstance(item, TelemetryItem)
            assert item.ts is None or item.ts.utcoffset() is not None
            result = profile.map(item.measurements)
            assert set(result.values).isdisjoint(result.text)
            assert all(-(2**63) <= v < 2**63 for v in result.values.values() if isinstance(v, int))


@SETTINGS
@given(st.sampled_from(MESSAGE_KINDS), JSON, st.sampled_from(PROFILES.names()))
def test_random_json(kind: str, value: Any, device_type: str) -> None:
    check(kind, msgspec.json.encode(value), device_type)


@SETTINGS
@given(
    st.dictionaries(KEYS, JSON, max_size=4),
    st.integers(0, 2**63 - 1),
    st.sampled_from(PROFILES.names()),
)
def test_random_measurements(measurements: Any, seq: int, device_type: str) -> None:
    payload = msgspec.json.encode({"seq": seq, "measurements": measurements})
    check("telemetry", payload, device_type)


@SETTINGS
@given(st.sampled_from([*MESSAGE_KINDS, "command"]), st.binary(max_size=200))
def test_random_bytes(kind: str, payload: bytes) -> None:
    check(kind, payload, "power_meter_ac")
