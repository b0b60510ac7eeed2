"""Per-host limiter, rate-limit headers, circuit breaker, and the [collect] section."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from monitor.config import Problems, parse_config
from monitor.loopback import LoopbackServer, Reply, Request
from monitor.store import SourceState, Store
from sources.errors import RateLimitedError
from sources.http import HttpClient, RetryPolicy
from sources.limits import (
    HostLimiter,
    breaker_after_failure,
    breaker_after_success,
    breaker_gate,
    host_key,
    rate_limit_hold,
)
from sources.settings import (
    BreakerSettings,
    CollectSettings,
    HostRule,
    collect_settings,
    parse_rate,
    parse_section,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class FakeTime:
    """A monotonic clock that only moves when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def limiter(rule: HostRule, fake: FakeTime, **kwargs: object) -> HostLimiter:
    settings = CollectSettings(default_host=rule, hosts={}, **kwargs)  # type: ignore[arg-type]
    return HostLimiter(settings, sleep=fake.sleep, clock=fake.clock, wall=lambda: T0)


def test_host_key_keeps_non_default_ports() -> None:
    assert host_key("https://News.Google.com/rss/search?q=x") == "news.google.com"
    assert host_key("http://127.0.0.1:8123/feed") == "127.0.0.1:8123"
    assert host_key("https://example.com:443/x") == "example.com"


def test_rate_spacing_after_burst() -> None:
    fake = FakeTime()
    limits = limiter(HostRule(concurrency=2, limit=2, period=1.0, burst=2), fake)
    for _ in range(5):
        with limits.slot("https://api.example/x"):
            pass
    # two back to back, then one every half second
    assert fake.sleeps == [0.5, 0.5, 0.5]


def test_hosts_are_limited_independently() -> None:
    fake = FakeTime()
    limits = limiter(HostRule(concurrency=1, limit=1, period=10.0, burst=1), fake)
    with limits.slot("https://a.example/1"):
        pass
    with limits.slot("https://b.example/1"):
        pass
    assert fake.sleeps == []
    with limits.slot("https://a.example/2"):
        pass
    assert fake.sleeps == [10.0]


def test_exhausted_ratelimit_headers_hold_the_host() -> None:
    fake = FakeTime()
    limits = limiter(HostRule(limit=None), fake)
    limits.observe(
        "https://oauth.example/api", {"x-ratelimit-remaining": "0.0", "x-ratelimit-reset": "30"}
    )
    with limits.slot("https://oauth.example/api/2"):
        pass
    assert fake.sleeps == [30.0]


def test_long_hold_fails_fast_without_sending() -> None:
    fake = FakeTime()
    limits = limiter(HostRule(limit=None), fake, max_rate_wait=60.0)
    limits.hold("https://api.example/", 3600)
    with pytest.raises(RateLimitedError) as info, limits.slot("https://api.example/x"):
        pass
    assert info.value.retry_after == pytest.approx(3600)
    assert fake.sleeps == []


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-ratelimit-remaining": "12", "x-ratelimit-reset": "30"}, None),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "42"}, 42.0),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(T0.timestamp()) + 90)}, 90.0),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2026-11-02T09:05:00.000Z"}, 300.0),
        ({"ratelimit-remaining": "0", "ratelimit-reset": "5"}, 5.0),
        ({"x-ratelimit-remaining": "0"}, 60.0),
        ({}, None),
    ],
)
def test_rate_limit_hold(headers: dict[str, str], expected: float | None) -> None:
    assert rate_limit_hold(headers, 0.0, T0) == expected


