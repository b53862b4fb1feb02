"""``meterhub decode`` on every public vector, as a user runs it on a capture."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

DATA = Path(__file__).parents[1] / "data"


def load(name: str) -> list[dict[str, Any]]:
    return msgspec.json.decode((DATA / name).read_bytes())


def framed_vectors() -> list[dict[str, Any]]:
    return [v for name in ("mbus_dlms.json", "hdlc_dlms.json") for v in load(name)
            if v.get("frames_hex")]  # fmt: skip


def decode(capture: bytes, *args: str) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
    result = subprocess.run([sys.executable, "-m", "meterhub.cli", "decode", *args, "-"],
                            input=capture, capture_output=True, timeout=60, check=False)  # fmt: skip
    out = [msgspec.json.decode(line) for line in result.stdout.splitlines()]
    err = [msgspec.json.decode(line) for line in result.stderr.splitlines()]
    return result.returncode, out, err


def key_args(vector: dict[str, Any]) -> list[str]:
    args = []
    if vector.get("key_hex"):
        args += ["--key", vector["key_hex"]]
    if vector.get("auth_key_hex"):
        args += ["--auth-key", vector["auth_key_hex"]]
    return args


def assert_expected(vector: dict[str, Any], telegram: dict[str, Any]) -> None:
    for name, exp in vector["expected"].items():
        if exp.get("value") is None:
            continue
        if isinstance(exp["value"], str):
            assert telegram["values"][name] == exp["value"], name
            continue
        assert telegram["values"][name] == pytest.approx(exp["value"], rel=1e-9, abs=1e-9), name
        if exp.get("unit"):
            assert telegram["units"][name] == exp["unit"], name
    if vector.get("expected_timestamp"):
        assert telegram["timestamp"] == vector["expected_timestamp"]


@pytest.mark.parametrize("vector", framed_vectors(), ids=lambda v: v["id"])
def test_every_framed_vector_decodes_exactly_from_one_frame_per_line(
    vector: dict[str, Any],
) -> None:
    capture = "\n".join(vector["frames_hex"]).encode()
    code, out, err = decode(capture, *key_args(vector))
    assert code == 0, err
    assert len(out) == 1
    assert_expected(vector, out[0])


def test_a_raw_stream_with_several_telegrams_decodes_each() -> None:
    vector = next(v for v in load("mbus_dlms.json") if v["id"].startswith("mbus_netznoe"))
    stream = "".join(vector["frames_hex"]) * 3
    code, out, _ = decode(stream.encode(), *key_args(vector))
    assert code == 0
    assert len(out) == 3


@pytest.mark.parametrize("vector", [v for v in load("dsmr_p1.json") if v.get("telegram")],
                         ids=lambda v: v["id"])  # fmt: skip
def test_dsmr_text_telegrams_decode(vector: dict[str, Any]) -> None:
    code, out, err = decode(vector["telegram"].encode("latin-1"), "--format", "dsmr")
    assert code == 0, err
    (telegram,) = out
    for name, exp in vector["expected"].items():
        if isinstance(exp, dict) and exp.get("value") is not None:
            assert telegram["values"][name] == pytest.approx(exp["value"]), name


@pytest.mark.parametrize(
    "vector", [v for v in load("negative.json") if v.get("expected_error")], ids=lambda v: v["id"]
)
def test_negative_vectors_are_rejected_with_their_reason(vector: dict[str, Any]) -> None:
    if vector.get("frames_hex"):
        capture = "\n".join(vector["frames_hex"]).encode()
    elif vector.get("telegram"):
        capture = vector["telegram"].encode("latin-1")
    else:
        capture = vector["apdu_hex"].encode()
    code, _, err = decode(capture, *key_args(vector))
    assert code == 1
    expected = {"unknown_format": "unsupported"}.get(vector["expected_error"],
                                                      vector["expected_error"])  # fmt: skip
    reasons = {e["reason"] for e in err}
    allowed = {expected, "wrong_key"} if expected == "auth_tag" else {expected}
    assert reasons & allowed, err
    assert all(e["reason"] and e["detail"] for e in err)


def test_objects_lists_every_cosem_object() -> None:
    vector = next(v for v in load("mbus_dlms.json") if v["id"].startswith("mbus_netznoe"))
    code, out, _ = decode("\n".join(vector["frames_hex"]).encode(), "--objects", *key_args(vector))
    assert code == 0
    objects = out[0]["objects"]
    by_obis = {o["obis"]: o for o in objects if o.get("obis")}
    assert by_obis["1.0.32.7.0.255"]["raw"] == 2337
    assert by_obis["1.0.32.7.0.255"]["scaler"] == -1


def test_bad_key_argument_is_a_clear_error() -> None:
    result = subprocess.run([sys.executable, "-m", "meterhub.cli", "decode", "--key", "nothex", "-"],
                            input=b"00", capture_output=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 2
    assert b"--key: expected 32 hexadecimal digits" in result.stderr


@pytest.mark.parametrize("kind", ["kaifa_flat", "kaifa_nested", "dsmr5"])
def test_simulate_output_decodes(kind: str) -> None:
    sim = subprocess.run([sys.executable, "-m", "meterhub.cli", "simulate", "--kind", kind,
                          "--count", "3", "--interval", "0.01", "--meter-number", "1KFM0123456789"],
                         capture_output=True, timeout=60, check=True)  # fmt: skip
    key = subprocess.run([sys.executable, "-m", "meterhub.cli", "simulate", "--kind", kind,
                          "--meter-number", "1KFM0123456789", "--show-key"],
                         capture_output=True, text=True, timeout=60, check=True).stdout.strip()  # fmt: skip
    args = [] if key == "none" else ["--key", key]
    code, out, err = decode(sim.stdout, *args)
    assert code == 0, err
    assert len(out) == 3
    assert {t["meter_number"] for t in out} == {"1KFM0123456789"}
    counters = [t.get("frame_counter") for t in out]
    if kind != "dsmr5":
        assert counters == sorted(counters)
        assert len(set(counters)) == 3
