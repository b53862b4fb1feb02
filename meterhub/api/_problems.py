"""Every error as RFC 9457 problem details (``application/problem+json``).

Handlers raise :class:`ApiProblem` (or Litestar's HTTP exceptions); the exception
handlers here turn anything, including an unexpected crash, into one JSON shape that
names the offending parameter and never carries a traceback.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from meterhub.adapters.stores import StoreError, StoreUnavailableError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from litestar.types import ExceptionHandlersMap

_log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "urn:meterhub:problem:"
# Python names of query parameters that the wire spells differently
_WIRE_NAMES = {"format_": "format", "alert_state": "state"}
_SLUGS = {
    400: "invalid-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "body-too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
    500: "internal-error",
    503: "unavailable",
}


class InvalidParam(msgspec.Struct, frozen=True, kw_only=True):
    """One offending field or parameter."""

    name: str
    location: str = msgspec.field(name="in")
    """``query``, ``path``, ``body`` or ``header``."""
    reason: str


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """RFC 9457 problem details, with meterhub's extension members."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    invalid_params: list[InvalidParam] = msgspec.field(default_factory=list)
    failed: list[str] = msgspec.field(default_factory=list)
    """Components that gave up (``/ready``)."""
    reasons: dict[str, str] = msgspec.field(default_factory=dict)


class ApiProblem(Exception):  # noqa: N818 (it is the response, not a failure of ours)
    """Raise to answer with a problem; ``param`` names the offending input."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        param: tuple[str, str] | None = None,
        slug: str | None = None,
        headers: Mapping[str, str] | None = None,
        failed: list[str] | None = None,
        reasons: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or _SLUGS.get(status, "error")
        self.params = (
            [InvalidParam(name=param[1], location=param[0], reason=detail)] if param else []
        )
        self.headers = dict(headers or {})
        self.failed = failed or []
        self.reasons = reasons or {}


def bad_param(location: str, name: str, reason: str) -> ApiProblem:
    """A 400 naming the parameter."""
    return ApiProblem(400, f"{name}: {reason}", param=(location, name), slug="invalid-parameter")


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    instance: str | None = None,
    params: list[InvalidParam] | None = None,
    headers: Mapping[str, str] | None = None,
    failed: list[str] | None = None,
    reasons: dict[str, str] | None = None,
) -> Response[Problem]:
    """The response for one problem."""
    body = problem_body(status, detail, slug=slug, instance=instance, params=params,
                        failed=failed, reasons=reasons)  # fmt: skip
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_body(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    instance: str | None = None,
    params: list[InvalidParam] | None = None,
    failed: list[str] | None = None,
    reasons: dict[str, str] | None = None,
) -> Problem:
    """The body of one problem."""
    return Problem(
        type=TYPE_BASE + (slug or _SLUGS.get(status, "error")),
        title=_title(status),
        status=status,
        detail=detail,
        instance=instance,
        invalid_params=params or [],
        failed=failed or [],
        reasons=reasons or {},
    )


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _validation_params(extra: object) -> list[InvalidParam]:
    items: list[Any] = extra if isinstance(extra, list) else [extra] if extra else []
    return [
        InvalidParam(
            name=_WIRE_NAMES.get(str(item.get("key")), str(item.get("key") or "body")),
            location=str(getattr(item.get("source"), "value", item.get("source")) or "body"),
            reason=_reason(item),
        )
        for item in items
        if isinstance(item, dict)
    ]


def _reason(item: dict[str, Any]) -> str:
    message = str(item.get("message") or "invalid")
    # Litestar echoes the KeyError of a body that is not there: say what it means
    if item.get("key") == "data" and message == "'data'":
        return "the request body is empty; expected a JSON object"
    return message


def _on_problem(request: Request[Any, Any, Any], exc: ApiProblem) -> Response[Problem]:
    return problem_response(
        exc.status, exc.detail, slug=exc.slug, instance=request.url.path, params=exc.params,
        headers=exc.headers, failed=exc.failed, reasons=exc.reasons,
    )  # fmt: skip


def _on_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    status = exc.status_code
    params = _validation_params(exc.extra) if isinstance(exc, ValidationException) else []
    detail = str(exc.detail) if exc.detail else _title(status)
    if params:
        detail = "; ".join(f"{p.name}: {p.reason}" for p in params)
    if status >= 500:  # noqa: PLR2004
        _log.error("%s %s failed: %s", request.method, request.url.path, exc.detail, exc_info=exc)
        detail = "the server failed; its log has the details"
    headers = dict(exc.headers or {})
    slug = "invalid-parameter" if params else None
    return problem_response(status, detail, slug=slug, instance=request.url.path,
                            params=params, headers=headers)  # fmt: skip


def _on_store(request: Request[Any, Any, Any], exc: StoreError) -> Response[Problem]:
    if isinstance(exc, StoreUnavailableError):
        _log.warning("store unavailable for %s: %s", request.url.path, exc)
        return problem_response(503, "the store is unavailable; retry later",
                                slug="store-unavailable", instance=request.url.path,
                                headers={"Retry-After": "5"})  # fmt: skip
    return problem_response(400, str(exc), instance=request.url.path)


def _on_crash(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    _log.error("%s %s crashed", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "the server failed; its log has the details",
                            instance=request.url.path)  # fmt: skip


def _on_recursion(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Problem]:
    # msgspec refuses JSON nested deeper than its limit with RecursionError: the
    # client's input, not our failure (any other RecursionError is)
    if "deserializing" not in str(exc):
        return _on_crash(request, exc)
    return problem_response(400, "the body nests too deeply to decode (arrays or objects "
                            "inside each other more than a few hundred levels)",
                            params=[InvalidParam(name="body", location="body",
                                                 reason="nested too deeply")],
                            slug="invalid-parameter", instance=request.url.path)  # fmt: skip


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ApiProblem: _on_problem,
    RecursionError: _on_recursion,
    HTTPException: _on_http,
    StoreError: _on_store,
    Exception: _on_crash,
}


def problem_specs(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI descriptions of the problems a route may answer with."""
    return {
        status: ResponseSpec(
            data_container=Problem, description=_title(status), media_type=PROBLEM_JSON
        )
        for status in statuses
    }


__all__ = ["PROBLEM_JSON", "ApiProblem", "Problem", "bad_param", "problem_specs"]
