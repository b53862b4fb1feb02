"""The one error a codec reports: a telegram that cannot be decoded, and why."""

from __future__ import annotations

from typing import Literal

from meterhub.platform._errors import MeterhubError

DecodeReason = Literal[
    "checksum", "truncated", "no_key", "wrong_key", "auth_tag", "unsupported", "malformed"
]
"""Why a telegram was rejected; this is the contract callers branch on (the table of
reasons and when each applies is in ``docs/meters.md``)."""

DECODE_REASONS: frozenset[str] = frozenset(
    ("checksum", "truncated", "no_key", "wrong_key", "auth_tag", "unsupported", "malformed")
)


class DecodeError(MeterhubError):
    """A telegram or frame was rejected.

    Framers return these in their output list instead of raising, so one bad frame
    never hides the good frames around it; the one-shot helpers raise them.

    Attributes:
        reason: one of ``checksum``, ``truncated``, ``no_key``, ``wrong_key``,
            ``auth_tag``, ``unsupported``, ``malformed``.
        detail: what went wrong, in words a user can act on.
        offset: byte offset where the problem was found (always set for
            ``malformed`` and for skipped bytes); relative to the stream for framing
            errors and to the APDU for payload errors.
        data: for a framer's rejection, the exact stream bytes it skipped (starting at
            ``offset``), so they can be journaled and framed again after a fix;
            ``None`` for errors about a payload that was already cut out.
    """

    def __init__(
        self,
        reason: DecodeReason,
        detail: str,
        offset: int | None = None,
        data: bytes | None = None,
    ) -> None:
        if reason not in DECODE_REASONS:
            msg = f"unknown decode reason {reason!r}"
            raise ValueError(msg)
        if reason == "malformed" and offset is None:
            msg = "a malformed-telegram error needs a byte offset"
            raise ValueError(msg)
        self.reason: DecodeReason = reason
        self.detail = detail
        self.offset = offset
        self.data = data
        where = f" (at byte {offset})" if offset is not None else ""
        super().__init__(f"{reason}: {detail}{where}")

    def __reduce__(
        self,
    ) -> tuple[type[DecodeError], tuple[DecodeReason, str, int | None, bytes | None]]:
        return (type(self), (self.reason, self.detail, self.offset, self.data))

    def to_dict(self) -> dict[str, str | int | None]:
        """Return the error as a JSON-ready mapping (skipped bytes as their count)."""
        found: dict[str, str | int | None] = {
            "reason": self.reason,
            "detail": self.detail,
            "offset": self.offset,
        }
        if self.data is not None:
            found["skipped_bytes"] = len(self.data)
        return found

    def shifted(self, delta: int) -> DecodeError:
        """Return a copy whose offset is moved by ``delta`` bytes (for nested payloads)."""
        if self.offset is None:
            return self
        return DecodeError(self.reason, self.detail, self.offset + delta, self.data)
