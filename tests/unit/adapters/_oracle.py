"""Run one fuzz input through every framer and decoder and check what comes out.

The oracle: nothing but :class:`DecodeError` escapes (and framers and stream decoders
raise nothing at all); every item is a telegram or an error; input that is not only
delimiters yields at least one item; skipped bytes are the stream's bytes at their
offset; telegram values are finite numbers or text and encode as JSON; and the layout
cache of a long-lived decoder agrees with the full walk.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from meterhub.adapters.codecs import (
    DecodeError,
    DsmrFramer,
    HdlcFramer,
    MbusFramer,
    MeterDecoder,
    Telegram,
    decode_apdu,
    decode_dsmr,
    default_registry,
    iter_decode,
)

if TYPE_CHECKING:
    from tests.unit.adapters._mutations import Rng, Seed

DELIMITERS = frozenset(b"\x7e\r\n\x00 \t")
"""Bytes that may stand alone between frames: HDLC flags, and the line ends, NULs and
blanks a P1 port idles with (the DSMR framer's delimiters)."""

TARGETS = (
    "decoder", "decoder_cached", "auto", "no_key", "iter_decode",
    "mbus_framer", "hdlc_framer", "dsmr_framer", "dsmr_framer_plain", "decode_apdu", "decode_dsmr",
)  # fmt: skip
_FRAMERS: dict[str, Callable[[], Any]] = {
    "mbus_framer": MbusFramer,
    "hdlc_framer": HdlcFramer,
    "dsmr_framer": DsmrFramer,
    "dsmr_framer_plain": lambda: DsmrFramer(ciphered=False),
}


# Chunk size limits (0: the whole input at once); byte by byte costs the most, so rarer.
_CHUNK_LIMITS = (0, 0, 0, 1, 8, 8, 64, 64, 300, 300)


class Violation(Exception):  # noqa: N818 - a finding, named for what it is
    """An input broke the oracle: ``kind`` is ``escape`` or the rule it broke."""

    def __init__(self, target: str, kind: str, detail: str) -> None:
        self.target = target
        self.kind = kind
        self.detail = detail
        super().__init__(f"{target}: {kind}: {detail}")


def chunks(rng: Rng, data: bytes) -> list[bytes]:
    """Cut ``data`` as a serial port might: whole, byte by byte, or random sizes."""
    most = rng.choice(_CHUNK_LIMITS) or len(data)
    if most == 1:
        return [data[i : i + 1] for i in range(len(data))]
    random = rng.random
    out, pos = [], 0
    while pos < len(data):
        size = 1 + int(random() * most)
        out.append(data[pos : pos + size])
        pos += size
    return out


def label(item: Telegram | DecodeError | bytes) -> str:
    """Name an outcome: ``telegram``, ``payload`` or the error's reason."""
    if isinstance(item, Telegram):
        return "telegram"
    if isinstance(item, DecodeError):
        return item.reason
    return "payload"


def _escape(target: str, exc: BaseException) -> Violation:
    lines = traceback.format_exception(exc)
    return Violation(target, "escape", f"{type(exc).__name__}: {exc}\n{''.join(lines[-6:])}")


def check_items(target: str, data: bytes, items: Sequence[object], kinds: tuple[type, ...]) -> None:
    for item in items:
        if not isinstance(item, kinds):
            raise Violation(target, "item_type", f"{type(item).__name__}: {item!r:.200}")
        if isinstance(item, DecodeError) and item.data is not None:
            offset = item.offset
            if offset is None or data[offset : offset + len(item.data)] != item.data:
                raise Violation(target, "skipped_bytes", f"offset {offset}, {len(item.data)} bytes")
        if isinstance(item, Telegram):
            _check_telegram(target, item)
    if not items and not set(data) <= DELIMITERS:
        raise Violation(target, "silent", f"{len(data)} bytes gave no item")


def _check_telegram(target: str, telegram: Telegram) -> None:
    for name, value in telegram.values.items():
        finite = type(value) is int or (type(value) is float and math.isfinite(value))
        if not (finite or type(value) is str):
            raise Violation(target, "value", f"{name} = {value!r}")
    try:
        msgspec.json.encode(telegram)
    except Exception as exc:
        raise Violation(target, "json", f"{type(exc).__name__}: {exc}") from exc


def _runs(items: list[Any]) -> list[Any]:
    """Merge neighbouring errors of one reason: where a long run of noise is cut into
    pieces depends on where the run started, which a long-lived decoder sees earlier."""
    merged: list[Any] = []
    for item in items:
        if merged and isinstance(item, DecodeError) and _same(merged[-1], item):
            continue
        merged.append(item)
    return merged


def _agree(full: list[Any], cached: list[Any]) -> list[Any]:
    """Check that the layout cache gave what the full walk gave, item by item."""
    if len(full) == len(cached) and all(map(_same, full, cached)):
        return cached
    runs, cached_runs = _runs(full), _runs(cached)
    if len(runs) == len(cached_runs) and all(map(_same, runs, cached_runs)):
        return cached
    detail = f"fresh decoder {[label(i) for i in full]} != long-lived {[label(i) for i in cached]}"
    readings = [i for i in full if isinstance(i, Telegram)]
    cached_readings = [i for i in cached if isinstance(i, Telegram)]
    if len(readings) != len(cached_readings) or not all(map(_same, readings, cached_readings)):
        raise Violation("decoder_cached", "shape_cache", detail)
    # The readings agree, the errors do not: the framing kept state from earlier inputs.
    raise Violation("decoder_cached", "stream_state", detail)


def _same(a: Telegram | DecodeError, b: Telegram | DecodeError) -> bool:
    if isinstance(a, Telegram) and isinstance(b, Telegram):
        return msgspec.structs.replace(a, objects=[]) == msgspec.structs.replace(b, objects=[])
    return isinstance(a, DecodeError) and isinstance(b, DecodeError) and a.reason == b.reason


class Harness:
    """The targets, with one long-lived decoder per format and key set (its layout cache)."""

    def __init__(self) -> None:
        self._registry = default_registry()
        self._cached: dict[tuple[str, bytes | None, bytes | None], MeterDecoder] = {}
        self._bases: dict[tuple[str, bytes | None, bytes | None], int] = {}

    def run(
        self, rng: Rng, seed: Seed, data: bytes
    ) -> tuple[dict[str, list[str]], list[Violation]]:
        """Return target -> outcome labels for ``data``, and every broken rule.

        A target that breaks a rule is checked no further on this input; the others are.
        """
        found: dict[str, list[str]] = {}
        broken: list[Violation] = []

        def check(target: str, run: Callable[[], list[Any]]) -> list[Any]:
            try:
                items = run()
            except Violation as exc:
                broken.append(exc)
                if exc.kind == "silent":
                    found[target] = []  # no item: still an outcome worth counting
                return []
            found[target] = [i if isinstance(i, str) else label(i) for i in items]
            return items

        parts = chunks(rng, data)
        where = (seed.fmt, seed.key, seed.auth_key)
        base = self._bases.get(where, 0)
        self._bases[where] = base + len(data)
        full = check("decoder", lambda: self._stream("decoder", data, parts, self._decoder(seed)))
        cached = check(
            "decoder_cached",
            lambda: self._stream("decoder_cached", data, parts, self._long_lived(seed), base=base),
        )
        if "decoder" in found and "decoder_cached" in found:
            check("decoder_cached", lambda: _agree(full, cached))
        auto = MeterDecoder("auto", seed.key, seed.auth_key, self._registry)
        check("auto", lambda: self._stream("auto", data, chunks(rng, data), auto))
        bare = MeterDecoder(seed.fmt, profiles=self._registry)  # type: ignore[arg-type]
        check("no_key", lambda: self._stream("no_key", data, [data], bare))
        check("iter_decode", lambda: self._iter_decode(seed, data))
        payloads: list[bytes] = []
        parts = chunks(rng, data)
        for target, make in _FRAMERS.items():
            framed = check(
                target,
                lambda t=target, m=make: self._stream(  # type: ignore[misc]
                    t, data, parts, m(), kinds=(bytes, DecodeError)
                ),
            )
            payloads += [item for item in framed if isinstance(item, bytes)]
        check("decode_apdu", lambda: self._one_shot("decode_apdu", seed, [data, *payloads]))
        check("decode_dsmr", lambda: self._one_shot("decode_dsmr", seed, [data, *payloads]))
        return found, broken

    def _decoder(self, seed: Seed, *, include_objects: bool = True) -> MeterDecoder:
        return MeterDecoder(
            seed.fmt,  # type: ignore[arg-type]
            seed.key,
            seed.auth_key,
            self._registry,
            include_objects=include_objects,
        )

    def _long_lived(self, seed: Seed) -> MeterDecoder:
        where = (seed.fmt, seed.key, seed.auth_key)
        decoder = self._cached.get(where)
        if decoder is None:
            decoder = self._cached[where] = self._decoder(seed, include_objects=False)
        return decoder

    def shape_statistics(self) -> dict[str, int]:
        """Sum the layout-cache counters of the long-lived decoders."""
        total: dict[str, int] = {}
        for decoder in self._cached.values():
            for name, value in decoder.statistics().items():
                total[name] = total.get(name, 0) + value
        return total

    def _stream(
        self,
        target: str,
        data: bytes,
        parts: list[bytes],
        sink: Any,
        *,
        kinds: tuple[type, ...] = (Telegram, DecodeError),
        base: int = 0,
    ) -> list[Any]:
        """Feed ``parts`` and flush; ``base`` is where this input starts in the stream."""
        try:
            items = [item for part in parts for item in sink.feed(part)] + sink.flush()
        except Exception as exc:  # DecodeError too: stream decoders return, never raise
            raise _escape(target, exc) from exc
        shifted = [
            i.shifted(-base) if isinstance(i, DecodeError) and base and i.data is not None else i
            for i in items
        ]
        check_items(target, data, shifted, kinds)
        return shifted

    def _iter_decode(self, seed: Seed, data: bytes) -> list[str]:
        try:
            items = list(iter_decode(data, key=seed.key, auth_key=seed.auth_key))
        except Exception as exc:
            raise _escape("iter_decode", exc) from exc
        check_items("iter_decode", data, items, (Telegram, DecodeError))
        return [label(i) for i in items]

    def _one_shot(self, target: str, seed: Seed, inputs: list[bytes]) -> list[str]:
        out: list[str] = []
        for payload in inputs:
            if target == "decode_dsmr" and payload[:1] != b"/":
                continue
            try:
                if target == "decode_dsmr":
                    got: Telegram = decode_dsmr(payload, registry=self._registry)
                else:
                    got = decode_apdu(
                        payload, key=seed.key, auth_key=seed.auth_key, profiles=self._registry,
                        include_objects=True,
                    )  # fmt: skip
            except DecodeError as exc:
                out.append(exc.reason)
                continue
            except Exception as exc:
                raise _escape(target, exc) from exc
            _check_telegram(target, got)
            out.append("telegram")
        return out
