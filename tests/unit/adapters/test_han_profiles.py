"""Built-in profiles of lists that send values without {scaler, unit}.

Each telegram is built here from the public description its profile names (A-XDR per
IEC 62056-6-2 §4.1.5: ``0F | long-invoke-id | date-time | body``), decoded by the full
walk (``decode_apdu``) and checked name by name, then fed to a ``MeterDecoder`` again
and again with changing numbers: the layout cache must decode exactly the same.
"""

from __future__ import annotations

import struct
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from meterhub.adapters.codecs import (
    MeterDecoder,
    ProfileRegistry,
    Telegram,
    decode_apdu,
    default_registry,
)
from tests.unit.adapters._variants import ciphered
from tests.unit.adapters._vectors import key, load, stream

if TYPE_CHECKING:
    from collections.abc import Callable

Scalar = float | int | str
Expected = dict[str, tuple[Scalar, str | None]]

# --- A-XDR encoders (IEC 62056-6-2 §4.1.5 Table 2) ------------------------------------


def u32(value: int) -> bytes:
    return b"\x06" + value.to_bytes(4, "big")


def u16(value: int) -> bytes:
    return b"\x12" + value.to_bytes(2, "big")


def i16(value: int) -> bytes:
    return b"\x10" + value.to_bytes(2, "big", signed=True)


def octets(raw: bytes) -> bytes:
    return b"\x09" + bytes((len(raw),)) + raw


def visible(text: str) -> bytes:
    return b"\x0a" + bytes((len(text),)) + text.encode("ascii")


def obis(code: str) -> bytes:
    return octets(bytes(int(part) for part in code.split(".")))


def structure(*items: bytes) -> bytes:
    return b"\x02" + bytes((len(items),)) + b"".join(items)


def array(*items: bytes) -> bytes:
    return b"\x01" + bytes((len(items),)) + b"".join(items)


def scaled(code: str, value: bytes, scaler: int, unit: int) -> bytes:
    """An Aidon entry: {OBIS, value, {scaler, unit}} (IEC 62056-6-2 §4.3.2)."""
    return structure(
        obis(code), value, structure(b"\x0f" + struct.pack("b", scaler), bytes((0x16, unit)))
    )


def stamp(second: int = 5, deviation: int = -0x8000, status: int = 0x00) -> bytes:
    """A COSEM date-time: 2024-03-12 (Tuesday) 14:30:<second>."""
    return struct.pack(">HBBBBBBBhB", 2024, 3, 12, 2, 14, 30, second, 0xFF, deviation, status)


def notification(body: bytes, header_time: bytes | None, *, tagged: bool = False) -> bytes:
    """``0F | invoke-id | date-time | body``; Kaifa wraps the date-time as ``09 0C``."""
    head = b"\x00"
    if header_time is not None:
        head = (b"\x09" if tagged else b"") + b"\x0c" + header_time
    return b"\x0f\x40\x00\x00\x01" + head + body


# Kaifa and Kamstrup send deviation 0x8000 ("not specified"): local time, naive.
NAIVE_STAMP = datetime.fromisoformat("2024-03-12T14:30:05")


class Case(NamedTuple):
    """One list: how to build it for given numbers, and what it must decode to."""

    profile: str
    build: Callable[[int], bytes]
    expected: Callable[[int], Expected]
    timestamp: datetime | None
    meter_number: str | None


# --- Kaifa KFM_001 (amsreader-firmware src/IEC6205675.cpp, stevew817 known_lists.c) --

KAIFA_ID = [octets(b"KFM_001"), octets(b"6970631401753985")]


