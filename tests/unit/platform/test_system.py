from __future__ import annotations

import io
import logging
import time

import anyio
import anyio.lowlevel
import msgspec
import pytest

from meterhub.platform import (
    Actor,
    ActorMetrics,
    ActorSpec,
    ActorSystem,
    MailboxClosedError,
    Telemetry,
    configure_logging,
)
from tests.unit.platform.actors import Gate, Probe, Recorder


class Producer(Actor[object]):
    """Intake: sends numbered messages downstream until it is stopped."""

    def __init__(self, sent: list[int]) -> None:
        self.sent = sent

    async def on_start(self) -> None:
        self.context.start_background(self._produce)

    async def _produce(self) -> None:
        downstream = self.context.system.lookup("stage")
        i = len(self.sent)
        while True:
            await downstream.send(i)
            self.sent.append(i)  # counted only once the mailbox accepted it
            i += 1

    async def handle(self, message: object) -> None:  # pragma: no cover - takes no messages
        raise AssertionError(message)


class Stage(Actor[int]):
    """A slow middle stage that forwards to the sink."""

    async def handle(self, message: int) -> None:
        await anyio.lowlevel.checkpoint()
        await self.context.system.lookup("sink").send(message)


async def test_graceful_shutdown_drains_everything_accepted_under_load() -> None:
    sent: list[int] = []
    sink = Probe()
    async with ActorSystem(shutdown_timeout=30) as system:
        # started sink first, intake last: shutdown runs in reverse, intake stops first
        await system.spawn(ActorSpec("sink", lambda: Recorder(sink), mailbox_capacity=50))
        await system.spawn(ActorSpec("stage", Stage, mailbox_capacity=50, batch_limit=8))
        await system.spawn(ActorSpec("producer", lambda: Producer(sent)))
        await sink.wait_for(lambda: len(sink.handled) > 2000)
        assert len(system.lookup("stage").mailbox) > 0  # under load: queues are full
    assert len(sent) > 2000
    assert sink.handled == sent  # nothing accepted was lost, order kept
    assert sink.stops == 1


async def test_shutdown_deadline_cancels_a_stuck_actor() -> None:
    probe = Probe()
    started = time.monotonic()
    with anyio.fail_after(5):
        async with ActorSystem(shutdown_timeout=0.3) as system:
            await system.spawn(ActorSpec("stuck", lambda: Gate(anyio.Event(), probe)))
            await system.lookup("stuck").send("never handled")
            await system.lookup("stuck").send("queued behind it")
            await anyio.wait_all_tasks_blocked()
    assert time.monotonic() - started < 3
    assert probe.handled == []


async def test_stop_one_actor_runs_its_hook_and_frees_the_name() -> None:
    probe = Probe()
    async with ActorSystem() as system:
        await system.spawn(ActorSpec("a", lambda: Recorder(probe)))
        ref = system.lookup("a")
        await ref.send(1)
        await system.stop("a")
        assert probe.handled == [1]
        assert probe.stops == 1
        with pytest.raises(MailboxClosedError):
            await ref.send(2)
        assert [s.name for s in system.status()] == []
        await system.spawn(ActorSpec("a", lambda: Recorder(probe)))
        assert [s.name for s in system.status()] == ["a"]


async def test_status_snapshot_reports_counters() -> None:
    probe = Probe()
    async with ActorSystem() as system:
        await system.spawn(ActorSpec("a", lambda: Recorder(probe), mailbox_capacity=7))
        for message in ["x", "y"]:
            await system.lookup("a").send(message)
        await probe.wait_for(lambda: len(probe.handled) == 2)
        (status,) = system.status()
        readiness = system.readiness()
    assert status.name == "a"
    assert status.state == "running"
    assert status.parent == "root"
    assert (status.processed, status.failed, status.restarts) == (2, 0, 0)
    assert (status.mailbox_depth, status.mailbox_capacity, status.mailbox_policy) == (0, 7, "block")
    assert readiness.ready
    assert readiness.state == "running"
    assert system.readiness().state == "stopped"
    assert msgspec.json.decode(msgspec.json.encode(status))["name"] == "a"


async def test_metrics_are_exported_in_prometheus_text() -> None:
    probe = Probe()
    telemetry = Telemetry()
    async with ActorSystem() as system:
        ActorMetrics(system, telemetry)
        await system.spawn(ActorSpec("meter-1", lambda: Recorder(probe)))
        for message in [1, "crash", 2]:
            await system.lookup("meter-1").send(message)
        await probe.wait_for(lambda: len(probe.handled) == 2)
        text = telemetry.render().decode()
    telemetry.shutdown()
    lines = {line.split("{")[0]: line for line in text.splitlines() if 'actor="meter-1"' in line}
    assert lines["meterhub_actor_processed_total"].endswith(" 2.0")
    assert lines["meterhub_actor_failed_total"].endswith(" 1.0")
    assert lines["meterhub_actor_restarts_total"].endswith(" 1.0")
    assert lines["meterhub_actor_mailbox_depth"].endswith(" 0.0")
    assert "meterhub_actor_handling_seconds_total" in lines
    assert "meterhub_component_ready" in text


async def test_every_log_line_names_its_actor() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    try:

        class Talker(Actor[str]):
            async def handle(self, message: str) -> None:
                logging.getLogger("meterhub.adapters.some_codec").info("got %s", message)

        async with ActorSystem() as system:
            await system.spawn(ActorSpec("talker", Talker))
            await system.lookup("talker").send("hello")
            await system.stop("talker")
    finally:
        logging.getLogger().handlers.clear()
    records = [msgspec.json.decode(line) for line in stream.getvalue().splitlines()]
    hello = next(r for r in records if r["msg"] == "got hello")
    assert hello["actor"] == "talker"
    assert hello["logger"] == "meterhub.adapters.some_codec"
    assert all("actor" in r for r in records)
