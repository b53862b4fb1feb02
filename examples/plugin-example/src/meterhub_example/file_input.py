"""An input plugin: follows a JSON-lines file, one reading per line.

Each line is ``{"device": "...", "ts": "2026-12-04T10:00:00Z", "values": {...}}``.
``run`` only delivers the line's bytes; ``decode`` reads them, so the journal holds
the line exactly as it was and a replay decodes it again the same way.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from meterhub.plugins import (
    API_VERSION,
    DeviceInfo,
    InputBroken,
    InputFeed,
    InputPlugin,
    PayloadError,
    Sample,
)

if TYPE_CHECKING:
    from collections.abc import Sequence


class FileSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[plugins.example_file]``."""

    path: str
    devices: list[str] = msgspec.field(default_factory=list)
    """Devices announced at start (more appear as lines name them)."""
    poll_s: float = 0.2

    def check(self) -> None:
        """Cross-key rules a type cannot say."""
        if self.poll_s <= 0:
            raise ValueError(f"poll_s: must be above 0, got {self.poll_s}")


class _Line(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    device: str
    ts: datetime
    values: dict[str, float]


_decoder = msgspec.json.Decoder(_Line)


class JsonLinesInput(InputPlugin[FileSettings]):
    """Delivers every line appended to a file (from the start at the first run)."""

    api_version = API_VERSION
    version = "1.0.0"
    settings_type = FileSettings

    def devices(self) -> Sequence[DeviceInfo]:
        """The devices named in the settings."""
        return [DeviceInfo(id=d, name=f"file device {d}") for d in self.settings.devices]

    async def run(self, feed: InputFeed) -> None:
        """Read new lines and deliver each to the device it names.

        Raises:
            InputBroken: the file cannot be read.
        """
        path, offset = Path(self.settings.path), 0
        while True:
            try:
                data = await anyio.Path(path).read_bytes()
            except OSError as exc:
                raise InputBroken(f"cannot read {path}: {exc}") from exc
            end = data.rfind(b"\n") + 1
            for line in data[offset:end].splitlines():
                if line.strip():
                    await feed.deliver(self._device_of(line), line)
            offset = max(offset, end)
            await anyio.sleep(self.settings.poll_s)

    def decode(self, device_id: str, payload: bytes) -> Sequence[Sample]:  # noqa: ARG002 (the line names it)
        """One line to one sample.

        Raises:
            PayloadError: the line is not a reading.
        """
        try:
            line = _decoder.decode(payload)
        except msgspec.DecodeError as exc:
            raise PayloadError(f"not a reading line: {exc}") from exc
        return [Sample(ts=line.ts, values=dict(line.values))]

    def _device_of(self, line: bytes) -> str:
        """The device a line names; an unreadable line goes to the first device listed.

        Delivered anyway: the journal keeps it and the device's error count shows it.
        """
        fallback = self.settings.devices[0] if self.settings.devices else "unknown"
        try:
            return str(msgspec.json.decode(line).get("device") or fallback)
        except (msgspec.DecodeError, AttributeError):
            return fallback
