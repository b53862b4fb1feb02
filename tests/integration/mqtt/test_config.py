"""Broker URLs and the config built from ``[mqtt]`` (pure, no broker)."""

from __future__ import annotations

import re

import pytest

from meterhub.adapters.mqtt import Will, broker_config, parse_broker_url, render_acl
from meterhub.platform import Secret
from meterhub.settings import MqttSettings


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker.lan", ("broker.lan", 1883, False)),
        ("mqtts://broker.lan", ("broker.lan", 8883, True)),
        ("mqtt://10.0.0.2:1884/", ("10.0.0.2", 1884, False)),
        ("mqtts://[::1]:8884", ("::1", 8884, True)),
    ],
)
def test_broker_urls(url: str, expected: tuple[str, int, bool]) -> None:
    assert parse_broker_url(url) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://broker", "expected mqtt:// or mqtts://, got http://"),
        ("broker:1883", "expected mqtt:// or mqtts://"),
        ("mqtt://", "no host"),
        ("mqtt://broker:99999", "the port is not a number from 0 to 65535"),
        ("mqtt://broker:x", "the port is not a number"),
        ("mqtt://broker:0", "port 0"),
        ("mqtt://broker/site", "no path"),
        ("mqtt://user:pw@broker", "[mqtt] username/password"),
    ],
)
def test_bad_broker_urls_say_what_is_wrong(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=r"broker URL .*") as caught:
        parse_broker_url(url)
    assert reason in str(caught.value)
    if "@" in url:
        assert "pw" not in str(caught.value)
        assert "'mqtt://***@broker'" in str(caught.value)
    else:
        assert repr(url) in str(caught.value)


def test_broker_config_from_settings_keeps_the_session_and_hides_the_password() -> None:
    settings = MqttSettings(url="mqtts://broker.lan", username="site", password=Secret("pw-1"),
                            ca_file="/etc/ca.pem", receive_maximum=64, session_expiry_s=60)  # fmt: skip
    will = Will("iot/site/status", b"offline")
    config = broker_config(settings, client_id="meterhub-site", will=will)
    assert (config.host, config.port, config.tls, config.url) == (
        "broker.lan", 8883, True, "mqtts://broker.lan:8883")  # fmt: skip
    assert (config.password, config.receive_maximum, config.session_expiry_s) == ("pw-1", 64, 60)
    assert (config.clean_start, config.will, config.client_id) == (False, will, "meterhub-site")
    assert "pw-1" not in repr(config)


def test_the_acl_refuses_wildcards_in_its_names() -> None:
    with pytest.raises(ValueError, match="topic prefix 'iot/#'"):
        render_acl(prefix="iot/#")
    with pytest.raises(ValueError, match=re.escape("site user 'site/+'")):
        render_acl(site_user="site/+")
