"""Find plugins through their entry points, check them and decode their settings.

Loading never raises for one plugin's fault: a plugin that fails to import, was written
for another plugin API, or whose ``[plugins.<name>]`` table is invalid is *refused* and
reported with the reason; the site runs without it.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.metadata
import logging
import re
from typing import TYPE_CHECKING, Any

import msgspec

from meterhub.plugins._contract import (
    API_VERSION,
    InputPlugin,
    ProcessorPlugin,
    RoutePlugin,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

_log = logging.getLogger(__name__)

GROUPS: dict[str, tuple[str, type[Any]]] = {
    "input": ("meterhub.inputs", InputPlugin),
    "processor": ("meterhub.processors", ProcessorPlugin),
    "routes": ("meterhub.routes", RoutePlugin),
}
"""Interface -> (entry point group, the base class its objects must subclass)."""

ENABLED_KEY = "enabled"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_AT = re.compile(r"^(?P<reason>.*?) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
# msgspec names an unknown or missing field in the reason, not in the path
_FIELD = re.compile(r"^Object (?:contains unknown|missing required) field `(?P<field>[^`]+)`")


class PluginStatus(enum.StrEnum):
    """Where a discovered plugin stands."""

    AVAILABLE = "available"
    """Installed, not configured: no ``[plugins.<name>]`` table."""
    OFF = "off"
    """Configured with ``enabled = false``."""
    ENABLED = "enabled"
    """Loaded and configured: it runs with the site."""
    REFUSED = "refused"
    """It failed to import, targets another plugin API, or its settings are invalid."""


class PluginReport(msgspec.Struct, frozen=True, kw_only=True):
    """One discovered plugin: what it provides and how it runs."""

    name: str
    interfaces: list[str]
    version: str
    package: str | None
    state: str
    """``available``, ``off``, ``refused``, ``running``, ``restarting`` or ``disabled``."""
    error: str | None = None
    restarts: int = 0


@dataclasses.dataclass(slots=True)
class Discovered:
    """The entry points of one plugin name, over every group."""

    name: str
    points: dict[str, importlib.metadata.EntryPoint] = dataclasses.field(default_factory=dict)

    @property
    def package(self) -> str | None:
        """The distribution that installed the plugin."""
        for point in self.points.values():
            dist = point.dist
            if dist is not None:
                return f"{dist.name} {dist.version}"
        return None


@dataclasses.dataclass(slots=True)
class LoadedPlugin:
    """One plugin as the site runs (or refuses) it.

    Attributes:
        name: the entry point name (``[plugins.<name>]``).
        interfaces: interface -> the plugin class providing it.
        version: the plugin's own version ("?" before it imported).
        package: the distribution it came from.
        status: see :class:`PluginStatus`.
        error: why it was refused.
        settings: interface -> its decoded settings.
    """

    name: str
    interfaces: dict[str, type[Any]] = dataclasses.field(default_factory=dict)
    groups: tuple[str, ...] = ()
    version: str = "?"
    package: str | None = None
    status: PluginStatus = PluginStatus.AVAILABLE
    error: str | None = None
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)

    def create(self, interface: str) -> Any:  # noqa: ANN401 (the plugin's own class)
        """A fresh instance of the plugin's class for ``interface``, with its settings."""
        return self.interfaces[interface](self.settings[interface])

    def refuse(self, error: str) -> None:
        """Mark the plugin refused (it does not run) and log why."""
        self.status, self.error = PluginStatus.REFUSED, error
        _log.error("plugin %s refused: %s", self.name, error, extra={"plugin": self.name})


def discover(
    entry_points: Callable[[str], Iterable[importlib.metadata.EntryPoint]] | None = None,
) -> dict[str, Discovered]:
    """Every plugin name found in the three entry point groups, by name."""
    select = entry_points or (lambda group: importlib.metadata.entry_points(group=group))
    found: dict[str, Discovered] = {}
    for interface, (group, _) in GROUPS.items():
        for point in select(group):
            found.setdefault(point.name, Discovered(point.name)).points[interface] = point
    return dict(sorted(found.items()))


