"""Domain actors that wire the adapters into the runtime."""

from meterhub.actors._alert_rules import AlertEngine, AlertRule
from meterhub.actors._consumption import ConsumptionTracker
from meterhub.actors._derived import (
    AggregatorActor,
    AlertCommand,
    AlerterActor,
    AlertQuery,
)
from meterhub.actors._heartbeat import HEARTBEAT_TOPIC, Beat, HeartbeatActor
from meterhub.actors._live_board import LiveBoard, LiveEntry
from meterhub.actors._maintenance import MaintenanceActor, Retention
from meterhub.actors._meter import (
    MeterActor,
    MeterMessage,
    MeterSetup,
    StatusQuery,
    decoded_topic,
    raw_topic,
    reading_topic,
    status_topic,
    to_reading,
)
from meterhub.actors._meter_status import MeterState, MeterStatus
from meterhub.actors._reading_log import ReadingLogger
from meterhub.actors._redecode import Redecoder
from meterhub.actors._stages import (
    DeviceDirectory,
    EnricherActor,
    ReloadDevices,
    ValidatorActor,
)
from meterhub.actors._store_writer import SINK, StoreWriter, WriterSettings
from meterhub.actors._trends import TrendTracker
from meterhub.actors._validation import DEFAULT_RANGES, RangeRule, ValidationRules, Validator

__all__ = [
    "DEFAULT_RANGES",
    "HEARTBEAT_TOPIC",
    "SINK",
    "AggregatorActor",
    "AlertCommand",
    "AlertEngine",
    "AlertQuery",
    "AlertRule",
    "AlerterActor",
    "Beat",
    "ConsumptionTracker",
    "DeviceDirectory",
    "EnricherActor",
    "HeartbeatActor",
    "LiveBoard",
    "LiveEntry",
    "MaintenanceActor",
    "MeterActor",
    "MeterMessage",
    "MeterSetup",
    "MeterState",
    "MeterStatus",
    "RangeRule",
    "ReadingLogger",
    "Redecoder",
    "ReloadDevices",
    "Retention",
    "StatusQuery",
    "StoreWriter",
    "TrendTracker",
    "ValidationRules",
    "Validator",
    "ValidatorActor",
    "WriterSettings",
    "decoded_topic",
    "raw_topic",
    "reading_topic",
    "status_topic",
    "to_reading",
]
