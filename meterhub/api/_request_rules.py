"""What a request must look like before its route runs: defences against cross-site use.

A browser lets any web page send a "simple" request (a form or a ``text/plain`` body,
no CORS preflight) to any address, loopback included, and DNS rebinding points a
page's own host name at 127.0.0.1. So writes must declare a JSON body (a simple request
cannot), unsafe requests and WebSocket handshakes from a page whose ``Origin`` the CORS
settings do not allow are refused, and while the API needs no key only loopback host
names (or the configured ones) are answered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from litestar.enums import ScopeType

from meterhub.api._problems import ApiProblem
from meterhub.settings import is_loopback

if TYPE_CHECKING:
    from collections.abc import Iterable

    from litestar.types import Scope

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _host_name(host: str) -> str:
    """``HOST[:PORT]`` without the port, IPv6 without brackets, lower case."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0].lower()
    return host.rsplit(":", 1)[0].lower() if host.count(":") == 1 else host.lower()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))  # fmt: skip


class RequestRules:
    """Check ``Host``, ``Origin`` and ``Content-Type`` of a routed request.

    Args:
        check_host: refuse a ``Host`` that is neither loopback nor in ``allowed_hosts``
            (on while the API is open, and whenever ``allowed_hosts`` is set).
        allowed_hosts: host names answered besides loopback ones.
        cors_origins: origins whose pages may write (``*``: any).
    """

    def __init__(
        self, *, check_host: bool, allowed_hosts: Iterable[str], cors_origins: Iterable[str]
    ) -> None:
        self.check_host = check_host
        self.allowed_hosts = frozenset(h.lower().rstrip(".") for h in allowed_hosts)
        self.cors_origins = frozenset(o.rstrip("/") for o in cors_origins)

    def check(self, scope: Scope) -> None:
        """Refuse a foreign ``Host``, or a write or WebSocket from a foreign ``Origin``.

        Raises:
            ApiProblem: 403 naming the header.
        """
        host = _header(scope, b"host") or ""
        if self.check_host and not self._host_allowed(host):
            raise ApiProblem(403, f"Host {host!r} is not a loopback name or address nor in "
                             "[api] allowed_hosts; refused (DNS rebinding)",
                             param=("header", "Host"), slug="host-not-allowed")  # fmt: skip
        websocket = scope["type"] == ScopeType.WEBSOCKET
        if not websocket and scope.get("method") not in UNSAFE_METHODS:
            return
        origin = _header(scope, b"origin")
        if origin is not None and not self._origin_allowed(origin, host):
            what = "WebSocket connections" if websocket else "writes"
            raise ApiProblem(403, f"{what} from pages of origin {origin!r} are refused: "
                             "add it to [api] cors_origins to allow them",
                             param=("header", "Origin"), slug="origin-not-allowed")  # fmt: skip

    @staticmethod
    def check_body_type(scope: Scope) -> None:
        """Refuse a write whose body (or declared type) is not JSON.

        Raises:
            ApiProblem: 415 naming the type that was sent.
        """
        content_type = _header(scope, b"content-type")
        length = _header(scope, b"content-length")
        has_body = (length is not None and length.strip() != "0") or (
            _header(scope, b"transfer-encoding") is not None)  # fmt: skip
        if (content_type is not None or has_body) and not _is_json(content_type or ""):
            sent = f"not {content_type!r}" if content_type else "none was sent"
            raise ApiProblem(415, "request bodies must be sent as 'Content-Type: "
                             f"application/json'; {sent}",
                             param=("header", "Content-Type"))  # fmt: skip

    def _host_allowed(self, host: str) -> bool:
        name = _host_name(host).rstrip(".")
        return bool(name) and (is_loopback(name) or name in self.allowed_hosts)

    def _origin_allowed(self, origin: str, host: str) -> bool:
        if "*" in self.cors_origins or origin.rstrip("/") in self.cors_origins:
            return True
        # the API's own pages (/schema) come from the origin the request is sent to
        netloc = urlsplit(origin).netloc if origin != "null" else ""
        return bool(netloc) and netloc.lower() == host.lower()
