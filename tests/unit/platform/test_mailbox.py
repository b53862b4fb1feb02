from __future__ import annotations

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterhub.platform import Mailbox, MailboxClosedError, MailboxPolicy


def test_block_mailbox_refuses_when_full_without_waiting() -> None:
    box: Mailbox[int] = Mailbox("a", 2, MailboxPolicy.BLOCK)
    assert box.put_nowait(1)
    assert box.put_nowait(2)
    assert not box.put_nowait(3)
    assert len(box) == 2
    assert box.dropped == 0


async def test_block_put_waits_for_room_and_keeps_order() -> None:
    box: Mailbox[int] = Mailbox("a", 2, MailboxPolicy.BLOCK)
    sent: list[int] = []

    async def producer() -> None:
        for i in range(10):
            await box.put(i)
            sent.append(i)

    received: list[int] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(producer)
            while len(received) < 10:
                batch = await box.get_batch(100)
                # back-pressure: never more than the capacity was queued at once
                assert len(batch) <= 2
                received.extend(batch)
    assert received == list(range(10))
    assert sent == list(range(10))


@given(st.lists(st.integers(), max_size=200), st.integers(min_value=1, max_value=50))
def test_drop_oldest_keeps_the_newest_and_counts_the_rest(items: list[int], capacity: int) -> None:
    box: Mailbox[int] = Mailbox("a", capacity, MailboxPolicy.DROP_OLDEST)
    for item in items:
        assert box.put_nowait(item)
    kept = items[-capacity:] if items else []
    assert list(box._items or []) == kept
    assert box.dropped == len(items) - len(kept)
    assert box.accepted == len(items)


@given(st.lists(st.integers(), max_size=200), st.integers(min_value=1, max_value=50))
def test_block_accepts_exactly_up_to_capacity(items: list[int], capacity: int) -> None:
    box: Mailbox[int] = Mailbox("a", capacity, MailboxPolicy.BLOCK)
    accepted = [item for item in items if box.put_nowait(item)]
    assert accepted == items[:capacity]
    assert box.dropped == 0


async def test_closed_mailbox_refuses_sends_but_drains_what_it_holds() -> None:
    box: Mailbox[str] = Mailbox("worker", 10, MailboxPolicy.BLOCK)
    box.put_nowait("a")
    box.put_nowait("b")
    box.close()
    with pytest.raises(MailboxClosedError, match="worker"):
        box.put_nowait("c")
    with pytest.raises(MailboxClosedError):
        await box.put("c")
    assert await box.get_batch(1) == ["a"]
    assert await box.get_batch(10) == ["b"]
    assert await box.get_batch(10) == []


async def test_close_wakes_a_waiting_sender_with_an_error() -> None:
    box: Mailbox[int] = Mailbox("full", 1, MailboxPolicy.BLOCK)
    box.put_nowait(1)
    outcome: list[BaseException] = []

    async def sender() -> None:
        try:
            await box.put(2)
        except MailboxClosedError as exc:
            outcome.append(exc)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(sender)
            await anyio.wait_all_tasks_blocked()
            box.close()
    assert len(outcome) == 1


def test_requeue_front_restores_order() -> None:
    box: Mailbox[int] = Mailbox("a", 5, MailboxPolicy.BLOCK)
    box.put_nowait(4)
    box.requeue_front([1, 2, 3])
    assert list(box._items or []) == [1, 2, 3, 4]


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Mailbox("a", 0, MailboxPolicy.BLOCK)


async def test_a_waiting_sender_is_not_overtaken_by_newcomers() -> None:
    # Under steady overload the room a consumer makes must go to the senders already
    # waiting, in order: raced for instead, one meter's reading waited 17 s while later
    # ones passed, and the store writer took the hole for a loss.
    box: Mailbox[str] = Mailbox("a", 1, MailboxPolicy.BLOCK)
    assert box.put_nowait("first")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(box.put, "waited")
            for _ in range(10):
                await anyio.lowlevel.checkpoint()
            assert box.take_nowait(10) == ["first"]
            assert not box.put_nowait("newcomer")
    assert box.take_nowait(10) == ["waited"]
    assert box.put_nowait("newcomer")


async def test_a_cancelled_sender_gives_up_its_place() -> None:
    box: Mailbox[int] = Mailbox("a", 1, MailboxPolicy.BLOCK)
    assert box.put_nowait(1)
    with anyio.move_on_after(0.05):
        await box.put(2)
    assert box.take_nowait(10) == [1]
    assert box.put_nowait(3)
    assert box.take_nowait(10) == [3]


async def test_shedding_lets_a_waiting_sender_in_by_dropping_the_oldest() -> None:
    # a crashed actor waiting for its restart must not hold up the senders of its
    # full block mailbox
    box: Mailbox[str] = Mailbox("a", 1, MailboxPolicy.BLOCK)
    assert box.put_nowait("old")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(box.put, "waited")
            for _ in range(10):
                await anyio.lowlevel.checkpoint()
            box.shed(on=True)
    assert box.take_nowait(10) == ["waited"]
    assert box.dropped == 1
    box.shed(on=False)
    assert box.put_nowait("x")
    assert not box.put_nowait("y")  # back-pressure again once it runs
