"""Live-feed benchmark: WebSocket fan-out latency and throughput.

Prints one JSON object. Run: ``.venv/bin/python bench/api.py --repeat 3``.

The server (a Litestar app with ``live_router`` on a real ``Bus`` under uvicorn) runs in a
subprocess and publishes synthetic readings on its bus from inside, each stamped with
``received_at`` at publish time; the clients run in this process on one asyncio loop with
many ``websockets`` connections. Scenarios (issue 5):

- ``fanout``: 1,000 clients, each subscribed to 10 of 1,000 meters that report every
  second; p99 from ``received_at`` to the client having the message (target < 50 ms);
- ``firehose``: 100 clients subscribed to everything; deliveries per second sustained
  (target >= 50,000/s) while the site publishes ``--firehose-rate`` readings per second.

Each figure is the median of ``--repeat`` runs; the server's CPU share is measured over
the same window.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import random
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import anyio
import msgspec
import uvicorn
from litestar import Litestar
from websockets.asyncio.client import ClientConnection, connect

from meterhub.api._live import LiveFeed
from meterhub.model import Reading
from meterhub.platform import Bus

METERS = 1000
VALUES = {
    "energy_import_wh": 12_345_678,
    "energy_export_wh": 1_234,
    "power_import_w": 1530.0,
    "power_export_w": 0.0,
    "voltage_l1_v": 231.2,
    "voltage_l2_v": 230.8,
    "voltage_l3_v": 229.9,
    "current_l1_a": 2.31,
    "current_l2_a": 2.02,
    "current_l3_a": 2.27,
}
UNITS = {k: k.rsplit("_", 1)[1].upper() for k in VALUES}


# --------------------------------------------------------------------------- server side


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # the benchmark stops it through stdin
        yield


class _View:
    """The one part of ``SiteView`` the live feed uses."""

    def __init__(self) -> None:
        self.bus = Bus()


async def _publish(bus: Any, rate: float, counter: list[int]) -> None:
    """Publish ``rate`` readings per second, round-robin over the meters, every 10 ms."""
    meter_ids = [f"m{i:04}" for i in range(METERS)]
    topics = [f"readings/{m}" for m in meter_ids]
    started = time.perf_counter()
    sent = 0
    while True:
        due = int((time.perf_counter() - started) * rate)
        while sent < due:
            i = sent % METERS
            now = datetime.now(UTC)
            reading = Reading(
                meter_id=meter_ids[i],
                ts=now,
                values=dict(VALUES),
                units=UNITS,
                received_at=now,
                seq=sent,
            )
            bus.publish_nowait(topics[i], reading)
            sent += 1
        counter[0] = sent
        await anyio.sleep(0.01)


_GC_PAUSES: list[tuple[int, float]] = []
"""(generation, seconds) of the server's garbage collections, to tell where tail latency goes."""


def _gc_timer() -> None:
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            _GC_PAUSES.append((info["generation"], time.perf_counter() - started[0]))

    gc.callbacks.append(callback)


