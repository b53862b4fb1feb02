"""How the site reaches its MQTT broker: a typed config built from ``[mqtt]``."""

from __future__ import annotations

import dataclasses
import urllib.parse
from typing import Protocol

_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclasses.dataclass(frozen=True, slots=True)
class Will:
    """The message the broker publishes for the site when it drops off unannounced."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Everything :func:`open_session` needs to connect (MQTT v5)."""

    host: str
    port: int = 1883
    client_id: str = "meterhub"
    tls: bool = False
    ca_file: str | None = None
    """CA certificates to verify the broker with; the system's when None."""
    cert_file: str | None = None
    key_file: str | None = None
    tls_insecure: bool = False
    """Skip the host name check (the chain is still verified)."""
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    session_expiry_s: int = 86_400
    receive_maximum: int = 4096
    keepalive_s: int = 30
    clean_start: bool = False
    will: Will | None = None
    timeout_s: float = 10.0
    """How long to wait for the broker's CONNACK, SUBACK or PUBACK."""

    @property
    def url(self) -> str:
        """``mqtt://host:port`` or ``mqtts://host:port``, for messages and logs."""
        scheme = "mqtts" if self.tls else "mqtt"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"


def parse_broker_url(url: str) -> tuple[str, int, bool]:
    """Split ``mqtt://host[:port]`` (1883) or ``mqtts://host[:port]`` (8883, TLS).

    Returns:
        The host, the port and whether to use TLS.

    Raises:
        ValueError: the URL is not one of those two forms; the message says what is wrong.
    """
    parts = urllib.parse.urlsplit(url)
    if "@" in parts.netloc:
        # never echo a password someone put in the URL
        url = parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()
    if parts.scheme not in _DEFAULT_PORTS:
        got = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise ValueError(f"broker URL {url!r}: expected mqtt:// or mqtts://, got {got}")
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise ValueError(f"broker URL {url!r}: expected no path, query or fragment")
    if parts.username is not None or parts.password is not None:
        # a password in a URL ends up in logs: [mqtt] has username and password keys
        raise ValueError(f"broker URL {url!r}: put the user in [mqtt] username/password")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"broker URL {url!r}: the port is not a number from 0 to 65535") from None
    if not parts.hostname:
        raise ValueError(f"broker URL {url!r}: no host")
    if port == 0:
        raise ValueError(f"broker URL {url!r}: port 0 is not a broker's port")
    return parts.hostname, port or _DEFAULT_PORTS[parts.scheme], parts.scheme == "mqtts"


class _Secret(Protocol):
    def reveal(self) -> str: ...


class MqttSettingsLike(Protocol):
    """The ``[mqtt]`` fields the adapter reads (``meterhub.settings.MqttSettings`` has them).

    A Protocol, because adapters sit below the settings in the layers and must not import
    them; the composition root passes the settings object in.
    """

    @property
    def url(self) -> str: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> _Secret | None: ...
    @property
    def ca_file(self) -> str | None: ...
    @property
    def cert_file(self) -> str | None: ...
    @property
    def key_file(self) -> str | None: ...
    @property
    def tls_insecure(self) -> bool: ...
    @property
    def session_expiry_s(self) -> int: ...
    @property
    def receive_maximum(self) -> int: ...
    @property
    def keepalive_s(self) -> int: ...


def broker_config(
    settings: MqttSettingsLike, *, client_id: str, will: Will | None = None
) -> BrokerConfig:
    """The broker config for ``[mqtt]`` (a persistent session: ``clean_start`` False).

    Raises:
        ValueError: ``settings.url`` is not a broker URL (see :func:`parse_broker_url`).
    """
    host, port, tls = parse_broker_url(settings.url)
    return BrokerConfig(
        host=host,
        port=port,
        client_id=client_id,
        tls=tls,
        ca_file=settings.ca_file,
        cert_file=settings.cert_file,
        key_file=settings.key_file,
        tls_insecure=settings.tls_insecure,
        username=settings.username,
        password=settings.password.reveal() if settings.password is not None else None,
        session_expiry_s=settings.session_expiry_s,
        receive_maximum=settings.receive_maximum,
        keepalive_s=settings.keepalive_s,
        will=will,
    )
