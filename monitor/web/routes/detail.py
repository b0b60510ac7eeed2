"""A post and its story: text, author and reach, every mention, engagement and risk over time,
the alert thread, notes and history; plus the review actions taken from this page.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.responses import Response
from starlette.routing import Route

from monitor.records import parse_iso
from monitor.store import Store
from monitor.web.alerting import AlertActionError, ack_alert, alerts_for_post, resolve_alert
from monitor.web.charts import Series, line_chart
from monitor.web.inbox import cue_names, sync_inbox
from monitor.web.pages import Ctx, action, safe_next, view
from monitor.web.reviews import (
    LABEL_SENTIMENTS,
    ReviewError,
    add_note,
    correct_label,
    notes,
    review_state,
    set_status,
    snooze,
)
from monitor.web.schema import columns, has_table

__all__ = ["SNOOZE_CHOICES", "routes"]

SNOOZE_CHOICES = {
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
    "1w": timedelta(weeks=1),
}


def _dicts(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _json(raw: Any) -> Any:
    if raw is None or not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _reason_texts(raw: Any) -> list[str]:
    value = _json(raw)
    items = value if isinstance(value, list) else ([value] if value else [])
    texts = []
    for item in items:
        if isinstance(item, dict):
            text = item.get("text") or item.get("reason") or item.get("name")
            texts.append(str(text) if text else json.dumps(item, sort_keys=True))
        else:
            texts.append(str(item))
    return texts


def _assessment(store: Store, post_id: str) -> dict[str, Any] | None:
    if not has_table(store.conn, "assessments"):
        return None
    order = "assessed_at" if "assessed_at" in columns(store.conn, "assessments") else "rowid"
    rows = _dicts(
        store.conn.execute(
            f"SELECT * FROM assessments WHERE post_id = ? ORDER BY {order} DESC LIMIT 1", (post_id,)
        )
    )
    if not rows:
        return None
    row = rows[0]
    row["cue_names"] = cue_names(row.get("cues"))
    return row


def _risk_history(store: Store, post_id: str) -> list[dict[str, Any]]:
    if not has_table(store.conn, "risk_scores"):
        return []
    rows = _dicts(
        store.conn.execute("SELECT * FROM risk_scores WHERE post_id = ? ORDER BY at", (post_id,))
    )
    for row in rows:
        row["reason_texts"] = _reason_texts(row.get("reasons"))
    return rows


def _mentions(store: Store, post: dict[str, Any]) -> list[dict[str, Any]]:
    clauses, args = [], []
    if post.get("story_id"):
        clauses.append("story_id = ?")
        args.append(post["story_id"])
    if post.get("canonical_url"):
        clauses.append("canonical_url = ?")
        args.append(post["canonical_url"])
    if not clauses:
        return []
    return _dicts(
        store.conn.execute(
            "SELECT id, source, source_name, site, url, author, author_followers, lang, title, "
            "coalesce(published_at, first_seen_at) AS at FROM posts "
            f"WHERE ({' OR '.join(clauses)}) AND id != ? ORDER BY at LIMIT 200",
            (*args, post["id"]),
        )
    )


def _history(store: Store, post_id: str) -> list[dict[str, Any]]:
    if not has_table(store.conn, "audit_log"):
        return []
    return _dicts(
        store.conn.execute(
            "SELECT seq, at, actor, action, before, after FROM audit_log WHERE subject = ? "
            "ORDER BY seq DESC LIMIT 100",
            (f"post:{post_id}",),
        )
    )


def _charts(snapshots: list[Any], risks: list[dict[str, Any]]) -> dict[str, Any]:
    engagement = [
        Series(name, [(s.at, float(getattr(s, name) or 0)) for s in snapshots])
        for name in ("likes", "shares", "comments")
        if any(getattr(s, name) for s in snapshots)
    ]
    views = (
        [Series("views", [(s.at, float(s.views or 0)) for s in snapshots])]
        if any(s.views for s in snapshots)
        else []
    )
    risk_points = [(parse_iso(r["at"]), float(r.get("risk") or 0)) for r in risks if r.get("at")]
    return {
        "engagement": line_chart("Engagement over time", engagement, y_label="interactions"),
        "views": line_chart("Views over time", views, y_label="views") if views else None,
        "risk": line_chart("Risk score history", [Series("risk", risk_points)], y_max=1.0)
        if risk_points
        else None,
    }


@view
def post_page(ctx: Ctx) -> Response:
    post_id = ctx.request.path_params["post_id"]
    store = ctx.store
    post = store.post(post_id)
    if post is None:
        return ctx.render(
            "error.html", status_code=404, message=f"No post {post_id} in the archive."
        )
    snapshots = store.snapshots(post_id)
    risks = _risk_history(store, post_id)
    lang = post.get("lang") or "auto"
    text = ((post.get("title") or "") + "\n\n" + (post.get("text") or "")).strip()
    translate = ctx.web.settings.translate_url.format(
        lang=quote(lang, safe=""), text=quote(text[:1500], safe="")
    )
    brands = [
        r[0]
        for r in store.conn.execute(
            "SELECT brand FROM post_brands WHERE post_id = ? ORDER BY brand", (post_id,)
        )
    ]
    return ctx.render(
        "post.html",
        post=post,
        brands=brands,
        extra=_json(post.get("extra")) or {},
        review=review_state(store, post_id),
        assessment=_assessment(store, post_id),
        risks=risks,
        latest_risk=risks[-1] if risks else None,
        snapshots=snapshots,
        charts=_charts(snapshots, risks),
        mentions=_mentions(store, post),
        alerts=alerts_for_post(store, post_id, post.get("story_id")),
        notes=notes(store, post_id),
        history=_history(store, post_id),
        translate_url=translate,
        sentiments=LABEL_SENTIMENTS,
        snooze_choices=list(SNOOZE_CHOICES),
        next_url=str(ctx.request.url.path),
    )


def _field(form: FormData, name: str, limit: int = 200) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


@action
def review_action(ctx: Ctx, form: FormData) -> Response:
    post_id = _field(form, "post_id", 600)
    op = _field(form, "op")
    back = safe_next(_field(form, "next", 2000), f"/post/{quote(post_id, safe=':')}")
    store = ctx.writer
    actor = ctx.user.name
    now = ctx.web.clock()
    sync_inbox(store, ctx.web.settings.warning_risk, ctx.web.settings.critical_risk)
    try:
        if op == "assign":
            assignee = _field(form, "assignee", 64) or actor
            set_status(store, post_id, "assigned", actor, assignee=assignee, now=now)
            message = f"Assigned to {assignee}."
        elif op in ("acknowledge", "resolve", "false_positive", "reopen"):
            status = {"acknowledge": "acknowledged", "resolve": "resolved", "reopen": "new"}.get(
                op, op
            )
            set_status(store, post_id, status, actor, now=now)
            message = {
                "acknowledge": "Acknowledged.",
                "resolve": "Resolved.",
                "false_positive": "Marked as a false positive.",
                "reopen": "Reopened.",
            }[op]
        elif op == "snooze":
            choice = _field(form, "duration") or "4h"
            if choice not in SNOOZE_CHOICES:
                raise ReviewError(f"unknown snooze duration {choice!r}")
            snooze(store, post_id, actor, SNOOZE_CHOICES[choice], now=now)
            message = f"Snoozed for {choice}."
        elif op == "note":
            add_note(store, post_id, actor, _field(form, "text", 5000), now=now)
            message = "Note added."
        elif op == "label":
            complaint = _field(form, "complaint") in ("1", "yes", "true", "on")
            table = correct_label(
                store, post_id, actor, _field(form, "sentiment"), complaint, now=now
            )
            message = f"Label saved as training feedback ({table})."
        else:
            raise ReviewError(f"unknown action {op!r}")
    except ReviewError as exc:
        return ctx.redirect(back, error=str(exc))
    return ctx.redirect(back, notice=message)


@action
def alert_action(ctx: Ctx, form: FormData) -> Response:
    op = _field(form, "op")
    back = safe_next(_field(form, "next", 2000), "/alerts")
    try:
        alert_id = int(_field(form, "alert_id"))
    except ValueError:
        return ctx.redirect(back, error="no alert chosen")
    store = ctx.writer
    try:
        if op == "ack":
            ack_alert(store, alert_id, ctx.user.name, now=ctx.web.clock())
            message = f"Alert {alert_id} acknowledged."
        elif op == "resolve":
            resolve_alert(store, alert_id, ctx.user.name, now=ctx.web.clock())
            message = f"Alert {alert_id} resolved."
        else:
            raise AlertActionError(f"unknown action {op!r}")
    except AlertActionError as exc:
        return ctx.redirect(back, error=str(exc))
    return ctx.redirect(back, notice=message)


def routes() -> list[Route]:
    return [
        Route("/post/{post_id:path}", post_page, methods=["GET"], name="post"),
        Route("/review", review_action, methods=["POST"], name="review_action"),
        Route("/alert", alert_action, methods=["POST"], name="alert_action"),
    ]
