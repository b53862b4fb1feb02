"""Seeds and mutators for fuzzing the codecs, shared by the tests and ``bench/fuzz.py``.

Every seed is a real vector of ``tests/data`` with its keys, plus each plaintext APDU
re-wrapped without encryption. A seed knows its layers (DSMR text or a DLMS APDU, the
security wrapper, the framing), so a mutator can change an inner byte or length and
build the frames again with valid checksums, lengths and tags: those mutations get past
the framers into the decoders. The builders follow the standards, not the codecs:
EN 13757-2 long frames, IEC 62056-46 HDLC with CRC-16/X-25, IEC 62056-5-3 general
block transfer and general-glo-ciphering, DSMR 5.0.2 with CRC-16/ARC.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from meterhub.adapters.codecs._crc import crc16_arc, crc16_x25
from tests.unit.adapters._vectors import load

Rng = random.Random
_SEGMENT = 245  # M-Bus DLMS segment the Austrian meters send (250-byte L)
_LLC = b"\xe6\xe7\x00"
_TAG = 12


class Security(NamedTuple):
    """The general-glo-ciphering header of a seed and the keys that seal it."""

    title: bytes
    sc: int
    counter: int
    key: bytes | None
    auth_key: bytes | None


class Seed(NamedTuple):
    """One recorded telegram and how to build it again from its inner bytes."""

    name: str
    framing: str  # mbus, hdlc, gbt, dsmr, apdu
    fmt: str  # the MeterDecoder format
    key: bytes | None
    auth_key: bytes | None
    stream: bytes
    frames: tuple[bytes, ...]
    inner: bytes | None  # plaintext APDU or DSMR text; None: no rebuild (negatives)
    security: Security | None


# ---------------------------------------------------------------- building frames


def ber(size: int) -> bytes:
    """Return a BER length in its shortest form (ISO 8825-1 §8.1.3)."""
    if size < 0x80:
        return bytes((size,))
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def seal(security: Security, plaintext: bytes) -> bytes:
    """Wrap ``plaintext`` in general-glo-ciphering as its meter would (suite 0)."""
    sc, counter = security.sc, security.counter.to_bytes(4, "big")
    iv = security.title + counter
    data = plaintext
    if sc & 0x30 and security.key is not None:
        gcm = AESGCM(security.key)
        aad = bytes((sc,)) + (security.auth_key or b"")
        if sc & 0x20:
            sealed = gcm.encrypt(iv, plaintext, aad if sc & 0x10 else b"")
            data = sealed[:-16] + (sealed[-16:-4] if sc & 0x10 else b"")
        else:  # authentication only: the plaintext is AAD (Green Book §9.2.7.2.4)
            data = plaintext + gcm.encrypt(iv, b"", aad + plaintext)[:_TAG]
    content = bytes((sc,)) + counter + data
    return b"\xdb" + bytes((len(security.title),)) + security.title + ber(len(content)) + content


def mbus_frame(body: bytes) -> bytes:
    """Return an EN 13757-2 long frame around C..data (L and CS computed)."""
    size = len(body) & 0xFF
    return bytes((0x68, size, size, 0x68)) + body + bytes((sum(body) & 0xFF, 0x16))


def hdlc_frame(head: bytes, info: bytes, *, segmented: bool) -> bytes:
    """Return an HDLC type-3 frame: ``head`` is addresses + control (IEC 62056-46 §6.4)."""
    length = 2 + len(head) + (2 + len(info) if info else 0) + 2
    fmt = (0xA8 if segmented else 0xA0) << 8 | (length & 0x7FF)
    frame = fmt.to_bytes(2, "big") + head
    if info:
        frame += crc16_x25(frame).to_bytes(2, "little") + info
    return b"\x7e" + frame + crc16_x25(frame).to_bytes(2, "little") + b"\x7e"


def dsmr_text(text: bytes, *, crc: bool) -> bytes:
    """Return a DSMR telegram whose CRC line matches its text (DSMR 5.0.2 §6.2)."""
    bang = text.rfind(b"!")
    body = text[: bang + 1] if bang >= 0 else text
    if not crc:
        return body + b"\r\n"
    return body + f"{crc16_arc(body):04X}\r\n".encode()


def _pieces(data: bytes, sizes: list[int]) -> list[bytes]:
    pieces, pos = [], 0
    for size in sizes[:-1]:
        if pos + size >= len(data):
            break
        pieces.append(data[pos : pos + size])
        pos += size
    step = max(sizes[0], 1)
    while len(data) - pos > max(sizes[-1], step):
        pieces.append(data[pos : pos + step])
        pos += step
    pieces.append(data[pos:])
    return pieces


def _hdlc_parts(frame: bytes) -> tuple[bytes, bytes]:
    """Split a recorded HDLC frame into its addresses+control and information field."""
    pos = 3
    for _ in range(2):
        while not frame[pos] & 1:
            pos += 1
        pos += 1
    return frame[3 : pos + 1], frame[pos + 3 : -3]


def _gbt_blocks(apdu: bytes, sizes: list[int]) -> list[bytes]:
    pieces = _pieces(apdu, sizes)
    return [
        bytes((0xE0, 0xC0 if number == len(pieces) else 0x40))
        + number.to_bytes(2, "big")
        + b"\0\0"
        + ber(len(piece))
        + piece
        for number, piece in enumerate(pieces, 1)
    ]


def frame(seed: Seed, apdu: bytes) -> bytes:
    """Put an APDU (or DSMR text) into the seed's framing, every checksum valid."""
    if seed.framing == "mbus":
        sizes = [len(f) - 11 for f in seed.frames]
        pieces = _pieces(apdu, sizes)
        head = seed.frames[0][4:6]
        transport = seed.frames[0][7:9]
        return b"".join(
            mbus_frame(
                head + bytes((seq | (0x10 if seq == len(pieces) - 1 else 0),)) + transport + p
            )
            for seq, p in enumerate(pieces)
        )
    if seed.framing in ("hdlc", "gbt"):
        heads, infos = zip(*(_hdlc_parts(f) for f in seed.frames), strict=True)
        if seed.framing == "gbt":
            sizes = [len(info) - 7 for info in infos]
            sizes[0] -= len(_LLC)
            pieces = _gbt_blocks(apdu, sizes)
        else:
            sizes = [len(info) for info in infos]
            sizes[0] -= len(_LLC)
            pieces = _pieces(apdu, sizes)
        last = len(pieces) - 1
        return b"".join(
            hdlc_frame(
                heads[-1] if i == last else heads[min(i, len(heads) - 1)],
                (_LLC if i == 0 else b"") + piece,
                segmented=seed.framing == "hdlc" and i < last,
            )
            for i, piece in enumerate(pieces)
        )
    if seed.framing == "dsmr" and apdu[:1] == b"/":
        return dsmr_text(apdu, crc=b"!\r\n" not in seed.stream[-4:])
    return apdu


