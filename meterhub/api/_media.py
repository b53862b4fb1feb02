"""Refuse a request body that is not JSON (415), before Litestar decodes it.

Litestar decodes a handler's ``data`` as JSON whatever ``Content-Type`` says, so a
form post would fail as "malformed JSON" (400) and a JSON body labelled ``text/plain``
would pass. The OpenAPI document promises 415 (see ``_docs.py``); this keeps it.
"""

from __future__ import annotations

from typing import Any

from litestar import Request  # noqa: TC002 (Litestar resolves the hook's signature)

from meterhub.api._problems import ApiProblem

_BODY_PARAM = "data"


def _is_json(media_type: str) -> bool:
    # RFC 6839 §3.1: a +json suffix is JSON too
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def require_json(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook: 415 for a handler that takes a body and gets no JSON.

    Raises:
        ApiProblem: 415 naming the ``Content-Type`` sent.
    """
    if _BODY_PARAM not in request.route_handler.parsed_fn_signature.parameters:
        return
    sent = request.headers.get("content-type", "")
    media_type = sent.partition(";")[0].strip().lower()
    if not _is_json(media_type):
        detail = f"the body must be application/json, not {sent or 'no Content-Type'}"
        raise ApiProblem(415, detail, param=("header", "Content-Type"),
                         slug="unsupported-media-type")  # fmt: skip
