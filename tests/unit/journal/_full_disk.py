"""Run a journal against a "full disk" (RLIMIT_FSIZE) in its own process.

Usage: ``python -m tests.unit.journal._full_disk DIRECTORY``. Prints what it saw as
JSON on stdout; the journal's log goes to stderr. A process-wide file size limit is
the only way to fill a disk for real without root tricks, so it runs apart from
pytest.
"""

from __future__ import annotations

import logging
import resource
import signal
import sys
from pathlib import Path

import anyio
import msgspec

from meterhub.adapters.journal import Journal, JournalError
from tests.unit.journal._frames import frame

LIMIT = 16 * 1024


async def _fill(journal: Journal, report: dict[str, object]) -> None:
    for i in range(40):  # ~40 KiB: past the 16 KiB limit
        journal.append(frame(i, size=1000))
    errors = []
    for _ in range(3):  # three failed attempts, still one failure episode in the log
        try:
            await journal.flush()
        except JournalError as exc:
            errors.append(str(exc))
    report["flush_errors"] = errors
    report["health"] = journal.health
    report["durable_while_full"] = journal.durable_seq
    accepted = 0
    try:
        while True:
            journal.append(frame(1000 + accepted, size=1000))
            accepted += 1
    except JournalError as exc:
        report["refused"] = str(exc)
    report["accepted_while_full"] = accepted


async def main(directory: Path) -> None:
    report: dict[str, object] = {}
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    async with Journal(directory, max_buffer_bytes=128 * 1024, flush_interval=0.01) as journal:
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, hard))
        await _fill(journal, report)
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # room again
        await journal.flush()
        report["health_after"] = journal.health
        report["last_seq"] = journal.last_seq
        report["durable_after"] = journal.durable_seq
    async with Journal(directory) as journal:
        report["read_back"] = [f.payload[:20].decode() for _, f in journal.read(0)]
    sys.stdout.write(msgspec.json.encode(report).decode())


if __name__ == "__main__":
    # without this the kernel kills the process at the limit instead of failing the write
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s"
    )
    anyio.run(main, Path(sys.argv[1]))