def build(seed: Seed, inner: bytes) -> bytes:
    """Return the stream of ``seed`` carrying ``inner`` instead of its own content."""
    sealed = seal(seed.security, inner) if seed.security is not None else inner
    return frame(seed, sealed)


# ---------------------------------------------------------------- the seeds


def _hex(vector: dict[str, Any], field: str) -> bytes | None:
    value = vector.get(field)
    return bytes.fromhex(value) if value else None


def _security(vector: dict[str, Any], key: bytes | None, ak: bytes | None) -> Security | None:
    found = vector.get("security")
    if not found:
        return None
    sc = int(found["security_control"], 16)
    return Security(bytes.fromhex(found["system_title_hex"]), sc, found["frame_counter"], key, ak)


def _dlms_seeds(vector: dict[str, Any]) -> list[Seed]:
    frames = tuple(bytes.fromhex(f) for f in vector["frames_hex"])
    plain = bytes.fromhex(vector["plaintext_apdu_hex"])
    key, ak = _hex(vector, "key_hex"), _hex(vector, "auth_key_hex")
    if not frames:
        return [Seed(vector["id"], "apdu", "apdu", None, None, plain, (), plain, None)]
    framing = "mbus" if frames[0][0] == 0x68 else "hdlc"
    if vector.get("general_block_transfer"):
        framing = "gbt"
    security = _security(vector, key, ak)
    fmt = "mbus" if framing == "mbus" else "hdlc"
    seed = Seed(vector["id"], framing, fmt, key, ak, b"".join(frames), frames, plain, security)
    clear = seed._replace(name=seed.name + "+clear", security=None, key=None, auth_key=None)
    clear = clear._replace(stream=build(clear, plain))
    out = [seed, clear]
    if security is not None:
        open_glo = Security(security.title, 0x00, security.counter, None, None)
        glo = clear._replace(name=seed.name + "+glo00", security=open_glo)
        out.append(glo._replace(stream=build(glo, plain)))
    return out


