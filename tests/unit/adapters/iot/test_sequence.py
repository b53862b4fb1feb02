"""Sequence numbers: the rules of docs/mqtt-protocol.md, and properties over streams."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterhub.adapters.iot import (
    WINDOW,
    Duplicate,
    Fresh,
    Gap,
    Late,
    Restart,
    SequenceTracker,
    Verdict,
)

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(*seqs: int) -> list[Verdict]:
    tracker = SequenceTracker()
    return [tracker.observe(seq) for seq in seqs]


def test_first_seq_is_fresh_wherever_it_starts() -> None:
    assert run(500) == [Fresh()]
    assert run(0, 1, 2) == [Fresh(), Fresh(), Fresh()]
    assert SequenceTracker().last is None


def test_duplicate_gap_late() -> None:
    assert run(9, 9, 12, 13, 10, 10, 11, 12, 14) == [
        Fresh(),
        Duplicate(),
        Gap(after=9, missing=2),
        Fresh(),
        Late(),
        Duplicate(),
        Late(),
        Duplicate(),
        Fresh(),
    ]


def test_late_keeps_last() -> None:
    tracker = SequenceTracker()
    for seq in (1, 5, 3):
        tracker.observe(seq)
    assert tracker.last == 5
    assert tracker.observe(6) == Fresh()


def test_lower_after_hello_is_a_restart_even_if_seen() -> None:
    tracker = SequenceTracker()
    for seq in range(6):
        tracker.observe(seq)
    assert tracker.observe(0, after_hello=True) == Restart(last=5)
    assert tracker.last == 0
    # Counting started again: 1..5 are new readings, not duplicates.
    assert [tracker.observe(seq) for seq in (1, 2, 1)] == [Fresh(), Fresh(), Duplicate()]


def test_hello_without_a_lower_seq_is_no_restart() -> None:
    tracker = SequenceTracker()
    tracker.observe(5)
    assert tracker.observe(5, after_hello=True) == Duplicate()
    assert tracker.observe(6, after_hello=True) == Fresh()
    assert tracker.observe(9, after_hello=True) == Gap(after=6, missing=2)


def test_boot_change_is_a_restart_lower_equal_or_higher() -> None:
    tracker = SequenceTracker()
    assert tracker.observe(10, boot=1) == Fresh()
    assert tracker.observe(11, boot=1) == Fresh()
    assert tracker.observe(3, boot=2) == Restart(last=11)
    assert tracker.observe(50, boot=3) == Restart(last=3)
    assert tracker.observe(50, boot="3") == Restart(last=50)
    assert tracker.observe(51) == Fresh()


def test_boot_compares_with_the_last_boot_given() -> None:
    tracker = SequenceTracker()
    tracker.observe(1)
    assert tracker.observe(2, boot=7) == Fresh()  # the first boot seen is no change
    assert tracker.observe(3) == Fresh()
    assert tracker.observe(2, boot=7) == Duplicate()
    assert tracker.observe(1, boot=8) == Restart(last=3)


def test_more_than_the_window_back_is_a_restart() -> None:
    tracker = SequenceTracker()
    tracker.observe(5000)
    assert tracker.observe(5000 - WINDOW) == Late()
    assert tracker.observe(5000 - WINDOW - 1) == Restart(last=5000)
    assert tracker.last == 5000 - WINDOW - 1


def test_memory_is_bounded_and_old_seqs_are_forgotten() -> None:
    tracker = SequenceTracker()
    for seq in range(3 * WINDOW):
        tracker.observe(seq)
    assert len(tracker._seen) == WINDOW
    assert len(tracker._order) == WINDOW
    assert tracker.observe(2 * WINDOW) == Duplicate()
    # 2047 left the window; exactly WINDOW back it is still taken as late.
    assert tracker.observe(2 * WINDOW - 1) == Late()
    assert tracker.observe(2 * WINDOW - 2) == Restart(last=3 * WINDOW - 1)


@st.composite
def redelivered(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """A strictly increasing stream, with repeats of already delivered seqs mixed in."""
    stream = sorted(draw(st.sets(st.integers(0, 5000), min_size=1, max_size=150)))
    delivered: list[int] = []
    order: list[int] = []
    for seq in stream:
        delivered.append(seq)
        order.append(seq)
        order.extend(draw(st.sampled_from(delivered)) for _ in range(draw(st.integers(0, 2))))
    return stream, order


@SETTINGS
@given(redelivered())
def test_redeliveries_of_an_increasing_stream(case: tuple[list[int], list[int]]) -> None:
    stream, order = case
    tracker = SequenceTracker()
    seen: set[int] = set()
    firsts: list[Verdict] = []
    for seq in order:
        verdict = tracker.observe(seq)
        if seq in seen:
            assert verdict == Duplicate()
        else:
            seen.add(seq)
            assert isinstance(verdict, Fresh | Gap)
            firsts.append(verdict)
    assert firsts[0] == Fresh()
    assert len(firsts) == len(stream)
    gaps = [v for v in firsts if isinstance(v, Gap)]
    never_delivered = stream[-1] - stream[0] + 1 - len(stream)
    assert sum(gap.missing for gap in gaps) == never_delivered
    assert [gap.after for gap in gaps] == [
        stream[i - 1] for i in range(1, len(stream)) if stream[i] > stream[i - 1] + 1
    ]


@SETTINGS
@given(st.integers(0, 10**6), st.lists(st.integers(0, 50), min_size=1, max_size=300))
def test_reordering_within_the_window_loses_nothing(start: int, jitter: list[int]) -> None:
    # Each seq arrives at most 50 places early or late: all are kept, none restarts.
    order = [start + i for _, i in sorted((i + j, i) for i, j in enumerate(jitter))]
    tracker = SequenceTracker()
    verdicts = [tracker.observe(seq) for seq in order]
    assert not any(isinstance(v, Duplicate | Restart) for v in verdicts)
    late = sum(isinstance(v, Late) for v in verdicts)
    missing = sum(v.missing for v in verdicts if isinstance(v, Gap))
    assert late == missing + (order[0] - start)
    assert tracker.last == start + len(order) - 1
