"""The dashboard: mention volume and sentiment per brand over time, share of voice against
competitors, bursts on the timeline, top stories and per-source health.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from monitor.records import isoformat, parse_iso
from monitor.status import collect_status
from monitor.store import Store
from monitor.web.charts import Band, Series, bar_chart, line_chart
from monitor.web.inbox import sync_inbox
from monitor.web.pages import Ctx, view
from monitor.web.schema import columns, has_table

__all__ = ["bursts", "daily_volume", "routes", "share_of_voice", "top_stories"]

PERIODS = (7, 14, 30, 90)


def daily_volume(store: Store, since: datetime) -> dict[str, dict[str, tuple[int, int, int]]]:
    """brand → day → (mentions, negative, assessed) since ``since``."""
    result: dict[str, dict[str, tuple[int, int, int]]] = defaultdict(dict)
    for brand, day, total, negative, assessed in store.conn.execute(
        "SELECT b.brand, substr(i.at, 1, 10) AS day, count(*), "
        "sum(i.sentiment = 'negative'), sum(i.sentiment IS NOT NULL) "
        "FROM inbox i JOIN post_brands b ON b.post_id = i.post_id "
        "WHERE i.at >= ? GROUP BY b.brand, day ORDER BY day",
        (isoformat(since),),
    ):
        result[brand][day] = (int(total), int(negative or 0), int(assessed or 0))
    return dict(result)


def share_of_voice(volume: dict[str, dict[str, tuple[int, int, int]]]) -> list[tuple[str, float]]:
    """Each brand's share of all mentions in the period, largest first."""
    totals = {brand: sum(v[0] for v in days.values()) for brand, days in volume.items()}
    grand = sum(totals.values())
    if not grand:
        return []
    return sorted(((b, n / grand) for b, n in totals.items()), key=lambda x: -x[1])


def bursts(store: Store, since: datetime) -> list[dict[str, Any]]:
    """Bursts detected by the risk scorer since ``since`` (empty when it has not run)."""
    cols = columns(store.conn, "bursts")
    if not cols:
        return []
    if "hour" in cols:  # the risk scorer's hourly bursts: one band per hour
        start, end = "hour", "hour"
    else:
        start = next((c for c in ("start_at", "started_at", "window_start", "at") if c in cols), "")
        end = next((c for c in ("end_at", "ended_at", "window_end") if c in cols), start)
    if not start:
        return []
    brand = "brand" if "brand" in cols else "NULL"
    label = next((c for c in ("kind", "topic", "label", "reason") if c in cols), None)
    select_label = f"[{label}]" if label else "NULL"
    series = "AND series = 'all'" if "series" in cols else ""
    rows = []
    for b, s, e, text in store.conn.execute(
        f"SELECT {brand}, [{start}], [{end}], {select_label} FROM bursts WHERE [{end}] >= ? "
        f"{series} ORDER BY [{start}] LIMIT 200",
        (isoformat(since),),
    ):
        try:
            began, ended = parse_iso(s), parse_iso(e)
        except (TypeError, ValueError):
            continue
        if start == end:
            ended = began + timedelta(hours=1)
        rows.append({"brand": b, "start": began, "end": ended, "label": str(text or "")})
    return rows


def top_stories(store: Store, since: datetime, limit: int = 10) -> list[dict[str, Any]]:
    """The riskiest stories (or lone posts) first seen in the period."""
    names = ("story", "risk", "mentions", "post_id", "title", "brand", "first_at")
    cursor = store.conn.execute(
        "SELECT coalesce(p.story_id, i.post_id) AS story, max(i.risk) AS risk, count(*), "
        "i.post_id, p.title, i.brand, i.at FROM inbox i JOIN posts p ON p.id = i.post_id "
        "WHERE i.at >= ? AND i.risk > 0 GROUP BY story ORDER BY risk DESC LIMIT ?",
        (isoformat(since), limit),
    )
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _day(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)


@view
def dashboard_page(ctx: Ctx) -> Response:
    web = ctx.web
    writer = web.store()
    if not writer.readonly:
        sync_inbox(writer, web.settings.warning_risk, web.settings.critical_risk)
    try:
        days = int(ctx.request.query_params.get("days", "14"))
    except ValueError:
        days = 14
    days = days if days in PERIODS else 14
    now = web.clock()
    since = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    store = ctx.store
    volume = daily_volume(store, since)
    burst_rows = bursts(store, since)
    volume_series = [
        Series(brand, [(_day(d), float(v[0])) for d, v in sorted(per_day.items())])
        for brand, per_day in sorted(volume.items())
    ]
    negative_series = [
        Series(brand, [(_day(d), v[1] / v[2]) for d, v in sorted(per_day.items()) if v[2]])
        for brand, per_day in sorted(volume.items())
    ]
    negative_series = [s for s in negative_series if s.points]
    sov = share_of_voice(volume)
    status = collect_status(web.config, store)
    return ctx.render(
        "dashboard.html",
        days=days,
        periods=PERIODS,
        volume=volume,
        volume_chart=line_chart(
            f"Mentions per day, last {days} days",
            volume_series,
            y_label="mentions",
            bands=[
                Band(b["start"], b["end"], f"{b['brand'] or ''} {b['label']}".strip())
                for b in burst_rows
            ],
        ),
        sentiment_chart=line_chart(
            "Share of negative mentions per day", negative_series, y_max=1.0, percent=True
        ),
        sov=sov,
        sov_chart=bar_chart(f"Share of voice, last {days} days", sov),
        bursts=burst_rows,
        stories=top_stories(store, since),
        sources=status["sources"],
        has_assessments=has_table(store.conn, "assessments"),
    )


def routes() -> list[Route]:
    return [Route("/dashboard", dashboard_page, methods=["GET"], name="dashboard")]
