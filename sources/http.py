"""The one HTTP client every collector uses.

Explicit timeouts, a real User-Agent, conditional GET (ETag / Last-Modified), retries with
jittered exponential backoff that honour ``Retry-After``, and a response size limit. Sleeping and
randomness are injected so tests never wait.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from monitor import __version__
from sources.errors import (
    BlockedError,
    FetchError,
    HttpStatusError,
    RateLimitedError,
    TimeoutFetchError,
)

if TYPE_CHECKING:
    from sources.limits import HostLimiter
    from sources.settings import CollectSettings

__all__ = ["DEFAULT_USER_AGENT", "FetchResponse", "HttpClient", "RetryPolicy", "parse_retry_after"]

DEFAULT_USER_AGENT = f"groundswell/{__version__} (+https://github.com/groundswell-monitor/groundswell; brand monitor)"
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3  # total tries, including the first
    backoff: float = 1.0  # first backoff in seconds, doubled each try
    max_backoff: float = 30.0
    max_retry_after: float = 60.0  # a longer Retry-After is not waited out in-line: raise instead


@dataclass(frozen=True, slots=True)
class FetchResponse:
    status: int
    url: str
    headers: Mapping[str, str]
    content: bytes
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        import json

        from sources.errors import ParseError

        if self.content_type == "text/html" or self.content.lstrip()[:15].lower().startswith(
            (b"<!doctype html", b"<html")
        ):
            raise BlockedError(
                self.status, "got an HTML page where JSON was expected", url=self.url
            )
        try:
            return json.loads(self.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"invalid JSON: {exc}", url=self.url) from None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class HttpClient:
    """A thread-safe wrapper over one ``httpx.Client`` with the project's HTTP manners."""

    timeout: float = 20.0
    user_agent: str = DEFAULT_USER_AGENT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_bytes: int = 20 * 1024 * 1024
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random
    transport: httpx.BaseTransport | None = None
    limiter: HostLimiter | None = None  # per-host concurrency/rate; a default one if None
    _client: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.limiter is None:
            from sources.limits import HostLimiter

            self.limiter = HostLimiter(sleep=self.sleep)
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            headers={"User-Agent": self.user_agent},
            follow_redirects=True,
            transport=self.transport,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )

    def close(self) -> None:
        self._client.close()

    def apply_settings(self, settings: CollectSettings) -> None:
        """Adopt the ``[collect]`` section: per-host limits and the response size limit."""
        self.max_bytes = settings.max_response_bytes
        if self.limiter is not None:
            self.limiter.configure(settings)

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        accept_statuses: frozenset[int] = frozenset(),
    ) -> FetchResponse:
        """GET with retries; 304 is returned (``not_modified``), other errors raise SourceError."""
        request_headers = dict(headers or {})
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        return self.request(
            "GET", url, params=params, headers=request_headers, accept_statuses=accept_statuses
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, Any] | None = None,
        json_body: Any = None,
        auth: tuple[str, str] | None = None,
        accept_statuses: frozenset[int] = frozenset(),
    ) -> FetchResponse:
        policy = self.retry
        for attempt in range(1, policy.attempts + 1):
            last = attempt == policy.attempts
            try:
                response = self._send(method, url, params, headers, data, json_body, auth)
            except (TimeoutFetchError, FetchError):
                if last:
                    raise
                self.sleep(self._backoff(attempt))
                continue
            status = response.status
            if status < 400 or status in accept_statuses:
                return response
            if status in _RETRY_STATUSES:
                wait = parse_retry_after(response.headers.get("retry-after"))
                if status == 429 and (last or (wait is not None and wait > policy.max_retry_after)):
                    if self.limiter is not None:
                        # Not waited out here: keep every other request off this host meanwhile.
                        self.limiter.hold(url, wait if wait is not None else self.retry.max_backoff)
                    raise RateLimitedError(status, wait, url=url)
                if not last:
                    self.sleep(
                        min(wait, policy.max_retry_after)
                        if wait is not None
                        else self._backoff(attempt)
                    )
                    continue
            raise _status_error(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        base = min(self.retry.max_backoff, self.retry.backoff * 2 ** (attempt - 1))
        return base * (0.5 + self.jitter() / 2)

    def _send(
        self,
        method: str,
        url: str,
        params: Any,
        headers: Any,
        data: Any,
        json_body: Any,
        auth: tuple[str, str] | None,
    ) -> FetchResponse:
        if self.limiter is None:
            return self._stream(method, url, params, headers, data, json_body, auth)
        with self.limiter.slot(url):
            result = self._stream(method, url, params, headers, data, json_body, auth)
        self.limiter.observe(url, result.headers)
        return result

    def _stream(
        self,
        method: str,
        url: str,
        params: Any,
        headers: Any,
        data: Any,
        json_body: Any,
        auth: tuple[str, str] | None,
    ) -> FetchResponse:
        started = time.perf_counter()
        try:
            with self._client.stream(
                method, url, params=params, headers=headers, data=data, json=json_body, auth=auth
            ) as response:
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise FetchError(
                        f"response of {declared} bytes exceeds the {self.max_bytes}-byte limit",
                        url=url,
                    )
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FetchError(
                            f"response exceeds the {self.max_bytes}-byte limit", url=url
                        )
                    chunks.append(chunk)
                return FetchResponse(
                    status=response.status_code,
                    url=str(response.url),
                    headers={k.lower(): v for k, v in response.headers.items()},
                    content=b"".join(chunks),
                    elapsed=time.perf_counter() - started,
                )
        except httpx.TimeoutException as exc:
            raise TimeoutFetchError(
                f"timed out after {self.timeout:g}s ({type(exc).__name__})", url=url
            ) from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}", url=url) from None


def _status_error(response: FetchResponse) -> HttpStatusError:
    body = response.content[:2000].decode("utf-8", "replace")
    reason = {
        401: "unauthorized (check the credentials)",
        403: "forbidden",
        404: "not found",
        410: "gone",
    }.get(response.status, "server error" if response.status >= 500 else "client error")
    if response.status == 403 and ("whoa there" in body.lower() or "blocked" in body.lower()):
        return BlockedError(403, "blocked by the server's network policy", url=response.url)
    if response.status == 429:
        return RateLimitedError(
            429, parse_retry_after(response.headers.get("retry-after")), url=response.url
        )
    return HttpStatusError(response.status, reason, url=response.url)
