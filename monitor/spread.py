"""Spread: one story seen on more sources, in more languages, and picked up by the news.

A story (the collectors' near-duplicate cluster; a post on its own is a story of one) is
summarised by its mentions. Spread is ``1 − exp(−z)`` with::

    z = source_weight · (sources − 1) + language_weight · (languages − 1)
      + news_weight · news sites + mention_weight · (mentions − 1)
      + news_after_social   (when the first news mention came after the first social one)

News pickup after social posts is the classic escalation path (a customer's post, then a
journalist's article), so it weighs most.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from monitor.risk_settings import SpreadSettings

__all__ = ["Mention", "Spread", "spread_of"]


@dataclass(frozen=True, slots=True)
class Mention:
    """One post of a story, as far as spread is concerned."""

    source: str
    lang: str | None
    site: str | None
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class Spread:
    score: float  # 0..1
    mentions: int
    sources: tuple[str, ...]
    languages: tuple[str, ...]
    news_sites: tuple[str, ...]
    news_after_social: bool


def spread_of(mentions: Iterable[Mention], settings: SpreadSettings) -> Spread:
    """Summarise a story's mentions into a :class:`Spread` (empty input → score 0)."""
    items = sorted(mentions, key=lambda m: m.seen_at)
    if not items:
        return Spread(0.0, 0, (), (), (), False)
    news = set(settings.news_sources)
    sources = tuple(dict.fromkeys(m.source for m in items))
    languages = tuple(dict.fromkeys(m.lang for m in items if m.lang))
    news_sites = tuple(dict.fromkeys((m.site or m.source) for m in items if m.source in news))
    first_social = next((m.seen_at for m in items if m.source not in news), None)
    first_news = next((m.seen_at for m in items if m.source in news), None)
    after = first_social is not None and first_news is not None and first_news > first_social
    z = (
        settings.source_weight * max(len(sources) - 1, 0)
        + settings.language_weight * max(len(languages) - 1, 0)
        + settings.news_weight * len(news_sites)
        + settings.mention_weight * max(len(items) - 1, 0)
        + (settings.news_after_social if after else 0.0)
    )
    # A lone news article is not spread by itself: it is the story's origin.
    if len(items) == 1:
        z = 0.0
    return Spread(1.0 - math.exp(-z), len(items), sources, languages, news_sites, after)