def _kaifa(phases: int, *, energies: bool) -> Case:
    def build(n: int) -> bytes:
        items = [*KAIFA_ID, octets(b"MA304H3E" if phases == 3 else b"MA105H2E")]
        items += [u32(1403 + n), u32(n), u32(20 + n), u32(64)]
        items += [u32(1234 + n * 7) for _ in range(phases)]
        items += [u32(2301 + n) for _ in range(phases)]
        if energies:
            items += [octets(stamp()), u32(12345670 + n), u32(n), u32(3210 + n), u32(47)]
        return notification(structure(*items), stamp(), tagged=True)

    def expected(n: int) -> Expected:
        out: Expected = {
            "list_version": ("KFM_001", None),
            "meter_number": ("6970631401753985", None),
            "power_import_w": (1403 + n, "W"),
            "power_export_w": (n, "W"),
            "reactive_power_import_var": (20 + n, "var"),
            "reactive_power_export_var": (64, "var"),
        }
        for phase in range(1, phases + 1):
            out[f"current_l{phase}_a"] = ((1234 + n * 7) / 1000, "A")
            out[f"voltage_l{phase}_v"] = ((2301 + n) / 10, "V")
        if energies:
            out["energy_import_wh"] = (12345670 + n, "Wh")
            out["energy_export_wh"] = (n, "Wh")
            out["reactive_energy_import_varh"] = (3210 + n, "varh")
            out["reactive_energy_export_varh"] = (47, "varh")
        return out

    count = 1 + 2 + 4 + 2 * phases + (5 if energies else 0)
    name = f"kaifa_han_list{3 if energies else 2}_{phases}phase"
    assert count in {9, 13, 14, 18}
    return Case(name, build, expected, NAIVE_STAMP, "6970631401753985")


KAIFA_LIST1 = Case(
    "kaifa_han_list1",
    lambda n: notification(structure(u32(1403 + n)), stamp(), tagged=True),
    lambda n: {"power_import_w": (1403 + n, "W")},
    NAIVE_STAMP,
    None,
)

# --- Kamstrup_V0001 (amsreader-firmware, stevew817 known_lists.c) ----------------------


def _kamstrup(*, energies: bool) -> Case:
    def build(n: int) -> bytes:
        items = [
            visible("Kamstrup_V0001"),
            obis("1.1.0.0.5.255"),
            visible("5706567000000000"),
            obis("1.1.96.1.1.255"),
            visible("6841131BN243101040"),
        ]
        pairs = [
            ("1.1.1.7.0.255", u32(1403 + n)),
            ("1.1.2.7.0.255", u32(n)),
            ("1.1.3.7.0.255", u32(20)),
            ("1.1.4.7.0.255", u32(64 + n)),
            ("1.1.31.7.0.255", u32(123 + n)),
            ("1.1.51.7.0.255", u32(1234)),
            ("1.1.71.7.0.255", u32(5)),
            ("1.1.32.7.0.255", u16(230 + n)),
            ("1.1.52.7.0.255", u16(231)),
            ("1.1.72.7.0.255", u16(229)),
        ]
        if energies:
            pairs += [
                ("0.1.1.0.0.255", octets(stamp(0, status=0x80))),
                ("1.1.1.8.0.255", u32(1234567 + n)),
                ("1.1.2.8.0.255", u32(n)),
                ("1.1.3.8.0.255", u32(4321)),
                ("1.1.4.8.0.255", u32(99 + n)),
            ]
        for code, value in pairs:
            items += [obis(code), value]
        return notification(structure(*items), stamp(0, status=0x80))

    def expected(n: int) -> Expected:
        out: Expected = {
            "meter_number": ("5706567000000000", None),
            "meter_type": ("6841131BN243101040", None),
            "power_import_w": (1403 + n, "W"),
            "power_export_w": (n, "W"),
            "reactive_power_import_var": (20, "var"),
            "reactive_power_export_var": (64 + n, "var"),
            "current_l1_a": ((123 + n) / 100, "A"),
            "current_l2_a": (12.34, "A"),
            "current_l3_a": (0.05, "A"),
            "voltage_l1_v": (230 + n, "V"),
            "voltage_l2_v": (231, "V"),
            "voltage_l3_v": (229, "V"),
        }
        if energies:
            out["energy_import_wh"] = (12345670 + 10 * n, "Wh")
            out["energy_export_wh"] = (10 * n, "Wh")
            out["reactive_energy_import_varh"] = (43210, "varh")
            out["reactive_energy_export_varh"] = (990 + 10 * n, "varh")
        return out

    return Case(
        "kamstrup_omnipower",
        build,
        expected,
        datetime.fromisoformat("2024-03-12T14:30:00"),
        "5706567000000000",
    )


