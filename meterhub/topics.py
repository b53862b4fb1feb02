"""Every topic of the site's bus, and the one message type each carries.

This table is the map of who talks to whom: publishers and subscribers name these
objects, the live feed's kinds are the ``live`` ones, and a plugin subscribes to the
same entries. Each topic has one level per meter (``readings/<meter_id>``), so the
names carry over unchanged to an MQTT bridge.

| topic | message | published by | read by |
|---|---|---|---|
| ``readings/<meter>`` | ``Reading`` (validated, enriched) | inputs, through the pipeline | store writer, aggregator, alerter, reading log, live feed |
| ``skipped/<meter>`` | ``Skipped`` (a journal record with no reading) | inputs | store writer (its cursor) |
| ``status/<meter>`` | ``MeterStatus`` (on each change of state) | inputs | alerter, live feed |
| ``trends/<meter>`` | ``Trend`` | aggregator | store writer, live feed |
| ``consumption/<meter>`` | ``Consumption`` | aggregator | store writer, live feed |
| ``alerts/<meter>`` | ``Alert`` (each change) | alerter | store writer, live feed |
| ``devices/<device>`` | ``DeviceNews`` (one per journal record of an MQTT device) | inputs | store writer, commander, live feed |
| ``commands/<device>`` | ``CommandUpdate`` (each change of a command) | commander, store writer | live feed |
| ``plugins/<key>`` | ``PluginEvent`` (what a processor plugin pushes live) | processor plugins | live feed |
"""  # noqa: E501 (a table)

from __future__ import annotations

from typing import Any

from meterhub.model import (
    Alert,
    CommandUpdate,
    Consumption,
    DeviceNews,
    MeterStatus,
    PluginEvent,
    Reading,
    Skipped,
    Trend,
)
from meterhub.platform import Topic

READINGS: Topic[Reading] = Topic("reading", "readings", Reading)
SKIPPED: Topic[Skipped] = Topic("skipped", "skipped", Skipped)
METER_STATUS: Topic[MeterStatus] = Topic("status", "status", MeterStatus)
TRENDS: Topic[Trend] = Topic("trend", "trends", Trend)
CONSUMPTION: Topic[Consumption] = Topic("consumption", "consumption", Consumption)
ALERTS: Topic[Alert] = Topic("alert", "alerts", Alert)
DEVICE_NEWS: Topic[DeviceNews] = Topic("device", "devices", DeviceNews)
COMMANDS: Topic[CommandUpdate] = Topic("command", "commands", CommandUpdate)
PLUGIN_EVENTS: Topic[PluginEvent] = Topic("plugin", "plugins", PluginEvent)

TOPICS: tuple[Topic[Any], ...] = (READINGS, SKIPPED, METER_STATUS, TRENDS, CONSUMPTION, ALERTS,
                                  DEVICE_NEWS, COMMANDS, PLUGIN_EVENTS)  # fmt: skip
"""Every topic of the bus."""

LIVE: tuple[Topic[Any], ...] = (READINGS, TRENDS, CONSUMPTION, ALERTS, METER_STATUS, DEVICE_NEWS,
                                COMMANDS, PLUGIN_EVENTS)  # fmt: skip
"""The topics a live-feed client may subscribe to, by their ``kind``."""

BY_KIND: dict[str, Topic[Any]] = {topic.kind: topic for topic in TOPICS}

__all__ = [
    "ALERTS",
    "BY_KIND",
    "COMMANDS",
    "CONSUMPTION",
    "DEVICE_NEWS",
    "LIVE",
    "METER_STATUS",
    "PLUGIN_EVENTS",
    "READINGS",
    "SKIPPED",
    "TOPICS",
    "TRENDS",
]
