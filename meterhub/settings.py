"""The site's settings tree: every key of the TOML file, its type and its one default.

`meterhub config example` prints ``settings_example.toml``, which documents the same keys;
a test keeps the two in step.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
import zoneinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from meterhub.platform import ConfigError, RestartPolicy, Secret, load_config

if TYPE_CHECKING:
    from collections.abc import Mapping

PositiveSeconds = Annotated[float, msgspec.Meta(gt=0, le=86_400)]
_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_LISTEN = r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):" + _PORT + "$"
_NAME = r"^[A-Za-z0-9_.-]+$"
_NAME_TEXT = "letters, digits, '.', '_' and '-'"
EXAMPLE_PATH = Path(__file__).with_name("settings_example.toml")
DEMO_PATH = Path(__file__).with_name("settings_demo.toml")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only reaches this machine (RFC 6761)."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Base of every settings table: unknown keys are errors, not silently ignored."""


class SiteSettings(_Section, frozen=True):
    """Who this site is."""

    name: Annotated[
        str,
        msgspec.Meta(max_length=64, pattern=_NAME, description=_NAME_TEXT),
    ] = "demo"


class ApiSettings(_Section, frozen=True):
    """The HTTP API."""

    listen: Annotated[
        str, msgspec.Meta(pattern=_LISTEN, description="HOST:PORT with a port in 1..65535")
    ] = "127.0.0.1:8080"
    auth: Literal["keys", "open-on-loopback"] = "keys"
    """``keys``: every non-public route needs an API key. ``open-on-loopback``: callers
    without a key act as admin; only on a loopback ``listen`` address, and only for
    requests whose ``Host`` is a loopback name or in ``allowed_hosts``."""
    allowed_hosts: list[Annotated[str, msgspec.Meta(min_length=1, max_length=253)]] = msgspec.field(
        default_factory=list
    )
    """``Host`` names the API answers besides loopback ones (checked when set, and always
    while the API is open)."""
    cors_origins: list[str] = msgspec.field(default_factory=list)
    """Origins (``https://dashboard.example``) whose pages may call the API; empty: none."""
    rate_limit_per_minute: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] = 600
    """Requests per minute for each API key (each client address without a key); 0: off."""
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=100_000_000)] = 1_048_576
    """Largest request body accepted; larger ones get 413."""
    shutdown_timeout: PositiveSeconds = 5.0
    """Seconds open HTTP and WebSocket connections get to finish on a graceful stop."""

    @property
    def host(self) -> str:
        """Host part of ``listen`` (IPv6 without brackets)."""
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        """Port part of ``listen``."""
        return int(self.listen.rsplit(":", 1)[1])


class RestartSettings(_Section, frozen=True):
    """Restart intensity and backoff of the supervisors."""

    max_restarts: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 5
    within_seconds: PositiveSeconds = 30.0
    backoff_initial: PositiveSeconds = 0.05
    backoff_max: PositiveSeconds = 10.0
    jitter: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.2
    retry_failed_after_s: PositiveSeconds = 60.0
    """A component given up on is tried again after this long (doubled each time)."""
    retry_failed_max_s: PositiveSeconds = 600.0

    def policy(self) -> RestartPolicy:
        """The runtime's restart policy for these settings."""
        return RestartPolicy(
            max_restarts=self.max_restarts,
            within_seconds=self.within_seconds,
            backoff_initial=self.backoff_initial,
            backoff_max=self.backoff_max,
            jitter=self.jitter,
            retry_failed_after=self.retry_failed_after_s,
            retry_failed_max=self.retry_failed_max_s,
        )


class RuntimeSettings(_Section, frozen=True):
    """The actor runtime."""

    shutdown_timeout: PositiveSeconds = 10.0
    mailbox_capacity: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 1000
    restart: RestartSettings = RestartSettings()


class LoggingSettings(_Section, frozen=True):
    """Log output on stderr."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class DemoSettings(_Section, frozen=True):
    """The built-in demo site's simulated parts."""

    heartbeat_interval: PositiveSeconds = 5.0


class SimulatorSettings(_Section, frozen=True):
    """A simulated meter (``transport = "simulator"``)."""

    kind: Literal["kaifa_flat", "kaifa_nested", "dsmr5"] = "kaifa_flat"
    interval: PositiveSeconds = 5.0
    pv: bool = False
    seed: int = 0


