"""HDLC frames carrying DLMS (IEC 62056-46, frame format type 3).

``7E | format(2) | dst addr | src addr | control | HCS(2) | info | FCS(2) | 7E``.
Format: 4 bits type 0xA, segmentation bit 0x0800, 11-bit length counting format..FCS
(IEC 62056-46 §6.4.1). Addresses are 1-4 bytes, the last with bit 0 set (§6.4.2).
HCS and FCS are CRC-16/X-25, little-endian (§6.4.5). The LLC header ``E6 E7 00``
(IEC 62056-46 §6.2) opens only the first segment of a segmented APDU.
"""

from __future__ import annotations

from meterhub.adapters.codecs._crc import crc16_x25
from meterhub.adapters.codecs._errors import DecodeError
from meterhub.adapters.codecs._gbt import GbtAssembler

_FLAG = 0x7E
_TYPE3 = 0xA0
_SEGMENTED = 0x08
_LLC = (b"\xe6\xe7\x00", b"\xe6\xe6\x00")
_MAX_ADDRESS = 4
_MIN_FRAME = 7  # format(2) + dst + src + control + FCS(2)


def _address_end(frame: bytes, pos: int) -> int:
    """Return the index after the address starting at ``pos``, or -1 if it is bad."""
    for size in range(1, _MAX_ADDRESS + 1):
        if pos + size - 1 >= len(frame):
            return -1
        if frame[pos + size - 1] & 1:
            return pos + size
    return -1


class HdlcFramer:
    """Find HDLC frames in a byte stream and return the DLMS APDUs they carry.

    Segmented frames and General Block Transfer blocks are joined; ``feed`` returns
    complete APDUs (``bytes``) and :class:`DecodeError` rejections, never raising.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._base = 0
        self._segments: list[bytes] = []
        self._gbt = GbtAssembler()

    def feed(self, data: bytes) -> list[bytes | DecodeError]:
        """Add bytes from the stream; return the APDUs and errors completed by them."""
        self._buf += data
        out: list[bytes | DecodeError] = []
        self._scan(out, final=False)
        return out

    def flush(self) -> list[bytes | DecodeError]:
        """Signal the end of the stream: report torn frames and unfinished APDUs."""
        out: list[bytes | DecodeError] = []
        self._scan(out, final=True)
        if self._segments:
            self._segments = []
            out.append(DecodeError("truncated", "HDLC APDU ended without its final segment"))
        out.extend(self._gbt.flush())
        return out

    def _scan(self, out: list[bytes | DecodeError], *, final: bool) -> None:
        buf = self._buf
        size = len(buf)
        pos = 0
        while True:
            start = buf.find(_FLAG, pos)
            if start < 0 or start + 3 > size:
                pos = size if start < 0 or final else start
                break
            fmt = buf[start + 1]
            if fmt & 0xF0 != _TYPE3:
                pos = start + 1  # a closing flag, a fill flag or noise
                continue
            end = start + 1 + (((fmt & 0x07) << 8) | buf[start + 2])
            if end >= size:
                if not final:
                    pos = start
                    break
                detail = (
                    f"HDLC frame at byte {self._base + start} is cut off by the end of the stream"
                )
                out.append(DecodeError("truncated", detail))
                pos = start + 1
                continue
            pos = self._frame(bytes(buf[start + 1 : end]), buf[end], start, out)
            pos = end if pos < 0 else pos
        del buf[:pos]
        self._base += pos

    def _frame(self, frame: bytes, closing: int, start: int, out: list[bytes | DecodeError]) -> int:
        """Check one frame; return -1 to continue at its closing flag, else a position."""
        where = self._base + start
        if closing != _FLAG or len(frame) < _MIN_FRAME:
            out.append(
                DecodeError("malformed", f"HDLC frame at byte {where} has no closing flag", where)
            )
            return start + 1
        fcs = crc16_x25(frame[:-2])
        if fcs != int.from_bytes(frame[-2:], "little"):
            detail = (
                f"HDLC FCS 0x{int.from_bytes(frame[-2:], 'little'):04X} != computed "
                f"0x{fcs:04X} in frame at byte {where}"
            )
            out.append(DecodeError("checksum", detail, where))
            return start + 1
        dst_end = _address_end(frame, 2)
        src_end = _address_end(frame, dst_end) if dst_end > 0 else -1
        if src_end < 0 or src_end >= len(frame) - 2:
            out.append(
                DecodeError("malformed", f"HDLC frame at byte {where} has a bad address", where)
            )
            return -1
        header_end = src_end + 1  # control byte
        if header_end + 2 >= len(frame) - 2:
            return -1  # no information field (RR, SNRM ...): nothing to decode
        if crc16_x25(frame[:header_end]) != int.from_bytes(
            frame[header_end : header_end + 2], "little"
        ):
            out.append(
                DecodeError("checksum", f"HDLC HCS mismatch in frame at byte {where}", where)
            )
            return -1
        self._info(frame[header_end + 2 : -2], segmented=bool(frame[0] & _SEGMENTED), out=out)
        return -1

    def _info(self, info: bytes, *, segmented: bool, out: list[bytes | DecodeError]) -> None:
        if info[:3] in _LLC:
            if self._segments:
                out.append(DecodeError("truncated", "HDLC APDU ended without its final segment"))
                self._segments = []
            info = info[3:]
        self._segments.append(info)
        if segmented:
            return
        apdu = b"".join(self._segments)
        self._segments = []
        out.extend(self._gbt.feed(apdu))
