"""Pipeline stages as plain functions: the scheduler, the CLI and the tests all call these.

``poll`` is the collect stage: every enabled source (× brand for search sources) is fetched and
matched against the brand queries concurrently, and stored by the calling thread as results
arrive, while other fetches proceed. Results that are ready together commit in one transaction,
each result's posts with its source cursor (a crash keeps both or neither); new posts are grouped
into stories in batches as they are stored. One failing source is recorded in ``source_state``
and never stops the others; what was fetched is stored before anything else runs.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from monitor.config import Brand, Config, SourceSpec
from monitor.query import Document, Query
from monitor.records import Post, isoformat, utcnow
from monitor.store import SourceState, Store
from monitor.urls import canonical_url, site_of
from sources.base import Collected, Collector
from sources.errors import RateLimitedError, SourceError
from sources.http import HttpClient
from sources.limits import breaker_after_failure, breaker_after_success, breaker_gate
from sources.registry import collector_class
from sources.settings import collect_settings

__all__ = ["PollReport", "SourceReport", "document_of", "match_brands", "poll", "state_key"]

log = logging.getLogger("groundswell.pipeline")

GROUP_RESULTS = 50  # collect results stored in one transaction when they are ready together
STORY_BATCH = 1_000  # new posts that wait for story assignment while results keep arriving


@dataclass(frozen=True, slots=True)
class SourceReport:
    key: str
    source: str
    type: str
    brand: str | None
    ok: bool
    fetched: int = 0
    matched: int = 0
    new: int = 0
    snapshots: int = 0
    not_modified: bool = False
    error: str | None = None
    seconds: float = 0.0
    new_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PollReport:
    sources: tuple[SourceReport, ...]

    @property
    def all_failed(self) -> bool:
        return bool(self.sources) and not any(r.ok for r in self.sources)

    @property
    def new(self) -> int:
        return sum(r.new for r in self.sources)

    @property
    def new_ids(self) -> tuple[str, ...]:
        return tuple(i for r in self.sources for i in r.new_ids)


def state_key(spec: SourceSpec, brand: Brand | None) -> str:
    return f"{spec.name}|{brand.name}" if brand is not None else spec.name


def document_of(post: Post) -> Document:
    site = " ".join(filter(None, [post.site or "", site_of(post.url)]))
    return Document(
        title=post.title,
        text=post.text,
        author=post.author or "",
        site=site,
        lang=post.lang or "",
        source=post.source,
    )


def match_brands(post: Post, brands: Sequence[Brand]) -> list[str]:
    """Names of the brands whose query matches the post (tokenized once for all of them)."""
    prepared = Query.prepare(document_of(post))
    return [
        brand.name
        for brand in brands
        if brand.query is not None and brand.query.matches_prepared(prepared)
    ]


def _targets(spec: SourceSpec, cls: type[Collector], brands: Sequence[Brand]) -> list[Brand | None]:
    if not cls.per_brand:
        return [None]
    wanted = {name.casefold() for name in spec.brands}
    return [b for b in brands if not wanted or b.name.casefold() in wanted]


def poll(
    config: Config,
    store: Store,
    client: HttpClient,
    *,
    only: Sequence[str] | None = None,
    brand: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    workers: int | None = None,
) -> PollReport:
    """Run one collection round over the configured sources (or the ``only`` names).

    Sources whose circuit breaker is open are skipped until their retry time; new posts are
    grouped into stories once everything is stored.
    """
    settings = collect_settings(config)
    if config.sections.get("collect") is not None:  # else keep the client's own settings
        client.apply_settings(settings)
    workers = workers or settings.workers
    specs = [s for s in config.sources if s.enabled and (not only or s.name in only)]
    jobs: list[tuple[SourceSpec, Brand | None, SourceState, Collector]] = []
    reports: list[SourceReport] = []
    started_at = clock()
    classes: dict[str, type[Collector]] = {}
    for spec in specs:
        cls = classes.get(spec.type) or classes.setdefault(spec.type, collector_class(spec.type))
        collector = cls(spec, client, clock)
        for target in _targets(spec, cls, config.brands):
            if brand is not None and target is not None and target.name != brand:
                continue
            key = state_key(spec, target)
            state = store.get_state(key) or SourceState(
                key=key, source=spec.name, type=spec.type, brand=target.name if target else None
            )
            allowed, state = breaker_gate(state, started_at)
            if not allowed:
                reports.append(_skipped(spec, state))
                continue
            jobs.append((spec, target, state, collector))

    done: queue.SimpleQueue[int] = queue.SimpleQueue()
    stored: dict[int, SourceReport] = {}
    # One WAL checkpoint at the end of the round instead of one every few stored results.
    with (
        store.deferred_checkpoints(),
        ThreadPoolExecutor(
            max_workers=max(1, min(workers, len(jobs) or 1)), thread_name_prefix="collect"
        ) as pool,
    ):
        started: list[float] = []
        futures: list[Future[tuple[Collected, list[tuple[Post, list[str]]]]]] = []
        for index, (_, target, state, collector) in enumerate(jobs):
            started.append(time.perf_counter())
            future = pool.submit(_collect_and_match, collector, state, target, config.brands)
            future.add_done_callback(partial(_announce, done, index))
            futures.append(future)
        # A single writer (this thread) stores results as they finish, while other fetches
        # proceed: whatever is ready together goes into one transaction.
        waiting = len(jobs)
        fresh: list[str] = []
        while waiting:
            group = [done.get()]
            while len(group) < GROUP_RESULTS:
                try:
                    group.append(done.get_nowait())
                except queue.Empty:
                    break
            waiting -= len(group)
            items = [(i, jobs[i], futures[i], started[i]) for i in group]
            for index, source_report in _store_group(config, store, items, clock):
                stored[index] = source_report
            fresh.extend(i for index in group for i in stored[index].new_ids)
            # Stories are assigned in batches while later results are still being fetched
            # (clustering costs little per post but much per call), the rest at the end.
            if len(fresh) >= STORY_BATCH or (fresh and not waiting):
                _assign(store, fresh, clock())
                fresh = []
    reports.extend(stored[index] for index in range(len(jobs)))
    report = PollReport(tuple(reports))
    # Posts a crash left without a story (stored, then killed before clustering) join this round.
    orphans = [
        row[0]
        for row in store.conn.execute(
            "SELECT id FROM posts WHERE story_id IS NULL ORDER BY first_seen_at DESC LIMIT 5000"
        )
    ]
    if orphans:
        from monitor.stories import assign_stories

        assign_stories(store, orphans, clock())
    return report


def _announce(done: queue.SimpleQueue[int], index: int, _: Future[Any]) -> None:
    done.put(index)


def _collect_and_match(
    collector: Collector, state: SourceState, brand: Brand | None, brands: Sequence[Brand]
) -> tuple[Collected, list[tuple[Post, list[str]]]]:
    """Fetch, parse and match one source (× brand): the part that runs on a worker thread."""
    collected = collector.collect(state, brand)
    matched = [(post, names) for post in collected.posts if (names := _brands_for(post, brands))]
    return collected, matched


def _assign(store: Store, post_ids: Sequence[str], now: datetime) -> None:
    """Group freshly stored posts into stories; if the archive refuses, the end of the round
    (or the next one) picks them up as posts without a story."""
    from monitor.stories import assign_stories

    try:
        assign_stories(store, post_ids, now)
    except sqlite3.Error as exc:
        log.warning("story assignment deferred: %s", exc)


_Job = tuple[SourceSpec, Brand | None, SourceState, Collector]


def _store_group(
    config: Config,
    store: Store,
    items: Sequence[
        tuple[int, _Job, Future[tuple[Collected, list[tuple[Post, list[str]]]]], float]
    ],
    clock: Callable[[], datetime],
) -> list[tuple[int, SourceReport]]:
    """Store several finished results in one transaction, each result's posts together with its
    cursor; if the archive refuses the group, every result is retried in its own transaction
    (so one result's database error is recorded against that source alone)."""
    if len(items) > 1:
        try:
            with store.transaction():
                return [
                    (
                        index,
                        _finish(config, store, spec, brand, state, future, started, clock, True),
                    )
                    for index, (spec, brand, state, _), future, started in items
                ]
        except sqlite3.Error as exc:
            log.warning(
                "storing %d results together failed (%s); storing one by one", len(items), exc
            )
    return [
        (index, _finish(config, store, spec, brand, state, future, started, clock))
        for index, (spec, brand, state, _), future, started in items
    ]


def _skipped(spec: SourceSpec, state: SourceState) -> SourceReport:
    retry = (state.extra or {}).get("breaker_retry_at", "later")
    return SourceReport(
        state.key,
        spec.name,
        spec.type,
        state.brand,
        False,
        error=f"circuit breaker open after {state.consecutive_failures} failure(s); "
        f"next try at {retry} (last error: {state.last_error or 'unknown'})",
    )


def _brands_for(post: Post, brands: Sequence[Brand]) -> list[str]:
    """Brands whose query matches, plus those a source files its posts under by configuration
    (``extra["brands"]``, e.g. an app's reviews that rarely name the brand)."""
    names = match_brands(post, brands)
    wanted = post.extra.get("brands") if post.extra else None
    if wanted:
        known = {b.name.casefold(): b.name for b in brands}
        names += [known[n.casefold()] for n in wanted if n.casefold() in known]
    return list(dict.fromkeys(names))


def _finish(
    config: Config,
    store: Store,
    spec: SourceSpec,
    brand: Brand | None,
    state: SourceState,
    future: Future[tuple[Collected, list[tuple[Post, list[str]]]]],
    started: float,
    clock: Callable[[], datetime],
    in_group: bool = False,
) -> SourceReport:
    now = clock()
    attempt = state.evolve(
        last_attempt_at=isoformat(now),
        next_poll_at=isoformat(now + timedelta(seconds=spec.interval)),
    )
    brand_name = brand.name if brand else None
    breaker = collect_settings(config).breaker
    try:
        collected, matched = future.result()
    except SourceError as exc:
        failed = breaker_after_failure(
            attempt,
            now,
            breaker,
            retry_after=getattr(exc, "retry_after", None),
            rate_limited=isinstance(exc, RateLimitedError),
        )
        return _record_failure(store, spec, failed, brand_name, str(exc), started)
    except Exception as exc:  # a bug in one collector must not stop the others
        log.exception("collector %s crashed", spec.name)
        return _record_failure(
            store,
            spec,
            breaker_after_failure(attempt, now, breaker),
            brand_name,
            f"internal error in collector: {type(exc).__name__}: {exc}",
            started,
        )
    try:
        # Posts and the source's cursor commit together: a crash or a full disk either keeps
        # both or neither, so the next poll neither skips nor re-stores anything.
        with store.transaction():
            result = store.upsert_posts(matched, seen_at=now, canonicalize=canonical_url)
            new_state = breaker_after_success(collected.state).evolve(
                last_attempt_at=attempt.last_attempt_at,
                next_poll_at=attempt.next_poll_at,
                last_success_at=isoformat(now),
                consecutive_failures=0,
                items_total=state.items_total + result.new,
                last_items=len(collected.posts),
                mode=collected.mode or collected.state.mode,
                breaker="closed",
            )
            store.save_state(new_state)
    except sqlite3.Error as exc:
        if in_group:
            raise
        message = f"could not write to the archive ({exc}); nothing from this poll was kept"
        try:
            return _record_failure(store, spec, attempt, brand_name, message, started)
        except sqlite3.Error:
            log.error("%s: %s", spec.name, message)
            return SourceReport(
                attempt.key,
                spec.name,
                spec.type,
                brand_name,
                False,
                error=message,
                seconds=time.perf_counter() - started,
            )
    for note in collected.notes:
        log.warning("%s: %s", spec.name, note)
    return SourceReport(
        new_state.key,
        spec.name,
        spec.type,
        brand_name,
        True,
        len(collected.posts),
        len(matched),
        result.new,
        result.snapshots,
        collected.not_modified,
        None,
        time.perf_counter() - started,
        result.new_ids,
    )


def _record_failure(
    store: Store,
    spec: SourceSpec,
    state: SourceState,
    brand: str | None,
    message: str,
    started: float,
) -> SourceReport:
    log.warning("%s: %s", spec.name, message)
    failed = state.evolve(last_error=message, last_error_at=state.last_attempt_at)
    store.save_state(failed)
    return SourceReport(
        failed.key,
        spec.name,
        spec.type,
        brand,
        False,
        error=message,
        seconds=time.perf_counter() - started,
    )