class MeterConfig(_Section, frozen=True):
    """One meter: where its bytes come from and how to decode them."""

    id: Annotated[str, msgspec.Meta(max_length=64, pattern=_NAME, description=_NAME_TEXT)]
    name: str = ""
    device_type: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_NAME,
                                             description=_NAME_TEXT)] = "meter"  # fmt: skip
    location: Annotated[str, msgspec.Meta(max_length=200)] = ""
    tags: list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]] = msgspec.field(
        default_factory=list
    )
    format: Literal["auto", "mbus", "dsmr", "hdlc"] = "auto"
    transport: Literal["serial", "simulator"] = "serial"
    port: str | None = None
    baudrate: Annotated[int, msgspec.Meta(ge=300, le=4_000_000)] | None = None
    parity: Literal["N", "E", "O"] | None = None
    key: Secret | None = None
    auth_key: Secret | None = None
    ek_only: bool = False
    profile: str = "auto"
    capture: bool = False
    """Keep the raw stream in ``<data_dir>/captures/<id>.hex`` for a bug report (no keys)."""
    timezone: str = "Europe/Vienna"
    stale_after: PositiveSeconds = 30.0
    offline_after: PositiveSeconds = 120.0
    simulator: SimulatorSettings = SimulatorSettings()

    def check(self, source: str, index: int) -> None:
        """Rules between this meter's keys.

        Raises:
            ConfigError: a rule is broken.
        """
        where = f"meters.{index}"
        if self.transport == "serial" and not self.port:
            raise ConfigError(source, f"{where}.port", "a serial meter needs a port")
        for field in ("key", "auth_key"):
            secret: Secret | None = getattr(self, field)
            if secret is not None and not _is_aes_key(secret.reveal()):
                # never echo the value: it is a secret
                raise ConfigError(source, f"{where}.{field}", "expected 32 hexadecimal digits")
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(source, f"{where}.timezone", f"unknown time zone {exc}") from exc
        if self.stale_after > self.offline_after:
            raise ConfigError(source, f"{where}.stale_after",
                              f"{self.stale_after:g} s is longer than offline_after "
                              f"({self.offline_after:g} s): a meter goes stale before it "
                              "goes offline")  # fmt: skip


def _is_aes_key(text: str) -> bool:
    try:
        return len(bytes.fromhex(text)) == 16  # noqa: PLR2004 (AES-128)
    except ValueError:
        return False


class PipelineSettings(_Section, frozen=True):
    """Validation and aggregation of readings."""

    trend_windows_s: list[Annotated[int, msgspec.Meta(ge=1, le=86_400)]] = msgspec.field(
        default_factory=lambda: [60, 900]
    )
    consumption_interval_s: Annotated[int, msgspec.Meta(ge=60, le=86_400)] = 900
    max_clock_skew_s: PositiveSeconds = 300.0
    max_power_w: Annotated[float, msgspec.Meta(gt=0)] = 1_000_000.0


class AlertRuleSettings(_Section, frozen=True):
    """One alert rule (see docs/pipeline.md)."""

    name: Annotated[str, msgspec.Meta(pattern=_NAME, description=_NAME_TEXT)]
    kind: Literal["above", "below", "outside", "rate", "silent"]
    metric: str = ""
    low: float | None = None
    high: float | None = None
    limit: float | None = None
    minutes: PositiveSeconds = 5.0
    severity: Literal["info", "warning", "critical"] = "warning"
    meters: list[str] = msgspec.field(default_factory=lambda: ["*"])

    def check(self, source: str, index: int) -> None:
        """Rules between this rule's keys: each kind needs its thresholds, in order.

        Raises:
            ConfigError: a rule can never fire or never stop firing.
        """
        where = f"alerts.{index}"
        needs = {"above": ("high",), "below": ("low",), "outside": ("low", "high"),
                 "rate": ("limit",), "silent": ()}[self.kind]  # fmt: skip
        if needs and not self.metric:
            raise ConfigError(source, f"{where}.metric",
                              f"{_article(self.kind)} {self.kind!r} rule needs the metric "
                              "it watches")  # fmt: skip
        for key in needs:
            if getattr(self, key) is None:
                raise ConfigError(source, f"{where}.{key}",
                                  f"{_article(self.kind)} {self.kind!r} rule needs "
                                  f"{' and '.join(needs)}")  # fmt: skip
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ConfigError(source, f"{where}.low",
                              f"low ({self.low:g}) must be below high ({self.high:g})")  # fmt: skip
        if self.limit is not None and self.limit <= 0:
            raise ConfigError(source, f"{where}.limit", "must be above 0 (change per second)")


