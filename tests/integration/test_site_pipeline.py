"""The site in-process: simulated meters through every stage into a real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Self

import anyio
import msgspec

from meterhub.adapters.simulator import SimulatedMeter
from meterhub.adapters.stores import Application, Device, open_store
from meterhub.model import Reading
from meterhub.platform import Mailbox, MailboxPolicy, Secret
from meterhub.settings import Settings
from meterhub.site import Site
from meterhub.topics import READINGS
from tests.e2e.site_process import free_port

T0 = datetime(2026, 4, 1, 8, tzinfo=UTC)
KEY = "00112233445566778899AABBCCDDEEFF"


class FastForward:
    """A meter whose clock runs 30 s per telegram while telegrams come every 10 ms."""

    def __init__(self, kind: str, count: int) -> None:
        self.meter = SimulatedMeter(kind, "1KFM0000000001", bytes.fromhex(KEY), seed=5, start=T0)  # type: ignore[arg-type]
        self.count = count
        self.sent = 0

    @property
    def name(self) -> str:
        return "fast-forward"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def read(self) -> bytes:
        if self.sent >= self.count:
            await anyio.sleep_forever()
        await anyio.sleep(0.01)
        self.sent += 1
        return self.meter.telegram(T0 + timedelta(seconds=30 * self.sent))


def settings(tmp_path: Path) -> Settings:
    def secret(target: type, obj: object) -> object:
        if target is Secret:
            return Secret(str(obj))
        raise NotImplementedError

    return msgspec.convert({
        "data_dir": str(tmp_path / "data"),
        "api": {"listen": f"127.0.0.1:{free_port()}"},
        "storage": {"flush_interval_s": 0.05},
        "pipeline": {"trend_windows_s": [60], "consumption_interval_s": 300},
        "alerts": [{"name": "busy", "kind": "above", "metric": "power_import_w", "high": 1}],
        "meters": [{"id": "house", "format": "mbus", "port": "injected", "key": KEY,
                    "name": "Main house", "device_type": "household", "location": "Vienna",
                    "tags": ["pv"]}],
    }, Settings, dec_hook=secret)  # fmt: skip


async def test_every_stage_reaches_the_store(tmp_path: Path) -> None:
    config = settings(tmp_path)
    async with open_store(config.store_url()) as store:
        await store.migrate()
        now = datetime.now(UTC)
        # an entry the file does not know any more leaves the registry at start
        await store.upsert_device(Device(id="old", name="Old meter", device_type="household",
                                         metadata={"meterhub.source": "config"},
                                         created_at=now, updated_at=now))  # fmt: skip
        await store.upsert_application(Application(name="billing", device_types=["household"]))
    readings: Mailbox[object] = Mailbox("test", 1000, MailboxPolicy.DROP_OLDEST)
    transport = FastForward("kaifa_flat", 60)  # 30 minutes of meter time
    async with Site(config, {"house": lambda: transport}) as site:
        READINGS.subscribe(site.bus, readings)
        with anyio.fail_after(30):
            while site.journal.cursors.get("store", 0) < 60:  # noqa: ASYNC110 (the writer's progress)
                await anyio.sleep(0.05)
        enriched = next(r for r in readings.take_nowait(1000) if isinstance(r, Reading))
        latest = site.board.get("house")
        registered = [d.id for d in await site.store.list_devices()]
    assert registered == ["house"]
    assert latest is not None
    assert latest.reading is not None
    assert latest.reading.device == enriched.device  # /latest shows the enriched reading
    assert enriched.device is not None
    assert enriched.device.name == "Main house"
    assert enriched.device.applications == ["billing"]
    assert enriched.device.tags == ["pv"]

    async with open_store(config.store_url()) as store:
        start, end = T0, T0 + timedelta(hours=1)
        rows = await store.query_readings(meters=["house"], metrics=["energy_import_wh"],
                                          start=start, end=end, limit=1000)  # fmt: skip
        trends = await store.query_trends(meters=["house"], metrics=["power_import_w"],
                                          window_s=60, start=start, end=end)  # fmt: skip
        usage = await store.query_consumption("house", "energy_import_wh", start=start, end=end,
                                              period="hour")  # fmt: skip
        alerts = await store.list_alerts(meter="house")
    assert len(rows) == 60
    assert {r.journal_seq for r in rows} == set(range(1, 61))  # provenance: journal seq
    assert {r.ts_source for r in rows} == {"meter"}
    # the fast-forwarded meter clock is far from the receive time: kept, but flagged
    assert {r.quality for r in rows} == {"suspect"}
    assert {r.quality_rule for r in rows} == {"clock_skew"}
    assert len(trends) >= 25  # one closed window per meter-minute (the last may be open)
    assert usage
    assert sum(p.wh for p in usage) > 0
    assert alerts[0].rule == "busy"
