"""Parsing device payloads: every kind, and every way a payload can be wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from meterhub.adapters.iot import (
    DEAD_LETTER_REASONS,
    MESSAGE_KINDS,
    Ack,
    Hello,
    OtaStatus,
    PayloadError,
    Status,
    TelemetryItem,
    parse_payload,
)
from meterhub.model import DeadLetter

LIMIT = 1 << 20
DOC = Path(__file__).parents[4] / "docs" / "mqtt-protocol.md"


def parse(kind: str, data: object | bytes, device: str = "pm-1") -> object:
    raw = data if isinstance(data, bytes) else msgspec.json.encode(data)
    return parse_payload(kind, device, raw, max_bytes=LIMIT)


def rejected(kind: str, data: object | bytes, device: str = "pm-1") -> PayloadError:
    with pytest.raises(PayloadError) as info:
        parse(kind, data, device)
    return info.value


def test_reasons_are_the_documents_table_in_order() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("| reason | what was wrong |", 1)[1].split("\n\n", 1)[0]
    listed = [line.split("`")[1] for line in table.splitlines() if line.startswith("| `")]
    assert tuple(listed) == DEAD_LETTER_REASONS
    assert "``unregistered``" in (DeadLetter.__doc__ or "")
    assert MESSAGE_KINDS == ("hello", "telemetry", "status", "command/ack", "ota/status")


def test_payload_error_carries_reason_and_detail() -> None:
    error = PayloadError("wrong_type", "Expected `int` - at `$.seq`")
    assert (error.reason, error.detail) == ("wrong_type", "Expected `int` - at `$.seq`")
    assert str(error) == "wrong_type: Expected `int` - at `$.seq`"
    with pytest.raises(ValueError, match="unknown dead-letter reason"):
        PayloadError("bad_vibes", "x")


def test_hello() -> None:
    hello = parse(
        "hello",
        {
            "device_type": "power_meter_ac",
            "fw_version": "1.4.2",
            "v": 1,
            "capabilities": ["telemetry", "command", "ota"],
            "device_id": "pm-1",
        },
    )
    assert hello == Hello("power_meter_ac", "1.4.2", ["telemetry", "command", "ota"])
    assert parse("hello", {"device_type": "x"}) == Hello("x", None, [])
    assert parse("hello", {"device_type": "x", "capabilities": None}) == Hello("x", None, [])


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({}, "`device_type`"),
        ({"device_type": ""}, "$.device_type"),
        ({"device_type": "x" * 65}, "$.device_type"),
        ({"device_type": 5}, "$.device_type"),
        ({"device_type": "x", "fw_version": 1.4}, "$.fw_version"),
        ({"device_type": "x", "capabilities": "ota"}, "$.capabilities"),
        ({"device_type": "x", "capabilities": ["ota", 3]}, "$.capabilities[1]"),
        (["device_type"], "$"),
    ],
)
def test_hello_wrong_type_names_the_field(data: object, where: str) -> None:
    error = rejected("hello", data)
    assert error.reason == "wrong_type"
    assert where in error.detail


def test_telemetry_single_reading_in_utc() -> None:
    items = parse(
        "telemetry",
        {
            "seq": 12,
            "ts": "2026-12-03T11:00:00+01:00",
            "boot": 7,
            "measurements": {"voltage": {"phase_a": 231.2, "unit": "V"}},
            "extra": [1],
        },
    )
    assert items == [
        TelemetryItem(
            12,
            datetime(2026, 12, 3, 10, tzinfo=UTC),
            7,
            {"voltage": {"phase_a": 231.2, "unit": "V"}},
        )
    ]


def test_telemetry_time_without_offset_is_utc_and_ts_is_optional() -> None:
    [item] = parse("telemetry", {"seq": 0, "ts": "2026-12-03T10:00:00", "measurements": {}})
    assert isinstance(item, TelemetryItem)
    assert item.ts == datetime(2026, 12, 3, 10, tzinfo=UTC)
    assert item.ts.utcoffset() is not None
    [item] = parse("telemetry", {"seq": 0, "boot": "b-2", "measurements": {}})
    assert isinstance(item, TelemetryItem)
    assert (item.ts, item.boot) == (None, "b-2")


def test_telemetry_batch() -> None:
    batch = [
        {"seq": n, "ts": f"2026-12-03T10:00:0{n}Z", "measurements": {"p": n}} for n in range(3)
    ]
    items = parse("telemetry", batch)
    assert isinstance(items, list)
    assert [(i.seq, i.ts.second if i.ts else None, i.measurements) for i in items] == [
        (0, 0, {"p": 0}),
        (1, 1, {"p": 1}),
        (2, 2, {"p": 2}),
    ]
    largest = parse("telemetry", [{"seq": n, "measurements": {}} for n in range(10_000)])
    assert isinstance(largest, list)
    assert len(largest) == 10_000


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"measurements": {}}, "`seq`"),
        ({"seq": True, "measurements": {}}, "$.seq"),
        ({"seq": 1.0, "measurements": {}}, "$.seq"),
        ({"seq": "1", "measurements": {}}, "$.seq"),
        ({"seq": -1, "measurements": {}}, "$.seq"),
        ({"seq": 2**63, "measurements": {}}, "$.seq"),
        ({"seq": 1}, "`measurements`"),
        ({"seq": 1, "measurements": [1, 2]}, "$.measurements"),
        ({"seq": 1, "measurements": None}, "$.measurements"),
        ({"seq": 1, "ts": "yesterday", "measurements": {}}, "$.ts"),
        ({"seq": 1, "ts": 1764756000, "measurements": {}}, "$.ts"),
        ({"seq": 1, "boot": True, "measurements": {}}, "$.boot"),
        ({"seq": 1, "boot": [1], "measurements": {}}, "$.boot"),
        (
            [
                {"seq": 1, "measurements": {}},
                {"seq": 2, "measurements": {}},
                {"seq": 3, "measurements": {}},
                {"seq": 4, "measurements": 5},
            ],
            "$[3].measurements",
        ),
        ([{"seq": 1, "measurements": {}}, 7], "$[1]"),
        ([], "$"),
        ([{"seq": n, "measurements": {}} for n in range(10_001)], "10001"),
        ("reading", "$"),
        (42, "$"),
        (None, "$"),
    ],
)
def test_telemetry_wrong_type_names_the_path(data: object, where: str) -> None:
    error = rejected("telemetry", data)
    assert error.reason == "wrong_type"
    assert where in error.detail, error.detail


def test_status() -> None:
    status = parse(
        "status",
        {
            "state": "online",
            "uptime_s": 3600,
            "rssi": -61,
            "ip": "10.0.0.7",
            "charging": False,
            "nested": {"a": 1},
            "none": None,
            "v": 1,
        },
    )
    assert status == Status(
        online=True, details={"uptime_s": 3600, "rssi": -61, "ip": "10.0.0.7", "charging": False}
    )
    assert parse("status", {"state": "offline"}) == Status(online=False, details={})


@pytest.mark.parametrize("data", [{}, {"state": "on"}, {"state": True}, ["online"]])
def test_status_wrong_type(data: object) -> None:
    error = rejected("status", data)
    assert error.reason == "wrong_type"
    assert "$" in error.detail


def test_ack() -> None:
    assert parse("command/ack", {"id": "c7", "status": "ok", "result": {"relay_l1": False}}) == Ack(
        command_id="c7", ok=True, result={"relay_l1": False}, error=None
    )
    assert parse("command/ack", {"id": "c7", "status": "error", "error": "expired"}) == Ack(
        command_id="c7", ok=False, result={}, error="expired"
    )


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"status": "ok"}, "`id`"),
        ({"id": "", "status": "ok"}, "$.id"),
        ({"id": 7, "status": "ok"}, "$.id"),
        ({"id": "c7", "status": "done"}, "$.status"),
        ({"id": "c7", "status": "ok", "result": [1]}, "$.result"),
        ({"id": "c7", "status": "error", "error": {"code": 3}}, "$.error"),
    ],
)
def test_ack_wrong_type(data: object, where: str) -> None:
    error = rejected("command/ack", data)
    assert error.reason == "wrong_type"
    assert where in error.detail, error.detail


def test_ota_status() -> None:
    assert parse("ota/status", {"ota_id": "ota-5f2", "state": "downloading", "progress": 40}) == (
        OtaStatus("ota-5f2", "downloading", 40.0, None)
    )
    assert parse("ota/status", {"ota_id": "o", "state": "failed", "error": "sha256"}) == (
        OtaStatus("o", "failed", None, "sha256")
    )
    for state in ("installing", "updated"):
        assert parse("ota/status", {"ota_id": "o", "state": state}) == OtaStatus(
            "o", state, None, None
        )


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"state": "updated"}, "`ota_id`"),
        ({"ota_id": "o", "state": "rebooting"}, "$.state"),
        ({"ota_id": "o", "state": "downloading", "progress": 101}, "$.progress"),
        ({"ota_id": "o", "state": "downloading", "progress": -1}, "$.progress"),
        ({"ota_id": "o", "state": "downloading", "progress": "40%"}, "$.progress"),
    ],
)
def test_ota_wrong_type(data: object, where: str) -> None:
    error = rejected("ota/status", data)
    assert error.reason == "wrong_type"
    assert where in error.detail, error.detail


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        (b"", "empty payload"),
        (b'{"seq": 1,', "line 1, column 11 (byte 10)"),
        (b'{"seq": 1,\n  "measurements": {]}', "line 2, column 20 (byte 30)"),
        (b"{} {}", "trailing characters at line 1, column 4 (byte 3)"),
        (b"\xff\xfe{}", "not UTF-8 at byte 0"),
        (b'{"seq": 1, "measurements": {"name": "caf\xe9"}}', "not UTF-8 at byte 40"),
        (b'{"seq": 1, "measurements": {"x": 1e400}}', "out of range"),
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (b"NaN", "byte 0"),
    ],
)
def test_malformed_json_says_where(payload: bytes, where: str) -> None:
    error = rejected("telemetry", payload)
    assert error.reason == "malformed_json"
    assert where in error.detail, error.detail


def test_deep_nesting_inside_measurements_is_not_a_crash() -> None:
    deep = b'{"seq": 1, "measurements": {"a": ' + b"[" * 900 + b"]" * 900 + b"}}"
    [item] = parse("telemetry", deep)
    assert isinstance(item, TelemetryItem)
    assert "a" in item.measurements


def test_oversize() -> None:
    payload = msgspec.json.encode({"seq": 1, "measurements": {"x": "y" * 100}})
    assert parse_payload("telemetry", "pm-1", payload, max_bytes=len(payload))
    with pytest.raises(PayloadError) as info:
        parse_payload("telemetry", "pm-1", payload, max_bytes=len(payload) - 1)
    assert info.value.reason == "oversize"
    assert str(len(payload)) in info.value.detail


@pytest.mark.parametrize("kind", ["command", "telemetry/extra", "", "HELLO", "ota"])
def test_unknown_topic(kind: str) -> None:
    error = rejected(kind, {"state": "online"})
    assert error.reason == "unknown_topic"
    assert repr(kind) in error.detail


@pytest.mark.parametrize("kind", MESSAGE_KINDS)
def test_wrong_device_on_every_kind(kind: str) -> None:
    error = rejected(kind, {"device_id": "pm-2"})
    assert error.reason == "wrong_device"
    assert "'pm-2'" in error.detail
    assert "'pm-1'" in error.detail


def test_wrong_device_wins_over_wrong_type_and_is_checked_per_batch_item() -> None:
    assert rejected("hello", {"device_id": "PM-1", "device_type": 5}).reason == "wrong_device"
    batch = [
        {"seq": 1, "measurements": {}, "device_id": "pm-1"},
        {"seq": 2, "measurements": {}, "device_id": "other"},
    ]
    error = rejected("telemetry", batch)
    assert error.reason == "wrong_device"
    assert "$[1].device_id" in error.detail
    error = rejected("status", {"state": "online", "device_id": 17})
    assert error.reason == "wrong_type"
    assert "$.device_id" in error.detail
