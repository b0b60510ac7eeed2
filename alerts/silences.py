"""Silences: "stop telling me about this" for a while, with a creator and a reason on record."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from alerts.journal import audit
from alerts.matchers import Matcher, matches_all, parse_matchers
from monitor.records import isoformat, parse_iso
from monitor.store import Store

__all__ = [
    "Silence",
    "SilenceError",
    "active_silences",
    "create_silence",
    "expire_silence",
    "list_silences",
    "silenced_by",
]


class SilenceError(ValueError):
    """A silence that cannot be created or lifted."""


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    expired_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        end = self.expired_at or self.ends_at
        return self.starts_at <= now < end

    def matches(self, labels: Mapping[str, str]) -> bool:
        return matches_all(self.matchers, labels)

    def describe(self) -> str:
        return ", ".join(str(m) for m in self.matchers)


_COLUMNS = "id, matchers, starts_at, ends_at, created_by, comment, created_at, expired_at"


def _from_row(row: tuple) -> Silence:
    sid, matchers, starts, ends, creator, comment, created, expired = row
    return Silence(
        int(sid),
        parse_matchers(json.loads(matchers)),
        parse_iso(starts),
        parse_iso(ends),
        creator,
        comment,
        parse_iso(created),
        parse_iso(expired) if expired else None,
    )


def create_silence(
    store: Store,
    matchers: Iterable[str],
    *,
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    comment: str,
    now: datetime,
) -> Silence:
    """Store a silence; every matcher must parse and the window must end after it starts."""
    texts = [m.strip() for m in matchers if m.strip()]
    if not texts:
        raise SilenceError("a silence needs at least one matcher, e.g. brand=Acme")
    parsed = parse_matchers(texts)
    if ends_at <= starts_at:
        raise SilenceError("a silence must end after it starts")
    if not created_by.strip():
        raise SilenceError("a silence needs a creator")
    if not comment.strip():
        raise SilenceError("a silence needs a comment saying why")
    with store.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO silences (matchers, starts_at, ends_at, created_by, comment, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                json.dumps(texts),
                isoformat(starts_at),
                isoformat(ends_at),
                created_by,
                comment,
                isoformat(now),
            ),
        )
        silence_id = int(cursor.lastrowid or 0)
        audit(
            store,
            "silence.create",
            f"silence:{silence_id}",
            actor=created_by,
            after={
                "matchers": texts,
                "starts_at": isoformat(starts_at),
                "ends_at": isoformat(ends_at),
                "comment": comment,
            },
            at=now,
        )
    return Silence(silence_id, parsed, starts_at, ends_at, created_by, comment, now)


def expire_silence(store: Store, silence_id: int, *, actor: str, now: datetime) -> Silence:
    """Lift a silence now."""
    with store.transaction() as conn:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM silences WHERE id = ?", (silence_id,)
        ).fetchone()
        if row is None:
            raise SilenceError(f"no silence with id {silence_id}")
        silence = _from_row(row)
        if not silence.active(now) and silence.starts_at <= now:
            raise SilenceError(f"silence {silence_id} is not active")
        conn.execute(
            "UPDATE silences SET expired_at = ? WHERE id = ?", (isoformat(now), silence_id)
        )
        audit(store, "silence.expire", f"silence:{silence_id}", actor=actor, at=now)
    return Silence(
        silence.id,
        silence.matchers,
        silence.starts_at,
        silence.ends_at,
        silence.created_by,
        silence.comment,
        silence.created_at,
        now,
    )


def list_silences(store: Store, now: datetime, include_expired: bool = False) -> list[Silence]:
    """Silences that are active or pending (and, on request, the expired ones too)."""
    rows = store.conn.execute(f"SELECT {_COLUMNS} FROM silences ORDER BY id").fetchall()
    silences = [_from_row(row) for row in rows]
    if include_expired:
        return silences
    return [s for s in silences if (s.expired_at or s.ends_at) > now]


def active_silences(store: Store, now: datetime) -> list[Silence]:
    """Silences in force at ``now``."""
    stamp = isoformat(now)
    rows = store.conn.execute(
        f"SELECT {_COLUMNS} FROM silences WHERE starts_at <= ? AND ends_at > ? "
        "AND (expired_at IS NULL OR expired_at > ?) ORDER BY id",
        (stamp, stamp, stamp),
    ).fetchall()
    return [_from_row(row) for row in rows]


def silenced_by(silences: Iterable[Silence], labels: Mapping[str, str]) -> Silence | None:
    """The first silence that matches ``labels``, if any."""
    for silence in silences:
        if silence.matches(labels):
            return silence
    return None
