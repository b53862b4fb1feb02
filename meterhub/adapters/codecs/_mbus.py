"""EN 13757-2 M-Bus frames carrying segmented DLMS APDUs.

Long frame (EN 13757-2 §5.4.3): ``68 L L 68 | C A CI | data | CS 16`` where L counts
C..data and CS is their byte sum mod 256; L=3 is a control frame. Short frame
``10 C A CS 16`` and the single character ``E5`` (an acknowledgement) carry no data.
The Austrian customer interfaces send one DLMS APDU in several frames; CI values
0x00-0x1F carry DLMS segments (EN 13757-3 §6.2: low nibble = segment number, bit 4 =
last segment), followed by the transport bytes STSAP/DTSAP (IEC 62056-7-6 §6.2) that
every segment repeats.
"""

from __future__ import annotations

import re

from meterhub.adapters.codecs._errors import DecodeError
from meterhub.adapters.codecs._scan import NOT_A_FRAME, FrameScanner, Items, Spans, Verdict

_START = 0x68
_SHORT = 0x10
_SINGLE = 0xE5
_STOP = 0x16
_HEADER = 4  # 68 L L 68
_TRAILER = 2  # CS 16
_SHORT_SIZE = 5  # 10 C A CS 16
_MIN_L = 3  # C A CI
_DLMS_CI_LIMIT = 0x20
_LAST_SEGMENT = 0x10
_TRANSPORT = 2  # STSAP DTSAP
_STARTS = re.compile(b"[\x68\x10]")


def long_header(data: bytes | bytearray, pos: int) -> bool:
    """Return whether ``data[pos:]`` opens with a well-formed long-frame header."""
    if pos + _HEADER > len(data):
        return False
    length = data[pos + 1]
    return (
        data[pos] == _START
        and data[pos + 2] == length
        and data[pos + 3] == _START
        and length >= _MIN_L
    )


def _closes(data: bytes | bytearray, start: int, end: int) -> bool:
    """Return whether a long frame ``data[start:end]`` ends in a right CS and stop byte."""
    body = data[start + _HEADER : end - _TRAILER]
    return data[end - 1] == _STOP and sum(body) & 0xFF == data[end - 2]


def corrupted_header_end(data: bytes | bytearray, start: int, *, final: bool) -> int | None:
    """Return the end of a frame whose header has one defect but whose body checks out.

    One defect: the two L bytes differ, or the second 0x68 is missing. The frame is
    plausible when an L leads to a stop byte after a matching checksum. Returns -1 if
    not plausible, ``None`` if more bytes are needed to decide.
    """
    first, second, start2 = data[start + 1], data[start + 2], data[start + 3]
    if (first != second) == (start2 != _START):
        return NOT_A_FRAME
    waiting = False
    for length in sorted({first, second}):
        end = start + _HEADER + length + _TRAILER
        if length < _MIN_L:
            continue
        if end > len(data):
            waiting = not final
            continue
        if _closes(data, start, end):
            return end
    return None if waiting else NOT_A_FRAME


