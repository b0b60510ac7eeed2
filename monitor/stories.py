"""Stories: one story that spreads is one story with many mentions, not fifty alerts.

Posts are grouped by canonical URL and by near-duplicate text. Near duplicates are found with
MinHash over character 5-gram shingles of the folded title and opening text (language
independent: it works the same for German, Japanese or Russian, with or without spaces),
banded for locality-sensitive hashing (32 bands × 4 rows: pairs with Jaccard ≥ 0.6 become
candidates with probability ≥ 0.98), and every candidate is verified on its full signature.

:func:`cluster_texts` is the pure, vectorised batch version (100,000 items in seconds).
:func:`assign_stories` is the incremental version the pipeline calls after storing: it clusters
the new posts among themselves and against the signatures of recent posts kept in the archive,
writes ``posts.story_id``, the ``stories`` row and, per source, when the story was first seen there.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from monitor.records import isoformat, utcnow
from monitor.store import Store, json_rows
from monitor.textnorm import fold

__all__ = [
    "StoryReport",
    "assign_stories",
    "cluster_signatures",
    "cluster_texts",
    "normalize",
    "signatures",
    "similarity",
    "story_id_for",
]

NUM_PERM = 128
BANDS = 32
ROWS = NUM_PERM // BANDS
SHINGLE = 5
MAX_CHARS = 600  # the opening of a text identifies a syndicated copy; tails carry boilerplate
MIN_CHARS = 24  # shorter texts ("Crashes", an emoji) are too generic to cluster by content
THRESHOLD = 0.5  # estimated Jaccard similarity that makes two posts one story
WINDOW_DAYS = 7.0  # a post only joins stories whose posts were seen in the last week

_BIN_BITS = NUM_PERM.bit_length() - 1
_EMPTY = np.uint64((1 << 64) - 1)
_DENSIFY = 0x9E3779B97F4A7C15 >> (_BIN_BITS + 1)  # offset that marks a borrowed value
_rng = np.random.default_rng(20261102)  # fixed: signatures must agree across processes
_BAND_MIX = _rng.integers(1, 1 << 62, ROWS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
del _rng

_URL = re.compile(r"https?://\S+|www\.\S+")
_NON_WORD = re.compile(r"[\W_]+")


def normalize(title: str, text: str = "") -> str:
    """Folded title + opening text, URLs dropped, punctuation and spacing collapsed."""
    joined = f"{title} {text}"[: MAX_CHARS + MAX_CHARS // 4]
    if "http" in joined or "www." in joined:
        joined = _URL.sub(" ", joined)
    cleaned = _NON_WORD.sub(" ", fold(joined)).strip()
    return cleaned[:MAX_CHARS]


def _mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (uint64 arithmetic wraps, as intended)."""
    x = values ^ (values >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def signatures(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures ``(n, NUM_PERM) uint32`` of already normalised texts, and a mask of
    the texts long enough to be clustered by content.

    One-permutation hashing: each shingle hash picks one of ``NUM_PERM`` bins by its low bits
    and the bin keeps its minimum, so the cost is one hash per shingle instead of one per shingle
    and permutation; empty bins borrow from their right neighbour (rotation densification),
    which keeps the estimate of Jaccard similarity unbiased. Shingles of a few thousand texts
    are hashed at once over their concatenation, dropping windows that cross a boundary.
    """
    n = len(texts)
    sigs = np.zeros((n, NUM_PERM), dtype=np.uint32)
    usable = np.fromiter((len(t) >= MIN_CHARS for t in texts), dtype=bool, count=n)
    rows_all = np.flatnonzero(usable)
    for start in range(0, len(rows_all), 4000):
        rows = rows_all[start : start + 4000]
        parts = [texts[i] for i in rows]
        lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
        codes = np.frombuffer(
            "".join(parts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32
        ).astype(np.uint64)
        count = len(codes) - SHINGLE + 1
        acc = np.zeros(count, dtype=np.uint64)
        for k in range(SHINGLE):
            acc = acc * np.uint64(1_000_003) + codes[k : k + count]
        hashes = _mix64(acc)
        ends = np.cumsum(lengths)
        owner = np.repeat(np.arange(len(parts), dtype=np.int64), lengths)[:count]
        inside = np.arange(count, dtype=np.int64) + SHINGLE <= ends[owner]
        values, owner = hashes[inside], owner[inside]
        slots = owner * NUM_PERM + (values & np.uint64(NUM_PERM - 1)).astype(np.int64)
        flat = np.full(len(parts) * NUM_PERM, _EMPTY, dtype=np.uint64)
        np.minimum.at(flat, slots, values >> np.uint64(_BIN_BITS))
        table = _densify(flat.reshape(len(parts), NUM_PERM))
        sigs[rows] = (table >> np.uint64(64 - _BIN_BITS - 32)).astype(np.uint32)
    return sigs, usable


def _densify(table: np.ndarray) -> np.ndarray:
    """Fill each empty bin from the nearest non-empty bin to its right (wrapping round), plus
    ``_DENSIFY`` per bin of distance: what borrowing from the right neighbour, one step at a
    time, arrives at, in one pass (rows with no value at all stay empty)."""
    empty = table == _EMPTY
    if not empty.any():
        return table
    width = table.shape[1]
    doubled = np.concatenate([table, table], axis=1)
    position = np.where(doubled != _EMPTY, np.arange(2 * width), 2 * width)
    # Per bin, the first non-empty bin at or after it in the doubled row.
    after = np.minimum.accumulate(position[:, ::-1], axis=1)[:, ::-1][:, :width]
    rows, cols = np.nonzero(empty & (after < 2 * width))
    source = after[rows, cols]
    distance = (source - cols).astype(np.uint64)
    table[rows, cols] = doubled[rows, source] + distance * np.uint64(_DENSIFY)
    return table


def band_keys(sigs: np.ndarray) -> np.ndarray:
    """``(n, BANDS)`` int64 keys (63-bit, so SQLite stores them as integers)."""
    grouped = sigs.astype(np.uint64).reshape(len(sigs), BANDS, ROWS)
    acc = np.zeros((len(sigs), BANDS), dtype=np.uint64)
    for row in range(ROWS):
        acc = _mix64(acc ^ (grouped[:, :, row] * _BAND_MIX[row]))
    return (acc >> np.uint64(1)).astype(np.int64)


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of signature rows (broadcasts)."""
    return np.asarray((a == b).mean(axis=-1))


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of the pair graph, each labelled by its smallest index
    (min-label propagation with pointer jumping, all in numpy)."""
    labels = np.arange(n, dtype=np.int64)
    if not len(a):
        return labels
    while True:
        low = np.minimum(labels[a], labels[b])
        updated = labels.copy()
        np.minimum.at(updated, a, low)
        np.minimum.at(updated, b, low)
        while True:
            jumped = updated[updated]
            if np.array_equal(jumped, updated):
                break
            updated = jumped
        if np.array_equal(updated, labels):
            return labels
        labels = updated


def cluster_signatures(
    sigs: np.ndarray, usable: np.ndarray, threshold: float = THRESHOLD
) -> np.ndarray:
    """Cluster label per row: the index of the first row of its cluster."""
    n = len(sigs)
    candidates = np.flatnonzero(usable)
    if len(candidates) > 1:
        keys = band_keys(sigs[candidates])
        found: list[np.ndarray] = []
        for band in range(BANDS):
            column = keys[:, band]
            order = np.argsort(column, kind="stable")
            ordered = column[order]
            starts = np.ones(len(order), dtype=bool)
            starts[1:] = ordered[1:] != ordered[:-1]
            group = np.cumsum(starts) - 1
            leaders = order[np.flatnonzero(starts)[group]]
            linked = leaders != order
            if not linked.any():
                continue
            a, b = candidates[order[linked]], candidates[leaders[linked]]
            for start in range(0, len(a), 200_000):
                pa, pb = a[start : start + 200_000], b[start : start + 200_000]
                keep = similarity(sigs[pa], sigs[pb]) >= threshold
                if keep.any():
                    found.append(np.stack([pa[keep], pb[keep]], axis=1))
        if found:
            pairs = np.concatenate(found)
            return _components(n, pairs[:, 0], pairs[:, 1])
    return np.arange(n, dtype=np.int64)


def cluster_texts(items: Sequence[tuple[str, str]], threshold: float = THRESHOLD) -> np.ndarray:
    """Cluster ``(title, text)`` pairs; returns the label (first member's index) per item."""
    sigs, usable = signatures([normalize(title, text) for title, text in items])
    return cluster_signatures(sigs, usable, threshold)


def story_id_for(first_post_id: str) -> str:
    """A story is named after the first post seen in it (stable across re-runs)."""
    return "st-" + hashlib.sha1(first_post_id.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class StoryReport:
    posts: int = 0
    new_stories: int = 0
    joined: int = 0  # posts that joined a story that already existed


SAMPLES_PER_STORY = 4  # signatures a candidate story is verified against
# Headlines alone also link posts (a news-search item carries only the headline, the publisher's
# own feed the headline and the article): long headlines, near-identical.
TITLE_MIN_CHARS = 30
TITLE_MIN_WORDS = 4
TITLE_THRESHOLD = 0.7
_BAND_OFFSET = {"text": 0, "title": BANDS}  # title bands live beside the text bands
CANDIDATES_PER_POST = 5  # stories sharing the most LSH bands with a post


_IN_CHUNK = 500  # keys per IN (...) list, under SQLite's host-parameter limit
_BAND_UPSERT = (
    "ON CONFLICT (band, key, story_id) DO UPDATE SET at = excluded.at "
    "WHERE excluded.at > story_bands.at"
)


def _is_sqlite(conn: Any) -> bool:
    """Whether bulk rows can travel as one JSON parameter (``json_each``) instead of one
    statement step per row. Every step of ``executemany`` or of a fetch releases and retakes the
    GIL; while a poll's collect threads parse feeds, each retake can wait up to the interpreter's
    switch interval, so the writer thread slowed several-fold on the ~64 story-band rows a post
    writes. The PostgreSQL archive (statements translated) keeps the plain forms."""
    return isinstance(conn, sqlite3.Connection)


def _candidates(
    store: Store, keys: np.ndarray, rows: np.ndarray, since: str, offset: int
) -> list[tuple[int, str]]:
    """``(row, story)`` pairs: for each row, the ``CANDIDATES_PER_POST`` stories of the window
    sharing the most LSH bands with it (ties broken by story id).

    One indexed ``band = ? AND key IN (...)`` lookup per band and chunk of distinct keys; nothing
    is written, so probing needs no transaction.
    """
    found_rows: list[np.ndarray] = []
    found_codes: list[np.ndarray] = []
    code_of: dict[str, int] = {}  # story -> code, in order of first sight
    packed = _is_sqlite(store.conn)
    for band in range(keys.shape[1]):
        column = keys[rows, band]
        order = np.argsort(column, kind="stable")
        ordered = column[order]
        distinct = ordered[np.r_[True, ordered[1:] != ordered[:-1]]].tolist()  # sorted already
        hits: list[Sequence[Any]] = []
        for start in range(0, len(distinct), _IN_CHUNK):
            chunk = distinct[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            where = f"FROM story_bands WHERE band = ? AND key IN ({marks}) AND at >= ?"
            if packed:  # one row back instead of one per hit (see _is_sqlite)
                (found,) = store.conn.execute(
                    f"SELECT json_group_array(json_array(key, story_id)) {where}",
                    [band + offset, *chunk, since],
                ).fetchone()
                hits.extend(json.loads(found))
            else:
                hits.extend(
                    store.conn.execute(
                        f"SELECT key, story_id {where}", [band + offset, *chunk, since]
                    )
                )
        if not hits:
            continue
        hit_keys = np.fromiter((key for key, _ in hits), dtype=np.int64, count=len(hits))
        hit_codes = np.fromiter(
            (code_of.setdefault(story, len(code_of)) for _, story in hits),
            dtype=np.int64,
            count=len(hits),
        )
        low = np.searchsorted(ordered, hit_keys, side="left")
        spans = np.searchsorted(ordered, hit_keys, side="right") - low
        found_rows.append(rows[order[_expand(low, spans)]])
        found_codes.append(np.repeat(hit_codes, spans))
    if not code_of:
        return []
    names = sorted(code_of)  # codes renumbered in story-id order: ties go to the smaller id
    position = {name: code for code, name in enumerate(names)}
    renumber = np.fromiter((position[n] for n in code_of), dtype=np.int64, count=len(code_of))
    which = np.concatenate(found_rows).astype(np.int64)
    codes = renumber[np.concatenate(found_codes)]
    pair, counts = np.unique(which * len(names) + codes, return_counts=True)
    idx, story = pair // len(names), pair % len(names)
    ranked = np.lexsort((story, -counts, idx))  # per row: most shared bands, then story id
    idx, story = idx[ranked], story[ranked]
    starts = np.ones(len(idx), dtype=bool)
    starts[1:] = idx[1:] != idx[:-1]
    rank = np.arange(len(idx)) - np.maximum.accumulate(np.where(starts, np.arange(len(idx)), 0))
    keep = rank < CANDIDATES_PER_POST
    return [(i, names[c]) for i, c in zip(idx[keep].tolist(), story[keep].tolist(), strict=True)]


def _existing_matches(
    store: Store,
    sigs: np.ndarray,
    keys: np.ndarray,
    rows: np.ndarray,
    since: str,
    kind: str = "text",
    threshold: float = THRESHOLD,
) -> dict[int, tuple[str, float]]:
    """Best existing story for each of ``rows`` (indexes into ``sigs``), verified on signatures.

    Band keys of the batch are joined against the ``story_bands`` index (one row per band, key
    and *story*, so a story that spread to thousands of copies is still one candidate); each
    candidate story is checked against up to ``SAMPLES_PER_STORY`` of its earliest signatures.
    """
    if not len(rows):
        return {}
    pairs = _candidates(store, keys, rows, since, _BAND_OFFSET[kind])
    if not pairs:
        return {}
    stories = sorted({story for _, story in pairs})
    sample_sigs: list[bytes] = []
    sample_story: list[str] = []
    # The earliest signatures of each candidate, read through the (story_id, kind, at) index: a
    # story that spread to thousands of copies costs as little as a small one.
    for story in stories:
        for (blob,) in store.conn.execute(
            "SELECT signature FROM story_signatures WHERE story_id = ? AND kind = ? "
            f"ORDER BY at, post_id LIMIT {SAMPLES_PER_STORY}",
            (story, kind),
        ):
            if len(blob) == NUM_PERM * 4:
                sample_sigs.append(blob)
                sample_story.append(story)
    if not sample_sigs:
        return {}
    matrix = np.frombuffer(b"".join(sample_sigs), dtype=np.uint32).reshape(-1, NUM_PERM)
    first: dict[str, int] = {}
    for row, story in enumerate(sample_story):  # samples of a story are contiguous
        first.setdefault(story, row)
    taken = {story: sample_story.count(story) for story in first}
    # Every pair against each sample of its story, in pair order; the best score per post wins
    # (the earliest comparison on a tie).
    pair_idx = np.fromiter((idx for idx, _ in pairs), dtype=np.int64, count=len(pairs))
    spans = np.fromiter((taken.get(s, 0) for _, s in pairs), dtype=np.int64, count=len(pairs))
    starts = np.fromiter((first.get(s, 0) for _, s in pairs), dtype=np.int64, count=len(pairs))
    left = np.repeat(pair_idx, spans)
    right = _expand(starts, spans)
    if not len(left):
        return {}
    scores = similarity(sigs[left], matrix[right])
    passing = np.flatnonzero(scores >= threshold)
    if not len(passing):
        return {}
    ranked = passing[np.lexsort((passing, -scores[passing], left[passing]))]
    winners = ranked[np.r_[True, left[ranked][1:] != left[ranked][:-1]]]
    return {
        idx: (sample_story[row], score)
        for idx, row, score in zip(
            left[winners].tolist(), right[winners].tolist(), scores[winners].tolist(), strict=True
        )
    }


def _expand(starts: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """``concatenate([arange(a, a + n) for a, n in zip(starts, spans)])``, vectorised."""
    total = int(spans.sum())
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(spans) - spans, spans)
    return np.repeat(starts.astype(np.int64), spans) + offsets


def _band_rows(
    key_blocks: Sequence[np.ndarray],
    row_blocks: Sequence[np.ndarray],
    assigned: Sequence[str],
    seen: Sequence[str],
) -> list[tuple[int, int, str, str]]:
    """``story_bands`` rows: one per band, key and story, with the newest first-seen time among
    the posts that produced it (``key_blocks[k]`` holds the band keys of posts ``row_blocks[k]``,
    text bands first, headline bands after them; posts are ordered by first-seen time)."""
    band_parts, key_parts, row_parts = [], [], []
    for block, (found, which) in enumerate(zip(key_blocks, row_blocks, strict=True)):
        band_parts.append(np.tile(np.arange(BANDS, dtype=np.int64) + block * BANDS, len(which)))
        key_parts.append(found.reshape(-1))
        row_parts.append(np.repeat(which.astype(np.int64), BANDS))
    band, key, row = (np.concatenate(p) for p in (band_parts, key_parts, row_parts))
    if not len(row):
        return []
    names = sorted(set(assigned))
    code_of = {name: code for code, name in enumerate(names)}
    codes = np.fromiter((code_of[a] for a in assigned), dtype=np.int64, count=len(assigned))
    story = codes[row]
    order = np.lexsort((row, story, key, band))  # within a slot the last post is the newest
    band, key, story, row = band[order], key[order], story[order], row[order]
    last = np.ones(len(row), dtype=bool)
    last[:-1] = (band[1:] != band[:-1]) | (key[1:] != key[:-1]) | (story[1:] != story[:-1])
    return list(
        zip(
            band[last].tolist(),
            key[last].tolist(),
            [names[c] for c in story[last].tolist()],
            [seen[r] for r in row[last].tolist()],
            strict=True,
        )
    )


def assign_stories(
    store: Store,
    post_ids: Sequence[str],
    now: datetime | None = None,
    *,
    window_days: float = WINDOW_DAYS,
) -> StoryReport:
    """Give each of ``post_ids`` (that has none yet) a story id, and keep story tables current.

    Runs as one exclusive section of the archive: with several workers, a batch reads the
    stories that every earlier batch wrote, so copies of one story that arrive at two workers at
    once still become one story.
    """
    now = now or utcnow()
    if not post_ids:
        return StoryReport()
    with store.exclusive("stories"):
        return _assign(store, post_ids, now, window_days)


def _assign(
    store: Store, post_ids: Sequence[str], now: datetime, window_days: float
) -> StoryReport:
    rows: list[tuple[str, str, str, str, str | None, str]] = []
    for start in range(0, len(post_ids), 500):
        chunk = list(post_ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        rows.extend(
            store.conn.execute(
                f"SELECT id, source, title, text, canonical_url, first_seen_at FROM posts "
                f"WHERE id IN ({marks}) AND story_id IS NULL",
                chunk,
            ).fetchall()
        )
    if not rows:
        return StoryReport()
    rows.sort(key=lambda r: (r[5], r[0]))  # first seen first: it names the story
    ids = [r[0] for r in rows]
    sigs, usable = signatures([normalize(r[2], r[3]) for r in rows])
    keys = band_keys(sigs)
    titles = [normalize(r[2]) for r in rows]
    title_sigs, title_usable = signatures(titles)
    title_usable &= np.fromiter(
        (len(t) >= TITLE_MIN_CHARS and t.count(" ") + 1 >= TITLE_MIN_WORDS for t in titles),
        dtype=bool,
        count=len(titles),
    )
    title_keys = band_keys(title_sigs)
    by_text = cluster_signatures(sigs, usable)
    by_title = cluster_signatures(title_sigs, title_usable, TITLE_THRESHOLD)
    everyone = np.arange(len(rows), dtype=np.int64)
    labels = _components(
        len(rows), np.concatenate([everyone, everyone]), np.concatenate([by_text, by_title])
    )
    # Same canonical URL inside the batch: same story.
    by_url: dict[str, int] = {}
    for index, row in enumerate(rows):
        url = row[4]
        if url:
            label = int(labels[index])
            first = by_url.setdefault(url, label)
            if first != label:
                keep, drop = min(first, label), max(first, label)
                labels[labels == drop] = keep
                by_url = {u: (keep if v == drop else v) for u, v in by_url.items()}
    since = isoformat(now - timedelta(days=window_days))
    # Link each batch cluster to an existing story (best evidence wins).
    cluster_story: dict[int, tuple[str, float]] = {}
    urls = sorted({r[4] for r in rows if r[4]})
    known_urls: dict[str, str] = {}
    for start in range(0, len(urls), 500):
        chunk = urls[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for url, story in store.conn.execute(
            f"SELECT canonical_url, story_id FROM posts WHERE canonical_url IN ({marks}) "
            "AND story_id IS NOT NULL",
            chunk,
        ):
            known_urls.setdefault(url, story)
    by_content = _existing_matches(store, sigs, keys, np.flatnonzero(usable), since)
    by_headline = _existing_matches(
        store,
        title_sigs,
        title_keys,
        np.flatnonzero(title_usable),
        since,
        kind="title",
        threshold=TITLE_THRESHOLD,
    )
    for index, row in enumerate(rows):
        label = int(labels[index])
        found: tuple[str, float] | None = None
        if row[4] and row[4] in known_urls:
            found = (known_urls[row[4]], 2.0)
        if found is None:
            found = by_content.get(index) or by_headline.get(index)
        if found and (label not in cluster_story or found[1] > cluster_story[label][1]):
            cluster_story[label] = found
    new_stories = joined = 0
    assigned: list[str] = []
    created: list[tuple[str, str, str, str, str]] = []
    for index, post_id in enumerate(ids):
        label = int(labels[index])
        if label in cluster_story:
            assigned.append(cluster_story[label][0])
            joined += 1
            continue
        story = story_id_for(ids[label])
        assigned.append(story)
        if label == index:
            new_stories += 1
            created.append((story, post_id, rows[index][2], rows[index][5], rows[index][5]))
    # Per story: mentions and seen range; per (story, source): mentions and the first post.
    per_story: dict[str, list[Any]] = {}
    per_source: dict[tuple[str, str], list[Any]] = {}
    for index, story in enumerate(assigned):
        post_id, source, first_seen = ids[index], rows[index][1], rows[index][5]
        entry = per_story.setdefault(story, [0, first_seen, first_seen])
        entry[0] += 1
        entry[1] = min(entry[1], first_seen)
        entry[2] = max(entry[2], first_seen)
        spread = per_source.setdefault((story, source), [0, first_seen, post_id])
        spread[0] += 1
        if first_seen < spread[1]:
            spread[1], spread[2] = first_seen, post_id
    # Signatures kept for later batches: text ones first, then headline ones (the order of
    # ``sigs[usable]`` and ``title_sigs[title_usable]``).
    indexed = [("text", i) for i in np.flatnonzero(usable).tolist()] + [
        ("title", i) for i in np.flatnonzero(title_usable).tolist()
    ]
    packed = _is_sqlite(store.conn)
    with store.transaction() as conn:
        conn.executemany(
            "INSERT OR IGNORE INTO stories (id, first_post_id, title, first_seen_at, "
            "last_seen_at, mentions, sources) VALUES (?, ?, ?, ?, ?, 0, 0)",
            created,
        )
        story_of = list(zip(assigned, ids, strict=True))
        if packed and (payload := json_rows(story_of)) is not None:
            conn.execute(
                "UPDATE posts SET story_id = value ->> 0 FROM json_each(?) "
                "WHERE posts.id = value ->> 1",
                (payload,),
            )
        else:
            conn.executemany("UPDATE posts SET story_id = ? WHERE id = ?", story_of)
        conn.executemany(
            "UPDATE stories SET mentions = mentions + ?1, first_seen_at = min(first_seen_at, ?2), "
            "last_seen_at = max(last_seen_at, ?3) WHERE id = ?4",
            [(count, low, high, story) for story, (count, low, high) in per_story.items()],
        )
        conn.executemany(
            "INSERT INTO story_sources (story_id, source, first_seen_at, first_post_id, "
            "mentions) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (story_id, source) DO UPDATE "
            "SET mentions = mentions + ?5, "
            "first_post_id = CASE WHEN ?3 < first_seen_at THEN ?4 ELSE first_post_id END, "
            "first_seen_at = min(first_seen_at, ?3)",
            [
                (story, source, first, post, count)
                for (story, source), (count, first, post) in per_source.items()
            ],
        )
        conn.executemany(
            "UPDATE stories SET sources = (SELECT count(*) FROM story_sources "
            "WHERE story_sources.story_id = stories.id) WHERE id = ?",
            [(story,) for story in per_story],
        )
        signature_rows = [(ids[i], kind, assigned[i], rows[i][5]) for kind, i in indexed]
        band_rows = _band_rows(
            [keys[usable], title_keys[title_usable]],
            [np.flatnonzero(usable), np.flatnonzero(title_usable)],
            assigned,
            [row[5] for row in rows],
        )
        # Rows as one JSON parameter where the archive allows it (see _is_sqlite), signatures
        # all in one blob, cut by position.
        if packed and (payload := json_rows(signature_rows)) is not None:
            size = NUM_PERM * 4
            conn.execute(
                "INSERT OR REPLACE INTO story_signatures (post_id, kind, story_id, at, signature) "
                "SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, "
                f"substr(?2, key * {size} + 1, {size}) FROM json_each(?1)",
                (payload, np.concatenate([sigs[usable], title_sigs[title_usable]]).tobytes()),
            )
        else:
            conn.executemany(
                "INSERT OR REPLACE INTO story_signatures (post_id, kind, story_id, at, signature) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (*row, sig.tobytes())
                    for row, sig in zip(
                        signature_rows, [*sigs[usable], *title_sigs[title_usable]], strict=True
                    )
                ],
            )
        if packed and (payload := json_rows(band_rows)) is not None:
            conn.execute(
                "INSERT INTO story_bands (band, key, story_id, at) SELECT value ->> 0, "
                f"value ->> 1, value ->> 2, value ->> 3 FROM json_each(?) WHERE true {_BAND_UPSERT}",
                (payload,),
            )
        else:
            conn.executemany(
                f"INSERT INTO story_bands (band, key, story_id, at) VALUES (?, ?, ?, ?) {_BAND_UPSERT}",
                band_rows,
            )
        # Entries older than the window can no longer be joined: keep the index small.
        conn.execute("DELETE FROM story_bands WHERE at < ?", (since,))
        conn.execute("DELETE FROM story_signatures WHERE at < ?", (since,))
    return StoryReport(len(ids), new_stories, joined)
