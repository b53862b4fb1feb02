"""HDLC frames carrying DLMS (IEC 62056-46, frame format type 3).

``7E | format(2) | dst addr | src addr | control | HCS(2) | info | FCS(2) | 7E``.
Format: 4 bits type 0xA, segmentation bit 0x0800, 11-bit length counting format..FCS
(IEC 62056-46 §6.4.1). Addresses are 1-4 bytes, the last with bit 0 set (§6.4.2).
HCS and FCS are CRC-16/X-25, little-endian (§6.4.5). The LLC header ``E6 E7 00``
(IEC 62056-46 §6.2) opens only the first segment of a segmented APDU. Frames may
share one flag between them, and fill flags may stand between frames (§6.3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meterhub.adapters.codecs._crc import crc16_x25
from meterhub.adapters.codecs._gbt import GbtAssembler
from meterhub.adapters.codecs._scan import NOT_A_FRAME, FrameScanner, Items, Spans, Verdict

if TYPE_CHECKING:
    from meterhub.adapters.codecs._errors import DecodeError, DecodeReason

_FLAG = 0x7E
_TYPE3 = 0xA0
_SEGMENTED = 0x08
_LLC = (b"\xe6\xe7\x00", b"\xe6\xe6\x00")
_MAX_ADDRESS = 4
_MIN_FRAME = 7  # format(2) + dst + src + control + FCS(2)


def _address_end(frame: bytes | bytearray, pos: int, stop: int) -> int | None:
    """Return the index after the address at ``pos``; -1 if bad, ``None`` if cut at stop."""
    for size in range(1, _MAX_ADDRESS + 1):
        if pos + size > stop:
            return None
        if frame[pos + size - 1] & 1:
            return pos + size
    return NOT_A_FRAME


def _length(data: bytes | bytearray, pos: int) -> int:
    """The frame length in the format field of the frame opening at ``pos``."""
    return ((data[pos + 1] & 0x07) << 8) | data[pos + 2]


def _opens(data: bytes | bytearray, pos: int) -> bool:
    return pos + 1 < len(data) and data[pos] == _FLAG and data[pos + 1] & 0xF0 == _TYPE3


def frame_start(data: bytes | bytearray, pos: int) -> bool | None:  # noqa: PLR0911 (one return per check)
    """Return whether a well-formed frame header opens at ``data[pos]``.

    Well-formed: flag, format type 3, a length that holds a header, two addresses,
    and a matching HCS (or FCS for a frame without information field). ``None`` when
    the data ends before that is decided but what there is fits.
    """
    if not _opens(data, pos):
        return False
    if pos + 3 > len(data):
        return None
    length = _length(data, pos)
    if length < _MIN_FRAME:
        return False
    limit = pos + 1 + length - 2  # addresses end before the FCS
    stop = min(len(data), limit)
    dst = _address_end(data, pos + 3, stop)
    src = _address_end(data, dst, stop) if dst is not None and dst > 0 else dst
    if src is None:
        return None if stop < limit else False
    if src < 0:
        return False
    header = src + 1 - (pos + 1)  # format..control
    checked = header if header + 4 < length else length - 2  # HCS, or FCS if no info
    if pos + 1 + checked + 2 > len(data):
        return None
    body = data[pos + 1 : pos + 1 + checked]
    return crc16_x25(bytes(body)) == int.from_bytes(
        data[pos + 1 + checked : pos + 3 + checked], "little"
    )


class HdlcFramer(FrameScanner):
    """Find HDLC frames in a byte stream and return the DLMS APDUs they carry.

    Segmented frames and General Block Transfer blocks are joined; ``feed`` returns
    complete APDUs (``bytes``) and :class:`DecodeError` rejections, never raising.
    Every rejection of stream bytes carries them as ``data``; flags between frames
    carry nothing and are not reported.
    """

    _WHAT = "HDLC frame"
    _FILL = _FLAG

    def __init__(self) -> None:
        super().__init__()
        self._segments: list[bytes] = []
        self._spans = Spans()
        self._gbt = GbtAssembler()

    def _finish(self) -> Items:
        out: Items = list(self._missing_final())
        out.extend(self._gbt.flush())
        return out

    def _missing_final(self) -> list[DecodeError]:
        if not self._spans:
            return []
        detail = (
            f"HDLC APDU starting at byte {self._spans.start} ended after "
            f"{self._spans.frames} segment(s) without its final segment"
        )
        self._segments = []
        return self._spans.rejected("truncated", detail)

    def _skip_delimiters(self, pos: int, *, final: bool) -> int | None:
        buf = self._buf
        while pos < len(buf) and buf[pos] == _FLAG:
            if pos + 1 == len(buf) and not final:
                return None
            if _opens(buf, pos):
                break
            pos += 1
        return pos

    def _candidate(self, pos: int, *, final: bool) -> int | None:  # noqa: ARG002
        buf = self._buf
        start = buf.find(_FLAG, pos)
        while start >= 0 and start + 1 < len(buf) and not _opens(buf, start):
            start = buf.find(_FLAG, start + 1)
        return len(buf) if start < 0 else start

    def _frame(self, start: int, *, final: bool) -> Verdict:  # noqa: PLR0911 (one per verdict)
        buf = self._buf
        if start + 3 > len(buf):
            return NOT_A_FRAME if final else None
        length = _length(buf, start)
        if length < _MIN_FRAME:
            return NOT_A_FRAME
        end = start + 1 + length  # where the closing flag belongs
        if end >= len(buf):
            if not final:
                return None
            cut = self._next_start(start, len(buf), final=final)
            return None if cut is None else (cut, [self._cut(start, cut, length)])
        closed = buf[end] == _FLAG
        fcs = crc16_x25(bytes(buf[start + 1 : end - 2]))
        if closed and fcs == int.from_bytes(buf[end - 2 : end], "little"):
            found = self._good(start, end)
            return (
                (end, found)
                if isinstance(found, list)
                else self._rejected(start, end, found, final=final)
            )
        cut = self._next_start(start, end, final=final)
        if cut is None:
            return None
        if cut < end:
            return cut, [self._cut(start, cut, length)]
        where = self._base + start
        if not closed:
            detail = (
                f"HDLC frame at byte {where} has 0x{buf[end]:02X} at byte {self._base + end} "
                "where its length puts the closing flag 0x7E, and no frame follows"
            )
            return end + 1, [self._reject("malformed", detail, start, end + 1)]
        detail = (
            f"HDLC FCS 0x{int.from_bytes(buf[end - 2 : end], 'little'):04X} != computed "
            f"0x{fcs:04X} in frame at byte {where}"
        )
        return self._rejected(start, end, ("checksum", detail), final=final)

    def _rejected(
        self, start: int, end: int, why: tuple[DecodeReason, str], *, final: bool
    ) -> Verdict:
        """Reject a whole frame; its closing flag goes with it unless the next frame shares it."""
        buf = self._buf
        if end + 1 >= len(buf) and not final:
            return None
        stop = end if _opens(buf, end) else end + 1
        return stop, [self._reject(why[0], why[1], start, stop)]

    def _next_start(self, start: int, end: int, *, final: bool) -> int | None:
        """Return where a well-formed frame starts inside ``(start, end)``, else ``end``.

        ``None`` when one may start there but the bytes to tell are still to come.
        """
        buf = self._buf
        pos = buf.find(_FLAG, start + 1, end)
        while pos >= 0:
            found = frame_start(buf, pos)
            if found is None and not final:
                return None
            if found is not False:
                return pos
            pos = buf.find(_FLAG, pos + 1, end)
        return end

    def _cut(self, start: int, cut: int, length: int) -> DecodeError:
        where = self._base + start
        by = (
            "the end of the stream"
            if cut == len(self._buf)
            else f"a frame at byte {self._base + cut}"
        )
        detail = (
            f"HDLC frame at byte {where} needs {length + 2} bytes, cut off after "
            f"{cut - start} by {by}"
        )
        return self._reject("truncated", detail, start, cut)

    def _good(self, start: int, end: int) -> Items | tuple[DecodeReason, str]:
        """Take apart a frame whose FCS matches; return its items, or why it is rejected."""
        buf = self._buf
        frame = bytes(buf[start + 1 : end])
        where = self._base + start
        dst = _address_end(frame, 2, len(frame) - 2)
        src = _address_end(frame, dst, len(frame) - 2) if dst is not None and dst > 0 else None
        if src is None or src < 0 or src >= len(frame) - 2:
            return "malformed", (
                f"HDLC frame at byte {where} has a bad address: expected 1-4 bytes, "
                "the last with bit 0 set"
            )
        header_end = src + 1  # control byte
        if header_end + 2 >= len(frame) - 2:
            return "unsupported", (
                f"HDLC frame at byte {where} carries no DLMS APDU (no information field)"
            )
        hcs = int.from_bytes(frame[header_end : header_end + 2], "little")
        if crc16_x25(frame[:header_end]) != hcs:
            return "checksum", f"HDLC HCS 0x{hcs:04X} mismatch in frame at byte {where}"
        return self._info(
            frame[header_end + 2 : -2],
            where,
            bytes(buf[start : end + 1]),
            segmented=bool(frame[0] & _SEGMENTED),
        )

    def _info(self, info: bytes, where: int, raw: bytes, *, segmented: bool) -> Items:
        out: Items = []
        if info[:3] in _LLC:
            out += self._missing_final()
            info = info[3:]
        self._segments.append(info)
        self._spans.add(where, raw, closed=True)
        if segmented:
            return out
        apdu = b"".join(self._segments)
        self._segments = []
        out.extend(self._gbt.feed(apdu, self._spans))
        self._spans.clear()
        return out