class MbusFramer(FrameScanner):
    """Find M-Bus frames in a byte stream and reassemble their DLMS APDUs.

    ``feed`` accepts arbitrary chunks and returns complete APDUs (``bytes``) and
    :class:`DecodeError` rejections in stream order; it never raises for bad input.
    Every rejection of stream bytes carries them as ``data``.
    """

    _WHAT = "M-Bus frame"

    def __init__(self) -> None:
        super().__init__()
        self._segments: list[bytes] = []
        self._spans = Spans()
        self._next_seq = 0
        self._address = -1

    def _finish(self) -> Items:
        return list(self._missing_last())

    def _missing_last(self) -> list[DecodeError]:
        if not self._spans:
            return []
        detail = (
            f"DLMS telegram starting at byte {self._spans.start} ended after "
            f"{self._spans.frames} M-Bus segment(s) without its last segment (CI bit 4)"
        )
        self._segments = []
        return self._spans.rejected("truncated", detail)

    def _candidate(self, pos: int, *, final: bool) -> int | None:  # noqa: ARG002
        if self._after and self._buf[pos] == _SINGLE:
            return pos  # a single character stands between frames, not inside noise
        found = _STARTS.search(self._buf, pos)
        return found.start() if found else len(self._buf)

    def _frame(self, start: int, *, final: bool) -> Verdict:  # noqa: PLR0911 (one per verdict)
        buf = self._buf
        kind = buf[start]
        if kind == _SINGLE:
            detail = f"M-Bus single character 0xE5 at byte {self._base + start}"
            return start + 1, [
                self._reject("unsupported", f"{detail} carries no DLMS APDU", start, start + 1)
            ]
        if kind == _SHORT:
            return self._short(start, final=final)
        if start + _HEADER > len(buf):
            if not final:
                return None
            if start + _HEADER - 1 == len(buf) and buf[start + 1] == buf[start + 2] >= _MIN_L:
                return len(buf), [self._cut(start, len(buf))]
            return NOT_A_FRAME
        if long_header(buf, start):
            return self._long(start, buf[start + 1], final=final)
        end = corrupted_header_end(buf, start, final=final)
        if end is None or end == NOT_A_FRAME:
            return end
        where = self._base + start
        detail = (
            f"M-Bus frame at byte {where} has a corrupted header "
            f"{bytes(buf[start : start + _HEADER]).hex(' ').upper()}: expected 68 L L 68"
        )
        return end, [self._reject("malformed", detail, start, end)]

    def _short(self, start: int, *, final: bool) -> Verdict:
        buf = self._buf
        end = start + _SHORT_SIZE
        if end > len(buf):
            return NOT_A_FRAME if final else None
        if buf[end - 1] != _STOP or (buf[start + 1] + buf[start + 2]) & 0xFF != buf[start + 3]:
            return NOT_A_FRAME
        detail = f"M-Bus short frame at byte {self._base + start} carries no DLMS APDU"
        return end, [self._reject("unsupported", detail, start, end)]

    def _long(self, start: int, length: int, *, final: bool) -> Verdict:  # noqa: PLR0911 (one per verdict)
        buf = self._buf
        end = start + _HEADER + length + _TRAILER
        if end > len(buf):
            if not final:
                return None
            cut = self._next_start(start, len(buf))
            return cut, [self._cut(start, cut)]
        if _closes(buf, start, end):
            return end, self._segment(start, end)
        if (
            not final
            and len(buf) < end + _HEADER - 1
            and buf.find(_START, end - _HEADER + 1, end) >= 0
        ):
            return None  # a next frame may start just before this one's declared end
        cut = self._next_start(start, end)
        if cut < end:
            return cut, [self._cut(start, cut)]
        where = self._base + start
        if buf[end - 1] != _STOP:
            detail = (
                f"M-Bus frame at byte {where} ends in 0x{buf[end - 1]:02X} at byte "
                f"{self._base + end - 1}, not the stop byte 0x16, and no frame follows"
            )
            return end, [self._reject("malformed", detail, start, end)]
        detail = (
            f"M-Bus checksum 0x{buf[end - 2]:02X} != computed "
            f"0x{sum(buf[start + _HEADER : end - _TRAILER]) & 0xFF:02X} in frame at byte {where}"
        )
        return end, [self._reject("checksum", detail, start, end)]

    def _next_start(self, start: int, end: int) -> int:
        """Return where the next long-frame header starts inside ``(start, end)``, else end."""
        pos = self._buf.find(_START, start + 1, end)
        while pos >= 0:
            if long_header(self._buf, pos):
                return pos
            pos = self._buf.find(_START, pos + 1, end)
        return end

    def _cut(self, start: int, cut: int) -> DecodeError:
        where = self._base + start
        need = _HEADER + self._buf[start + 1] + _TRAILER
        by = (
            "the end of the stream"
            if cut == len(self._buf)
            else f"a frame at byte {self._base + cut}"
        )
        detail = (
            f"M-Bus frame at byte {where} needs {need} bytes, cut off after {cut - start} by {by}"
        )
        return self._reject("truncated", detail, start, cut)

    def _segment(self, start: int, end: int) -> Items:
        buf = self._buf
        where = self._base + start
        body = bytes(buf[start + _HEADER : end - _TRAILER])
        raw = bytes(buf[start:end])
        address, ci = body[1], body[2]
        if ci >= _DLMS_CI_LIMIT:
            detail = (
                f"M-Bus frame at byte {where} has CI 0x{ci:02X} (EN 13757-3 application data), "
                "not a DLMS segment (0x00-0x1F)"
            )
            return [DecodeError("unsupported", detail, where, raw)]
        seq = ci & 0x0F
        if len(body) < _MIN_L + _TRANSPORT or (seq == 0 and len(body) == _MIN_L + _TRANSPORT):
            detail = f"M-Bus frame at byte {where} (L={len(body)}) carries no DLMS APDU"
            return [DecodeError("unsupported", detail, where, raw)]
        out: Items = []
        if seq == 0:
            out += self._missing_last()
        elif not self._spans or seq != self._next_seq or address != self._address:
            out += self._missing_last()
            detail = f"M-Bus segment {seq} at byte {where} arrived without the segments before it"
            out.append(DecodeError("truncated", detail, where, raw))
            return out
        self._segments.append(body[_MIN_L + _TRANSPORT :])
        self._spans.add(where, raw)
        self._next_seq = (seq + 1) & 0x0F
        self._address = address
        if ci & _LAST_SEGMENT:
            out.append(b"".join(self._segments))
            self._segments = []
            self._spans.clear()
        return out
