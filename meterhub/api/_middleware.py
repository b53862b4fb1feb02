"""The API's one middleware: access control for every routed request, metrics for HTTP.

One layer for both on purpose: each middleware layer costs a closure and an await
on every request, and ``devices/{id}/latest`` is meant to be cheap.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware

from meterhub.api._problems import ApiProblem

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from meterhub.api._auth import AccessGate
    from meterhub.api._metrics import HttpMetrics


def _status_of(exc: Exception) -> int:
    if isinstance(exc, HTTPException):
        return exc.status_code
    if isinstance(exc, ApiProblem):
        return exc.status
    return 500


class ApiMiddleware(ASGIMiddleware):
    """Admit the request through the gate; time HTTP requests, refused ones too."""

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    def __init__(self, gate: AccessGate, metrics: HttpMetrics) -> None:
        self.gate = gate
        self.metrics = metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Admit, pass the request on, and record its status and duration."""
        if scope["type"] != ScopeType.HTTP:
            self.gate.admit(scope)
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
            self.gate.admit(scope)
            await next_app(scope, receive, sending)
        except Exception as exc:
            status = _status_of(exc)
            raise
        finally:
            route = scope.get("path_template") or "unmatched"
            self.metrics.observe(method, route, status, time.perf_counter() - began)
