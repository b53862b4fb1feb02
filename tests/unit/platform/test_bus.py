from __future__ import annotations

import re

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterhub.platform import ActorSpec, ActorSystem, Bus, Mailbox, MailboxPolicy, topic_matches
from tests.unit.platform.actors import Gate, Probe, Recorder


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("readings/m1", "readings/m1", True),
        ("readings/+", "readings/m1", True),
        ("readings/+", "readings/m1/extra", False),
        ("readings/#", "readings/m1/extra", True),
        ("readings/#", "readings", True),
        ("+/m1", "alerts/m1", True),
        ("#", "anything/at/all", True),
        ("readings/m1", "readings/m2", False),
        ("readings/+/x", "readings/m1", False),
    ],
)
def test_mqtt_style_matching(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected


level = st.text(alphabet="abc", min_size=1, max_size=3)


@given(st.lists(level | st.just("+"), min_size=1, max_size=4), st.lists(level, min_size=1, max_size=4),
       st.booleans())  # fmt: skip
def test_matching_agrees_with_a_regex_oracle(pattern_parts: list[str], topic_parts: list[str],
                                             hash_tail: bool) -> None:  # fmt: skip
    pattern = "/".join([*pattern_parts, "#"] if hash_tail else pattern_parts)
    regex = "/".join("[^/]+" if p == "+" else re.escape(p) for p in pattern_parts)
    regex = f"{regex}(/.*)?" if hash_tail else regex
    topic = "/".join(topic_parts)
    assert topic_matches(pattern, topic) is bool(re.fullmatch(regex, topic))


@pytest.mark.parametrize("pattern", ["a/#/b", "a/b#", "a+/b"])
def test_invalid_patterns_are_rejected(pattern: str) -> None:
    bus = Bus()
    with pytest.raises(ValueError, match="invalid topic pattern"):
        bus.subscribe(pattern, Mailbox("x", 1, MailboxPolicy.BLOCK))


async def test_fan_out_reaches_every_matching_subscriber_once() -> None:
    bus = Bus()
    every = Mailbox[str]("every", 10, MailboxPolicy.BLOCK)
    m1 = Mailbox[str]("m1", 10, MailboxPolicy.BLOCK)
    bus.subscribe("readings/#", every)
    bus.subscribe("readings/m1", m1)
    bus.subscribe("readings/+", m1)  # overlapping patterns still deliver once
    bus.subscribe("readings/m1", m1)  # subscribing twice is a no-op
    assert await bus.publish("readings/m1", "a") == 2
    assert await bus.publish("readings/m2", "b") == 2
    assert await bus.publish("alerts/m1", "c") == 0
    assert await every.get_batch(10) == ["a", "b"]
    assert await m1.get_batch(10) == ["a", "b"]


_PATTERNS = ["readings/#", "readings/+", "readings/m1", "+/m1", "#", "alerts/+"]
_TOPICS = ["readings/m1", "readings/m2", "alerts/m1", "status/m2"]
_op = st.one_of(
    st.tuples(st.just("sub"), st.integers(0, 2), st.sampled_from(_PATTERNS)),
    st.tuples(st.just("unsub"), st.integers(0, 2), st.sampled_from(_PATTERNS)),
    st.tuples(st.just("unsub_all"), st.integers(0, 2), st.just("")),
    st.tuples(st.just("pub"), st.just(0), st.sampled_from(_TOPICS)),
)


@given(st.lists(_op, max_size=40))
def test_cached_routes_always_match_the_current_subscriptions(
    ops: list[tuple[str, int, str]],
) -> None:
    bus = Bus()
    boxes = [Mailbox[str](f"b{i}", 1000, MailboxPolicy.DROP_OLDEST) for i in range(3)]
    subs: set[tuple[int, str]] = set()  # the reference: (box, pattern)
    for op, box, arg in ops:
        if op == "sub":
            bus.subscribe(arg, boxes[box])
            subs.add((box, arg))
        elif op == "unsub":
            bus.unsubscribe(arg, boxes[box])
            subs.discard((box, arg))
        elif op == "unsub_all":
            bus.unsubscribe_all(boxes[box])
            subs = {(b, p) for b, p in subs if b != box}
        else:
            assert bus.publish_nowait(arg, arg) == []
            got = {i for i, mb in enumerate(boxes) if mb.take_nowait(10) == [arg]}
            assert got == {b for b, p in subs if topic_matches(p, arg)}


async def test_slow_drop_oldest_subscriber_never_stalls_the_others() -> None:
    gate, slow, fast = anyio.Event(), Probe(), Probe()
    async with ActorSystem() as system:
        await system.spawn(ActorSpec("slow", lambda: Gate(gate, slow), mailbox_capacity=10,
                                     mailbox_policy=MailboxPolicy.DROP_OLDEST, batch_limit=1))  # fmt: skip
        await system.spawn(ActorSpec("fast", lambda: Recorder(fast), mailbox_capacity=10))
        system.bus.subscribe("t/#", system.lookup("slow"))
        system.bus.subscribe("t/#", system.lookup("fast"))
        with anyio.fail_after(5):
            for i in range(1000):
                await system.bus.publish("t/x", i)
        await fast.wait_for(lambda: len(fast.handled) == 1000)
        slow_box = system.lookup("slow").mailbox
        # everything the slow one did not keep was counted as dropped
        assert slow_box.dropped == 1000 - 10 - 1  # ten queued, one in its handler
        gate.set()
    assert fast.handled == list(range(1000))
    assert slow.handled[-10:] == list(range(990, 1000))


async def test_full_block_subscriber_applies_back_pressure() -> None:
    bus = Bus()
    box = Mailbox[int]("slow", 2, MailboxPolicy.BLOCK)
    bus.subscribe("t", box)
    await bus.publish("t", 1)
    await bus.publish("t", 2)
    assert bus.publish_nowait("t", 3) == [box]
    with anyio.move_on_after(0.05) as scope:
        await bus.publish("t", 3)
    assert scope.cancelled_caught  # the publisher waited for room
    assert await box.get_batch(10) == [1, 2]
    with anyio.fail_after(1):
        await bus.publish("t", 3)


async def test_stopped_subscriber_is_unsubscribed() -> None:
    probe = Probe()
    async with ActorSystem() as system:
        await system.spawn(ActorSpec("sub", lambda: Recorder(probe)))
        system.bus.subscribe("t", system.lookup("sub"))
        assert system.bus.subscriber_count("t") == 1
        await system.stop("sub")
        assert system.bus.subscriber_count("t") == 0
        assert await system.bus.publish("t", "x") == 0
