"""Builds a site's plugins from ``[plugins]`` (part of the composition root).

Every installed plugin is discovered; the configured ones become input actors,
processor actors and API routes. One plugin's failure (import, settings, routes, or
crashes at run time) takes only that plugin out: it is reported with its reason in
``/ready``, ``/api/v1/status``, ``/api/v1/plugins`` and ``meterhub plugins list``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Litestar, Router

from meterhub._meters import INPUT, SOURCE
from meterhub.actors import (
    DurableSource,
    InputActor,
    InputSetup,
    PluginDecoder,
    PluginInput,
    ProcessorHost,
    StoreData,
    StoreState,
    cursor_name,
    plugin_format,
    processor_actor_name,
)
from meterhub.adapters.stores import Device
from meterhub.platform import ActorSpec, ActorState, MailboxPolicy
from meterhub.plugins import ACCESS_OPT, LoadedPlugin, PluginReport, PluginStatus, load_plugins

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime

    from meterhub.actors import JournalAppender, JournalReader, LiveBoard, Pipeline
    from meterhub.adapters.stores import Store
    from meterhub.platform import ActorStatus, Readiness
    from meterhub.plugins import DeviceInfo, Discovered, InputPlugin
    from meterhub.settings import Settings

_log = logging.getLogger(__name__)
_ROLES = ("public", "viewer", "operator", "admin")
_COMING_BACK = (ActorState.RESTARTING, ActorState.STARTING)


def input_actor_name(plugin: str) -> str:
    """The actor that runs input plugin ``plugin``."""
    return f"plugin-input:{plugin}"


@dataclasses.dataclass(slots=True)
class SitePlugins:
    """The site's plugins, loaded once at start."""

    plugins: list[LoadedPlugin]
    decoders: dict[str, PluginDecoder] = dataclasses.field(default_factory=dict)
    _inputs: dict[str, tuple[InputPlugin[Any], Sequence[DeviceInfo]]] = dataclasses.field(
        default_factory=dict)  # fmt: skip

    def enabled(self, interface: str) -> list[LoadedPlugin]:
        """The enabled plugins that provide ``interface``."""
        return [p for p in self.plugins
                if p.status is PluginStatus.ENABLED and interface in p.interfaces]  # fmt: skip

    def prepare_inputs(self) -> None:
        """Create each input plugin once (its ``decode`` serves every pipeline)."""
        for plugin in self.enabled("input"):
            try:
                instance: InputPlugin[Any] = plugin.create("input")
                devices = tuple(instance.devices())
            except Exception as exc:  # noqa: BLE001 (a plugin's fault refuses only it)
                plugin.refuse(f"input: {type(exc).__name__}: {exc}")
                continue
            self._inputs[plugin.name] = (instance, devices)
            self.decoders[plugin_format(plugin.name)] = PluginDecoder(plugin.name, instance)

    def devices(self, now: datetime) -> list[Device]:
        """The devices the input plugins declared, as the registry holds them."""
        return [Device(id=d.id, name=d.name or d.id, device_type=d.device_type,
                       metadata={SOURCE: plugin_format(name), INPUT: "plugin"},
                       created_at=now, updated_at=now)
                for name, (_, devices) in self._inputs.items() for d in devices]  # fmt: skip

    def input_specs(
        self, pipeline: Pipeline, journal: JournalAppender, board: LiveBoard
    ) -> list[ActorSpec[Any]]:
        """One input actor per enabled input plugin."""
        specs: list[ActorSpec[Any]] = []
        for plugin in self.enabled("input"):
            if plugin.name not in self._inputs:
                continue
            _, devices = self._inputs[plugin.name]
            source = PluginInput(plugin.name, functools.partial(plugin.create, "input"), devices)
            limits = {d.id: (d.stale_after, d.offline_after) for d in devices}
            setup = InputSetup(input=source, pipeline=pipeline, journal=journal, board=board,
                               health=limits, new_devices=(120.0, 600.0))  # fmt: skip
            run = functools.partial(InputActor, setup)
            specs.append(ActorSpec(input_actor_name(plugin.name), run, mailbox_capacity=256))
        return specs

    def processor_specs(
        self, store: Store, journal: JournalReader, make_pipeline: Callable[[], Pipeline]
    ) -> list[ActorSpec[Any]]:
        """One actor per enabled processor plugin (its mailbox drops the oldest)."""
        specs: list[ActorSpec[Any]] = []
        for plugin in self.enabled("processor"):
            cls = plugin.interfaces["processor"]
            durable = DurableSource(journal, make_pipeline) if cls.durable else None

            make = functools.partial(plugin.create, "processor")
            factory = functools.partial(ProcessorHost, plugin.name, make, store, durable)

            specs.append(ActorSpec(processor_actor_name(plugin.name), factory,
                                   mailbox_capacity=int(cls.mailbox),
                                   mailbox_policy=MailboxPolicy.DROP_OLDEST))  # fmt: skip
        return specs

    def durable_cursors(self) -> set[str]:
        """The journal cursors of the enabled durable processors."""
        return {cursor_name(p.name) for p in self.enabled("processor")
                if p.interfaces["processor"].durable}  # fmt: skip

    def route_routers(self, store: Store) -> list[Router]:
        """A router per route plugin under ``/api/v1/plugins/<name>``; refuses bad ones."""
        routers: list[Router] = []
        for plugin in self.enabled("routes"):
            try:
                routers.append(_router(plugin, store))
            except Exception as exc:  # noqa: BLE001 (a plugin's fault refuses only it)
                plugin.refuse(f"routes: {type(exc).__name__}: {exc}")
        return routers

    def actor_names(self) -> dict[str, str]:
        """Actor name -> the plugin it runs."""
        names: dict[str, str] = {}
        for plugin in self.enabled("processor"):
            names[processor_actor_name(plugin.name)] = plugin.name
        for plugin in self.enabled("input"):
            names[input_actor_name(plugin.name)] = plugin.name
        return names

    def reports(self, actors: Sequence[ActorStatus], readiness: Readiness) -> list[PluginReport]:
        """Every discovered plugin with its state now."""
        by_plugin: dict[str, list[ActorStatus]] = {}
        owners = self.actor_names()
        for status in actors:
            if status.name in owners:
                by_plugin.setdefault(owners[status.name], []).append(status)
        return [_report(p, by_plugin.get(p.name, []), readiness) for p in self.plugins]

    def degrade(self, readiness: Readiness) -> Readiness:
        """Readiness where a plugin that failed degrades the site instead of failing it."""
        owners = self.actor_names()
        refused = {p.name: p.error or "refused" for p in self.plugins
                   if p.status is PluginStatus.REFUSED}  # fmt: skip
        failed = [n for n in readiness.failed if n not in owners]
        degraded = {f"plugin:{name}": why for name, why in refused.items()}
        degraded |= {f"plugin:{owners[n]}": readiness.reasons.get(n, "failed")
                     for n in readiness.failed if n in owners}  # fmt: skip
        reasons = {n: readiness.reasons[n] for n in failed if n in readiness.reasons}
        return msgspec.structs.replace(
            readiness, ready=readiness.state == "running" and not failed, failed=failed,
            reasons=reasons | degraded, degraded=sorted(degraded))  # fmt: skip


