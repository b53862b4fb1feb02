"""Structured logging: one line per event, the actor's name on every line.

Each actor incarnation runs in its own task, so a context variable set at the start of
that task names the actor for every log call made inside it, adapters included.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from typing import ClassVar, TextIO

import msgspec

_current_actor: contextvars.ContextVar[str] = contextvars.ContextVar("meterhub_actor", default="-")

# attributes every LogRecord has; anything else came in through ``extra=`` and is a field
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "actor", "color_message"}  # uvicorn's ANSI copy of the message
)


def bind_actor(name: str) -> None:
    """Name the actor for every log line written from the current task."""
    _current_actor.set(name)


class _ActorFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "actor"):
            record.actor = _current_actor.get()
        return True


def _fields(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


def _quote(value: object) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "='):
        return '"' + text.replace('"', '\\"') + '"'
    return text


class TextFormatter(logging.Formatter):
    """``time level logger actor=NAME message key=value ...`` (logfmt-like)."""

    converter = staticmethod(time.gmtime)

    def format(self, record: logging.LogRecord) -> str:
        """Render one record on one line."""
        stamp = self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z"
        parts = [stamp, record.levelname, record.name, f"actor={record.__dict__['actor']}"]
        parts.append(_quote(record.getMessage()))
        parts.extend(f"{key}={_quote(value)}" for key, value in _fields(record).items())
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    _encoder: ClassVar[msgspec.json.Encoder] = msgspec.json.Encoder(enc_hook=str)

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as a JSON object."""
        doc: dict[str, object] = {
            "ts": record.created,
            "level": record.levelname,
            "logger": record.name,
            "actor": record.__dict__["actor"],
            "msg": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return self._encoder.encode(doc).decode()


def configure_logging(level: str = "INFO", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Install meterhub's handler on the root logger (entry points only)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_ActorFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn and asyncio are chatty at INFO about things the site already reports
    logging.getLogger("asyncio").setLevel(logging.WARNING)
