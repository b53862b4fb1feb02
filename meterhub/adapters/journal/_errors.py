"""The journal's errors: storage that cannot take data, and records that cannot be read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meterhub.platform._errors import MeterhubError

if TYPE_CHECKING:
    from pathlib import Path


class JournalError(MeterhubError):
    """The journal cannot store or serve data right now.

    Attributes:
        reason: what went wrong, in words an operator can act on (also the message).
        path: the file or directory involved, when there is one.
    """

    def __init__(self, reason: str, path: Path | None = None) -> None:
        self.reason = reason
        self.path = path
        super().__init__(reason)


class CorruptRecordError(JournalError):
    """A record inside a segment does not verify (bit rot, a damaged sealed segment).

    The reader stops at the damage instead of guessing; the caller decides whether to
    skip it. Calling ``read(after=error.resume_after)`` continues with the next record
    that verifies.

    Attributes:
        offset: byte offset of the damaged record inside ``path``.
        last_good_seq: the last seq that was read intact before the damage.
        resume_after: the cursor that skips the damage; seqs in
            ``last_good_seq + 1 .. resume_after`` are lost.
    """

    def __init__(
        self, path: Path, offset: int, detail: str, last_good_seq: int, resume_after: int
    ) -> None:
        self.offset = offset
        self.last_good_seq = last_good_seq
        self.resume_after = resume_after
        lost = (
            f"seq {last_good_seq + 1}..{resume_after} lost"
            if resume_after > last_good_seq
            else "no seq lost"
        )
        super().__init__(
            f"corrupt journal record in {path} at byte {offset}: {detail} "
            f"({lost}; resume after seq {resume_after})",
            path,
        )