# --- Aidon AIDON_V0001 list 3, three phases TN (stevew817 known_lists.c) -------------
# Aidon sends a {scaler, unit} with every value, so no profile is needed (``cosem``).


def _aidon_build(n: int) -> bytes:
    def named(code: str, value: bytes) -> bytes:
        return structure(obis(code), value)

    return notification(
        array(
            named("1.1.0.2.129.255", visible("AIDON_V0001")),
            named("0.0.96.1.0.255", visible("7359992890941742")),
            named("0.0.96.1.7.255", visible("6525")),
            scaled("1.0.1.7.0.255", u32(3728 + n), 0, 27),
            scaled("1.0.2.7.0.255", u32(0), 0, 27),
            scaled("1.0.3.7.0.255", u32(28), 0, 29),
            scaled("1.0.4.7.0.255", u32(n), 0, 29),
            scaled("1.0.31.7.0.255", i16(145 + n), -1, 33),
            scaled("1.0.51.7.0.255", i16(-3), -1, 33),
            scaled("1.0.71.7.0.255", i16(144), -1, 33),
            scaled("1.0.32.7.0.255", u16(2354 + n), -1, 35),
            scaled("1.0.52.7.0.255", u16(2334), -1, 35),
            scaled("1.0.72.7.0.255", u16(2355), -1, 35),
            named("0.0.1.0.0.255", octets(stamp(0, -60))),
            scaled("1.0.1.8.0.255", u32(2189389 + n), 1, 30),
            scaled("1.0.2.8.0.255", u32(0), 1, 30),
            scaled("1.0.3.8.0.255", u32(33361), 1, 32),
            scaled("1.0.4.8.0.255", u32(72613 + n), 1, 32),
        ),
        None,
    )


def _aidon_expected(n: int) -> Expected:
    return {
        "list_version": ("AIDON_V0001", None),
        "meter_number": ("7359992890941742", None),
        "meter_type": ("6525", None),
        "power_import_w": (3728 + n, "W"),
        "power_export_w": (0, "W"),
        "reactive_power_import_var": (28, "var"),
        "reactive_power_export_var": (n, "var"),
        "current_l1_a": ((145 + n) / 10, "A"),
        "current_l2_a": (-0.3, "A"),
        "current_l3_a": (14.4, "A"),
        "voltage_l1_v": ((2354 + n) / 10, "V"),
        "voltage_l2_v": (233.4, "V"),
        "voltage_l3_v": (235.5, "V"),
        "energy_import_wh": (21893890 + 10 * n, "Wh"),
        "energy_export_wh": (0, "Wh"),
        "reactive_energy_import_varh": (333610, "varh"),
        "reactive_energy_export_varh": (726130 + 10 * n, "varh"),
    }


AIDON = Case(
    "cosem",
    _aidon_build,
    _aidon_expected,
    datetime.fromisoformat("2024-03-12T14:30:00+01:00"),
    "7359992890941742",
)

# --- Netz Burgenland L+G E450 (Spezifikation Kundenschnittstelle E450, tosog/nbsm) ---