def load_site_plugins(
    settings: Settings, discovered: Mapping[str, Discovered] | None = None
) -> SitePlugins:
    """Discover the installed plugins (or take ``discovered``), load the configured ones."""
    plugins = SitePlugins(load_plugins(settings.plugins, discovered))
    plugins.prepare_inputs()
    for plugin in plugins.plugins:
        if plugin.status is PluginStatus.ENABLED:
            _log.info("plugin %s %s enabled: %s", plugin.name, plugin.version,
                      ", ".join(plugin.interfaces), extra={"plugin": plugin.name})  # fmt: skip
    return plugins


class _RouteContext:
    def __init__(self, name: str, store: Store) -> None:
        self.name = name
        self.data = StoreData(store)
        self.state = StoreState(store, name)


def _router(plugin: LoadedPlugin, store: Store) -> Router:
    """The plugin's handlers, each with a declared role, in a router of their own.

    Raises:
        ValueError: a handler declares no role or an unknown one.
    """
    handlers = list(plugin.create("routes").route_handlers(_RouteContext(plugin.name, store)))
    if not handlers:
        raise ValueError("route_handlers() returned no handler")
    for handler in handlers:
        role = getattr(handler, "opt", {}).get(ACCESS_OPT)
        if role not in _ROLES:
            name = getattr(handler, "handler_name", repr(handler))
            raise ValueError(f"handler {name!r} declares no role: add "
                             "opt=requires('viewer') (or operator, admin, public)")  # fmt: skip
    router = Router(path=f"/api/v1/plugins/{plugin.name}", route_handlers=handlers,
                    tags=[f"plugin: {plugin.name}"])  # fmt: skip
    # built alone first: a handler Litestar refuses must fail here, not the site's app
    Litestar(route_handlers=[router], openapi_config=None, logging_config=None)
    return router


def _report(
    plugin: LoadedPlugin, actors: Sequence[ActorStatus], readiness: Readiness
) -> PluginReport:
    state, error = plugin.status.value, plugin.error
    restarts = sum(a.restarts for a in actors)
    if plugin.status is PluginStatus.ENABLED:
        state = "running"
        for actor in actors:
            if actor.state is ActorState.FAILED:
                state = "disabled"
                error = readiness.reasons.get(actor.name) or actor.last_error
            elif actor.state in _COMING_BACK and state != "disabled":
                state = "restarting"
                error = actor.last_error
        if state == "running":
            error = next((a.last_error for a in actors if a.last_error), None)
    return PluginReport(name=plugin.name, interfaces=sorted(plugin.interfaces) or
                        [g.rsplit(".", 1)[-1] for g in plugin.groups], version=plugin.version,
                        package=plugin.package, state=state, error=error,
                        restarts=restarts)  # fmt: skip


def forget_stale_cursors(cursors: Mapping[str, int], keep: set[str]) -> list[str]:
    """The ``plugin:*`` journal cursors of durable plugins no longer enabled."""
    return [name for name in cursors if name.startswith("plugin:") and name not in keep]

