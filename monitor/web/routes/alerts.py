"""Alerts and silences: what is firing or acknowledged, and the silences that mute alerts."""

from __future__ import annotations

from datetime import timedelta

from starlette.datastructures import FormData
from starlette.responses import Response
from starlette.routing import Route

from monitor.config import parse_interval
from monitor.web.alerting import (
    AlertActionError,
    create_silence,
    expire_silence,
    list_alerts,
    list_silences,
)
from monitor.web.pages import Ctx, action, view
from monitor.web.schema import has_table

__all__ = ["routes"]

_VIEWS = {
    "open": ("firing", "acknowledged"),
    "firing": ("firing",),
    "acknowledged": ("acknowledged",),
    "resolved": ("resolved",),
}


@view
def alerts_page(ctx: Ctx) -> Response:
    chosen = ctx.request.query_params.get("status", "open")
    if chosen not in _VIEWS:
        chosen = "open"
    store = ctx.store
    return ctx.render(
        "alerts.html",
        has_alerts=has_table(store.conn, "alerts"),
        alerts=list_alerts(store, _VIEWS[chosen]),
        chosen=chosen,
        views=list(_VIEWS),
        silences=list_silences(store, now=ctx.web.clock()),
        has_silences=has_table(store.conn, "silences"),
        brands=[b.name for b in ctx.web.config.brands],
    )


def _text(form: FormData, name: str, limit: int = 500) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


@action
def silence_action(ctx: Ctx, form: FormData) -> Response:
    store = ctx.writer
    op = _text(form, "op")
    try:
        if op == "create":
            matchers = [line for line in _text(form, "matchers", 2000).splitlines()]
            for key in ("brand", "severity"):
                if _text(form, key):
                    matchers.append(f"{key}={_text(form, key)}")
            try:
                seconds = parse_interval(_text(form, "duration") or "4h")
            except ValueError as exc:
                raise AlertActionError(str(exc)) from exc
            silence_id = create_silence(
                store,
                matchers,
                timedelta(seconds=seconds),
                ctx.user.name,
                _text(form, "comment"),
                now=ctx.web.clock(),
            )
            message = f"Silence {silence_id} created."
        elif op == "expire":
            try:
                silence_id = int(_text(form, "silence_id"))
            except ValueError as exc:
                raise AlertActionError("no silence chosen") from exc
            expire_silence(store, silence_id, ctx.user.name, now=ctx.web.clock())
            message = f"Silence {silence_id} expired."
        else:
            raise AlertActionError(f"unknown action {op!r}")
    except AlertActionError as exc:
        return ctx.redirect("/alerts", error=str(exc))
    return ctx.redirect("/alerts", notice=message)


def routes() -> list[Route]:
    return [
        Route("/alerts", alerts_page, methods=["GET"], name="alerts"),
        Route("/silence", silence_action, methods=["POST"], name="silence_action"),
    ]
