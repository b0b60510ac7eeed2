"""The hand-off between scoring and alerting: a :class:`RiskEvent` says "this deserves attention".

Scoring (``monitor/risk.py``, bursts) produces events; ``alerts/`` turns them into alert threads,
routes, groups, silences and deliveries. Replay feeds the same events through the same engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal

__all__ = ["SEVERITIES", "EventKind", "RiskEvent", "Severity", "severity_rank"]

Severity = Literal["info", "warning", "critical"]
EventKind = Literal["post", "story", "burst"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1  # type: ignore[arg-type,unused-ignore]


@dataclass(frozen=True, slots=True)
class RiskEvent:
    """One scored item (a post, a story across sources, or a brand-level burst) at one moment."""

    kind: EventKind
    brand: str
    post_id: str  # for a burst: the most representative post
    at: datetime  # when the score was computed (simulated time in replay)
    risk: float  # 0..1
    severity: Severity
    reasons: tuple[str, ...] = ()
    story_id: str | None = None
    source: str | None = None
    lang: str | None = None
    cues: tuple[str, ...] = ()
    is_competitor: bool = False
    # Extra labels for routing/grouping (team hints, sentiment, …); the standard ones are derived.
    extra_labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def group_key(self) -> str:
        """One spreading story is one alert thread: group by story (else post) and brand."""
        return f"{self.brand}|{self.kind if self.kind == 'burst' else 'story'}|{self.story_id or self.post_id}"

    def labels(self) -> dict[str, str]:
        labels = {
            "brand": self.brand,
            "kind": self.kind,
            "severity": self.severity,
            "source": self.source or "",
            "lang": self.lang or "",
            "cues": ",".join(self.cues),
            "competitor": "true" if self.is_competitor else "false",
        }
        labels.update(self.extra_labels)
        return labels
