"""The live path, the writer's catch-up and ``meterhub replay`` store the same rows.

One journal, three ways into a fresh SQLite store each: a running site decoding live,
a site started on that journal with quiet meters (its writer catches up from the
journal), and the ``meterhub replay`` command. Repeated telegrams are in the stream: the
one pipeline drops them on every path.
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Self

import anyio

from meterhub.adapters.simulator import SimulatedMeter
from meterhub.settings import load_settings
from meterhub.site import Site

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
KEYS = {"a": "000102030405060708090A0B0C0D0E0F", "b": "0F0E0D0C0B0A09080706050403020100"}
KINDS = {"a": "kaifa_flat", "b": "kaifa_nested"}


class Script:
    """Delivers the given telegrams quickly, then stays quiet."""

    def __init__(self, telegrams: list[bytes]) -> None:
        self.telegrams = list(telegrams)

    @property
    def name(self) -> str:
        return "script"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def read(self) -> bytes:
        if not self.telegrams:
            await anyio.sleep_forever()
        await anyio.sleep(0.002)
        return self.telegrams.pop(0)


def telegrams(meter_id: str) -> list[bytes]:
    sim = SimulatedMeter(KINDS[meter_id], f"18122000000{ord(meter_id)}",  # type: ignore[arg-type]
                         bytes.fromhex(KEYS[meter_id]), seed=ord(meter_id), start=T0)  # fmt: skip
    out = [sim.telegram(T0 + timedelta(seconds=10 * i)) for i in range(40)]
    # a meter (or a repeater on the bus) sends the same telegram twice, now and then
    for index in (3, 17, 18):
        out.insert(index, out[index])
    return out


def write_config(tmp_path: Path, data_dir: Path) -> Path:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    meters = "".join(f'[[meters]]\nid = "{m}"\nformat = "mbus"\nport = "injected"\n'
                     f'key = "{key}"\n' for m, key in KEYS.items())  # fmt: skip
    path = tmp_path / f"{data_dir.name}.toml"
    path.write_text(f'data_dir = "{data_dir}"\n[api]\nlisten = "127.0.0.1:{port}"\n'
                    f'[logging]\nlevel = "WARNING"\n{meters}')  # fmt: skip
    return path


def stored(data_dir: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(data_dir / "meterhub.db") as con:
        return con.execute(
            "SELECT meter_id, ts, metric, value, quality, quality_rule, journal_seq, ts_source, "
            "decode_status FROM readings ORDER BY meter_id, ts, metric").fetchall()  # fmt: skip


async def run_site(config: Path, scripts: dict[str, list[bytes]], frames: int) -> None:
    """Run the site until its writer has committed ``frames`` journal records."""
    settings = load_settings(config)
    transports = {m: (lambda t=t: Script(t)) for m, t in scripts.items()}
    async with Site(settings, transports) as site:
        with anyio.fail_after(60):
            while site.journal.cursors.get("store", 0) < frames:  # noqa: ASYNC110 (its progress)
                await anyio.sleep(0.05)


async def test_live_catch_up_and_replay_store_identical_rows(tmp_path: Path) -> None:
    scripts = {m: telegrams(m) for m in KEYS}
    frames = sum(len(t) for t in scripts.values())
    live, caught_up, replayed = (tmp_path / n for n in ("live", "caught_up", "replayed"))
    await run_site(write_config(tmp_path, live), scripts, frames)

    for target in (caught_up, replayed):
        target.mkdir()
        shutil.copytree(live / "journal", target / "journal")
        (target / "journal" / "cursors.json").unlink(missing_ok=True)
    # the same journal, no meter sending: the writer rebuilds everything from the journal
    await run_site(write_config(tmp_path, caught_up), {m: [] for m in KEYS}, frames)
    await anyio.run_process([sys.executable, "-m", "meterhub.cli", "replay", "-c",
                             str(write_config(tmp_path, replayed))], check=True)  # fmt: skip

    rows = stored(live)
    readings = {(r[0], r[1]) for r in rows}
    assert len(readings) == 2 * 40  # each repeated telegram stored once
    # ... from its first copy: the repeat's journal record gave no reading on any path
    seqs = {r[6] for r in rows}
    assert len(seqs) == 2 * 40
    assert max(seqs) > 2 * 40
    assert stored(caught_up) == rows
    assert stored(replayed) == rows
