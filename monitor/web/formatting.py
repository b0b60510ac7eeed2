"""Jinja filters: times, numbers and percentages shown the same way on every page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitor.records import parse_iso

__all__ = ["FILTERS"]


def when(value: Any) -> str:
    """ISO time → ``2024-05-01 13:45 UTC`` (unchanged when it cannot be read)."""
    if not value:
        return ""
    try:
        return parse_iso(str(value)).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(value)


def number(value: Any) -> str:
    """Large counts with thin grouping: 12 345, or 1.2M."""
    if value is None or value == "":
        return "–"
    try:
        n = float(value)
    except (TypeError, ValueError):
        return str(value)
    if abs(n) >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if abs(n) >= 10_000:
        return f"{n / 1000:.0f}k"
    return f"{n:,.0f}".replace(",", " ") if n == int(n) else f"{n:.1f}"


def percent(value: Any) -> str:
    if value is None:
        return "–"
    try:
        return f"{float(value) * 100:.0f}%"
    except (TypeError, ValueError):
        return str(value)


def risk(value: Any) -> str:
    if value is None:
        return "–"
    try:
        return f"{float(value):.2f}"
    except (TypeError, ValueError):
        return str(value)


def shorten(value: Any, length: int = 220) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def safe_url(value: Any) -> str:
    """Only http(s) links are rendered as links; ``javascript:`` and friends become ``#``."""
    text = str(value or "").strip()
    return text if text.lower().startswith(("http://", "https://")) else "#"


FILTERS: dict[str, Callable[..., str]] = {
    "when": when,
    "number": number,
    "percent": percent,
    "risk": risk,
    "shorten": shorten,
    "safe_url": safe_url,
}
