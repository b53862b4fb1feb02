"""The per-layout cache decodes exactly what the full A-XDR walk decodes.

``MeterDecoder`` (without ``include_objects``) learns each plaintext layout and decodes
later telegrams of that layout from their fixed positions; ``decode_apdu`` always walks
the whole A-XDR tree. Both must agree on every telegram, and any change of shape
(length, OBIS code, type tag, scaler, string, invalid date-time) must go the long way.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterhub.adapters.codecs import (
    DecodeError,
    Match,
    MeterDecoder,
    Profile,
    ProfileRegistry,
    Telegram,
    decode_apdu,
    iter_decode,
)
from tests.unit.adapters._variants import (
    KAIFA,
    PLAIN_KAIFA,
    any_times,
    ciphered,
    mbus_stream,
    number_slots,
    plaintext,
    valid_times,
    variants,
)
from tests.unit.adapters._vectors import ids, key, load, stream

DLMS = load("mbus_dlms.json") + load("hdlc_dlms.json")
NETZNOE = KAIFA[0]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
Result = Telegram | DecodeError


def _key(vector: dict[str, Any]) -> bytes:
    return bytes.fromhex(vector["key_hex"])


def _slow(apdu: bytes, vector: dict[str, Any], registry: ProfileRegistry | None = None) -> Result:
    """The full walk: ``decode_apdu`` has no layout cache."""
    try:
        return decode_apdu(apdu, fmt="mbus", key=_key(vector), profiles=registry)
    except DecodeError as exc:
        return exc


def _same(fast: list[Result], slow: Result) -> None:
    assert len(fast) == 1, fast
    got = fast[0]
    if isinstance(slow, DecodeError):
        assert isinstance(got, DecodeError), got
        assert got.to_dict() == slow.to_dict()
        return
    assert got == slow
    assert isinstance(got, Telegram)
    assert list(got.values) == list(slow.values)  # same order, for the JSON output too


def _warm(vector: dict[str, Any], registry: ProfileRegistry | None = None) -> MeterDecoder:
    decoder = MeterDecoder("mbus", _key(vector), profiles=registry)
    assert isinstance(decoder.feed(stream(vector))[0], Telegram)
    return decoder


def _send(
    decoder: MeterDecoder,
    vector: dict[str, Any],
    apdu: bytes,
    counter: int = 7,
    registry: ProfileRegistry | None = None,
) -> Telegram:
    glo = ciphered(vector, apdu, counter)
    fast = decoder.feed(mbus_stream(glo))
    _same(fast, _slow(glo, vector, registry))
    assert isinstance(fast[0], Telegram)
    return fast[0]


@pytest.mark.parametrize("vector", DLMS, ids=ids(DLMS))
def test_every_vector_decodes_the_same_from_a_known_shape(vector: dict[str, Any]) -> None:
    decoder = MeterDecoder(auth_key=key(vector, "auth_key_hex"), key=key(vector))
    first = list(decoder.feed(stream(vector))) + decoder.flush()
    again = [*decoder.feed(stream(vector)), *decoder.flush()]
    reference = list(
        iter_decode(stream(vector), key=key(vector), auth_key=key(vector, "auth_key_hex"))
    )
    assert first == again == reference
    assert isinstance(first[0], Telegram)


@pytest.mark.parametrize("vector", KAIFA, ids=ids(KAIFA))
@SETTINGS
@given(data=st.data())
def test_fast_path_equals_full_walk_on_simulated_telegrams(
    vector: dict[str, Any], data: st.DataObject
) -> None:
    decoder = _warm(vector)
    for _ in range(3):
        apdu = data.draw(variants(plaintext(vector), times=any_times()))
        _send(decoder, vector, apdu, data.draw(st.integers(0, 2**32 - 1)))


@pytest.mark.parametrize("vector", KAIFA, ids=ids(KAIFA))
@SETTINGS
@given(data=st.data())
def test_new_numbers_and_times_take_the_fast_path(
    vector: dict[str, Any], data: st.DataObject
) -> None:
    decoder = _warm(vector)
    for _ in range(3):
        _send(decoder, vector, data.draw(variants(plaintext(vector), times=valid_times())))
    assert decoder.statistics() == {"shape_hits": 3, "shape_misses": 1, "shapes_learned": 1}


@SETTINGS
@given(data=st.data())
def test_plaintext_apdus_are_cached_too(data: st.DataObject) -> None:
    apdu = plaintext(PLAIN_KAIFA[0])
    decoder = MeterDecoder("apdu")
    decoder.decode_payload(apdu)
    variant = data.draw(variants(apdu, times=any_times()))
    try:
        expected: Result = decode_apdu(variant)
    except DecodeError as exc:
        expected = exc
    try:
        got: list[Result] = [decoder.decode_payload(variant)]
    except DecodeError as exc:
        got = [exc]
    _same(got, expected)


def _patched(apdu: bytes, old: bytes, new: bytes) -> bytes:
    assert apdu.count(old) == 1
    return apdu.replace(old, new)


def test_longer_meter_number_is_a_new_shape() -> None:
    decoder = _warm(NETZNOE)
    apdu = plaintext(NETZNOE)
    longer = _patched(apdu, b"\x09\x0c181220000009", b"\x09\x0d1812200000099")
    assert _send(decoder, NETZNOE, longer).meter_number == "1812200000099"
    assert _send(decoder, NETZNOE, apdu).meter_number == "181220000009"
    assert decoder.statistics() == {"shape_hits": 1, "shape_misses": 2, "shapes_learned": 2}


@pytest.mark.parametrize(
    ("old", "new", "name", "value"),
    [
        # another OBIS code at the same place: 1.0.32.7.0 -> 1.0.99.7.0 (unknown)
        ("0906 0100200700FF 12 0921", "0906 0100630700FF 12 0921", "obis_1.0.99.7.0.255", 233.7),
        # another type tag: long-unsigned -> long (signed)
        ("0906 0100200700FF 12 0921", "0906 0100200700FF 10 FF38", "voltage_l1_v", -20.0),
        # another scaler: -1 -> -2
        (
            "0100200700FF 12 0921 0202 0F FF 16 23",
            "0100200700FF 12 0921 0202 0F FE 16 23",
            "voltage_l1_v",
            23.37,
        ),
        # another unit: V -> A
        (
            "0100200700FF 12 0921 0202 0F FF 16 23",
            "0100200700FF 12 0921 0202 0F FF 16 21",
            "voltage_l1_v",
            233.7,
        ),
    ],
)
def test_changed_layout_takes_the_full_walk(old: str, new: str, name: str, value: float) -> None:
    decoder = _warm(NETZNOE)
    apdu = _patched(plaintext(NETZNOE), bytes.fromhex(old), bytes.fromhex(new))
    telegram = _send(decoder, NETZNOE, apdu)
    assert telegram.values[name] == value
    assert decoder.statistics()["shape_hits"] == 0


def test_invalid_date_time_takes_the_full_walk() -> None:
    decoder = _warm(KAIFA[1])
    apdu = bytearray(plaintext(KAIFA[1]))
    apdu[30:42] = bytes.fromhex("07E50D13010F2E2300FF8880")  # month 13 in the clock object
    telegram = _send(decoder, KAIFA[1], bytes(apdu))
    assert telegram.values["clock"] == "07E50D13010F2E2300FF8880"
    assert decoder.statistics()["shape_hits"] == 0


def test_profile_change_forgets_learned_shapes() -> None:
    registry = ProfileRegistry()
    decoder = _warm(NETZNOE, registry)
    registry.add({"name": "site", "obis": {"1.0.32.7.0.255": {"name": "u1"}}})
    telegram = _send(decoder, NETZNOE, plaintext(NETZNOE), registry=registry)
    assert telegram.values["u1"] == 233.7
    assert "voltage_l1_v" not in telegram.values


def test_first_element_that_could_pick_a_profile_is_checked() -> None:
    # Netz NÖ bodies start with the date-time; a profile keyed on year 2022 must win
    # for a 2022 telegram even though the 2021 shape is cached.
    site = Profile(name="y2022", match=Match(payload="dlms", first_value_prefix="07E6"))
    registry = ProfileRegistry([site])
    decoder = _warm(NETZNOE, registry)
    apdu = bytearray(plaintext(NETZNOE))
    assert _send(decoder, NETZNOE, bytes(apdu), registry=registry).profile == "cosem"
    for offset in (6, 22):
        apdu[offset : offset + 2] = (2022).to_bytes(2, "big")
    assert _send(decoder, NETZNOE, bytes(apdu), registry=registry).profile == "y2022"
    assert decoder.statistics()["shape_hits"] == 1


def test_shape_that_picked_its_profile_by_the_first_element_is_not_cached() -> None:
    site = Profile(name="y2021", match=Match(payload="dlms", first_value_prefix="07E5"))
    registry = ProfileRegistry([site])
    decoder = _warm(NETZNOE, registry)
    assert _send(decoder, NETZNOE, plaintext(NETZNOE), registry=registry).profile == "y2021"
    assert decoder.statistics() == {"shape_hits": 0, "shape_misses": 2, "shapes_learned": 0}


def test_objects_are_always_decoded_by_the_full_walk() -> None:
    decoder = MeterDecoder("mbus", _key(NETZNOE), include_objects=True)
    for _ in range(2):
        telegram = decoder.feed(stream(NETZNOE))[0]
        assert isinstance(telegram, Telegram)
        assert len(telegram.objects) == 13
    assert decoder.statistics()["shape_hits"] == 0


def test_ever_changing_shapes_stop_being_learned() -> None:
    decoder = _warm(NETZNOE)
    apdu = plaintext(NETZNOE)
    offset = number_slots(apdu)[0][0] - 4  # value group E of the first OBIS code
    for code in range(100):
        variant = bytearray(apdu)
        variant[offset] = code
        _send(decoder, NETZNOE, bytes(variant))
    assert decoder.statistics()["shapes_learned"] < 12


def test_names_written_twice_are_not_cached() -> None:
    # x is written by a {-1}-scaled value and then by a {0}-scaled one: the later wins.
    body = (
        "0209"
        "0906 0100010700FF 12 {} 0202 0F00 161B"
        "0906 0100200700FF 12 {} 0202 0FFF 1623"
        "0906 0100340700FF 12 {} 0202 0F00 1623"
    )
    apdu = "0F00000001 00" + body
    obis = {"1.0.32.7.0.255": {"name": "x"}, "1.0.52.7.0.255": {"name": "x"}}
    registry = ProfileRegistry([{"name": "site", "obis": obis}])
    decoder = MeterDecoder("apdu", profiles=registry)
    decoder.decode_payload(bytes.fromhex(apdu.format("0000", "0000", "0000")))
    variant = bytes.fromhex(apdu.format("0001", "0005", "0007"))
    telegram = decoder.decode_payload(variant)
    assert telegram == decode_apdu(variant, profiles=registry)
    assert telegram.values["x"] == 7
