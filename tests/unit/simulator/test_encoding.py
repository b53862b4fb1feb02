"""Edges of the building blocks: lengths, segmentation, ciphering arguments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meterhub.adapters.simulator import (
    SimulatedMeter,
    cosem_datetime,
    glo_cipher,
    logical_device_name,
    long_frame,
    mbus_frames,
)
from meterhub.adapters.simulator._axdr_encode import length
from tests.unit.simulator.support import ctr_decrypt, parse_glo, split_mbus

KEY = bytes(range(16))
TITLE = b"KFM\x10\x20\x00\x00\x01"


@pytest.mark.parametrize(
    ("n", "encoded"),
    [
        (0, "00"),
        (0x7F, "7F"),
        (0x80, "8180"),
        (0xF8, "81F8"),
        (0x109, "820109"),
        (0x10000, "83010000"),
    ],
)
def test_ber_length(n: int, encoded: str) -> None:
    assert length(n).hex().upper() == encoded


def test_negative_length_is_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        length(-1)


def test_long_apdus_are_cut_into_numbered_segments() -> None:
    apdu = bytes(range(256)) * 3  # 768 bytes: 245 + 245 + 245 + 33
    frames = mbus_frames(apdu)
    assert [f[6] for f in frames] == [0x00, 0x01, 0x02, 0x13]
    parsed = split_mbus(b"".join(frames))
    assert [f.length for f in parsed] == [0xFA, 0xFA, 0xFA, 5 + 33]
    assert b"".join(f.data for f in parsed) == apdu


def test_single_segment_is_marked_last() -> None:
    (frame,) = mbus_frames(b"\x0f\x00")
    assert frame[6] == 0x10
    assert frame == long_frame(0x10, b"\x0f\x00")


def test_smaller_segments_on_request() -> None:
    frames = mbus_frames(bytes(100), max_segment=40)
    assert [len(f) - 11 for f in frames] == [40, 40, 20]


@pytest.mark.parametrize(
    ("apdu", "max_segment", "message"),
    [
        (b"", 245, "nothing"),
        (b"x", 0, "max_segment"),
        (b"x", 246, "max_segment"),
        (bytes(17), 1, "16 segments"),
    ],
)
def test_unframeable_input_is_rejected(apdu: bytes, max_segment: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mbus_frames(apdu, max_segment=max_segment)


def test_oversized_segment_is_rejected() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        long_frame(0x10, bytes(246))


def test_glo_cipher_round_trips_and_carries_its_header() -> None:
    plaintext = bytes(range(200))
    apdu = glo_cipher(
        plaintext, key=KEY, system_title=TITLE, frame_counter=0xFFFFFFFF, security_control=0x21
    )
    ciphered = parse_glo(apdu)
    assert (ciphered.system_title, ciphered.security_control, ciphered.frame_counter) == (
        TITLE,
        0x21,
        0xFFFFFFFF,
    )
    assert ciphered.ciphertext != plaintext
    assert ctr_decrypt(KEY, ciphered) == plaintext


@pytest.mark.parametrize(
    ("key", "title", "counter", "message"),
    [
        (bytes(15), TITLE, 1, "16 bytes"),
        (KEY, b"KFM", 1, "8 bytes"),
        (KEY, TITLE, -1, "32 bits"),
        (KEY, TITLE, 2**32, "32 bits"),
    ],
)
def test_glo_cipher_rejects_bad_arguments(
    key: bytes, title: bytes, counter: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        glo_cipher(
            b"\x0f", key=key, system_title=title, frame_counter=counter, security_control=0x20
        )


def test_exhausted_frame_counter_is_an_error() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    meter = SimulatedMeter(
        "kaifa_flat", "181220000001", KEY, seed=1, start=start, frame_counter=2**32 - 1
    )
    meter.telegram(start)
    with pytest.raises(ValueError, match="exhausted"):
        meter.telegram(start)


def test_logical_device_name_of_other_numbers() -> None:
    assert logical_device_name("181220000009") == "KFM181220000009"


def test_cosem_datetime_needs_a_timezone() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cosem_datetime(datetime(2024, 1, 1))  # noqa: DTZ001


def test_hundredths_come_from_the_instant() -> None:
    clock = cosem_datetime(datetime(2024, 1, 1, 0, 0, 0, 370_000, tzinfo=UTC))
    assert clock[8] == 37
    assert int.from_bytes(clock[9:11], "big", signed=True) == 0
