"""Dates as feeds really write them, including localized RFC 822 (``Seg, 24 Set 2018``)."""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime

__all__ = ["parse_date"]

# Month and weekday abbreviations in the languages feeds most often localize, mapped to English.
_MONTHS = {
    "jan": "Jan",
    "janv": "Jan",
    "ene": "Jan",
    "gen": "Jan",
    "sty": "Jan",
    "янв": "Jan",
    "jän": "Jan",
    "feb": "Feb",
    "fév": "Feb",
    "fev": "Feb",
    "févr": "Feb",
    "lut": "Feb",
    "фев": "Feb",
    "mar": "Mar",
    "mär": "Mar",
    "mars": "Mar",
    "mrz": "Mar",
    "мар": "Mar",
    "maart": "Mar",
    "apr": "Apr",
    "abr": "Apr",
    "avr": "Apr",
    "kwi": "Apr",
    "апр": "Apr",
    "may": "May",
    "mai": "May",
    "mag": "May",
    "maj": "May",
    "mei": "May",
    "мая": "May",
    "май": "May",
    "jun": "Jun",
    "juin": "Jun",
    "giu": "Jun",
    "cze": "Jun",
    "июн": "Jun",
    "jul": "Jul",
    "juil": "Jul",
    "lug": "Jul",
    "lip": "Jul",
    "июл": "Jul",
    "aug": "Aug",
    "ago": "Aug",
    "août": "Aug",
    "aou": "Aug",
    "sie": "Aug",
    "авг": "Aug",
    "sep": "Sep",
    "set": "Sep",
    "sept": "Sep",
    "wrz": "Sep",
    "сен": "Sep",
    "oct": "Oct",
    "okt": "Oct",
    "out": "Oct",
    "ott": "Oct",
    "paź": "Oct",
    "paz": "Oct",
    "окт": "Oct",
    "nov": "Nov",
    "lis": "Nov",
    "ноя": "Nov",
    "dec": "Dec",
    "dez": "Dec",
    "dic": "Dec",
    "déc": "Dec",
    "gru": "Dec",
    "дек": "Dec",
}
_WEEKDAY = re.compile(r"^\s*[^\W\d_]{2,10}\.?,\s*")
_WORD = re.compile(r"[^\W\d_]+\.?")


def parse_date(raw: str | None) -> datetime | None:
    """Parse RFC 822 / RFC 3339 / localized RFC 822 dates into aware UTC; None if unreadable."""
    if not raw or not raw.strip():
        return None
    text = raw.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except ValueError:
        pass
    text = _WEEKDAY.sub("", text)

    def month(match: re.Match[str]) -> str:
        word = match.group(0).rstrip(".").lower()
        if word in (
            "gmt",
            "ut",
            "utc",
            "z",
            "est",
            "edt",
            "cst",
            "cdt",
            "mst",
            "mdt",
            "pst",
            "pdt",
        ):
            return match.group(0)
        return _MONTHS.get(word, _MONTHS.get(word[:3], match.group(0)))

    text = _WORD.sub(month, text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
