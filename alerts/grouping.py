"""Grouping: one spreading story is one alert thread, and each update says what changed.

A thread keeps an aggregate (:class:`ThreadState`) of every event it absorbed: posts, sources,
languages, cues, severity and risk. Notifications compare the aggregate with what was last
notified, so the message reads "now on 3 sources, news pickup" instead of repeating itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.events import RiskEvent, severity_rank

__all__ = ["NEWS_SOURCES", "ThreadState", "changes", "group_key"]

NEWS_SOURCES = frozenset({"news", "googlenews", "google_news", "gdelt", "newsapi"})
_MAX_POST_IDS = 50  # keep the JSON small; the count stays exact


def group_key(group_by: Iterable[str], labels: Mapping[str, str]) -> str:
    """The dedup key of a thread: the values of the route's ``group_by`` labels."""
    return "|".join(f"{name}={labels.get(name, '')}" for name in group_by)


@dataclass(frozen=True, slots=True)
class ThreadState:
    """What a thread knows so far (stored as JSON in ``alerts.state``)."""

    post_count: int = 0
    post_ids: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()
    cues: tuple[str, ...] = ()
    severity: str = "info"
    risk: float = 0.0
    max_risk: float = 0.0
    reasons: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def add(self, event: RiskEvent) -> ThreadState:
        """The state after absorbing one more event."""
        new_post = event.post_id not in self.post_ids
        post_ids = self.post_ids
        if new_post and len(post_ids) < _MAX_POST_IDS:
            post_ids = (*post_ids, event.post_id)
        severity = (
            event.severity
            if severity_rank(event.severity) > severity_rank(self.severity)
            else self.severity
        )
        return ThreadState(
            post_count=self.post_count + (1 if new_post else 0),
            post_ids=post_ids,
            sources=_union(self.sources, [event.source] if event.source else []),
            langs=_union(self.langs, [event.lang] if event.lang else []),
            cues=_union(self.cues, event.cues),
            severity=severity,
            risk=event.risk,
            max_risk=max(self.max_risk, event.risk),
            reasons=event.reasons or self.reasons,
            extra=self.extra,
        )

    @property
    def news_pickup(self) -> bool:
        return any(source in NEWS_SOURCES for source in self.sources)

    def to_json(self) -> dict[str, Any]:
        return {
            "post_count": self.post_count,
            "post_ids": list(self.post_ids),
            "sources": list(self.sources),
            "langs": list(self.langs),
            "cues": list(self.cues),
            "severity": self.severity,
            "risk": round(self.risk, 4),
            "max_risk": round(self.max_risk, 4),
            "reasons": list(self.reasons),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ThreadState:
        if not data:
            return cls()
        return cls(
            post_count=int(data.get("post_count", 0)),
            post_ids=tuple(data.get("post_ids", ())),
            sources=tuple(data.get("sources", ())),
            langs=tuple(data.get("langs", ())),
            cues=tuple(data.get("cues", ())),
            severity=str(data.get("severity", "info")),
            risk=float(data.get("risk", 0.0)),
            max_risk=float(data.get("max_risk", 0.0)),
            reasons=tuple(data.get("reasons", ())),
        )


def _union(existing: tuple[str, ...], new: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*existing, *new]))


def changes(before: ThreadState | None, after: ThreadState) -> list[str]:
    """What a notification should say changed since ``before`` (empty: nothing material)."""
    if before is None or before.post_count == 0:
        return []
    said: list[str] = []
    if severity_rank(after.severity) > severity_rank(before.severity):
        said.append(f"severity {before.severity} → {after.severity}")
    if len(after.sources) > len(before.sources):
        said.append(f"now on {len(after.sources)} sources")
    if after.news_pickup and not before.news_pickup:
        said.append("news pickup")
    if after.post_count > before.post_count:
        said.append(f"{after.post_count} posts (+{after.post_count - before.post_count})")
    new_cues = [cue for cue in after.cues if cue not in before.cues]
    if new_cues:
        said.append("new cue: " + ", ".join(new_cues))
    new_langs = [lang for lang in after.langs if lang not in before.langs]
    if new_langs:
        said.append("now also in " + ", ".join(new_langs))
    if after.max_risk >= before.max_risk + 0.1:
        said.append(f"risk {before.max_risk:.2f} → {after.max_risk:.2f}")
    return said
