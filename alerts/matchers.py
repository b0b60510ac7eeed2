"""Label matchers in the Alertmanager style: ``severity=critical``, ``lang!=en``, ``brand=~Acme.*``.

Used by rules, routes, silences and inhibition rules alike. List-valued labels (``cues``, written
``"legal_threat,refund"``) match per element: ``cues=legal_threat`` means "has that cue", ``cues!=``
means "has not", and the regex forms match when any element matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["LIST_LABELS", "Matcher", "MatcherError", "matches_all", "parse_matchers"]

LIST_LABELS = frozenset({"cues"})
_OPS = ("=~", "!~", "!=", "=")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class MatcherError(ValueError):
    """A matcher string that cannot be read."""


@dataclass(frozen=True, slots=True)
class Matcher:
    """One condition on one label."""

    name: str
    op: str
    value: str
    pattern: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """``"name=value"``, ``"name!=value"``, ``"name=~regex"`` or ``"name!~regex"``."""
        for op in _OPS:
            name, sep, value = text.partition(op)
            if not sep:
                continue
            name = name.strip()
            value = value.strip().strip('"')
            if not _NAME.match(name):
                raise MatcherError(f"bad label name {name!r} in matcher {text!r}")
            pattern = None
            if op in ("=~", "!~"):
                try:
                    pattern = re.compile(value)
                except re.error as exc:
                    raise MatcherError(f"bad regular expression in {text!r}: {exc}") from None
            return cls(name, op, value, pattern)
        raise MatcherError(f"cannot read matcher {text!r}; write e.g. 'severity=critical'")

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher (a missing label is the empty string)."""
        actual = labels.get(self.name, "")
        if self.name in LIST_LABELS:
            items = [item for item in actual.split(",") if item]
            if self.op == "=":
                return self.value in items if self.value else not items
            if self.op == "!=":
                return self.value not in items if self.value else bool(items)
            found = any(self._regex(item) for item in items) or (not items and self._regex(""))
            return found if self.op == "=~" else not found
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = self._regex(actual)
        return hit if self.op == "=~" else not hit

    def _regex(self, text: str) -> bool:
        return bool(self.pattern is not None and self.pattern.fullmatch(text))

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"


def parse_matchers(items: Iterable[str]) -> tuple[Matcher, ...]:
    """Parse several matcher strings; raises :class:`MatcherError` on the first bad one."""
    return tuple(Matcher.parse(item) for item in items)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher matches (an empty list matches everything)."""
    return all(matcher.matches(labels) for matcher in matchers)
