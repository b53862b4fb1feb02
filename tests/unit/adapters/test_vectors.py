"""Every recorded telegram in tests/data decodes to its expected values or error."""

from __future__ import annotations

from typing import Any

import pytest

from meterhub.adapters.codecs import (
    DecodeError,
    MeterDecoder,
    Telegram,
    detect_format,
    iter_decode,
)
from tests.unit.adapters._vectors import assert_decoded, ids, key, load, stream

DLMS = load("mbus_dlms.json") + load("hdlc_dlms.json")
DSMR = load("dsmr_p1.json")
NEGATIVE = load("negative.json")
REJECTED = [vector for vector in NEGATIVE if not vector.get("informational")]
INFORMATIONAL = [vector for vector in NEGATIVE if vector.get("informational")]
# The vectors name the error classes of the README; map them onto DecodeError.reason.
REASONS = {
    "checksum": {"checksum"},
    "truncated": {"truncated"},
    "wrong_key": {"wrong_key"},
    "auth_tag": {"auth_tag", "wrong_key"},
    "unknown_format": {"unsupported"},
}


def _decode_all(vector: dict[str, Any], **options: Any) -> list[Telegram | DecodeError]:
    return list(
        iter_decode(
            stream(vector),
            key=key(vector),
            auth_key=key(vector, "auth_key_hex"),
            include_objects=True,
            **options,
        )
    )


def _single(results: list[Telegram | DecodeError]) -> Telegram:
    assert len(results) == 1, results
    assert isinstance(results[0], Telegram), results[0]
    return results[0]


@pytest.mark.parametrize("vector", DLMS, ids=ids(DLMS))
def test_dlms_vector_decodes(vector: dict[str, Any]) -> None:
    telegram = _single(_decode_all(vector))
    assert_decoded(telegram, vector)
    security = vector.get("security")
    if security is not None:
        assert telegram.system_title == security["system_title_hex"]
        assert telegram.frame_counter == security["frame_counter"]


@pytest.mark.parametrize("vector", DLMS, ids=ids(DLMS))
def test_dlms_vector_format_is_detected(vector: dict[str, Any]) -> None:
    framed = vector["frames_hex"][0][:2] if vector["frames_hex"] else ""
    expected = {"68": "mbus", "7E": "hdlc", "": "apdu"}[framed]
    assert detect_format(stream(vector)) == expected


@pytest.mark.parametrize(
    "vector", [v for v in DLMS if "strings" in v], ids=ids([v for v in DLMS if "strings" in v])
)
def test_dlms_strings_are_kept(vector: dict[str, Any]) -> None:
    telegram = _single(_decode_all(vector))
    by_obis = {obj.obis: obj.raw for obj in telegram.objects}
    for obis, text in vector["strings"].items():
        assert by_obis[obis] == text


@pytest.mark.parametrize(
    "vector",
    [v for v in DLMS if "positional_raw_values" in v],
    ids=ids([v for v in DLMS if "positional_raw_values" in v]),
)
def test_positional_raw_values(vector: dict[str, Any]) -> None:
    telegram = _single(_decode_all(vector))
    assert [obj.raw for obj in telegram.objects] == vector["positional_raw_values"]


def test_tinetz_logical_device_name_is_kept() -> None:
    vector = next(v for v in DLMS if v["id"] == "mbus_tinetz_doc_kaifa_ma309m")
    telegram = _single(_decode_all(vector))
    assert telegram.values["logical_device_name"] == vector["logical_device_name"]


@pytest.mark.parametrize("vector", DSMR, ids=ids(DSMR))
def test_dsmr_vector_decodes(vector: dict[str, Any]) -> None:
    telegram = _single(_decode_all(vector, ek_only=True))
    assert telegram.format == "dsmr"
    assert_decoded(telegram, vector)
    assert telegram.dst == vector["expected_timestamp_dst"]
    equipment = vector.get("equipment_id_ascii") or vector.get("equipment_id_hex")
    assert telegram.meter_number == equipment


def test_encrypted_dsmr_with_published_ak_fails_the_tag() -> None:
    # The Steiermark AK in the source does not verify the tag; EK-only mode decodes it.
    vector = next(v for v in DSMR if "encrypted" in v)
    results = _decode_all(vector)
    assert [r.reason for r in results if isinstance(r, DecodeError)] == ["auth_tag"]


def test_encrypted_dsmr_without_ak_decrypts_with_ek_only() -> None:
    vector = next(v for v in DSMR if "encrypted" in v)
    results = list(iter_decode(stream(vector), key=key(vector)))
    telegram = _single(results)
    assert telegram.values["energy_import_wh"] == 7112944
    assert telegram.system_title == vector["encrypted"]["system_title_hex"]


@pytest.mark.parametrize("vector", REJECTED, ids=ids(REJECTED))
def test_negative_vector_is_rejected(vector: dict[str, Any]) -> None:
    results = _decode_all(vector)
    assert results, "a corrupted telegram must be reported"
    assert not any(isinstance(r, Telegram) for r in results), results
    first = results[0]
    assert isinstance(first, DecodeError)
    assert first.reason in REASONS[vector["expected_error"]], first
    assert first.detail


@pytest.mark.parametrize("vector", INFORMATIONAL, ids=ids(INFORMATIONAL))
def test_informational_vector_decodes_silently(vector: dict[str, Any]) -> None:
    telegram = _single(_decode_all(vector))
    assert telegram.values["energy_import_wh"] == vector["expected_energy_import_wh"]


def test_wrong_key_reports_wrong_key_not_malformed() -> None:
    vector = next(v for v in NEGATIVE if v["id"] == "neg_mbus_wrong_key_netznoe")
    decoder = MeterDecoder("mbus", key(vector))
    results = decoder.feed(stream(vector)) + decoder.flush()
    assert [r.reason for r in results if isinstance(r, DecodeError)] == ["wrong_key"]


def test_encrypted_telegram_without_key_is_no_key() -> None:
    vector = next(v for v in DLMS if v["id"] == "mbus_netznoe_doc_kaifa_ma309m")
    results = list(iter_decode(stream(vector)))
    assert len(results) == 1
    assert isinstance(results[0], DecodeError)
    assert results[0].reason == "no_key"
    assert "no key" in results[0].detail


def test_ciphered_dsmr_without_a_key_is_no_key_not_noise() -> None:
    vector = next(v for v in load("dsmr_p1.json") if v["id"] == "dsmr_encrypted_steiermark_sagemcom_1")
    apdu = bytes.fromhex(vector["encrypted"]["apdu_hex"])
    for fmt in ("auto", "dsmr"):
        decoder = MeterDecoder(fmt)  # type: ignore[arg-type]
        results = decoder.feed(b"\r\n" + apdu + apdu) + decoder.flush()
        assert [getattr(r, "reason", "telegram") for r in results] == ["no_key", "no_key"], fmt