_MQTT_URL = r"^(mqtts?://[^/\s:]+(:[0-9]{1,5})?/?)?$"


class MqttSettings(_Section, frozen=True):
    """The MQTT broker devices publish to (docs/mqtt-protocol.md); off without a ``url``."""

    url: Annotated[
        str,
        msgspec.Meta(pattern=_MQTT_URL, description="mqtt://HOST[:PORT] or mqtts://HOST[:PORT]"),
    ] = ""
    """``mqtt://host:1883``, ``mqtts://host:8883`` (TLS); empty: no MQTT devices."""
    prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
                                        max_length=128)] = "iot"  # fmt: skip
    """Devices publish under ``<prefix>/<device_id>/``."""
    client_id: Annotated[str, msgspec.Meta(max_length=128)] = ""
    """The site's client id, fixed so the broker keeps its session (``meterhub-<site>``)."""
    username: str | None = None
    password: Secret | None = None
    ca_file: str | None = None
    """CA certificates to verify the broker with (``mqtts://``; the system's by default)."""
    cert_file: str | None = None
    """A client certificate (with ``key_file``), for brokers that authenticate clients so."""
    key_file: str | None = None
    tls_insecure: bool = False
    """Skip the broker's host name check (test brokers only)."""
    session_expiry_s: Annotated[int, msgspec.Meta(ge=0, le=4_294_967_295)] = 86_400
    """How long the broker keeps the site's session (and queues QoS 1 messages) while
    the site is away."""
    receive_maximum: Annotated[int, msgspec.Meta(ge=1, le=65_535)] = 4096
    """Messages the broker may have in flight to the site, unacknowledged: the
    back-pressure window (a message is acknowledged once it is in the journal)."""
    keepalive_s: Annotated[int, msgspec.Meta(ge=5, le=65_535)] = 30
    max_payload_bytes: Annotated[int, msgspec.Meta(ge=256, le=16_777_216)] = 65_536
    """Larger payloads go to the dead letters (reason ``oversize``)."""
    unknown_devices: Literal["accept", "pending", "reject"] = "accept"
    """What a device that says hello for the first time is registered as."""
    command_timeout_s: PositiveSeconds = 300.0
    """A command not acknowledged this long after it was queued is ``expired``."""
    profiles: list[str] = msgspec.field(default_factory=list)
    """TOML files with more device types (docs/mqtt-protocol.md, "Device types")."""
    stale_after: PositiveSeconds = 180.0
    offline_after: PositiveSeconds = 600.0

    @property
    def enabled(self) -> bool:
        """Whether a broker is configured."""
        return bool(self.url)


class StorageSettings(_Section, frozen=True):
    """Where readings are kept, and for how long."""

    url: str = ""
    """``sqlite:///path.db`` or ``postgresql://user@host/db``; empty: SQLite in data_dir."""
    raw_days: Annotated[int, msgspec.Meta(ge=1)] = 30
    rollup_15m_days: Annotated[int, msgspec.Meta(ge=1)] = 400
    rollup_1d_days: Annotated[int, msgspec.Meta(ge=1)] = 3650
    maintenance_interval_s: PositiveSeconds = 3600.0
    batch_rows: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 50_000
    flush_interval_s: PositiveSeconds = 0.2


class JournalSettings(_Section, frozen=True):
    """The raw-frame journal in ``data_dir/journal``."""

    retention_days: Annotated[int, msgspec.Meta(ge=1)] = 30
    segment_mb: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 64
    flush_interval_s: PositiveSeconds = 0.05
    fsync: bool = True


