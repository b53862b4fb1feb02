"""One stateful decoder per meter stream, and a one-shot iterator for captures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

from meterhub.adapters.codecs._detect import Format, detect_format
from meterhub.adapters.codecs._dlms import decode_dlms
from meterhub.adapters.codecs._dsmr import decode_dsmr
from meterhub.adapters.codecs._dsmr_framer import DsmrFramer
from meterhub.adapters.codecs._errors import DecodeError
from meterhub.adapters.codecs._hdlc import HdlcFramer
from meterhub.adapters.codecs._mbus import MbusFramer
from meterhub.adapters.codecs._profiles import default_registry
from meterhub.adapters.codecs._shape import ShapeCache

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from meterhub.adapters.codecs._profiles import ProfileRegistry
    from meterhub.adapters.codecs._telegram import Telegram

FormatOrAuto = Format | Literal["auto"]
_DETECT_LIMIT = 8192


class Framer(Protocol):
    """A sans-IO framer: bytes in, complete payloads and rejections out."""

    def feed(self, data: bytes) -> list[bytes | DecodeError]:
        """Add bytes; return what they complete."""
        ...

    def flush(self) -> list[bytes | DecodeError]:
        """End the stream; return what is left."""
        ...


class _ApduFramer:
    """A whole capture that is one bare APDU (no framing at all)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes | DecodeError]:
        self._buf += data
        return []

    def flush(self) -> list[bytes | DecodeError]:
        data, self._buf = bytes(self._buf), bytearray()
        return [data] if data else []


FRAMERS: dict[str, Callable[[bool], Framer]] = {
    "mbus": lambda _ciphered: MbusFramer(),
    "hdlc": lambda _ciphered: HdlcFramer(),
    "dsmr": lambda ciphered: DsmrFramer(ciphered=ciphered),
    "apdu": lambda _ciphered: _ApduFramer(),
}
"""Format name -> a fresh framer (told whether to expect ciphered DSMR): a new wire
format is an entry here and a decoder, not a branch."""


def make_framer(fmt: Format, *, ciphered: bool = True) -> Framer:
    """Return a fresh framer for ``fmt`` (``ciphered``: expect 0xDB-wrapped DSMR)."""
    return FRAMERS[fmt](ciphered)


