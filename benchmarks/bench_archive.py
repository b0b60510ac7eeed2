"""Archive search and export at auditor scale: 1,000,000 posts with model assessments.

Builds a synthetic archive (multilingual complaint/praise texts about a dozen brands, spread
over a year, inserted in time order as collection would, with one assessment per post), then
measures, each against a naive baseline in the same run:

* full-text search (first page, newest first) over realistic auditor queries
  — baseline: ``LIKE '%word%'`` scan over title and text, sorted by time;
* filtered search (brand, language, date range, sentiment, risk) — baseline: LIKE + filters;
* export of every post (with its assessment) to CSV: time and peak RSS
  — baseline: ``fetchall()`` then write (memory grows with the archive).

    python benchmarks/bench_archive.py [--posts 1000000] [--queries 200] [--db PATH]

The archive is kept at ``--db`` when given (re-used on the next run if it has enough posts).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.query import parse  # noqa: E402
from monitor.records import isoformat  # noqa: E402
from monitor.search import SearchFilters, search, tune_for_search  # noqa: E402
from monitor.store import Store  # noqa: E402

DATA = ROOT / "monitor" / "nlp" / "data"
BRANDS = [
    "Skyline Air",
    "Brightcart",
    "NordwaveTelecom",
    "Aurora Air",
    "Nimbus Airlines",
    "Polar Jet",
    "Veloxbank",
    "Kestrel Foods",
    "Orbit Mobile",
    "Lumen Energy",
    "Harbor Hotels",
    "Trailhead Gear",
]
FILLER = {
    "en": [
        "today",
        "again",
        "still",
        "really",
        "just",
        "my",
        "the",
        "flight",
        "order",
        "app",
        "support",
        "phone",
        "hotel",
    ],
    "de": [
        "heute",
        "wieder",
        "immer",
        "noch",
        "wirklich",
        "mein",
        "Flug",
        "Bestellung",
        "App",
        "Kundendienst",
    ],
    "pl": [
        "dzisiaj",
        "znowu",
        "wciąż",
        "naprawdę",
        "mój",
        "lot",
        "zamówienie",
        "aplikacja",
        "obsługa",
        "Łódź",
    ],
    "ru": [
        "сегодня",
        "опять",
        "всё",
        "ещё",
        "правда",
        "мой",
        "рейс",
        "заказ",
        "приложение",
        "поддержка",
    ],
    "es": [
        "hoy",
        "otra",
        "vez",
        "todavía",
        "realmente",
        "mi",
        "vuelo",
        "pedido",
        "aplicación",
        "soporte",
    ],
    "fr": ["encore", "toujours", "vraiment", "mon", "vol", "commande", "application", "service"],
    "it": [
        "oggi",
        "ancora",
        "sempre",
        "davvero",
        "mio",
        "volo",
        "ordine",
        "applicazione",
        "assistenza",
    ],
    "pt": [
        "hoje",
        "outra",
        "vez",
        "ainda",
        "mesmo",
        "meu",
        "voo",
        "pedido",
        "aplicativo",
        "suporte",
    ],
}
SOURCES = ["rss", "news", "reddit", "mastodon", "bluesky"]
SENTIMENTS = {"neg": "negative", "neu": "neutral", "pos": "positive"}
QUERY_TEMPLATES = [
    "{brand}",
    "{brand} refund*",
    "{brand} NEAR/5 refund",
    '"lost luggage" OR "lost bag"',
    "refund* NEAR/5 never",
    "zwrot* OR возврат*",
    "{brand} (lawyer OR court OR Anwalt OR sądu OR суд)",
    "title:{word}",
    "{word} {word2}",
    "{brand} -voucher",
    "outage OR Ausfall OR awaria",
    "{word}*",
    "lodz",
    "{brand} lang:{lang}",
    '"{word} {word2}"',
]


def _templates() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(DATA.glob("posts_*.txt")):
        lang = path.stem.split("_")[1]
        for line in path.read_text(encoding="utf-8").splitlines():
            head, _, text = line.partition("\t")
            if text:
                found.append((lang, head.split()[0], text))
    if not found:
        raise SystemExit(f"no text templates found in {DATA}")
    return found


def _vocabulary(templates: list[tuple[str, str, str]]) -> list[str]:
    from monitor.textnorm import tokens

    words: dict[str, int] = {}
    for _, _, text in templates:
        for token in tokens(text):
            if len(token) > 3 and not token.isdigit():
                words[token] = words.get(token, 0) + 1
    return sorted(words, key=lambda w: -words[w])[:400]


def _ensure_assessments(store: Store) -> None:
    if store.db["assessments"].exists():
        return
    # The model's migration is not in this tree yet: the table as its contract describes it.
    with store.transaction():
        store.conn.execute(
            "CREATE TABLE assessments (post_id TEXT NOT NULL, model_id TEXT, model_version TEXT, "
            "assessed_at TEXT, lang TEXT, sentiment TEXT, p_negative REAL, p_neutral REAL, "
            "p_positive REAL, complaint REAL, risk REAL, cues TEXT)"
        )
        store.conn.execute("CREATE INDEX idx_assessments_post ON assessments(post_id)")


def generate(path: Path, posts: int, seed: int = 11) -> None:
    """Fill ``path`` with ``posts`` posts, brand links and assessments, in one transaction."""
    store = Store.open(path)
    have = store.count("posts")
    if have >= posts:
        print(f"re-using {path} with {have} posts", file=sys.stderr)
        store.close()
        return
    if have:
        raise SystemExit(f"{path} holds {have} posts, fewer than {posts}: remove it first")
    _ensure_assessments(store)
    rng = random.Random(seed)
    templates = _templates()
    start = datetime(2025, 11, 1, tzinfo=UTC)
    step = 365 * 86400 / posts
    columns = [c[1] for c in store.conn.execute("PRAGMA table_info(assessments)")]
    marks = ", ".join("?" * len(columns))
    insert_assessment = f"INSERT INTO assessments ({', '.join(columns)}) VALUES ({marks})"
    batch = 20_000
    store.conn.execute("PRAGMA cache_size = -400000")
    with store.transaction() as conn, tqdm(total=posts, unit="posts", desc="generate") as bar:
        for first in range(0, posts, batch):
            post_rows, brand_rows, assessment_rows = [], [], []
            for n in range(first, min(posts, first + batch)):
                lang, label, text = rng.choice(templates)
                brand = rng.choice(BRANDS)
                for other in BRANDS[:3]:
                    text = text.replace(other, brand)
                filler = " ".join(rng.choices(FILLER[lang], k=rng.randint(3, 12)))
                if rng.random() < 0.3:
                    text = f"{filler} {text} #{brand.replace(' ', '')}"
                else:
                    text = f"{brand}: {text} {filler}"
                seen = start + timedelta(seconds=n * step)
                published = seen - timedelta(seconds=rng.randint(0, 6 * 3600))
                source = rng.choice(SOURCES)
                post_id = f"{source}:{n}"
                seen_text = isoformat(seen)
                post_rows.append(
                    (
                        post_id,
                        source,
                        str(n),
                        f"{source}-feed-{n % 40}",
                        f"https://{source}{n % 50}.example/p/{n}",
                        f"{source}{n % 50}.example",
                        f"user{rng.randint(1, 200_000)}",
                        rng.choice([None, rng.randint(10, 2_000_000)]),
                        lang,
                        " ".join(text.split()[:9]),
                        text,
                        isoformat(published),
                        seen_text,
                        seen_text,
                        f"{n:064x}",
                    )
                )
                brand_rows.append((post_id, brand, seen_text))
                sentiment = SENTIMENTS.get(label, "neutral")
                p_neg = rng.uniform(0.6, 0.99) if sentiment == "negative" else rng.uniform(0.0, 0.3)
                risk = round(min(1.0, p_neg * rng.betavariate(2, 3) * 1.6), 4)
                values = {
                    "post_id": post_id,
                    "model_id": "bench",
                    "model_version": "1",
                    "assessed_at": seen_text,
                    "lang": lang,
                    "sentiment": sentiment,
                    "p_negative": round(p_neg, 4),
                    "p_neutral": round((1 - p_neg) / 2, 4),
                    "p_positive": round((1 - p_neg) / 2, 4),
                    "complaint": round(p_neg, 4),
                    "risk": risk,
                    "cues": "[]",
                }
                assessment_rows.append(tuple(values.get(c) for c in columns))
            conn.executemany(
                "INSERT INTO posts (id, source, native_id, source_name, url, site, author, "
                "author_followers, lang, title, text, published_at, first_seen_at, "
                "last_seen_at, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                post_rows,
            )
            conn.executemany(
                "INSERT INTO post_brands (post_id, brand, matched_at) VALUES (?, ?, ?)", brand_rows
            )
            conn.executemany(insert_assessment, assessment_rows)
            bar.update(len(post_rows))
    store.conn.execute("PRAGMA optimize")
    store.close()


def make_queries(count: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    vocabulary = _vocabulary(_templates())
    queries = []
    for i in range(count):
        template = QUERY_TEMPLATES[i % len(QUERY_TEMPLATES)]
        queries.append(
            template.format(
                brand=f'"{rng.choice(BRANDS)}"',
                word=rng.choice(vocabulary[:200]),
                word2=rng.choice(vocabulary[:200]),
                lang=rng.choice(list(FILLER)),
            )
        )
    return queries


def make_filters(count: int, seed: int = 9) -> list[SearchFilters]:
    rng = random.Random(seed)
    end = datetime(2026, 11, 1, tzinfo=UTC)
    found = []
    for _ in range(count):
        since = end - timedelta(days=rng.choice([7, 30, 90, 365]))
        found.append(
            SearchFilters(
                brand=rng.choice([None, rng.choice(BRANDS)]),
                lang=rng.choice([None, None, rng.choice(list(FILLER))]),
                since=since,
                sentiment=rng.choice([None, "negative"]),
                risk_min=rng.choice([None, 0.5, 0.7]),
            )
        )
    return found


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _like_baseline(
    store: Store, query: str, filters: SearchFilters | None = None, limit: int = 50
) -> int:
    """The naive way: LIKE on the first word of the query, filters in SQL, sort by time."""
    terms = sorted(parse(query).highlight_terms()) or [query]
    word = terms[0].rstrip("*")
    sql = (
        "SELECT p.id FROM posts p WHERE (p.title LIKE ?1 OR p.text LIKE ?1)"
        if word
        else "SELECT p.id FROM posts p WHERE 1"
    )
    args: list[object] = [f"%{word}%"] if word else []
    if filters is not None:
        if filters.brand:
            sql += (
                " AND EXISTS (SELECT 1 FROM post_brands b WHERE b.post_id = p.id AND b.brand = ?)"
            )
            args.append(filters.brand)
        if filters.lang:
            sql += " AND p.lang = ?"
            args.append(filters.lang)
        if filters.since:
            sql += " AND p.published_at >= ?"
            args.append(isoformat(filters.since))
        if filters.sentiment:
            sql += (
                " AND (SELECT sentiment FROM assessments a WHERE a.post_id = p.id "
                "ORDER BY a.rowid DESC LIMIT 1) = ?"
            )
            args.append(filters.sentiment)
        if filters.risk_min is not None:
            sql += (
                " AND (SELECT risk FROM assessments a WHERE a.post_id = p.id "
                "ORDER BY a.rowid DESC LIMIT 1) >= ?"
            )
            args.append(filters.risk_min)
    sql += " ORDER BY p.published_at DESC LIMIT ?"
    args.append(limit)
    return len(store.conn.execute(sql, args).fetchall())


def _time(fn: object, *args: object) -> float:
    started = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return (time.perf_counter() - started) * 1000


def bench_search(store: Store, queries: list[str], baseline_queries: int) -> dict[str, float]:
    timings = [_time(search, store, q) for q in tqdm(queries, desc="fts search", unit="q")]
    sample = queries[:: max(1, len(queries) // baseline_queries)][:baseline_queries]
    base = [_time(_like_baseline, store, q) for q in tqdm(sample, desc="LIKE baseline", unit="q")]
    return {
        "p50": statistics.median(timings),
        "p95": _percentile(timings, 95),
        "max": max(timings),
        "base_p50": statistics.median(base),
        "base_p95": _percentile(base, 95),
        "base_n": len(base),
    }


def bench_filtered(
    store: Store, queries: list[str], filters: list[SearchFilters], baseline_queries: int
) -> dict[str, float]:
    pairs = list(zip(queries, filters, strict=True))
    timings = [_time(search, store, q, f) for q, f in tqdm(pairs, desc="filtered search", unit="q")]
    sample = pairs[:: max(1, len(pairs) // baseline_queries)][:baseline_queries]
    base = [
        _time(_like_baseline, store, q, f)
        for q, f in tqdm(sample, desc="filtered LIKE baseline", unit="q")
    ]
    return {
        "p50": statistics.median(timings),
        "p95": _percentile(timings, 95),
        "base_p50": statistics.median(base),
        "base_p95": _percentile(base, 95),
        "base_n": len(base),
    }


_EXPORT_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from monitor.export import export_posts
from monitor.store import Store
store = Store.open({db!r}, readonly=True)
started = time.perf_counter()
if {naive!r}:
    import csv
    rows = store.conn.execute(
        "SELECT p.*, a.sentiment, a.risk FROM posts p LEFT JOIN assessments a ON a.post_id = p.id "
        "ORDER BY coalesce(p.published_at, p.first_seen_at)"
    ).fetchall()
    with open({out!r}, "w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(rows)
    count = len(rows)
else:
    count = export_posts(store, {out!r}, "csv", include=["assessments"], progress=True).rows
elapsed = time.perf_counter() - started
# VmHWM, not ru_maxrss: the latter survives exec and would report the parent's high-water mark.
status = open("/proc/self/status").read()
peak = int(status.split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps({{"rows": count, "seconds": elapsed, "peak_mb": peak}}))
"""


