"""Builds the inputs and the one pipeline from ``[[meters]]`` (part of the composition root).

Input kinds and formats are looked up in registries: a new kind of input is an entry in
``INPUT_KINDS``, a new wire format an entry in the codecs' ``FRAMERS``.
"""

from __future__ import annotations

import zlib
import zoneinfo
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec

from meterhub.actors import (
    APPROVAL,
    AlertRule,
    Counters,
    DeviceCodec,
    DeviceDirectory,
    DeviceRules,
    InputActor,
    InputMessage,
    InputSetup,
    Pipeline,
    ValidationRules,
    Validator,
)
from meterhub.adapters.codecs import (
    FormatOrAuto,
    Match,
    MeterDecoder,
    ProfileRegistry,
    default_registry,
)
from meterhub.adapters.inputs import CaptureFile, StreamInput
from meterhub.adapters.simulator import SimulatedMeter
from meterhub.adapters.stores import Device
from meterhub.adapters.transports import (
    MBUS_SERIAL,
    P1_SERIAL,
    SerialSettings,
    SerialTransport,
    SimulatedTransport,
    Transport,
)
from meterhub.model import Approval, DeviceMeta, Severity
from meterhub.platform import ActorSpec, ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from meterhub.actors import JournalAppender, LiveBoard, PluginDecoder
    from meterhub.adapters.codecs import Format
    from meterhub.adapters.stores import Store
    from meterhub.settings import MeterConfig, Settings

# reserved metadata of a device the configuration file owns
SOURCE, FORMAT, INPUT, PROFILE = ("meterhub.source", "meterhub.format", "meterhub.input",
                                  "meterhub.profile")  # fmt: skip


def meter_actor_name(meter_id: str) -> str:
    """The actor that runs the input of ``meter_id``."""
    return f"meter:{meter_id}"


def load_profiles(settings: Settings) -> ProfileRegistry:
    """The shipped profiles plus the user's profile files.

    Raises:
        ConfigError: a profile file is unreadable or invalid.
    """
    registry = default_registry()
    for index, path in enumerate(settings.profiles):
        try:
            registry.add(path)
        except (OSError, ValueError) as exc:
            raise ConfigError("profiles", f"profiles.{index}", f"{path}: {exc}") from exc
    return registry


def meter_profiles(cfg: MeterConfig, index: int, profiles: ProfileRegistry) -> ProfileRegistry:
    """The registry one meter decodes with: ``profile = "NAME"`` forces that profile.

    A forced profile applies to every telegram of the meter, whatever its ``match``
    says; ``auto`` lets each telegram pick the first profile that matches it.

    Raises:
        ConfigError: no profile has that name.
    """
    if cfg.profile == "auto":
        return profiles
    by_name = {profile.name: profile for profile in profiles.profiles}
    chosen = by_name.get(cfg.profile)
    if chosen is None:
        known = ", ".join(sorted(by_name))
        raise ConfigError("meters", f"meters.{index}.profile",
                          f"unknown profile {cfg.profile!r} (known: {known})")  # fmt: skip
    others = [p for p in profiles.profiles if p.name != chosen.name]
    forced = ProfileRegistry(extra=others, builtin=False)
    forced.add(msgspec.structs.replace(chosen, match=Match()))
    return forced


def _hex(secret: object | None) -> bytes | None:
    reveal = getattr(secret, "reveal", None)
    return bytes.fromhex(reveal()) if reveal is not None else None


def _format(cfg: MeterConfig) -> FormatOrAuto:
    if cfg.format == "auto" and cfg.transport == "simulator":
        return "dsmr" if cfg.simulator.kind == "dsmr5" else "mbus"
    return cfg.format


# -- input kinds ----------------------------------------------------------------------


def _simulated(cfg: MeterConfig) -> Callable[[], Transport]:
    sim = cfg.simulator
    number = f"{zlib.crc32(cfg.id.encode()) % 10**12:012d}"
    meter = SimulatedMeter(
        sim.kind, number, _hex(cfg.key), seed=sim.seed, pv=sim.pv, start=datetime.now(UTC)
    )
    # spread meters over their interval as real ones are
    offset = (zlib.crc32(cfg.id.encode()) % 1000) / 1000 * sim.interval
    return lambda: SimulatedTransport(meter, sim.interval, offset)


def _serial(cfg: MeterConfig) -> Callable[[], Transport]:
    base = P1_SERIAL if _format(cfg) == "dsmr" else MBUS_SERIAL
    line = SerialSettings(
        baudrate=cfg.baudrate or base.baudrate,
        bytesize=base.bytesize,
        parity=cfg.parity or base.parity,
        stopbits=base.stopbits,
    )
    port = cfg.port or ""
    return lambda: SerialTransport(port, line)


INPUT_KINDS: dict[str, Callable[[MeterConfig], Callable[[], Transport]]] = {
    "serial": _serial,
    "simulator": _simulated,
}
"""``transport`` of a ``[[meters]]`` table -> how to open its byte stream."""


def device_codec(cfg: MeterConfig, index: int, profiles: ProfileRegistry) -> DeviceCodec:
    """How the meter's frames decode: its keys, profiles and time zone.

    Raises:
        ConfigError: the meter names an unknown profile.
    """
    registry = meter_profiles(cfg, index, profiles)
    key, auth_key = _hex(cfg.key), _hex(cfg.auth_key)

    def make(fmt: str) -> MeterDecoder:
        return MeterDecoder(fmt, key, auth_key, registry, ek_only=cfg.ek_only)  # type: ignore[arg-type]

    fmt = _format(cfg)
    return DeviceCodec(make_decoder=make, default_format="apdu" if fmt == "auto" else fmt,
                       timezone=zoneinfo.ZoneInfo(cfg.timezone))  # fmt: skip


