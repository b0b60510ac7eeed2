"""Bulk ingestion of saved feeds (``groundswell backfill``): history, exports, feed archives.

Parsing and brand matching run in worker processes (feedparser is CPU-bound) while this process
stores what they return, several files per transaction (fewer commits, fewer full-text index
segments to merge) and with WAL checkpoints spaced out for the bulk load. A large backfill uses
every core and stays crash-safe: every transaction holds whole files, and re-running it stores
nothing twice.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from monitor.config import Config
from monitor.query import Document, Query, parse
from monitor.records import Post
from monitor.store import Store
from monitor.urls import canonical_url
from sources.rss import site_cached

__all__ = ["BackfillReport", "backfill", "feed_files"]

FEED_SUFFIXES = (".xml", ".rss", ".atom", ".rdf", ".feed")
BATCH_ITEMS = 2_000  # matched items per transaction (whole files; a big file is one batch)


@dataclass(frozen=True, slots=True)
class BackfillReport:
    files: int
    items: int
    matched: int
    new: int
    errors: tuple[str, ...]


def feed_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, plus feed files found (recursively) in named directories."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                sorted(
                    p for p in path.rglob("*") if p.suffix.lower() in FEED_SUFFIXES and p.is_file()
                )
            )
        else:
            found.append(path)
    return found


# Worker-process state, set once per process by the pool initializer.
_WORKER_BRANDS: list[tuple[str, Query]] = []


def _init_worker(brands: Sequence[tuple[str, str]]) -> None:
    _WORKER_BRANDS[:] = [(name, parse(text)) for name, text in brands]


def _match(post: Post, brands: Sequence[tuple[str, Query]], hosts: dict[str, str]) -> list[str]:
    site = " ".join(filter(None, [post.site or "", site_cached(post.url, hosts)]))
    prepared = Query.prepare(
        Document(post.title, post.text, post.author or "", site, post.lang or "", post.source)
    )
    return [name for name, query in brands if query.matches_prepared(prepared)]


def _parse_file(
    job: tuple[str, bytes | None, str],
) -> tuple[str, int, list[tuple[Post, list[str]]], str | None]:
    from sources.errors import SourceError
    from sources.rss import parse_feed

    name, content, source_name = job
    try:
        data = content if content is not None else Path(name).read_bytes()
        posts = parse_feed(data, source_name=source_name, url=name).posts
    except (OSError, SourceError) as exc:
        return name, 0, [], f"{name}: {exc}"
    hosts: dict[str, str] = {}
    matched = [(post, names) for post in posts if (names := _match(post, _WORKER_BRANDS, hosts))]
    return name, len(posts), matched, None


def backfill(
    config: Config,
    store: Store,
    inputs: Sequence[Path | tuple[str, bytes]],
    *,
    source_name: str = "backfill",
    workers: int | None = None,
    on_file: Callable[[str, int], None] | None = None,
) -> BackfillReport:
    """Parse feed files (or ``(name, bytes)`` pairs) in parallel, match brands, store them."""
    brands = [(b.name, b.query.source) for b in config.brands if b.query is not None]
    jobs = [
        (str(i), None, source_name) if isinstance(i, Path) else (i[0], i[1], source_name)
        for i in inputs
    ]
    workers = max(1, workers or os.cpu_count() or 1)
    items = matched = new = 0
    errors: list[str] = []

    def results() -> Iterator[tuple[str, int, list[tuple[Post, list[str]]], str | None]]:
        if workers == 1:
            _init_worker(brands)
            yield from map(_parse_file, jobs)
            return
        with ProcessPoolExecutor(
            max_workers=workers, initializer=_init_worker, initargs=(brands,)
        ) as pool:
            yield from pool.map(_parse_file, jobs, chunksize=1)

    pending: list[tuple[Post, list[str]]] = []
    pending_files: list[tuple[str, int]] = []

    def flush() -> None:
        nonlocal new
        if pending:
            new += store.upsert_posts(pending, canonicalize=canonical_url).new
        if on_file is not None:
            for done_name, done_count in pending_files:
                on_file(done_name, done_count)
        pending.clear()
        pending_files.clear()

    with store.deferred_checkpoints():
        for name, count, found, error in results():
            if error:
                errors.append(error)
            items += count
            matched += len(found)
            pending.extend(found)
            pending_files.append((name, count))
            if len(pending) >= BATCH_ITEMS:
                flush()
        flush()
    return BackfillReport(len(jobs), items, matched, new, tuple(errors))
