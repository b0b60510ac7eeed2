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
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from monitor.records import isoformat, utcnow
from monitor.store import Store
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
    joined = f"{title} {text}"[: MAX_CHARS * 2]
    cleaned = _NON_WORD.sub(" ", _URL.sub(" ", fold(joined))).strip()
    return cleaned[:MAX_CHARS]


def _mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (uint64 arithmetic wraps, as intended)."""
    x = values ^ (values >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _shingles(norm: str) -> np.ndarray:
    codes = np.frombuffer(norm.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    count = len(codes) - SHINGLE + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    acc = np.zeros(count, dtype=np.uint64)
    for k in range(SHINGLE):
        acc = acc * np.uint64(1_000_003) + codes[k : k + count]
    return _mix64(acc)


def signatures(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures ``(n, NUM_PERM) uint32`` of already normalised texts, and a mask of
    the texts long enough to be clustered by content.

    One-permutation hashing: each shingle hash picks one of ``NUM_PERM`` bins by its low bits
    and the bin keeps its minimum, so the cost is one hash per shingle instead of one per shingle
    and permutation; empty bins borrow from their right neighbour (rotation densification),
    which keeps the estimate of Jaccard similarity unbiased.
    """
    n = len(texts)
    sigs = np.zeros((n, NUM_PERM), dtype=np.uint32)
    usable = np.zeros(n, dtype=bool)
    pending: list[tuple[int, np.ndarray]] = []
    pending_size = 0

    def flush() -> None:
        nonlocal pending_size
        if not pending:
            return
        rows = np.fromiter((i for i, _ in pending), dtype=np.int64, count=len(pending))
        lengths = np.fromiter((len(h) for _, h in pending), dtype=np.int64, count=len(pending))
        values = np.concatenate([h for _, h in pending])
        owner = np.repeat(np.arange(len(pending), dtype=np.int64), lengths)
        slots = owner * NUM_PERM + (values & np.uint64(NUM_PERM - 1)).astype(np.int64)
        flat = np.full(len(pending) * NUM_PERM, _EMPTY, dtype=np.uint64)
        np.minimum.at(flat, slots, values >> np.uint64(_BIN_BITS))
        table = flat.reshape(len(pending), NUM_PERM)
        empty = table == _EMPTY
        step = 0
        while empty.any() and step < NUM_PERM:
            step += 1
            borrowed = np.roll(table, -1, axis=1)
            fill = empty & (borrowed != _EMPTY)
            table[fill] = borrowed[fill] + np.uint64(_DENSIFY)
            empty &= ~fill
        sigs[rows] = (table >> np.uint64(64 - _BIN_BITS - 32)).astype(np.uint32)
        pending.clear()
        pending_size = 0

    for index, text in enumerate(texts):
        if len(text) < MIN_CHARS:
            continue
        hashes = _shingles(text)
        if not len(hashes):
            continue
        usable[index] = True
        pending.append((index, hashes))
        pending_size += len(hashes)
        if pending_size >= 200_000:
            flush()
    flush()
    return sigs, usable


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


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller index is the root, so a cluster is labelled by its first item.
            if ra < rb:
                self.parent[rb] = ra
            else:
                self.parent[ra] = rb


def cluster_signatures(
    sigs: np.ndarray, usable: np.ndarray, threshold: float = THRESHOLD
) -> np.ndarray:
    """Cluster label per row: the index of the first row of its cluster."""
    n = len(sigs)
    uf = _UnionFind(n)
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
            pairs = np.unique(np.concatenate(found), axis=0)
            for a_i, b_i in pairs.tolist():
                uf.union(a_i, b_i)
    return np.fromiter((uf.find(i) for i in range(n)), dtype=np.int64, count=n)


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


def _existing_matches(
    store: Store, sig: np.ndarray, keys: np.ndarray, since: str, exclude: set[str]
) -> tuple[str, float] | None:
    marks = ",".join("(?,?)" for _ in range(BANDS))
    params: list[int | str] = []
    for band in range(BANDS):
        params.extend((band, int(keys[band])))
    rows = store.conn.execute(
        f"SELECT DISTINCT s.post_id, s.story_id, s.signature FROM story_bands b "
        f"JOIN story_signatures s ON s.post_id = b.post_id "
        f"WHERE (b.band, b.key) IN (VALUES {marks}) AND s.at >= ?",
        [*params, since],
    ).fetchall()
    best: tuple[str, float] | None = None
    for post_id, story_id, blob in rows:
        if post_id in exclude:
            continue
        other = np.frombuffer(blob, dtype=np.uint32)
        if len(other) != NUM_PERM:
            continue
        score = float(similarity(sig, other))
        if score >= THRESHOLD and (best is None or score > best[1]):
            best = (story_id, score)
    return best