def bench_export(db: Path, out: Path, naive: bool) -> dict[str, float]:
    """Run one export in a fresh process so its peak RSS is its own."""
    code = _EXPORT_CHILD.format(root=str(ROOT), db=str(db), out=str(out), naive=naive)
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=3600
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    result["size_mb"] = out.stat().st_size / 1e6
    out.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--baseline-queries", type=int, default=20, help="LIKE scans to time")
    parser.add_argument("--db", type=Path, default=None, help="keep the archive here")
    parser.add_argument("--skip-export", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-archive-"))
    db = args.db or workdir / "archive.db"
    started = time.perf_counter()
    generate(db, args.posts)
    generated = time.perf_counter() - started
    queries = make_queries(args.queries)
    filters = make_filters(args.queries)
    with Store.open(db, readonly=True) as store:
        posts = store.count("posts")
        tune_for_search(store)
        search(store, "warm up the cache")
        plain = bench_search(store, queries, args.baseline_queries)
        filtered = bench_filtered(store, queries, filters, args.baseline_queries)
    export = naive_export = None
    if not args.skip_export:
        export = bench_export(db, workdir / "export.csv", naive=False)
        naive_export = bench_export(db, workdir / "naive.csv", naive=True)
    print(f"archive: {posts} posts, {db.stat().st_size / 1e6:.0f} MB (built in {generated:.0f} s)")
    print(f"fts search p50 {plain['p50']:.1f} ms")
    print(f"fts search p95 {plain['p95']:.1f} ms")
    print(f"fts search max {plain['max']:.1f} ms")
    print(f"LIKE baseline p50 {plain['base_p50']:.1f} ms ({plain['base_n']:.0f} queries)")
    print(f"LIKE baseline p95 {plain['base_p95']:.1f} ms")
    print(f"search speed-up p95 {plain['base_p95'] / plain['p95']:.1f}x")
    print(f"filtered search p50 {filtered['p50']:.1f} ms")
    print(f"filtered search p95 {filtered['p95']:.1f} ms")
    print(f"filtered LIKE baseline p95 {filtered['base_p95']:.1f} ms")
    print(f"filtered speed-up p95 {filtered['base_p95'] / filtered['p95']:.1f}x")
    if export and naive_export:
        rate = export["rows"] / export["seconds"]
        print(
            f"export csv {export['seconds']:.1f} s ({rate:.0f} rows/s, {export['size_mb']:.0f} MB)"
        )
        print(f"export peak RSS {export['peak_mb']:.0f} MB")
        print(f"naive export {naive_export['seconds']:.1f} s")
        print(f"naive export peak RSS {naive_export['peak_mb']:.0f} MB")
        print(f"export memory ratio {naive_export['peak_mb'] / export['peak_mb']:.1f}x")
        print(f"export time ratio {naive_export['seconds'] / export['seconds']:.1f}x")
    if args.db is None:
        for leftover in workdir.iterdir():
            leftover.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    main()
