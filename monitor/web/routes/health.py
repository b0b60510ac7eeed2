"""Sources health (what ``groundswell status`` shows), ``/healthz`` and Prometheus ``/metrics``."""

from __future__ import annotations

import hmac
import sqlite3
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from monitor.records import parse_iso
from monitor.secrets import get_secret
from monitor.status import collect_status
from monitor.web.pages import Ctx, WebState, view
from monitor.web.schema import has_table

__all__ = ["metrics_text", "routes"]


@view
def sources_page(ctx: Ctx) -> Response:
    status = collect_status(ctx.web.config, ctx.store)
    return ctx.render("sources.html", status=status)


async def healthz(request: Request) -> Response:
    web: WebState = request.app.state.web

    def check() -> bool:
        try:
            web.store().conn.execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    ok = await run_in_threadpool(check)
    return PlainTextResponse(
        "ok\n" if ok else "archive unavailable\n", status_code=200 if ok else 503
    )


def _label(value: Any) -> str:
    return (
        str(value if value is not None else "")
        .replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
    )


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return parse_iso(text).timestamp()
    except ValueError:
        return None


def metrics_text(web: WebState) -> str:
    """The Prometheus text exposition of source health, archive size and alert delivery."""
    store = web.store()
    status = collect_status(web.config, store)
    lines: list[str] = []

    def metric(
        name: str, kind: str, help_text: str, samples: list[tuple[dict[str, Any], float]]
    ) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{text}}} {value:g}" if text else f"{name} {value:g}")

    archive = status["archive"]
    metric("groundswell_posts", "gauge", "Posts in the archive.", [({}, archive["posts"])])
    metric(
        "groundswell_snapshots",
        "gauge",
        "Engagement snapshots in the archive.",
        [({}, archive["snapshots"])],
    )
    sources = status["sources"]
    keyed = [
        ({"source": s["source"], "key": s["key"], "type": s.get("type") or ""}, s) for s in sources
    ]
    metric(
        "groundswell_source_items_total",
        "counter",
        "Items collected per source since it was added.",
        [(labels, float(s.get("items_total") or 0)) for labels, s in keyed],
    )
    metric(
        "groundswell_source_consecutive_failures",
        "gauge",
        "Failed polls in a row per source (0 = last poll succeeded).",
        [(labels, float(s.get("consecutive_failures") or 0)) for labels, s in keyed],
    )
    metric(
        "groundswell_source_up",
        "gauge",
        "1 when the source's last poll succeeded, else 0.",
        [
            (
                labels,
                0.0
                if (s.get("consecutive_failures") or 0) > 0 or s.get("breaker") == "open"
                else 1.0,
            )
            for labels, s in keyed
        ],
    )
    for field, name in (
        ("last_success_at", "groundswell_source_last_success_timestamp_seconds"),
        ("last_error_at", "groundswell_source_last_error_timestamp_seconds"),
    ):
        samples = [
            (labels, ts) for labels, s in keyed if (ts := _timestamp(s.get(field))) is not None
        ]
        metric(name, "gauge", f"Unix time of the source's {field.replace('_', ' ')[:-3]}.", samples)
    conn = store.conn
    if has_table(conn, "outbox"):
        rows = conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()
        metric(
            "groundswell_outbox",
            "gauge",
            "Alert deliveries by state (pending = backlog).",
            [({"status": status_}, float(n)) for status_, n in rows],
        )
    if has_table(conn, "alerts"):
        rows = conn.execute(
            "SELECT status, severity, count(*) FROM alerts GROUP BY 1, 2"
        ).fetchall()
        metric(
            "groundswell_alerts",
            "gauge",
            "Alert threads by status and severity.",
            [({"status": st, "severity": sev}, float(n)) for st, sev, n in rows],
        )
    return "\n".join(lines) + "\n"


async def metrics(request: Request) -> Response:
    web: WebState = request.app.state.web
    token = get_secret(web.settings.metrics_token_env)
    header = request.headers.get("authorization", "")
    allowed = bool(token) and hmac.compare_digest(header, f"Bearer {token}")
    if not allowed:
        allowed = await run_in_threadpool(web.user_for, request) is not None
    if not allowed:
        return PlainTextResponse(
            "sign in, or send the metrics bearer token\n",
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="groundswell"'},
        )
    text = await run_in_threadpool(metrics_text, web)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")


def routes() -> list[Route]:
    return [
        Route("/sources", sources_page, methods=["GET"], name="sources"),
        Route("/healthz", healthz, methods=["GET"], name="healthz"),
        Route("/metrics", metrics, methods=["GET"], name="metrics"),
    ]