def pipeline_factory(
    settings: Settings,
    profiles: ProfileRegistry,
    directory: Callable[[], DeviceDirectory],
    devices: DeviceRules | None = None,
    plugins: Mapping[str, PluginDecoder] | None = None,
) -> Callable[[], Pipeline]:
    """Makes the site's pipeline: each call a fresh one with its own per-device state.

    Args:
        settings: the site's configuration.
        profiles: the meter profiles.
        directory: the device registry, read at every frame.
        devices: how MQTT device payloads are taken in (None: MQTT is off).
        plugins: journal format -> the input plugin that decodes it.

    Raises:
        ConfigError: a meter names an unknown profile.
    """
    codecs = {m.id: device_codec(m, i, profiles) for i, m in enumerate(settings.meters)}
    rules, counters = validation_rules(settings), Counters(profiles.counters())
    return lambda: Pipeline(codecs, Validator(rules, counters), directory, devices, plugins)


def input_spec(
    cfg: MeterConfig,
    index: int,
    pipeline: Pipeline,
    *,
    journal: JournalAppender | None = None,
    board: LiveBoard | None = None,
    transport: Callable[[], Transport] | None = None,
    capture_dir: Path | None = None,
) -> ActorSpec[InputMessage]:
    """The actor spec that runs one configured meter's input.

    Args:
        cfg: the meter's configuration.
        index: its position in ``[[meters]]``, for error messages.
        pipeline: the site's live pipeline.
        journal: where raw frames go before decoding.
        board: where its live state is shown.
        transport: a transport to use instead of the configured one (benchmarks, tests).
        capture_dir: where ``capture = true`` keeps the raw stream.

    Raises:
        ConfigError: the meter's ``transport`` names no known input kind.
    """
    if transport is not None:
        open_transport, kind = transport, "injected"
    else:
        make = INPUT_KINDS.get(cfg.transport)
        if make is None:
            known = ", ".join(sorted(INPUT_KINDS))
            raise ConfigError("meters", f"meters.{index}.transport",
                              f"unknown input {cfg.transport!r} (known: {known})")  # fmt: skip
        open_transport, kind = make(cfg), cfg.transport
    fmt, key = _format(cfg), _hex(cfg.key)
    capture = None
    if cfg.capture and capture_dir is not None:
        capture = CaptureFile(capture_dir / f"{cfg.id}.hex", cfg.id, cfg.format)
    source = StreamInput(cfg.id, open_transport, lambda: MeterDecoder(fmt, key), kind, capture)
    setup = InputSetup(input=source, pipeline=pipeline, journal=journal, board=board,
                       health={cfg.id: (cfg.stale_after, cfg.offline_after)})  # fmt: skip
    return ActorSpec(meter_actor_name(cfg.id), lambda: InputActor(setup), mailbox_capacity=256)


def alert_rules(settings: Settings) -> list[AlertRule]:
    """The configured alert rules."""
    return [
        AlertRule(
            name=r.name,
            kind=r.kind,
            metric=r.metric,
            low=r.low,
            high=r.high,
            limit=r.limit,
            minutes=r.minutes,
            severity=Severity(r.severity),
            meters=tuple(r.meters),
        )
        for r in settings.alerts
    ]


def validation_rules(settings: Settings) -> ValidationRules:
    """The validator's thresholds."""
    return ValidationRules(
        max_clock_skew_s=settings.pipeline.max_clock_skew_s,
        max_power_w=settings.pipeline.max_power_w,
    )


# -- the device registry ----------------------------------------------------------------


def configured_device(cfg: MeterConfig, now: datetime) -> Device:
    """A configured meter as the device registry holds it (owned by the file)."""
    fmt: Format | str = _format(cfg)
    return Device(
        id=cfg.id, name=cfg.name or cfg.id, device_type=cfg.device_type,
        location=cfg.location, tags=list(cfg.tags),
        metadata={SOURCE: "config", FORMAT: str(fmt), INPUT: cfg.transport,
                  PROFILE: cfg.profile},
        created_at=now, updated_at=now,
    )  # fmt: skip


def is_configured(device: Device) -> bool:
    """Whether the configuration file owns ``device``."""
    return device.metadata.get(SOURCE) == "config"


async def register_configured(settings: Settings, store: Store) -> None:
    """Make the registry hold every configured meter, and none the file dropped.

    A configured meter's entry is rewritten from the file at every start; one that was
    configured before and is no longer leaves the registry (its readings stay).
    """
    now = datetime.now(UTC)
    configured = {m.id: configured_device(m, now) for m in settings.meters}
    for device in await store.list_devices():
        if device.id not in configured and is_configured(device):
            await store.delete_device(device.id)
    for device in configured.values():
        await store.upsert_device(device)


async def load_directory(store: Store) -> DeviceDirectory:
    """The device registry as the pipeline's enrich step sees it.

    Every device of the store (the configured meters among them) with the applications
    registered for its type.
    """
    applications = await store.list_applications()
    devices: dict[str, DeviceMeta] = {}
    approvals: dict[str, Approval] = {}
    for device in await store.list_devices():
        if device.metadata.get(INPUT) == "mqtt":
            approval = device.metadata.get(APPROVAL, Approval.ACCEPTED.value)
            # an unreadable approval is not an acceptance
            known = approval in {a.value for a in Approval}
            approvals[device.id] = Approval(approval) if known else Approval.PENDING
        apps = [a.name for a in applications if device.device_type in a.device_types]
        devices[device.id] = DeviceMeta(
            name=device.name or device.id,
            device_type=device.device_type,
            location=device.location or None,
            tags=list(device.tags),
            applications=apps,
        )
    return DeviceDirectory(devices, approvals)
