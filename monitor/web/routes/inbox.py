"""The inbox: flagged posts sorted by risk (or time), filtered by what the URL says."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from monitor.web.inbox import (
    SENTIMENTS,
    SEVERITIES,
    STATUSES,
    InboxFilters,
    query_inbox,
    sync_inbox,
)
from monitor.web.pages import Ctx, view

__all__ = ["routes"]


def _options(ctx: Ctx) -> dict[str, list[str]]:
    """Choices for the filter controls, from the config and small tables only (no archive scans)."""
    config = ctx.web.config
    conn = ctx.store.conn
    sources = [spec.name for spec in config.sources]
    for (kind,) in conn.execute("SELECT DISTINCT type FROM source_state ORDER BY 1"):
        if kind and kind not in sources:
            sources.append(kind)
    langs = sorted({lang for brand in config.brands for lang in brand.languages})
    brands = [b.name for b in config.brands]
    assignees = [r[0] for r in conn.execute("SELECT name FROM users ORDER BY name")]
    return {"sources": sources, "langs": langs, "brands": brands, "assignees": assignees}


@view
def inbox_page(ctx: Ctx) -> Response:
    web = ctx.web
    writer = web.store()
    if not writer.readonly:
        sync_inbox(writer, web.settings.warning_risk, web.settings.critical_risk)
    filters = InboxFilters.from_params(ctx.request.query_params)
    competitors = [b.name for b in web.config.brands if b.is_competitor]
    page = query_inbox(
        ctx.store,
        filters,
        user=ctx.user.name,
        competitors=competitors,
        page_size=web.settings.page_size,
        now=web.clock(),
    )
    return ctx.render(
        "inbox.html",
        filters=filters,
        page=page,
        options=_options(ctx),
        statuses=STATUSES,
        severities=SEVERITIES,
        sentiments=SENTIMENTS,
        has_competitors=bool(competitors),
    )


def routes() -> list[Route]:
    return [Route("/", inbox_page, methods=["GET"], name="inbox")]
