"""Load the recorded telegrams in tests/data and turn them into decoder input."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from meterhub.adapters.codecs import CosemObject, Telegram

DATA = Path(__file__).resolve().parents[2] / "data"


def load(name: str) -> list[dict[str, Any]]:
    return msgspec.json.decode((DATA / name).read_bytes(), type=list[dict[str, Any]])


def ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [vector["id"] for vector in vectors]


def key(vector: dict[str, Any], field: str = "key_hex") -> bytes | None:
    value = vector.get(field) or vector.get("encrypted", {}).get(field)
    return bytes.fromhex(value) if value else None


def stream(vector: dict[str, Any]) -> bytes:
    """Return the bytes a meter would send for this vector."""
    if vector.get("frames_hex"):
        return b"".join(bytes.fromhex(frame) for frame in vector["frames_hex"])
    if "encrypted" in vector:
        return bytes.fromhex(vector["encrypted"]["apdu_hex"])
    if "apdu_hex" in vector:
        return bytes.fromhex(vector["apdu_hex"])
    if "telegram" in vector:
        return str(vector["telegram"]).encode("ascii")
    return bytes.fromhex(vector["plaintext_apdu_hex"])


def find_object(telegram: Telegram, name: str) -> CosemObject:
    matches = [obj for obj in telegram.objects if obj.name == name]
    assert matches, f"{name} not among {[obj.name for obj in telegram.objects]}"
    return matches[0]


def assert_decoded(telegram: Telegram, vector: dict[str, Any]) -> None:
    """Check a telegram against the vector's expected values, units, time and meter."""
    for name, expected in vector["expected"].items():
        if expected.get("value") is None:
            # The source gives no scaling for this one (Kamstrup, unknown OBIS codes):
            # only the transmitted value is ground truth.
            assert find_object(telegram, name).raw == expected["raw"], name
            continue
        got = telegram.values[name]
        assert got == expected["value"], (name, got, expected)
        assert type(got) is type(expected["value"]), (name, got, expected)
        assert telegram.units.get(name) == expected["unit"], (name, telegram.units.get(name))
        if expected.get("scaler") is not None:
            obj = find_object(telegram, name)
            assert (obj.raw, obj.scaler) == (expected["raw"], expected["scaler"]), name
    stamp = vector.get("expected_timestamp")
    assert telegram.timestamp == (datetime.fromisoformat(stamp) if stamp else None)
    if stamp:
        assert telegram.timestamp is not None
        assert telegram.timestamp.isoformat() == stamp
    if "meter_number" in vector:
        assert telegram.meter_number == vector["meter_number"]
