r"""Text as every backend can hold it: no NUL characters.

PostgreSQL's ``text`` and ``jsonb`` refuse U+0000, which a device may well send (an
ack's ``"error": "\\u0000"``, a hello's firmware version). Refused, the store writer
would fail on the same journal record after every restart; so both backends store such
text with U+FFFD in place of each NUL and agree on what they return. Bytes (a dead
letter's payload) are kept exactly.
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar, cast

import msgspec

T = TypeVar("T")

REPLACEMENT = "\ufffd"
_ENCODER = msgspec.json.Encoder()
# msgspec writes a NUL in a string as this escape; bytes are base64, so never match
_NUL_ESCAPE = b"\\u0000"


def without_nul(value: T) -> T:
    """``value`` with each NUL in its strings (dict keys too) replaced by U+FFFD.

    Walks Structs, dicts, lists and tuples; returns ``value`` itself when it holds no NUL
    (the usual case, found by one encode).
    """
    try:
        if _NUL_ESCAPE not in _ENCODER.encode(value):
            return value
    except (TypeError, msgspec.EncodeError):
        pass  # something the encoder refuses: walk it anyway
    return cast("T", _clean(value))


def _clean(value: Any) -> Any:  # noqa: ANN401 - any stored value
    if isinstance(value, enum.Enum):
        return value  # a StrEnum is a str, but its values are ours
    if isinstance(value, str):
        return value.replace("\x00", REPLACEMENT)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_clean(v) for v in value)
    if isinstance(value, msgspec.Struct):
        changes = {f: _clean(getattr(value, f)) for f in value.__struct_fields__}
        return msgspec.structs.replace(value, **changes)
    return value