async def _serve(port: int, rate: float, profile: str | None, freeze: bool) -> None:
    _gc_timer()
    view = _View()
    feed = LiveFeed(view.bus)
    app = Litestar(route_handlers=[feed.router()])  # what live_router(view) serves
    server = _Server(uvicorn.Config(app, log_level="warning"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen(4096)  # listening before "ready": clients may connect at once
    with sock:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_control, server, feed, view.bus, rate, profile, freeze)
            await server.serve(sockets=[sock])
            tg.cancel_scope.cancel()


async def _control(  # noqa: PLR0917
    server: _Server, feed: Any, bus: Bus, rate: float, profile: str | None, freeze: bool
) -> None:
    """Publish; answer ``mark``/``stop``/``exit`` lines on stdin."""
    counter = [0]
    async with anyio.create_task_group() as tg:
        tg.start_soon(_publish, bus, rate, counter)
        print("ready", flush=True)
        marks: dict[str, Any] = {}
        profiler = None
        while True:
            line = (await anyio.to_thread.run_sync(sys.stdin.readline)).strip()
            stats = feed.statistics()
            if line == "mark":
                if freeze:  # what a site could do once started: no full collections of it
                    gc.collect()
                    gc.freeze()
                _GC_PAUSES.clear()
                marks = {
                    "cpu": time.process_time(),
                    "wall": time.perf_counter(),
                    "pub": counter[0],
                    "stats": stats,
                }
                if profile:
                    from pyinstrument import Profiler  # noqa: PLC0415 (optional tool)

                    profiler = Profiler(async_mode="disabled")
                    profiler.start()
            elif line == "stop":
                if profiler is not None:
                    profiler.stop()
                    report = profiler.output_text(unicode=False, color=False)
                    await anyio.Path(profile).write_text(report)
                wall = time.perf_counter() - marks["wall"]
                result = {
                    "server_cpu_share": round((time.process_time() - marks["cpu"]) / wall, 3),
                    "published_per_s": round((counter[0] - marks["pub"]) / wall),
                    "server_delivered_per_s": round(
                        (stats.delivered - marks["stats"].delivered) / wall
                    ),
                    "server_dropped": stats.dropped - marks["stats"].dropped,
                    "server_gc_full": sum(1 for g, _ in _GC_PAUSES if g == 2),
                    "server_gc_max_ms": round(
                        max((p for _, p in _GC_PAUSES), default=0.0) * 1000, 1
                    ),
                }
                print(msgspec.json.encode(result).decode(), flush=True)
            else:  # "exit" or end of input
                tg.cancel_scope.cancel()
                server.should_exit = True
                return


# --------------------------------------------------------------------------- client side


class _Msg(msgspec.Struct):
    kind: str
    received_at: datetime | None = None
    count: int = 0


_decoder = msgspec.json.Decoder(_Msg | list[_Msg])


class _Stats:
    def __init__(self) -> None:
        self.recording = False
        self.readings = 0
        self.missed = 0
        self.latencies: list[float] = []


async def _read(ws: ClientConnection, stats: _Stats) -> None:
    with contextlib.suppress(Exception):
        async for frame in ws:
            now = time.time()
            decoded = _decoder.decode(frame)
            for message in decoded if isinstance(decoded, list) else (decoded,):
                if not stats.recording:
                    continue
                if message.kind == "reading":
                    stats.readings += 1
                    assert message.received_at is not None
                    stats.latencies.append(now - message.received_at.timestamp())
                elif message.kind == "missed":
                    stats.missed += message.count


async def _clients(
    url: str, subscriptions: list[dict[str, Any]], args: argparse.Namespace, control: Any
) -> dict[str, Any]:
    stats = _Stats()
    compression = "deflate" if args.deflate else None
    connections: list[ClientConnection] = []
    async with contextlib.AsyncExitStack() as stack:
        limiter = anyio.Semaphore(50)

        async def open_one(sub: dict[str, Any]) -> None:
            async with limiter:
                ws = await stack.enter_async_context(
                    connect(url, compression=compression, max_size=2**24, open_timeout=60)
                )
                await ws.send(msgspec.json.encode({"op": "subscribe", **sub}).decode())
                reply = _decoder.decode(await ws.recv())
                assert not isinstance(reply, list), reply
                assert reply.kind == "subscribed", reply
                connections.append(ws)

        async with anyio.create_task_group() as tg:
            for sub in subscriptions:
                tg.start_soon(open_one, sub)
        gc.collect()
        gc.freeze()  # the measuring client's own collector pauses are not the server's latency
        async with anyio.create_task_group() as tg:
            for ws in connections:
                tg.start_soon(_read, ws, stats)
            await anyio.sleep(args.warmup)
            await anyio.to_thread.run_sync(control, "mark")
            stats.recording = True
            started, cpu = time.perf_counter(), time.process_time()
            await anyio.sleep(args.seconds)
            stats.recording = False
            wall = time.perf_counter() - started
            client_cpu = (time.process_time() - cpu) / wall
            server = await anyio.to_thread.run_sync(control, "stop")
            tg.cancel_scope.cancel()
    await anyio.to_thread.run_sync(control, "exit")  # after every client closed
    lat = sorted(stats.latencies)

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else float("nan")

    return {
        "clients": len(connections),
        "deliveries_per_s": round(stats.readings / wall),
        "missed_per_s": round(stats.missed / wall),
        "latency_p50_ms": pct(0.50),
        "latency_p99_ms": pct(0.99),
        "latency_max_ms": pct(1.0),
        "client_cpu_share": round(client_cpu, 3),
        **server,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(scenario: str, args: argparse.Namespace, run: int) -> dict[str, Any]:
    rng = random.Random(run)
    meter_ids = [f"m{i:04}" for i in range(METERS)]
    if scenario == "fanout":
        rate = float(METERS)
        subs = [
            {"meters": rng.sample(meter_ids, 10), "kinds": ["reading"], "batch": args.batch}
            for _ in range(1000)
        ]
    else:
        rate = args.firehose_rate
        subs = [{"kinds": ["reading"], "batch": not args.per_frame} for _ in range(100)]
    port = _free_port()
    command = [sys.executable, __file__, "serve", "--port", str(port), "--rate", str(rate)]
    if args.gc_freeze:
        command.append("--gc-freeze")
    if args.profile:
        command += ["--profile", f"{args.profile}-{scenario}-{run}.txt"]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"

        def control(command: str) -> dict[str, Any]:
            assert proc.stdin is not None
            assert proc.stdout is not None
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
            return msgspec.json.decode(proc.stdout.readline()) if command == "stop" else {}

        try:
            return anyio.run(_clients, f"ws://127.0.0.1:{port}/api/v1/live", subs, args, control)
        finally:
            with contextlib.suppress(Exception):
                proc.wait(timeout=10)
            if proc.poll() is None:
                proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "serve"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--scenarios", default="fanout,firehose")
    parser.add_argument("--firehose-rate", type=float, default=1000.0, help="readings/s published")
    parser.add_argument(
        "--batch", action="store_true", help="fanout clients ask for batched frames"
    )
    parser.add_argument(
        "--deflate", action="store_true", help="clients negotiate permessage-deflate"
    )
    parser.add_argument(
        "--profile", help="pyinstrument text reports to PREFIX-<scenario>-<run>.txt"
    )
    parser.add_argument("--per-frame", action="store_true", help="firehose without batching")
    parser.add_argument(
        "--gc-freeze", action="store_true", help="server: gc.freeze() at warm-up end"
    )
    parser.add_argument("--port", type=int)
    parser.add_argument("--rate", type=float)
    args = parser.parse_args()
    if args.mode == "serve":
        anyio.run(_serve, args.port, args.rate, args.profile, args.gc_freeze)
        return
    result: dict[str, Any] = {
        "config": {k: v for k, v in vars(args).items() if k not in {"mode", "port", "rate"}}
    }
    for scenario in args.scenarios.split(","):
        runs = [_run(scenario, args, run) for run in range(args.repeat)]
        result[scenario] = {
            "median": {k: statistics.median(r[k] for r in runs) for k in runs[0]},
            "runs": runs,
        }
    print(msgspec.json.encode(result).decode())


if __name__ == "__main__":
    main()
