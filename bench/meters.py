"""A site of many simulated meters: how much CPU the meter actors use.

Each meter is a real ``InputActor`` (reader task, framing, AES, decode, de-duplication,
validation and enrichment: the one pipeline, then publish on the bus) fed through an
in-process transport at a fixed interval. The
telegrams are generated before the measurement so that the figure is the meter actors'
cost, not the simulator's. Prints JSON.

Run: ``.venv/bin/python bench/meters.py [--meters 2000] [--seconds 20] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Any, Self

import anyio
import msgspec

from meterhub.actors import (
    DeviceCodec,
    DeviceDirectory,
    InputActor,
    InputSetup,
    Pipeline,
    Validator,
)
from meterhub.adapters.codecs import MeterDecoder
from meterhub.adapters.inputs import StreamInput
from meterhub.adapters.simulator import SimulatedMeter, demo_key
from meterhub.platform import ActorSpec, ActorSystem, Mailbox, MailboxPolicy
from meterhub.topics import READINGS

VIENNA = zoneinfo.ZoneInfo("Europe/Vienna")


class ReplayTransport:
    """Hands out prepared telegrams, one per interval (the bench's meter)."""

    def __init__(self, telegrams: list[bytes], interval: float, offset: float) -> None:
        self.telegrams = telegrams
        self.interval = interval
        self.offset = offset
        self.index = 0
        self.next = 0.0

    @property
    def name(self) -> str:
        return "replay"

    async def __aenter__(self) -> Self:
        self.next = anyio.current_time() + self.offset
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def read(self) -> bytes:
        await anyio.sleep_until(self.next)
        self.next += self.interval
        data = self.telegrams[self.index % len(self.telegrams)]
        self.index += 1
        return data


def prepare(meters: int, telegrams_each: int) -> list[tuple[bytes, list[bytes]]]:
    start = datetime(2026, 6, 1, tzinfo=UTC)
    out = []
    for i in range(meters):
        number = f"{i:012d}"
        key = demo_key(number)
        sim = SimulatedMeter("kaifa_nested" if i % 2 else "kaifa_flat", number, key, seed=i,
                             pv=i % 5 == 0, start=start)  # fmt: skip
        out.append((key, [sim.telegram(start + timedelta(seconds=s)) for s in range(telegrams_each)]))
    return out


def rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/statm") as statm:  # noqa: PTH123
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def run_once(prepared: list[tuple[bytes, list[bytes]]], interval: float,
                   seconds: float) -> dict[str, float]:  # fmt: skip
    # a mailbox nobody drains, keeping one message: it counts readings at no cost, so the
    # figure is the meter actors' alone
    tap: Mailbox[object] = Mailbox("tap", 1, MailboxPolicy.DROP_OLDEST)
    rss_before = rss_mib()
    async with ActorSystem(shutdown_timeout=60) as system:
        READINGS.subscribe(system.bus, tap)
        codecs = {f"m{i}": DeviceCodec(make_decoder=lambda fmt, k=key: MeterDecoder(fmt, k),
                                       default_format="mbus", timezone=VIENNA)
                  for i, (key, _) in enumerate(prepared)}  # fmt: skip
        pipeline = Pipeline(codecs, Validator(), DeviceDirectory)
        for i, (key, telegrams) in enumerate(prepared):
            transport = ReplayTransport(telegrams, interval, offset=(i / len(prepared)) * interval)
            source = StreamInput(f"m{i}", lambda t=transport: t,
                                 lambda k=key: MeterDecoder("mbus", k), "replay")  # fmt: skip
            setup = InputSetup(input=source, pipeline=pipeline, health={f"m{i}": (60, 120)})
            await system.spawn(ActorSpec(f"meter:m{i}", lambda s=setup: InputActor(s)))
        await anyio.sleep(interval * 2)  # every meter has read at least once
        cpu0, wall0, n0 = time.process_time(), time.perf_counter(), tap.accepted
        await anyio.sleep(seconds)
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        readings = tap.accepted - n0
        handling = sum(s.handling_seconds for s in system.status() if s.name.startswith("meter:"))
        rss = rss_mib() - rss_before
    return {"cpu_share_of_one_core": cpu / wall, "readings_per_s": readings / wall,
            "rss_mib_for_meters": rss,
            "meter_handler_seconds_total": handling}  # fmt: skip


async def main(args: argparse.Namespace) -> dict[str, Any]:
    prepared = prepare(args.meters, 30)
    runs = [await run_once(prepared, args.interval, args.seconds) for _ in range(args.repeat)]
    median = {k: round(statistics.median(r[k] for r in runs), 4) for k in runs[0]}
    # memory is only meaningful in the first run: later runs reuse freed memory
    median["rss_mib_for_meters"] = round(runs[0]["rss_mib_for_meters"], 1)
    return {"meters": args.meters, "interval_s": args.interval, "seconds": args.seconds,
            "repeat": args.repeat, "median": median,
            "cpu_share_runs": [round(r["cpu_share_of_one_core"], 4) for r in runs]}  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meters", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    result = anyio.run(main, parser.parse_args(), backend_options={"use_uvloop": True})
    print(msgspec.json.format(msgspec.json.encode(result), indent=2).decode())
