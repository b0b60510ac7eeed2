"""Message rendering: one context per notification, three templates (text, Markdown, HTML email)
and the versioned JSON payload for webhooks (schema documented in docs/alerts.md).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import jinja2

from alerts.grouping import ThreadState
from alerts.links import action_link
from alerts.settings import AlertSettings
from monitor.records import isoformat, parse_iso
from monitor.store import Store

__all__ = [
    "PAYLOAD_VERSION",
    "PLAYBOOK",
    "PLAYBOOK_LEGAL",
    "PostFacts",
    "post_facts",
    "render_alert",
    "render_digest",
]

PAYLOAD_VERSION = 1
EXCERPT_CHARS = 280

PLAYBOOK = (
    "Respond fast and in person: a named human, in the same channel, within the hour.",
    "Acknowledge the problem and thank them for telling you — no defensiveness.",
    "No legalese and no form letter: plain words, the tone of a person.",
    "Offer a concrete fix or compensation, with a date.",
    "Follow up publicly once it is fixed, so everyone who saw the complaint sees the answer.",
)
PLAYBOOK_LEGAL = (
    "A legal threat is a reputation emergency first: PR/community answer, legal advises.",
    "Do not reply with a lawyer's letter; that is how a complaint becomes a news story.",
)

_KIND_TITLE = {
    "fired": "New",
    "updated": "Update",
    "repeat": "Still open",
    "escalated": "Escalated",
    "acknowledged": "Acknowledged",
    "resolved": "Resolved",
    "test": "Test",
}


@dataclass(frozen=True, slots=True)
class PostFacts:
    """What the archive knows about the alert's lead post (all optional: replay may lack posts)."""

    id: str
    title: str = ""
    excerpt: str = ""
    url: str | None = None
    lang: str | None = None
    source: str | None = None
    author: str | None = None
    published_at: str | None = None
    sentiment: str | None = None
    p_negative: float | None = None
    likes: int | None = None
    shares: int | None = None
    comments: int | None = None
    views: int | None = None
    per_hour: float | None = None


def _table_exists(conn: sqlite3.Connection, name: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)
        ).fetchone()
        is not None
    )


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "…"


def post_facts(store: Store, post_id: str) -> PostFacts:
    """Post text, link, sentiment and engagement velocity for a message."""
    conn = store.conn
    row = conn.execute(
        "SELECT title, text, url, lang, source, author, published_at FROM posts WHERE id = ?",
        (post_id,),
    ).fetchone()
    if row is None:
        return PostFacts(post_id)
    title, text, url, lang, source, author, published = row
    sentiment = p_negative = None
    if _table_exists(conn, "assessments"):
        found = conn.execute(
            "SELECT sentiment, p_negative FROM assessments WHERE post_id = ? "
            "ORDER BY assessed_at DESC LIMIT 1",
            (post_id,),
        ).fetchone()
        if found is not None:
            sentiment, p_negative = found[0], found[1]
    snaps = conn.execute(
        "SELECT at, likes, shares, comments, views FROM snapshots WHERE post_id = ? "
        "ORDER BY at DESC LIMIT 2",
        (post_id,),
    ).fetchall()
    likes = shares = comments = views = None
    per_hour = None
    if snaps:
        _, likes, shares, comments, views = snaps[0]
        if len(snaps) == 2:
            hours = (parse_iso(snaps[0][0]) - parse_iso(snaps[1][0])).total_seconds() / 3600
            gained = sum(
                (a or 0) - (b or 0) for a, b in zip(snaps[0][1:4], snaps[1][1:4], strict=True)
            )
            if hours > 0:
                per_hour = round(gained / hours, 1)
    return PostFacts(
        post_id,
        title or "",
        _excerpt(text or title or ""),
        url,
        lang,
        source,
        author,
        published,
        sentiment,
        p_negative,
        likes,
        shares,
        comments,
        views,
        per_hour,
    )