def assign_stories(
    store: Store,
    post_ids: Sequence[str],
    now: datetime | None = None,
    *,
    window_days: float = WINDOW_DAYS,
) -> StoryReport:
    """Give each of ``post_ids`` (that has none yet) a story id, and keep story tables current."""
    now = now or utcnow()
    if not post_ids:
        return StoryReport()
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
    labels = cluster_signatures(sigs, usable)
    keys = band_keys(sigs) if len(sigs) else np.zeros((0, BANDS), dtype=np.int64)
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
    batch = set(ids)
    # Link each batch cluster to an existing story (best evidence wins).
    cluster_story: dict[int, tuple[str, float]] = {}
    for index, row in enumerate(rows):
        label = int(labels[index])
        found: tuple[str, float] | None = None
        if row[4]:
            hit = store.conn.execute(
                "SELECT story_id FROM posts WHERE canonical_url = ? AND story_id IS NOT NULL "
                "LIMIT 1",
                (row[4],),
            ).fetchone()
            if hit:
                found = (hit[0], 2.0)
        if found is None and usable[index]:
            found = _existing_matches(store, sigs[index], keys[index], since, batch)
        if found and (label not in cluster_story or found[1] > cluster_story[label][1]):
            cluster_story[label] = found
    new_stories = joined = 0
    seen_at = {r[0]: r[5] for r in rows}
    with store.transaction() as conn:
        assigned: dict[str, str] = {}
        for index, post_id in enumerate(ids):
            label = int(labels[index])
            if label in cluster_story:
                story = cluster_story[label][0]
                joined += 1
            else:
                story = story_id_for(ids[label])
                if label == index:
                    new_stories += 1
                    conn.execute(
                        "INSERT OR IGNORE INTO stories (id, first_post_id, title, first_seen_at, "
                        "last_seen_at, mentions, sources) VALUES (?, ?, ?, ?, ?, 0, 0)",
                        (story, post_id, rows[index][2], seen_at[post_id], seen_at[post_id]),
                    )
            assigned[post_id] = story
        # Cluster members sorted by first-seen: the label row comes first, so it exists now.
        for index, post_id in enumerate(ids):
            story = assigned[post_id]
            source, first_seen = rows[index][1], rows[index][5]
            conn.execute("UPDATE posts SET story_id = ? WHERE id = ?", (story, post_id))
            conn.execute(
                "UPDATE stories SET mentions = mentions + 1, "
                "last_seen_at = max(last_seen_at, ?1), first_seen_at = min(first_seen_at, ?1) "
                "WHERE id = ?2",
                (first_seen, story),
            )
            conn.execute(
                "INSERT INTO story_sources (story_id, source, first_seen_at, first_post_id, "
                "mentions) VALUES (?1, ?2, ?3, ?4, 1) ON CONFLICT (story_id, source) DO UPDATE "
                "SET mentions = mentions + 1, "
                "first_post_id = CASE WHEN ?3 < first_seen_at THEN ?4 ELSE first_post_id END, "
                "first_seen_at = min(first_seen_at, ?3)",
                (story, source, first_seen, post_id),
            )
            if usable[index]:
                conn.execute(
                    "INSERT OR REPLACE INTO story_signatures (post_id, story_id, at, signature) "
                    "VALUES (?, ?, ?, ?)",
                    (post_id, story, first_seen, sigs[index].tobytes()),
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO story_bands (band, key, post_id) VALUES (?, ?, ?)",
                    [(band, int(keys[index][band]), post_id) for band in range(BANDS)],
                )
        conn.execute(
            "UPDATE stories SET sources = (SELECT count(*) FROM story_sources "
            "WHERE story_sources.story_id = stories.id) "
            f"WHERE id IN ({','.join('?' * len(set(assigned.values())))})",
            sorted(set(assigned.values())),
        )
        # Signatures older than the window can no longer be joined: keep the index small.
        old = [
            r[0]
            for r in conn.execute(
                "SELECT post_id FROM story_signatures WHERE at < ?", (since,)
            ).fetchall()
        ]
        for start in range(0, len(old), 500):
            chunk = old[start : start + 500]
            marks = ",".join("?" * len(chunk))
            conn.execute(f"DELETE FROM story_bands WHERE post_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM story_signatures WHERE post_id IN ({marks})", chunk)
    return StoryReport(len(ids), new_stories, joined)
