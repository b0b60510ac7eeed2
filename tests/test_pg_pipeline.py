"""The pipeline on the PostgreSQL archive: poll, classify, score, alert and deliver, and the CLI.

Each stage runs unchanged (its SQLite statements translated) against a real local PostgreSQL
and, in the same test, against a SQLite archive; both must end with the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

pytest.importorskip(
    "psycopg", reason="psycopg is not installed: pip install 'groundswell[postgres]'"
)
pytest.importorskip(
    "sqlglot", reason="sqlglot is not installed: pip install 'groundswell[postgres]'"
)

from alerts.delivery import deliver_pending
from alerts.engine import AlertEngine
from monitor.cli import cli
from monitor.config import parse_config
from monitor.loopback import LoopbackServer, Reply
from monitor.nlp.engine import Classifier, ModelSettings, load_model_folder
from monitor.nlp.stage import classify_pending
from monitor.pg.store import PgStore
from monitor.pipeline import poll
from monitor.risk import score_pending
from monitor.store import Store
from sources.http import HttpClient, RetryPolicy
from tests.nlp_support import make_tiny_model
from tests.test_alerts_support import Clock, event

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
ITEMS = [
    ("a1", "Acme lost my luggage", "Acme lost my luggage and will never refund it. Lawyer next."),
    ("a2", "Acme refund", "Third week without a refund from Acme. Never again."),
    ("a3", "Acme crew", "The Acme crew found my bag, great service, danke!"),
    ("w1", "Rain", "Rain all day in Łódź, nothing about airlines."),
    ("a4", "Acme zwrot", "Acme: zwrot pieniędzy? Nigdy. Sąd."),
]


def _feed() -> bytes:
    entries = "".join(
        f"<item><guid>{nid}</guid><title>{title}</title><description>{text}</description>"
        f"<link>https://news.example/{nid}</link>"
        f"<pubDate>{(NOW - timedelta(minutes=30 + i)).strftime('%a, %d %b %Y %H:%M:%S +0000')}"
        f"</pubDate></item>"
        for i, (nid, title, text) in enumerate(ITEMS)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>News</title>'
        f"<link>https://news.example/</link>{entries}</channel></rss>"
    ).encode()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Classifier:
    folder = make_tiny_model(
        tmp_path_factory.mktemp("pgstage") / "m", ("negative", "neutral", "positive", "complaint")
    )
    return load_model_folder(folder, ModelSettings(quantize="none"))


@pytest.fixture
def feed() -> Iterator[LoopbackServer]:
    with LoopbackServer(
        {"/news": Reply(200, _feed(), {"Content-Type": "application/rss+xml"})}
    ) as s:
        yield s


def _config(server: LoopbackServer) -> Any:
    return parse_config(
        {
            "brands": [{"name": "Acme", "query": "acme"}, {"name": "Weather", "query": "rain"}],
            "sources": [{"name": "news", "type": "rss", "params": {"url": server.url("/news")}}],
            "alerts": {
                "route": {"receiver": "pr", "group_wait": "0s"},
                "receivers": [{"name": "pr"}],
            },
        }
    )


def _run_pipeline(store: Any, config: Any, classifier: Classifier) -> dict[str, Any]:
    clock = Clock(NOW)
    with HttpClient(timeout=2, retry=RetryPolicy(attempts=1), sleep=lambda s: None) as http:
        report = poll(config, store, http, clock=clock)
    classified = classify_pending(store, classifier)
    events = score_pending(store, config, NOW)
    engine = AlertEngine(config, store, clock)
    forced = event("rss:a1", brand="Acme", severity="critical", risk=0.95, at=NOW)
    updates = engine.process([*events, forced])
    clock.advance(60)
    engine.tick(clock.now)
    delivery = deliver_pending(store, config, clock.now)
    rows = store.conn.execute
    return {
        "new": report.new,
        "classified": classified,
        "events": sorted((e.post_id, e.brand, e.severity, round(e.risk, 6)) for e in events),
        "updates": sorted(u.action for u in updates),
        "sent": delivery.sent,
        "brands": sorted(rows("SELECT post_id, brand FROM post_brands").fetchall()),
        "assessments": sorted(
            (r[0], r[1], round(r[2], 5), round(r[3] or 0, 5))
            for r in rows("SELECT post_id, sentiment, p_negative, complaint FROM assessments")
        ),
        "langs": sorted(rows("SELECT id, lang FROM posts").fetchall(), key=str),
        "risk": sorted(
            (r[0], r[1], round(r[2], 6), r[3])
            for r in rows("SELECT post_id, brand, risk, severity FROM risk_scores")
        ),
        "stories": rows("SELECT count(*) FROM stories").fetchone()[0],
        "alerts": sorted(rows("SELECT group_key, brand, severity, status FROM alerts").fetchall()),
        "outbox": sorted(rows("SELECT kind, receiver, status FROM outbox").fetchall()),
        "audit": [r[0] for r in rows("SELECT action FROM audit_log ORDER BY seq").fetchall()],
    }


def test_stages_on_postgresql_match_sqlite(
    pg_archive: str, tmp_path: Path, feed: LoopbackServer, tiny: Classifier
) -> None:
    config = _config(feed)
    with Store.open(pg_archive) as pg:  # the storage URL opens the PostgreSQL archive
        assert isinstance(pg, PgStore)
        on_pg = _run_pipeline(pg, config, tiny)
    with Store.open(tmp_path / "lite.db") as lite:
        on_lite = _run_pipeline(lite, config, tiny)
    assert on_pg == on_lite
    assert on_pg["new"] == len(ITEMS) and on_pg["classified"] == len(ITEMS)
    assert len(on_pg["risk"]) >= 4 and on_pg["alerts"] and on_pg["sent"] >= 1


def test_groundswell_search_on_postgresql(
    pg_archive: str, tmp_path: Path, feed: LoopbackServer
) -> None:
    config_file = tmp_path / "groundswell.toml"
    config_file.write_text(
        f'storage = "{pg_archive}"\n\n[[brands]]\nname = "Acme"\nquery = "acme"\n\n'
        f'[[sources]]\nname = "news"\ntype = "rss"\nparams = {{ url = "{feed.url("/news")}" }}\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    polled = runner.invoke(cli, ["poll", "--config", str(config_file)])
    assert polled.exit_code == 0, polled.output
    found = runner.invoke(
        cli, ["search", "refund* OR zwrot", "--config", str(config_file), "--format", "json"]
    )
    assert found.exit_code == 0, found.output
    ids = sorted(json.loads(line)["id"] for line in found.output.splitlines() if line.strip())
    assert ids == ["rss:a1", "rss:a2", "rss:a4"]
    with PgStore.open(pg_archive, readonly=True) as store:
        assert store.count("posts") == 4  # the rain item matched no configured brand