@cache
def _environment(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("alerts", "templates"),
        autoescape=autoescape,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def _render(name: str, context: Mapping[str, Any]) -> str:
    return _environment(name.endswith(".html")).get_template(name).render(**context)


def render_alert(
    settings: AlertSettings,
    alert: Mapping[str, Any],
    state: ThreadState,
    kind: str,
    changes: Sequence[str],
    facts: PostFacts,
    *,
    key_hint: str,
    now: datetime,
    actor: str | None = None,
    escalated_to: str | None = None,
) -> dict[str, Any]:
    """The stored message for one notification: title, text, markdown, html and JSON payload."""
    alert_id = int(alert["id"])
    links = {
        "view": f"{settings.base_url}/alerts/{alert_id}",
        "ack": action_link(settings, alert_id, "ack"),
        "resolve": action_link(settings, alert_id, "resolve"),
    }
    legal = "legal_threat" in state.cues
    playbook = (*PLAYBOOK_LEGAL, *PLAYBOOK) if legal else PLAYBOOK
    status = str(alert["status"])
    headline = facts.title or facts.excerpt[:80] or f"{alert['kind']} {alert['first_post_id']}"
    title = (
        f"[{state.severity.upper()}] {_KIND_TITLE.get(kind, kind.title())}: "
        f"{alert['brand']} — {headline}"
    )
    if len(title) > 160:
        title = title[:159] + "…"
    context = {
        "kind": kind,
        "title": title,
        "alert": alert,
        "alert_id": alert_id,
        "status": status,
        "state": state,
        "changes": list(changes),
        "post": facts,
        "links": links,
        "playbook": playbook,
        "legal": legal,
        "actor": actor,
        "escalated_to": escalated_to,
        "cli_ack": f"groundswell alerts ack {alert_id}",
    }
    data = {
        "schema": "groundswell.alert",
        "version": PAYLOAD_VERSION,
        "type": f"alert.{kind}",
        "idempotency_key": key_hint,
        "created_at": isoformat(now),
        "alert": {
            "id": alert_id,
            "group_key": alert["group_key"],
            "brand": alert["brand"],
            "kind": alert["kind"],
            "severity": state.severity,
            "status": status,
            "risk": round(state.risk, 4),
            "max_risk": round(state.max_risk, 4),
            "reasons": list(state.reasons),
            "labels": dict(alert["labels"]),
            "route": alert["route"],
            "receivers": list(alert["receivers"]),
            "created_at": alert["created_at"],
            "escalation_level": int(alert.get("escalation_level") or 0),
            "acknowledged_by": alert.get("acknowledged_by"),
            "resolved_by": alert.get("resolved_by"),
        },
        "changes": list(changes),
        "post": {
            "id": facts.id,
            "title": facts.title,
            "excerpt": facts.excerpt,
            "url": facts.url,
            "lang": facts.lang,
            "source": facts.source,
            "author": facts.author,
            "published_at": facts.published_at,
        },
        "sentiment": (
            {"label": facts.sentiment, "p_negative": facts.p_negative}
            if facts.sentiment is not None
            else None
        ),
        "engagement": {
            "likes": facts.likes,
            "shares": facts.shares,
            "comments": facts.comments,
            "views": facts.views,
            "per_hour": facts.per_hour,
        },
        "spread": {
            "posts": state.post_count,
            "sources": list(state.sources),
            "languages": list(state.langs),
            "news_pickup": state.news_pickup,
            "cues": list(state.cues),
        },
        "playbook": list(playbook),
        "links": links,
        "escalated_to": escalated_to,
        "actor": actor,
    }
    return {
        "title": title,
        "severity": state.severity,
        "text": _render("alert.txt", context),
        "markdown": _render("alert.md", context),
        "html": _render("alert.html", context),
        "data": data,
    }


def render_digest(
    settings: AlertSettings,
    receiver: str,
    every: str,
    since: datetime,
    until: datetime,
    summary: Mapping[str, Any],
    *,
    key_hint: str,
) -> dict[str, Any]:
    """The stored message for a daily/weekly digest."""
    title = (
        f"groundswell {every} digest for {receiver}: {summary['total']} alert(s), "
        f"{summary['open']} still open"
    )
    context = {
        "title": title,
        "receiver": receiver,
        "every": every,
        "since": isoformat(since),
        "until": isoformat(until),
        "summary": summary,
        "base_url": settings.base_url,
    }
    data = {
        "schema": "groundswell.alert",
        "version": PAYLOAD_VERSION,
        "type": "digest",
        "idempotency_key": key_hint,
        "created_at": isoformat(until),
        "digest": {
            "receiver": receiver,
            "every": every,
            "since": isoformat(since),
            "until": isoformat(until),
            **summary,
        },
    }
    return {
        "title": title,
        "severity": "info",
        "text": _render("digest.txt", context),
        "markdown": _render("digest.md", context),
        "html": _render("digest.html", context),
        "data": data,
    }
