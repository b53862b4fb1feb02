"""Byte accounting shared by the binary framers: every byte fed is reported once.

A byte fed to a framer ends in a frame that made a payload, in the ``data`` of one
:class:`DecodeError`, or is a delimiter that carries nothing (an HDLC fill flag).
Runs of bytes in which no frame starts are reported in pieces of at most
``NOISE_CAP`` bytes, counted from the start of the run, so a stream at the wrong
baud rate keeps memory bounded and is reported the same however it is chunked.
"""

from __future__ import annotations

from typing import Final

from meterhub.adapters.codecs._errors import DecodeError, DecodeReason

NOISE_CAP = 4096
NOT_A_FRAME: Final = -1
Items = list[bytes | DecodeError]
Verdict = tuple[int, Items] | int | None
"""What ``_frame`` found at a candidate start: ``(end, items)`` for a frame or a
rejected run ending at ``end``; ``NOT_A_FRAME`` if the byte is noise; ``None`` to wait
for more bytes."""


class Spans:
    """The stream bytes of the frames a half-received APDU consumed, as contiguous runs.

    A run may end in a closing flag that the next frame can share (HDLC); it is left
    out of the reported bytes, since the next frame may report it as its opening flag.
    """

    def __init__(self) -> None:
        self._runs: list[tuple[int, bytearray, bool]] = []
        self.frames = 0

    def __bool__(self) -> bool:
        return bool(self._runs)

    @property
    def start(self) -> int:
        """Stream offset of the first frame."""
        return self._runs[0][0]

    def add(self, offset: int, raw: bytes, *, closed: bool = False) -> None:
        """Record one frame at ``offset`` (``closed``: ``raw`` ends in its closing flag)."""
        self.frames += 1
        if self._runs:
            first, run, was_closed = self._runs[-1]
            end = first + len(run)
            if offset == end or (was_closed and offset == end - 1):
                run += raw[end - offset :]
                self._runs[-1] = (first, run, closed)
                return
        self._runs.append((offset, bytearray(raw), closed))

    def absorb(self, other: Spans) -> None:
        """Move the runs of ``other`` to the end of these."""
        for offset, raw, closed in other._runs:
            self.frames -= 1
            self.add(offset, bytes(raw), closed=closed)
        self.frames += other.frames
        other.clear()

    def clear(self) -> None:
        """Forget all runs."""
        self._runs = []
        self.frames = 0

    def rejected(self, reason: DecodeReason, detail: str) -> list[DecodeError]:
        """Return one error per run carrying its bytes, and forget them."""
        out = [
            DecodeError(reason, detail, offset, bytes(raw[:-1] if closed else raw))
            for offset, raw, closed in self._runs
        ]
        self.clear()
        return out


class FrameScanner:
    """Walk a byte stream from candidate frame start to candidate frame start.

    Subclasses say where a frame may start (``_candidate``) and what is there
    (``_frame``); this class reports the bytes between frames as ``unsupported``
    runs with their offsets and keeps everything not yet decided for the next feed.
    """

    _WHAT = "frame"
    _FILL: int | None = None  # a delimiter byte that carries nothing

    def __init__(self) -> None:
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]
        self._run = 0  # start of the unreported noise run in _buf
        self._pos = 0  # first byte not yet classified
        self._after = True  # the previous byte ended a frame (or the stream starts)

    def feed(self, data: bytes) -> Items:
        """Add bytes from the stream; return the APDUs and errors completed by them."""
        self._buf += data
        out: Items = []
        self._scan(out, final=False)
        return out

    def flush(self) -> Items:
        """Signal the end of the stream: report torn frames and unfinished APDUs."""
        out: Items = []
        self._scan(out, final=True)
        out.extend(self._finish())
        return out

    def _candidate(self, pos: int, *, final: bool) -> int | None:  # pragma: no cover
        raise NotImplementedError

    def _frame(self, start: int, *, final: bool) -> Verdict:  # pragma: no cover
        raise NotImplementedError

    def _finish(self) -> Items:
        return []

    def _skip_delimiters(self, pos: int, *, final: bool) -> int | None:  # noqa: ARG002
        return pos

    def _scan(self, out: Items, *, final: bool) -> None:
        buf = self._buf
        pos = self._pos
        while pos < len(buf):
            if self._after:
                skipped = self._skip_delimiters(pos, final=final)
                if skipped is None:
                    break
                pos = self._run = skipped
                if pos >= len(buf):
                    break
            start = self._candidate(pos, final=final)
            if start is None:
                break
            if start > pos:
                self._after = False
            self._noise(start, out, last=False)
            pos = start
            if start >= len(buf):
                break
            verdict = self._frame(start, final=final)
            if verdict is None:
                break
            if isinstance(verdict, int):
                self._after = False
                pos = start + 1
                continue
            self._noise(start, out, last=True)
            pos, items = verdict
            out.extend(items)
            self._run = pos
            self._after = True
        if final:
            self._noise(len(buf), out, last=True)
            pos = self._run = len(buf)
        del buf[: self._run]
        self._base += self._run
        self._pos = pos - self._run
        self._run = 0

    def _noise(self, stop: int, out: Items, *, last: bool) -> None:
        """Report noise up to ``stop``: full pieces, and with ``last`` the rest."""
        buf = self._buf
        while stop - self._run >= NOISE_CAP:
            out.append(self._no_frame(self._run, self._run + NOISE_CAP))
            self._run += NOISE_CAP
        if not last:
            return
        end = stop
        while end > self._run and self._FILL is not None and buf[end - 1] == self._FILL:
            end -= 1  # fill flags before a frame carry nothing
        if end > self._run:
            out.append(self._no_frame(self._run, end))
        self._run = stop

    def _no_frame(self, start: int, end: int) -> DecodeError:
        where = self._base + start
        return self._reject(
            "unsupported",
            f"no {self._WHAT} found in {end - start} bytes at byte {where}",
            start,
            end,
        )

    def _reject(self, reason: DecodeReason, detail: str, start: int, end: int) -> DecodeError:
        """An error carrying ``_buf[start:end]`` and its stream offset."""
        return DecodeError(reason, detail, self._base + start, bytes(self._buf[start:end]))
