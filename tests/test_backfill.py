"""Bulk import of saved feeds: parallel parse, brand matching, idempotent, bad files reported."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.backfill import backfill, feed_files
from monitor.cli import cli
from monitor.config import parse_config
from monitor.store import Store

FIX = Path(__file__).parent / "fixtures" / "rss"
CONFIG = {
    "brands": [{"name": "Acme Air", "query": '"acme air"'}, {"name": "Weather", "query": "rain"}]
}


def test_backfill_in_worker_processes_is_idempotent(tmp_path: Path, store: Store) -> None:
    shutil.copy(FIX / "rss20_en.xml", tmp_path / "a.xml")
    shutil.copy(FIX / "atom_de.atom", tmp_path / "b.atom")
    (tmp_path / "bad.xml").write_text("not a feed at all")
    (tmp_path / "notes.txt").write_text("ignored: not a feed suffix")
    files = feed_files([tmp_path])
    assert [f.name for f in files] == ["a.xml", "b.atom", "bad.xml"]
    config = parse_config(CONFIG)
    first = backfill(config, store, files, workers=2)
    assert (first.files, first.items, first.matched, first.new) == (3, 5, 4, 4)
    assert len(first.errors) == 1 and "bad.xml" in first.errors[0]
    again = backfill(config, store, files, workers=1)
    assert again.new == 0 and again.matched == 4
    assert store.count("posts") == 4


def test_backfill_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("groundswell.toml").write_text('[[brands]]\nname = "Acme Air"\nquery = \'"acme air"\'\n')
    shutil.copy(FIX / "rss20_en.xml", tmp_path / "a.xml")
    result = CliRunner().invoke(cli, ["backfill", "a.xml", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "1 file(s), 3 item(s), 2 matched, 2 new" in result.output


def numbered_feed(prefix: str, count: int = 3) -> bytes:
    items = "".join(
        f"<item><guid>{prefix}-{n}</guid><title>Acme Air {prefix} {n}</title>"
        f"<link>https://news.example/{prefix}/{n}</link></item>"
        for n in range(count)
    )
    return f'<rss version="2.0"><channel><title>{prefix}</title>{items}</channel></rss>'.encode()


def test_backfill_stores_several_files_per_transaction(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import monitor.backfill as module

    monkeypatch.setattr(module, "BATCH_ITEMS", 5)
    inputs = [(f"f{n}", numbered_feed(f"f{n}")) for n in range(6)]
    statements: list[str] = []
    done: list[str] = []
    store.conn.set_trace_callback(statements.append)
    report = backfill(
        parse_config(CONFIG), store, inputs, workers=1, on_file=lambda n, c: done.append(n)
    )
    store.conn.set_trace_callback(None)
    assert (report.files, report.items, report.new) == (6, 18, 18)
    assert statements.count("COMMIT") == 3  # two files per transaction: 6 matched items >= 5
    assert done == [f"f{n}" for n in range(6)]  # each file reported once it is stored
    assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000  # restored
    assert backfill(parse_config(CONFIG), store, inputs, workers=1).new == 0
