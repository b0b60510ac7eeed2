"""The table of source types. Adding a source is adding one module and one line here.

Third-party packages can add types through the ``groundswell.sources`` entry point group.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sources.base import Collector

__all__ = ["UnknownSourceType", "collector_class", "known_types"]

BUILTIN = MappingProxyType(
    {
        "rss": "sources.rss:RssCollector",
        "google_news": "sources.google_news:GoogleNewsCollector",
        "youtube": "sources.youtube:YouTubeCollector",
        "appstore": "sources.appstore:AppStoreCollector",
        "hackernews": "sources.hackernews:HackerNewsCollector",
        "reddit": "sources.reddit:RedditCollector",
        "mastodon": "sources.mastodon:MastodonCollector",
        "bluesky": "sources.bluesky:BlueskyCollector",
        "lemmy": "sources.lemmy:LemmyCollector",
    }
)


class UnknownSourceType(KeyError):
    pass


def _table() -> dict[str, str]:
    table = dict(BUILTIN)
    for entry in entry_points(group="groundswell.sources"):
        table.setdefault(entry.name, entry.value)
    return table


def known_types() -> list[str]:
    return sorted(_table())


def collector_class(kind: str) -> type[Collector]:
    target = _table().get(kind)
    if target is None:
        raise UnknownSourceType(kind)
    module_name, _, attr = target.partition(":")
    cls: type[Collector] = getattr(importlib.import_module(module_name), attr)
    return cls
