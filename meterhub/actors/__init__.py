"""Domain actors that wire the adapters into the runtime, and the one pipeline."""

from meterhub.actors._alert_rules import AlertEngine, AlertRule, PluginFinding
from meterhub.actors._commands import COMMANDER, Commander, Queued
from meterhub.actors._consumption import ConsumptionTracker
from meterhub.actors._counters import Counters
from meterhub.actors._derived import (
    TARIFF_TOTALS,
    AggregatorActor,
    AlertCommand,
    AlerterActor,
    AlertQuery,
)
from meterhub.actors._device_events import APPROVAL, DeviceEventWriter
from meterhub.actors._device_pipeline import IOT_FORMAT, DevicePipeline, DeviceRules
from meterhub.actors._devices import DeviceDirectory
from meterhub.actors._health import MeterHealth
from meterhub.actors._heartbeat import Beat, HeartbeatActor
from meterhub.actors._input import (
    RECONNECT,
    InputActor,
    InputMessage,
    InputSetup,
    JournalAppender,
    StatusQuery,
)
from meterhub.actors._live_board import LiveBoard, LiveEntry
from meterhub.actors._maintenance import MaintenanceActor, Retention
from meterhub.actors._metrics import JournalView, OperatorMetrics
from meterhub.actors._pipeline import (
    DeviceCodec,
    Duplicate,
    Outcome,
    PayloadDecoder,
    Pipeline,
    UnknownDevice,
    to_reading,
)
from meterhub.actors._plugin_data import StoreData, StoreState
from meterhub.actors._plugin_host import (
    DurableSource,
    HostContext,
    ProcessorHost,
    cursor_name,
    processor_actor_name,
)
from meterhub.actors._plugin_input import PluginDecoder, PluginInput, plugin_format
from meterhub.actors._reading_log import ReadingLogger
from meterhub.actors._store_writer import SINK, JournalReader, StoreWriter, WriterSettings
from meterhub.actors._trends import TrendTracker
from meterhub.actors._validation import DEFAULT_RANGES, RangeRule, ValidationRules, Validator

__all__ = [
    "APPROVAL",
    "COMMANDER",
    "DEFAULT_RANGES",
    "IOT_FORMAT",
    "RECONNECT",
    "SINK",
    "TARIFF_TOTALS",
    "AggregatorActor",
    "AlertCommand",
    "AlertEngine",
    "AlertQuery",
    "AlertRule",
    "AlerterActor",
    "Beat",
    "Commander",
    "ConsumptionTracker",
    "Counters",
    "DeviceCodec",
    "DeviceDirectory",
    "DeviceEventWriter",
    "DevicePipeline",
    "DeviceRules",
    "Duplicate",
    "DurableSource",
    "HeartbeatActor",
    "HostContext",
    "InputActor",
    "InputMessage",
    "InputSetup",
    "JournalAppender",
    "JournalReader",
    "JournalView",
    "LiveBoard",
    "LiveEntry",
    "MaintenanceActor",
    "MeterHealth",
    "OperatorMetrics",
    "Outcome",
    "PayloadDecoder",
    "Pipeline",
    "PluginDecoder",
    "PluginFinding",
    "PluginInput",
    "ProcessorHost",
    "Queued",
    "RangeRule",
    "ReadingLogger",
    "Retention",
    "StatusQuery",
    "StoreData",
    "StoreState",
    "StoreWriter",
    "TrendTracker",
    "UnknownDevice",
    "ValidationRules",
    "Validator",
    "WriterSettings",
    "cursor_name",
    "plugin_format",
    "processor_actor_name",
    "to_reading",
]
