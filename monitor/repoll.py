"""Re-polling young posts: engagement velocity is the early-warning signal.

A post that reports engagement (it has at least one snapshot) is re-read on a decaying schedule
while it is young — by default every 10 minutes for its first 2 hours, hourly to 24 hours and
every 6 hours to 72 hours (``[collect.repoll]``). Collectors that can fetch by id expose
``refresh(native_ids) -> list[Post]`` and get the due ids in batches; feed collectors without it
are re-read once (unconditionally, page 1 only) and only the due posts are kept. Every answer
goes through :meth:`Store.upsert_posts`, which adds a snapshot only when a count changed.

Each round is budgeted per host (``max_requests_per_host``), counted from the requests the
shared client actually sent, on top of the client's own per-host rate limits, and sources with
an open circuit breaker are left alone. :func:`repoll_due` is a plain function: the scheduler
calls it, so can the CLI and the tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.config import Config, SourceSpec
from monitor.records import Post, isoformat, parse_iso
from monitor.store import SourceState, Store
from sources.base import Collector
from sources.errors import SourceError
from sources.http import HttpClient
from sources.limits import breaker_gate, host_key
from sources.registry import UnknownSourceType, collector_class
from sources.settings import RepollSettings, collect_settings

__all__ = ["DuePost", "RepollReport", "due_posts", "repoll_due"]

log = logging.getLogger("groundswell.repoll")

# Where each built-in type sends its requests when its params do not say.
_DEFAULT_HOSTS = {
    "reddit": "oauth.reddit.com",
    "hackernews": "hn.algolia.com",
    "bluesky": "public.api.bsky.app",
    "youtube": "www.youtube.com",
    "appstore": "itunes.apple.com",
    "google_news": "news.google.com",
}


@dataclass(frozen=True, slots=True)
class DuePost:
    post_id: str
    source: str
    native_id: str
    source_name: str | None
    spec_name: str | None  # the configured source that collected it, when the post says
    age: float  # seconds since publication (or first sight)
    interval: float  # the schedule's interval for that age


@dataclass(frozen=True, slots=True)
class RepollReport:
    due: int = 0
    refreshed: int = 0  # due posts that came back with counts
    snapshots: int = 0  # of which changed (a new snapshot row)
    requests: int = 0
    deferred: int = 0  # due posts left for the next round (budget, open breaker, no method)
    requests_by_host: Mapping[str, int] = field(default_factory=dict)
    errors: tuple[str, ...] = ()


def due_posts(store: Store, settings: RepollSettings, now: datetime) -> list[DuePost]:
    """Young posts with engagement whose last observation is older than their interval."""
    if not settings.schedule:
        return []
    oldest = isoformat(now - timedelta(seconds=settings.max_age))
    rows = store.conn.execute(
        "SELECT p.id, p.source, p.native_id, p.source_name, p.published_at, p.first_seen_at, "
        "p.last_seen_at, json_extract(p.extra, '$.source_spec') FROM posts p "
        "WHERE coalesce(p.published_at, p.first_seen_at) >= ? "
        "AND EXISTS (SELECT 1 FROM snapshots s WHERE s.post_id = p.id) "
        "ORDER BY coalesce(p.published_at, p.first_seen_at) DESC",
        (oldest,),
    ).fetchall()
    due: list[DuePost] = []
    for post_id, source, native_id, source_name, published, first_seen, last_seen, spec in rows:
        born = parse_iso(published or first_seen)
        seen_first = parse_iso(first_seen)
        if born > seen_first:  # a clock-skewed or future date: trust our own first sight
            born = seen_first
        age = (now - born).total_seconds()
        interval = settings.interval_for(age)
        if interval is None:
            continue
        if (now - parse_iso(last_seen)).total_seconds() + 1e-6 >= interval:
            due.append(DuePost(post_id, source, native_id, source_name, spec, age, interval))
    return due


def _budget_key(spec: SourceSpec) -> str:
    for key in ("base_url", "url", "api_url", "instance", "server"):
        value = spec.params.get(key)
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return host_key(value)
    return _DEFAULT_HOSTS.get(spec.type, spec.type)


def _spec_for(post: DuePost, specs: Sequence[SourceSpec]) -> SourceSpec | None:
    of_type = [s for s in specs if s.type == post.source]
    for wanted in (post.spec_name, post.source_name):
        if wanted:
            for spec in of_type:
                if spec.name == wanted:
                    return spec
    return of_type[0] if of_type else None


def _breaker_open(store: Store, spec: SourceSpec, now: datetime) -> bool:
    for state in store.states():
        if state.source == spec.name and not breaker_gate(state, now)[0]:
            return True
    return False


def _sent(client: HttpClient) -> dict[str, int]:
    if client.limiter is None:
        return {}
    return {host: int(stats["sent"]) for host, stats in client.limiter.stats().items()}


def repoll_due(
    store: Store,
    config: Config,
    client: HttpClient,
    now: datetime,
    *,
    clock: Callable[[], datetime] | None = None,
) -> RepollReport:
    """Re-read the engagement of young posts that are due, within each host's budget."""
    settings = collect_settings(config)
    schedule = settings.repoll
    if not schedule.enabled:
        return RepollReport()
    if config.sections.get("collect") is not None:  # else keep the client's own settings
        client.apply_settings(settings)
    due = due_posts(store, schedule, now)
    if not due:
        return RepollReport()
    specs = [s for s in config.sources if s.enabled]
    groups: dict[str, tuple[SourceSpec, list[DuePost]]] = {}
    deferred = 0
    for post in due:
        spec = _spec_for(post, specs)
        if spec is None:
            deferred += 1
            continue
        groups.setdefault(spec.name, (spec, []))[1].append(post)

    used: dict[str, int] = {}
    by_host: dict[str, int] = {}
    errors: list[str] = []
    refreshed: list[Post] = []
    # Youngest first everywhere: their curves move fastest.
    for spec, posts in groups.values():
        if _breaker_open(store, spec, now):
            deferred += len(posts)
            continue
        try:
            cls = collector_class(spec.type)
        except UnknownSourceType:
            deferred += len(posts)
            continue
        collector: Any = cls(spec, client, clock or (lambda: now))
        key = _budget_key(spec)
        wanted = {p.native_id: p for p in posts}
        pending = list(wanted)
        # How many ids one request covers: declared by the collector, else learnt from the
        # first call, which assumes the worst (one request per id) so it cannot overrun.
        per_request = float(getattr(collector, "refresh_ids_per_request", 1))
        while pending:
            remaining = schedule.max_requests_per_host - used.get(key, 0)
            if remaining <= 0:
                break
            before = _sent(client)
            try:
                if hasattr(collector, "refresh"):
                    size = max(1, min(schedule.batch_size, int(remaining * per_request)))
                    batch = pending[:size]
                    pending = pending[len(batch) :]
                    got = collector.refresh(batch)
                elif not cls.per_brand:
                    pending, got = [], _refetch(collector, store, spec)
                else:
                    break  # a per-brand search is not a cheap re-read
            except SourceError as exc:
                errors.append(f"{spec.name}: {exc}")
                log.warning("re-poll %s: %s", spec.name, exc)
                break
            finally:
                after = _sent(client)
                spent = 0
                for host, count in after.items():
                    delta = count - before.get(host, 0)
                    if delta:
                        by_host[host] = by_host.get(host, 0) + delta
                        spent += delta
                used[key] = used.get(key, 0) + max(spent, 1)
            if hasattr(collector, "refresh") and spent:
                per_request = max(per_request, len(batch) / spent)
            refreshed.extend(p for p in got if p.native_id in wanted)
        deferred += len(pending)

    snapshots = 0
    if refreshed:
        result = store.upsert_posts([(post, ()) for post in refreshed], seen_at=now)
        snapshots = result.snapshots
    return RepollReport(
        due=len(due),
        refreshed=len({p.id for p in refreshed}),
        snapshots=snapshots,
        requests=sum(by_host.values()),
        deferred=deferred,
        requests_by_host=by_host,
        errors=tuple(errors),
    )


def _refetch(collector: Collector, store: Store, spec: SourceSpec) -> list[Post]:
    """One unconditional read of a feed source (its current page only, not a first sync)."""
    state = store.get_state(spec.name) or SourceState(
        key=spec.name, source=spec.name, type=spec.type, last_success_at="repoll"
    )
    state = state.evolve(etag=None, last_modified=None, extra={})
    if state.last_success_at is None:
        state = state.evolve(last_success_at="repoll")
    return collector.collect(state, None).posts
