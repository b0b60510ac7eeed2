"""Alert rules: which risk events deserve an alert, and which labels they carry for routing."""

from __future__ import annotations

from dataclasses import dataclass

from alerts.matchers import matches_all
from alerts.settings import AlertSettings, Rule
from monitor.events import RiskEvent, severity_rank

__all__ = ["RuleMatch", "evaluate", "event_labels"]


@dataclass(frozen=True, slots=True)
class RuleMatch:
    rule: Rule
    labels: dict[str, str]


def event_labels(event: RiskEvent) -> dict[str, str]:
    """The event's routing labels plus ``story``: the thread it belongs to within its brand."""
    labels = event.labels()
    if event.kind == "burst":
        story = "burst:" + (event.extra_labels.get("burst_id") or event.post_id)
    else:
        story = event.story_id or event.post_id
    labels.setdefault("story", story)
    return labels


def evaluate(settings: AlertSettings, event: RiskEvent) -> RuleMatch | None:
    """The first rule the event satisfies (with its labels added), or None: no alert."""
    labels = event_labels(event)
    rank = severity_rank(event.severity)
    for rule in settings.rules:
        if rank < severity_rank(rule.min_severity) or event.risk < rule.min_risk:
            continue
        if not matches_all(rule.matchers, labels):
            continue
        merged = {**labels, **rule.labels, "rule": rule.name}
        return RuleMatch(rule, merged)
    return None
