"""A configured serial meter's input reading a real pseudo-terminal.

The test plays the meter on the master side of a pty pair and the actor opens the slave
side by path (through a symlink, so that a "replugged" adapter can appear under the same
name with a new pty behind it).
"""

from __future__ import annotations

import os
import tty
from datetime import UTC, datetime
from pathlib import Path

import anyio
import msgspec

from meterhub._meters import input_spec, pipeline_factory
from meterhub.actors import DeviceDirectory
from meterhub.adapters.codecs import default_registry
from meterhub.adapters.simulator import SimulatedMeter
from meterhub.model import MeterState, MeterStatus, Reading
from meterhub.platform import ActorSystem, Mailbox, MailboxPolicy, Secret
from meterhub.settings import Settings
from meterhub.topics import METER_STATUS, READINGS

DATA = Path(__file__).parents[1] / "data"


def netz_noe_vector() -> dict[str, object]:
    vectors = msgspec.json.decode((DATA / "mbus_dlms.json").read_bytes())
    return next(v for v in vectors if v["id"] == "mbus_netznoe_doc_kaifa_ma309m")


class FakeAdapter:
    """A USB adapter the test can unplug and plug in again under the same path."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master = -1

    def plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        self.master = master
        path = os.ttyname(slave)
        os.close(slave)
        tmp = self.link.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(path)
        tmp.replace(self.link)

    def unplug(self) -> None:
        os.close(self.master)
        self.master = -1
        self.link.unlink()

    def write(self, data: bytes) -> None:
        os.write(self.master, data)


async def next_matching(box: Mailbox[object], kind: type, timeout: float = 10) -> object:
    with anyio.fail_after(timeout):
        while True:
            for item in await box.get_batch(100):
                if isinstance(item, kind):
                    return item


async def wait_state(box: Mailbox[object], state: MeterState, timeout: float = 10) -> None:
    with anyio.fail_after(timeout):
        while True:
            status = await next_matching(box, MeterStatus, timeout)
            assert isinstance(status, MeterStatus)
            if status.state is state:
                return


async def test_serial_meter_reads_a_pty_and_survives_unplugging(tmp_path: Path) -> None:
    vector = netz_noe_vector()
    frames = b"".join(bytes.fromhex(f) for f in vector["frames_hex"])  # type: ignore[attr-defined]
    key = bytes.fromhex(vector["key_hex"])  # type: ignore[arg-type]
    # after the replug the meter goes on with its next telegrams: the simulator encrypts
    # them as this meter does, with its system title and the next frame counters
    simulated = SimulatedMeter("kaifa_flat", "181220000009", key, seed=1,
                               start=datetime(2026, 1, 1, tzinfo=UTC), frame_counter=36)  # fmt: skip
    adapter = FakeAdapter(tmp_path / "ttyKAIFA")
    adapter.plug()
    # Linux ptys refuse even parity (EINVAL), so the test line is 8N1; a real M-Bus
    # adapter runs 8E1 (the default)
    settings = msgspec.convert({"meters": [{
        "id": "noe", "format": "mbus", "port": str(adapter.link), "parity": "N",
        "key": vector["key_hex"]}]}, Settings, dec_hook=lambda _t, o: Secret(o))  # fmt: skip
    pipeline = pipeline_factory(settings, default_registry(), DeviceDirectory)()
    events: Mailbox[object] = Mailbox("test", 1000, MailboxPolicy.BLOCK)
    async with ActorSystem() as system:
        READINGS.subscribe(system.bus, events, key="noe")
        METER_STATUS.subscribe(system.bus, events, key="noe")
        await system.spawn(input_spec(settings.meters[0], 0, pipeline))
        await wait_state(events, MeterState.STALE)  # the port is open, nothing read yet
        # the meter sends its telegram in pieces, as a serial line delivers it
        for i in range(0, len(frames), 37):
            adapter.write(frames[i : i + 37])
        reading = await next_matching(events, Reading)
        assert isinstance(reading, Reading)
        assert reading.values["energy_import_wh"] == 12937
        assert reading.values["voltage_l1_v"] == 233.7
        assert reading.meter_number == "181220000009"
        assert reading.ts.isoformat() == "2021-09-27T07:47:15+00:00"

        adapter.write(frames[:100])  # a torn telegram: the adapter is pulled mid-frame
        adapter.unplug()
        await wait_state(events, MeterState.OFFLINE)
        adapter.plug()
        await wait_state(events, MeterState.STALE)
        ts = datetime(2026, 1, 1, 12, tzinfo=UTC)
        adapter.write(simulated.telegram(ts))
        reading = await next_matching(events, Reading)
        assert isinstance(reading, Reading)
        assert reading.seq == 36
        assert reading.ts == ts
        assert reading.values["energy_import_wh"] == simulated.expected(ts)["energy_import_wh"]
        adapter.unplug()
