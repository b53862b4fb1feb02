"""A-XDR types, COSEM date-time, profiles, errors and capture parsing."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest

from meterhub.adapters.codecs import (
    DecodeError,
    ProfileRegistry,
    Telegram,
    cosem_datetime,
    decode_apdu,
    detect_format,
    iter_decode,
    parse_capture_text,
)
from meterhub.adapters.codecs._axdr import parse_data, parse_data_notification
from meterhub.platform._errors import ConfigError, MeterhubError
from tests.unit.adapters._vectors import load, stream

if TYPE_CHECKING:
    from pathlib import Path

SALZBURG = next(v for v in load("mbus_dlms.json") if not v["frames_hex"])
E450_LIKE = bytes.fromhex(
    "0F00000001000204"  # invoke id 1, no date-time, structure of 4
    "0906010001080AFF0600000064"  # 1.0.1.8.10.255 = 100 (unknown, no scaler)
    "0906010020070AFF12092A"  # 1.0.32.7.10.255 = 2346
)


@pytest.mark.parametrize(
    ("hex_data", "expected"),
    [
        ("00", None),
        ("0301", True),
        ("0F80", -128),
        ("10FF38", -200),
        ("11FF", 255),
        ("12FFFF", 65535),
        ("05FFFFFFFE", -2),
        ("06FFFFFFFF", 4294967295),
        ("14FFFFFFFFFFFFFFFF", -1),
        ("1500000000000000FF", 255),
        ("1603", 3),
        ("0D12", 0x12),
        ("173FC00000", 1.5),
        ("183FF8000000000000", 1.5),
        ("0A03414243", "ABC"),
        ("0C02C3A4", "ä"),
        ("090300FF10", b"\x00\xff\x10"),
        ("040A8040", "1000000001"),
        ("0102110112FFFF", [1, 65535]),
        ("0202020111000300", [[0], False]),
        ("09820003414243", b"ABC"),
    ],
)
def test_axdr_types(hex_data: str, expected: object) -> None:
    value, end = parse_data(bytes.fromhex(hex_data), 0)
    assert value == expected
    assert type(value) is type(expected)
    assert end == len(hex_data) // 2


@pytest.mark.parametrize(
    ("hex_data", "offset"),
    [("06000001", 1), ("0203110111", 5), ("FF", 0), ("0905414243", 2), ("0184FFFFFFFF", 6)],
)
def test_axdr_errors_are_malformed_with_offset(hex_data: str, offset: int) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_data(bytes.fromhex(hex_data), 0)
    assert caught.value.reason == "malformed"
    assert caught.value.offset == offset


def test_deep_nesting_is_malformed_not_recursion_error() -> None:
    with pytest.raises(DecodeError) as caught:
        parse_data(b"\x02\x01" * 500 + b"\x00", 0)
    assert caught.value.reason == "malformed"


def test_compact_array_is_unsupported() -> None:
    with pytest.raises(DecodeError) as caught:
        parse_data(bytes.fromhex("1300"), 0)
    assert caught.value.reason == "unsupported"


def test_notification_trailing_bytes_are_malformed() -> None:
    apdu = bytes.fromhex(SALZBURG["plaintext_apdu_hex"]) + b"\x00"
    with pytest.raises(DecodeError) as caught:
        decode_apdu(apdu)
    assert caught.value.reason == "malformed"
    assert caught.value.offset == len(apdu) - 1


def test_notification_header() -> None:
    note = parse_data_notification(bytes.fromhex(SALZBURG["plaintext_apdu_hex"]))
    assert note.invoke_id == SALZBURG["long_invoke_id"]
    assert note.date_time == bytes.fromhex(SALZBURG["expected_timestamp_raw_hex"])


@pytest.mark.parametrize(
    ("hex_data", "expected"),
    [
        (
            "07E5091B01092F0F00FF8880",
            datetime(2021, 9, 27, 9, 47, 15, tzinfo=timezone(timedelta(hours=2))),
        ),
        (
            "07E60B0C0610360000FFC400",
            datetime(2022, 11, 12, 16, 54, tzinfo=timezone(timedelta(hours=1))),
        ),
        ("07E1090F05052128FF800000", datetime(2017, 9, 15, 5, 33, 40)),  # noqa: DTZ001
        ("07E1090F0505212832800000", datetime(2017, 9, 15, 5, 33, 40, 500_000)),  # noqa: DTZ001
        ("313831323230303030303039", None),  # an ASCII meter number, not a date-time
        ("FFFF090F05052128FF800000", None),
        ("07E10D0F05052128FF800000", None),
    ],
)
def test_cosem_datetime(hex_data: str, expected: datetime | None) -> None:
    assert cosem_datetime(bytes.fromhex(hex_data)) == expected


def test_unknown_obis_is_kept_raw() -> None:
    telegram = decode_apdu(E450_LIKE, include_objects=True)
    assert telegram.values == {"obis_1.0.1.8.10.255": 100, "obis_1.0.32.7.10.255": 2346}
    assert telegram.units == {}
    assert telegram.timestamp is None
    assert [obj.value for obj in telegram.objects] == [None, None]


def test_user_profile_names_and_scales_unknown_codes() -> None:
    registry = ProfileRegistry(
        [
            {
                "name": "my_meter",
                "obis": {
                    "1.0.1.8.10.255": {"name": "energy_import_t10_wh", "unit": "Wh"},
                    "1.0.32.7.10.255": {"name": "voltage_avg_v", "unit": "V", "scaler": -1},
                },
            }
        ]
    )
    telegram = decode_apdu(E450_LIKE, profiles=registry)
    assert telegram.values == {"energy_import_t10_wh": 100, "voltage_avg_v": 234.6}
    assert telegram.units == {"energy_import_t10_wh": "Wh", "voltage_avg_v": "V"}


def test_user_profile_from_toml_overrides_a_builtin(tmp_path: Path) -> None:
    path = tmp_path / "kaifa.toml"
    path.write_text(
        '[[profile]]\nname = "kaifa_han_list2_3phase"\n'
        'match = { payload = "dlms", first_value_prefix = "KFM_001", element_count = 13 }\n'
        'layout = [{ name = "list" }, { name = "meter_number" }]\n',
        encoding="utf-8",
    )
    vector = load("hdlc_dlms.json")[1]
    telegram = next(iter_decode(stream(vector), profiles=ProfileRegistry([path])))
    assert isinstance(telegram, Telegram)
    assert telegram.values == {"list": "KFM_001", "meter_number": "6970631401753985"}
    assert telegram.profile == "kaifa_han_list2_3phase"


def test_bad_profile_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        ProfileRegistry([{"name": "x", "obis": {"1.2.3": {"name": "y"}}}])
    with pytest.raises(ConfigError):
        ProfileRegistry([{"name": "x", "colour": "red"}])
    with pytest.raises(ConfigError):
        ProfileRegistry([tmp_path / "missing.toml"])


def test_builtin_profiles_load() -> None:
    names = {profile.name for profile in ProfileRegistry().profiles}
    assert {"cosem", "dsmr", "kamstrup_omnipower", "wiener_netze"} <= names


def test_decode_error_contract() -> None:
    error = DecodeError("malformed", "bad tag", 7)
    assert isinstance(error, MeterhubError)
    assert error.to_dict() == {"reason": "malformed", "detail": "bad tag", "offset": 7}
    assert pickle.loads(pickle.dumps(error)).to_dict() == error.to_dict()  # noqa: S301
    with pytest.raises(ValueError, match="offset"):
        DecodeError("malformed", "no offset")
    with pytest.raises(ValueError, match="reason"):
        DecodeError("bogus", "x")  # type: ignore[arg-type]


def test_parse_capture_text_accepts_hex_with_any_whitespace() -> None:
    frames = load("mbus_dlms.json")[0]["frames_hex"]
    text = "\n".join(f"{frame[:40]} {frame[40:]}".lower() for frame in frames) + "\n"
    assert parse_capture_text(text) == b"".join(bytes.fromhex(f) for f in frames)
    assert parse_capture_text("0x68, 0x16") == b"\x68\x16"


def test_parse_capture_text_keeps_dsmr_text() -> None:
    telegram = load("dsmr_p1.json")[0]["telegram"]
    data = parse_capture_text(telegram)
    assert data == telegram.encode()
    assert detect_format(data) == "dsmr"


def test_detect_format_rejects_unknown_data() -> None:
    with pytest.raises(DecodeError) as caught:
        detect_format(b"hello world")
    assert caught.value.reason == "unsupported"
    assert [r.reason for r in iter_decode(b"hello") if isinstance(r, DecodeError)] == [
        "unsupported"
    ]
