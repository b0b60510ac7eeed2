"""``groundswell demo``: the whole slice on bundled, local data — no accounts, no internet.

A loopback server serves multilingual sample feeds; a demo config watches the brand "Aurora Air"
and its competitor; one collection round stores what matched in the archive, and a summary shows
what was found and how to explore it.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from monitor.config import parse_config
from monitor.loopback import LoopbackServer, Reply
from monitor.pipeline import poll
from monitor.search import search
from monitor.store import Store
from sources.http import HttpClient

__all__ = ["DEMO_FEEDS", "demo_config", "run_demo"]

DEMO_FEEDS = {
    "travel-news": ("travel-news.xml", "application/rss+xml; charset=utf-8", None),
    "reise-blog": ("reise-blog.atom", "application/atom+xml; charset=utf-8", "de"),
    "opinie": ("opinie.xml", "application/rss+xml; charset=utf-8", None),
}


def demo_routes() -> dict[str, Reply]:
    data = files("monitor").joinpath("demo_data")
    return {
        f"/{name}": Reply(200, data.joinpath(filename).read_bytes(), {"Content-Type": ctype})
        for name, (filename, ctype, _) in DEMO_FEEDS.items()
    }


def demo_config(base_url: str, db_path: str) -> dict:
    sources = []
    for name, (_, _, lang) in DEMO_FEEDS.items():
        params = {"url": f"{base_url}/{name}"}
        if lang:
            params["lang"] = lang
        sources.append({"name": name, "type": "rss", "interval": "5m", "params": params})
    return {
        "storage": {"path": db_path},
        "brands": [
            {
                "name": "Aurora Air",
                "aliases": ["AuroraAir"],
                "handles": ["@auroraair"],
                "query": '("aurora air" OR auroraair) NOT "aurora borealis"',
                "languages": ["en", "de", "es", "pl", "ru", "fr"],
                "competitors": ["Nimbus Airlines"],
            },
            {"name": "Nimbus Airlines", "query": '"nimbus airlines" OR "nimbus air"'},
        ],
        "sources": sources,
    }


def run_demo(
    db_path: Path, *, serve: bool = False, fast: bool = False, echo: Callable[[str], None] = print
) -> int:
    """Run the demo; returns the process exit code."""
    with LoopbackServer(demo_routes()) as server:
        config = parse_config(demo_config(server.url("").rstrip("/"), str(db_path)), "<demo>")
        echo(f"demo sources served on {server.url('/')}; archive: {db_path}")
        with Store.open(db_path) as store, HttpClient(timeout=10) as client:
            report = poll(config, store, client)
            for item in report.sources:
                state = "ok" if item.ok else f"FAILED: {item.error}"
                echo(
                    f"  polled {item.source:<12} {item.fetched:>2} items, {item.matched:>2} matched brand "
                    f"queries, {item.new:>2} new  [{state}]"
                )
            echo("")
            for brand in config.brands:
                rows = search(store, None, _brand_filter(brand.name), limit=100)
                role = " (competitor)" if brand.is_competitor else ""
                echo(f"{brand.name}{role}: {len(rows)} mention(s)")
                for row in rows:
                    echo(
                        f"  [{row['lang'] or '--'}] {row['title']}  <{row['site'] or row['source']}>"
                    )
            echo("")
            echo('Try:  groundswell search "refund NEAR/5 never"')
            echo("      groundswell search 'zwrot* OR возврат* OR reembolso' --format json")
            echo("      groundswell status --db " + str(db_path))
    return 1 if report.all_failed else 0


def _brand_filter(name: str):
    from monitor.search import SearchFilters

    return SearchFilters(brand=name)