def _dsmr_seeds(vector: dict[str, Any]) -> list[Seed]:
    text = str(vector["telegram"]).encode("latin-1")
    seed = Seed(vector["id"], "dsmr", "dsmr", None, None, text, (), text, None)
    found = vector.get("encrypted")
    if not found:
        return [seed]
    key, ak = bytes.fromhex(found["key_hex"]), bytes.fromhex(found["auth_key_hex"])
    title = bytes.fromhex(found["system_title_hex"])
    counter = found["frame_counter"]
    security = Security(title, int(found["security_control"], 16), counter, key, ak)
    # The published AK fails the recorded tag (tests/data/README.md): decode EK-only;
    # the telegrams rebuilt here are sealed with that AK all the same.
    sealed = seed._replace(key=key, stream=bytes.fromhex(found["apdu_hex"]), security=security)
    clear = seed._replace(name=seed.name + "+clear")
    glo = seed._replace(name=seed.name + "+glo00", security=Security(title, 0, counter, None, None))
    return [sealed, clear, glo._replace(stream=build(glo, text))]


def _negative_seed(vector: dict[str, Any]) -> Seed:
    if vector.get("frames_hex"):
        frames = tuple(bytes.fromhex(f) for f in vector["frames_hex"])
        fmt = "mbus" if frames[0][0] == 0x68 else "hdlc"
        stream = b"".join(frames)
    elif "apdu_hex" in vector:
        frames, fmt, stream = (), "dsmr", bytes.fromhex(vector["apdu_hex"])
    else:
        frames, fmt, stream = (), "dsmr", str(vector["telegram"]).encode("latin-1")
    key, ak = _hex(vector, "key_hex"), _hex(vector, "auth_key_hex")
    return Seed(vector["id"], fmt, fmt, key, ak, stream, frames, None, None)


def seeds() -> list[Seed]:
    """Return every real vector as a seed, and the plaintext ones re-wrapped in clear."""
    out: list[Seed] = []
    for vector in load("mbus_dlms.json") + load("hdlc_dlms.json"):
        out += _dlms_seeds(vector)
    for vector in load("dsmr_p1.json"):
        out += _dsmr_seeds(vector)
    out += [_negative_seed(vector) for vector in load("negative.json")]
    return out


# ---------------------------------------------------------------- A-XDR positions


class Fields(NamedTuple):
    """Where the length fields and the numbers of a plaintext APDU sit."""

    lengths: list[tuple[int, int]]  # (offset, size of the length field)
    numbers: list[tuple[int, int]]  # (offset, size)


_FIXED = {0x05: 4, 0x06: 4, 0x10: 2, 0x12: 2, 0x14: 8, 0x15: 8, 0x17: 4, 0x18: 8,
          0x0F: 1, 0x11: 1, 0x16: 1, 0x03: 1, 0x0D: 1, 0x19: 12, 0x1A: 5, 0x1B: 4}  # fmt: skip


def _length(buf: bytes, pos: int) -> tuple[int, int]:
    first = buf[pos]
    if first < 0x80:
        return first, 1
    size = first & 0x7F
    return int.from_bytes(buf[pos + 1 : pos + 1 + size], "big"), 1 + size


def _element(buf: bytes, pos: int, found: Fields) -> int:
    tag = buf[pos]
    if tag in _FIXED:
        found.numbers.append((pos + 1, _FIXED[tag]))
        return pos + 1 + _FIXED[tag]
    if tag == 0x00:
        return pos + 1
    value, size = _length(buf, pos + 1)
    found.lengths.append((pos + 1, size))
    pos += 1 + size
    if tag in (0x01, 0x02):
        for _ in range(value):
            pos = _element(buf, pos, found)
        return pos
    return pos + ((value + 7) // 8 if tag == 0x04 else value)


def apdu_fields(apdu: bytes) -> Fields:
    """Walk a data-notification (IEC 62056-5-3 §9.3) and note its fields."""
    found = Fields([], [(1, 4)])
    pos = 5
    if apdu[pos] == 0x09:
        found.lengths.append((pos + 1, 1))
        pos += 2
    elif apdu[pos] == 0x0C:
        found.lengths.append((pos, 1))
        pos += 1
    if apdu[pos - 1] == 0x0C:
        found.numbers.append((pos, 12))
        pos += 12
    else:
        pos += 1
    _element(apdu, pos, found)
    return found


# ---------------------------------------------------------------- mutators

Pool = list[Seed]
Mutator = Callable[[Rng, Seed, Pool], bytes]


def _flip(rng: Rng, data: bytes, most: int = 8) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, most)):
        bit = rng.randrange(len(out) * 8)
        out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def _edit(rng: Rng, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(out) + 1)
        action = rng.randrange(3)
        if action == 0 and pos < len(out):
            out[pos] = rng.randrange(256)
        elif action == 1:
            out[pos:pos] = rng.randbytes(rng.randint(1, 4))
        else:
            del out[pos : pos + rng.randint(1, 4)]
    return bytes(out)