def load_plugins(
    config: Mapping[str, Mapping[str, Any]],
    discovered: Mapping[str, Discovered] | None = None,
) -> list[LoadedPlugin]:
    """Load every discovered plugin; configure the ones ``config`` enables.

    Args:
        config: the ``[plugins]`` tables by plugin name.
        discovered: the result of :func:`discover` (found afresh when None).

    Returns:
        Every discovered plugin, plus one refused entry per configured name that no
        installed plugin has.
    """
    found = discover() if discovered is None else discovered
    plugins = [_load(found[name], config.get(name)) for name in found]
    for name in sorted(set(config) - set(found)):
        missing = LoadedPlugin(name)
        known = ", ".join(found) or "none"
        missing.refuse(f"no installed plugin is named {name!r} (installed: {known})")
        plugins.append(missing)
    return plugins


def _load(found: Discovered, table: Mapping[str, Any] | None) -> LoadedPlugin:
    plugin = LoadedPlugin(found.name, package=found.package,
                          groups=tuple(GROUPS[i][0] for i in found.points))  # fmt: skip
    if not _NAME.match(found.name):
        plugin.refuse(f"the name {found.name!r} is not lower-case letters, digits, '-' or '_'")
        return plugin
    for interface, point in found.points.items():
        error = _import(plugin, interface, point)
        if error is not None:
            plugin.refuse(error)
            return plugin
    if table is not None:
        _configure(plugin, table)
    return plugin


def _configure(plugin: LoadedPlugin, table: Mapping[str, Any]) -> None:
    """Enable a loaded plugin with its table (or turn it off, or refuse it)."""
    enabled = table.get(ENABLED_KEY, True)
    if not isinstance(enabled, bool):
        plugin.refuse(f"plugins.{plugin.name}.{ENABLED_KEY}: expected true or false, "
                      f"got {enabled!r}")  # fmt: skip
        return
    if not enabled:
        plugin.status = PluginStatus.OFF
        return
    values = {k: v for k, v in table.items() if k != ENABLED_KEY}
    for interface, cls in plugin.interfaces.items():
        try:
            plugin.settings[interface] = decode_settings(plugin.name, cls.settings_type, values)
        except ValueError as exc:
            plugin.refuse(str(exc))
            return
    plugin.status = PluginStatus.ENABLED


def _import(
    plugin: LoadedPlugin, interface: str, point: importlib.metadata.EntryPoint
) -> str | None:
    group, base = GROUPS[interface]
    try:
        cls = point.load()
    except Exception as exc:  # noqa: BLE001 (any import failure refuses only this plugin)
        return f"cannot import {point.value} ({group}): {type(exc).__name__}: {exc}"
    if not (isinstance(cls, type) and issubclass(cls, base)):
        return f"{point.value} ({group}) is not a subclass of meterhub.plugins.{base.__name__}"
    declared = getattr(cls, "api_version", None)
    if declared is None:
        return f"{point.value} declares no api_version (this meterhub has plugin API {API_VERSION})"
    if declared != API_VERSION:
        return (f"{point.value} was written for plugin API {declared}; this meterhub "
                f"implements plugin API {API_VERSION}")  # fmt: skip
    plugin.interfaces[interface] = cls
    plugin.version = str(getattr(cls, "version", "?"))
    return None


def decode_settings(name: str, settings_type: type[Any] | None, values: Mapping[str, Any]) -> Any:  # noqa: ANN401 (the plugin's own Struct)
    """``[plugins.<name>]`` decoded into the plugin's settings Struct, then checked.

    Raises:
        ValueError: a key is unknown, missing or of the wrong type, or the plugin's
            ``check()`` refused the settings; the message names ``plugins.<name>.<key>``.
    """
    prefix = f"plugins.{name}"
    if settings_type is None:
        if values:
            raise ValueError(f"{prefix}: the plugin takes no settings, got {sorted(values)}")
        return None
    try:
        settings = msgspec.convert(dict(values), settings_type, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(_located(prefix, str(exc))) from exc
    check = getattr(settings, "check", None)
    if callable(check):
        try:
            check()
        except ValueError as exc:
            raise ValueError(f"{prefix}.{exc}") from exc
    return settings


def _located(prefix: str, message: str) -> str:
    """A msgspec error as ``plugins.<name>.<key path>: reason``."""
    match = _AT.match(message)
    path, reason = (match["path"], match["reason"]) if match else ("", message)
    field = _FIELD.match(reason)
    if field is not None:
        path += f".{field['field']}"
    return f"{prefix}{path}: {reason}"
