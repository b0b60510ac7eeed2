"""What reviewers do to a post: assign, acknowledge, resolve, mark false positive, snooze, note,
and correct the model's label. Each action is one transaction that updates the review state,
the inbox index and the audit log together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.records import isoformat, utcnow
from monitor.store import Store
from monitor.web.schema import columns, has_table

__all__ = [
    "LABEL_SENTIMENTS",
    "ReviewError",
    "ReviewState",
    "add_note",
    "audit",
    "correct_label",
    "notes",
    "review_state",
    "set_status",
    "snooze",
]

LABEL_SENTIMENTS = ("negative", "neutral", "positive")
_STATUS_ACTIONS = {
    "assigned": "review.assign",
    "acknowledged": "review.ack",
    "resolved": "review.resolve",
    "false_positive": "review.false_positive",
    "new": "review.reopen",
}
MAX_NOTE = 4000


class ReviewError(ValueError):
    """An action that cannot be applied (unknown post, bad value)."""


@dataclass(frozen=True, slots=True)
class ReviewState:
    post_id: str
    status: str = "new"
    assignee: str | None = None
    snoozed_until: str | None = None
    label_sentiment: str | None = None
    label_complaint: int | None = None
    updated_by: str | None = None
    updated_at: str | None = None


def audit(
    store: Store, actor: str, action: str, subject: str, before: Any = None, after: Any = None
) -> None:
    """Append to the audit log when the audit module is installed (inside the open transaction)."""
    try:
        from monitor.audit import record
    except ImportError:
        return
    record(store, actor=actor, action=action, subject=subject, before=before, after=after)


def review_state(store: Store, post_id: str) -> ReviewState:
    """The current review state of a post (``new`` when nobody touched it yet)."""
    row = store.conn.execute(
        "SELECT status, assignee, snoozed_until, label_sentiment, label_complaint, updated_by, "
        "updated_at FROM reviews WHERE post_id = ?",
        (post_id,),
    ).fetchone()
    return ReviewState(post_id, *row) if row else ReviewState(post_id)


def _require_post(store: Store, post_id: str) -> None:
    if store.conn.execute("SELECT 1 FROM posts WHERE id = ?", (post_id,)).fetchone() is None:
        raise ReviewError(f"no post {post_id!r}")


def _write(store: Store, state: ReviewState, actor: str, now: datetime) -> None:
    stamp = isoformat(now)
    store.conn.execute(
        "INSERT INTO reviews (post_id, status, assignee, snoozed_until, label_sentiment, "
        "label_complaint, labelled_by, labelled_at, updated_by, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?) ON CONFLICT(post_id) DO UPDATE SET "
        "status = excluded.status, assignee = excluded.assignee, "
        "snoozed_until = excluded.snoozed_until, updated_by = excluded.updated_by, "
        "updated_at = excluded.updated_at",
        (
            state.post_id,
            state.status,
            state.assignee,
            state.snoozed_until,
            state.label_sentiment,
            state.label_complaint,
            actor,
            stamp,
        ),
    )
    store.conn.execute(
        "UPDATE inbox SET status = ?, assignee = ?, snoozed_until = ? WHERE post_id = ?",
        (state.status, state.assignee, state.snoozed_until, state.post_id),
    )


def _summary(state: ReviewState) -> dict[str, Any]:
    return {
        "status": state.status,
        "assignee": state.assignee,
        "snoozed_until": state.snoozed_until,
    }


def set_status(
    store: Store,
    post_id: str,
    status: str,
    actor: str,
    *,
    assignee: str | None = None,
    now: datetime | None = None,
) -> ReviewState:
    """Move a post to ``status`` (assigning sets the assignee; resolving clears a snooze)."""
    if status not in _STATUS_ACTIONS:
        raise ReviewError(f"unknown status {status!r}")
    now = now or utcnow()
    with store.transaction():
        _require_post(store, post_id)
        before = review_state(store, post_id)
        after = ReviewState(
            post_id,
            status,
            (assignee or actor) if status == "assigned" else before.assignee,
            None if status in ("resolved", "false_positive", "new") else before.snoozed_until,
            before.label_sentiment,
            before.label_complaint,
        )
        _write(store, after, actor, now)
        audit(
            store,
            actor,
            _STATUS_ACTIONS[status],
            f"post:{post_id}",
            _summary(before),
            _summary(after),
        )
    return review_state(store, post_id)


def snooze(
    store: Store, post_id: str, actor: str, duration: timedelta, now: datetime | None = None
) -> ReviewState:
    """Hide a post from the open inbox until ``now + duration``."""
    if not timedelta(minutes=1) <= duration <= timedelta(days=90):
        raise ReviewError("snooze between one minute and 90 days")
    now = now or utcnow()
    with store.transaction():
        _require_post(store, post_id)
        before = review_state(store, post_id)
        after = ReviewState(
            post_id,
            before.status if before.status not in ("resolved", "false_positive") else "new",
            before.assignee,
            isoformat(now + duration),
            before.label_sentiment,
            before.label_complaint,
        )
        _write(store, after, actor, now)
        audit(store, actor, "review.snooze", f"post:{post_id}", _summary(before), _summary(after))
    return review_state(store, post_id)


def add_note(store: Store, post_id: str, actor: str, text: str, now: datetime | None = None) -> int:
    """Attach a note to a post; returns its id."""
    text = text.strip()
    if not text:
        raise ReviewError("a note needs some text")
    if len(text) > MAX_NOTE:
        raise ReviewError(f"notes are at most {MAX_NOTE} characters")
    now = now or utcnow()
    with store.transaction() as conn:
        _require_post(store, post_id)
        cursor = conn.execute(
            "INSERT INTO review_notes (post_id, at, author, text) VALUES (?, ?, ?, ?)",
            (post_id, isoformat(now), actor, text),
        )
        audit(store, actor, "review.note", f"post:{post_id}", None, {"note": text})
    return int(cursor.lastrowid or 0)


def notes(store: Store, post_id: str) -> list[dict[str, Any]]:
    """Notes on a post, oldest first."""
    cur = store.conn.execute(
        "SELECT id, at, author, text FROM review_notes WHERE post_id = ? ORDER BY at, id",
        (post_id,),
    )
    return [dict(zip(("id", "at", "author", "text"), row, strict=True)) for row in cur]


def _current_labels(store: Store, post_id: str) -> dict[str, Any]:
    if not has_table(store.conn, "assessments"):
        return {}
    cols = columns(store.conn, "assessments")
    wanted = [
        c for c in ("sentiment", "complaint", "model_id", "model_version", "lang") if c in cols
    ]
    if not wanted:
        return {}
    order = "assessed_at" if "assessed_at" in cols else "rowid"
    row = store.conn.execute(
        f"SELECT {', '.join(wanted)} FROM assessments WHERE post_id = ? ORDER BY {order} DESC LIMIT 1",
        (post_id,),
    ).fetchone()
    return dict(zip(wanted, row, strict=True)) if row else {}


def _feedback_row(
    store: Store, post_id: str, actor: str, sentiment: str, complaint: bool, now: datetime
) -> dict[str, Any] | None:
    """A row for the model's ``label_feedback`` table, or None when its columns are not known."""
    cols = columns(store.conn, "label_feedback")
    if not cols:
        return None
    post = store.conn.execute(
        "SELECT title, text, lang FROM posts WHERE id = ?", (post_id,)
    ).fetchone()
    previous = _current_labels(store, post_id)
    stamp = isoformat(now)
    candidates: dict[str, Any] = {
        "post_id": post_id,
        "sentiment": sentiment,
        "label": sentiment,
        "complaint": int(complaint),
        "is_complaint": int(complaint),
        "actor": actor,
        "user": actor,
        "created_by": actor,
        "labelled_by": actor,
        "reviewer": actor,
        "source": "review-ui",
        "origin": "review-ui",
        "at": stamp,
        "created_at": stamp,
        "labelled_at": stamp,
        "text": ((post[0] or "") + "\n" + (post[1] or "")).strip() if post else None,
        "lang": post[2] if post else None,
        "previous_sentiment": previous.get("sentiment"),
        "model_id": previous.get("model_id"),
        "model_version": previous.get("model_version"),
    }
    info = store.conn.execute("PRAGMA table_info(label_feedback)").fetchall()
    required = {r[1] for r in info if r[3] and r[4] is None and not r[5]}
    row = {name: candidates[name] for name in cols if name in candidates}
    if not required <= set(row) or not any(k in row for k in ("sentiment", "label")):
        return None
    return row


