"""A small, realistic archive for the review UI: posts, engagement, sentiment, risk, alerts.

Used by the UI's tests, browser tests, screenshots and benchmark. Feature tables that another
part of groundswell has not created in this archive (for example ``assessments`` before the
model has run) are created here with the columns that part writes, so the pages can be shown
end to end; tables that exist are filled through their real schema.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.records import Post, Snapshot, isoformat
from monitor.store import Store
from monitor.web.schema import columns, has_table

__all__ = ["ASSESSMENTS_FIXTURE", "XSS_TEXT", "SampleArchive", "ensure_assessments", "seed"]

XSS_TEXT = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">'

ASSESSMENTS_FIXTURE = """
CREATE TABLE IF NOT EXISTS assessments (
    post_id TEXT NOT NULL,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    assessed_at TEXT NOT NULL,
    lang TEXT,
    sentiment TEXT NOT NULL,
    p_negative REAL, p_neutral REAL, p_positive REAL,
    complaint REAL,
    risk REAL,
    cues TEXT,
    PRIMARY KEY (post_id, model_id, model_version)
)
"""

_TEXTS = {
    "en": [
        (
            "Aurora Air lost my guitar and nobody answers",
            "Three days, four calls, no refund. The baggage desk laughed at me. I am filming a song about it.",
        ),
        (
            "Cancelled flight, refund never came",
            "Aurora Air cancelled my flight to Lisbon and the refund never came. Legal action next?",
        ),
        (
            "Great crew on the Aurora Air morning flight",
            "Friendly crew, on time, coffee was hot. Would fly again.",
        ),
        (
            "Aurora Air adds routes to Porto",
            "The airline announced three new routes for the summer schedule.",
        ),
        (
            "Nimbus Airlines delays again",
            "Another two hour delay with Nimbus Airlines, no explanation at the gate.",
        ),
    ],
    "de": [
        (
            "Aurora Air hat meinen Koffer verloren",
            "Seit einer Woche keine Antwort, keine Erstattung. Ich gehe zum Anwalt.",
        ),
        ("Pünktlich mit Aurora Air nach Berlin", "Alles lief glatt, freundliches Personal."),
    ],
    "es": [
        (
            "Aurora Air me cobró dos veces",
            "Nunca devolvieron el dinero y el servicio al cliente no responde.",
        )
    ],
    "pl": [("Aurora Air zgubiła mój bagaż w Łodzi", "Żadnej odpowiedzi od tygodnia, skandal.")],
}
_CUES = ["refund", "legal_threat", "lost_baggage", "no_response", "creative_complaint"]
_SOURCES = [
    ("rss", "travel-news"),
    ("reddit", "r/travel"),
    ("hackernews", "hn"),
    ("mastodon", "mastodon.social"),
]


@dataclass(frozen=True, slots=True)
class SampleArchive:
    post_ids: tuple[str, ...]
    xss_post_id: str
    top_post_id: str
    alert_ids: tuple[int, ...]


def ensure_assessments(store: Store) -> None:
    """Create the ``assessments`` table when the sentiment model has not created it yet."""
    if not has_table(store.conn, "assessments"):
        with store.transaction() as conn:
            conn.execute(ASSESSMENTS_FIXTURE)


def _insert(store: Store, table: str, row: dict[str, Any]) -> int:
    cols = set(columns(store.conn, table))
    kept = {k: v for k, v in row.items() if k in cols}
    cursor = store.conn.execute(
        f"INSERT OR REPLACE INTO [{table}] ({', '.join(kept)}) VALUES ({', '.join('?' * len(kept))})",
        list(kept.values()),
    )
    return int(cursor.lastrowid or 0)


def seed(store: Store, now: datetime, count: int = 40, seed_value: int = 7) -> SampleArchive:
    """Fill ``store`` with ``count`` posts about a brand and a competitor, plus their assessments,
    risk history, a story seen on several sources, bursts and alert threads."""
    rng = random.Random(seed_value)
    ensure_assessments(store)
    items: list[tuple[Post, list[str]]] = []
    story_members: list[str] = []
    for index in range(count):
        lang = rng.choice(["en", "en", "en", "de", "es", "pl"])
        title, text = rng.choice(_TEXTS[lang])
        source, name = _SOURCES[index % len(_SOURCES)]
        brand = "Nimbus Airlines" if "Nimbus" in title else "Aurora Air"
        published = now - timedelta(hours=10 if index == 0 else index * 7 + rng.randint(0, 5))
        if index == 3:
            title, text = "Aurora Air review <b>bold</b>", XSS_TEXT
        post = Post(
            source=source,
            native_id=f"s{index}",
            title=title,
            text=text,
            url=f"https://example.org/{source}/{index}",
            author=f"user{index % 9}",
            author_followers=rng.choice([40, 900, 12_000, 250_000]),
            published_at=published,
            lang=lang,
            source_name=name,
            site="example.org",
            engagement=Snapshot(
                published + timedelta(minutes=30), index, index // 2, index // 3, 100 * index
            ),
        )
        items.append((post, [brand]))
    store.upsert_posts(items, seen_at=now - timedelta(hours=9, minutes=40))
    ids = [post.id for post, _ in items]
    top = ids[0]
    with store.transaction() as conn:
        # The top story: the same complaint picked up by three sources, engagement climbing.
        story = "st-guitar"
        story_members = [ids[0], ids[4], ids[8]]
        conn.execute(
            f"UPDATE posts SET story_id = ? WHERE id IN ({', '.join('?' * len(story_members))})",
            (story, *story_members),
        )
        if has_table(conn, "stories"):
            _insert(
                store,
                "stories",
                {
                    "id": story,
                    "first_post_id": ids[0],
                    "title": items[0][0].title,
                    "first_seen_at": isoformat(now - timedelta(hours=6)),
                    "last_seen_at": isoformat(now),
                    "mentions": 3,
                    "sources": 3,
                },
            )
        start = items[0][0].published_at or now
        for step in range(1, 8):
            conn.execute(
                "INSERT OR REPLACE INTO snapshots (post_id, at, likes, shares, comments, views) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    top,
                    isoformat(start + timedelta(hours=step)),
                    40 * step**2,
                    12 * step**2,
                    9 * step**2,
                    2000 * step**2,
                ),
            )
        for index, post_id in enumerate(ids):
            post = items[index][0]
            negative = (
                "refund" in post.text
                or "Anwalt" in post.text
                or "nobody" in post.title
                or index in (0, 3)
            )
            sentiment = "negative" if negative else rng.choice(["neutral", "positive"])
            p_neg = 0.9 if negative else 0.1
            cues = [{"name": c, "span": c} for c in rng.sample(_CUES, 2)] if negative else []
            risk = round(
                (0.95 if index == 0 else rng.uniform(0.3, 0.85))
                if negative
                else rng.uniform(0.0, 0.3),
                3,
            )
            when = isoformat(now - timedelta(hours=9))
            _insert(
                store,
                "assessments",
                {
                    "post_id": post_id,
                    "model_id": "sample",
                    "model_version": "1",
                    "assessed_at": when,
                    "lang": post.lang,
                    "sentiment": sentiment,
                    "p_negative": p_neg,
                    "p_neutral": (1 - p_neg) / 2,
                    "p_positive": (1 - p_neg) / 2,
                    "complaint": 0.85 if negative else 0.05,
                    "risk": risk,
                    "cues": json.dumps(cues),
                },
            )
            if has_table(conn, "risk_scores"):
                published = post.published_at or now
                for step, factor in enumerate((0.5, 0.8, 1.0)):
                    value = round(risk * factor, 3)
                    severity = (
                        "critical"
                        if value >= 0.8
                        else "warning"
                        if value >= 0.5
                        else "info"
                        if value >= 0.2
                        else None
                    )
                    _insert(
                        store,
                        "risk_scores",
                        {
                            "post_id": post_id,
                            "brand": items[index][1][0],
                            "at": isoformat(published + timedelta(hours=step * 2)),
                            "kind": "post",
                            "risk": value,
                            "severity": severity,
                            "harm": p_neg,
                            "reach": 0.5,
                            "spread": 0.3 * step,
                            "reasons": json.dumps(
                                [
                                    f"negative complaint ({p_neg:.0%})",
                                    f"{post.author_followers} followers",
                                    f"{step + 1} sources",
                                ]
                            ),
                            "components": json.dumps({"harm": p_neg, "step": step}),
                        },
                    )
        if has_table(conn, "bursts"):
            for hour in (30, 31, 80):
                _insert(
                    store,
                    "bursts",
                    {
                        "brand": "Aurora Air",
                        "series": "all",
                        "hour": isoformat(
                            (now - timedelta(hours=hour)).replace(minute=0, second=0, microsecond=0)
                        ),
                        "kind": "spike",
                        "count": 12,
                        "expected": 2.0,
                        "p_value": 0.001,
                        "cusum": 4.0,
                        "is_competitor": 0,
                        "post_id": top,
                        "detected_at": isoformat(now - timedelta(hours=hour - 1)),
                    },
                )
    alert_ids: list[int] = []
    if has_table(store.conn, "alerts"):
        with store.transaction():
            for n, post_id in enumerate((ids[0], ids[1])):
                stamp = isoformat(now - timedelta(hours=2 - n))
                alert_id = _insert(
                    store,
                    "alerts",
                    {
                        "group_key": f"Aurora Air|story|{post_id}",
                        "brand": "Aurora Air",
                        "kind": "story" if n == 0 else "post",
                        "severity": "critical" if n == 0 else "warning",
                        "status": "firing",
                        "route": "/pr",
                        "receiver": "pr-team",
                        "receivers": json.dumps(["pr-team"]),
                        "labels": json.dumps({"brand": "Aurora Air"}),
                        "first_post_id": post_id,
                        "story_id": "st-guitar" if n == 0 else None,
                        "risk": 0.95 if n == 0 else 0.6,
                        "reasons": json.dumps(["angry customer story", "picked up by 3 sources"]),
                        "state": "{}",
                        "event_count": 1,
                        "group_wait": 30.0,
                        "group_interval": 300.0,
                        "repeat_interval": 3600.0,
                        "created_at": stamp,
                        "updated_at": stamp,
                        "last_event_at": stamp,
                    },
                )
                alert_ids.append(alert_id)
                if has_table(store.conn, "alert_events"):
                    _insert(
                        store,
                        "alert_events",
                        {
                            "alert_id": alert_id,
                            "at": stamp,
                            "kind": "fired",
                            "actor": "system",
                            "post_id": post_id,
                            "detail": "{}",
                        },
                    )
    return SampleArchive(tuple(ids), ids[3], top, tuple(alert_ids))
