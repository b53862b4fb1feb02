"""Devices for the site tests: real aiomqtt clients speaking the device protocol."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiomqtt
import anyio
import msgspec

from tests.mqtt import free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def site_config(tmp_path: Path, broker_url: str, *, extra: str = "", meters: str = "",
                data_dir: Path | None = None) -> Path:  # fmt: skip
    """A site with no meters (unless given) and MQTT devices on ``broker_url``."""
    data = data_dir or tmp_path / "data"
    text = (f'data_dir = "{data}"\n[api]\nlisten = "127.0.0.1:{free_port()}"\n'
            f'auth = "open-on-loopback"\n[logging]\nlevel = "WARNING"\n'
            f'[journal]\nflush_interval_s = 0.02\n[storage]\nflush_interval_s = 0.05\n'
            f'[mqtt]\nurl = "{broker_url}"\n{extra}\n{meters}')  # fmt: skip
    path = tmp_path / f"site-{data.name}.toml"
    path.write_text(text)
    return path


def encode(data: Any) -> bytes:
    return msgspec.json.encode(data)


def hello(device_type: str = "power_meter_ac", fw: str = "1.0.0") -> bytes:
    return encode({"device_type": device_type, "fw_version": fw,
                   "capabilities": ["telemetry", "command", "ota"]})  # fmt: skip


def telemetry(seq: int, *, ts: str | None = None, power: float = 1000.0) -> bytes:
    body: dict[str, Any] = {"seq": seq, "measurements": {
        "voltage": {"phase_a": 231.2, "unit": "V"},
        "power": {"active": power + seq, "unit": "W"}}}  # fmt: skip
    if ts is not None:
        body["ts"] = ts
    return encode(body)


@contextlib.asynccontextmanager
async def device(broker_port: int, device_id: str, *, will: bool = True,
                 clean: bool = True) -> AsyncIterator[aiomqtt.Client]:  # fmt: skip
    """A connected device client with its last will on its status topic."""
    last_will = aiomqtt.Will(f"iot/{device_id}/status", b'{"state": "offline"}', qos=1,
                             retain=True) if will else None  # fmt: skip
    client = aiomqtt.Client("127.0.0.1", broker_port, identifier=device_id, will=last_will,
                            clean_session=clean)  # fmt: skip
    async with client:
        yield client


async def greet(site: Any, client: aiomqtt.Client, device_id: str, body: bytes) -> None:
    """Publish ``device_id``'s hello retained (as the protocol asks) and wait until the
    site registered it: from then on the site is subscribed and no message is lost.

    A hello published before the site's first subscription would otherwise be missed.
    """
    await client.publish(f"iot/{device_id}/hello", body, qos=1, retain=True)
    deadline = time.monotonic() + 15.0
    while await site.store.get_device(device_id) is None:
        if time.monotonic() > deadline:
            msg = f"the site never registered {device_id}"
            raise AssertionError(msg)
        await anyio.sleep(0.05)


def rows(data_dir: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(data_dir / "meterhub.db", timeout=5)) as con:
        return con.execute(sql, args).fetchall()


async def until(check: Any, timeout: float = 15.0, what: str = "") -> Any:
    """Poll ``check()`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            msg = f"timed out waiting for {what or check}: last {result!r}"
            raise AssertionError(msg)
        await anyio.sleep(0.05)
