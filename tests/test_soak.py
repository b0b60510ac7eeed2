"""The soak script's fakes: cheap lookups that match the demo fakes, and exact served/stored books."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.soak import SOURCES, SoakFakes, _stored_keys, build_load, soak_config
from monitor.config import parse_config
from monitor.demo import DEMO_ENV
from monitor.fakes import FakeSources
from monitor.pipeline import poll
from monitor.store import Store
from sources.http import HttpClient

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
BRANDS = ["BrandA Air", "BrandB Air", "BrandC Air"]


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def restart(self) -> None:
        return None


def test_visible_posts_match_the_demo_fakes_and_only_rendered_posts_count_as_served() -> None:
    scenario = build_load(START, 1.0, 3.0, BRANDS, seed=3)
    clock = _Clock(START + timedelta(seconds=40))
    fakes = SoakFakes(scenario, clock)  # type: ignore[arg-type]
    with fakes:
        for source in (*SOURCES, "news"):
            for query in (None, '"BrandB Air"'):
                expected = FakeSources._visible(fakes, source, query)
                assert fakes._visible(source, query) == expected
                assert all(p.published_at <= clock.now for p in expected)
        assert "reddit" not in fakes.handed  # looking is not serving
        listed = fakes._visible("reddit", '"BrandA Air"')[:2]
        fakes._reddit_listing(listed)
        assert fakes.handed["reddit"] == {p.key for p in listed}
        before = len(fakes._visible("mastodon"))
        clock.now = START + timedelta(minutes=2)
        assert len(fakes._visible("mastodon")) > before


def test_every_served_post_is_recognised_in_the_archive(tmp_path: Path) -> None:
    os.environ.update({k: v for k, v in DEMO_ENV.items() if k not in os.environ})
    scenario = build_load(START, 0.5, 2.0, BRANDS, seed=4)
    numbers = {110_000_000_000 + n * 1000: p.key for n, p in enumerate(scenario.posts)}
    clock = _Clock(scenario.end + timedelta(seconds=1))
    fakes = SoakFakes(scenario, clock)  # type: ignore[arg-type]
    with fakes, HttpClient() as client, Store.open(tmp_path / "soak.db") as store:
        raw = soak_config(fakes.urls, BRANDS, "30s", "http://127.0.0.1:9/hook")
        # One feed and one instance of each search source.
        raw["sources"] = [s for s in raw["sources"] if s["name"].endswith("-0")]
        config = parse_config(raw, "<soak>")
        poll(config, store, client, clock=clock)
        served = {key for keys in fakes.handed.values() for key in keys}
        stored = _stored_keys(store, numbers)
    assert served == {p.key for p in scenario.posts}  # every source type answered
    assert set(stored) == served
    assert len(set(stored.values())) == len(stored)  # one archive row per scripted post
