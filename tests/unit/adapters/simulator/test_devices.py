"""Simulated MQTT devices: payload shapes per kind, misbehaviours at their rate, commands, OTA."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from meterhub.adapters.simulator import (
    DEVICE_KINDS,
    FAILING_SHA256,
    MISBEHAVIOUR_RATE,
    MISBEHAVIOURS,
    Outgoing,
    SimulatedDevice,
)

START = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
STEP = timedelta(seconds=10)
MESSAGES = 2000
# binomial(2000, 0.1) stays within 200 +- 40 (3 sigma); the seeds make it exact anyway
LOW, HIGH = (MISBEHAVIOUR_RATE - 0.02) * MESSAGES, (MISBEHAVIOUR_RATE + 0.02) * MESSAGES

# the paths of docs/mqtt-protocol.md, "Device types"
PHASES = ("phase_a", "phase_b", "phase_c")
SPEC_PATHS = {
    "power_meter_ac": {*(f"voltage.{p}" for p in PHASES), *(f"current.{p}" for p in PHASES),
                       "power.active", "power.reactive", "power.apparent", "power.factor",
                       "energy.import", "energy.export", "frequency"},
    "power_meter_dc": {"voltage", "current", "power", "energy.import", "energy.export"},
    "smart_breaker": {*(f"voltage.{p}" for p in PHASES), *(f"current.{p}" for p in PHASES),
                      "power.active", "energy.import", *(f"relay.{p}" for p in PHASES)},
    "temperature_sensor": {"temperature", "battery"},
    "humidity_sensor": {"humidity", "temperature", "battery"},
}  # fmt: skip


class Reading(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A telemetry reading as the protocol defines it (what a site decodes)."""

    seq: int
    ts: datetime
    boot: int
    measurements: dict[str, Any]


class Hello(msgspec.Struct, frozen=True):
    device_type: str
    fw_version: str
    capabilities: list[str]
    device_id: str


def readings(payload: bytes) -> list[Reading]:
    """The readings of a telemetry payload, one or a batch; raises on a malformed one."""
    decoded: Reading | list[Reading] = msgspec.json.decode(payload, type=Reading | list[Reading])
    return decoded if isinstance(decoded, list) else [decoded]


