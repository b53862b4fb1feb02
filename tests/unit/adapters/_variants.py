"""Simulator-like variants of the recorded Kaifa telegrams, re-encrypted and re-framed.

Built independently of the codecs: the plaintext APDU of a vector gets new numbers,
date-times, invoke-id and frame counter, is encrypted with AES-CTR as DLMS suite 0 does
(IV = system title ‖ frame counter, first counter block IV ‖ 00000002, no tag) and is cut
into M-Bus long frames like the recorded ones (EN 13757-2, CI bit 4 on the last segment).
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import strategies as st

from tests.unit.adapters._vectors import load

KAIFA = [v for v in load("mbus_dlms.json") if v["frames_hex"]]
PLAIN_KAIFA = [v for v in load("mbus_dlms.json") if not v["frames_hex"]]
# A-XDR number tags the Kaifa lists use -> value size (IEC 62056-6-2 §4.1.5).
NUMBER_SIZES = {0x05: 4, 0x06: 4, 0x0F: 1, 0x10: 2, 0x11: 1, 0x12: 2}
HEADER_TIME = slice(6, 18)  # 0F, long-invoke-id(4), 0C, date-time(12)
SEGMENT = 245


def plaintext(vector: dict[str, Any]) -> bytes:
    return bytes.fromhex(vector["plaintext_apdu_hex"])


def number_slots(apdu: bytes) -> list[tuple[int, int]]:
    """Return ``(offset, size)`` of every number that follows an OBIS code."""
    slots = []
    pos = apdu.find(b"\x09\x06")
    while 0 <= pos < len(apdu) - 9:
        size = NUMBER_SIZES.get(apdu[pos + 8])
        if size is not None:
            slots.append((pos + 9, size))
        pos = apdu.find(b"\x09\x06", pos + 8)
    return slots


def time_slots(apdu: bytes) -> list[int]:
    """Return where the header date-time and each copy of it in the body start."""
    stamp = b"\x09\x0c" + apdu[HEADER_TIME]
    slots = [HEADER_TIME.start]
    pos = apdu.find(stamp)
    while pos >= 0:
        slots.append(pos + 2)
        pos = apdu.find(stamp, pos + 1)
    return slots


@st.composite
def valid_times(draw: st.DrawFn) -> bytes:
    year = draw(st.integers(2000, 2099))
    fields = [
        draw(st.integers(1, 12)),
        draw(st.integers(1, 28)),
        draw(st.sampled_from([*range(1, 8), 0xFF])),
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
        draw(st.sampled_from([*range(60), 0xFF])),
        draw(st.sampled_from([0, 50, 99, 0xFF])),
    ]
    deviation = draw(st.sampled_from([-120, -60, 0, 60, -0x8000]))
    status = draw(st.sampled_from([0x00, 0x80, 0xFF]))
    return (
        year.to_bytes(2, "big")
        + bytes(fields)
        + deviation.to_bytes(2, "big", signed=True)
        + bytes((status,))
    )


def any_times() -> st.SearchStrategy[bytes]:
    """Valid date-times mostly, sometimes 12 arbitrary bytes (invalid dates)."""
    return st.one_of(valid_times(), valid_times(), st.binary(min_size=12, max_size=12))


@st.composite
def variants(draw: st.DrawFn, apdu: bytes, *, times: st.SearchStrategy[bytes]) -> bytes:
    """Return ``apdu`` with new numbers, invoke-id and date-times."""
    out = bytearray(apdu)
    for offset, size in number_slots(apdu):
        out[offset : offset + size] = draw(st.binary(min_size=size, max_size=size))
    out[1:5] = draw(st.binary(min_size=4, max_size=4))
    stamp = draw(times)
    for offset in time_slots(apdu):
        # Kaifa repeats the header time in the body; sometimes let them differ.
        if draw(st.integers(0, 4)) == 0:
            stamp = draw(times)
        out[offset : offset + 12] = stamp
    return bytes(out)


def ber_length(size: int) -> bytes:
    if size < 0x80:
        return bytes((size,))
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def ciphered(vector: dict[str, Any], apdu: bytes, frame_counter: int) -> bytes:
    """Encrypt ``apdu`` like the vector's meter: general-glo-ciphering without a tag."""
    security = vector["security"]
    title = bytes.fromhex(security["system_title_hex"])
    key = bytes.fromhex(vector["key_hex"])
    counter = frame_counter.to_bytes(4, "big")
    encryptor = Cipher(algorithms.AES(key), modes.CTR(title + counter + b"\0\0\0\2")).encryptor()
    content = bytes((int(security["security_control"], 16),)) + counter
    content += encryptor.update(apdu) + encryptor.finalize()
    return b"\xdb\x08" + title + ber_length(len(content)) + content


def mbus_stream(apdu: bytes) -> bytes:
    """Cut an APDU into M-Bus long frames (C 0x53, A 0xFF, STSAP/DTSAP 01 67)."""
    segments = [apdu[i : i + SEGMENT] for i in range(0, len(apdu), SEGMENT)]
    frames = []
    for seq, segment in enumerate(segments):
        ci = seq | (0x10 if seq == len(segments) - 1 else 0)
        body = bytes((0x53, 0xFF, ci, 0x01, 0x67)) + segment
        frames.append(
            bytes((0x68, len(body), len(body), 0x68)) + body + bytes((sum(body) & 0xFF, 0x16))
        )
    return b"".join(frames)
