"""EN 13757-2 M-Bus long frames carrying segmented DLMS APDUs.

Long frame (EN 13757-2 §5.4.3): ``68 L L 68 | C A CI | data | CS 16`` where L counts
C..data and CS is their byte sum mod 256. The Austrian customer interfaces send one
DLMS APDU in several frames; CI values 0x00-0x1F carry DLMS segments (EN 13757-3 §6.2:
low nibble = segment number, bit 4 = last segment), followed by the transport bytes
STSAP/DTSAP (IEC 62056-7-6 §6.2) that every segment repeats.
"""

from __future__ import annotations

from meterhub.adapters.codecs._errors import DecodeError

_START = 0x68
_STOP = 0x16
_HEADER = 4  # 68 L L 68
_TRAILER = 2  # CS 16
_MIN_L = 3  # C A CI
_DLMS_CI_LIMIT = 0x20
_LAST_SEGMENT = 0x10
_TRANSPORT = 2  # STSAP DTSAP


class MbusFramer:
    """Find M-Bus long frames in a byte stream and reassemble their DLMS APDUs.

    ``feed`` accepts arbitrary chunks and returns complete APDUs (``bytes``) and
    :class:`DecodeError` rejections in stream order; it never raises for bad input.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._base = 0
        self._segments: list[bytes] = []
        self._next_seq = 0
        self._address = -1
        self._started_at = 0

    def feed(self, data: bytes) -> list[bytes | DecodeError]:
        """Add bytes from the stream; return the APDUs and errors completed by them."""
        self._buf += data
        out: list[bytes | DecodeError] = []
        self._scan(out, final=False)
        return out

    def flush(self) -> list[bytes | DecodeError]:
        """Signal the end of the stream: report torn frames and unfinished telegrams."""
        out: list[bytes | DecodeError] = []
        self._scan(out, final=True)
        if self._segments:
            out.append(self._missing_last())
        self._segments = []
        return out

    def _missing_last(self) -> DecodeError:
        return DecodeError(
            "truncated",
            f"DLMS telegram starting at byte {self._started_at} ended after "
            f"{len(self._segments)} M-Bus segment(s) without its last segment (CI bit 4)",
        )

    def _scan(self, out: list[bytes | DecodeError], *, final: bool) -> None:
        buf = self._buf
        size = len(buf)
        pos = 0
        while True:
            start = buf.find(_START, pos)
            if start < 0 or start + _HEADER > size:
                pos = size if start < 0 or final else start
                break
            length = buf[start + 1]
            if buf[start + 2] != length or buf[start + 3] != _START or length < _MIN_L:
                pos = start + 1  # noise: not a long-frame header
                continue
            end = start + _HEADER + length + _TRAILER
            if end > size:
                if not final:
                    pos = start
                    break
                out.append(
                    DecodeError(
                        "truncated",
                        f"M-Bus frame at byte {self._base + start} needs {end - start} "
                        f"bytes, stream ended after {size - start}",
                    )
                )
                pos = start + 1
                continue
            pos = self._frame(buf, start, end, out)
        del buf[:pos]
        self._base += pos

    def _frame(self, buf: bytearray, start: int, end: int, out: list[bytes | DecodeError]) -> int:
        """Check one candidate frame; return where scanning continues."""
        where = self._base + start
        body = bytes(buf[start + _HEADER : end - _TRAILER])
        if buf[end - 1] != _STOP:
            stop = buf[end - 1]
            detail = f"M-Bus frame at byte {where} ends in 0x{stop:02X}, not the stop byte 0x16"
            out.append(DecodeError("malformed", detail, where))
            return start + 1
        computed = sum(body) & 0xFF
        if computed != buf[end - 2]:
            detail = (
                f"M-Bus checksum 0x{buf[end - 2]:02X} != computed 0x{computed:02X} "
                f"in frame at byte {where}"
            )
            out.append(DecodeError("checksum", detail, where))
            return start + 1
        self._segment(body, where, out)
        return end

    def _segment(self, body: bytes, where: int, out: list[bytes | DecodeError]) -> None:
        address, ci = body[1], body[2]
        if ci >= _DLMS_CI_LIMIT:
            detail = (
                f"M-Bus frame at byte {where} has CI 0x{ci:02X}, not a DLMS segment (0x00-0x1F)"
            )
            out.append(DecodeError("unsupported", detail))
            return
        if len(body) < _MIN_L + _TRANSPORT:
            out.append(DecodeError("malformed", "M-Bus frame too short for STSAP/DTSAP", where))
            return
        seq = ci & 0x0F
        if seq == 0:
            if self._segments:
                out.append(self._missing_last())
            self._segments = []
            self._started_at = where
        elif not self._segments or seq != self._next_seq or address != self._address:
            detail = f"M-Bus segment {seq} at byte {where} arrived without the segments before it"
            out.append(DecodeError("truncated", detail))
            self._segments = []
            return
        self._segments.append(body[_MIN_L + _TRANSPORT :])
        self._next_seq = (seq + 1) & 0x0F
        self._address = address
        if ci & _LAST_SEGMENT:
            out.append(b"".join(self._segments))
            self._segments = []
