"""Domain actors that wire the adapters into the runtime."""

from meterhub.actors._heartbeat import HEARTBEAT_TOPIC, Beat, HeartbeatActor
from meterhub.actors._meter import (
    MeterActor,
    MeterMessage,
    MeterSetup,
    StatusQuery,
    raw_topic,
    reading_topic,
    status_topic,
    to_reading,
)
from meterhub.actors._meter_status import MeterState, MeterStatus
from meterhub.actors._reading_log import ReadingLogger

__all__ = [
    "HEARTBEAT_TOPIC",
    "Beat",
    "HeartbeatActor",
    "MeterActor",
    "MeterMessage",
    "MeterSetup",
    "MeterState",
    "MeterStatus",
    "ReadingLogger",
    "StatusQuery",
    "raw_topic",
    "reading_topic",
    "status_topic",
    "to_reading",
]
