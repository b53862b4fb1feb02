"""The plugin API: the only module a plugin imports (with ``meterhub.model``).

See ``docs/plugins.md`` for how to write a plugin of each kind. The built-in plugins
(``costs``, ``anomaly``) live in subpackages and are registered through meterhub's own
entry points, exactly like a third-party one.
"""

from meterhub.model import (
    Alert,
    AlertState,
    Consumption,
    MeterStatus,
    Reading,
    Severity,
    Trend,
)
from meterhub.plugins._contract import (
    ACCESS_OPT,
    API_VERSION,
    KINDS,
    DeviceInfo,
    InputBroken,
    InputFeed,
    InputPlugin,
    Kind,
    PayloadError,
    PluginError,
    PluginState,
    ProcessorContext,
    ProcessorMessage,
    ProcessorPlugin,
    Role,
    RouteContext,
    RoutePlugin,
    Sample,
    SiteData,
    requires,
)
from meterhub.plugins._loader import (
    GROUPS,
    LoadedPlugin,
    PluginReport,
    PluginStatus,
    decode_settings,
    discover,
    load_plugins,
)

__all__ = [
    "ACCESS_OPT",
    "API_VERSION",
    "GROUPS",
    "KINDS",
    "Alert",
    "AlertState",
    "Consumption",
    "DeviceInfo",
    "InputBroken",
    "InputFeed",
    "InputPlugin",
    "Kind",
    "LoadedPlugin",
    "MeterStatus",
    "PayloadError",
    "PluginError",
    "PluginReport",
    "PluginState",
    "PluginStatus",
    "ProcessorContext",
    "ProcessorMessage",
    "ProcessorPlugin",
    "Reading",
    "Role",
    "RouteContext",
    "RoutePlugin",
    "Sample",
    "Severity",
    "SiteData",
    "Trend",
    "decode_settings",
    "discover",
    "load_plugins",
    "requires",
]
