"""Builds the MQTT device side from ``[mqtt]`` (part of the composition root).

One input actor serves every device through one broker connection; the commander
publishes commands through its own connection; the device rules tell the pipeline how
to take payloads in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meterhub.actors import (
    COMMANDER,
    Commander,
    DeviceRules,
    InputActor,
    InputSetup,
)
from meterhub.adapters.inputs import MqttInput
from meterhub.adapters.iot import default_device_profiles
from meterhub.adapters.mqtt import BrokerConfig, parse_broker_url
from meterhub.model import Approval
from meterhub.platform import ActorSpec, ConfigError

if TYPE_CHECKING:
    from meterhub.actors import JournalAppender, LiveBoard, Pipeline
    from meterhub.adapters.stores import Store
    from meterhub.settings import MqttSettings, Settings

_APPROVALS = {"accept": Approval.ACCEPTED, "pending": Approval.PENDING,
              "reject": Approval.REJECTED}  # fmt: skip
MQTT_INPUT = "mqtt:devices"
"""The actor that runs the MQTT input."""


def device_rules(settings: Settings) -> DeviceRules | None:
    """How the pipeline takes MQTT payloads in; None without ``[mqtt] url``.

    Raises:
        ConfigError: a device profile file is unreadable or invalid.
    """
    mqtt = settings.mqtt
    if not mqtt.enabled:
        return None
    profiles = default_device_profiles()
    for index, path in enumerate(mqtt.profiles):
        try:
            profiles.add(path)
        except (OSError, ValueError) as exc:
            raise ConfigError("mqtt", f"mqtt.profiles.{index}", f"{path}: {exc}") from exc
    return DeviceRules(
        profiles=profiles,
        max_payload_bytes=mqtt.max_payload_bytes,
        unknown_devices=_APPROVALS[mqtt.unknown_devices],
        reserved=frozenset(meter.id for meter in settings.meters),
    )


def broker(settings: Settings, role: str, *, session: bool = True) -> BrokerConfig:
    """The broker as the site's ``role`` client (``ingest``, ``commands``) connects to it.

    Raises:
        ConfigError: ``[mqtt] url`` cannot be parsed.
    """
    mqtt: MqttSettings = settings.mqtt
    try:
        host, port, tls = parse_broker_url(mqtt.url)
    except ValueError as exc:
        raise ConfigError("mqtt", "mqtt.url", str(exc)) from exc
    client_id = mqtt.client_id or f"meterhub-{settings.site.name}"
    return BrokerConfig(
        host=host, port=port, client_id=f"{client_id}-{role}", tls=tls,
        ca_file=mqtt.ca_file, cert_file=mqtt.cert_file, key_file=mqtt.key_file,
        tls_insecure=mqtt.tls_insecure, username=mqtt.username,
        password=mqtt.password.reveal() if mqtt.password is not None else None,
        session_expiry_s=mqtt.session_expiry_s if session else 0,
        receive_maximum=mqtt.receive_maximum, keepalive_s=mqtt.keepalive_s,
        clean_start=not session,
    )  # fmt: skip


def mqtt_specs(
    settings: Settings,
    pipeline: Pipeline,
    store: Store,
    *,
    journal: JournalAppender,
    board: LiveBoard,
) -> list[ActorSpec[Any]]:
    """The MQTT input and the commander (none without ``[mqtt] url``)."""
    mqtt = settings.mqtt
    if not mqtt.enabled:
        return []
    source = MqttInput(broker(settings, "ingest"), mqtt.prefix)
    setup = InputSetup(input=source, pipeline=pipeline, health={}, journal=journal, board=board,
                       new_devices=(mqtt.stale_after, mqtt.offline_after))  # fmt: skip
    commands = broker(settings, "commands", session=False)
    # the commander first: it follows the devices from the input's first message on
    return [
        ActorSpec(
            COMMANDER, lambda: Commander(store, commands, mqtt.prefix), mailbox_capacity=4096
        ),
        ActorSpec(MQTT_INPUT, lambda: InputActor(setup), mailbox_capacity=256),
    ]
