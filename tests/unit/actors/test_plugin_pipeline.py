# ruff: noqa: ARG002 (the FrameSink protocol's signatures)
"""Input plugins in the one pipeline, and ``PluginInput`` with an in-memory frame sink."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest

from meterhub.actors import (
    DeviceDirectory,
    Duplicate,
    Pipeline,
    PluginDecoder,
    PluginInput,
    UnknownDevice,
    ValidationRules,
    Validator,
    plugin_format,
)
from meterhub.adapters.codecs import DecodeError
from meterhub.adapters.transports import TransportError
from meterhub.model import DeviceMeta, DeviceNews, Quality, RawFrame, Reading
from meterhub.plugins import DeviceInfo, InputFeed, Sample
from tests.unit.plugins.sample_plugins import (
    PayloadSamples,
    ScriptedInput,
    ScriptSettings,
    samples_payload,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
VIENNA_WINTER = timezone(timedelta(hours=1))
DEMO = "plugin:demo"


def pipeline(validator: Validator | None = None,
             directory: DeviceDirectory | None = None,
             decoders: Mapping[str, PluginDecoder] | None = None) -> Pipeline:  # fmt: skip
    found = directory or DeviceDirectory()
    plugins = decoders or {DEMO: PluginDecoder("demo", PayloadSamples(None))}
    return Pipeline({}, validator or Validator(), lambda: found, plugins=plugins)


def frame(payload: bytes, *, fmt: str = DEMO, meter_id: str = "ext-1",
          received_at: datetime = T0) -> RawFrame:  # fmt: skip
    return RawFrame(meter_id=meter_id, transport=fmt, received_at=received_at,
                    payload=payload, format=fmt)  # fmt: skip


def samples(*samples: Sample) -> RawFrame:
    return frame(samples_payload(*samples))


# -- decoding a plugin's payload -------------------------------------------------------------


def test_one_sample_is_one_validated_reading_in_utc() -> None:
    local = T0.astimezone(VIENNA_WINTER)
    payload = Sample(ts=local, values={"power_import_w": 640, "price_per_kwh": 0.21},
                     units={"price_per_kwh": "EUR/kWh"})  # fmt: skip
    outcome = pipeline().run(samples(payload), 41)
    assert isinstance(outcome, Reading)
    assert outcome.meter_id == "ext-1"
    assert outcome.ts == T0
    assert outcome.ts.utcoffset() == timedelta(0)
    assert outcome.values == {"power_import_w": 640, "price_per_kwh": 0.21}
    assert outcome.units == {"price_per_kwh": "EUR/kWh"}
    assert outcome.received_at == T0
    assert outcome.journal_seq == 41
    assert outcome.quality is Quality.GOOD


def test_the_validator_judges_plugin_readings() -> None:
    pipe = pipeline(Validator(ValidationRules(max_power_w=10_000)))
    first = pipe.run(samples(Sample(ts=T0, values={"energy_import_wh": 1000})), 1)
    # 1 kWh in one minute is 60 kW, above max_power_w
    later = T0 + timedelta(minutes=1)
    jump = pipe.run(frame(samples_payload(Sample(ts=later, values={"energy_import_wh": 2000})),
                          received_at=later), 2)  # fmt: skip
    assert isinstance(first, Reading)
    assert first.quality is Quality.GOOD
    assert isinstance(jump, Reading)
    assert jump.quality is Quality.SUSPECT
    assert jump.quality_rules == ["jump:energy_import_wh"]


def test_an_impossible_value_is_invalid_but_kept() -> None:
    outcome = pipeline().run(samples(Sample(ts=T0, values={"power_import_w": -5})), 1)
    assert isinstance(outcome, Reading)
    assert outcome.quality is Quality.INVALID
    assert outcome.values == {"power_import_w": -5}


def test_a_plugin_reading_is_enriched_from_the_registry() -> None:
    meta = DeviceMeta(name="heat pump", location="cellar")
    pipe = pipeline(directory=DeviceDirectory({"ext-1": meta}))
    outcome = pipe.run(samples(Sample(ts=T0, values={"power_import_w": 1})), 1)
    assert isinstance(outcome, Reading)
    assert outcome.device == meta


def test_several_samples_are_one_record_with_every_reading() -> None:
    tss = [T0 + timedelta(minutes=n) for n in range(3)]
    payload = [Sample(ts=ts, values={"energy_import_wh": 100 + n}) for n, ts in enumerate(tss)]
    outcome = pipeline().run(frame(samples_payload(*payload), received_at=tss[-1]), 9)
    assert isinstance(outcome, DeviceNews)
    assert outcome.device_id == "ext-1"
    assert outcome.journal_seq == 9
    assert [r.ts for r in outcome.readings] == tss
    assert [r.values for r in outcome.readings] == [{"energy_import_wh": 100 + n}
                                                     for n in range(3)]  # fmt: skip
    assert {r.journal_seq for r in outcome.readings} == {9}


def test_a_payload_the_plugin_refuses_is_malformed_naming_the_plugin() -> None:
    outcome = pipeline().run(frame(b"bad"), 1)
    assert isinstance(outcome, DecodeError)
    assert outcome.reason == "malformed"
    assert outcome.detail == "plugin demo: not a sample list"


def test_a_bug_in_decode_is_a_decode_error_not_a_crash() -> None:
    # not msgpack: the plugin lets msgspec's own error out instead of a PayloadError
    outcome = pipeline().run(frame(b"\xc1"), 1)
    assert isinstance(outcome, DecodeError)
    assert outcome.reason == "malformed"
    assert outcome.detail.startswith("plugin demo failed to decode: DecodeError: ")


def test_a_naive_timestamp_is_refused() -> None:
    good = Sample(ts=T0, values={"power_import_w": 1})
    naive = Sample(ts=T0.replace(tzinfo=None) + timedelta(minutes=1), values={"power_import_w": 2})
    outcome = pipeline().run(samples(good, naive), 1)
    assert isinstance(outcome, DecodeError)
    assert outcome.reason == "malformed"
    assert "plugin demo: sample 1 has a naive timestamp" in outcome.detail


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_values_that_are_not_finite_are_dropped(bad: float) -> None:
    payload = Sample(ts=T0, values={"power_import_w": 12.5, "price_per_kwh": bad})
    outcome = pipeline().run(samples(payload), 1)
    assert isinstance(outcome, Reading)
    assert outcome.values == {"power_import_w": 12.5}


def test_the_same_time_twice_is_a_duplicate() -> None:
    pipe = pipeline()
    payload = samples(Sample(ts=T0, values={"power_import_w": 1}))
    assert isinstance(pipe.run(payload, 1), Reading)
    assert pipe.run(payload, 2) == Duplicate("ext-1")
    # the next instant is news again
    later = samples(Sample(ts=T0 + timedelta(seconds=10), values={"power_import_w": 2}))
    assert isinstance(pipe.run(later, 3), Reading)


def test_duplicates_are_per_device() -> None:
    pipe = pipeline()
    payload = samples_payload(Sample(ts=T0, values={"power_import_w": 1}))
    assert isinstance(pipe.run(frame(payload, meter_id="ext-1"), 1), Reading)
    assert isinstance(pipe.run(frame(payload, meter_id="ext-2"), 2), Reading)


def test_a_repeated_sample_inside_a_record_is_dropped_from_it() -> None:
    first = Sample(ts=T0, values={"power_import_w": 1})
    again = Sample(ts=T0, values={"power_import_w": 1})
    then = Sample(ts=T0 + timedelta(seconds=10), values={"power_import_w": 2})
    outcome = pipeline().run(samples(first, again, then), 1)
    assert isinstance(outcome, DeviceNews)
    assert [r.values["power_import_w"] for r in outcome.readings] == [1, 2]


def test_each_pipeline_de_duplicates_on_its_own() -> None:
    shared = {DEMO: PluginDecoder("demo", PayloadSamples(None))}
    live, durable = pipeline(decoders=shared), pipeline(decoders=shared)
    record = samples(Sample(ts=T0, values={"power_import_w": 1}))
    assert isinstance(live.run(record, 1), Reading)
    assert isinstance(durable.run(record, 1), Reading)  # the same record, read again


def test_a_record_of_a_plugin_that_is_not_enabled_belongs_to_no_device() -> None:
    record = frame(samples_payload(Sample(ts=T0, values={"power_import_w": 1})),
                   fmt="plugin:other")  # fmt: skip
    assert pipeline().run(record, 1) == UnknownDevice("ext-1")


def test_the_pipeline_knows_the_formats_of_enabled_plugins_only() -> None:
    pipe = pipeline()
    assert pipe.knows("ext-1", DEMO)
    assert pipe.knows("any-device", DEMO)
    assert not pipe.knows("ext-1", "plugin:other")
    assert not pipe.knows("ext-1")  # no meter of that id, MQTT off


# -- PluginInput -----------------------------------------------------------------------------


class ListSink:
    """An in-memory ``FrameSink``: keeps the frames and the link changes."""

    def __init__(self) -> None:
        self.frames: list[RawFrame] = []
        self.links: list[tuple[str, str | None]] = []

    async def deliver(self, frame: RawFrame, *, must_journal: bool = False) -> int | None:
        self.frames.append(frame)
        return len(self.frames)

    async def wait_durable(self, seq: int) -> None:
        return None

    def rejected(self, meter_id: str, error: DecodeError) -> None:
        raise AssertionError("a plugin input rejects nothing")

    def heard(self, meter_id: str) -> None:
        return None

    def link_up(self, meter_id: str | None = None) -> None:
        self.links.append(("up", meter_id))

    def link_down(self, reason: str, meter_id: str | None = None) -> None:
        self.links.append((f"down: {reason}", meter_id))


def scripted(payloads: list[bytes], **script: object) -> PluginInput:
    settings = ScriptSettings(payloads=payloads, **script)  # type: ignore[arg-type]
    return PluginInput("demo", lambda: ScriptedInput(settings), [DeviceInfo(id="ext-1")])


def test_a_plugin_input_is_named_by_its_format_and_lists_its_devices() -> None:
    source = PluginInput("demo", lambda: ScriptedInput(ScriptSettings(payloads=[])),
                         [DeviceInfo(id="ext-1"), DeviceInfo(id="ext-2")])  # fmt: skip
    assert source.name == plugin_format("demo") == DEMO
    assert source.devices == ("ext-1", "ext-2")


async def test_delivered_payloads_are_frames_of_the_plugins_format() -> None:
    sink, at = ListSink(), T0 - timedelta(seconds=3)
    with pytest.raises(TransportError):
        await scripted([b"one", bytearray(b"two")], received_at=at).run(sink)  # type: ignore[list-item]
    assert [(f.meter_id, f.payload, f.format, f.transport, f.received_at) for f in sink.frames] == [
        ("ext-1", b"one", DEMO, DEMO, at), ("ext-1", b"two", DEMO, DEMO, at)]  # fmt: skip
    assert all(type(f.payload) is bytes for f in sink.frames)
    assert sink.links[0] == ("up", None)  # the link is up before the plugin delivers


async def test_a_frame_without_a_received_at_is_stamped_now_in_utc() -> None:
    sink = ListSink()
    before = datetime.now(UTC)
    with pytest.raises(TransportError):
        await scripted([b"one"]).run(sink)
    after = datetime.now(UTC)
    (delivered,) = sink.frames
    assert delivered.received_at.utcoffset() == timedelta(0)
    assert before <= delivered.received_at <= after


async def test_input_broken_is_a_transport_error_of_the_plugin_input() -> None:
    with pytest.raises(TransportError) as caught:
        await scripted([b"one"], then="broken").run(ListSink())
    assert caught.value.port == DEMO
    assert caught.value.reason == "api.example: 503 Service Unavailable"


async def test_input_broken_without_words_still_says_why() -> None:
    with pytest.raises(TransportError) as caught:
        await scripted([], then="silent-broken").run(ListSink())
    assert caught.value.reason == "the source is unreachable"


async def test_a_run_that_returns_is_a_transport_error() -> None:
    with pytest.raises(TransportError) as caught:
        await scripted([b"one"], then="return").run(ListSink())
    assert caught.value.port == DEMO
    assert caught.value.reason == "the plugin's run() returned"


async def test_a_naive_received_at_is_refused() -> None:
    sink = ListSink()
    with pytest.raises(ValueError, match="received_at must be timezone-aware"):
        await scripted([b"one"], received_at=T0.replace(tzinfo=None)).run(sink)
    assert sink.frames == []


async def test_every_run_gets_a_fresh_plugin() -> None:
    made: list[ScriptedInput] = []

    def make() -> ScriptedInput:
        made.append(ScriptedInput(ScriptSettings(payloads=[])))
        return made[-1]

    source = PluginInput("demo", make, [])
    for _ in range(2):
        with pytest.raises(TransportError):
            await source.run(ListSink())
    assert len(made) == 2
    assert made[0] is not made[1]


async def test_the_plugin_reports_its_links_through_the_sink() -> None:
    class Flaky(ScriptedInput):
        async def run(self, feed: InputFeed) -> None:
            feed.link_down("timeout", "ext-1")
            feed.link_up("ext-1")
            await super().run(feed)

    sink = ListSink()
    source = PluginInput("demo", lambda: Flaky(ScriptSettings(payloads=[])), [])
    with pytest.raises(TransportError):
        await source.run(sink)
    assert sink.links == [("up", None), ("down: timeout", "ext-1"), ("up", "ext-1")]