def test_concurrency_per_host_against_a_real_server(loopback: LoopbackServer) -> None:
    lock = threading.Lock()
    live = [0]
    peak = [0]
    release = threading.Event()

    def handler(request: Request) -> Reply:
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        release.wait(0.05)
        with lock:
            live[0] -= 1
        return Reply(200, b"ok")

    loopback.routes["/slow"] = handler
    host = host_key(loopback.url("/"))
    settings = CollectSettings(hosts={host: HostRule(concurrency=2, limit=None)})
    with HttpClient(timeout=5.0, sleep=lambda s: None) as http:
        http.apply_settings(settings)
        threads = [
            threading.Thread(target=http.get, args=(loopback.url("/slow"),)) for _ in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
        assert http.limiter is not None
        stats = http.limiter.stats()[host]
    assert peak[0] == 2
    assert stats["peak_in_flight"] == 2 and stats["sent"] == 6


def test_client_holds_host_after_unwaited_429(loopback: LoopbackServer) -> None:
    loopback.routes["/limited"] = Reply(429, b"", {"Retry-After": "3600"})
    with HttpClient(timeout=5.0, sleep=lambda s: None, retry=RetryPolicy(attempts=2)) as http:
        with pytest.raises(RateLimitedError):
            http.get(loopback.url("/limited"))
        with pytest.raises(RateLimitedError):
            http.get(loopback.url("/other"))
    assert len(loopback.requests) == 1  # the second call was never sent


def test_client_reads_ratelimit_headers(loopback: LoopbackServer) -> None:
    loopback.routes["/api"] = Reply(
        200, b"{}", {"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "20"}
    )
    sleeps: list[float] = []
    with HttpClient(timeout=5.0, sleep=sleeps.append) as http:
        http.get(loopback.url("/api"))
        http.get(loopback.url("/api"))
    assert len(sleeps) == 1 and 19.0 < sleeps[0] <= 20.0


# -- circuit breaker ------------------------------------------------------------------------


def state() -> SourceState:
    return SourceState(key="yt", source="yt", type="youtube")


def test_breaker_opens_after_consecutive_failures_then_half_opens() -> None:
    settings = BreakerSettings(failures=3, cooldown=600, max_cooldown=3600)
    current = state()
    for _ in range(2):
        current = breaker_after_failure(current, T0, settings)
        assert current.breaker == "closed"
    current = breaker_after_failure(current, T0, settings)
    assert current.breaker == "open"
    assert current.extra["breaker_retry_at"] == "2026-11-02T09:10:00.000000Z"
    assert current.next_poll_at == "2026-11-02T09:10:00.000000Z"
    allowed, _ = breaker_gate(current, T0 + timedelta(minutes=5))
    assert not allowed
    allowed, trial = breaker_gate(current, T0 + timedelta(minutes=10))
    assert allowed and trial.breaker == "half-open"
    # the half-open trial fails: open again, cool-down doubled
    reopened = breaker_after_failure(trial, T0 + timedelta(minutes=10), settings)
    assert reopened.breaker == "open"
    assert reopened.extra["breaker_retry_at"] == "2026-11-02T09:30:00.000000Z"
    closed = breaker_after_success(reopened)
    assert closed.breaker == "closed" and closed.consecutive_failures == 0
    assert not any(k.startswith("breaker_") for k in closed.extra)


def test_rate_limit_opens_breaker_for_retry_after() -> None:
    opened = breaker_after_failure(
        state(), T0, BreakerSettings(), retry_after=120, rate_limited=True
    )
    assert opened.breaker == "open"
    assert opened.extra["breaker_retry_at"] == "2026-11-02T09:02:00.000000Z"


def test_cooldown_is_capped() -> None:
    settings = BreakerSettings(failures=1, cooldown=600, max_cooldown=900)
    current = state().evolve(extra={"breaker_opens": 10})
    opened = breaker_after_failure(current, T0, settings)
    assert opened.extra["breaker_retry_at"] == "2026-11-02T09:15:00.000000Z"


# -- settings -------------------------------------------------------------------------------


def test_defaults_when_section_absent() -> None:
    config = parse_config({}, validate_sources=False)
    settings = collect_settings(config)
    assert settings == CollectSettings()
    assert settings.rule_for("oauth.reddit.com").limit == 100
    assert settings.rule_for("127.0.0.1:8000").limit is None
    assert settings.rule_for("unknown.example").concurrency == 4
    assert settings.repoll.interval_for(3600) == 600
    assert settings.repoll.interval_for(80 * 3600) is None


def test_section_parsed_through_config() -> None:
    raw = {
        "collect": {
            "workers": 16,
            "hosts": {"mastodon.social": {"concurrency": 1, "rate": "300/5m"}},
            "breaker": {"failures": 2, "cooldown": "1m"},
            "repoll": {"schedule": [["1h", "5m"], ["1d", "2h"]], "max_requests_per_host": 3},
        }
    }
    settings = collect_settings(parse_config(raw, validate_sources=False))
    assert settings.workers == 16
    rule = settings.rule_for("mastodon.social")
    assert (rule.concurrency, rule.limit, rule.period) == (1, 300, 300.0)
    assert settings.breaker == BreakerSettings(2, 60.0, 6 * 3600.0)
    assert settings.repoll.schedule == ((3600.0, 300.0), (86400.0, 7200.0))
    assert settings.repoll.max_requests_per_host == 3


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"workerz": 2}, "collect.workerz"),
        ({"workers": 0}, "collect.workers"),
        ({"hosts": {"x.example": {"rate": "fast"}}}, "collect.hosts.x.example.rate"),
        ({"breaker": {"cooldown": "soon"}}, "collect.breaker.cooldown"),
        ({"repoll": {"schedule": [["1d", "1h"], ["1h", "5m"]]}}, "collect.repoll.schedule"),
        ({"repoll": {"schedule": [["1h"]]}}, "collect.repoll.schedule[0]"),
    ],
)
def test_section_problems_name_the_key(raw: dict[str, object], path: str) -> None:
    problems = Problems()
    parse_section(raw, problems, "collect")
    assert [p.path for p in problems.items] == [path]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("100/1m", (100, 60.0)), ("5/1s", (5, 1.0)), (3, (3, 1.0)), (0.5, (1, 2.0))],
)
def test_parse_rate(value: object, expected: tuple[int, float]) -> None:
    assert parse_rate(value) == expected


def test_pipeline_skips_an_open_breaker_until_its_retry_time(
    store: Store, loopback: LoopbackServer
) -> None:
    from monitor.pipeline import poll

    feed = b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"
    loopback.routes["/feed.xml"] = Reply(503, b"down")
    config = parse_config(
        {
            "brands": [{"name": "Aurora Air"}],
            "sources": [
                {"name": "blog", "type": "rss", "params": {"url": loopback.url("/feed.xml")}}
            ],
            "collect": {"breaker": {"failures": 2, "cooldown": "10m"}},
        }
    )
    now = [T0]
    with HttpClient(timeout=5.0, sleep=lambda s: None, retry=RetryPolicy(attempts=1)) as http:
        for _ in range(2):
            report = poll(config, store, http, clock=lambda: now[0])
            assert not report.sources[0].ok
        state = store.get_state("blog")
        assert state is not None and state.breaker == "open"
        sent = len(loopback.requests)

        now[0] = T0 + timedelta(minutes=5)
        skipped = poll(config, store, http, clock=lambda: now[0])
        assert "circuit breaker open" in (skipped.sources[0].error or "")
        assert len(loopback.requests) == sent  # nothing sent while open

        loopback.routes["/feed.xml"] = Reply(200, feed)
        now[0] = T0 + timedelta(minutes=11)
        recovered = poll(config, store, http, clock=lambda: now[0])
        assert recovered.sources[0].ok
    state = store.get_state("blog")
    assert state is not None and state.breaker == "closed" and state.consecutive_failures == 0
    assert "breaker_retry_at" not in state.extra
