"""`groundswell archive export-sqlite`: a PostgreSQL archive becomes a verifiable SQLite archive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip(
    "psycopg", reason="psycopg is not installed: pip install 'groundswell[postgres]'"
)
pytest.importorskip(
    "sqlglot", reason="sqlglot is not installed: pip install 'groundswell[postgres]'"
)

from alerts.engine import AlertEngine
from monitor import audit
from monitor.cli import cli
from monitor.pg.store import PgStore
from monitor.records import Post, Snapshot
from monitor.search import iter_search
from monitor.store import Store
from tests.test_alerts_support import Clock, event, make_config

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def _seed(url: str) -> None:
    with PgStore.open(url) as store:
        posts = [
            (
                Post(
                    source="rss",
                    native_id=str(day),
                    title=f"Day {day}",
                    text=f"Acme refund {'never' if day % 2 else 'came'} Łódź {day}",
                    author="Jane Doe",
                    lang="en",
                    published_at=T0 + timedelta(days=day),
                    engagement=Snapshot(T0 + timedelta(days=day), likes=day),
                ),
                ["Acme"],
            )
            for day in range(10)
        ]
        store.upsert_posts(posts, seen_at=T0 + timedelta(days=11))
        store.conn.execute(
            "INSERT INTO assessments (post_id, model_id, model_version, assessed_at, sentiment, "
            "p_negative, risk) VALUES (?, 'm', '1', ?, 'negative', 0.9, 0.8)",
            ("rss:3", "2026-09-12T00:00:00Z"),
        )
        clock = Clock(T0 + timedelta(days=3, hours=1))
        AlertEngine(make_config({"route": {"group_wait": "0s"}}), store, clock).process(
            [event("rss:3", brand="Acme", severity="critical", risk=0.9, at=clock.now)]
        )
        audit.record(store, actor="maria", action="alert.ack", subject="alert:1")
        assert audit.verify(store).ok


def test_full_export_verifies_and_matches(pg_archive: str, tmp_path: Path) -> None:
    _seed(pg_archive)
    out = tmp_path / "audit.db"
    runner = CliRunner()
    result = runner.invoke(
        cli, ["archive", "export-sqlite", "--db", pg_archive, "--out", str(out), "--actor", "ana"]
    )
    assert result.exit_code == 0, result.output
    verified = runner.invoke(cli, ["audit", "verify", "--db", str(out)])
    assert verified.exit_code == 0, verified.output
    with PgStore.open(pg_archive, readonly=True) as pg, Store.open(out, readonly=True) as lite:
        for table in ("posts", "post_brands", "snapshots", "assessments", "alerts", "alert_events"):
            assert lite.count(table) == pg.count(table), table
        assert lite.count("audit_log") == pg.count("audit_log") - 1  # + the export's own entry
        for post_id in ("rss:0", "rss:9"):
            assert lite.post(post_id) == pg.post(post_id)
        for query in ("refund never", "lodz OR acme", 'author:"jane doe"'):
            assert [r["id"] for r in iter_search(lite, query)] == [
                r["id"] for r in iter_search(pg, query)
            ]
        (last,) = list(audit.entries(pg, newest_first=True, limit=1))
    assert last.action == "export" and last.actor == "ana"
    assert '"audit_seq":' in (last.after or "") and "sha256" in (last.after or "")


def test_date_range_export_keeps_the_whole_chain(pg_archive: str, tmp_path: Path) -> None:
    _seed(pg_archive)
    out = tmp_path / "range.db"
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "archive",
            "export-sqlite",
            "--db",
            pg_archive,
            "--out",
            str(out),
            "--since",
            "2026-09-03",
            "--until",
            "2026-09-06",
        ],
    )
    assert result.exit_code == 0, result.output
    assert runner.invoke(cli, ["audit", "verify", "--db", str(out)]).exit_code == 0
    with Store.open(out, readonly=True) as lite:
        ids = [r[0] for r in lite.conn.execute("SELECT id FROM posts ORDER BY id")]
        assert ids == ["rss:2", "rss:3", "rss:4"]  # published 3, 4 and 5 September
        assert {r[0] for r in lite.conn.execute("SELECT post_id FROM post_brands")} == set(ids)
        assert lite.count("assessments") == 1 and lite.count("alerts") == 1
        assert lite.count("audit_log") >= 2  # alert.fired … and the ack: the chain is whole
        assert lite.conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_refuses_an_existing_file_and_a_sqlite_source(pg_archive: str, tmp_path: Path) -> None:
    out = tmp_path / "there.db"
    out.write_bytes(b"keep me")
    runner = CliRunner()
    existing = runner.invoke(
        cli, ["archive", "export-sqlite", "--db", pg_archive, "--out", str(out)]
    )
    assert existing.exit_code == 1 and "exists" in existing.output
    assert out.read_bytes() == b"keep me"
    lite = runner.invoke(
        cli,
        [
            "archive",
            "export-sqlite",
            "--db",
            str(tmp_path / "a.db"),
            "--out",
            str(tmp_path / "b.db"),
        ],
    )
    assert lite.exit_code == 2 and "PostgreSQL" in lite.output
