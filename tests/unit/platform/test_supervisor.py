from __future__ import annotations

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterhub.platform import (
    ActorSpec,
    ActorState,
    ActorSystem,
    RestartPolicy,
    RestartType,
    Strategy,
    SupervisorSpec,
)
from tests.unit.platform.actors import Probe, Recorder, until

FAST = RestartPolicy(max_restarts=5, within_seconds=30, backoff_initial=0.001, jitter=0)


def state_of(system: ActorSystem, name: str) -> ActorState:
    return next(s.state for s in system.status() if s.name == name)


async def test_crashed_actor_is_restarted_and_keeps_its_queued_messages() -> None:
    probe = Probe()
    async with ActorSystem(FAST) as system:
        await system.spawn(ActorSpec("rec", lambda: Recorder(probe)))
        ref = system.lookup("rec")
        for message in [1, "crash", 2, 3]:
            await ref.send(message)
        await probe.wait_for(lambda: len(probe.handled) == 3)
        status = next(s for s in system.status() if s.name == "rec")
    assert probe.handled == [1, 2, 3]
    assert probe.starts == 2
    assert status.restarts == 1
    assert status.failed == 1
    assert status.processed == 3
    assert status.last_error == "ValueError: asked to crash"


async def test_backoff_grows_between_restarts() -> None:
    probe = Probe()
    policy = RestartPolicy(max_restarts=10, backoff_initial=0.02, backoff_max=1, jitter=0)
    async with ActorSystem(policy) as system:
        await system.spawn(ActorSpec("bad", lambda: Recorder(probe, fail_start=True)))
        await probe.wait_for(lambda: probe.starts >= 5)
    gaps = [b - a for a, b in zip(probe.start_times, probe.start_times[1:], strict=False)]
    # delays are 0.02, 0.04, 0.08, 0.16: each gap is at least its delay (sleeps never
    # return early), so a constant backoff would fail the later ones
    for gap, delay in zip(gaps, [0.02, 0.04, 0.08, 0.16], strict=False):
        assert gap >= delay * 0.9


@given(
    attempt=st.integers(min_value=1, max_value=60),
    rand=st.floats(min_value=0, max_value=1),
    initial=st.floats(min_value=0.001, max_value=5),
    jitter=st.floats(min_value=0, max_value=1),
)
def test_backoff_is_capped_jittered_and_monotonic(
    attempt: int, rand: float, initial: float, jitter: float
) -> None:
    policy = RestartPolicy(backoff_initial=initial, backoff_max=10.0, jitter=jitter)
    base = min(10.0, initial * 2 ** (attempt - 1))
    delay = policy.backoff(attempt, rand)
    assert base * (1 - jitter) - 1e-9 <= delay <= base * (1 + jitter) + 1e-9
    no_jitter = RestartPolicy(backoff_initial=initial, backoff_max=10.0, jitter=0)
    assert no_jitter.backoff(attempt + 1, rand) >= no_jitter.backoff(attempt, rand)


async def test_siblings_are_untouched_under_one_for_one() -> None:
    crashy, steady = Probe(), Probe()
    spec = SupervisorSpec(
        "group",
        children=(
            ActorSpec("crashy", lambda: Recorder(crashy)),
            ActorSpec("steady", lambda: Recorder(steady)),
        ),
        policy=FAST,
    )
    async with ActorSystem(FAST) as system:
        await system.spawn(spec)
        await system.lookup("steady").send("before")
        await system.lookup("crashy").send("crash")
        await crashy.wait_for(lambda: crashy.starts == 2)
        await system.lookup("steady").send("after")
        await steady.wait_for(lambda: len(steady.handled) == 2)
    assert steady.starts == 1
    assert steady.handled == ["before", "after"]


async def test_one_for_all_restarts_every_child() -> None:
    crashy, steady = Probe(), Probe()
    spec = SupervisorSpec(
        "group",
        children=(
            ActorSpec("crashy", lambda: Recorder(crashy)),
            ActorSpec("steady", lambda: Recorder(steady)),
        ),
        strategy=Strategy.ONE_FOR_ALL,
        policy=FAST,
    )
    async with ActorSystem(FAST) as system:
        await system.spawn(spec)
        await system.lookup("crashy").send("crash")
        await steady.wait_for(lambda: steady.starts == 2)
        await system.lookup("steady").send("still works")
        await steady.wait_for(lambda: len(steady.handled) == 1)
        assert state_of(system, "group") is ActorState.RUNNING
    assert crashy.starts == 2
    assert steady.stops >= 1


async def test_intensity_exceeded_escalates_and_the_root_keeps_the_rest_running() -> None:
    doomed, bystander, other = Probe(), Probe(), Probe()
    inner = SupervisorSpec(
        "inner",
        children=(
            ActorSpec("doomed", lambda: Recorder(doomed, fail_start=True)),
            ActorSpec("bystander", lambda: Recorder(bystander)),
        ),
        policy=RestartPolicy(max_restarts=2, within_seconds=60, backoff_initial=0.001),
    )
    root = RestartPolicy(max_restarts=0, backoff_initial=0.001)
    async with ActorSystem(root) as system:
        await system.spawn(ActorSpec("other", lambda: Recorder(other)))
        await system.spawn(inner)
        await until(system, lambda: not system.readiness().ready)
        readiness = system.readiness()
        assert readiness.failed == ["inner"]
        assert "doomed" in readiness.reasons["inner"]
        assert state_of(system, "bystander") is ActorState.FAILED
        # the rest of the process keeps working
        await system.lookup("other").send("alive")
        await other.wait_for(lambda: other.handled == ["alive"])
    assert doomed.starts == 3  # first start + max_restarts


