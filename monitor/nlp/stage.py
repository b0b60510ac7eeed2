"""Pipeline stage: classify posts that have no assessment from the current model version."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from monitor.nlp.engine import Assessment

__all__ = ["assessment_row", "classify_pending", "reclassify_since", "save_assessments"]


class _Classifier(Protocol):
    model_id: str
    model_version: str

    def classify(
        self, texts: Sequence[str], langs: Sequence[str | None] | None = None
    ) -> list[Assessment]: ...


def _utcnow_iso() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _post_text(title: str | None, text: str | None) -> str:
    parts = [p.strip() for p in (title, text) if p and p.strip()]
    return "\n".join(parts)


def assessment_row(post_id: str, a: Assessment, assessed_at: str) -> dict[str, Any]:
    """The ``assessments`` row for one assessment."""
    return {
        "post_id": post_id,
        "model_id": a.model_id,
        "model_version": a.model_version,
        "assessed_at": assessed_at,
        "lang": a.lang,
        "sentiment": a.sentiment,
        "p_negative": a.scores.get("negative"),
        "p_neutral": a.scores.get("neutral"),
        "p_positive": a.scores.get("positive"),
        "complaint": a.complaint,
        "risk": a.risk,
        "cues": json.dumps(
            [{"name": c.name, "span": c.span, "start": c.start, "end": c.end} for c in a.cues],
            ensure_ascii=False,
        ),
    }


def save_assessments(
    store: Any,
    rows: Sequence[tuple[str, str | None, Assessment]],
    *,
    now: Callable[[], str] = _utcnow_iso,
) -> None:
    """Store (post_id, original lang, assessment) triples; fill NULL ``posts.lang``."""
    at = now()
    with store.transaction() as conn:
        for post_id, lang, a in rows:
            row = assessment_row(post_id, a, at)
            conn.execute(
                "INSERT OR REPLACE INTO assessments (post_id, model_id, model_version, "
                "assessed_at, lang, sentiment, p_negative, p_neutral, p_positive, complaint, "
                "risk, cues) VALUES (:post_id, :model_id, :model_version, :assessed_at, :lang, "
                ":sentiment, :p_negative, :p_neutral, :p_positive, :complaint, :risk, :cues)",
                row,
            )
            if lang is None and a.lang:
                conn.execute(
                    "UPDATE posts SET lang = ? WHERE id = ? AND lang IS NULL", (a.lang, post_id)
                )


def _run(
    store: Any,
    classifier: _Classifier,
    query: str,
    params: Sequence[Any],
    batch_size: int,
    limit: int | None,
    now: Callable[[], str],
) -> int:
    done = 0
    while limit is None or done < limit:
        take = batch_size if limit is None else min(batch_size, limit - done)
        rows = store.conn.execute(query + " LIMIT ?", (*params, take)).fetchall()
        if not rows:
            break
        texts = [_post_text(r[1], r[2]) for r in rows]
        langs = [r[3] for r in rows]
        results = classifier.classify(texts, langs)
        save_assessments(
            store, [(r[0], r[3], a) for r, a in zip(rows, results, strict=True)], now=now
        )
        done += len(rows)
        if len(rows) < take:
            break
    return done


def classify_pending(
    store: Any,
    classifier: _Classifier,
    *,
    batch_size: int = 64,
    limit: int | None = None,
    now: Callable[[], str] = _utcnow_iso,
    first_risk: float | None = None,
    first_since: str | None = None,
) -> int:
    """Classify posts (title + text) with no assessment from this model version.

    Order, for when the model is behind: first, with ``first_risk``, the posts that scoring has
    already put at or above that risk (from the lexicon, since ``first_since``), riskiest first:
    whether they alert, and how loudly, now waits on the model. Then the newest posts, because
    a fresh complaint matters more to early warning than yesterday's chatter; older ones are
    taken as the model catches up (``reclassify --since`` re-runs any range on demand).
    Fills ``posts.lang`` where it was NULL and returns how many posts were assessed.
    """
    params: tuple[Any, ...] = (classifier.model_id, classifier.model_version)
    done = 0
    if first_risk is not None:
        flagged = (
            "SELECT p.id, p.title, p.text, p.lang FROM posts p JOIN ("
            "SELECT post_id, max(risk) AS top FROM risk_scores WHERE risk >= ? AND at >= ? "
            "GROUP BY post_id) r ON r.post_id = p.id WHERE NOT EXISTS ("
            "SELECT 1 FROM assessments a WHERE a.post_id = p.id AND a.model_id = ? "
            "AND a.model_version = ?) ORDER BY r.top DESC, p.id"
        )
        done = _run(
            store,
            classifier,
            flagged,
            (first_risk, first_since or "", *params),
            batch_size,
            limit,
            now,
        )
        if limit is not None:
            limit -= done
            if limit <= 0:
                return done
    query = (
        "SELECT p.id, p.title, p.text, p.lang FROM posts p WHERE NOT EXISTS ("
        "SELECT 1 FROM assessments a WHERE a.post_id = p.id AND a.model_id = ? "
        "AND a.model_version = ?) ORDER BY p.first_seen_at DESC, p.id DESC"
    )
    return done + _run(store, classifier, query, params, batch_size, limit, now)


def reclassify_since(
    store: Any,
    classifier: _Classifier,
    since: str,
    *,
    batch_size: int = 64,
    limit: int | None = None,
    now: Callable[[], str] = _utcnow_iso,
) -> int:
    """Assess posts published at or after ``since`` that this model version has not seen.

    Earlier versions' rows stay, so the archive keeps every model's verdict.
    """
    query = (
        "SELECT p.id, p.title, p.text, p.lang FROM posts p WHERE p.published_at >= ? "
        "AND NOT EXISTS (SELECT 1 FROM assessments a WHERE a.post_id = p.id "
        "AND a.model_id = ? AND a.model_version = ?) ORDER BY p.published_at, p.id"
    )
    params = (since, classifier.model_id, classifier.model_version)
    return _run(store, classifier, query, params, batch_size, limit, now)
