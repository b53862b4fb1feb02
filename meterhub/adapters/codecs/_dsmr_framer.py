"""Cut DSMR P1 telegrams, plain or DLMS-wrapped, out of a serial byte stream.

Plain telegrams run from ``/`` to the line after ``!`` (DSMR 5.0.2 §6.2). The
Austrian Energienetze Steiermark variant sends each telegram wrapped in a
general-glo-ciphering APDU (IEC 62056-5-3 §9.4.4.2) with no further framing, so an
``0xDB`` byte with a plausible header starts a frame whose length its BER field gives.
"""

from __future__ import annotations

import re

from meterhub.adapters.codecs._errors import DecodeError

_HEADER = re.compile(rb"/[A-Za-z]{3}\d")

_SLASH = 0x2F
_BANG = 0x21
_NEWLINE = 0x0A
_GLO = 0xDB
_TITLE_LEN = 8
_MAX_TELEGRAM = 16 * 1024
_MAX_CRC_LINE = 8  # "!" + up to 4 hex digits + CR LF, with slack
_CRC_DIGITS = 4
_BER_LONG = 0x80


def _glo_length(buf: bytearray, start: int) -> int | None:
    """Return the total length of a 0xDB APDU at ``start``; 0 if not one; None if unknown yet."""
    head = start + 2 + _TITLE_LEN
    if head >= len(buf):
        return None
    first = buf[head]
    size = 0 if first < _BER_LONG else first & 0x7F
    if head + 1 + size > len(buf):
        return None
    length = int.from_bytes(buf[head + 1 : head + 1 + size], "big") if size else first
    plausible = buf[start + 1] == _TITLE_LEN and size in (0, 1, 2) and 0 < length <= _MAX_TELEGRAM
    return head + 1 + size + length - start if plausible else 0


class DsmrFramer:
    """Find DSMR telegrams in a byte stream.

    ``feed`` returns each telegram as ``bytes`` (``/``..CRC line, or a whole 0xDB
    APDU) and :class:`DecodeError` for torn telegrams; CRCs are checked by the decoder.
    """

    def __init__(self, *, ciphered: bool = True) -> None:
        """Create a framer; ``ciphered=False`` ignores 0xDB frames (plain P1 ports).

        Ciphered frames have no start marker, so on a plain port a stray 0xDB byte
        could otherwise swallow the start of the next telegram.
        """
        self._buf = bytearray()
        self._base = 0
        self._ciphered = ciphered

    def feed(self, data: bytes) -> list[bytes | DecodeError]:
        """Add bytes from the stream; return the telegrams and errors completed by them."""
        self._buf += data
        out: list[bytes | DecodeError] = []
        self._scan(out, final=False)
        return out

    def flush(self) -> list[bytes | DecodeError]:
        """Signal the end of the stream: return or reject what is left in the buffer."""
        out: list[bytes | DecodeError] = []
        self._scan(out, final=True)
        return out

    def _scan(self, out: list[bytes | DecodeError], *, final: bool) -> None:
        buf = self._buf
        pos = 0
        while pos < len(buf):
            slash = buf.find(_SLASH, pos)
            glo = buf.find(_GLO, pos) if self._ciphered else -1
            if slash < 0 and glo < 0:
                pos = len(buf)
                break
            if glo >= 0 and (slash < 0 or glo < slash):
                step = self._glo(buf, glo, out, final=final)
            else:
                step = self._text(buf, slash, out, final=final)
            if step is None:
                pos = glo if glo >= 0 and (slash < 0 or glo < slash) else slash
                break
            pos = step
        del buf[:pos]
        self._base += pos

    def _glo(
        self, buf: bytearray, start: int, out: list[bytes | DecodeError], *, final: bool
    ) -> int | None:
        total = _glo_length(buf, start)
        if total == 0:
            return start + 1
        if total is None or start + total > len(buf):
            if not final:
                return None
            where = self._base + start
            out.append(DecodeError("truncated", f"ciphered DSMR frame at byte {where} is cut off"))
            return start + 1
        out.append(bytes(buf[start : start + total]))
        return start + total

    def _text(
        self, buf: bytearray, start: int, out: list[bytes | DecodeError], *, final: bool
    ) -> int | None:
        where = self._base + start
        bang = buf.find(_BANG, start)
        # Only the header line holds a "/", so a later "/" starts the real telegram.
        restart = buf.rfind(_SLASH, start + 1, bang if bang >= 0 else len(buf))
        if restart >= 0:
            if _HEADER.match(buf, start):
                detail = f"DSMR telegram at byte {where} was cut off by the next one"
                out.append(DecodeError("truncated", detail))
            return restart
        if bang < 0:
            return self._unterminated(buf, start, out, final=final)
        newline = buf.find(_NEWLINE, bang, bang + _MAX_CRC_LINE)
        if newline < 0:
            if not final and len(buf) - bang < _MAX_CRC_LINE:
                return None
            end = min(len(buf), bang + 1 + _CRC_DIGITS)
            out.append(bytes(buf[start:end]))
            return end
        out.append(bytes(buf[start : newline + 1]))
        return newline + 1

    def _unterminated(
        self, buf: bytearray, start: int, out: list[bytes | DecodeError], *, final: bool
    ) -> int | None:
        """Handle a telegram whose ``!`` has not arrived (yet)."""
        where = self._base + start
        if len(buf) - start > _MAX_TELEGRAM:
            out.append(DecodeError("malformed", f"no '!' within {_MAX_TELEGRAM} bytes", where))
            return start + 1
        if not final:
            return None
        out.append(DecodeError("truncated", f"DSMR telegram at byte {where} has no '!' end line"))
        return len(buf)
