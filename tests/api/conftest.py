"""A fake site (our own SiteView port) over a real store, LiveBoard and Bus."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import anyio
import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from meterhub.actors import LiveBoard
from meterhub.adapters.stores import (
    AlertRow,
    CommandRow,
    ConsumptionRow,
    PostgresStore,
    ReadingRow,
    SqliteStore,
    Store,
    TrendRow,
)
from meterhub.api import KeyStore, create_app, serve
from meterhub.model import MeterState, MeterStatus, Reading
from meterhub.platform import ActorState, ActorStatus, Bus, MailboxClosedError, Readiness
from meterhub.plugins import PluginReport
from meterhub.settings import ApiSettings
from tests.pg import pg_dsn, pg_server  # noqa: F401 - fixtures

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    from litestar import Litestar

# near today: PostgreSQL only makes daily partitions close to the current date
T0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(hours=6)
METERS = ["m1", "m2"]
METRICS = ["energy_import_wh", "power_import_w"]
MINUTES = 30


class FakeSite:
    """An in-memory site: what the API may see, backed by a real store."""

    def __init__(self, store: Store, meters: list[str]) -> None:
        self.store = store
        self.bus = Bus()
        self.board = LiveBoard()
        self.meters = list(meters)
        self.ready = Readiness(ready=True, state="running")
        self.devices_changes = 0
        self.actors = [
            ActorStatus(name="store-writer", kind="actor", parent=None, state=ActorState.RUNNING,
                        mailbox_depth=3, mailbox_capacity=100, processed=42),
            ActorStatus(name="meter-m1", kind="actor", parent=None, state=ActorState.RESTARTING,
                        restarts=2, last_error="OSError: port gone"),
        ]  # fmt: skip
        self.crash: Exception | None = None
        self.configured: set[str] = set()
        self.alerter_down = False
        self.queued: list[CommandRow] = []
        self.plugins: list[PluginReport] = [
            PluginReport(name="costs", interfaces=["processor", "routes"], version="1",
                         package="meterhub 0.1.0", state="running"),
        ]  # fmt: skip

    def meter_ids(self) -> list[str]:
        return list(self.meters)

    def configured_ids(self) -> frozenset[str]:
        return frozenset(self.configured)

    def trend_windows(self) -> list[int]:
        return [60, 900]

    def actor_status(self) -> list[ActorStatus]:
        if self.crash is not None:
            raise self.crash
        return list(self.actors)

    def readiness(self) -> Readiness:
        return self.ready

    def plugin_reports(self) -> list[PluginReport]:
        return list(self.plugins)

    def metrics_text(self) -> bytes:
        return (
            b"# HELP meterhub_actor_processed Messages handled\n"
            b"# TYPE meterhub_actor_processed counter\n"
            b'meterhub_actor_processed{actor="store-writer"} 42.0\n'
        )

    async def alert_command(self, alert_id: str, action: Literal["acknowledge", "resolve"]) -> bool:
        if self.alerter_down:
            raise MailboxClosedError("alerter")
        alert = await self.store.get_alert(alert_id)
        allowed = {"acknowledge": ("open",), "resolve": ("open", "acknowledged")}[action]
        if alert is None or alert.state not in allowed:
            return False
        now = datetime.now(UTC)
        state: Literal["acknowledged", "resolved"] = (
            "acknowledged" if action == "acknowledge" else "resolved")  # fmt: skip
        changed = msgspec.structs.replace(alert, state=state, updated_at=now)
        await self.store.upsert_alert(changed)
        return True

    async def devices_changed(self) -> None:
        self.devices_changes += 1

    def command_timeout_s(self) -> float:
        return 300.0

    async def command_queued(self, command: CommandRow) -> None:
        self.queued.append(command)


def reading_rows() -> list[ReadingRow]:
    rows = []
    for minute in range(MINUTES):
        for n, meter in enumerate(METERS):
            ts = T0 + timedelta(minutes=minute)
            rows.append(
                ReadingRow(
                    meter_id=meter,
                    ts=ts,
                    metric="energy_import_wh",
                    value=1000.0 * (n + 1) + 10 * minute,
                )
            )
            rows.append(ReadingRow(meter_id=meter, ts=ts, metric="power_import_w",
                                   value=float(100 * (n + 1) + minute % 7)))  # fmt: skip
    return rows


async def seed(store: Store) -> None:
    """Readings, trends, consumption and alerts around T0."""
    await store.write_readings(reading_rows())
    await store.write_trends([
        TrendRow(meter_id=m, metric="power_import_w", window_s=60,
                 window_start=T0 + timedelta(minutes=i), avg=1.0, min=0.5, max=2.0, last=1.5,
                 count=12)
        for m in METERS for i in range(5)
    ])  # fmt: skip
    await store.write_consumption([
        ConsumptionRow(meter_id=m, metric="energy_import_wh", interval_start=T0 + timedelta(hours=h),
                       interval_s=3600, wh=100.0 * (h + 1))
        for m in METERS for h in range(3)
    ])  # fmt: skip
    for n, (state, severity) in enumerate([("open", "warning"), ("acknowledged", "critical"),
                                           ("resolved", "info")]):  # fmt: skip
        await store.upsert_alert(AlertRow(
            id=f"a{n}", rule="voltage_band", meter_id=METERS[n % 2], severity=severity,  # type: ignore[arg-type]
            state=state, message="voltage out of band", value=260.0,  # type: ignore[arg-type]
            opened_at=T0 + timedelta(minutes=n), updated_at=T0 + timedelta(minutes=n),
        ))  # fmt: skip


def publish_live(site: FakeSite) -> None:
    """m1 reported a reading and has decode errors; m2 never reported."""
    status = MeterStatus(meter_id="m1", state=MeterState.ONLINE, since=T0, readings=7,
                         errors={"checksum": 2, "truncated": 1}, last_error="bad checksum")  # fmt: skip
    reading = Reading(meter_id="m1", ts=T0, values={"power_import_w": 230.0})
    site.board.attach("m1", lambda: status)
    site.board.show(reading)


@contextlib.asynccontextmanager
async def served(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """The app under uvicorn on a free loopback port, cancelled (stopped gracefully) on exit."""
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve, app, "127.0.0.1", 0)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
        tg.cancel_scope.cancel()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    async with SqliteStore(tmp_path / "meterhub.db") as store:
        await store.migrate()
        yield store


@pytest.fixture(params=["sqlite", "postgres"])
async def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated store of each backend (for the subset that runs on both)."""
    backend: Store
    if request.param == "sqlite":
        backend = SqliteStore(tmp_path / "meterhub.db")
    else:
        backend = PostgresStore(request.getfixturevalue("pg_dsn"))
    async with backend:
        await backend.migrate()
        yield backend


@pytest.fixture
async def site(sqlite_store: Store) -> FakeSite:
    await seed(sqlite_store)
    fake = FakeSite(sqlite_store, METERS)
    publish_live(fake)
    return fake


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    return KeyStore.in_data_dir(tmp_path)


@pytest.fixture
def make_app(site: FakeSite, keys: KeyStore) -> Callable[..., Litestar]:
    def make(**settings: Any) -> Litestar:
        return create_app(site, ApiSettings(**settings), keys)

    return make


@pytest.fixture
async def client(make_app: Callable[..., Litestar]) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """An open API (loopback, no key needed): every request without a key acts as admin."""
    app = make_app(auth="open-on-loopback")
    async with AsyncTestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client
