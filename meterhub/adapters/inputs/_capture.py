"""A meter's raw byte stream kept in a hex file for a bug report (``capture = true``).

The file holds the bytes exactly as the transport delivered them, before any framing,
so a framing bug is in it too; ``meterhub decode FILE --key …`` and ``meterhub profile
draft FILE`` read it as it is (``#`` lines are comments). Keys are never written: the
telegrams stay encrypted as the meter sent them. The file is capped: at the limit it
moves to ``FILE.1`` (replacing an older one) and a new file starts.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from pathlib import Path

_log = logging.getLogger(__name__)
DEFAULT_LIMIT = 1024 * 1024
_LINE_BYTES = 32


class CaptureFile:
    """Appends stream chunks, as hex, to one meter's capture file.

    Args:
        path: the file (its folder is created when the first chunk arrives).
        meter_id: the meter, named in the header.
        fmt: the meter's configured framing, named in the header.
        limit: bytes of file before it is rotated.
    """

    def __init__(self, path: Path, meter_id: str, fmt: str, limit: int = DEFAULT_LIMIT) -> None:
        self.path = path
        self._meter_id = meter_id
        self._fmt = fmt
        self._limit = limit
        self._file: TextIO | None = None
        self._size = 0
        self._failed = False

    def write(self, chunk: bytes, received_at: datetime) -> None:
        """Append one chunk with its receive time; a failing disk only logs, once."""
        if self._failed or not chunk:
            return
        try:
            if self._file is None or self._size >= self._limit:
                self._open()
            assert self._file is not None  # noqa: S101 - _open set it
            text = _lines(chunk, received_at)
            self._file.write(text)
            self._file.flush()
            self._size += len(text)
        except OSError as exc:
            # the capture is a diagnostic aid: it must never stop the meter's input
            self._failed = True
            _log.warning("capture of meter %s stopped: %s", self._meter_id, exc)

    def close(self) -> None:
        """Close the file (a later write opens it again)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> None:
        if self._file is not None:
            self._file.close()
            self.path.replace(self.path.with_name(self.path.name + ".1"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="ascii")
        self._size = self.path.stat().st_size
        if self._size == 0:
            header = (
                f"# meterhub capture of meter {self._meter_id} (format {self._fmt}), "
                f"started {datetime.now(UTC).isoformat(timespec='seconds')}\n"
                "# raw bytes as received, before framing; no keys are in this file.\n"
                "# decode: meterhub decode THIS_FILE --key <the meter's key>\n"
            )
            self._file.write(header)
            self._size = len(header)
        _log.info("capturing meter %s to %s", self._meter_id, self.path)


def _lines(chunk: bytes, received_at: datetime) -> str:
    hexed = chunk.hex().upper()
    step = 2 * _LINE_BYTES
    rows = "\n".join(hexed[i : i + step] for i in range(0, len(hexed), step))
    return f"# {received_at.isoformat(timespec='milliseconds')} {len(chunk)} bytes\n{rows}\n"
