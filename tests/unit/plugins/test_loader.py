"""The plugin loader over real entry points: statuses, refusals and their messages."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import TYPE_CHECKING, Any

import pytest

from meterhub.plugins import (
    API_VERSION,
    GROUPS,
    LoadedPlugin,
    PluginStatus,
    discover,
    load_plugins,
)
from tests.unit.plugins import sample_plugins
from tests.unit.plugins.sample_plugins import LimitSettings, RouteSettings

if TYPE_CHECKING:
    from meterhub.plugins import Discovered

MODULE = sample_plugins.MODULE


def point(name: str, interface: str, target: str) -> EntryPoint:
    """An entry point of ``interface`` (``processor``...) to ``target`` in sample_plugins."""
    value = target if ":" in target else f"{MODULE}:{target}"
    return EntryPoint(name=name, value=value, group=GROUPS[interface][0])


def found(*points: EntryPoint) -> dict[str, Discovered]:
    return discover(entry_points=lambda group: [p for p in points if p.group == group])


def load_one(target: str, table: dict[str, Any] | None, interface: str = "processor",
             name: str = "demo") -> LoadedPlugin:  # fmt: skip
    config = {} if table is None else {name: table}
    (plugin,) = load_plugins(config, found(point(name, interface, target)))
    return plugin


def refusal(target: str, table: dict[str, Any] | None = None, interface: str = "processor",
            name: str = "demo") -> str:  # fmt: skip
    plugin = load_one(target, table, interface, name)
    assert plugin.status is PluginStatus.REFUSED
    assert plugin.error is not None
    return plugin.error


# -- discovery and status ------------------------------------------------------------------


def test_discover_groups_entry_points_by_name_in_name_order() -> None:
    discovered = found(point("zeta", "processor", "PlainProcessor"),
                       point("alpha", "input", "PayloadSamples"),
                       point("alpha", "routes", "EchoRoutes"))  # fmt: skip
    assert list(discovered) == ["alpha", "zeta"]
    assert sorted(discovered["alpha"].points) == ["input", "routes"]
    assert discovered["alpha"].points["routes"].value == f"{MODULE}:EchoRoutes"
    assert discovered["alpha"].package is None  # not installed by a distribution


def test_an_installed_plugin_without_a_table_is_available_and_not_configured() -> None:
    plugin = load_one("GoodProcessor", None)
    assert plugin.status is PluginStatus.AVAILABLE
    assert plugin.error is None
    assert plugin.interfaces == {"processor": sample_plugins.GoodProcessor}
    assert plugin.version == "1.2"
    assert plugin.groups == ("meterhub.processors",)
    assert plugin.settings == {}


def test_a_table_enables_the_plugin_with_its_decoded_settings() -> None:
    plugin = load_one("GoodProcessor", {"limit": 5000, "window_s": 30})
    assert plugin.status is PluginStatus.ENABLED
    assert plugin.error is None
    assert plugin.settings == {"processor": LimitSettings(limit=5000.0, window_s=30)}


def test_enabled_true_is_not_a_setting() -> None:
    plugin = load_one("GoodProcessor", {"enabled": True, "limit": 1})
    assert plugin.status is PluginStatus.ENABLED
    assert plugin.settings["processor"] == LimitSettings(limit=1.0)


def test_enabled_false_turns_the_plugin_off_without_checking_its_settings() -> None:
    # the rest of the table would be refused: "off" must not need valid settings
    plugin = load_one("GoodProcessor", {"enabled": False, "limit": "lots", "colour": "red"})
    assert plugin.status is PluginStatus.OFF
    assert plugin.error is None
    assert plugin.settings == {}


def test_a_plugin_without_settings_type_takes_an_empty_table() -> None:
    plugin = load_one("PlainProcessor", {})
    assert plugin.status is PluginStatus.ENABLED
    assert plugin.settings == {"processor": None}


def test_an_input_plugin_loads_from_its_own_group() -> None:
    plugin = load_one("PayloadSamples", {}, interface="input")
    assert plugin.status is PluginStatus.ENABLED
    assert plugin.interfaces == {"input": sample_plugins.PayloadSamples}
    assert plugin.groups == ("meterhub.inputs",)


def test_a_route_plugin_loads_from_its_own_group() -> None:
    plugin = load_one("EchoRoutes", {"limit": 2}, interface="routes")
    assert plugin.status is PluginStatus.ENABLED
    assert plugin.interfaces == {"routes": sample_plugins.EchoRoutes}
    assert plugin.settings == {"routes": RouteSettings(limit=2.0)}


# -- refused: the plugin itself ------------------------------------------------------------


def test_a_plugin_for_another_api_version_is_refused_naming_both_versions() -> None:
    assert API_VERSION != 2  # else this test proves nothing
    error = refusal("FutureProcessor", {})
    assert f"{MODULE}:FutureProcessor" in error
    assert "plugin API 2" in error
    assert f"implements plugin API {API_VERSION}" in error


def test_an_unconfigured_plugin_for_another_api_version_is_refused_too() -> None:
    error = refusal("FutureProcessor", None)
    assert "plugin API 2" in error


def test_a_plugin_that_declares_no_api_version_is_refused() -> None:
    error = refusal("UndeclaredProcessor", {})
    assert error.startswith(f"{MODULE}:UndeclaredProcessor declares no api_version")
    assert f"plugin API {API_VERSION}" in error


def test_a_class_that_is_not_a_subclass_of_the_interface_is_refused() -> None:
    error = refusal("NotAPlugin", {})
    assert error == (f"{MODULE}:NotAPlugin (meterhub.processors) is not a subclass of "
                     "meterhub.plugins.ProcessorPlugin")  # fmt: skip


def test_a_class_of_the_wrong_interface_is_refused() -> None:
    # an input plugin registered as a processor
    error = refusal("PayloadSamples", {})
    assert "is not a subclass of meterhub.plugins.ProcessorPlugin" in error


def test_a_plugin_whose_module_does_not_import_is_refused_naming_the_entry_point() -> None:
    value = "tests.unit.plugins.no_such_module:Thing"
    error = refusal(value, {})
    assert error.startswith(f"cannot import {value} (meterhub.processors): ModuleNotFoundError")
    assert "no_such_module" in error


def test_a_missing_attribute_in_a_module_that_imports_is_refused() -> None:
    error = refusal("NoSuchClass", {})
    assert error.startswith(f"cannot import {MODULE}:NoSuchClass (meterhub.processors): ")
    assert "AttributeError" in error


def test_a_name_that_is_not_lower_case_is_refused_before_anything_imports() -> None:
    plugin = load_one("GoodProcessor", {"limit": 1}, name="Demo")
    assert plugin.status is PluginStatus.REFUSED
    assert plugin.error == "the name 'Demo' is not lower-case letters, digits, '-' or '_'"
    assert plugin.interfaces == {}


@pytest.mark.parametrize("name", ["my-plugin", "my_plugin2", "x"])
def test_lower_case_names_with_digits_dashes_and_underscores_load(name: str) -> None:
    assert load_one("GoodProcessor", {"limit": 1}, name=name).status is PluginStatus.ENABLED


@pytest.mark.parametrize("name", ["2fast", "with space", "a" * 41, "dots.in.it"])
def test_other_names_are_refused(name: str) -> None:
    assert load_one("GoodProcessor", {"limit": 1}, name=name).status is PluginStatus.REFUSED


def test_one_refused_plugin_does_not_stop_the_others() -> None:
    discovered = found(point("bad", "processor", "FutureProcessor"),
                       point("good", "processor", "GoodProcessor"))  # fmt: skip
    bad, good = load_plugins({"bad": {}, "good": {"limit": 3}}, discovered)
    assert (bad.name, bad.status) == ("bad", PluginStatus.REFUSED)
    assert (good.name, good.status) == ("good", PluginStatus.ENABLED)


# -- refused: its settings -----------------------------------------------------------------


def test_a_setting_of_the_wrong_type_is_refused_naming_its_key() -> None:
    error = refusal("GoodProcessor", {"limit": 1, "window_s": "a minute"})
    assert error == "plugins.demo.window_s: Expected `int`, got `str`"


def test_an_unknown_key_is_refused_naming_the_table_and_the_key() -> None:
    error = refusal("GoodProcessor", {"limit": 1, "colour": "red"})
    assert error.startswith("plugins.demo")
    assert "unknown field `colour`" in error


def test_a_missing_required_key_is_refused_naming_the_table_and_the_key() -> None:
    error = refusal("GoodProcessor", {"window_s": 10})
    assert error.startswith("plugins.demo")
    assert "missing required field `limit`" in error


@pytest.mark.parametrize(("table", "key"), [({"limit": 1, "colour": "red"}, "colour"),
                                            ({"window_s": 10}, "limit")])  # fmt: skip
def test_unknown_and_missing_keys_are_named_as_their_dotted_path(table: dict[str, Any],
                                                                 key: str) -> None:  # fmt: skip
    assert refusal("GoodProcessor", table).startswith(f"plugins.demo.{key}:")


def test_the_plugins_own_check_is_prefixed_with_its_table() -> None:
    error = refusal("GoodProcessor", {"limit": -3})
    assert error == "plugins.demo.limit: must be above 0, got -3"


def test_settings_for_a_plugin_that_takes_none_are_refused() -> None:
    error = refusal("PlainProcessor", {"colour": "red", "size": 3})
    assert error == "plugins.demo: the plugin takes no settings, got ['colour', 'size']"


def test_a_configured_name_that_is_not_installed_is_refused_naming_the_installed_ones() -> None:
    discovered = found(point("good", "processor", "GoodProcessor"),
                       point("inlet", "input", "PayloadSamples"))  # fmt: skip
    plugins = load_plugins({"ghost": {"limit": 1}}, discovered)
    assert [(p.name, p.status) for p in plugins] == [
        ("good", PluginStatus.AVAILABLE), ("inlet", PluginStatus.AVAILABLE),
        ("ghost", PluginStatus.REFUSED)]  # fmt: skip
    assert plugins[-1].error == "no installed plugin is named 'ghost' (installed: good, inlet)"


def test_a_configured_name_with_nothing_installed_says_none() -> None:
    (ghost,) = load_plugins({"ghost": {}}, found())
    assert ghost.error == "no installed plugin is named 'ghost' (installed: none)"


# -- several interfaces, and instances -----------------------------------------------------


def test_one_name_in_two_groups_is_one_plugin_with_both_interfaces() -> None:
    discovered = found(point("demo", "processor", "GoodProcessor"),
                       point("demo", "routes", "EchoRoutes"))  # fmt: skip
    (plugin,) = load_plugins({"demo": {"limit": 7, "metric": "power_export_w"}}, discovered)
    assert plugin.status is PluginStatus.ENABLED
    assert plugin.interfaces == {"processor": sample_plugins.GoodProcessor,
                                 "routes": sample_plugins.EchoRoutes}  # fmt: skip
    assert set(plugin.groups) == {"meterhub.processors", "meterhub.routes"}
    # one table configures both, each decoded into its own type
    assert plugin.settings == {"processor": LimitSettings(limit=7.0, metric="power_export_w"),
                               "routes": RouteSettings(limit=7.0, metric="power_export_w")}  # fmt: skip


def test_one_bad_interface_refuses_the_whole_plugin() -> None:
    discovered = found(point("demo", "processor", "GoodProcessor"),
                       point("demo", "routes", "FutureProcessor"))  # fmt: skip
    (plugin,) = load_plugins({"demo": {"limit": 7}}, discovered)
    assert plugin.status is PluginStatus.REFUSED
    assert plugin.error is not None
    assert "FutureProcessor (meterhub.routes) is not a subclass" in plugin.error


def test_create_gives_a_fresh_instance_of_the_interface_with_its_settings() -> None:
    discovered = found(point("demo", "processor", "GoodProcessor"),
                       point("demo", "routes", "EchoRoutes"))  # fmt: skip
    (plugin,) = load_plugins({"demo": {"limit": 7}}, discovered)
    processor = plugin.create("processor")
    assert isinstance(processor, sample_plugins.GoodProcessor)
    assert processor.settings == LimitSettings(limit=7.0)
    routes = plugin.create("routes")
    assert isinstance(routes, sample_plugins.EchoRoutes)
    assert routes.settings == RouteSettings(limit=7.0)
    assert plugin.create("processor") is not processor


@pytest.mark.parametrize("value", ["no", 0, 1, "false"])
def test_enabled_that_is_not_a_boolean_is_refused(value: object) -> None:
    assert refusal("GoodProcessor", {"enabled": value, "limit": 1}) == (
        f"plugins.demo.enabled: expected true or false, got {value!r}")
