"""Ingest benchmark: the whole site pipeline into SQLite and PostgreSQL.

Simulated Kaifa meters (real encrypted M-Bus telegrams, made before the measurement)
feed real input actors through injected transports; every frame goes through the
journal (fsync on), decoding, validation, enrichment, aggregation, alerting and the
store writer (batched, cursor in the same transaction). Measured: telegrams and values
committed per second at an offered rate, and the latency from frame received (journal
append) to committed (the writer's cursor passing it), and how fast the backlog (journaled,
not committed) grows: about zero while the pipeline keeps up. In the same run, a naive
collector that decodes and does one INSERT (and commit) per telegram.

Run: ``.venv/bin/python bench/ingest.py [--store sqlite|postgres|both] [--rate 8000]
[--seconds 10] [--repeat 3]`` (PostgreSQL: a throwaway server is started from the
Debian binaries, fsync off, as in tests).
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import socket
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

import anyio
import asyncpg
import msgspec

from meterhub.adapters.codecs import MeterDecoder
from meterhub.adapters.simulator import SimulatedMeter
from meterhub.settings import Settings
from meterhub.site import Site


def _meter_telegrams(args: tuple[int, int, float, datetime]) -> list[bytes]:
    index, count, interval, start = args
    number = f"{index:012d}"
    sim = SimulatedMeter("kaifa_nested" if index % 2 else "kaifa_flat", number,
                         bytes.fromhex(f"{index:032X}"), seed=index, start=start)  # fmt: skip
    return [sim.telegram(start + timedelta(seconds=i * interval)) for i in range(count)]


def prepare(meters: int, rate: float, seconds: float) -> tuple[float, list[list[bytes]]]:
    """Each run's telegrams, made just before it: meter clocks near the wall clock, as on
    a real site (telegrams made for an earlier run would be minutes old by a later one,
    and more than ``max_clock_skew_s`` makes every reading suspect)."""
    interval = meters / rate
    count = int(seconds / interval) + 2
    start = datetime.now(UTC).replace(microsecond=0)
    with multiprocessing.Pool(2) as pool:
        return interval, pool.map(_meter_telegrams,
                                  [(i, count, interval, start) for i in range(meters)])  # fmt: skip


class ReplayTransport:
    """Plays prepared telegrams once at a fixed interval, then stays quiet."""

    def __init__(self, telegrams: list[bytes], interval: float, offset: float) -> None:
        self.telegrams, self.interval, self.offset = telegrams, interval, offset
        self.next = 0.0
        self.index = 0

    @property
    def name(self) -> str:
        return "replay"

    async def __aenter__(self) -> Self:
        self.next = anyio.current_time() + self.offset
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def read(self) -> bytes:
        if self.index >= len(self.telegrams):
            await anyio.sleep_forever()
        await anyio.sleep_until(self.next)
        self.next += self.interval
        self.index += 1
        return self.telegrams[self.index - 1]


def settings_for(data_dir: Path, url: str, meters: int,
                 plugins: dict[str, Any] | None = None) -> Settings:  # fmt: skip
    return msgspec.convert({
        "plugins": plugins or {},
        "data_dir": str(data_dir),
        "api": {"listen": f"127.0.0.1:{_free_port()}"},
        "storage": {"url": url},  # the default batching
        "runtime": {"shutdown_timeout": 300},
        "logging": {"level": "WARNING"},
        "demo": {"heartbeat_interval": 3600},
        "meters": [{"id": f"m{i}", "format": "mbus", "port": "bench", "key": f"{i:032X}"}
                   for i in range(meters)],
    }, Settings, dec_hook=_secret)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _secret(target: type, obj: Any) -> Any:
    from meterhub.platform import Secret  # noqa: PLC0415

    if target is Secret:
        return Secret(obj)
    raise NotImplementedError


async def run_pipeline(url: str, prepared: list[list[bytes]], interval: float,
                       seconds: float, warmup: float = 2.0, *,
                       plugins: dict[str, Any] | None = None) -> dict[str, float]:  # fmt: skip
    meters = len(prepared)
    appended: list[float] = [0.0]  # seq -> perf_counter at append (index 0 unused)
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp), url, meters, plugins)
        transports = {f"m{i}": (lambda t=telegrams, i=i: ReplayTransport(
            t, interval, offset=i / meters * interval)) for i, telegrams in enumerate(prepared)}  # fmt: skip
        site = Site(settings, transports)
        real_append = site.journal.append

        def timed_append(frame: Any) -> int:
            seq = real_append(frame)
            appended.append(time.perf_counter())
            return seq

        site.journal.append = timed_append  # type: ignore[method-assign]
        commits: list[tuple[float, int]] = []
        cpu_start = time.process_time()
        async with site:
            await anyio.sleep(warmup)
            cpu0, t0 = time.process_time(), time.perf_counter()
            c0 = site.journal.cursors.get("store", 0)
            backlog0 = len(appended) - 1 - c0
            while time.perf_counter() - t0 < seconds:
                commits.append((time.perf_counter(), site.journal.cursors.get("store", 0)))
                await anyio.sleep(0.02)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
            c1 = site.journal.cursors.get("store", 0)
            offered = len(appended) - 1
            backlog1 = offered - c1
            drained_at = await _drain(site)
            # what processor plugins could not keep up with (their mailboxes drop oldest)
            plugins = [a for a in site.actor_status() if a.name.startswith("plugin:")]
            plugin_dropped = sum(a.dropped for a in plugins)
            # the seconds the plugins' handlers ran, over the whole run: their own cost
            plugin_handling_s = sum(a.handling_seconds for a in plugins)
            total_cpu_s = time.process_time() - cpu_start
            # from the last frame the meters sent to the last one committed
            drain_s = round(drained_at - appended[-1], 2)
    latencies = _latencies(appended, commits)
    telegrams = c1 - c0
    return {"telegrams_per_s": telegrams / wall, "values_per_s": telegrams * VALUES / wall,
            "offered_per_s": meters / interval, "cpu_share": cpu / wall,
            "latency_p50_ms": _pct(latencies, 50), "latency_p99_ms": _pct(latencies, 99),
            "journaled": offered,
            # journaled but not yet committed, change per second over the window: about
            # zero while the pipeline keeps up (a batch in flight makes it jitter)
            "backlog_growth_per_s": (backlog1 - backlog0) / wall,
            # once the meters stop (their telegrams run out just after the window), how
            # long the site takes to store its backlog: it drains when the load falls
            "drain_s": drain_s, "plugin_dropped": plugin_dropped,
            "plugin_share_of_cpu": plugin_handling_s / total_cpu_s}  # fmt: skip


async def _drain(site: Site, limit: float = 600.0) -> float:
    """When every journaled frame was committed, the meters done sending."""
    started = time.perf_counter()
    last, since, done = -1, started, 0.0
    while (now := time.perf_counter()) - started < limit:
        head = site.journal.last_seq
        if site.journal.cursors.get("store", 0) < head:
            done = 0.0
        elif not done:
            done = now
        if head != last:
            last, since = head, now
        if done and now - since > 1.0:  # nothing sent for a second
            return done
        await anyio.sleep(0.02)
    return time.perf_counter()


VALUES = 11.5  # the flat layout carries 11 values, the nested 12; meters alternate


def _latencies(appended: list[float], commits: list[tuple[float, int]]) -> list[float]:
    out: list[float] = []
    done = commits[0][1] if commits else 0  # frames stored before the window don't count
    for at, cursor in commits:
        upto = min(cursor, len(appended) - 1)
        out.extend((at - appended[seq]) * 1000 for seq in range(done + 1, upto + 1))
        done = max(done, cursor)
    return out


def _pct(values: list[float], pct: int) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, len(ordered) * pct // 100)], 1)


async def run_naive(url: str, prepared: list[list[bytes]], limit: int = 3000) -> float:
    """Decode and INSERT one telegram at a time, committing each: the naive collector."""
    frames = [(i, t) for i, ts in enumerate(prepared) for t in ts[:20]][:limit]
    decoders = {i: MeterDecoder("mbus", bytes.fromhex(f"{i:032X}")) for i, _ in frames}
    create = ("CREATE TABLE IF NOT EXISTS naive (meter TEXT, ts TEXT, metric TEXT, value REAL, "
              "PRIMARY KEY (meter, ts, metric))")  # fmt: skip
    started = time.perf_counter()
    if url.startswith("sqlite:///"):
        con = sqlite3.connect(url.removeprefix("sqlite:///"))
        con.execute(create)
        for i, data in frames:
            for telegram in decoders[i].feed(data):
                rows = [(f"m{i}", str(telegram.timestamp), k, float(v))  # type: ignore[union-attr]
                        for k, v in telegram.values.items() if not isinstance(v, str)]  # type: ignore[union-attr] # fmt: skip
                con.executemany("INSERT OR IGNORE INTO naive VALUES (?, ?, ?, ?)", rows)
                con.commit()
        con.close()
    else:
        pg = await asyncpg.connect(url)
        await pg.execute(create)
        for i, data in frames:
            for telegram in decoders[i].feed(data):
                rows = [(f"m{i}", str(telegram.timestamp), k, float(v))  # type: ignore[union-attr]
                        for k, v in telegram.values.items() if not isinstance(v, str)]  # type: ignore[union-attr] # fmt: skip
                await pg.executemany("INSERT INTO naive VALUES ($1, $2, $3, $4) "
                                     "ON CONFLICT DO NOTHING", rows)  # fmt: skip
        await pg.close()
    return len(frames) / (time.perf_counter() - started)


async def bench_store(kind: str, url_for: Any, args: argparse.Namespace) -> dict[str, Any]:
    runs, naive = [], []
    for _ in range(args.repeat):
        interval, prepared = prepare(args.meters, args.rate, args.seconds + 4)
        runs.append(await run_pipeline(await url_for(), prepared, interval, args.seconds))
        naive.append(await run_naive(await url_for(), prepared))
    median = {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}
    return {"store": kind, "median": median, "runs_telegrams_per_s":
            [round(r["telegrams_per_s"]) for r in runs],
            "naive_telegrams_per_s": round(statistics.median(naive)),
            "ratio_pipeline_to_naive": round(median["telegrams_per_s"] / statistics.median(naive), 1)}  # fmt: skip


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    if args.store in ("sqlite", "both"):
        # each run leaves a database of a few hundred MB: all go when the store is done
        with tempfile.TemporaryDirectory(prefix="meterhub-bench-sqlite-") as name:
            tmp = Path(name)
            counter = iter(range(1000))

            async def sqlite_url() -> str:
                return f"sqlite:///{tmp / f'bench{next(counter)}.db'}"

            results.append(await bench_store("sqlite", sqlite_url, args))
    if args.store in ("postgres", "both"):
        from tests.pg import PgServer, _free_port, find_bindir  # noqa: PLC0415

        bindir = find_bindir()
        assert bindir is not None, "PostgreSQL binaries are not installed"
        root = Path(tempfile.mkdtemp(prefix="meterhub-bench-pg-"))
        root.chmod(0o777)  # noqa: ASYNC240 (set-up, nothing else runs yet)
        server = PgServer(bindir, root, _free_port())
        server.init()
        server.start()
        try:
            names = iter(range(1000))

            async def pg_url() -> str:
                name = f"bench{next(names)}"
                con = await asyncpg.connect(server.dsn())
                await con.execute(f"CREATE DATABASE {name}")
                await con.close()
                return server.dsn(name)

            results.append(await bench_store("postgres", pg_url, args))
        finally:
            server.stop()
            shutil.rmtree(root, ignore_errors=True)
    return {"meters": args.meters, "offered_telegrams_per_s": args.rate,
            "seconds": args.seconds, "repeat": args.repeat, "results": results}  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rate", type=float, default=8000.0, help="offered telegrams/s")
    parser.add_argument("--meters", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    print(msgspec.json.format(msgspec.json.encode(anyio.run(main, parser.parse_args(), backend_options={"use_uvloop": True})),
                              indent=2).decode())  # fmt: skip
