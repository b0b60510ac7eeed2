"""Specific errors a collector raises; the pipeline records them per source and moves on."""

from __future__ import annotations

__all__ = [
    "BlockedError",
    "FetchError",
    "HttpStatusError",
    "ParseError",
    "RateLimitedError",
    "SourceError",
    "TimeoutFetchError",
]


class SourceError(Exception):
    """Base class: something went wrong with one source. ``str()`` is a message for people."""

    def __init__(self, message: str, *, url: str | None = None):
        self.url = url
        super().__init__(f"{message} ({url})" if url else message)


class FetchError(SourceError):
    """The request did not get an answer (connection refused, DNS, TLS, protocol error)."""


class TimeoutFetchError(FetchError):
    """The server did not answer within the timeout."""


class HttpStatusError(SourceError):
    """The server answered with an error status."""

    def __init__(self, status: int, message: str, *, url: str | None = None):
        self.status = status
        super().__init__(f"HTTP {status}: {message}", url=url)


class RateLimitedError(HttpStatusError):
    """HTTP 429 (or a rate-limit 403); ``retry_after`` is in seconds when the server said."""

    def __init__(self, status: int, retry_after: float | None, *, url: str | None = None):
        self.retry_after = retry_after
        wait = f", retry after {retry_after:.0f}s" if retry_after is not None else ""
        super().__init__(status, f"rate limited{wait}", url=url)


class BlockedError(HttpStatusError):
    """An HTML block or error page where a feed or JSON was expected."""


class ParseError(SourceError):
    """The payload arrived but is not what the source's format promises."""
