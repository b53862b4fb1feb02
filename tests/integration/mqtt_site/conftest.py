from tests.mqtt import mosquitto  # noqa: F401 - fixture
