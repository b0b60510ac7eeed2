"""Inhibition: while a brand-level burst fires, single posts about the same outage stay quiet."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from alerts.matchers import matches_all
from alerts.settings import InhibitRule

__all__ = ["inhibited_by"]


def inhibited_by(
    rules: Iterable[InhibitRule],
    labels: Mapping[str, str],
    firing: Iterable[Mapping[str, str]],
) -> tuple[InhibitRule, Mapping[str, str]] | None:
    """The rule and the firing source alert's labels that inhibit ``labels``, or None."""
    sources = list(firing)
    for rule in rules:
        if not matches_all(rule.target_matchers, labels):
            continue
        for source in sources:
            if source is labels or not matches_all(rule.source_matchers, source):
                continue
            if all(source.get(name, "") == labels.get(name, "") for name in rule.equal):
                return rule, source
    return None
