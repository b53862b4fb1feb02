"""Independent readers for the simulator tests: vectors, M-Bus frames, AES-CTR, A-XDR, CRC.

Written from the standards, not from the simulator, so a test compares two readings
of the same format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

DATA = Path(__file__).parent / "data"


def load_vectors(name: str) -> dict[str, dict[str, Any]]:
    """Vectors of one file, by id."""
    items = msgspec.json.decode((DATA / name).read_bytes())
    return {item["id"]: item for item in items}


@dataclass(frozen=True)
class Frame:
    length: int
    c: int
    a: int
    ci: int
    transport: bytes
    data: bytes


def split_mbus(stream: bytes) -> list[Frame]:
    """Cut a byte stream into EN 13757-2 long frames, checking every field."""
    frames = []
    pos = 0
    while pos < len(stream):
        assert stream[pos] == 0x68, f"start byte at {pos}"
        length = stream[pos + 1]
        assert stream[pos + 2] == length, "L repeated"
        assert stream[pos + 3] == 0x68, "second start byte"
        body = stream[pos + 4 : pos + 4 + length]
        assert len(body) == length, "truncated frame"
        checksum, stop = stream[pos + 4 + length], stream[pos + 5 + length]
        assert checksum == sum(body) % 256, "checksum"
        assert stop == 0x16, "stop byte"
        frames.append(Frame(length, body[0], body[1], body[2], body[3:5], body[5:]))
        pos += length + 6
    return frames


@dataclass(frozen=True)
class Ciphered:
    system_title: bytes
    security_control: int
    frame_counter: int
    ciphertext: bytes


def parse_glo(apdu: bytes) -> Ciphered:
    """Read a general-glo-ciphering APDU (0xDB) with a BER length."""
    assert apdu[0] == 0xDB
    assert apdu[1] == 8
    title = apdu[2:10]
    pos = 10
    first = apdu[pos]
    if first < 0x80:
        size, pos = first, pos + 1
    else:
        n = first & 0x7F
        size, pos = int.from_bytes(apdu[pos + 1 : pos + 1 + n], "big"), pos + 1 + n
    content = apdu[pos:]
    assert len(content) == size, "ciphered length"
    return Ciphered(title, content[0], int.from_bytes(content[1:5], "big"), content[5:])


def ctr_decrypt(key: bytes, ciphered: Ciphered) -> bytes:
    """GCM without tag = CTR from IV || 00000002 (NIST SP 800-38D)."""
    iv = ciphered.system_title + ciphered.frame_counter.to_bytes(4, "big")
    dec = Cipher(algorithms.AES(key), modes.CTR(iv + (2).to_bytes(4, "big"))).decryptor()
    return dec.update(ciphered.ciphertext) + dec.finalize()


def read_axdr(data: bytes, pos: int = 0) -> tuple[Any, int]:
    """Read one A-XDR value: structures as lists, octet strings as bytes, ints as ints."""
    tag = data[pos]
    pos += 1
    if tag == 0x02:
        count = data[pos]
        pos += 1
        items = []
        for _ in range(count):
            item, pos = read_axdr(data, pos)
            items.append(item)
        return items, pos
    if tag == 0x09:
        size = data[pos]
        return data[pos + 1 : pos + 1 + size], pos + 1 + size
    sizes = {0x06: (4, False), 0x12: (2, False), 0x0F: (1, True), 0x16: (1, False)}
    size, signed = sizes[tag]
    return int.from_bytes(data[pos : pos + size], "big", signed=signed), pos + size


@dataclass(frozen=True)
class Notification:
    invoke: int
    header_time: bytes
    body: list[Any]


def read_notification(apdu: bytes) -> Notification:
    assert apdu[0] == 0x0F
    invoke = int.from_bytes(apdu[1:5], "big")
    assert apdu[5] == 12
    body, end = read_axdr(apdu, 18)
    assert end == len(apdu), "trailing bytes"
    return Notification(invoke, apdu[6:18], body)


def registers(body: list[Any]) -> dict[bytes, tuple[int, int, int]]:
    """OBIS -> (raw, scaler, unit) for both Kaifa layouts, walked generically."""
    out: dict[bytes, tuple[int, int, int]] = {}
    flat = [x for x in body if not isinstance(x, list) or len(x) != 3]
    for item in body:
        if isinstance(item, list) and len(item) == 3:
            obis, raw, (scaler, unit) = item
            out[obis] = (raw, scaler, unit)
    for i in range(len(flat) - 2):
        obis, raw, su = flat[i], flat[i + 1], flat[i + 2]
        if (
            isinstance(obis, bytes)
            and len(obis) == 6
            and isinstance(raw, int)
            and isinstance(su, list)
        ):
            out[obis] = (raw, su[0], su[1])
    return out


def crc16_arc_bitwise(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc
