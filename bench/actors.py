"""Actor runtime benchmark: throughput, latency, memory per actor, stop time.

Prints one JSON object. Run: ``.venv/bin/python bench/actors.py [--repeat 5]``.
Each figure is the median of ``--repeat`` runs; the bare anyio chain is measured in the
same runs as the peer for the throughput figure.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from typing import Any

import anyio
import msgspec
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from meterhub.platform import Actor, ActorRef, ActorSpec, ActorSystem, RestartPolicy

CAPACITY = 1000


class Forward(Actor[Any]):
    def __init__(self, next_name: str) -> None:
        self.next_name = next_name
        self.next: ActorRef[Any] | None = None

    async def on_start(self) -> None:
        self.next = self.context.system.lookup(self.next_name)

    async def handle(self, message: Any) -> None:
        assert self.next is not None
        if not self.next.send_nowait(message):
            await self.next.send(message)


class Sink(Actor[Any]):
    def __init__(self, expected: int, done: anyio.Event, record: list[float] | None) -> None:
        self.expected = expected
        self.done = done
        self.seen = 0
        self.record = record

    async def handle(self, message: Any) -> None:
        self.seen += 1
        if self.record is not None:
            self.record.append(time.perf_counter() - message)
        if self.seen == self.expected:
            self.done.set()


async def _chain(system: ActorSystem, n: int, record: list[float] | None) -> anyio.Event:
    done = anyio.Event()
    await system.spawn(ActorSpec("a3", lambda: Sink(n, done, record), mailbox_capacity=CAPACITY))
    await system.spawn(ActorSpec("a2", lambda: Forward("a3"), mailbox_capacity=CAPACITY))
    await system.spawn(ActorSpec("a1", lambda: Forward("a2"), mailbox_capacity=CAPACITY))
    return done


async def actor_chain_rate(n: int) -> float:
    async with ActorSystem() as system:
        done = await _chain(system, n, None)
        first = system.lookup("a1")
        started = time.perf_counter()
        for i in range(n):
            if not first.send_nowait(i):
                await first.send(i)
        await done.wait()
        return n / (time.perf_counter() - started)


async def bare_chain_rate(n: int) -> float:
    """The same three hops built from anyio memory object streams, await send/receive."""
    done = anyio.Event()

    async def forward(rx: ObjectReceiveStream[int], tx: ObjectSendStream[int]) -> None:
        async with rx, tx:
            async for item in rx:
                await tx.send(item)

    async def sink(rx: ObjectReceiveStream[int]) -> None:
        seen = 0
        async with rx:
            async for _ in rx:
                seen += 1
                if seen == n:
                    done.set()

    tx1, rx1 = anyio.create_memory_object_stream[int](CAPACITY)
    tx2, rx2 = anyio.create_memory_object_stream[int](CAPACITY)
    tx3, rx3 = anyio.create_memory_object_stream[int](CAPACITY)
    async with anyio.create_task_group() as tg:
        tg.start_soon(forward, rx1, tx2)
        tg.start_soon(forward, rx2, tx3)
        tg.start_soon(sink, rx3)
        started = time.perf_counter()
        async with tx1:
            for i in range(n):
                await tx1.send(i)
            await done.wait()
        elapsed = time.perf_counter() - started
    return n / elapsed


async def latency_at_rate(rate: int, seconds: float) -> dict[str, float]:
    record: list[float] = []
    n = int(rate * seconds)
    async with ActorSystem() as system:
        done = await _chain(system, n, record)
        first = system.lookup("a1")
        started = time.perf_counter()
        sent = 0
        while sent < n:
            due = min(n, int((time.perf_counter() - started) * rate) + 1)
            while sent < due:
                await first.send(time.perf_counter())
                sent += 1
            await anyio.sleep(0.0005)
        await done.wait()
    ordered = sorted(record)
    end_p50 = ordered[len(ordered) // 2]
    end_p99 = ordered[int(len(ordered) * 0.99)]
    return {"end_to_end_p50_us": end_p50 * 1e6, "end_to_end_p99_us": end_p99 * 1e6,
            "per_hop_p50_us": end_p50 / 3 * 1e6, "per_hop_p99_us": end_p99 / 3 * 1e6}  # fmt: skip


def _rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:  # noqa: PTH123
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Idle(Actor[Any]):
    async def handle(self, message: Any) -> None:
        pass


async def memory_and_stop(count: int) -> dict[str, float]:
    gc.collect()
    async with ActorSystem(RestartPolicy(), shutdown_timeout=600) as system:
        before = _rss_bytes()
        for i in range(count):
            await system.spawn(ActorSpec(f"idle-{i}", Idle))
        gc.collect()
        per_actor = (_rss_bytes() - before) / count
        stop_started = time.perf_counter()
    stop_seconds = time.perf_counter() - stop_started
    return {"rss_per_actor_bytes": per_actor, "graceful_stop_s": stop_seconds}


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}


async def main(repeat: int, messages: int) -> dict[str, Any]:
    actor_rates, bare_rates = [], []
    for _ in range(repeat):
        bare_rates.append(await bare_chain_rate(messages))
        actor_rates.append(await actor_chain_rate(messages))
    latency = median_of([await latency_at_rate(20_000, 2.0) for _ in range(repeat)])
    memory = {}
    for count in (10_000, 100_000):
        memory[str(count)] = median_of([await memory_and_stop(count) for _ in range(max(1, repeat // 2))])
    actor_rate = statistics.median(actor_rates)
    bare_rate = statistics.median(bare_rates)
    return {
        "chain_of_3": {"messages": messages, "actor_msgs_per_s": round(actor_rate),
                       "bare_anyio_msgs_per_s": round(bare_rate),
                       "ratio_actor_to_bare": round(actor_rate / bare_rate, 2)},
        "latency_at_20k_msgs_per_s": latency,
        "idle_actors": memory,
        "repeat": repeat,
    }  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--messages", type=int, default=200_000)
    args = parser.parse_args()
    result = anyio.run(main, args.repeat, args.messages)
    print(msgspec.json.format(msgspec.json.encode(result), indent=2).decode())
