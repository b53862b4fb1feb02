"""Framers give the right reason for every bad frame and account for every byte.

The bytes are the recorded vectors, cut, enlarged, corrupted and mixed with noise.
Each error about stream bytes carries them (``data``) at their stream ``offset``.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import pytest

from meterhub.adapters.codecs import (
    DecodeError,
    HdlcFramer,
    MbusFramer,
    MeterDecoder,
    Telegram,
    iter_decode,
)
from meterhub.adapters.codecs._crc import crc16_x25
from tests.unit.adapters._vectors import key, load

if TYPE_CHECKING:
    from collections.abc import Callable

    from meterhub.adapters.codecs._scan import FrameScanner

MBUS = [v for v in load("mbus_dlms.json") if v["frames_hex"]]
HDLC = load("hdlc_dlms.json")
NOE = MBUS[0]
AIDON = HDLC[0]
SEGMENTED = [v for v in HDLC if len(v["frames_hex"]) > 1]  # Iskra (A8 segments), E450 (GBT)
NOISE = bytes.fromhex("00FF6810E5166868FA") + b"noise\r\n"
FRAMERS: dict[str, Callable[[], FrameScanner]] = {"mbus": MbusFramer, "hdlc": HdlcFramer}
Item = bytes | DecodeError


def _frames(vector: dict[str, Any]) -> list[bytes]:
    return [bytes.fromhex(frame) for frame in vector["frames_hex"]]


def _run(fmt: str, data: bytes, chunk: int = 0) -> list[Item]:
    framer = FRAMERS[fmt]()
    size = chunk or max(len(data), 1)
    out = [
        item for pos in range(0, len(data), size) for item in framer.feed(data[pos : pos + size])
    ]
    return out + framer.flush()


def _errors(items: list[Any]) -> list[DecodeError]:
    return [item for item in items if isinstance(item, DecodeError)]


def _plain(items: list[Any]) -> list[tuple[Any, ...]]:
    """Make results comparable: errors by reason, offset and bytes (not wording)."""
    return [
        (item.reason, item.offset, item.data) if isinstance(item, DecodeError) else (item,)
        for item in items
    ]


def _assert_chunking_irrelevant(fmt: str, data: bytes) -> list[Item]:
    whole = _run(fmt, data)
    for chunk in (*range(1, 18), 64, 255, 256, 1000):
        assert _plain(_run(fmt, data, chunk)) == _plain(whole), chunk
    return whole


def _assert_exact(data: bytes, errors: list[DecodeError]) -> None:
    """Every error names the exact stream bytes it skipped, and no byte twice.

    A segmented APDU is reported when it is known to be dead, which may be after the
    errors about bytes that came after its frames.
    """
    end = 0
    for error in sorted(errors, key=lambda e: e.offset or 0):
        assert error.data is not None, error
        assert error.offset is not None, error
        assert data[error.offset : error.offset + len(error.data)] == error.data, error
        assert error.offset >= end, (error, "overlaps the previous error")
        end = error.offset + len(error.data)


def _assert_conserved(data: bytes, errors: list[DecodeError], delimiter: bytes = b"") -> None:
    """The errors' bytes and the delimiters between them make up the whole stream."""
    _assert_exact(data, errors)
    covered = bytearray(len(data))
    for error in errors:
        assert error.offset is not None
        assert error.data is not None
        covered[error.offset : error.offset + len(error.data)] = b"\1" * len(error.data)
    rest = bytes(byte for byte, seen in zip(data, covered, strict=True) if not seen)
    assert rest.strip(delimiter) == b"", rest


def _assert_replays(fmt: str, error: DecodeError) -> None:
    """The bytes of a rejection, framed again on their own, are rejected alike."""
    assert error.data is not None
    again = _run(fmt, error.data)
    assert again, error
    assert {e.reason for e in _errors(again)} == {error.reason}, (error, again)
    assert not [item for item in again if isinstance(item, bytes)]


