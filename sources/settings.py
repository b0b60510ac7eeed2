"""The ``[collect]`` configuration section: HTTP manners, circuit breaker and re-poll schedule.

Every key is optional; the defaults below are what runs when the section is absent::

    [collect]
    workers = 8                      # sources polled at once
    max_response_bytes = 20_000_000  # larger answers are refused
    max_rate_wait = "60s"            # a host rate-limited longer than this fails fast instead

    [collect.default_host]           # any host without its own rule
    concurrency = 4                  # requests in flight per host
    rate = "5/1s"                    # at most 5 requests per second per host

    [collect.hosts."oauth.reddit.com"]
    concurrency = 2
    rate = "100/1m"                  # matches Reddit's 100 QPM budget

    [collect.breaker]
    failures = 5                     # consecutive failures that open a source's breaker
    cooldown = "10m"                 # first wait before a half-open retry, doubled per re-open
    max_cooldown = "6h"

    [collect.repoll]
    enabled = true
    # (age of the post, re-poll every): 10 min for the first 2 h, hourly to 24 h, 6-hourly to 72 h
    schedule = [["2h", "10m"], ["24h", "1h"], ["72h", "6h"]]
    max_requests_per_host = 20       # per re-poll round, on top of the limiter's rate
    batch_size = 50                  # ids per Collector.refresh call
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from monitor.config import Problems, parse_interval

__all__ = [
    "DEFAULT_HOST_RULES",
    "BreakerSettings",
    "CollectSettings",
    "HostRule",
    "RepollSettings",
    "collect_settings",
    "parse_rate",
    "parse_section",
]


@dataclass(frozen=True, slots=True)
class HostRule:
    """Limits for one host: requests in flight, and ``limit`` requests per ``period`` seconds."""

    concurrency: int = 4
    limit: int | None = 5
    period: float = 1.0
    burst: int | None = None  # requests allowed back to back; default min(limit, 5)

    @property
    def interval(self) -> float:
        """Seconds between requests at the sustained rate (0 = unlimited)."""
        return self.period / self.limit if self.limit else 0.0

    @property
    def burst_size(self) -> int:
        if self.burst is not None:
            return max(1, self.burst)
        return max(1, min(self.limit or 1, 5))


# Published or community-observed budgets of the services the built-in sources talk to.
DEFAULT_HOST_RULES: Mapping[str, HostRule] = MappingProxyType(
    {
        "oauth.reddit.com": HostRule(concurrency=2, limit=100, period=60.0),
        "www.reddit.com": HostRule(concurrency=1, limit=10, period=60.0),
        "hn.algolia.com": HostRule(concurrency=2, limit=10_000, period=3600.0),
        "news.google.com": HostRule(concurrency=2, limit=1, period=1.0),
        "www.youtube.com": HostRule(concurrency=2, limit=2, period=1.0),
        "itunes.apple.com": HostRule(concurrency=2, limit=1, period=1.0),
        "bsky.social": HostRule(concurrency=2, limit=3000, period=300.0),
        "public.api.bsky.app": HostRule(concurrency=2, limit=3000, period=300.0),
        # Loopback servers (demo, tests, benchmarks) are not rate limited unless configured.
        "127.0.0.1": HostRule(concurrency=16, limit=None),
        "localhost": HostRule(concurrency=16, limit=None),
    }
)


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    failures: int = 5
    cooldown: float = 600.0
    max_cooldown: float = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class RepollSettings:
    enabled: bool = True
    # (maximum age in seconds, interval in seconds), ascending by age
    schedule: tuple[tuple[float, float], ...] = (
        (7200.0, 600.0),
        (86400.0, 3600.0),
        (259200.0, 21600.0),
    )
    max_requests_per_host: int = 20
    batch_size: int = 50

    @property
    def max_age(self) -> float:
        return self.schedule[-1][0] if self.schedule else 0.0

    def interval_for(self, age: float) -> float | None:
        """The re-poll interval for a post of this age (seconds), or None when too old."""
        for limit, every in self.schedule:
            if age < limit:
                return every
        return None


@dataclass(frozen=True, slots=True)
class CollectSettings:
    workers: int = 8
    max_response_bytes: int = 20 * 1024 * 1024
    max_rate_wait: float = 60.0
    default_host: HostRule = HostRule()
    hosts: Mapping[str, HostRule] = field(default_factory=lambda: DEFAULT_HOST_RULES)
    breaker: BreakerSettings = BreakerSettings()
    repoll: RepollSettings = RepollSettings()

    def rule_for(self, host: str) -> HostRule:
        """The rule for ``host`` (``name`` or ``name:port``), else its parent domains', else the default."""
        if host in self.hosts:
            return self.hosts[host]
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        parts = name.split(".")
        for index in range(len(parts) - 1):
            candidate = ".".join(parts[index:])
            if candidate in self.hosts:
                return self.hosts[candidate]
        return self.default_host


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(.+)$")


def parse_rate(value: Any) -> tuple[int, float]:
    """``"100/1m"`` → (100, 60.0); a bare number means requests per second."""
    if isinstance(value, bool):
        raise ValueError("expected a rate like '100/1m', not true/false")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError("rate must be positive")
        if float(value).is_integer():
            return int(value), 1.0
        return 1, 1.0 / float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a rate like '100/1m', got {value!r}")
    match = _RATE.match(value)
    if not match:
        raise ValueError(f"cannot read rate {value!r}; use e.g. '5/1s' or '100/1m'")
    limit = int(match.group(1))
    if limit <= 0:
        raise ValueError("rate must allow at least one request")
    return limit, parse_interval(match.group(2))


