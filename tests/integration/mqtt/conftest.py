"""MQTT adapter tests against a real Mosquitto."""

from tests.mqtt import mosquitto  # noqa: F401 - fixture
