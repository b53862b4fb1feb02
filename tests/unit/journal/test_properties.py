"""Property: any mix of appends, flushes, clean reopens and crashes keeps every durable record."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterhub.adapters.journal import Journal
from meterhub.model import RawFrame
from tests.unit.journal._frames import frame, segments

Op = tuple[str, int, bytes]

OPS = st.one_of(
    st.tuples(st.just("append"), st.integers(1, 25), st.just(b"")),
    st.tuples(st.just("flush"), st.just(0), st.just(b"")),
    st.tuples(st.just("reopen"), st.just(0), st.just(b"")),
    # a crash: the files as they are now (unflushed records lost), plus a torn write
    st.tuples(st.just("crash"), st.just(0), st.binary(max_size=64)),
)


class _Run:
    def __init__(self, root: Path, segment_bytes: int) -> None:
        self.root = root
        self.segment_bytes = segment_bytes
        self.generation = 0
        self.expected: list[RawFrame] = []
        self.stack = AsyncExitStack()
        self.journal: Journal

    @property
    def directory(self) -> Path:
        return self.root / f"j{self.generation}"

    async def open(self) -> None:
        self.journal = await self.stack.enter_async_context(
            Journal(self.directory, segment_bytes=self.segment_bytes, fsync=False,
                    flush_interval=3600)
        )  # fmt: skip

    async def close(self) -> None:
        await self.stack.aclose()

    async def apply(self, op: Op) -> None:
        kind, count, garbage = op
        if kind == "append":
            for _ in range(count):
                item = frame(len(self.expected), size=1 + len(self.expected) * 37 % 300)
                assert self.journal.append(item) == len(self.expected) + 1
                self.expected.append(item)
        elif kind == "flush":
            await self.journal.flush()
        elif kind == "reopen":
            await self.close()
            await self.open()
        else:
            await self.crash(garbage)

    async def crash(self, garbage: bytes) -> None:
        durable, last = self.journal.durable_seq, self.journal.last_seq
        old = self.directory
        self.generation += 1
        shutil.copytree(old, self.directory)
        with segments(self.directory)[-1].open("ab") as tail:
            tail.write(garbage)
        await self.close()
        await self.open()
        # everything synced survived; what was only buffered may or may not have
        assert durable <= self.journal.last_seq <= last
        del self.expected[self.journal.last_seq :]

    def check(self) -> None:
        durable = self.journal.durable_seq
        got = list(self.journal.read(0))
        assert got == list(enumerate(self.expected[:durable], start=1))


async def _scenario(root: Path, segment_bytes: int, ops: list[Op]) -> None:
    run = _Run(root, segment_bytes)
    await run.open()
    try:
        for op in ops:
            await run.apply(op)
            run.check()
    finally:
        await run.close()
    await run.open()
    try:
        assert run.journal.last_seq == len(run.expected)
        run.check()
        assert run.journal.durable_seq == len(run.expected)
    finally:
        await run.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segment_bytes=st.integers(60, 4000), ops=st.lists(OPS, max_size=20))
def test_any_history_keeps_every_durable_record_in_order(segment_bytes: int, ops: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as root:
        anyio.run(_scenario, Path(root), segment_bytes, ops)
