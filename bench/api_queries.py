"""API benchmark, request side: ``devices/{id}/latest`` under wrk, and bucketed history.

1. ``GET /api/v1/devices/{id}/latest`` on a running site (the real ``meterhub run``
   process with ``--meters`` simulated Kaifa meters reporting every 5 s), loaded by
   ``wrk`` (Debian package) from another process: requests/s and p99. The peer is a bare
   Litestar endpoint under uvicorn measured the same way in the same run.
2. One day of one meter in 1-minute buckets (``bucket=1m&agg=avg``) on SQLite and
   PostgreSQL holding ``--history-meters`` meters x ``--days`` days at 5-second resolution
   (12 metrics each), written straight into the store first: p50/p95 over sequential
   requests through the HTTP API.

Run: ``.venv/bin/python bench/api_queries.py [--meters 1000] [--history-meters 4] [--days 7]``
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec

from meterhub.adapters.stores import ReadingRow, open_store

METRICS = ("energy_import_wh", "energy_export_wh", "power_import_w", "power_export_w",
           "voltage_l1_v", "voltage_l2_v", "voltage_l3_v", "current_l1_a", "current_l2_a",
           "current_l3_a", "power_factor", "reactive_energy_import_varh")  # fmt: skip
END = datetime(2026, 11, 1, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_site(tmp: Path, meters: int, url: str, port: int) -> subprocess.Popen[bytes]:
    lines = [f'data_dir = "{tmp / "data"}"', "[api]", f'listen = "127.0.0.1:{port}"',
             "rate_limit_per_minute = 0", "[storage]", f'url = "{url}"',
             "[logging]", 'level = "WARNING"', "[demo]", "heartbeat_interval = 3600"]  # fmt: skip
    for i in range(meters):
        lines += ["[[meters]]", f'id = "m{i:04d}"', 'transport = "simulator"',
                  f'key = "{i:032X}"', f'simulator = {{ kind = "kaifa_flat", interval = 5.0, seed = {i} }}']  # fmt: skip
    config = tmp / "site.toml"
    config.write_text("\n".join(lines) + "\n")
    return subprocess.Popen([sys.executable, "-m", "meterhub.cli", "run", "-c", str(config)],
                            stderr=(tmp / "site.log").open("w"))  # fmt: skip


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def wrk(url: str, seconds: int = 10, connections: int = 32) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests_per_s": rps, "p99_ms": float(p99.group(1)) * scale,  # type: ignore[union-attr]
            "non_2xx": int(errors.group(1)) if errors else 0}  # fmt: skip


BARE_APP = textwrap.dedent("""
    import sys, uvicorn
    from litestar import Litestar, get
    @get("/x", sync_to_thread=False)
    def x() -> dict[str, str]:
        return {"hello": "world"}
    uvicorn.run(Litestar([x], logging_config=None), host="127.0.0.1", port=int(sys.argv[1]),
                log_level="warning", access_log=False)
""")


def bench_latest(meters: int, repeat: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="meterhub-api-"))
    port = free_port()
    site = start_site(tmp, meters, "", port)
    bare_port = free_port()
    bare = subprocess.Popen([sys.executable, "-c", BARE_APP, str(bare_port)])
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        wait_http(f"http://127.0.0.1:{bare_port}/x")
        time.sleep(6)  # every meter has reported once
        url = f"http://127.0.0.1:{port}/api/v1/devices/m0001/latest"
        assert httpx.get(url).status_code == 200
        ours = [wrk(url) for _ in range(repeat)]
        peer = [wrk(f"http://127.0.0.1:{bare_port}/x") for _ in range(repeat)]
    finally:
        site.send_signal(signal.SIGTERM)
        bare.terminate()
        site.wait(60)
        bare.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: round(statistics.median(r[k] for r in ours), 2) for k in ours[0]}
    bare_med = {k: round(statistics.median(r[k] for r in peer), 2) for k in peer[0]}
    return {"latest": med, "bare_litestar": bare_med,
            "ratio_to_bare": round(med["requests_per_s"] / bare_med["requests_per_s"], 2),
            "runs_rps": [round(r["requests_per_s"]) for r in ours]}  # fmt: skip


async def fill(url: str, meters: int, days: int) -> int:
    step = timedelta(seconds=5)
    start = END - timedelta(days=days)
    total = 0
    async with open_store(url) as store:
        await store.migrate()
        for meter in range(meters):
            ts, batch = start, []
            energy = 0.0
            while ts < END:
                energy += 1.0
                batch.extend(ReadingRow(meter_id=f"h{meter}", ts=ts, metric=m,
                                        value=energy if m.startswith(("energy", "reactive")) else 230.0)
                             for m in METRICS)  # fmt: skip
                ts += step
                if len(batch) >= 200_000:
                    total += await store.write_readings(batch)
                    batch = []
            total += await store.write_readings(batch)
    return total


def bench_query(url: str, history_meters: int, days: int, requests: int) -> dict[str, Any]:
    started = time.perf_counter()
    rows = anyio.run(fill, url, history_meters, days)
    fill_s = time.perf_counter() - started
    tmp = Path(tempfile.mkdtemp(prefix="meterhub-apiq-"))
    port = free_port()
    site = start_site(tmp, 0, url, port)
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        day = END - timedelta(days=1)
        query = (f"http://127.0.0.1:{port}/api/v1/readings?meters=h0&metrics=power_import_w"
                 f"&start={day:%Y-%m-%dT%H:%M:%SZ}&end={END:%Y-%m-%dT%H:%M:%SZ}"
                 "&bucket=1m&agg=avg&limit=2000")  # fmt: skip
        times = []
        with httpx.Client() as client:
            first = client.get(query)
            assert first.status_code == 200, first.text
            assert len(first.json()["buckets"]) == 1440
            for _ in range(requests):
                t0 = time.perf_counter()
                client.get(query).raise_for_status()
                times.append((time.perf_counter() - t0) * 1000)
    finally:
        site.send_signal(signal.SIGTERM)
        site.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)
    times.sort()
    return {"rows": rows, "fill_seconds": round(fill_s, 1),
            "p50_ms": round(times[len(times) // 2], 2),
            "p95_ms": round(times[int(len(times) * 0.95)], 2)}  # fmt: skip


def main(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"latest": bench_latest(args.meters, args.repeat)}
    if args.only == "latest":
        return result
    sqlite_dir = Path(tempfile.mkdtemp(prefix="meterhub-apisq-"))
    result["query_sqlite"] = bench_query(f"sqlite:///{sqlite_dir / 'h.db'}", args.history_meters,
                                         args.days, args.requests)  # fmt: skip
    shutil.rmtree(sqlite_dir, ignore_errors=True)
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from tests.pg import PgServer, _free_port, find_bindir  # noqa: PLC0415

    bindir = find_bindir()
    root = Path(tempfile.mkdtemp(prefix="meterhub-apipg-"))
    root.chmod(0o777)
    server = PgServer(bindir, root, _free_port())  # type: ignore[arg-type]
    server.init()
    server.start()
    try:
        result["query_postgres"] = bench_query(server.dsn(), args.history_meters, args.days,
                                               args.requests)  # fmt: skip
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    result["scale"] = {"live_meters": args.meters, "history_meters": args.history_meters,
                       "days": args.days, "resolution_s": 5, "metrics": len(METRICS)}  # fmt: skip
    return result


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--history-meters", type=int, default=4)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["latest", "all"], default="all")
    print(msgspec.json.format(msgspec.json.encode(main(parser.parse_args())), indent=2).decode())