def _default_alerts() -> list[AlertRuleSettings]:
    return [
        # 230 V +/- 10 % (EN 50160)
        AlertRuleSettings(
            name="voltage_band", kind="outside", metric="voltage_*_v", low=207.0, high=253.0
        ),
        AlertRuleSettings(name="meter_silent", kind="silent", minutes=5.0, severity="critical"),
    ]


class Settings(_Section, frozen=True):
    """Everything a site is configured with."""

    def store_url(self) -> str:
        """The storage URL, SQLite in the data folder by default."""
        return self.storage.url or f"sqlite:///{Path(self.data_dir) / 'meterhub.db'}"

    site: SiteSettings = SiteSettings()
    data_dir: Annotated[str, msgspec.Meta(min_length=1)] = "meterhub-data"
    api: ApiSettings = ApiSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    logging: LoggingSettings = LoggingSettings()
    demo: DemoSettings = DemoSettings()
    meters: list[MeterConfig] = msgspec.field(default_factory=list)
    profiles: list[str] = msgspec.field(default_factory=list)
    pipeline: PipelineSettings = PipelineSettings()
    storage: StorageSettings = StorageSettings()
    journal: JournalSettings = JournalSettings()
    mqtt: MqttSettings = MqttSettings()
    alerts: list[AlertRuleSettings] = msgspec.field(default_factory=_default_alerts)
    plugins: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    """``[plugins.<name>]``: a table enables the plugin of that name and holds its
    settings (checked by the plugin's own settings type); ``enabled = false`` turns it
    off."""

    def check(self, source: str) -> None:
        """Rules that span keys or that a type cannot say.

        Raises:
            ConfigError: a rule is broken.
        """
        if self.api.auth == "open-on-loopback" and not is_loopback(self.api.host):
            raise ConfigError(source, "api.auth",
                              f"'open-on-loopback' needs a loopback api.listen, not "
                              f'{self.api.listen}: set auth = "keys" and create a key '
                              "with `meterhub keys create --role admin`")  # fmt: skip
        restart = self.runtime.restart
        if restart.backoff_initial > restart.backoff_max:
            raise ConfigError(
                source, "runtime.restart.backoff_initial", "must not exceed backoff_max"
            )
        if restart.retry_failed_after_s > restart.retry_failed_max_s:
            raise ConfigError(source, "runtime.restart.retry_failed_after_s",
                              "must not exceed retry_failed_max_s")  # fmt: skip
        url = self.storage.url
        if url and not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ConfigError(source, "storage.url",
                              "expected sqlite:///PATH or postgresql://USER@HOST/DB")  # fmt: skip
        seen: set[str] = set()
        for index, meter in enumerate(self.meters):
            if meter.id in seen:
                raise ConfigError(source, f"meters.{index}.id", f"duplicate meter id {meter.id!r}")
            seen.add(meter.id)
            meter.check(source, index)
        rules: set[str] = set()
        for index, rule in enumerate(self.alerts):
            if rule.name in rules:
                raise ConfigError(source, f"alerts.{index}.name",
                                  f"duplicate rule name {rule.name!r}")  # fmt: skip
            rules.add(rule.name)
            rule.check(source, index)
        _check_creatable(source, "data_dir", Path(self.data_dir))


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _check_creatable(source: str, key: str, folder: Path) -> None:
    """Refuse a folder that is not one and cannot be made (without making it).

    Raises:
        ConfigError: it is a file, or its nearest existing parent is not writable.
    """
    if folder.is_dir():
        return
    if folder.exists():
        raise ConfigError(source, key, f"{folder} exists and is not a folder")
    parent = folder.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        reason = f"{folder} cannot be created: {parent} is not a writable folder"
        raise ConfigError(source, key, reason)


def load_settings(
    path: Path | None = None, overrides: Mapping[str, tuple[str, object]] | None = None
) -> Settings:
    """Load the site's settings (the built-in demo ones without a file).

    Args:
        path: the TOML file, None for the demo site.
        overrides: ``dotted.key -> (flag, value)`` from the command line.

    Raises:
        ConfigError: the file, an environment override or a flag is invalid.
    """
    defaults = None if path is not None else tomllib.loads(DEMO_PATH.read_text(encoding="utf-8"))
    settings = load_config(Settings, path, overrides=overrides, defaults=defaults)
    settings.check(str(path) if path is not None else "built-in configuration")
    return settings
