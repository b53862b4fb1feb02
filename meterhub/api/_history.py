"""``/api/v1/readings``, ``/consumption`` and ``/trends``: history from the store."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Literal, NamedTuple

from litestar import Response, Router, get
from litestar.params import FromQuery, QueryParameter

from meterhub.actors import TARIFF_TOTALS
from meterhub.api._auth import access
from meterhub.api._deps import View  # noqa: TC001 (Litestar resolves it at runtime)
from meterhub.api._paging import (
    Cursor,
    aware,
    csv_bytes,
    decode_cursor,
    encode_cursor,
    fingerprint,
    names,
    time_range,
)
from meterhub.api._problems import ApiProblem, bad_param
from meterhub.api._schemas import ConsumptionOut, MeterConsumption, ReadingsPage, TrendsOut

if TYPE_CHECKING:
    from meterhub.adapters.stores import BucketRow, PageKey, ReadingRow

Bucket = Literal["1m", "15m", "1h", "1d"]
Agg = Literal["avg", "min", "max", "sum", "last"]
BUCKETS = {"1m": timedelta(minutes=1), "15m": timedelta(minutes=15),
           "1h": timedelta(hours=1), "1d": timedelta(days=1)}  # fmt: skip
MAX_BUCKETS = 100_000
MAX_PERIODS = 10_000
_PERIOD_LENGTH = {"hour": timedelta(hours=1), "day": timedelta(days=1),
                  "month": timedelta(days=28)}  # fmt: skip
# Litestar adds "; charset=utf-8" to text/* media types itself
_CSV = "text/csv"
_TAGS = ["history"]

Names = Annotated[list[str] | None, QueryParameter(
    description="repeat the parameter or separate names with commas; omitted: all")]  # fmt: skip
Start = Annotated[datetime | None, QueryParameter(
    description="ISO 8601, inclusive; naive times are UTC")]  # fmt: skip
End = Annotated[datetime | None, QueryParameter(description="ISO 8601, exclusive; default now")]
Limit = Annotated[int, QueryParameter(ge=1, le=10_000, description="rows per page")]
CursorText = Annotated[str | None, QueryParameter(
    max_length=1000, description="next_cursor of the previous page")]  # fmt: skip
Format = Annotated[Literal["json", "csv"], QueryParameter(name="format")]


async def _known(
    view: View, meters: list[str] | None, metrics: list[str] | None, *, metric_param: str
) -> None:
    """404 naming the meters, or the metrics, that the site has no data or config for."""
    rows = await view.store.latest(meters)
    if meters is not None:
        have = set(view.meter_ids()) | {r.meter_id for r in rows}
        have |= {d.id for d in await view.store.list_devices()}
        unknown = [m for m in meters if m not in have]
        if unknown:
            known = ", ".join(sorted(have)) or "none"
            raise ApiProblem(404, f"meters: unknown {', '.join(unknown)}; known: {known}",
                             param=("query", "meters"))  # fmt: skip
    if metrics is not None:
        present = {r.metric for r in rows}
        # a total the aggregator derives from tariff registers is a metric too
        present |= {t for t, parts in TARIFF_TOTALS.items() if parts[0] in present}
        unknown = [m for m in metrics if m not in present]
        if unknown:
            raise ApiProblem(404, f"{metric_param}: no data for {', '.join(unknown)}; "
                             f"present: {', '.join(sorted(present)) or 'none'}",
                             param=("query", metric_param))  # fmt: skip


def _resume(
    cursor: str | None, query: str, start: datetime | None, end: datetime | None
) -> tuple[Cursor | None, datetime, datetime]:
    """The page position and the range: a cursor keeps the range of its first page."""
    if cursor is None:
        return (None, *time_range(start, end, timedelta(days=1)))
    position = decode_cursor(cursor, query)
    for name, given, kept in (("start", start, position.start), ("end", end, position.end)):
        if given is not None and aware(given, name) != kept:
            raise bad_param("query", name, "differs from the range the cursor belongs to")
    return position, position.start, position.end


@get("/readings", opt=access("viewer"), summary="Readings: raw or in time buckets", tags=_TAGS)
async def readings(
    view: View,
    *,
    meters: Names = None,
    metrics: Names = None,
    start: Start = None,
    end: End = None,
    bucket: FromQuery[Bucket | None] = None,
    agg: Annotated[Agg | None, QueryParameter(description="with bucket; default avg")] = None,
    limit: Limit = 1000,
    cursor: CursorText = None,
    format_: Format = "json",
) -> ReadingsPage | Response[bytes]:
    """Rows with ``start <= ts < end`` ordered by time, meter and metric, a page at a time.

    Without ``bucket``: raw rows. With it: ``agg`` of each epoch-aligned bucket. More
    rows than ``limit``: ``next_cursor`` (JSON) or the ``X-Next-Cursor`` header (CSV).
    """
    if agg is not None and bucket is None:
        raise bad_param("query", "agg", "needs bucket: agg aggregates time buckets, "
                        "raw readings have none")  # fmt: skip
    meter_list, metric_list = names(meters, "meters"), names(metrics, "metrics")
    agg = agg or "avg"
    query = fingerprint(meter_list, metric_list, bucket, agg if bucket else None)
    position, start_, end_ = _resume(cursor, query, start, end)
    await _known(view, meter_list, metric_list, metric_param="metrics")
    after = (position.ts, position.meter_id, position.metric) if position else None
    window = _Window(meter_list, metric_list, start_, end_, limit, after)
    if bucket is None:
        page, last = await _raw_page(view, window)
    else:
        page, last = await _bucket_page(view, window, bucket, agg)
    next_cursor = encode_cursor(last, start_, end_, query) if last else None
    if format_ == "csv":
        return _csv(page, next_cursor)
    return ReadingsPage(bucket=page.bucket, agg=page.agg, readings=page.readings,
                        buckets=page.buckets, next_cursor=next_cursor)  # fmt: skip


class _Window(NamedTuple):
    meters: list[str] | None
    metrics: list[str] | None
    start: datetime
    end: datetime
    limit: int
    after: PageKey | None


async def _raw_page(view: View, w: _Window) -> tuple[ReadingsPage, PageKey | None]:
    rows = await view.store.query_readings(meters=w.meters, metrics=w.metrics, start=w.start,
                                           end=w.end, limit=w.limit + 1, after=w.after)  # fmt: skip
    page = rows[: w.limit]
    last = (page[-1].ts, page[-1].meter_id, page[-1].metric) if len(rows) > w.limit else None
    return ReadingsPage(readings=page), last


async def _bucket_page(
    view: View, w: _Window, bucket: Bucket, agg: Agg
) -> tuple[ReadingsPage, PageKey | None]:
    size = BUCKETS[bucket]
    if (w.end - w.start) / size > MAX_BUCKETS:
        raise bad_param("query", "bucket", f"the range holds more than {MAX_BUCKETS} buckets "
                        f"of {bucket}; narrow it or choose a larger bucket")  # fmt: skip
    found = await view.store.query_buckets(meters=w.meters, metrics=w.metrics, start=w.start,
                                           end=w.end, bucket=size, agg=agg)  # fmt: skip
    keyed = sorted(
        (((r.bucket_start, r.meter_id, r.metric), r) for r in found), key=lambda item: item[0]
    )
    if w.after is not None:
        keyed = [(k, r) for k, r in keyed if k > w.after]
    page = keyed[: w.limit]
    last = page[-1][0] if len(keyed) > w.limit else None
    return ReadingsPage(bucket=bucket, agg=agg, buckets=[r for _, r in page]), last


def _csv(page: ReadingsPage, next_cursor: str | None) -> Response[bytes]:
    headers = {"X-Next-Cursor": next_cursor} if next_cursor else {}
    if page.bucket is None:
        raw: list[ReadingRow] = page.readings
        body = csv_bytes(
            ["ts", "meter_id", "metric", "value", "quality", "quality_rule", "ts_source"],
            ((r.ts, r.meter_id, r.metric, r.value, r.quality, r.quality_rule, r.ts_source)
             for r in raw),
        )  # fmt: skip
    else:
        buckets: list[BucketRow] = page.buckets
        body = csv_bytes(["bucket_start", "meter_id", "metric", page.agg or "value", "count"],
                         ((r.bucket_start, r.meter_id, r.metric, r.value, r.count)
                          for r in buckets))  # fmt: skip
    return Response(body, media_type=_CSV, headers=headers)


@get("/consumption", opt=access("viewer"), summary="Energy per meter and period", tags=_TAGS)
async def consumption(
    view: View,
    *,
    period: FromQuery[Literal["hour", "day", "month"]] = "day",
    meters: Names = None,
    metric: Annotated[str, QueryParameter(min_length=1, max_length=64)] = "energy_import_wh",
    tz: Annotated[str, QueryParameter(max_length=64, description="IANA time zone")] = "UTC",
    start: Start = None,
    end: End = None,
) -> ConsumptionOut:
    """Energy from a counter summed per calendar ``period`` of ``tz`` (default: every meter)."""
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise bad_param("query", "tz", "not a known IANA time zone") from exc
    length = _PERIOD_LENGTH[period]
    start_, end_ = time_range(start, end, length * 31)
    if (end_ - start_) / length > MAX_PERIODS:
        raise bad_param("query", "start", f"the range holds more than {MAX_PERIODS} periods")
    meter_list = names(meters, "meters")
    await _known(view, meter_list, [metric], metric_param="metric")
    items = [
        MeterConsumption(meter_id=meter_id, metric=metric, period=period, tz=tz,
                         periods=await view.store.query_consumption(
                             meter_id, metric, start=start_, end=end_, period=period, tz=tz))
        for meter_id in meter_list or view.meter_ids()
    ]  # fmt: skip
    return ConsumptionOut(items=items)


@get("/trends", opt=access("viewer"), summary="Trend windows", tags=_TAGS)
async def trends(
    view: View,
    *,
    meters: Names = None,
    metrics: Names = None,
    window_s: Annotated[int, QueryParameter(ge=1, le=86_400, description="window length")] = 60,
    start: Start = None,
    end: End = None,
    limit: Limit = 1000,
) -> TrendsOut:
    """The first ``limit`` trend windows starting in ``[start, end)``."""
    start_, end_ = time_range(start, end, timedelta(days=1))
    meter_list, metric_list = names(meters, "meters"), names(metrics, "metrics")
    await _known(view, meter_list, metric_list, metric_param="metrics")
    rows = await view.store.query_trends(meters=meter_list, metrics=metric_list,
                                         window_s=window_s, start=start_, end=end_)  # fmt: skip
    windows = view.trend_windows()
    # rows of a window no longer configured are still served; none at all needs a reason
    if not rows and window_s not in windows:
        kept = ", ".join(f"{w} s" for w in windows) or "none"
        raise ApiProblem(404, f"window_s: this site keeps no {window_s} s trend windows; it "
                         f"keeps {kept} ([pipeline] trend_windows_s)",
                         param=("query", "window_s"))  # fmt: skip
    return TrendsOut(items=rows[:limit])


def history_router() -> Router:
    """The history routes."""
    return Router(path="/", route_handlers=[readings, consumption, trends])