def _with_length(frame: bytes, length: int, *, fix_hcs: bool) -> bytes:
    """Return an HDLC frame whose format field claims ``length``."""
    out = bytearray(frame)
    out[1] = (out[1] & 0xF8) | (length >> 8)
    out[2] = length & 0xFF
    if fix_hcs:
        pos = 3  # two addresses, each ending in a byte with bit 0 set
        for _ in range(2):
            while not out[pos] & 1:
                pos += 1
            pos += 1
        header = pos + 1  # after the control byte
        out[header : header + 2] = crc16_x25(bytes(out[1:header])).to_bytes(2, "little")
    return bytes(out)


def _mbus_frame(body: bytes) -> bytes:
    return bytes([0x68, len(body), len(body), 0x68]) + body + bytes([sum(body) & 0xFF, 0x16])


# --- cut-off frames and length fields larger than the data: truncated ---------------


@pytest.mark.parametrize("vector", HDLC, ids=[v["id"] for v in HDLC])
def test_cut_off_hdlc_frame_is_truncated(vector: dict[str, Any]) -> None:
    frame = _frames(vector)[0]
    for cut in (3, 5, 9, 20, len(frame) // 2, len(frame) - 2, len(frame) - 1):
        data = frame[:cut]
        results = list(iter_decode(data, key=key(vector), auth_key=key(vector, "auth_key_hex")))
        assert _plain(results) == [("truncated", 0, data)], (cut, results)
        _assert_chunking_irrelevant("hdlc", data)
        _assert_replays("hdlc", _errors(results)[0])


@pytest.mark.parametrize("vector", MBUS, ids=[v["id"] for v in MBUS])
def test_cut_off_mbus_frame_is_truncated(vector: dict[str, Any]) -> None:
    frames = _frames(vector)
    for cut in (3, 4, 10, len(frames[0]) // 2, len(frames[0]) - 1):
        data = frames[0][:cut]
        results = list(iter_decode(data, key=key(vector)))
        assert _plain(results) == [("truncated", 0, data)], (cut, results)
        _assert_replays("mbus", _errors(results)[0])
    # The last frame cut off: the first one is reported with it, nothing is lost.
    data = frames[0] + frames[1][:-3]
    errors = _errors(_assert_chunking_irrelevant("mbus", data))
    assert [e.reason for e in errors] == ["truncated", "truncated"]
    _assert_conserved(data, errors)


@pytest.mark.parametrize("fix_hcs", [True, False], ids=["hcs-recomputed", "hcs-stale"])
def test_hdlc_length_larger_than_the_data_is_truncated(*, fix_hcs: bool) -> None:
    frame = _frames(AIDON)[0]
    for extra in (1, 2, 40, 300):
        enlarged = _with_length(frame, len(frame) - 2 + extra, fix_hcs=fix_hcs)
        results = list(iter_decode(enlarged))
        assert _plain(results) == [("truncated", 0, enlarged)], (extra, results)
        _assert_replays("hdlc", _errors(results)[0])


def test_hdlc_frame_cut_off_by_the_next_frame_is_truncated() -> None:
    frame = _frames(AIDON)[0]
    for extra in (2, 40, 300):
        enlarged = _with_length(frame, len(frame) - 2 + extra, fix_hcs=True)
        for torn in (enlarged, frame[:60], frame[:-3]):
            data = torn + frame
            results = _assert_chunking_irrelevant("hdlc", data)
            assert _plain(results) == [("truncated", 0, torn), (_run("hdlc", frame)[0],)]
            _assert_replays("hdlc", _errors(results)[0])


def test_hdlc_frame_without_closing_flag_and_no_next_frame_is_malformed() -> None:
    frame = _frames(AIDON)[0]
    enlarged = _with_length(frame, len(frame) + 10, fix_hcs=True)
    data = enlarged + bytes(20)
    errors = _errors(_assert_chunking_irrelevant("hdlc", data))
    assert errors[0].reason == "malformed"
    assert errors[0].offset == 0
    assert errors[0].data == data[: len(frame) + 12]
    assert "closing flag" in errors[0].detail
    _assert_conserved(data, errors)
    _assert_replays("hdlc", errors[0])


def test_mbus_frame_cut_off_by_the_next_frame_is_truncated() -> None:
    frames = _frames(NOE)
    torn = frames[0][:120]
    data = torn + b"".join(frames)
    results = _assert_chunking_irrelevant("mbus", data)
    assert _plain(results)[0] == ("truncated", 0, torn)
    assert isinstance(results[1], bytes)
    assert len(results) == 2
    _assert_replays("mbus", _errors(results)[0])


def test_mbus_wrong_stop_byte_with_no_next_frame_is_malformed() -> None:
    frame = bytearray(_frames(NOE)[1])
    frame[-1] = 0x17
    errors = _errors(_assert_chunking_irrelevant("mbus", bytes(frame) + bytes(8)))
    assert _plain(errors) == [("malformed", 0, bytes(frame)), ("unsupported", len(frame), bytes(8))]
    _assert_replays("mbus", errors[0])


# --- corrupted M-Bus headers: malformed, before the orphaned segment ------------------


@pytest.mark.parametrize("vector", MBUS, ids=[v["id"] for v in MBUS])
@pytest.mark.parametrize(("index", "value"), [(1, 0xF9), (2, 0xFB), (3, 0x69), (3, 0x00)])
def test_corrupted_mbus_header_is_malformed(vector: dict[str, Any], index: int, value: int) -> None:
    first, last = _frames(vector)
    broken = bytearray(first)
    broken[index] = value
    data = bytes(broken) + last
    results = list(iter_decode(data, key=key(vector)))
    assert _plain(results) == [("malformed", 0, bytes(broken)), ("truncated", len(first), last)]
    assert "header" in results[0].detail  # type: ignore[union-attr]
    assert _plain(_assert_chunking_irrelevant("mbus", data)) == _plain(results)
    _assert_replays("mbus", _errors(results)[0])


def test_mbus_header_with_two_defects_is_noise() -> None:
    first, last = _frames(NOE)
    broken = bytearray(first)
    broken[2] = 0x00
    broken[3] = 0x00
    errors = _errors(_run("mbus", bytes(broken) + last))
    assert [e.reason for e in errors] == ["unsupported", "truncated"]
    _assert_conserved(bytes(broken) + last, errors)


# --- frames that carry no DLMS: unsupported ------------------------------------------

NO_DLMS = {
    "short frame": bytes.fromhex("107BFE7916"),
    "single character": b"\xe5",
    "control frame": _mbus_frame(bytes.fromhex("53FF10")),
    "no APDU after STSAP/DTSAP": _mbus_frame(bytes.fromhex("53FF100167")),
    "STSAP only": _mbus_frame(bytes.fromhex("53FF1001")),
    "EN 13757-3 data": _mbus_frame(bytes.fromhex("0805720000000000")),
}


@pytest.mark.parametrize("frame", NO_DLMS.values(), ids=NO_DLMS.keys())
def test_mbus_frame_without_dlms_is_unsupported(frame: bytes) -> None:
    results = list(iter_decode(frame))
    assert _plain(results) == [("unsupported", 0, frame)]
    _assert_replays("mbus", _errors(results)[0])
    # Between and around real frames: the telegrams survive, the bytes are reported.
    good = b"".join(_frames(NOE))
    data = frame + good + frame + good + frame
    results = _assert_chunking_irrelevant("mbus", data)
    assert _plain(_errors(results)) == [
        ("unsupported", at, frame)
        for at in (0, len(frame) + len(good), 2 * (len(frame) + len(good)))
    ]
    assert len([r for r in results if isinstance(r, bytes)]) == 2


def test_no_dlms_frame_between_segments_keeps_the_telegram() -> None:
    first, last = _frames(NOE)
    for frame in NO_DLMS.values():
        results = _run("mbus", first + frame + last)
        assert _plain(_errors(results)) == [("unsupported", len(first), frame)]
        assert [r for r in results if isinstance(r, bytes)] == [_run("mbus", first + last)[0]]


def test_hdlc_frame_without_information_field_is_unsupported() -> None:
    frame = bytearray(b"\xa0\x07\x03\x21\x93")  # format, dst 03, src 21, control SNRM
    frame[1] = len(frame) + 2
    fcs = crc16_x25(bytes(frame)).to_bytes(2, "little")
    whole = b"\x7e" + bytes(frame) + fcs + b"\x7e"
    results = list(iter_decode(whole))
    assert _plain(results) == [("unsupported", 0, whole)]
    assert "no DLMS APDU" in results[0].detail  # type: ignore[union-attr]


# --- noise: reported with exact offsets, never dropped --------------------------------


@pytest.mark.parametrize(
    ("fmt", "vector"), [("mbus", NOE), ("hdlc", AIDON), ("hdlc", SEGMENTED[0])]
)
def test_noise_before_between_and_after_frames(fmt: str, vector: dict[str, Any]) -> None:
    good = b"".join(_frames(vector))
    data = NOISE + good + NOISE + good + NOISE
    results = _assert_chunking_irrelevant(fmt, data)
    errors = _errors(results)
    step = len(NOISE) + len(good)
    assert _plain(errors) == [("unsupported", at, NOISE) for at in (0, step, 2 * step)]
    assert "no " in errors[0].detail
    assert f"at byte {step}" in errors[1].detail
    assert len([r for r in results if isinstance(r, bytes)]) == 2
    _assert_replays(fmt, errors[0])


def test_hdlc_fill_flags_and_shared_flags_carry_nothing() -> None:
    frames = _frames(SEGMENTED[0])
    shared = frames[0] + b"".join(f[1:] for f in frames[1:])
    filled = b"\x7e\x7e" + b"\x7e\x7e".join(frames) + b"\x7e\x7e"
    for data in (shared, filled, NOISE + b"\x7e\x7e" + shared):
        results = _assert_chunking_irrelevant("hdlc", data)
        assert [r.data for r in _errors(results)] == ([NOISE] if data.startswith(NOISE) else [])
        assert len(results) == len(_errors(results)) + 1


@pytest.mark.parametrize("fmt", ["mbus", "hdlc"])
@pytest.mark.parametrize("seed", range(3))
def test_noise_only_stream_is_reported_in_bounded_pieces(fmt: str, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    data = bytes(rng.randrange(256) for _ in range(10_000))
    for chunk in (0, 1, 97, 4096):
        errors = _errors(_run(fmt, data, chunk))
        assert {e.reason for e in errors} <= {"unsupported", "truncated", "malformed", "checksum"}
        assert max(len(e.data or b"") for e in errors) <= 4096
        _assert_conserved(data, errors, b"\x7e" if fmt == "hdlc" else b"")
    assert _plain(_run(fmt, data, 1)) == _plain(_run(fmt, data))


@pytest.mark.parametrize("vector", MBUS + HDLC, ids=[v["id"] for v in MBUS + HDLC])
def test_corrupted_only_stream_reports_every_byte(vector: dict[str, Any]) -> None:
    fmt = "mbus" if vector in MBUS else "hdlc"
    rng = random.Random(vector["id"])  # noqa: S311 - test data, not secrets
    frames = []
    for frame in _frames(vector):
        broken = bytearray(frame)
        broken[rng.randrange(5, len(frame) - 3)] ^= 0x5A  # inside the body: a checksum fails
        frames.append(bytes(broken))
    data = NOISE.join(frames) + NOISE
    errors = _errors(_assert_chunking_irrelevant(fmt, data))
    assert "checksum" in {e.reason for e in errors}
    _assert_conserved(data, errors, b"\x7e" if fmt == "hdlc" else b"")
    assert sum(len(e.data or b"") for e in errors if e.reason == "unsupported") == len(NOISE) * len(
        frames
    )


# --- segmented APDUs that never complete: all their frames' bytes ---------------------


def test_mbus_first_segment_without_its_last_reports_its_bytes() -> None:
    first, last = _frames(NOE)
    data = first + NOISE + first + last
    results = _assert_chunking_irrelevant("mbus", data)
    # The first segment is known to be dead when the next first segment arrives.
    assert _plain(_errors(results)) == [("unsupported", len(first), NOISE), ("truncated", 0, first)]
    assert len([r for r in results if isinstance(r, bytes)]) == 1
    _assert_replays("mbus", _errors(_run("mbus", first))[0])


def test_mbus_orphan_segment_reports_the_pending_one_first() -> None:
    first, last = _frames(NOE)
    orphan = bytearray(last)
    orphan[6] = 0x12  # segment 2, last
    orphan[-2] = (orphan[-2] + 1) & 0xFF
    data = first + bytes(orphan)
    assert _plain(_errors(_run("mbus", data))) == [
        ("truncated", 0, first),
        ("truncated", len(first), bytes(orphan)),
    ]


@pytest.mark.parametrize("vector", SEGMENTED, ids=[v["id"] for v in SEGMENTED])
def test_hdlc_segments_without_the_final_report_all_their_bytes(vector: dict[str, Any]) -> None:
    frames = _frames(vector)
    for count in range(1, len(frames)):
        kept = b"".join(frames[:count])
        for data in (kept, kept + NOISE, kept + kept + b"".join(frames[count:])):
            results = _assert_chunking_irrelevant("hdlc", data)
            errors = sorted(_errors(results), key=lambda e: e.offset or 0)
            assert errors[0].reason == "truncated", errors
            assert errors[0].offset == 0
            assert errors[0].data == kept[:-1]  # the closing flag is a delimiter
            _assert_exact(data, errors)
            _assert_replays("hdlc", errors[0])


# --- format detection and the auto decoder ---------------------------------------------


def test_nothing_recognised_reports_the_whole_input() -> None:
    data = NOISE * 10
    results = list(iter_decode(data))
    assert _plain(results) == [("unsupported", 0, data)]


def test_auto_decoder_reports_what_it_drops_while_detecting() -> None:
    rng = random.Random(7)  # noqa: S311 - test data, not secrets
    noise = bytes(rng.randrange(256) for _ in range(20_000)).replace(b"\x68", b"\x00")
    noise = noise.replace(b"\x7e", b"\x00").replace(b"\x10", b"\x00").replace(b"/", b"\x00")
    data = noise + b"".join(_frames(NOE))
    expected: list[Any] | None = None
    for chunk in (len(data), 1, 100, 4096, 5000):
        decoder = MeterDecoder("auto", key(NOE))
        out = [
            r for pos in range(0, len(data), chunk) for r in decoder.feed(data[pos : pos + chunk])
        ]
        out += decoder.flush()
        errors = _errors(out)
        assert [type(r) for r in out if not isinstance(r, DecodeError)] == [Telegram]
        _assert_conserved(noise, errors)
        assert sum(len(e.data or b"") for e in errors) == len(noise)
        assert max(len(e.data or b"") for e in errors) <= 4096
        assert expected is None or _plain(errors) == expected, chunk
        expected = _plain(errors)


def test_auto_decoder_reports_undetected_bytes_at_flush_and_reset() -> None:
    decoder = MeterDecoder("auto")
    assert decoder.feed(NOISE) == []
    assert _plain(decoder.reset_framing()) == [("unsupported", 0, NOISE)]
    assert decoder.feed(NOISE) == []
    assert _plain(decoder.flush()) == [("unsupported", len(NOISE), NOISE)]


def test_auto_decoder_offsets_count_from_its_first_byte() -> None:
    good = b"".join(_frames(NOE))
    decoder = MeterDecoder("auto", key(NOE))
    out = decoder.feed(NOISE) + decoder.feed(good + good[:100]) + decoder.reset_framing()
    out += decoder.feed(good[:100]) + decoder.flush()
    errors = _errors(out)
    assert _plain(errors) == [
        ("unsupported", 0, NOISE),
        ("truncated", len(NOISE) + len(good), good[:100]),
        ("truncated", len(NOISE) + len(good) + 100, good[:100]),
    ]