_TOP = frozenset(
    {"workers", "max_response_bytes", "max_rate_wait", "default_host", "hosts", "breaker", "repoll"}
)
_HOST_KEYS = frozenset({"concurrency", "rate", "burst"})
_BREAKER_KEYS = frozenset({"failures", "cooldown", "max_cooldown"})
_REPOLL_KEYS = frozenset({"enabled", "schedule", "max_requests_per_host", "batch_size"})


def _duration(
    raw: Mapping[str, Any], key: str, path: str, default: float, problems: Problems
) -> float:
    if key not in raw:
        return default
    try:
        return parse_interval(raw[key])
    except ValueError as exc:
        problems.add(f"{path}.{key}", str(exc), "use e.g. '90s', '15m', '2h'")
        return default


def _positive_int(
    raw: Mapping[str, Any], key: str, path: str, default: int, problems: Problems
) -> int:
    value = problems.expect(raw, key, int, path, default=default)
    if value < 1:
        problems.add(f"{path}.{key}", f"must be at least 1, got {value}")
        return default
    return int(value)


def _host_rule(raw: Any, path: str, base: HostRule, problems: Problems) -> HostRule:
    if not isinstance(raw, dict):
        problems.add(path, "expected a table", "e.g. { concurrency = 2, rate = '100/1m' }")
        return base
    problems.unknown_keys(raw, _HOST_KEYS, path)
    concurrency = _positive_int(raw, "concurrency", path, base.concurrency, problems)
    limit, period = base.limit, base.period
    if "rate" in raw:
        if raw["rate"] in ("unlimited", 0):
            limit = None
        else:
            try:
                limit, period = parse_rate(raw["rate"])
            except ValueError as exc:
                problems.add(f"{path}.rate", str(exc), "use e.g. '5/1s' or '100/1m' or 'unlimited'")
    burst = base.burst
    if "burst" in raw:
        burst = _positive_int(raw, "burst", path, base.burst_size, problems)
    return HostRule(concurrency, limit, period, burst)


def _schedule(raw: Any, path: str, problems: Problems) -> tuple[tuple[float, float], ...] | None:
    if not isinstance(raw, list) or not raw:
        problems.add(path, "expected a list of [age, interval] pairs", 'e.g. [["2h", "10m"]]')
        return None
    steps: list[tuple[float, float]] = []
    for index, item in enumerate(raw):
        if not isinstance(item, list) or len(item) != 2:
            problems.add(f"{path}[{index}]", f"expected [age, interval], got {item!r}")
            return None
        try:
            steps.append((parse_interval(item[0]), parse_interval(item[1])))
        except ValueError as exc:
            problems.add(f"{path}[{index}]", str(exc), "use e.g. ['2h', '10m']")
            return None
    ages = [age for age, _ in steps]
    if ages != sorted(ages) or len(set(ages)) != len(ages):
        problems.add(path, "ages must increase from one step to the next")
        return None
    return tuple(steps)


def parse_section(raw: Mapping[str, Any], problems: Problems, path: str) -> CollectSettings:
    """Parse ``[collect]`` into :class:`CollectSettings`, recording problems with key paths."""
    problems.unknown_keys(raw, _TOP, path)
    defaults = CollectSettings()
    workers = _positive_int(raw, "workers", path, defaults.workers, problems)
    max_bytes = _positive_int(
        raw, "max_response_bytes", path, defaults.max_response_bytes, problems
    )
    max_wait = _duration(raw, "max_rate_wait", path, defaults.max_rate_wait, problems)
    default_host = defaults.default_host
    if "default_host" in raw:
        default_host = _host_rule(
            raw["default_host"], f"{path}.default_host", default_host, problems
        )
    hosts = dict(DEFAULT_HOST_RULES)
    raw_hosts = problems.expect(raw, "hosts", dict, path, default={})
    for host, rule in raw_hosts.items():
        key = str(host).lower()
        hosts[key] = _host_rule(
            rule, f"{path}.hosts.{host}", hosts.get(key, default_host), problems
        )
    breaker = defaults.breaker
    raw_breaker = problems.expect(raw, "breaker", dict, path, default=None)
    if raw_breaker is not None:
        bpath = f"{path}.breaker"
        problems.unknown_keys(raw_breaker, _BREAKER_KEYS, bpath)
        breaker = BreakerSettings(
            _positive_int(raw_breaker, "failures", bpath, breaker.failures, problems),
            _duration(raw_breaker, "cooldown", bpath, breaker.cooldown, problems),
            _duration(raw_breaker, "max_cooldown", bpath, breaker.max_cooldown, problems),
        )
    repoll = defaults.repoll
    raw_repoll = problems.expect(raw, "repoll", dict, path, default=None)
    if raw_repoll is not None:
        rpath = f"{path}.repoll"
        problems.unknown_keys(raw_repoll, _REPOLL_KEYS, rpath)
        schedule = repoll.schedule
        if "schedule" in raw_repoll:
            schedule = _schedule(raw_repoll["schedule"], f"{rpath}.schedule", problems) or schedule
        repoll = RepollSettings(
            problems.expect(raw_repoll, "enabled", bool, rpath, default=True),
            schedule,
            _positive_int(
                raw_repoll, "max_requests_per_host", rpath, repoll.max_requests_per_host, problems
            ),
            _positive_int(raw_repoll, "batch_size", rpath, repoll.batch_size, problems),
        )
    return CollectSettings(
        workers,
        max_bytes,
        max_wait,
        default_host,
        MappingProxyType(hosts),
        breaker,
        repoll,
    )


def collect_settings(config: Any) -> CollectSettings:
    """The parsed ``[collect]`` section of a Config, or the defaults when it is absent."""
    section = config.section("collect") if config is not None else None
    return section if isinstance(section, CollectSettings) else CollectSettings()
