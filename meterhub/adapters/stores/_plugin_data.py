"""What both backends check before storing plugin data: alert evidence and plugin state.

Kept free of I/O so that SQLite and PostgreSQL refuse the same input with the same words.
"""

from __future__ import annotations

import msgspec

from meterhub.adapters.stores._errors import StoreError
from meterhub.adapters.stores._rows import Evidence

MAX_STATE_BYTES = 1024 * 1024
"""Largest value a plugin may keep under one key (1 MiB)."""

MAX_KEY_CHARS = 200
"""Longest key a plugin may keep a value under."""

_SHOWN_CHARS = 60
_EVIDENCE = msgspec.json.Decoder(Evidence)
_ENCODER = msgspec.json.Encoder()


def encode_evidence(evidence: Evidence, *, alert_id: str, backend: str) -> str:
    """``evidence`` as JSON text, once it is known to decode back.

    msgspec writes NaN and infinity as ``null`` and a bool as ``true``; none of them
    decodes as a number or a string, so such evidence would make the alert unreadable.

    Raises:
        StoreError: a value is not a finite number or a string.
    """
    try:
        text = _ENCODER.encode(evidence)
        _EVIDENCE.decode(text)
    except (TypeError, msgspec.EncodeError, msgspec.ValidationError) as exc:
        raise StoreError(
            f"alert {alert_id!r}: evidence must map names to finite numbers or strings ({exc})",
            backend=backend,
            operation="upsert_alert",
        ) from exc
    return text.decode()


def decode_evidence(text: str) -> Evidence:
    """Evidence as :func:`encode_evidence` stored it."""
    return _EVIDENCE.decode(text)


def check_state_plugin(plugin: str, *, backend: str, operation: str) -> None:
    """Refuse a plugin name with a NUL, which PostgreSQL's ``text`` cannot hold.

    Raises:
        StoreError: the name holds a NUL character.
    """
    if "\x00" in plugin:
        raise StoreError(
            f"plugin {plugin!r}: a NUL character is not allowed in a plugin name",
            backend=backend,
            operation=operation,
        )


def check_state_key(plugin: str, key: str, *, backend: str, operation: str) -> None:
    """Refuse a plugin name or key that the store cannot hold alike on every backend.

    PostgreSQL's ``text`` refuses NUL, which SQLite would keep.

    Raises:
        StoreError: the key is longer than :data:`MAX_KEY_CHARS`, or the name or key
            holds a NUL character.
    """
    check_state_plugin(plugin, backend=backend, operation=operation)
    if len(key) > MAX_KEY_CHARS:
        raise StoreError(
            f"plugin {plugin!r} key {_shortened(key)} is {len(key)} characters long, "
            f"more than the limit of {MAX_KEY_CHARS}",
            backend=backend,
            operation=operation,
        )
    if "\x00" in key:
        raise StoreError(
            f"plugin {plugin!r} key {key!r}: a NUL character is not allowed in a key",
            backend=backend,
            operation=operation,
        )


def _shortened(key: str) -> str:
    # name the key so it can be found in the plugin, without a page of it in the log
    return repr(key) if len(key) <= _SHOWN_CHARS else f"{key[:_SHOWN_CHARS]!r}..."


def check_state_value(plugin: str, key: str, value: bytes, *, backend: str) -> None:
    """Refuse a value larger than :data:`MAX_STATE_BYTES`.

    Raises:
        StoreError: the value is too large.
    """
    if len(value) > MAX_STATE_BYTES:
        raise StoreError(
            f"plugin {plugin!r} key {key!r}: value of {len(value)} bytes is larger than "
            f"the limit of {MAX_STATE_BYTES} bytes (1 MiB)",
            backend=backend,
            operation="put_plugin_state",
        )
