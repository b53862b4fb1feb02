"""The pipeline's MQTT branch: journaled device payloads to readings, events and dead letters."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from meterhub.actors import DeviceDirectory, DeviceRules, Pipeline, UnknownDevice, Validator
from meterhub.adapters.iot import default_device_profiles
from meterhub.model import (
    Approval,
    CommandAck,
    CounterRestart,
    DeadLetter,
    DeviceHello,
    DeviceLink,
    DeviceMeta,
    DeviceNews,
    OtaProgress,
    RawFrame,
    SequenceGap,
)

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def frame(device: str, topic: str, payload: object) -> RawFrame:
    data = payload if isinstance(payload, bytes) else msgspec.json.encode(payload)
    return RawFrame(meter_id=device, transport="mqtt", received_at=T0, payload=data,
                    format="iot", topic=topic)  # fmt: skip


def pipeline(directory: DeviceDirectory | None = None, **rules: object) -> Pipeline:
    found = directory or DeviceDirectory()
    return Pipeline({}, Validator(), lambda: found, DeviceRules(default_device_profiles(), **rules))  # type: ignore[arg-type]


def run(pipe: Pipeline, f: RawFrame, seq: int = 1) -> DeviceNews:
    news = pipe.run(f, seq)
    assert isinstance(news, DeviceNews)
    assert news.journal_seq == seq
    return news


HELLO = {"device_type": "power_meter_ac", "fw_version": "1.4.2", "capabilities": ["ota"]}


def tele(seq: int, **extra: object) -> dict[str, object]:
    return {"seq": seq, "ts": "2026-12-03T10:00:00Z", "measurements": {
        "voltage": {"phase_a": 231.2, "unit": "V"}, "power": {"active": 5775.9, "unit": "W"},
        "energy": {"import": 12.5, "unit": "kWh"}, "weird": {"thing": 3}}, **extra}  # fmt: skip


def test_hello_then_telemetry_maps_to_canonical_metrics() -> None:
    pipe = pipeline()
    news = run(pipe, frame("pm1", "hello", HELLO))
    [hello] = news.events
    assert isinstance(hello, DeviceHello)
    assert (hello.device_type, hello.fw_version, hello.approval) == (
        "power_meter_ac",
        "1.4.2",
        Approval.ACCEPTED,
    )
    news = run(pipe, frame("pm1", "telemetry", tele(12)), seq=2)
    [reading] = news.readings
    assert reading.values["voltage_l1_v"] == 231.2
    assert reading.values["power_import_w"] == 5775.9
    assert reading.values["energy_import_wh"] == 12_500
    assert reading.units["energy_import_wh"] == "Wh"
    # a measurement no profile names is kept under its path, never dropped
    assert reading.values["weird_thing"] == 3
    assert reading.ts == T0
    assert (reading.seq, reading.journal_seq, reading.meter_id) == (12, 2, "pm1")


def test_duplicates_gaps_and_restarts() -> None:
    pipe = pipeline()
    run(pipe, frame("pm1", "hello", HELLO))
    assert len(run(pipe, frame("pm1", "telemetry", tele(1)), 2).readings) == 1
    dup = run(pipe, frame("pm1", "telemetry", tele(1)), 3)
    assert (dup.readings, dup.duplicates) == ([], 1)
    gap = run(pipe, frame("pm1", "telemetry", tele(5)), 4)
    assert len(gap.readings) == 1
    [event] = gap.events
    assert isinstance(event, SequenceGap)
    assert (event.after_seq, event.next_seq, event.missing) == (1, 5, 3)
    # the device rebooted: a hello, then counting from 0 again is no gap
    run(pipe, frame("pm1", "hello", HELLO), 5)
    restart = run(pipe, frame("pm1", "telemetry", tele(0)), 6)
    assert len(restart.readings) == 1
    [event] = restart.events
    assert isinstance(event, CounterRestart)
    assert (event.last_seq, event.next_seq) == (5, 0)


def test_a_batch_gives_several_readings_of_one_record() -> None:
    pipe = pipeline()
    run(pipe, frame("pm1", "hello", HELLO))
    news = run(pipe, frame("pm1", "telemetry", [tele(1), tele(2), tele(2), tele(3)]), 2)
    assert [r.seq for r in news.readings] == [1, 2, 3]
    assert news.duplicates == 1
    assert {r.journal_seq for r in news.readings} == {2}


@pytest.mark.parametrize(("topic", "payload", "reason"), [
    ("telemetry", b"{not json", "malformed_json"),
    ("telemetry", {"seq": "12", "measurements": {}}, "wrong_type"),
    ("telemetry", {"device_id": "other", "seq": 1, "measurements": {}}, "wrong_device"),
    ("hello", {"device_type": "toaster"}, "unknown_device_type"),
    ("telemetry", b"x" * 70_000, "oversize"),
    ("config/set", {}, "unknown_topic"),
])  # fmt: skip
def test_bad_payloads_become_dead_letters_with_their_bytes(
    topic: str, payload: object, reason: str
) -> None:
    pipe = pipeline()
    run(pipe, frame("pm1", "hello", HELLO))
    f = frame("pm1", topic, payload)
    news = run(pipe, f, 7)
    [letter] = news.events
    assert isinstance(letter, DeadLetter)
    assert letter.reason == reason, letter.detail
    assert letter.detail
    assert letter.payload == f.payload[:65_536]
    assert (letter.topic, letter.journal_seq, letter.device_id) == (topic, 7, "pm1")
    # the device's next payload is taken in as usual
    assert run(pipe, frame("pm1", "telemetry", tele(1)), 8).readings


def test_wrong_type_names_the_field() -> None:
    pipe = pipeline()
    run(pipe, frame("pm1", "hello", HELLO))
    [letter] = run(pipe, frame("pm1", "telemetry", {"seq": 1, "measurements": 5})).events
    assert isinstance(letter, DeadLetter)
    assert "measurements" in letter.detail


def test_telemetry_without_hello_is_unregistered_unless_the_registry_knows_it() -> None:
    [letter] = run(pipeline(), frame("pm1", "telemetry", tele(1))).events
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "unregistered"
    # after a restart the hello lies before the stream: the registry knows the type
    known = DeviceDirectory({"pm1": DeviceMeta(device_type="power_meter_ac")},
                            {"pm1": Approval.ACCEPTED})  # fmt: skip
    news = run(pipeline(known), frame("pm1", "telemetry", tele(1)))
    assert news.readings[0].device is not None
    assert news.readings[0].values["voltage_l1_v"] == 231.2


def test_pending_and_rejected_devices() -> None:
    pipe = pipeline(unknown_devices=Approval.PENDING)
    [hello] = run(pipe, frame("pm1", "hello", HELLO)).events
    assert isinstance(hello, DeviceHello)
    assert hello.approval is Approval.PENDING
    [letter] = run(pipe, frame("pm1", "telemetry", tele(1))).events
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "pending_device"
    # an operator's decision in the registry wins
    rejected = DeviceDirectory({"pm1": DeviceMeta(device_type="power_meter_ac")},
                               {"pm1": Approval.REJECTED})  # fmt: skip
    pipe = pipeline(rejected)
    run(pipe, frame("pm1", "hello", HELLO))
    [letter] = run(pipe, frame("pm1", "telemetry", tele(1))).events
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "rejected_device"


def test_status_acks_and_ota_are_events() -> None:
    pipe = pipeline()
    [link] = run(pipe, frame("pm1", "status", {"state": "offline"})).events
    assert isinstance(link, DeviceLink)
    assert not link.online
    [ack] = run(pipe, frame("pm1", "command/ack", {"id": "c1", "status": "error",
                                                   "error": "busy"})).events  # fmt: skip
    assert isinstance(ack, CommandAck)
    assert (ack.command_id, ack.ok, ack.error) == ("c1", False, "busy")
    [ota] = run(pipe, frame("pm1", "ota/status", {"ota_id": "o1", "state": "downloading",
                                                  "progress": 40})).events  # fmt: skip
    assert isinstance(ota, OtaProgress)
    assert (ota.state, ota.progress) == ("downloading", 40)


def test_a_device_may_not_speak_for_a_configured_meter() -> None:
    pipe = pipeline(reserved=frozenset({"house"}))
    [letter] = run(pipe, frame("house", "hello", HELLO)).events
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "wrong_device"


def test_without_mqtt_a_device_record_belongs_to_no_device() -> None:
    pipe = Pipeline({}, Validator(), DeviceDirectory)
    assert isinstance(pipe.run(frame("pm1", "hello", HELLO), 1), UnknownDevice)
