"""The site's settings tree: every key of the TOML file, its type and its one default.

`meterhub config example` prints ``settings_example.toml``, which documents the same keys;
a test keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from meterhub.platform import ConfigError, RestartPolicy, load_config

if TYPE_CHECKING:
    from collections.abc import Mapping

PositiveSeconds = Annotated[float, msgspec.Meta(gt=0, le=86_400)]
_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_LISTEN = r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):" + _PORT + "$"
_NAME = r"^[A-Za-z0-9_.-]+$"
EXAMPLE_PATH = Path(__file__).with_name("settings_example.toml")


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Base of every settings table: unknown keys are errors, not silently ignored."""


class SiteSettings(_Section, frozen=True):
    """Who this site is."""

    name: Annotated[
        str,
        msgspec.Meta(max_length=64, pattern=_NAME, description="letters, digits, '.', '_', '-'"),
    ] = "demo"


class ApiSettings(_Section, frozen=True):
    """The HTTP API."""

    listen: Annotated[
        str, msgspec.Meta(pattern=_LISTEN, description="HOST:PORT with a port in 1..65535")
    ] = "127.0.0.1:8080"

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

    def policy(self) -> RestartPolicy:
        """The runtime's restart policy for these settings."""
        return RestartPolicy(
            max_restarts=self.max_restarts,
            within_seconds=self.within_seconds,
            backoff_initial=self.backoff_initial,
            backoff_max=self.backoff_max,
            jitter=self.jitter,
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


class Settings(_Section, frozen=True):
    """Everything a site is configured with."""

    site: SiteSettings = SiteSettings()
    data_dir: Annotated[str, msgspec.Meta(min_length=1)] = "meterhub-data"
    api: ApiSettings = ApiSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    logging: LoggingSettings = LoggingSettings()
    demo: DemoSettings = DemoSettings()

    def check(self, source: str) -> None:
        """Rules that span keys or that a type cannot say.

        Raises:
            ConfigError: a rule is broken.
        """
        restart = self.runtime.restart
        if restart.backoff_initial > restart.backoff_max:
            raise ConfigError(
                source, "runtime.restart.backoff_initial", "must not exceed backoff_max"
            )


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
    settings = load_config(Settings, path, overrides=overrides)
    settings.check(str(path) if path is not None else "built-in configuration")
    return settings
