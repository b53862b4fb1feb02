"""Guess the framing of a capture and turn capture text into bytes."""

from __future__ import annotations

import re
from typing import Literal

from meterhub.adapters.codecs._errors import DecodeError

Format = Literal["mbus", "dsmr", "hdlc", "apdu"]

_HEX_TEXT = re.compile(rb"(?:0[xX])?[0-9A-Fa-f]{2}(?:[\s:,;-]*(?:0[xX])?[0-9A-Fa-f]{2})*")
_SEPARATORS = re.compile(rb"[\s:,;-]|0[xX]")
_DSMR_HEADER = re.compile(rb"/[A-Za-z]{3}\d")
_COMMENTS = re.compile(rb"^[ \t]*#[^\n]*$", re.MULTILINE)


def _first_mbus(data: bytes) -> int:
    pos = data.find(0x68)
    while 0 <= pos <= len(data) - 6:
        length = data[pos + 1]
        end = pos + length + 6
        if (
            data[pos + 2] == length
            and data[pos + 3] == 0x68  # noqa: PLR2004
            and end <= len(data)
            and data[end - 1] == 0x16  # noqa: PLR2004
        ):
            return pos
        pos = data.find(0x68, pos + 1)
    return -1


def _first_hdlc(data: bytes) -> int:
    pos = data.find(0x7E)
    while 0 <= pos <= len(data) - 9:
        fmt = data[pos + 1]
        end = pos + 1 + (((fmt & 0x07) << 8) | data[pos + 2])
        if (
            fmt & 0xF0 == 0xA0  # noqa: PLR2004
            and end < len(data)
            and data[end] == 0x7E  # noqa: PLR2004
        ):
            return pos
        pos = data.find(0x7E, pos + 1)
    return -1


def _first_dsmr(data: bytes) -> int:
    match = _DSMR_HEADER.search(data)
    return match.start() if match else -1


def detect_format(data: bytes) -> Format:
    """Return the framing whose first well-formed frame starts earliest in ``data``.

    Frames are recognised by their structure (start/stop bytes and length fields),
    not their checksums, so a capture of corrupted frames is still routed to the
    framer that can report what is wrong with them.

    A capture that starts with ``0x0F`` is a bare data-notification (``apdu``); one
    that starts with ``0xDB`` without other framing is a ciphered DSMR P1 stream.

    Raises:
        DecodeError: ``unsupported`` when no known framing is found.
    """
    found: list[tuple[int, Format]] = [
        (_first_mbus(data), "mbus"),
        (_first_hdlc(data), "hdlc"),
        (_first_dsmr(data), "dsmr"),
    ]
    hits = [hit for hit in found if hit[0] >= 0]
    if hits:
        return min(hits)[1]
    if data[:1] == b"\x0f":
        return "apdu"
    if data[:1] == b"\xdb":
        return "dsmr"
    raise DecodeError("unsupported", "no M-Bus, HDLC or DSMR frame found in the data")


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
