"""Shared helpers for the alert tests (no tests here): configs, events, an injectable clock."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from monitor.config import Config, parse_config
from monitor.events import RiskEvent

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now = self.now + timedelta(seconds=seconds)
        return self.now


def make_config(alerts: dict[str, Any] | None = None) -> Config:
    raw: dict[str, Any] = {"brands": [{"name": "Acme"}, {"name": "Globex"}]}
    if alerts is not None:
        raw["alerts"] = alerts
    return parse_config(raw, "<test>", validate_sources=False)


def event(
    post_id: str = "rss:1",
    *,
    brand: str = "Acme",
    severity: str = "warning",
    risk: float = 0.6,
    kind: str = "post",
    story: str | None = None,
    source: str | None = "rss",
    lang: str | None = "en",
    cues: tuple[str, ...] = (),
    at: datetime = T0,
    competitor: bool = False,
    reasons: tuple[str, ...] = ("negative, specific complaint",),
    **extra: str,
) -> RiskEvent:
    return RiskEvent(
        kind=kind,  # type: ignore[arg-type]
        brand=brand,
        post_id=post_id,
        at=at,
        risk=risk,
        severity=severity,  # type: ignore[arg-type]
        reasons=reasons,
        story_id=story,
        source=source,
        lang=lang,
        cues=cues,
        is_competitor=competitor,
        extra_labels=MappingProxyType(dict(extra)),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
