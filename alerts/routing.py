"""The routing tree: which receivers (teams) get an alert, decided on its labels.

Alertmanager semantics: the root matches everything; at each node the children are tried in
order, the first match wins unless it says ``continue = true``; a node none of whose children
match is itself the destination. Pure functions of settings and labels, so replay can report the
route without an archive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alerts.matchers import matches_all
from alerts.settings import AlertSettings, Receiver, Route

__all__ = ["RouteMatch", "route_for", "route_matches"]


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route  # the matched node, with inherited receiver and timers

    @property
    def receiver(self) -> str:
        return self.route.receiver


def _walk(route: Route, labels: Mapping[str, str]) -> list[Route]:
    found: list[Route] = []
    for child in route.routes:
        if not matches_all(child.matchers, labels):
            continue
        found.extend(_walk(child, labels))
        if not child.continue_matching:
            break
    return found or [route]


def route_matches(settings: AlertSettings, labels: Mapping[str, str]) -> list[RouteMatch]:
    """Every matched route node, in tree order (duplicate receivers removed)."""
    seen: set[str] = set()
    result = []
    for node in _walk(settings.route, labels):
        if node.receiver in seen:
            continue
        seen.add(node.receiver)
        result.append(RouteMatch(node))
    return result


def route_for(settings: AlertSettings, labels: Mapping[str, str]) -> list[Receiver]:
    """The receivers an alert with these labels goes to (first match / continue)."""
    return [
        settings.receivers[match.receiver]
        for match in route_matches(settings, labels)
        if match.receiver in settings.receivers
    ]
