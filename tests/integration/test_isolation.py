"""A stage that raises on every message cannot stall the site (a real Site, 30 meters)."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from pathlib import Path

import anyio
import httpx
import msgspec

from meterhub.adapters.simulator import SimulatedMeter
from meterhub.adapters.transports import SimulatedTransport
from meterhub.model import Reading
from meterhub.platform import ActorSpec, BatchActor, Secret
from meterhub.settings import Settings
from meterhub.site import Site
from meterhub.topics import READINGS
from tests.e2e.site_process import free_port

METERS = 30
INTERVAL = 0.1  # each meter: 10 telegrams a second, 300 for the site
WINDOW_S = 5.0


def ticking(index: int) -> SimulatedTransport:
    """A meter sending a real encrypted telegram every ``INTERVAL`` seconds."""
    key = bytes.fromhex(f"{index + 1:032X}")
    meter = SimulatedMeter("kaifa_flat", f"{index:012d}", key, seed=index, start=datetime.now(UTC))
    return SimulatedTransport(meter, INTERVAL, offset=index / METERS * INTERVAL)


class Switch:
    broken = True


class BrokenStage(BatchActor[Reading]):
    """A processing stage with a bug: it raises on every reading while the switch is on."""

    async def on_start(self) -> None:
        READINGS.subscribe(self.context.bus, self.context.ref)

    async def handle_batch(self, messages: list[Reading]) -> None:
        if Switch.broken:
            raise RuntimeError(f"stage bug on {messages[0].meter_id}")


def settings(tmp_path: Path) -> Settings:
    return msgspec.convert({
        "data_dir": str(tmp_path / "data"),
        "api": {"listen": f"127.0.0.1:{free_port()}", "auth": "open-on-loopback"},
        "logging": {"level": "WARNING"},
        "runtime": {"restart": {"max_restarts": 3, "within_seconds": 10,
                                "retry_failed_after_s": 3, "retry_failed_max_s": 6}},
        "meters": [{"id": f"m{i}", "format": "mbus", "port": "injected",
                    "key": f"{i + 1:032X}"} for i in range(METERS)],
    }, Settings, dec_hook=lambda _t, o: Secret(o))  # fmt: skip


async def test_a_stage_that_raises_on_everything_does_not_slow_ingest(tmp_path: Path) -> None:
    Switch.broken = True
    config = settings(tmp_path)
    transports = {f"m{i}": (lambda i=i: ticking(i)) for i in range(METERS)}
    stage = ActorSpec("broken-stage", BrokenStage, mailbox_capacity=4096)
    offered = METERS / INTERVAL
    async with (
        Site(config, transports, stages=[stage]) as site,
        httpx.AsyncClient(base_url=f"http://{config.api.listen}") as http,
    ):
        committed: list[tuple[float, int]] = []
        seen_failed = False
        started = time.monotonic()
        while time.monotonic() - started < 30:
            await anyio.sleep(WINDOW_S)
            committed.append((time.monotonic(), site.journal.cursors.get("store", 0)))
            ready = await http.get("/ready")
            if ready.status_code == 503:
                seen_failed = True
                assert ready.json()["failed"] == ["broken-stage"]
                status = (await http.get("/api/v1/status")).json()
                states = {a["name"]: a["state"] for a in status["actors"]}
                assert states["broken-stage"] in ("failed", "restarting")
                assert "stage bug" in next(a["last_error"] for a in status["actors"]
                                           if a["name"] == "broken-stage")  # fmt: skip
        # the bug is fixed (a reload, the data that triggered it gone): it comes back
        Switch.broken = False
        with anyio.fail_after(20):
            while (await http.get("/ready")).status_code != 200:  # noqa: ASYNC110 (the site's state)
                await anyio.sleep(0.2)
        stage_status = next(s for s in site.actor_status() if s.name == "broken-stage")
    assert seen_failed
    assert stage_status.restarts >= 6  # given up on and tried again at least once
    rates = [(c1 - c0) / (t1 - t0) for (t0, c0), (t1, c1) in itertools.pairwise(committed)]
    # every window stores at about the offered rate (the first warms up)
    assert min(rates) > 0.8 * offered, rates