def _burgenland(*, angles: bool) -> Case:
    def build(n: int) -> bytes:
        items = [u16(230 + n), u16(231), u16(229)]
        items += [u16(123 + n), u16(4567), u16(0)]
        items += [u32(1403 + n), u32(n), u32(12345678 + n), u32(98765)]
        if angles:
            items += [u16(12 + n), u16(359), u16(0)]
        items.append(octets(b"1LGZ0012345678"))
        return notification(structure(*items), stamp(deviation=-60))

    def expected(n: int) -> Expected:
        out: Expected = {
            "voltage_l1_v": (230 + n, "V"),
            "voltage_l2_v": (231, "V"),
            "voltage_l3_v": (229, "V"),
            "current_l1_a": ((123 + n) / 100, "A"),
            "current_l2_a": (45.67, "A"),
            "current_l3_a": (0.0, "A"),
            "power_import_w": (1403 + n, "W"),
            "power_export_w": (n, "W"),
            "energy_import_wh": (12345678 + n, "Wh"),
            "energy_export_wh": (98765, "Wh"),
            "meter_number": ("1LGZ0012345678", None),
        }
        if angles:
            out["obis_1.0.81.7.4.255"] = (12 + n, "°")
            out["obis_1.0.81.7.15.255"] = (359, "°")
            out["obis_1.0.81.7.26.255"] = (0, "°")
        return out

    name = "netz_burgenland_e450" if angles else "netz_burgenland_e450_v1"
    when = datetime.fromisoformat("2024-03-12T14:30:05+01:00")
    return Case(name, build, expected, when, "1LGZ0012345678")


CASES = [
    KAIFA_LIST1,
    _kaifa(1, energies=False),
    _kaifa(3, energies=False),
    _kaifa(1, energies=True),
    _kaifa(3, energies=True),
    _kamstrup(energies=False),
    _kamstrup(energies=True),
    AIDON,
    _burgenland(angles=True),
    _burgenland(angles=False),
]
IDS = [f"{case.profile}-{index}" for index, case in enumerate(CASES)]
COUNTERS = {"energy_import_wh", "energy_export_wh"}


