"""Guess the framing of a capture and turn capture text into bytes."""

from __future__ import annotations

import re
from typing import Literal

from meterhub.adapters.codecs._errors import DecodeError
from meterhub.adapters.codecs._hdlc import frame_start
from meterhub.adapters.codecs._mbus import corrupted_header_end, long_header
from meterhub.adapters.codecs._scan import NOT_A_FRAME

Format = Literal["mbus", "dsmr", "hdlc", "apdu"]

_HEX_TEXT = re.compile(rb"(?:0[xX])?[0-9A-Fa-f]{2}(?:[\s:,;-]*(?:0[xX])?[0-9A-Fa-f]{2})*")
_SEPARATORS = re.compile(rb"[\s:,;-]|0[xX]")
_DSMR_HEADER = re.compile(rb"/[A-Za-z]{3}\d")
_COMMENTS = re.compile(rb"^[ \t]*#[^\n]*$", re.MULTILINE)
_MBUS_STARTS = re.compile(b"[\x68\x10]")
_MBUS_SHORT = 0x10


def _first_mbus(data: bytes) -> tuple[int, int]:
    """Return where the first M-Bus frame starts: ``(strong, weak)``, -1 if none.

    Strong: a long-frame header, a header with one defect before a body that checks
    out, or a short frame. Weak: the single character E5 opening the data, or a
    header cut off after its L fields.
    """
    strong = -1
    for found in _MBUS_STARTS.finditer(data):
        pos = found.start()
        if data[pos] == _MBUS_SHORT:
            short = data[pos : pos + 5]
            if len(short) == 5 and short[4] == 0x16 and (short[1] + short[2]) & 0xFF == short[3]:  # noqa: PLR2004
                strong = pos
                break
            continue
        if long_header(data, pos) or (
            pos + 4 <= len(data)
            and (corrupted_header_end(data, pos, final=True) or NOT_A_FRAME) > 0
        ):
            strong = pos
            break
    tail = data[-3:]
    cut = len(tail) == 3 and tail[0] == 0x68 and tail[1] == tail[2] >= 3  # noqa: PLR2004
    weak = 0 if data[:1] == b"\xe5" else len(data) - 3 if cut else -1
    return strong, weak


def _first_hdlc(data: bytes) -> tuple[int, int]:
    """Return where the first HDLC frame starts: ``(strong, weak)``, -1 if none.

    Strong: a frame closed by a flag where its length says, or a header with a valid
    HCS. Weak: a header that fits so far, or any frame type 3 header whose length
    runs past the end of the data (a cut-off frame, or a length field too large).
    """
    weak = -1
    pos = data.find(0x7E)
    while pos >= 0:
        fmt = data[pos + 1] if pos + 1 < len(data) else 0
        end = pos + 1 + (((fmt & 0x07) << 8) | (data[pos + 2] if pos + 2 < len(data) else 0))
        if fmt & 0xF0 == 0xA0 and end < len(data) and data[end] == 0x7E:  # noqa: PLR2004
            return pos, weak
        found = frame_start(data, pos)
        if found:
            return pos, weak
        cut = fmt & 0xF0 == 0xA0 and end - pos >= 8 and end >= len(data)  # noqa: PLR2004
        if (found is None or cut) and weak < 0:
            weak = pos
        pos = data.find(0x7E, pos + 1)
    return -1, weak


def _first_dsmr(data: bytes) -> int:
    match = _DSMR_HEADER.search(data)
    return match.start() if match else -1


def detect_format(data: bytes) -> Format:
    """Return the framing whose first frame starts earliest in ``data``.

    Frames are recognised by their structure (start/stop bytes, length fields and
    header checks), not their frame checksums, so a capture of corrupted or cut-off
    frames is still routed to the framer that can report what is wrong with them: a
    header that is cut off by the end of the data counts when nothing else is found.

    A capture that starts with ``0x0F`` is a bare data-notification (``apdu``); one
    that starts with ``0xDB`` (after line ends or NULs) without other framing is a
    ciphered DSMR P1 stream.

    Raises:
        DecodeError: ``unsupported`` when no known framing is found; it carries the
            whole of ``data``.
    """
    mbus, hdlc = _first_mbus(data), _first_hdlc(data)
    strong: list[tuple[int, Format]] = [
        (mbus[0], "mbus"),
        (hdlc[0], "hdlc"),
        (_first_dsmr(data), "dsmr"),
    ]
    hits = [hit for hit in strong if hit[0] >= 0]
    if hits:
        return min(hits)[1]
    if data[:1] == b"\x0f":
        return "apdu"
    if data.lstrip(b"\r\n\x00 \t")[:1] == b"\xdb":
        return "dsmr"  # also after the line noise a P1 port shows before the first frame
    weak = [hit for hit in [(mbus[1], "mbus"), (hdlc[1], "hdlc")] if hit[0] >= 0]
    if weak:
        return min(weak)[1]  # type: ignore[return-value]
    detail = f"no M-Bus, HDLC or DSMR frame found in {len(data)} bytes at byte 0"
    raise DecodeError("unsupported", detail, 0, data)


def parse_capture_text(text: str | bytes) -> bytes:
    """Turn a capture into bytes: hex text with any separators, else the raw bytes.

    Hex dumps may hold one frame per line, several frames, or one long stream; any
    whitespace, ``:``, ``,``, ``-`` and ``0x`` prefixes and ``#`` comment lines (as in
    a meter's capture file) are ignored. Anything else
    (a DSMR text capture, a binary dump) is returned as it is.
    """
    raw = text.encode("latin-1", errors="replace") if isinstance(text, str) else bytes(text)
    stripped = _COMMENTS.sub(b"", raw).strip()
    if stripped and _HEX_TEXT.fullmatch(stripped):
        digits = _SEPARATORS.sub(b"", stripped)
        if len(digits) % 2 == 0:
            return bytes.fromhex(digits.decode("ascii"))
    return raw
