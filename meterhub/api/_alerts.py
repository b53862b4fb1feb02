"""``/api/v1/alerts``: list, inspect, acknowledge and resolve alerts."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Router, get, post
from litestar.params import FromPath, FromQuery, QueryParameter

from meterhub.adapters.stores import AlertRow, AlertState, Severity  # noqa: TC001 (Litestar)
from meterhub.api._auth import access
from meterhub.api._deps import View  # noqa: TC001 (Litestar resolves it at runtime)
from meterhub.api._problems import ApiProblem, problem_specs
from meterhub.api._schemas import AlertActionOut, AlertsOut
from meterhub.platform import MailboxClosedError

_TAGS = ["alerts"]
_DONE: dict[str, Literal["acknowledged", "resolved"]] = {
    "acknowledge": "acknowledged", "resolve": "resolved"}  # fmt: skip


@get("/alerts", opt=access("viewer"), summary="List alerts", tags=_TAGS)
async def list_alerts(
    view: View,
    alert_state: Annotated[AlertState | None, QueryParameter(name="state")] = None,
    severity: FromQuery[Severity | None] = None,
    meter: Annotated[str | None, QueryParameter(max_length=64)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
) -> AlertsOut:
    """Alerts matching every given filter, newest first."""
    rows = await view.store.list_alerts(
        state=alert_state, severity=severity, meter=meter, limit=limit
    )
    return AlertsOut(items=rows)


@get("/alerts/{alert_id:str}", opt=access("viewer"), summary="Get an alert", tags=_TAGS,
     responses=problem_specs(404))  # fmt: skip
async def get_alert(view: View, alert_id: FromPath[str]) -> AlertRow:
    """One alert."""
    alert = await view.store.get_alert(alert_id)
    if alert is None:
        raise ApiProblem(404, f"no alert {alert_id!r}", param=("path", "alert_id"))
    return alert


async def _command(
    view: View, alert_id: str, action: Literal["acknowledge", "resolve"]
) -> AlertActionOut:
    try:
        changed = await view.alert_command(alert_id, action)
    except (MailboxClosedError, TimeoutError) as exc:
        # given up on, or restarting after a crash (its queue may shed the command)
        raise ApiProblem(503, "the alerter is not running (see /ready); try again later",
                         slug="not-ready") from exc  # fmt: skip
    if not changed:
        if await view.store.get_alert(alert_id) is None:
            raise ApiProblem(404, f"no alert {alert_id!r}", param=("path", "alert_id"))
        raise ApiProblem(409, f"alert {alert_id!r} cannot be {_DONE[action]} in its state",
                         param=("path", "alert_id"))  # fmt: skip
    return AlertActionOut(id=alert_id, action=action, state=_DONE[action])


@post("/alerts/{alert_id:str}/acknowledge", opt=access("operator"), status_code=200,
      summary="Acknowledge an alert", tags=_TAGS,
      responses=problem_specs(404, 409, 503))  # fmt: skip
async def acknowledge(view: View, alert_id: FromPath[str]) -> AlertActionOut:
    """Mark an open alert acknowledged; 409 if it is not open."""
    return await _command(view, alert_id, "acknowledge")


@post("/alerts/{alert_id:str}/resolve", opt=access("operator"), status_code=200,
      summary="Resolve an alert", tags=_TAGS, responses=problem_specs(404, 409, 503))  # fmt: skip
async def resolve(view: View, alert_id: FromPath[str]) -> AlertActionOut:
    """Mark an alert resolved; 409 if it already is."""
    return await _command(view, alert_id, "resolve")


def alerts_router() -> Router:
    """The alert routes."""
    return Router(path="/", route_handlers=[list_alerts, get_alert, acknowledge, resolve])
