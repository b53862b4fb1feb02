"""Where each durable sink has got to, kept so retention knows what it may delete.

Sinks keep their real cursor in their own storage (the store commits it with its
rows); this file is only their report to the journal. It is replaced atomically
(temp file, fsync, rename), so a crash leaves either the old or the new version.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import msgspec

from meterhub.adapters.journal._errors import JournalError
from meterhub.adapters.journal._segment import fsync_directory

if TYPE_CHECKING:
    from pathlib import Path

FILE_NAME = "cursors.json"
_DECODER = msgspec.json.Decoder(dict[str, int])
_ENCODER = msgspec.json.Encoder()


def load_cursors(directory: Path) -> dict[str, int]:
    """Read the reported cursors; an empty mapping when none were ever reported.

    Raises:
        JournalError: the file exists but cannot be read; starting without it could
            let retention delete what a sink still needs.
    """
    path = directory / FILE_NAME
    (directory / (FILE_NAME + ".tmp")).unlink(missing_ok=True)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise JournalError(f"cannot read journal cursors {path}: {exc}", path) from exc
    try:
        return _DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise JournalError(f"journal cursors {path} are damaged: {exc}", path) from exc


def save_cursors(directory: Path, cursors: dict[str, int], *, fsync: bool) -> None:
    """Replace ``cursors.json`` with ``cursors`` atomically.

    Raises:
        OSError: the file could not be written; the previous version is intact.
    """
    path = directory / FILE_NAME
    tmp = directory / (FILE_NAME + ".tmp")
    with tmp.open("wb") as file:
        file.write(_ENCODER.encode(dict(sorted(cursors.items()))))
        if fsync:
            file.flush()
            os.fsync(file.fileno())
    tmp.replace(path)
    if fsync:
        fsync_directory(directory)


class CursorBook:
    """The cursors sinks reported, and whether the file is behind them."""

    def __init__(self, cursors: dict[str, int]) -> None:
        self._cursors = cursors
        self._dirty = False

    def report(self, name: str, seq: int, last_seq: int) -> None:
        """Record sink ``name`` at ``seq``; ``seq`` must lie in ``0..last_seq``."""
        if not 0 <= seq <= last_seq:
            raise ValueError(f"cursor {seq} for {name!r} is outside 0..{last_seq}")
        if self._cursors.get(name) != seq:
            self._cursors[name] = seq
            self._dirty = True

    def forget(self, name: str) -> None:
        """Drop sink ``name``."""
        if self._cursors.pop(name, None) is not None:
            self._dirty = True

    def take_dirty(self) -> dict[str, int] | None:
        """A copy to save when the file is behind, else ``None``; the book counts as saved."""
        if not self._dirty:
            return None
        self._dirty = False
        return dict(self._cursors)

    def mark_dirty(self) -> None:
        """Saving failed: save again next time."""
        self._dirty = True

    @property
    def dirty(self) -> bool:
        """The file is behind the reports."""
        return self._dirty

    def snapshot(self) -> dict[str, int]:
        """A copy of the cursors by sink name."""
        return dict(self._cursors)
