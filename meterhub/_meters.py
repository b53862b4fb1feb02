"""Builds meter actors from ``[[meters]]`` configuration (part of the composition root)."""

from __future__ import annotations

import zlib
import zoneinfo
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec

from meterhub.actors import (
    AlertRule,
    DeviceDirectory,
    MeterActor,
    MeterMessage,
    MeterSetup,
    Redecoder,
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
from meterhub.adapters.simulator import SimulatedMeter
from meterhub.adapters.transports import (
    MBUS_SERIAL,
    P1_SERIAL,
    SerialSettings,
    SerialTransport,
    SimulatedTransport,
    Transport,
)
from meterhub.model import DeviceMeta, Severity
from meterhub.platform import ActorSpec, ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from meterhub.actors import LiveBoard
    from meterhub.actors._meter import JournalAppender
    from meterhub.adapters.stores import Store
    from meterhub.settings import MeterConfig, Settings


def meter_actor_name(meter_id: str) -> str:
    """The actor that reads ``meter_id``."""
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


def _simulated(cfg: MeterConfig, key: bytes | None) -> Callable[[], Transport]:
    sim = cfg.simulator
    number = f"{zlib.crc32(cfg.id.encode()) % 10**12:012d}"
    meter = SimulatedMeter(
        sim.kind, number, key, seed=sim.seed, pv=sim.pv, start=datetime.now(UTC)
    )
    # spread meters over their interval as real ones are
    offset = (zlib.crc32(cfg.id.encode()) % 1000) / 1000 * sim.interval
    return lambda: SimulatedTransport(meter, sim.interval, offset)


def _serial(cfg: MeterConfig, fmt: str) -> Callable[[], Transport]:
    base = MBUS_SERIAL if fmt == "mbus" else P1_SERIAL
    line = SerialSettings(
        baudrate=cfg.baudrate or base.baudrate,
        bytesize=base.bytesize,
        parity=cfg.parity or base.parity,
        stopbits=base.stopbits,
    )
    port = cfg.port or ""
    return lambda: SerialTransport(port, line)


def _format(cfg: MeterConfig) -> FormatOrAuto:
    if cfg.format == "auto" and cfg.transport == "simulator":
        return "dsmr" if cfg.simulator.kind == "dsmr5" else "mbus"
    return cfg.format


def decoder_factory(
    cfg: MeterConfig, index: int, profiles: ProfileRegistry
) -> Callable[[], MeterDecoder]:
    """Makes the meter's decoder: its format, keys and profiles.

    Raises:
        ConfigError: the meter names an unknown profile.
    """
    registry = meter_profiles(cfg, index, profiles)
    key, auth_key, fmt = _hex(cfg.key), _hex(cfg.auth_key), _format(cfg)
    return lambda: MeterDecoder(fmt, key, auth_key, registry, ek_only=cfg.ek_only)


def redecoder(
    settings: Settings, profiles: ProfileRegistry, directory: DeviceDirectory
) -> Redecoder:
    """Decodes journal records again, for a sink catching up or for ``meterhub replay``."""
    factories = {m.id: decoder_factory(m, i, profiles) for i, m in enumerate(settings.meters)}
    zones = {m.id: zoneinfo.ZoneInfo(m.timezone) for m in settings.meters}
    return Redecoder(factories, zones, Validator(validation_rules(settings)), directory)


def meter_spec(
    cfg: MeterConfig,
    index: int,
    profiles: ProfileRegistry,
    *,
    journal: JournalAppender | None = None,
    board: LiveBoard | None = None,
    transport: Callable[[], Transport] | None = None,
) -> ActorSpec[MeterMessage]:
    """The actor spec that reads one configured meter.

    Args:
        cfg: the meter's configuration.
        index: its position in ``[[meters]]``, for error messages.
        profiles: the site's profiles.
        journal: where raw frames go before decoding.
        board: where its live state is shown.
        transport: a transport to use instead of the configured one (benchmarks, tests).

    Raises:
        ConfigError: the meter names an unknown profile.
    """
    make_decoder = decoder_factory(cfg, index, profiles)
    if transport is not None:
        open_transport, transport_name = transport, "injected"
    elif cfg.transport == "simulator":
        open_transport, transport_name = _simulated(cfg, _hex(cfg.key)), "simulator"
    else:
        open_transport, transport_name = _serial(cfg, _format(cfg)), "serial"
    setup = MeterSetup(
        meter_id=cfg.id,
        open_transport=open_transport,
        make_decoder=make_decoder,
        timezone=zoneinfo.ZoneInfo(cfg.timezone),
        stale_after=cfg.stale_after,
        offline_after=cfg.offline_after,
        transport_name=transport_name,
        journal=journal,
        board=board,
    )
    return ActorSpec(meter_actor_name(cfg.id), lambda: MeterActor(setup), mailbox_capacity=256)


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


async def load_directory(settings: Settings, store: Store) -> DeviceDirectory:
    """The device registry as the enricher sees it.

    The store's devices and the applications registered for their types, over the names
    given in the configuration.
    """
    devices = {m.id: DeviceMeta(name=m.name or m.id) for m in settings.meters}
    applications = await store.list_applications()
    for device in await store.list_devices():
        apps = [a.name for a in applications if device.device_type in a.device_types]
        devices[device.id] = DeviceMeta(
            name=device.name or device.id,
            device_type=device.device_type,
            location=device.location or None,
            tags=list(device.tags),
            applications=apps,
        )
    return DeviceDirectory(devices)
