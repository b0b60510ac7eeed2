"""The shared HTTP client against a real loopback server: 304, 429, 5xx, timeouts, limits."""

from __future__ import annotations

import socket

import pytest

from monitor.loopback import LoopbackServer, Reply, Request
from sources.errors import (
    BlockedError,
    FetchError,
    HttpStatusError,
    RateLimitedError,
    TimeoutFetchError,
)
from sources.http import HttpClient, RetryPolicy, parse_retry_after


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(sleeps: Sleeps, **kwargs: object) -> HttpClient:
    return HttpClient(
        timeout=kwargs.pop("timeout", 5.0), sleep=sleeps, jitter=lambda: 0.0, **kwargs
    )  # type: ignore[arg-type]


def test_user_agent_and_conditional_get(loopback: LoopbackServer) -> None:
    loopback.routes["/feed"] = Reply(
        200, b"<rss/>", {"Last-Modified": "Tue, 03 Nov 2026 08:00:00 GMT"}
    )
    sleeps = Sleeps()
    with client(sleeps) as http:
        first = http.get(loopback.url("/feed"))
        assert first.status == 200 and first.content == b"<rss/>"
        etag = first.headers["etag"]
        second = http.get(
            loopback.url("/feed"), etag=etag, last_modified=first.headers["last-modified"]
        )
    assert second.not_modified
    sent = loopback.requests[-1].headers
    assert sent["if-none-match"] == etag
    assert sent["if-modified-since"] == "Tue, 03 Nov 2026 08:00:00 GMT"
    assert sent["user-agent"].startswith("groundswell/")
    assert sleeps == []


def test_429_retry_after_is_honoured_then_succeeds(loopback: LoopbackServer) -> None:
    calls = []

    def handler(request: Request) -> Reply:
        calls.append(request)
        if len(calls) == 1:
            return Reply(429, b"slow down", {"Retry-After": "7"})
        return Reply(200, b"ok")

    loopback.routes["/limited"] = handler
    sleeps = Sleeps()
    with client(sleeps) as http:
        response = http.get(loopback.url("/limited"))
    assert response.content == b"ok"
    assert sleeps == [7.0]
    assert len(calls) == 2


def test_429_with_long_retry_after_raises_without_waiting(loopback: LoopbackServer) -> None:
    loopback.routes["/limited"] = Reply(429, b"", {"Retry-After": "3600"})
    sleeps = Sleeps()
    with client(sleeps) as http, pytest.raises(RateLimitedError) as info:
        http.get(loopback.url("/limited"))
    assert info.value.retry_after == 3600
    assert sleeps == []
    assert "rate limited" in str(info.value)


def test_500_is_retried_with_backoff_then_reported(loopback: LoopbackServer) -> None:
    loopback.routes["/broken"] = Reply(500, b"boom")
    sleeps = Sleeps()
    with (
        client(sleeps, retry=RetryPolicy(attempts=3, backoff=2.0)) as http,
        pytest.raises(HttpStatusError) as info,
    ):
        http.get(loopback.url("/broken"))
    assert info.value.status == 500
    assert sleeps == [1.0, 2.0]  # jitter 0 → half of 2s, then half of 4s
    assert len(loopback.requests) == 3


def test_404_is_not_retried(loopback: LoopbackServer) -> None:
    sleeps = Sleeps()
    with client(sleeps) as http, pytest.raises(HttpStatusError, match="HTTP 404"):
        http.get(loopback.url("/missing"))
    assert len(loopback.requests) == 1


def test_timeout(loopback: LoopbackServer) -> None:
    loopback.routes["/slow"] = Reply(200, b"late", delay=2.0)
    sleeps = Sleeps()
    with (
        client(sleeps, timeout=0.2, retry=RetryPolicy(attempts=2)) as http,
        pytest.raises(TimeoutFetchError),
    ):
        http.get(loopback.url("/slow"))
    assert len(sleeps) == 1


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    with (
        client(sleeps, retry=RetryPolicy(attempts=1)) as http,
        pytest.raises(FetchError, match="ConnectError"),
    ):
        http.get(f"http://127.0.0.1:{port}/feed")


def test_size_limit(loopback: LoopbackServer) -> None:
    loopback.routes["/huge"] = Reply(200, b"x" * 5000)
    with client(Sleeps(), max_bytes=1000) as http, pytest.raises(FetchError, match="limit"):
        http.get(loopback.url("/huge"))


def test_block_page_instead_of_json(loopback: LoopbackServer) -> None:
    loopback.routes["/api"] = Reply(
        200, b"<!DOCTYPE html><html>blocked</html>", {"Content-Type": "text/html"}
    )
    with client(Sleeps()) as http:
        response = http.get(loopback.url("/api"))
    with pytest.raises(BlockedError):
        response.json()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected
