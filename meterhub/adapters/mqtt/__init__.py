"""The site's MQTT link: one broker session with manual acks, and the broker's ACL."""

from meterhub.adapters.mqtt._acl import (
    check_device_id,
    render_acl,
    render_password_template,
)
from meterhub.adapters.mqtt._config import (
    BrokerConfig,
    MqttSettingsLike,
    Will,
    broker_config,
    parse_broker_url,
)
from meterhub.adapters.mqtt._session import Incoming, MqttLinkError, MqttSession, open_session

__all__ = [
    "BrokerConfig",
    "Incoming",
    "MqttLinkError",
    "MqttSession",
    "MqttSettingsLike",
    "Will",
    "broker_config",
    "check_device_id",
    "open_session",
    "parse_broker_url",
    "render_acl",
    "render_password_template",
]