def _boundaries(seed: Seed) -> list[int]:
    """Offsets in the stream where a frame starts or ends."""
    cuts, pos = [0], 0
    for f in seed.frames:
        pos += len(f)
        cuts.append(pos)
    return cuts


def _cut_point(rng: Rng, seed: Seed) -> int:
    size = len(seed.stream)
    starts = _boundaries(seed)
    base = rng.choice(starts)
    kind = rng.randrange(5)
    if kind == 0:  # inside a header or its length field
        return min(size, base + rng.randrange(12))
    if kind == 1:  # just before a checksum/CRC and stop byte
        end = rng.choice(starts[1:] or [size])
        return max(0, end - rng.randint(1, 4))
    if kind == 2 and seed.framing == "dsmr":  # before or inside the DSMR CRC line
        bang = seed.stream.rfind(b"!")
        return max(0, bang + rng.randrange(-2, 7))
    return rng.randrange(size + 1)


def random_bytes(rng: Rng, _seed: Seed, _pool: Pool) -> bytes:
    data = rng.randbytes(rng.randrange(1, 600))
    if rng.random() < 0.5:  # start like a frame, so the framers look further
        data = rng.choice((b"\x68", b"\x7e\xa0", b"/", b"\xdb\x08", b"\x0f", b"\x7e")) + data
    return data


def bit_flips(rng: Rng, seed: Seed, _pool: Pool) -> bytes:
    return _flip(rng, seed.stream)


def byte_edits(rng: Rng, seed: Seed, _pool: Pool) -> bytes:
    return _edit(rng, seed.stream)


def cuts(rng: Rng, seed: Seed, _pool: Pool) -> bytes:
    cut = _cut_point(rng, seed)
    if rng.random() < 0.2:  # cut off the start instead of the end
        return seed.stream[cut:]
    return seed.stream[:cut]


def _frame_length(rng: Rng, raw: bytes, *, fix: bool) -> bytes:
    """Change the length field of one recorded frame, rebuilding its checksums or not."""
    delta = rng.choice((-3, -2, -1, 1, 2, 3, rng.randrange(-300, 300)))
    if raw[0] == 0x68:
        new = max(0, min(255, raw[1] + delta))
        if not fix:
            both = rng.random() < 0.7
            return bytes((0x68, new, new if both else raw[2])) + raw[3:]
        body = raw[4:-2]
        body = body[:new] if new <= len(body) else body + rng.randbytes(new - len(body))
        return mbus_frame(body)
    length = ((raw[1] & 0x07) << 8 | raw[2]) + delta
    length = max(0, min(0x7FF, length))
    fmt = (raw[1] & 0xF8) << 8 | length
    if not fix:
        return raw[:1] + fmt.to_bytes(2, "big") + raw[3:]
    head, info = _hdlc_parts(raw)
    keep = max(0, length - 2 - len(head) - 4)
    info = info[:keep] if keep <= len(info) else info + rng.randbytes(keep - len(info))
    return hdlc_frame(head, info, segmented=bool(raw[1] & 0x08))


def frame_lengths(rng: Rng, seed: Seed, _pool: Pool) -> bytes:
    if not seed.frames:
        return _length_text(rng, seed)
    frames = list(seed.frames)
    index = rng.randrange(len(frames))
    frames[index] = _frame_length(rng, frames[index], fix=rng.random() < 0.5)
    return b"".join(frames)


def _length_text(rng: Rng, seed: Seed) -> bytes:
    """A length-like change for frames without a frame length: a BER length, a CRC digit."""
    data = bytearray(seed.stream)
    if data[:1] == b"\xdb" and len(data) > 11:
        data[10] = rng.choice((0x00, 0x7F, 0x80, 0x81, 0x82, 0x83, 0x85, 0xFF, rng.randrange(256)))
    else:
        bang = data.rfind(b"!")
        if bang >= 0 and bang + 1 < len(data):
            data[bang + 1] = rng.choice(b"0123456789ABCDEFZ\r")
    return bytes(data)


def _new_length(rng: Rng, buf: bytearray, pos: int, size: int) -> None:
    value = int.from_bytes(buf[pos + 1 : pos + size], "big") if size > 1 else buf[pos]
    new = rng.choice((value + 1, value - 1, 0, value * 2, rng.randrange(0x10000), 0x80, 0x7F))
    buf[pos : pos + size] = (
        ber(max(0, new)) if rng.random() < 0.7 else bytes((0x80 | rng.randrange(8),))
    )


