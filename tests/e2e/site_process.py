"""Running the real ``meterhub run`` process under load, and checking what it stored."""

from __future__ import annotations

import dataclasses
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import asyncpg

from meterhub._meters import load_directory, load_profiles, pipeline_factory
from meterhub.adapters.journal import Journal
from meterhub.adapters.stores import open_store
from meterhub.model import Reading
from meterhub.settings import Settings, load_settings

if TYPE_CHECKING:
    from collections.abc import Callable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(tmp_path: Path, *, meters: int = 40, interval: float = 0.05,
                 store_url: str = "", writer_flush_s: float = 0.1) -> Path:  # fmt: skip
    """A site with many fast simulated Kaifa meters: about meters/interval telegrams/s."""
    lines = [f'data_dir = "{tmp_path / "data"}"', "[api]", f'listen = "127.0.0.1:{free_port()}"',
             'auth = "open-on-loopback"',
             "[runtime]", "shutdown_timeout = 60",
             "[storage]", f'url = "{store_url}"', f"flush_interval_s = {writer_flush_s}",
             "[demo]", "heartbeat_interval = 3600"]  # fmt: skip
    for i in range(meters):
        kind = "kaifa_nested" if i % 2 else "kaifa_flat"
        lines += ["[[meters]]", f'id = "m{i:03d}"', 'transport = "simulator"',
                  f'key = "{i:032X}"',
                  f'simulator = {{ kind = "{kind}", interval = {interval}, seed = {i} }}']  # fmt: skip
    path = tmp_path / "site.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class SiteProcess:
    """``meterhub run -c CONFIG`` as a child process with its log in a file."""

    def __init__(self, config: Path, log: Path, **popen: Any) -> None:
        self.config = config
        self.log = log
        self._log_file = log.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "meterhub.cli", "run", "-c", str(config)],
            stderr=self._log_file, stdout=subprocess.DEVNULL, **popen,
        )  # fmt: skip

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 90) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log_file.close()

    def text(self) -> str:
        return self.log.read_text()


async def wait_until(check: Callable[[], Any], timeout: float, what: str) -> None:
    """Poll a condition in another process (the site) until it holds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await anyio.sleep(0.2)


_TOTALS = "SELECT count(*), count(DISTINCT journal_seq) FROM readings"


async def stored_seqs(url: str) -> tuple[int, int, int]:
    """(rows, distinct journal seqs, the store writer's cursor) in the store."""
    async with open_store(url) as store:
        await store.migrate()
        cursor = await store.read_cursor("store")
    # exact totals straight from the database (the conformance suite covers the API)
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as con:
            rows, seqs = con.execute(_TOTALS).fetchone()
    else:
        con = await asyncpg.connect(url)
        try:
            rows, seqs = await con.fetchrow(_TOTALS)
        finally:
            await con.close()
    return int(rows), int(seqs), cursor


async def rows_per_seq(url: str) -> dict[int, int]:
    """journal seq -> rows stored for it (for diagnosing a mismatch)."""
    query = "SELECT journal_seq, count(*) FROM readings GROUP BY journal_seq"
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as con:
            return dict(con.execute(query).fetchall())
    con = await asyncpg.connect(url)
    try:
        return {int(r[0]): int(r[1]) for r in await con.fetch(query)}
    finally:
        await con.close()


@dataclasses.dataclass
class JournalContents:
    """What the journal holds, decoded as a replay would."""

    records: int
    decoded: dict[int, tuple[str, str, int]]  # seq -> (meter, ts, number of values)

    def telegrams(self) -> dict[tuple[str, str], int]:
        """(meter, ts) -> values: a telegram repeated with the same meter clock (sent twice
        within the clock's resolution) is one reading, as the store is idempotent on
        (meter, ts, metric)."""
        out: dict[tuple[str, str], int] = {}
        for meter, ts, values in self.decoded.values():
            out.setdefault((meter, ts), values)
        return out


async def journal_contents(config: Path) -> JournalContents:
    """Decode every journal record of the site in ``config``."""
    settings: Settings = load_settings(config)
    profiles = load_profiles(settings)
    async with open_store(settings.store_url()) as store:
        directory = await load_directory(store)
    pipeline = pipeline_factory(settings, profiles, lambda: directory)()
    records, decoded = 0, {}
    async with Journal(Path(settings.data_dir) / "journal") as journal:
        for seq, frame in journal.read(0):
            records += 1
            reading = pipeline.run(frame, seq)
            if isinstance(reading, Reading):
                decoded[seq] = (reading.meter_id, reading.ts.isoformat(), len(reading.values))
    return JournalContents(records, decoded)
