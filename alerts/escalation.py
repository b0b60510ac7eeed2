"""Escalation: when nobody acknowledges in time, the next level (``escalate_to``) is told."""

from __future__ import annotations

from datetime import datetime, timedelta

from alerts.settings import AlertSettings

__all__ = ["chain", "next_escalation"]


def chain(settings: AlertSettings, receiver: str) -> list[str]:
    """The receiver followed by its ``escalate_to`` successors (cycles cut)."""
    names = [receiver]
    current = settings.receivers.get(receiver)
    while current is not None and current.escalate_to and current.escalate_to not in names:
        names.append(current.escalate_to)
        current = settings.receivers.get(current.escalate_to)
    return names


def next_escalation(
    settings: AlertSettings,
    receiver: str,
    level: int,
    since: datetime | None,
    now: datetime,
) -> str | None:
    """The receiver to escalate to at ``now``, or None.

    ``level`` is how many times the alert was escalated, ``since`` when the current level was
    first told (first notification or last escalation).
    """
    if since is None:
        return None
    names = chain(settings, receiver)
    if level + 1 >= len(names):
        return None
    current = settings.receivers.get(names[level])
    if current is None or current.escalate_after is None:
        return None
    if now < since + timedelta(seconds=current.escalate_after):
        return None
    return names[level + 1]