def _check(telegram: Telegram, case: Case, n: int) -> None:
    assert telegram.profile == case.profile
    for name, (value, unit) in case.expected(n).items():
        got = telegram.values[name]
        assert got == pytest.approx(value) if isinstance(value, float) else got == value, name
        assert type(got) is type(value), (name, got)
        assert telegram.units.get(name) == unit, (name, telegram.units.get(name))
    assert telegram.meter_number == case.meter_number
    assert telegram.timestamp == case.timestamp


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_list_decodes_to_canonical_names_values_and_units(case: Case) -> None:
    _check(decode_apdu(case.build(0)), case, 0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_layout_cache_decodes_what_the_full_walk_decodes(case: Case) -> None:
    decoder = MeterDecoder("apdu")
    for n in (0, 0, 1, 2, 3, 250, 4):
        apdu = case.build(n)
        fast = decoder.decode_payload(apdu)
        slow = decode_apdu(apdu)
        assert fast == slow
        assert list(fast.values) == list(slow.values)
        _check(fast, case, n)
    if case.profile in {"kamstrup_omnipower", "cosem"}:
        # OBIS lists are learned: later telegrams come from the known shape.
        assert decoder.statistics()["shape_hits"] >= 4


def test_energy_counters_are_declared() -> None:
    counters = default_registry().counters()
    assert counters >= COUNTERS
    assert {"reactive_energy_import_varh", "obis_1.1.21.8.0.255"} <= counters


# --- Kamstrup Danish capture: the per-phase energies add up to the total -------------


def test_kamstrup_danish_capture_scales_energies_to_wh() -> None:
    vector = next(v for v in load("hdlc_dlms.json") if v["id"].startswith("hdlc_kamstrup"))
    decoder = MeterDecoder(key=key(vector), auth_key=key(vector, "auth_key_hex"))
    telegram = decoder.feed(stream(vector))[0]
    assert isinstance(telegram, Telegram)
    values = telegram.values
    assert values["energy_import_wh"] == 63074980
    assert telegram.units["energy_import_wh"] == "Wh"
    phases = sum(values[f"obis_1.1.{c}.8.0.255"] for c in (21, 41, 61))
    assert isinstance(phases, int)
    assert abs(phases - values["energy_import_wh"]) <= 30  # one count of 10 Wh per phase
    assert values["current_l2_a"] == 2.28
    assert values["power_factor"] == 0.83
    assert values["obis_1.1.53.7.0.255"] == 0.87


# --- Wiener Netze L+G E450, 9-element list (aburgr/smartmeter-reader decode.py) ------

E450_METER: dict[str, Any] = {
    "key_hex": "5C316162209EBB790B52EB0E7FC5B11C",
    "security": {"system_title_hex": "4C475A6770000001", "security_control": "0x20"},
}


def _e450(n: int) -> bytes:
    values = [4490428 + n, 1342, 65611, 1843441 + n, 374 + n, 0, 0, 244]
    body = structure(octets(stamp(45, -60)), *(u32(v) for v in values))
    return notification(body, stamp(45, -60))


def test_wiener_netze_e450_list_is_mapped_under_an_lgz_title() -> None:
    key_bytes = bytes.fromhex(E450_METER["key_hex"])
    decoder = MeterDecoder("apdu", key=key_bytes)
    for n in (0, 1, 2):
        glo = ciphered(E450_METER, _e450(n), 100 + n)
        telegram = decode_apdu(glo, key=key_bytes)
        assert decoder.decode_payload(glo) == telegram
        assert telegram.profile == "wiener_netze_e450"
        assert telegram.values == {
            "energy_import_wh": 4490428 + n,
            "energy_export_wh": 1342,
            "reactive_energy_import_varh": 65611,
            "reactive_energy_export_varh": 1843441 + n,
            "power_import_w": 374 + n,
            "power_export_w": 0,
            "reactive_power_import_var": 0,
            "reactive_power_export_var": 244,
        }
        assert telegram.timestamp == datetime.fromisoformat("2024-03-12T14:30:45+01:00")
        assert telegram.units["energy_import_wh"] == "Wh"
        assert telegram.units["reactive_power_export_var"] == "var"


def test_a_nine_element_list_from_another_maker_is_not_taken_for_the_e450_list() -> None:
    other = {
        **E450_METER,
        "security": {**E450_METER["security"], "system_title_hex": "4B464D1020000001"},
    }
    key_bytes = bytes.fromhex(E450_METER["key_hex"])
    telegram = decode_apdu(ciphered(other, _e450(0), 1), key=key_bytes)
    assert telegram.profile == "cosem"
    assert "energy_import_wh" not in telegram.values


# --- the first element's type as a match condition, and the layout cache -------------


def test_first_value_type_tells_a_power_value_from_an_entry() -> None:
    registry = default_registry()
    assert registry.select("dlms", None, 1, 1403).name == "kaifa_han_list1"  # type: ignore[union-attr]
    # Aidon list 1 is an array of one {OBIS, value, {scaler, unit}} structure.
    assert registry.select("dlms", None, 1, [b"\x01\x00\x01\x07\x00\xff", 1403]) is None
    assert registry.select("dlms", None, 1, b"KFM_001") is None
    assert registry.select("dlms", None, 0, None) is None


def test_a_first_element_that_becomes_a_date_time_leaves_the_cached_shape() -> None:
    # A user list: a date-time, then two OBIS pairs; a profile for the lists whose first
    # element is a valid date-time. A sample with an invalid one (month 13) is walked and
    # learned; a valid date-time at the same bytes must not reuse that shape.
    registry = ProfileRegistry(
        [
            {
                "name": "dated_pairs",
                "match": {"payload": "dlms", "element_count": 5, "first_value_type": "date-time"},
                "layout": [{"name": "clock"}, {}, {"name": "energy_import_wh", "unit": "Wh"}],
            }
        ]
    )

    def build(first: bytes, n: int) -> bytes:
        pairs = obis("1.0.1.8.0.255") + u32(1000 + n) + obis("1.0.2.8.0.255") + u32(n)
        return notification(b"\x02\x05" + octets(first) + pairs, None)

    invalid = bytearray(stamp())
    invalid[2] = 13
    decoder = MeterDecoder("apdu", profiles=registry)
    for n in range(3):
        apdu = build(bytes(invalid), n)
        assert decoder.decode_payload(apdu) == decode_apdu(apdu, profiles=registry)
    assert decoder.statistics()["shape_hits"] >= 1
    valid = build(stamp(), 7)
    telegram = decoder.decode_payload(valid)
    assert telegram == decode_apdu(valid, profiles=registry)
    assert telegram.profile == "dated_pairs"