def is_malformed(payload: bytes) -> bool:
    try:
        readings(payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return True
    return False


def leaves(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "unit":
            continue
        path = f"{prefix}{key}"
        out.update(leaves(value, f"{path}.") if isinstance(value, dict) else {path: value})
    return out


def device(
    kind: str = "power_meter_ac", *, seed: int = 0, misbehave: frozenset[str] = frozenset()
) -> SimulatedDevice:
    return SimulatedDevice(kind, f"sim-{kind}-0", seed=seed, start=START, misbehave=misbehave)


def run(sim: SimulatedDevice, messages: int = MESSAGES) -> list[list[Outgoing]]:
    return [sim.telemetry(START + STEP * i) for i in range(messages)]


def command(sim: SimulatedDevice, name: str, **params: object) -> list[Outgoing]:
    body = {"id": f"cmd-{name}", "command": name, "params": params}
    return sim.on_command(msgspec.json.encode(body), now=START)


def body(out: Outgoing) -> Any:
    return msgspec.json.decode(out.payload)


# --- payload shapes ----------------------------------------------------------------


@pytest.mark.parametrize("kind", DEVICE_KINDS)
def test_hello_names_the_kind_firmware_and_capabilities(kind: str) -> None:
    hello = msgspec.json.decode(device(kind).hello(), type=Hello)
    assert hello.device_type == kind
    assert hello.device_id == f"sim-{kind}-0"
    assert hello.fw_version == "1.0.0"
    expected = ["telemetry", "command", "ota"] + (["relay"] if kind == "smart_breaker" else [])
    assert hello.capabilities == expected


@pytest.mark.parametrize("kind", DEVICE_KINDS)
def test_telemetry_has_the_paths_of_the_spec_seq_plus_one_and_growing_energy(kind: str) -> None:
    sim = device(kind)
    energies: dict[str, list[float]] = {}
    for i, out in enumerate(run(sim, 300)):
        assert [o.suffix for o in out] == ["telemetry"]
        (reading,) = readings(out[0].payload)
        assert reading.seq == i
        assert reading.boot == 1
        assert reading.ts == START + STEP * i
        values = leaves(reading.measurements)
        assert set(values) == SPEC_PATHS[kind]
        for path, value in values.items():
            assert isinstance(value, int | float), (path, value)
            if path.startswith("energy."):
                energies.setdefault(path, []).append(value)
    for path, series in energies.items():
        assert series == sorted(series), f"{path} went down"
    if "energy.import" in SPEC_PATHS[kind]:
        assert energies["energy.import"][-1] > energies["energy.import"][0]  # 50 min of load


def test_ac_meter_values_are_those_of_a_real_grid() -> None:
    (reading,) = readings(device().telemetry(START)[0].payload)
    m = reading.measurements
    assert m["voltage"]["unit"] == "V"
    assert m["current"]["unit"] == "A"
    assert m["energy"]["unit"] == "kWh"
    assert "unit" not in m["power"]  # W, var, VA and a ratio: no one unit fits them all
    assert all(207 <= m["voltage"][p] <= 253 for p in PHASES)  # EN 50160: 230 V +- 10 %
    assert 49.9 <= m["frequency"] <= 50.1
    power = m["power"]
    assert 0.9 <= power["factor"] <= 1
    assert (
        abs(power["apparent"] ** 2 - power["active"] ** 2 - power["reactive"] ** 2)
        <= 2 * power["apparent"] + 1
    )


@pytest.mark.parametrize(
    ("kind", "low", "high"), [("temperature_sensor", 5, 19), ("humidity_sensor", 19, 24)]
)
def test_sensor_temperature_follows_a_daily_curve(kind: str, low: float, high: float) -> None:
    sim = device(kind)
    day = [
        readings(sim.telemetry(START + timedelta(hours=h))[0].payload)[0].measurements
        for h in range(24)
    ]
    temperatures = [m["temperature"] for m in day]
    assert all(low <= t <= high for t in temperatures)
    assert max(temperatures) - min(temperatures) > 2  # a curve, not noise around a constant
    assert all(1 <= m["battery"] <= 100 for m in day)
    if kind == "humidity_sensor":
        assert all(0 <= m["humidity"] <= 100 for m in day)


def test_status_and_will() -> None:
    sim = device()
    status = msgspec.json.decode(sim.status(now=START + timedelta(seconds=90)))
    assert status["state"] == "online"
    assert status["uptime_s"] == 90
    assert isinstance(status["rssi"], int)
    assert msgspec.json.decode(sim.will()) == {"state": "offline"}
    assert sim.status(online=False) == sim.will()


def test_bad_arguments_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown device kind 'toaster'"):
        SimulatedDevice("toaster", "x", start=START)
    with pytest.raises(ValueError, match="unknown misbehaviour lies"):
        SimulatedDevice("power_meter_ac", "x", start=START, misbehave=frozenset({"lies"}))
    with pytest.raises(ValueError, match="timezone-aware"):
        SimulatedDevice("power_meter_ac", "x", start=START.replace(tzinfo=None))
    with pytest.raises(ValueError, match="before the device's start"):
        device().telemetry(START - timedelta(seconds=1))


# --- misbehaviours -----------------------------------------------------------------


def test_a_well_behaved_device_never_misbehaves() -> None:
    outs = run(device())
    assert all(len(out) == 1 and out[0].suffix == "telemetry" for out in outs)
    assert [readings(out[0].payload)[0].seq for out in outs] == list(range(MESSAGES))


def test_duplicates_send_the_same_payload_twice_at_their_rate() -> None:
    outs = run(device(misbehave=frozenset({"duplicates"})))
    doubled = [out for out in outs if len(out) == 2]
    assert LOW <= len(doubled) <= HIGH
    assert all(out[0] == out[1] for out in doubled)
    assert [readings(out[0].payload)[0].seq for out in outs] == list(range(MESSAGES))


def test_gaps_skip_one_to_five_seqs_at_their_rate() -> None:
    seqs = [readings(out[0].payload)[0].seq for out in run(device(misbehave=frozenset({"gaps"})))]
    jumps = [b - a for a, b in itertools.pairwise(seqs) if b - a != 1]
    assert LOW <= len(jumps) <= HIGH
    assert set(jumps) == {2, 3, 4, 5, 6}  # 1-5 skipped, every size seen


def test_restarts_send_hello_then_seq_zero_with_a_new_boot() -> None:
    outs = run(device(misbehave=frozenset({"restarts"})))
    restarts = [out for out in outs if out[0].suffix == "hello"]
    assert LOW <= len(restarts) <= HIGH
    boot, seq = 1, -1
    for out in outs:
        reading = readings(out[-1].payload)[0]
        if out[0].suffix == "hello":
            assert msgspec.json.decode(out[0].payload, type=Hello).device_type == "power_meter_ac"
            assert (reading.seq, reading.boot) == (0, boot + 1)
        else:
            assert (reading.seq, reading.boot) == (seq + 1, boot)
        boot, seq = reading.boot, reading.seq


def test_malformed_payloads_come_beside_an_intact_stream() -> None:
    outs = run(device(misbehave=frozenset({"malformed"})))
    broken = [out[1].payload for out in outs if len(out) == 2]
    assert LOW <= len(broken) <= HIGH
    assert all(is_malformed(payload) for payload in broken)
    kinds = {
        b"not json" if payload[:1] == b"{" and not payload.endswith(b"}") else payload[:2]
        for payload in broken
    }
    assert b"\xff\xfe" in kinds  # not UTF-8
    assert b"not json" in kinds  # cut off
    assert any(b'"seq":"' in payload for payload in broken)  # a string for the integer
    assert any(b'"measurements":[' in payload for payload in broken)  # a list for the object
    assert [readings(out[0].payload)[0].seq for out in outs] == list(range(MESSAGES))


def test_batches_carry_several_readings_in_order() -> None:
    outs = run(device(misbehave=frozenset({"batches"})))
    batches = [out[0].payload for out in outs if out[0].payload.startswith(b"[")]
    assert LOW <= len(batches) <= HIGH
    sizes = {len(readings(payload)) for payload in batches}
    assert sizes == {2, 3, 4}
    seqs = [r.seq for out in outs for r in readings(out[0].payload)]
    assert seqs == list(range(len(seqs)))
    stamps = [r.ts for out in outs for r in readings(out[0].payload)]
    assert stamps == sorted(stamps)
    assert stamps[-1] == START + STEP * (MESSAGES - 1)


def test_misbehaviours_are_deterministic_for_a_seed_and_differ_between_seeds() -> None:
    every = frozenset(MISBEHAVIOURS)
    first = run(device(seed=7, misbehave=every), 300)
    assert first == run(device(seed=7, misbehave=every), 300)
    assert first != run(device(seed=8, misbehave=every), 300)
    other = SimulatedDevice(
        "power_meter_ac", "sim-power_meter_ac-1", seed=7, start=START, misbehave=every
    )
    assert [len(o) for o in first] != [len(o) for o in run(other, 300)]  # devices differ too


# --- commands and OTA --------------------------------------------------------------


def test_set_relay_opens_a_breaker_phase_seen_in_later_telemetry() -> None:
    sim = device("smart_breaker")
    (ack,) = command(sim, "set_relay", phase="l1", on=False)
    assert ack.suffix == "command/ack"
    assert body(ack) == {"id": "cmd-set_relay", "status": "ok", "result": {"relay_l1": False}}
    m = readings(sim.telemetry(START)[0].payload)[0].measurements
    assert m["relay"] == {"phase_a": False, "phase_b": True, "phase_c": True}
    assert m["current"]["phase_a"] == 0
    assert m["current"]["phase_b"] > 0


@pytest.mark.parametrize(
    ("kind", "raw", "error"),
    [
        ("power_meter_ac", {"command": "dance"}, "unknown command 'dance' for a power_meter_ac"),
        ("temperature_sensor", {"command": "set_relay", "params": {"phase": "l1", "on": True}},
         "unknown command 'set_relay' for a temperature_sensor"),
        ("smart_breaker", {"command": "set_relay", "params": {"phase": "l4", "on": True}},
         "bad params: Invalid enum value 'l4' - at `$.phase`"),
        ("power_meter_ac", {"command": 5}, "bad command: Expected `str`, got `int` - at `$.command`"),
        ("power_meter_ac", {}, "bad command: Object missing required field `command`"),
        ("power_meter_ac", {"command": "ping", "expires_at": "2026-12-03T09:59:59Z"}, "expired"),
        ("power_meter_ac", {"command": "ping", "expires_at": "2026-12-03T09:59:59"}, "expired"),
        ("power_meter_ac", {"command": "ota_update", "params": {"url": "u", "version": "2", "sha256": "xyz"}},
         "bad params: Expected `str` matching regex '^[0-9A-Fa-f]{64}$' - at `$.sha256`"),
    ],
)  # fmt: skip
def test_a_command_that_cannot_be_done_gets_an_error_ack_saying_why(
    kind: str, raw: dict[str, Any], error: str
) -> None:
    sim = device(kind)
    (ack,) = sim.on_command(msgspec.json.encode({"id": "c1", **raw}), now=START)
    assert body(ack) == {"id": "c1", "status": "error", "error": error}


@pytest.mark.parametrize(
    "payload", [b"{not json", b"[1, 2]", b'{"command": "ping"}', b'{"id": 7}', b'{"id": ""}']
)
def test_a_command_without_an_id_gets_no_answer(payload: bytes) -> None:
    assert device().on_command(payload, now=START) == []


def test_an_unexpired_command_is_done() -> None:
    raw = {"id": "c1", "command": "ping", "expires_at": "2026-12-03T10:05:00Z"}
    (ack,) = device().on_command(msgspec.json.encode(raw), now=START)
    assert body(ack) == {"id": "c1", "status": "ok", "result": {"pong": True}}


def test_ota_update_reports_progress_and_reboots_into_the_new_firmware() -> None:
    sim = device("humidity_sensor")
    for _ in range(5):
        sim.telemetry(START)
    out = command(
        sim, "ota_update", url="https://fw.example/h-1.1.0.bin", version="1.1.0", sha256="ab" * 32
    )
    assert [o.suffix for o in out] == ["command/ack"] + ["ota/status"] * 7 + ["hello"]
    assert body(out[0]) == {"id": "cmd-ota_update", "status": "ok", "result": {"version": "1.1.0"}}
    states = [body(o) for o in out[1:-1]]
    assert all(s["ota_id"] == "cmd-ota_update" for s in states)
    assert [(s["state"], s.get("progress")) for s in states] == [
        *(("downloading", p) for p in (0, 25, 50, 75, 100)), ("installing", None), ("updated", None)]  # fmt: skip
    assert msgspec.json.decode(out[-1].payload, type=Hello).fw_version == "1.1.0"
    assert msgspec.json.decode(sim.hello(), type=Hello).fw_version == "1.1.0"
    reading = readings(sim.telemetry(START + STEP)[0].payload)[0]
    assert (reading.seq, reading.boot) == (0, 2)  # rebooted


def test_ota_update_with_a_bad_checksum_fails_and_keeps_the_firmware() -> None:
    sim = device()
    out = command(
        sim, "ota_update", url="https://fw.example/x.bin", version="9.9.9", sha256=FAILING_SHA256
    )
    assert body(out[0])["status"] == "ok"
    assert body(out[-1]) == {
        "ota_id": "cmd-ota_update",
        "state": "failed",
        "error": "checksum mismatch",
    }
    assert "installing" not in [body(o)["state"] for o in out[1:]]  # checked before installing
    assert sim.fw_version == "1.0.0"
    assert readings(sim.telemetry(START)[0].payload)[0].boot == 1


def test_a_command_delivered_twice_is_done_once_and_acked_again() -> None:
    sim = device()
    first = command(sim, "ota_update", url="u", version="1.2.0", sha256="ab" * 32)
    again = command(sim, "ota_update", url="u", version="1.2.0", sha256="ab" * 32)
    assert again == [first[0]]
    assert sim.boot == 2  # one reboot, not two