def correct_label(
    store: Store,
    post_id: str,
    actor: str,
    sentiment: str,
    complaint: bool,
    now: datetime | None = None,
) -> str:
    """Store a human label as training feedback; returns the table it went to."""
    if sentiment not in LABEL_SENTIMENTS:
        raise ReviewError(f"sentiment must be one of {', '.join(LABEL_SENTIMENTS)}")
    now = now or utcnow()
    with store.transaction() as conn:
        _require_post(store, post_id)
        before = _current_labels(store, post_id)
        after = {"sentiment": sentiment, "complaint": bool(complaint)}
        row = _feedback_row(store, post_id, actor, sentiment, complaint, now)
        if row is not None:
            names = ", ".join(row)
            conn.execute(
                f"INSERT INTO label_feedback ({names}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
            table = "label_feedback"
        else:
            table = "reviews"
        conn.execute(
            "INSERT INTO reviews (post_id, label_sentiment, label_complaint, labelled_by, "
            "labelled_at, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(post_id) DO UPDATE SET label_sentiment = excluded.label_sentiment, "
            "label_complaint = excluded.label_complaint, labelled_by = excluded.labelled_by, "
            "labelled_at = excluded.labelled_at",
            (post_id, sentiment, int(complaint), actor, isoformat(now), actor, isoformat(now)),
        )
        audit(
            store,
            actor,
            "review.label",
            f"post:{post_id}",
            {k: before.get(k) for k in ("sentiment", "complaint")} if before else None,
            {**after, "stored_in": table},
        )
    return table
