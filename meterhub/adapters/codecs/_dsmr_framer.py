"""Cut DSMR P1 telegrams, plain or DLMS-wrapped, out of a serial byte stream.

Plain telegrams run from the ``/XXXZ`` header to the line after ``!`` (DSMR 5.0.2
§6.2, the IEC 62056-21 mode D data message). The Austrian Energienetze Steiermark
variant sends each telegram wrapped in a general-glo-ciphering APDU (IEC 62056-5-3
§9.4.4.2) with no further framing, so an ``0xDB`` byte with a plausible header starts
a frame whose length its BER field gives.

Every byte fed ends in exactly one returned item (a telegram, or the ``data`` of a
:class:`DecodeError`) unless it is a delimiter between telegrams, and the results do
not depend on how the stream was cut into chunks.
"""

from __future__ import annotations

import re

from meterhub.adapters.codecs._errors import DecodeError, DecodeReason

# DSMR 5.0.2 §6.4: "/XXXZ" = slash, 3-letter manufacturer id, baud-rate digit.
_HEADER = re.compile(rb"/[A-Za-z]{3}\d")
_HEADER_LEN = 5
_STARTS = re.compile(rb"[/\xdb]")

_SLASH = 0x2F
_BANG = 0x21
_NEWLINE = 0x0A
_GLO = 0xDB
_TITLE_LEN = 8
_MAX_TELEGRAM = 16 * 1024
_MAX_SKIP = 4096  # garbage is reported in runs of at most this many bytes
_CRC_DIGITS = 4  # DSMR 5.0.2 §6.2; meters also print it unpadded ("!B9F", "!7")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_LINE_END = frozenset(b" \t\r")  # may precede the LF that ends the CRC line
# Idle line noise between telegrams: not reported, as no telegram is lost in it.
_DELIMITERS = frozenset(b"\r\n\x00 \t")
_BER_LONG = 0x80
_SC_RESERVED = 0x80  # the compression bit: meterhub decodes no compressed APDU
_MAX_SUITE = 2
_SC_ENCRYPTED = 0x20


def _glo_length(buf: bytearray, start: int) -> int | None:
    """Return the total length of a 0xDB APDU at ``start``; 0 if not one; None if unknown yet."""
    head = start + 2 + _TITLE_LEN
    if start + 1 < len(buf) and buf[start + 1] != _TITLE_LEN:
        return 0
    if head >= len(buf):
        return None
    first = buf[head]
    size = 0 if first < _BER_LONG else first & 0x7F
    if head + 1 + size > len(buf):
        return None
    length = int.from_bytes(buf[head + 1 : head + 1 + size], "big") if size else first
    plausible = size in (0, 1, 2) and 0 < length <= _MAX_TELEGRAM
    content = head + 1 + size
    if plausible and content < len(buf):
        # security control (IEC 62056-5-3 §9.4.4.2): no compression, suite 0-2
        plausible = buf[content] & _SC_RESERVED == 0 and buf[content] & 0x0F <= _MAX_SUITE
    return content + length - start if plausible else 0


def _hides_telegram(buf: bytearray, start: int, total: int) -> bool:
    """Tell whether an encrypted 0xDB frame's extent holds a plain telegram header.

    Unencrypted content (SC bit 0x20 clear) is the plain text itself, so it may.
    """
    head = start + 2 + _TITLE_LEN
    content = head + 1 + (buf[head] & 0x7F if buf[head] >= _BER_LONG else 0)
    encrypted = content >= len(buf) or bool(buf[content] & _SC_ENCRYPTED)
    return encrypted and _HEADER.search(buf, start + 1, start + total) is not None


def _crc_line_end(buf: bytearray, bang: int, *, final: bool) -> int | None:
    """Return where the ``!`` line at ``bang`` ends; None until that is known.

    The CRC is 0 to 4 hex digits (none in DSMR 2.2/3), then optional spaces and
    CRs, then LF. The line stops after its LF or before the first byte that cannot
    belong to it, so a telegram sent without CR LF before the next ``/`` is found.
    """
    pos = bang + 1
    while pos < len(buf) and pos <= bang + _CRC_DIGITS and buf[pos] in _HEX:
        pos += 1
    if pos == len(buf) and pos <= bang + _CRC_DIGITS and not final:
        return None
    while pos < len(buf) and buf[pos] in _LINE_END:
        pos += 1
    if pos == len(buf):
        return None if not final else pos
    return pos + 1 if buf[pos] == _NEWLINE else pos


