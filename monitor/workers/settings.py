"""``queue``: where the scheduler puts jobs and the workers take them (a PostgreSQL database).

Either a string or a table::

    queue = "postgresql://groundswell@db:5432/groundswell"

    [queue]
    url_env = "GROUNDSWELL_QUEUE_URL"  # the env var holding the URL (keeps a password out of the file)
    concurrency = 1                    # jobs one `groundswell worker` runs at once
    stalled_after = "60s"              # a worker silent this long is dead; its jobs run again
    job_retention = "7d"               # finished jobs are deleted after this

libpq's own variables (``PGPASSWORD``, ``~/.pgpass``, ``PGSSLMODE``) apply too. This module is
imported while the config is parsed, so it must not import the queue engine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.config import Config, Problems, parse_interval

__all__ = ["QueueNotConfigured", "QueueSettings", "parse_section", "queue_settings"]

_SCHEMES = ("postgresql://", "postgres://")
_KEYS = frozenset({"url", "url_env", "concurrency", "stalled_after", "job_retention"})


class QueueNotConfigured(RuntimeError):
    """No ``queue`` in the config (or its env var is empty)."""


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """The parsed ``queue`` setting (durations in seconds)."""

    url: str | None = None
    url_env: str | None = None
    concurrency: int = 1
    stalled_after: float = 60.0
    job_retention: float = 7 * 86400.0

    def dsn(self, environ: Mapping[str, str] | None = None) -> str:
        """The queue database URL, from the file or from ``url_env``."""
        env = os.environ if environ is None else environ
        if self.url:
            return self.url
        if self.url_env and env.get(self.url_env):
            return env[self.url_env]
        where = f"environment variable {self.url_env} is empty" if self.url_env else "no url"
        raise QueueNotConfigured(f"queue: {where}")


def parse_section(raw: Any, problems: Problems, path: str) -> QueueSettings:
    """Parse ``queue = "postgresql://..."`` or the ``[queue]`` table."""
    if isinstance(raw, str):
        raw = {"url": raw}
    problems.unknown_keys(raw, _KEYS, path)
    url = problems.expect(raw, "url", str, path)
    if url is not None and not url.startswith(_SCHEMES):
        problems.add(
            f"{path}.url" if "url" in raw else path,
            "the queue lives in PostgreSQL",
            'use e.g. "postgresql://groundswell@localhost:5432/groundswell"',
        )
        url = None
    url_env = problems.expect(raw, "url_env", str, path)
    if url is None and url_env is None and "url" not in raw:
        problems.add(path, "no queue database", 'set url = "postgresql://..." or url_env = "NAME"')
    values: dict[str, Any] = {"url": url, "url_env": url_env}
    concurrency = problems.expect(raw, "concurrency", int, path)
    if concurrency is not None:
        if concurrency >= 1:
            values["concurrency"] = concurrency
        else:
            problems.add(f"{path}.concurrency", "must be at least 1")
    for key in ("stalled_after", "job_retention"):
        if key in raw:
            try:
                values[key] = parse_interval(raw[key])
            except ValueError as exc:
                problems.add(f"{path}.{key}", str(exc), "use e.g. '60s', '7d'")
    return QueueSettings(**values)


def queue_settings(config: Config) -> QueueSettings | None:
    """The config's queue settings, or None when the service runs its stages itself."""
    section = config.section("queue")
    return section if isinstance(section, QueueSettings) else None
