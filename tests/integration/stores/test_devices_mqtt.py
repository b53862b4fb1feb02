"""Dead letters, device events, commands and OTA runs: idempotence, paging, transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from meterhub.adapters.stores import (
    CommandRow,
    DeadLetterRow,
    Device,
    DeviceEventRow,
    OtaRow,
    Store,
    StoreError,
)
from meterhub.model import CommandState
from tests.integration.stores._data import today

T0 = datetime(2026, 5, 1, 8, tzinfo=UTC)
S = timedelta(seconds=1)
DAY = timedelta(days=1)
Q, SENT, ACK, FAILED, EXPIRED = (
    CommandState.QUEUED,
    CommandState.SENT,
    CommandState.ACKNOWLEDGED,
    CommandState.FAILED,
    CommandState.EXPIRED,
)


def letter(
    device: str, seq: int | None, reason: str = "malformed_json", **kw: Any
) -> DeadLetterRow:
    fields: dict[str, Any] = {
        "device_id": device,
        "ts": T0 + (seq or 0) * S,
        "reason": reason,
        "detail": "expected an object at $",
        "topic": f"iot/{device}/telemetry",
        "payload": b"\xff{not json",
        "journal_seq": seq,
    } | kw
    return DeadLetterRow(**fields)


def event(
    device: str, kind: str, seq: int | None, at: datetime = T0, **details: Any
) -> DeviceEventRow:
    return DeviceEventRow(device_id=device, ts=at, kind=kind, journal_seq=seq, details=details)


def command(command_id: str, device: str = "pm-1", at: datetime = T0, **kw: Any) -> CommandRow:
    fields: dict[str, Any] = {
        "id": command_id,
        "device_id": device,
        "command": "set_relay",
        "params": {"phase": "l1", "on": False},
        "state": Q,
        "created_at": at,
        "updated_at": at,
        "expires_at": at + timedelta(minutes=5),
    } | kw
    return CommandRow(**fields)


def ota(ota_id: str, device: str = "pm-1", at: datetime = T0, state: str = "requested") -> OtaRow:
    return OtaRow(id=ota_id, device_id=device, version="1.5.0", url="https://fw.example/pm.bin",
                  sha256="9f" * 32, state=state, created_at=at, updated_at=at)  # fmt: skip


# dead letters -------------------------------------------------------------------------


async def test_dead_letters_are_stored_once_per_journal_record(store: Store) -> None:
    rows = [letter("pm-1", 1), letter("pm-1", 2, "wrong_type"), letter("pm-2", 1)]
    assert await store.write_dead_letters(rows) == 3
    # a replay of the same journal records adds nothing; one without a record always goes in
    assert await store.write_dead_letters([*rows, letter("pm-1", None)]) == 1
    assert await store.write_dead_letters([letter("pm-1", None)]) == 1
    assert await store.write_dead_letters([]) == 0
    got = await store.list_dead_letters()
    assert [(r.device_id, r.journal_seq) for r in got] == [
        ("pm-1", None), ("pm-1", None), ("pm-2", 1), ("pm-1", 2), ("pm-1", 1),
    ]  # fmt: skip
    ids = [r.id for r in got]
    assert all(isinstance(i, int) for i in ids)
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == len(ids)
    first = got[-1]
    # the raw bytes come back exactly, invalid UTF-8 included
    assert first == letter("pm-1", 1, id=first.id)


async def test_dead_letters_filter_and_page_by_id(store: Store) -> None:
    await store.write_dead_letters([letter(f"pm-{n % 2}", n, "oversize" if n % 3 else "wrong_type")
                                    for n in range(1, 11)])  # fmt: skip
    page1 = await store.list_dead_letters(limit=4)
    assert [r.journal_seq for r in page1] == [10, 9, 8, 7]
    page2 = await store.list_dead_letters(limit=4, before_id=page1[-1].id)
    assert [r.journal_seq for r in page2] == [6, 5, 4, 3]
    page3 = await store.list_dead_letters(limit=4, before_id=page2[-1].id)
    assert [r.journal_seq for r in page3] == [2, 1]
    assert await store.list_dead_letters(before_id=page3[-1].id) == []
    assert [r.journal_seq for r in await store.list_dead_letters(device="pm-0")] == [10, 8, 6, 4, 2]
    assert [r.journal_seq for r in await store.list_dead_letters(reason="wrong_type")] == [9, 6, 3]
    both = await store.list_dead_letters(device="pm-1", reason="wrong_type", limit=1)
    assert [r.journal_seq for r in both] == [9]
    assert await store.list_dead_letters(device="nobody") == []


async def test_a_naive_time_is_refused_and_nothing_is_written(store: Store) -> None:
    naive = letter("pm-1", 2, ts=datetime(2026, 5, 1, 8))  # noqa: DTZ001 - the point
    with pytest.raises(StoreError, match=r"DeadLetterRow\.ts"):
        await store.write_dead_letters([letter("pm-1", 1), naive])
    assert await store.list_dead_letters() == []
    with pytest.raises(StoreError, match="start"):
        await store.list_device_events("pm-1", start=datetime(2026, 5, 1))  # noqa: DTZ001


# device events ------------------------------------------------------------------------


async def test_device_events_are_idempotent_and_newest_first(store: Store) -> None:
    rows = [
        event("pm-1", "gap", 12, T0, missing=2, after=9),
        event("pm-1", "restart", 12, T0 + S, boot="b2"),
        event("pm-1", "online", None, T0 + 2 * S),
        event("pm-2", "gap", 12, T0 + 3 * S, missing=1),
    ]
    assert await store.write_device_events(rows) == 4
    assert await store.write_device_events(rows) == 1  # only the one without a record
    got = await store.list_device_events("pm-1")
    assert [(e.kind, e.ts) for e in got] == [
        ("online", T0 + 2 * S), ("online", T0 + 2 * S), ("restart", T0 + S), ("gap", T0),
    ]  # fmt: skip
    assert got[-1] == rows[0]
    assert got[-1].details == {"missing": 2, "after": 9}
    assert await store.list_device_events("nobody") == []


async def test_device_events_filter_by_kind_and_time(store: Store) -> None:
    kinds = ["gap", "restart", "online", "offline"]
    await store.write_device_events([event("pm-1", kinds[n % 4], n, T0 + n * S) for n in range(12)])
    gaps = await store.list_device_events("pm-1", kinds=["gap", "offline"])
    assert [e.journal_seq for e in gaps] == [11, 8, 7, 4, 3, 0]
    window = await store.list_device_events("pm-1", start=T0 + 3 * S, end=T0 + 6 * S)
    assert [e.journal_seq for e in window] == [5, 4, 3]
    assert [e.journal_seq for e in await store.list_device_events("pm-1", limit=2)] == [11, 10]
    assert await store.list_device_events("pm-1", kinds=[]) == []


# commands ---------------------------------------------------------------------------


async def test_commands_insert_get_and_list(store: Store) -> None:
    await store.insert_command(command("c1", at=T0))
    await store.insert_command(command("c2", device="pm-2", at=T0 + S))
    await store.insert_command(command("c3", at=T0 + 2 * S, params={}))
    assert await store.get_command("c1") == command("c1", at=T0)
    assert await store.get_command("nope") is None
    with pytest.raises(StoreError):
        await store.insert_command(command("c1", at=T0 + DAY))
    assert [c.id for c in await store.list_commands()] == ["c3", "c2", "c1"]
    assert [c.id for c in await store.list_commands(device_id="pm-1")] == ["c3", "c1"]
    assert [c.id for c in await store.list_commands(limit=1)] == ["c3"]
    await store.update_command("c3", state=SENT, at=T0 + 3 * S, from_states=[Q])
    assert [c.id for c in await store.list_commands(states=[Q])] == ["c2", "c1"]
    assert [c.id for c in await store.list_commands(device_id="pm-1", states=[SENT, ACK])] == ["c3"]
    assert await store.list_commands(states=[]) == []


async def test_command_transitions_set_their_times(store: Store) -> None:
    await store.insert_command(command("c1"))
    sent = await store.update_command("c1", state=SENT, at=T0 + S, from_states=[Q])
    assert sent is not None
    assert (sent.state, sent.updated_at, sent.sent_at, sent.finished_at) == (
        SENT,
        T0 + S,
        T0 + S,
        None,
    )
    acked = await store.update_command("c1", state=ACK, at=T0 + 2 * S, from_states=[Q, SENT],
                                       result={"relay_l1": False})  # fmt: skip
    assert acked is not None
    assert (acked.state, acked.sent_at, acked.finished_at) == (ACK, T0 + S, T0 + 2 * S)
    assert acked.result == {"relay_l1": False}
    assert await store.get_command("c1") == acked
    # a late expiry or a second ack finds the command finished, and changes nothing
    assert (
        await store.update_command("c1", state=EXPIRED, at=T0 + DAY, from_states=[Q, SENT]) is None
    )
    assert await store.get_command("c1") == acked
    assert await store.update_command("nope", state=SENT, at=T0, from_states=[Q]) is None


async def test_a_failed_command_keeps_its_error(store: Store) -> None:
    await store.insert_command(command("c1"))
    failed = await store.update_command("c1", state=FAILED, at=T0 + S, from_states=[Q, SENT],
                                        error="relay stuck")  # fmt: skip
    assert failed is not None
    assert (failed.state, failed.error, failed.sent_at, failed.finished_at) == (
        FAILED, "relay stuck", None, T0 + S,
    )  # fmt: skip


async def test_of_two_racing_transitions_exactly_one_wins(store: Store) -> None:
    ids = [f"c{n}" for n in range(8)]
    for command_id in ids:
        await store.insert_command(command(command_id))
    winners: dict[str, list[CommandState]] = {command_id: [] for command_id in ids}

    async def move(command_id: str, state: CommandState) -> None:
        row = await store.update_command(command_id, state=state, at=T0 + S, from_states=[Q, SENT])
        if row is not None:
            winners[command_id].append(row.state)

    async with anyio.create_task_group() as tg:
        for command_id in ids:
            tg.start_soon(move, command_id, ACK)
            tg.start_soon(move, command_id, EXPIRED)
    for command_id, won in winners.items():
        assert len(won) == 1, (command_id, won)
        stored = await store.get_command(command_id)
        assert stored is not None
        assert stored.state == won[0]


# firmware updates -------------------------------------------------------------------


async def test_ota_runs_progress_and_finish(store: Store) -> None:
    await store.insert_ota(ota("o1", at=T0))
    await store.insert_ota(ota("o2", at=T0 + S))
    await store.insert_ota(ota("o3", device="pm-2", at=T0 + 2 * S))
    with pytest.raises(StoreError):
        await store.insert_ota(ota("o1"))
    assert await store.get_ota("o1") == ota("o1", at=T0)
    assert await store.get_ota("nope") is None
    assert [o.id for o in await store.list_ota("pm-1")] == ["o2", "o1"]
    assert [o.id for o in await store.list_ota("pm-1", limit=1)] == ["o2"]
    running = ["requested", "downloading", "installing"]
    down = await store.update_ota("o1", state="downloading", at=T0 + 5 * S, progress=40,
                                  from_states=running)  # fmt: skip
    assert down is not None
    assert (down.state, down.progress, down.updated_at) == ("downloading", 40, T0 + 5 * S)
    # a status without progress keeps the last one
    inst = await store.update_ota("o1", state="installing", at=T0 + 6 * S, from_states=running)
    assert inst is not None
    assert inst.progress == 40
    failed = await store.update_ota("o1", state="failed", at=T0 + 7 * S, error="sha256 mismatch",
                                    from_states=running)  # fmt: skip
    assert failed is not None
    assert (failed.state, failed.error) == ("failed", "sha256 mismatch")
    assert await store.update_ota("o1", state="updated", at=T0 + DAY, from_states=running) is None
    assert await store.get_ota("o1") == failed
    assert await store.update_ota("nope", state="failed", at=T0, from_states=running) is None


async def test_an_unknown_ota_state_is_refused(store: Store) -> None:
    with pytest.raises(StoreError):
        await store.insert_ota(ota("o1", state="verifying"))
    await store.insert_ota(ota("o1"))
    with pytest.raises(StoreError):
        await store.update_ota("o1", state="verifying", at=T0, from_states=["requested"])
    assert await store.get_ota("o1") == ota("o1")


# text a device sends -----------------------------------------------------------------


async def test_a_nul_from_a_device_is_stored_as_u_fffd_and_bytes_exactly(store: Store) -> None:
    # PostgreSQL's text and jsonb refuse U+0000; refused, the store writer would fail on
    # the same journal record after every restart
    nul, fffd = "bad\x00value", "bad\ufffdvalue"
    assert await store.write_dead_letters([letter("pm-1", 1, detail=nul, payload=b"{\x00}")]) == 1
    [stored] = await store.list_dead_letters()
    assert (stored.detail, stored.payload) == (fffd, b"{\x00}")
    assert await store.write_dead_letters([letter("pm-1", 1, detail=nul)]) == 0
    await store.write_device_events([event("pm-1", "offline", 1, **{nul: [nul, 1]})])
    [offline] = await store.list_device_events("pm-1")
    assert offline.details == {fffd: [fffd, 1]}
    await store.insert_command(command("c1", params={"label": nul}))
    acked = await store.update_command("c1", state=FAILED, at=T0 + S, from_states=[Q],
                                       result={nul: nul}, error=nul)  # fmt: skip
    assert acked is not None
    assert (acked.params, acked.result, acked.error) == ({"label": fffd}, {fffd: fffd}, fffd)
    assert acked.state is FAILED
    assert await store.get_command("c1") == acked
    await store.insert_ota(ota("o1"))
    run = await store.update_ota("o1", state="failed", at=T0 + S, error=nul,
                                 from_states=["requested"])  # fmt: skip
    assert run is not None
    assert run.error == fffd
    # a hello's firmware version lands in the device's metadata
    await store.upsert_device(Device(id="pm-1", name="pm-1", device_type="power_meter_ac",
                                     tags=[nul], metadata={"fw_version": nul},
                                     created_at=T0, updated_at=T0))  # fmt: skip
    device = await store.get_device("pm-1")
    assert device is not None
    assert (device.tags, device.metadata) == ([fffd], {"fw_version": fffd})


# retention --------------------------------------------------------------------------


async def test_prune_drops_old_device_rows_but_keeps_unfinished_ones(store: Store) -> None:
    now = today() + timedelta(hours=1)
    old, recent = today() - 400 * DAY, today() - 40 * DAY
    await store.write_dead_letters([letter("pm-1", 1, ts=old), letter("pm-1", 2, ts=recent)])
    await store.write_device_events([event("pm-1", "gap", 1, old), event("pm-1", "gap", 2, recent)])
    for command_id in ("done-old", "queued-old", "sent-old", "done-recent"):
        await store.insert_command(
            command(command_id, at=recent if "recent" in command_id else old)
        )
    await store.update_command("done-old", state=ACK, at=old, from_states=[Q])
    await store.update_command("sent-old", state=SENT, at=old, from_states=[Q])
    await store.update_command("done-recent", state=EXPIRED, at=recent, from_states=[Q])
    for ota_id in ("updated-old", "failed-old", "running-old", "updated-recent"):
        await store.insert_ota(ota(ota_id, at=recent if "recent" in ota_id else old))
    for ota_id, state, at in (("updated-old", "updated", old), ("failed-old", "failed", old),
                              ("running-old", "installing", old),
                              ("updated-recent", "updated", recent)):  # fmt: skip
        await store.update_ota(ota_id, state=state, at=at, from_states=["requested"])
    deleted = await store.prune(now, raw_days=5, rollup_15m_days=30, rollup_1d_days=365)
    assert (deleted["dead_letters"], deleted["device_events"], deleted["commands"],
            deleted["ota"]) == (1, 1, 1, 2)  # fmt: skip
    assert [r.journal_seq for r in await store.list_dead_letters()] == [2]
    assert [e.journal_seq for e in await store.list_device_events("pm-1")] == [2]
    assert sorted(c.id for c in await store.list_commands()) == [
        "done-recent",
        "queued-old",
        "sent-old",
    ]
    assert sorted(o.id for o in await store.list_ota("pm-1")) == ["running-old", "updated-recent"]