class DsmrFramer:
    """Find DSMR telegrams in a byte stream.

    ``feed`` returns each telegram as ``bytes`` (``/``..CRC line, or a whole 0xDB
    APDU) and a :class:`DecodeError` with the skipped bytes for anything else:
    ``unsupported`` for bytes without a telegram, ``truncated`` for a telegram cut
    off by the next one or the end of the stream, ``malformed`` for one without
    ``!`` in 16 KiB. CRCs are checked by the decoder.
    """

    def __init__(self, *, ciphered: bool = True) -> None:
        """Create a framer; ``ciphered=False`` for a port that should send plain text.

        Ciphered frames have no start marker, so on a plain port a stray 0xDB byte could
        swallow the start of the next telegram: there a 0xDB frame is taken only when no
        telegram header lies inside it. It is still taken, so that a ciphered meter
        configured without its key is reported as ``no_key``, not as noise.
        """
        self._buf = bytearray()
        self._base = 0  # stream offset of buf[0]
        self._skip: int | None = None  # buf index where a run of garbage starts
        self._skip_end = 0  # buf index after the run's last non-delimiter byte
        self._trusting = ciphered

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
        pos = self._skip_end if self._skip is not None else 0
        while pos < len(buf):
            found = _STARTS.search(buf, pos)
            start = found.start() if found else len(buf)
            self._garbage(pos, start, out)
            if found is None:
                pos = len(buf)
                break
            step = self._frame(start, out, final=final)
            if step is None:
                pos = start
                break
            if step == start:  # not a frame: the marker byte is garbage
                self._garbage(start, start + 1, out)
                step = start + 1
            pos = step
        if final:
            self._close_garbage(out)
        self._discard(min(pos, self._skip) if self._skip is not None else pos)

    def _frame(self, start: int, out: list[bytes | DecodeError], *, final: bool) -> int | None:
        """Cut a frame at ``start``: its end, ``start`` if none starts there, None to wait."""
        buf = self._buf
        if buf[start] == _GLO:
            return self._ciphered(start, out, final=final)
        if len(buf) - start < _HEADER_LEN and not final:
            return None
        if not _HEADER.match(buf, start):
            return start
        self._close_garbage(out)
        return self._text(start, out, final=final)

    def _ciphered(self, start: int, out: list[bytes | DecodeError], *, final: bool) -> int | None:
        buf = self._buf
        total = _glo_length(buf, start)
        if total == 0:
            return start
        if not self._trusting and total and _hides_telegram(buf, start, total):
            return start  # a plain telegram starts inside ciphertext: the 0xDB was noise
        if total is None or start + total > len(buf):
            if not final:
                return None
            self._close_garbage(out)
            return self._reject(out, "truncated", "ciphered DSMR frame", start, len(buf))
        self._close_garbage(out)
        out.append(bytes(buf[start : start + total]))
        return start + total

    def _text(self, start: int, out: list[bytes | DecodeError], *, final: bool) -> int | None:
        buf = self._buf
        window = min(len(buf), start + _MAX_TELEGRAM)
        bang = buf.find(_BANG, start, window)
        # Only the header line holds "/XXXZ", so another one starts the next telegram.
        restart = _HEADER.search(buf, start + 1, bang if bang >= 0 else window)
        if restart is not None:
            detail = "DSMR telegram, cut off by the next one,"
            return self._reject(out, "truncated", detail, start, restart.start())
        if bang >= 0:
            end = _crc_line_end(buf, bang, final=final)
            if end is not None:
                out.append(bytes(buf[start:end]))
            return end
        if window - start >= _MAX_TELEGRAM:
            detail = f"DSMR telegram without '!' in {_MAX_TELEGRAM} bytes"
            return self._reject(out, "malformed", detail, start, window)
        if not final:
            return None
        detail = "DSMR telegram without its '!' end line"
        return self._reject(out, "truncated", detail, start, window)

    def _reject(
        self,
        out: list[bytes | DecodeError],
        reason: DecodeReason,
        what: str,
        start: int,
        end: int,
    ) -> int:
        where = self._base + start
        detail = f"{what} at byte {where}"
        out.append(DecodeError(reason, detail, where, bytes(self._buf[start:end])))
        return end

    def _garbage(self, start: int, end: int, out: list[bytes | DecodeError]) -> None:
        """Add ``buf[start:end]`` (no telegram in it) to the run of skipped bytes.

        A run is reported once a byte ``_MAX_SKIP`` past its start arrives, so memory
        stays bounded and the cut does not depend on the chunking.
        """
        buf = self._buf
        for pos in range(start, end):
            if self._skip is not None and pos - self._skip >= _MAX_SKIP:
                self._close_garbage(out)
            if buf[pos] in _DELIMITERS:
                continue
            if self._skip is None:
                self._skip = pos
            self._skip_end = pos + 1

    def _close_garbage(self, out: list[bytes | DecodeError]) -> None:
        start = self._skip
        if start is not None:
            where = self._base + start
            data = bytes(self._buf[start : self._skip_end])
            detail = f"no telegram found in {len(data)} bytes at byte {where}"
            out.append(DecodeError("unsupported", detail, where, data))
            self._skip = None

    def _discard(self, upto: int) -> None:
        del self._buf[:upto]
        self._base += upto
        if self._skip is not None:
            self._skip -= upto
            self._skip_end -= upto