class MeterDecoder:
    """Decode the byte stream of one meter: framing, decryption and COSEM mapping.

    Owns the framer state, so a meter actor feeds it serial chunks as they arrive.
    With ``fmt="auto"`` it buffers until the framing is recognised.
    """

    def __init__(
        self,
        fmt: FormatOrAuto = "auto",
        key: bytes | None = None,
        auth_key: bytes | None = None,
        profiles: ProfileRegistry | None = None,
        *,
        ek_only: bool = False,
        include_objects: bool = False,
    ) -> None:
        self._key = key
        self._auth_key = auth_key
        self._registry = profiles if profiles is not None else default_registry()
        self._ek_only = ek_only
        self._include_objects = include_objects
        self._fmt: Format | None = None if fmt == "auto" else fmt
        self._framer: Framer | None = None if fmt == "auto" else self._make(fmt)
        self._pending = bytearray()
        self._pending_at = 0  # stream offset of _pending[0]
        self._framer_at = 0  # stream offset of the first byte fed to the framer
        self._fed = 0
        # Objects are rebuilt by the full walk only; values-only decoding learns layouts.
        self._shapes = None if include_objects else ShapeCache(self._registry)

    @property
    def format(self) -> Format | None:
        """The framing in use, ``None`` while still detecting it."""
        return self._fmt

    def feed(self, chunk: bytes) -> list[Telegram | DecodeError]:
        """Add bytes from the meter; return the telegrams and errors they complete."""
        return self._decode_all(self.frame(chunk))

    def frame(self, chunk: bytes) -> list[bytes | DecodeError]:
        """Add bytes from the meter; return the payloads they complete, undecoded.

        For callers that keep each raw payload (the journal) before decoding it with
        ``decode_payload``. Errors about stream bytes carry them as ``data``, with
        offsets counted from the first byte fed to this decoder.
        """
        self._fed += len(chunk)
        framer = self._framer
        if framer is None:
            out = self._detect(chunk)
            framer = self._framer
            if framer is None:
                return [*out]
            chunk, self._pending = bytes(self._pending), bytearray()
            return [*out, *self._shift(framer.feed(chunk))]
        return self._shift(framer.feed(chunk))

    def reset_framing(self) -> list[DecodeError]:
        """Forget a half-received telegram (the link broke); report it as an error."""
        framer = self._framer
        if framer is None or self._fmt is None:
            return self._undetected()
        self._framer = self._make(self._fmt)
        out = [item for item in self._shift(framer.flush()) if isinstance(item, DecodeError)]
        self._framer_at = self._fed
        return out

    def flush(self) -> list[Telegram | DecodeError]:
        """End of stream: decode what is left and report unfinished telegrams."""
        framer = self._framer
        if framer is None:
            dropped = self._detect(b"")
            framer = self._framer
            if framer is None:
                return [*dropped, *self._undetected()]
            chunk, self._pending = bytes(self._pending), bytearray()
            return [
                *dropped,
                *self._decode_all(self._shift([*framer.feed(chunk), *framer.flush()])),
            ]
        return self._decode_all(self._shift(framer.flush()))

    def _detect(self, chunk: bytes) -> list[DecodeError]:
        """Buffer ``chunk`` until a framing is recognised; report what cannot hold one."""
        self._pending += chunk
        try:
            self._fmt = detect_format(bytes(self._pending))
        except DecodeError:
            out: list[DecodeError] = []
            # Drop whole pieces from the front, so the pieces do not depend on chunking.
            while len(self._pending) > _DETECT_LIMIT:
                out += self._undetected(_DETECT_LIMIT // 2)
            return out
        self._framer = self._make(self._fmt)
        self._framer_at = self._pending_at
        return []

    def _undetected(self, size: int | None = None) -> list[DecodeError]:
        """Report (and drop) the first ``size`` pending bytes, or all of them."""
        piece = bytes(self._pending[:size])
        if not piece:
            return []
        del self._pending[: len(piece)]
        at = self._pending_at
        self._pending_at += len(piece)
        detail = f"no M-Bus, HDLC or DSMR frame found in {len(piece)} bytes at byte {at}"
        return [DecodeError("unsupported", detail, at, piece)]

    def _shift(self, items: list[bytes | DecodeError]) -> list[bytes | DecodeError]:
        """Count a framer's stream offsets from this decoder's first byte."""
        delta = self._framer_at
        if not delta:
            return items
        return [
            item.shifted(delta) if isinstance(item, DecodeError) and item.data is not None else item
            for item in items
        ]

    def _make(self, fmt: Format) -> Framer:
        return make_framer(fmt, ciphered=self._key is not None)

    def _decode_all(self, items: list[bytes | DecodeError]) -> list[Telegram | DecodeError]:
        out: list[Telegram | DecodeError] = []
        for item in items:
            if isinstance(item, DecodeError):
                out.append(item)
                continue
            try:
                out.append(self.decode_payload(item))
            except DecodeError as exc:
                out.append(exc)
        return out

    def decode_payload(self, payload: bytes) -> Telegram:
        """Decode one complete payload as cut by the framer.

        Raises:
            DecodeError: when the payload cannot be decoded.
        """
        fmt = self._fmt or "apdu"
        if fmt == "dsmr" and payload[:1] == b"/":
            return decode_dsmr(
                payload, registry=self._registry, include_objects=self._include_objects
            )
        return decode_dlms(
            payload,
            fmt=fmt,
            key=self._key,
            auth_key=self._auth_key,
            registry=self._registry,
            ek_only=self._ek_only,
            include_objects=self._include_objects,
            shapes=self._shapes,
        )

    def statistics(self) -> dict[str, int]:
        """Report the layout cache: telegrams decoded from a known shape, misses, shapes."""
        shapes = self._shapes
        if shapes is None:
            return {"shape_hits": 0, "shape_misses": 0, "shapes_learned": 0}
        return {
            "shape_hits": shapes.hits,
            "shape_misses": shapes.misses,
            "shapes_learned": shapes.learned,
        }


def iter_decode(
    data: bytes,
    *,
    fmt: FormatOrAuto = "auto",
    key: bytes | None = None,
    auth_key: bytes | None = None,
    profiles: ProfileRegistry | None = None,
    ek_only: bool = False,
    include_objects: bool = False,
) -> Iterator[Telegram | DecodeError]:
    """Decode a whole capture; yield each telegram or rejection in order.

    A capture whose framing ``fmt="auto"`` cannot recognise yields one
    ``unsupported`` error that carries the whole capture as ``data``.
    """
    try:
        chosen: Format = detect_format(data) if fmt == "auto" else fmt
    except DecodeError as exc:
        yield exc
        return
    decoder = MeterDecoder(
        chosen, key, auth_key, profiles, ek_only=ek_only, include_objects=include_objects
    )
    yield from decoder.feed(data)
    yield from decoder.flush()
