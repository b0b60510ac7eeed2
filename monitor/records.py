"""Records that flow through the pipeline: a collected post and one engagement snapshot."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Post", "Snapshot", "isoformat", "parse_iso", "utcnow"]


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the default clock)."""
    return datetime.now(UTC)


def isoformat(moment: datetime) -> str:
    """Store timestamps as ISO 8601 UTC with a ``Z`` so they sort as text."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: timestamps must carry a zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp with a zone (``Z`` or ``+01:00``) into aware UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no zone")
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Cumulative engagement counts of one post at one moment; ``None`` = not reported."""

    at: datetime
    likes: int | None = None
    shares: int | None = None
    comments: int | None = None
    views: int | None = None

    def counts(self) -> tuple[int | None, int | None, int | None, int | None]:
        return (self.likes, self.shares, self.comments, self.views)

    def has_counts(self) -> bool:
        return any(value is not None for value in self.counts())


@dataclass(frozen=True, slots=True)
class Post:
    """One item a collector saw: a news article, a feed entry, a social post, a review.

    ``source`` is the source *type* (``rss``, ``reddit`` …); ``native_id`` is the source's own
    dedup key, so ``id`` = ``"{source}:{native_id}"`` is stable across polls.
    """

    source: str
    native_id: str
    title: str = ""
    text: str = ""
    url: str | None = None
    author: str | None = None
    author_followers: int | None = None
    published_at: datetime | None = None
    lang: str | None = None
    site: str | None = None
    source_name: str | None = None
    raw_date: str | None = None
    engagement: Snapshot | None = None
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.source}:{self.native_id}"

    def content_hash(self) -> str:
        """Hash of what the post says, to notice edits and exact copies."""
        digest = hashlib.sha256()
        digest.update(self.title.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
        digest.update(self.text.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()