async def test_nested_supervisor_is_restarted_by_its_parent() -> None:
    doomed, sibling_in_inner, sibling_in_outer = Probe(), Probe(), Probe()
    inner = SupervisorSpec(
        "inner",
        children=(
            ActorSpec("doomed", lambda: Recorder(doomed)),
            ActorSpec("inner-sibling", lambda: Recorder(sibling_in_inner)),
        ),
        policy=RestartPolicy(max_restarts=0, backoff_initial=0.001),
    )
    outer = SupervisorSpec(
        "outer",
        children=(inner, ActorSpec("outer-sibling", lambda: Recorder(sibling_in_outer))),
        policy=FAST,
    )
    async with ActorSystem(FAST) as system:
        await system.spawn(outer)
        await system.lookup("doomed").send("crash")
        # inner gives up at once (max_restarts=0), so outer restarts inner as a unit
        await sibling_in_inner.wait_for(lambda: sibling_in_inner.starts == 2)
        await system.lookup("inner-sibling").send("after")
        await sibling_in_inner.wait_for(lambda: sibling_in_inner.handled == ["after"])
        inner_status = next(s for s in system.status() if s.name == "inner")
        assert inner_status.restarts == 1
        assert system.readiness().ready
    assert doomed.starts == 2
    assert sibling_in_outer.starts == 1


async def test_temporary_child_is_not_restarted_and_transient_only_after_a_crash() -> None:
    temp, trans = Probe(), Probe()
    async with ActorSystem(FAST) as system:
        await system.spawn(ActorSpec("temp", lambda: Recorder(temp), restart=RestartType.TEMPORARY))
        await system.spawn(
            ActorSpec("trans", lambda: Recorder(trans), restart=RestartType.TRANSIENT)
        )
        await system.lookup("temp").send("crash")
        await system.lookup("trans").send("crash")
        await trans.wait_for(lambda: trans.starts == 2)
        await until(system, lambda: state_of(system, "temp") is ActorState.STOPPED)
    assert temp.starts == 1


async def test_a_child_failing_its_first_start_does_not_block_spawn() -> None:
    probe = Probe()
    policy = RestartPolicy(max_restarts=100, backoff_initial=0.01, backoff_max=0.01)
    async with ActorSystem(policy) as system:
        with anyio.fail_after(2):
            await system.spawn(ActorSpec("bad", lambda: Recorder(probe, fail_start=True)))
        await probe.wait_for(lambda: probe.starts >= 2)
        assert system.readiness().ready


async def test_spec_errors_are_reported() -> None:
    async with ActorSystem(FAST) as system:
        await system.spawn(ActorSpec("a", lambda: Recorder(Probe())))
        from meterhub.platform import ActorNotFoundError, DuplicateActorError

        with pytest.raises(DuplicateActorError):
            await system.spawn(ActorSpec("a", lambda: Recorder(Probe())))
        with pytest.raises(ActorNotFoundError):
            system.lookup("nobody")
        with pytest.raises(ActorNotFoundError):
            await system.spawn(ActorSpec("b", lambda: Recorder(Probe())), parent="a")


class Flaky(Recorder):
    """Subscribed to ``t/#`` with a small ``block`` mailbox; raises while ``broken``."""

    broken = True

    async def on_start(self) -> None:
        await super().on_start()
        self.context.bus.subscribe("t/#", self.context.ref)

    async def handle(self, message: object) -> None:
        if Flaky.broken:
            raise RuntimeError("broken stage")
        await super().handle(message)


async def test_a_given_up_stage_blocks_no_publisher_and_is_tried_again() -> None:
    probe = Probe()
    Flaky.broken = True
    policy = RestartPolicy(max_restarts=2, within_seconds=30, backoff_initial=0.01, jitter=0,
                           retry_failed_after=0.3, retry_failed_max=0.3)  # fmt: skip
    async with ActorSystem(policy) as system:
        await system.spawn(ActorSpec("stage", lambda: Flaky(probe), mailbox_capacity=4))
        # a publisher far faster than the stage's mailbox: it never waits on the broken
        # stage, neither while it restarts nor once it is given up on
        with anyio.fail_after(5):
            for n in range(5000):
                await system.bus.publish("t/x", n)
                await anyio.lowlevel.checkpoint()
            await until(system, lambda: not system.readiness().ready)
            for n in range(1000):
                await system.bus.publish("t/x", n)
        readiness = system.readiness()
        assert readiness.failed == ["stage"]
        assert "trying again in" in readiness.reasons["stage"]
        assert state_of(system, "stage") is ActorState.FAILED
        starts_when_given_up = probe.starts
        # it stops raising: after the long backoff it is started again and subscribes
        Flaky.broken = False
        await until(system, lambda: system.readiness().ready)
        with anyio.fail_after(5):
            while not probe.handled:
                await system.bus.publish("t/x", "after")
                await anyio.sleep(0.01)
    assert starts_when_given_up == 3  # the first start and max_restarts restarts
    assert probe.starts == 4
    assert "after" in probe.handled
