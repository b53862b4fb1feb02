"""The API's one middleware: request rules, access and metrics for every routed request.

One layer for both on purpose: each middleware layer costs a closure and an await
on every request, and ``devices/{id}/latest`` is meant to be cheap.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import msgspec
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, WebSocketException
from litestar.middleware import ASGIMiddleware

from meterhub.api._problems import PROBLEM_JSON, ApiProblem, problem_body
from meterhub.api._request_rules import UNSAFE_METHODS

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send
    from litestar.types.asgi_types import WebSocketResponseBodyEvent, WebSocketResponseStartEvent

    from meterhub.api._auth import AccessGate
    from meterhub.api._metrics import HttpMetrics
    from meterhub.api._request_rules import RequestRules

# the HTTP status a refused WebSocket handshake stands for (closed with 4000 + status)
_WS_STATUS = {4401: 401, 4403: 403, 4429: 429}


def _status_of(exc: Exception) -> int:
    if isinstance(exc, HTTPException):
        return exc.status_code
    if isinstance(exc, ApiProblem):
        return exc.status
    return 500


class ApiMiddleware(ASGIMiddleware):
    """Check the rules, admit through the gate; time HTTP requests, refused ones too."""

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    def __init__(self, rules: RequestRules, gate: AccessGate, metrics: HttpMetrics) -> None:
        self.rules = rules
        self.gate = gate
        self.metrics = metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Admit, pass the request on, and record its status and duration."""
        if scope["type"] != ScopeType.HTTP:
            try:
                self.rules.check(scope)
                self.gate.admit(scope)
            except (ApiProblem, WebSocketException) as exc:
                await _refuse_handshake(scope, send, exc)
                return
            await next_app(scope, receive, send)
            return
        method = scope["method"]
        status = 500
        began = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            self.rules.check(scope)
            self.gate.admit(scope)
            if scope["method"] in UNSAFE_METHODS:
                self.rules.check_body_type(scope)
            await next_app(scope, receive, sending)
        except Exception as exc:
            status = _status_of(exc)
            raise
        finally:
            route = scope.get("path_template") or "unmatched"
            self.metrics.observe(method, route, status, time.perf_counter() - began)


async def _refuse_handshake(scope: Scope, send: Send, exc: ApiProblem | WebSocketException) -> None:
    """Refuse a WebSocket handshake with an HTTP status and problem, like any request.

    Servers that lack the ASGI ``websocket.http.response`` extension can only close
    the handshake: then the close code is 4000 + the status.

    Raises:
        WebSocketException: the server cannot send an HTTP response.
    """
    if isinstance(exc, ApiProblem):
        status, detail, slug, params = exc.status, exc.detail, exc.slug, exc.params
    else:
        status, detail, slug, params = _WS_STATUS.get(exc.code, 403), exc.detail, None, None
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        raise WebSocketException(detail=detail, code=4000 + status)
    problem = problem_body(status, detail, slug=slug, params=params, instance=scope["path"])
    body = msgspec.json.encode(problem)
    headers = [(b"content-type", PROBLEM_JSON.encode()),
               (b"content-length", str(len(body)).encode())]  # fmt: skip
    if status == 401:  # noqa: PLR2004
        headers.append((b"www-authenticate", b'Bearer realm="meterhub"'))
    start: WebSocketResponseStartEvent = {
        "type": "websocket.http.response.start",
        "status": status,
        "headers": headers,
    }
    await send(start)
    end: WebSocketResponseBodyEvent = {
        "type": "websocket.http.response.body",
        "body": body,
        "more_body": False,
    }
    await send(end)
