"""Who is calling, what each route needs, and how often a caller may call.

Every route handler declares its access level in ``opt["access"]`` (``public``,
``viewer``, ``operator`` or ``admin``); :func:`check_routes` refuses to build an app with a
handler that declares none. The :class:`AccessGate` identifies the caller once per
request (``Authorization: Bearer KEY``, or ``?token=KEY`` on a WebSocket), applies the
per-key rate limit and checks the level with :func:`authorize`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs

import msgspec
from litestar.enums import ScopeType
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    TooManyRequestsException,
    WebSocketException,
)
from litestar.handlers import HTTPRouteHandler
from litestar.routes import ASGIRoute, HTTPRoute, WebSocketRoute

from meterhub.api._keys import KeyStore, Role

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from litestar import Litestar
    from litestar.handlers import BaseRouteHandler
    from litestar.types import Scope

Access = Literal["public", "viewer", "operator", "admin"]
ACCESS_KEY = "access"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="meterhub"'}
_MAX_TRACKED = 100_000


def access(level: Access) -> dict[str, Any]:
    """The ``opt`` that declares a handler's access level."""
    return {ACCESS_KEY: level}


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """The caller: a key's id and role, the open API's implicit admin, or nobody."""

    key_id: str | None = None
    role: Role | None = None
    open_api: bool = False
    bad_key: bool = False
    no_keys: bool = False
    """No key exists yet (the 401 says how to create one)."""


_NOBODY = Principal()
_NO_KEYS = Principal(no_keys=True)
_BAD_KEY = Principal(bad_key=True)
_OPEN = Principal(role=Role.ADMIN, open_api=True)


def required_access(handler: BaseRouteHandler) -> Access | None:
    """The access level a handler declared, None if it declared none."""
    level = handler.opt.get(ACCESS_KEY)
    if level in ("public", "viewer", "operator", "admin"):
        return level  # type: ignore[no-any-return]
    # Litestar adds an OPTIONS handler to every path (CORS preflight): it shows no data
    if isinstance(handler, HTTPRouteHandler) and handler.http_methods == {"OPTIONS"}:
        return "public"
    return None


def route_handlers(app: Litestar) -> list[BaseRouteHandler]:
    """Every handler of every route of ``app`` (with Litestar's own OPTIONS handlers)."""
    handlers: list[BaseRouteHandler] = []
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            handlers.extend(route.route_handlers)
        elif isinstance(route, WebSocketRoute | ASGIRoute):
            handlers.append(route.route_handler)
    return handlers


def check_routes(handlers: Iterable[BaseRouteHandler]) -> None:
    """Refuse handlers that declare no access level (fail closed, at build time).

    Raises:
        TypeError: a handler declares none.
    """
    for handler in handlers:
        if required_access(handler) is None:
            raise TypeError(f"route handler {handler.handler_name!r} at {sorted(handler.paths)} "
                            "declares no access level (opt['access'])")  # fmt: skip


def authorize(needed: Access | None, principal: Principal, *, websocket: bool) -> None:
    """401 without a valid key, 403 with too small a role (or no level declared).

    Called by :class:`AccessGate` for every routed request. Not a Litestar guard:
    Litestar copies the whole route handler object for every guard call, which was
    the largest single cost of a cheap request.

    Raises:
        NotAuthorizedException: no key, or an unknown or revoked one.
        PermissionDeniedException: the key's role is not enough (or no level declared).
        WebSocketException: the same for a WebSocket (closed with 4401 or 4403).
    """
    if needed == "public":
        return
    if needed is None:
        raise PermissionDeniedException(detail="this route declares no access level")
    if principal.role is None:
        detail = "unknown or revoked API key" if principal.bad_key else (
            "an API key is required: send 'Authorization: Bearer KEY'"
            + (" or ?token=KEY" if websocket else ""))  # fmt: skip
        if principal.no_keys:
            detail += ("; no key exists yet: create one with `meterhub keys create --role "
                       'admin`, or set [api] auth = "open-on-loopback"')  # fmt: skip
        if websocket:  # closed before accepting: 4000 + the HTTP status
            raise WebSocketException(detail=detail, code=4401)
        raise NotAuthorizedException(detail=detail, headers=_CHALLENGE)
    if not principal.role.allows(needed):
        detail = f"this needs the {needed} role; the key has the {principal.role} role"
        if websocket:
            raise WebSocketException(detail=detail, code=4403)
        raise PermissionDeniedException(detail=detail)


class RateLimiter:
    """A token bucket per caller: ``per_minute`` requests, refilled evenly."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, caller: str) -> float:
        """Spend one request; 0.0 if allowed, else the seconds until one is."""
        if self.per_minute <= 0:
            return 0.0
        now, rate = self._clock(), self.per_minute / 60.0
        tokens, then = self._buckets.get(caller, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - then) * rate)
        if tokens < 1.0:
            self._buckets[caller] = (tokens, now)
            return (1.0 - tokens) / rate
        if len(self._buckets) >= _MAX_TRACKED and caller not in self._buckets:
            self._forget_idle(now, rate)
        self._buckets[caller] = (tokens - 1.0, now)
        return 0.0

    def _forget_idle(self, now: float, rate: float) -> None:
        """Drop callers whose bucket has refilled: forgetting them changes nothing."""
        full = float(self.per_minute)
        self._buckets = {c: (t, at) for c, (t, at) in self._buckets.items()
                         if t + (now - at) * rate < full}  # fmt: skip


def _token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    if scope["type"] == ScopeType.WEBSOCKET:
        tokens = parse_qs(scope["query_string"].decode("latin-1")).get("token")
        return tokens[0] if tokens else None
    return None


class AccessGate:
    """Identify the caller (``scope["user"]``), apply the rate limit, check the level.

    Run by :class:`~meterhub.api._middleware.ApiMiddleware` for every routed request.
    """

    def __init__(self, keys: KeyStore, *, open_api: bool, limiter: RateLimiter) -> None:
        self.keys = keys
        self.open_api = open_api
        self.limiter = limiter

    def identify(self, token: str | None) -> Principal:
        """The principal for a token (None: no credentials sent).

        An open API admits callers without a key; a key that is sent is always checked,
        so a revoked or made-up one gets 401 in either mode.
        """
        if token is None:
            if self.open_api:
                return _OPEN
            return _NO_KEYS if self.keys.is_empty() else _NOBODY
        key = self.keys.authenticate(token)
        return Principal(key_id=key.id, role=key.role) if key is not None else _BAD_KEY

    def admit(self, scope: Scope) -> None:
        """Identify the caller, count the request, check the caller's role.

        Public routes are not counted against the rate limit.

        Raises:
            NotAuthorizedException: no key, or an unknown or revoked one.
            PermissionDeniedException: the key's role is not enough.
            TooManyRequestsException: over the rate limit.
            WebSocketException: any of these on a WebSocket.
        """
        principal = self.identify(_token(scope))
        scope["user"] = principal
        needed = required_access(scope["route_handler"])
        websocket = scope["type"] == ScopeType.WEBSOCKET
        if needed != "public":
            client = scope.get("client")
            caller = principal.key_id or f"addr:{client[0] if client else '?'}"
            wait = self.limiter.take(caller)
            if wait > 0 and websocket:
                raise WebSocketException(detail="too many requests", code=4429)
            if wait > 0:
                raise TooManyRequestsException(
                    detail=f"more than {self.limiter.per_minute} requests per minute",
                    headers={"Retry-After": str(max(1, round(wait + 0.5)))},
                )
        authorize(needed, principal, websocket=websocket)
