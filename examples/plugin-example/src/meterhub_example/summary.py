"""A route plugin: a summary of one meter, and notes kept in the plugin's state.

Mounted under ``/api/v1/plugins/example_summary``; every handler declares its role.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import get, put
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody  # noqa: TC002 (Litestar reads them at runtime)

from meterhub.plugins import API_VERSION, RouteContext, RoutePlugin, requires

if TYPE_CHECKING:
    from collections.abc import Sequence


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    """What the summary route answers."""

    meter_id: str
    latest: dict[str, float]
    latest_ts: datetime | None
    readings_last_hour: int
    note: str | None


class Note(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An operator's note on a meter."""

    text: str


class SummaryRoutes(RoutePlugin[None]):
    """``GET /summary/{meter_id}`` (viewer) and ``PUT /notes/{meter_id}`` (operator)."""

    api_version = API_VERSION
    version = "1.0.0"

    def route_handlers(self, context: RouteContext) -> Sequence[Any]:
        """The two handlers, closed over the context."""

        @get("/summary/{meter_id:str}", opt=requires("viewer"), sync_to_thread=False)
        async def summary(meter_id: FromPath[str]) -> Summary:
            """The meter's newest values and how many readings came in the last hour."""
            latest = await context.data.latest(meter_id)
            if latest is None:
                raise NotFoundException(f"no readings of {meter_id!r}")
            now = datetime.now(UTC)
            recent = await context.data.readings(
                meter_id, start=now - timedelta(hours=1), end=now + timedelta(minutes=1)
            )
            note = await context.state.get(f"note:{meter_id}")
            return Summary(
                meter_id=meter_id,
                latest=dict(latest.values),
                latest_ts=latest.ts,
                readings_last_hour=len(recent),
                note=note.decode() if note is not None else None,
            )

        @put("/notes/{meter_id:str}", opt=requires("operator"), status_code=200)
        async def set_note(meter_id: FromPath[str], data: JSONBody[Note]) -> Note:
            """Keep a note on the meter (shown by the summary)."""
            await context.state.put(f"note:{meter_id}", data.text.encode())
            return data

        return [summary, set_note]