def axdr_lengths(rng: Rng, seed: Seed, pool: Pool) -> bytes:
    """Change an A-XDR count or string length, or a BER length, inside the APDU."""
    if seed.inner is None or seed.inner[:1] != b"\x0f":
        return frame_lengths(rng, seed, pool)
    inner = bytearray(seed.inner)
    fields = apdu_fields(seed.inner)
    pos, size = rng.choice(fields.lengths)
    _new_length(rng, inner, pos, size)
    return build(seed, bytes(inner))


def ciphered_length(rng: Rng, seed: Seed, pool: Pool) -> bytes:
    """Change the BER length of the ciphered content, then frame it with valid checksums."""
    if seed.inner is None or seed.security is None:
        return axdr_lengths(rng, seed, pool)
    sealed = bytearray(seal(seed.security, seed.inner))
    at = 2 + len(seed.security.title)
    size = 1 + (sealed[at] & 0x7F) if sealed[at] & 0x80 else 1
    _new_length(rng, sealed, at, size)
    return frame(seed, bytes(sealed))


def inner_edits(rng: Rng, seed: Seed, pool: Pool) -> bytes:
    """Flip, edit or cut the plaintext (or DSMR text), then rebuild every layer."""
    if seed.inner is None:
        return bit_flips(rng, seed, pool)
    inner = seed.inner
    kind = rng.randrange(3)
    if kind == 0:
        inner = _flip(rng, inner, 3)
    elif kind == 1:
        inner = _edit(rng, inner)
    else:
        inner = inner[: rng.randrange(len(inner) + 1)]
    return build(seed, inner)


def sealed_edits(rng: Rng, seed: Seed, pool: Pool) -> bytes:
    """Corrupt the ciphered APDU (title, SC, counter, ciphertext, tag), frame it validly."""
    if seed.inner is None or seed.security is None:
        return inner_edits(rng, seed, pool)
    return frame(seed, _flip(rng, seal(seed.security, seed.inner), 2))


def values(rng: Rng, seed: Seed, pool: Pool) -> bytes:
    """New numbers and date-time bytes in the same layout: most decode, many from cache."""
    if seed.inner is None or seed.inner[:1] != b"\x0f":
        return inner_edits(rng, seed, pool)
    inner = bytearray(seed.inner)
    for pos, size in apdu_fields(seed.inner).numbers:
        if rng.random() < 0.5:
            inner[pos : pos + size] = rng.randbytes(size)
    return build(seed, bytes(inner))


def splices(rng: Rng, seed: Seed, pool: Pool) -> bytes:
    other = rng.choice(pool)
    head = seed.stream[: rng.randrange(len(seed.stream) + 1)]
    return head + other.stream[rng.randrange(len(other.stream) + 1) :]


def segments(rng: Rng, seed: Seed, pool: Pool) -> bytes:
    """Duplicate, drop or reorder frames; repeat whole telegrams."""
    frames = list(seed.frames) or [seed.stream]
    kind = rng.randrange(4)
    if kind == 0:
        index = rng.randrange(len(frames))
        frames.insert(index, frames[index])
    elif kind == 1 and len(frames) > 1:
        del frames[rng.randrange(len(frames))]
    elif kind == 2:
        rng.shuffle(frames)
    else:
        frames = frames * rng.randint(2, 3) + list(rng.choice(pool).frames)
    return b"".join(frames)


def noise(rng: Rng, seed: Seed, _pool: Pool) -> bytes:
    """Put noise (or delimiters) before, between and after the frames."""
    frames = list(seed.frames) or [seed.stream]
    out = bytearray()
    for f in [*frames, b""]:
        if rng.random() < 0.6:
            fill = rng.choice((b"\x7e", b"\r\n", b"\x00", b"\xff"))
            out += rng.randbytes(rng.randrange(1, 40)) if rng.random() < 0.6 else fill * 3
        out += f
    return bytes(out)


MUTATORS: dict[str, Mutator] = {
    "random": random_bytes,
    "bit_flip": bit_flips,
    "byte_edit": byte_edits,
    "cut": cuts,
    "frame_length": frame_lengths,
    "axdr_length": axdr_lengths,
    "ciphered_length": ciphered_length,
    "inner_edit": inner_edits,
    "sealed_edit": sealed_edits,
    "values": values,
    "splice": splices,
    "segments": segments,
    "noise": noise,
}
"""Mutator name -> function ``(rng, seed, all seeds) -> input bytes``."""
