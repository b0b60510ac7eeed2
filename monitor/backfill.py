"""Bulk ingestion of saved feeds (``groundswell backfill``): history, exports, feed archives.

Parsing and brand matching run in worker processes (feedparser is CPU-bound); the archive is
written by this process in one transaction per file, so a large backfill uses every core and
stays crash-safe: re-running it stores nothing twice.
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
from monitor.urls import canonical_url, site_of

__all__ = ["BackfillReport", "backfill", "feed_files"]

FEED_SUFFIXES = (".xml", ".rss", ".atom", ".rdf", ".feed")


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


def _match(post: Post, brands: Sequence[tuple[str, Query]]) -> list[str]:
    site = " ".join(filter(None, [post.site or "", site_of(post.url)]))
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
    matched = [(post, names) for post in posts if (names := _match(post, _WORKER_BRANDS))]
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

    for name, count, found, error in results():
        if error:
            errors.append(error)
        items += count
        matched += len(found)
        new += store.upsert_posts(found, canonicalize=canonical_url).new
        if on_file is not None:
            on_file(name, count)
    return BackfillReport(len(jobs), items, matched, new, tuple(errors))
