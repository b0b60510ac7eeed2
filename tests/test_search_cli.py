"""`groundswell search` through the CLI: filters, sort orders, output formats, errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from monitor.cli import cli
from monitor.store import Store
from tests.test_search import _add, side_tables


def _archive(tmp_path: Path) -> str:
    path = tmp_path / "archive.db"
    with Store.open(path) as store:
        _add(store)
        side_tables(store)
    return str(path)


def _search(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["search", *args], catch_exceptions=False)
    return result.exit_code, result.stdout


def test_json_output_with_filters_and_risk_sort(tmp_path: Path) -> None:
    db = _archive(tmp_path)
    code, out = _search(
        "",
        "--db",
        db,
        "--sentiment",
        "negative",
        "--risk-min",
        "0.6",
        "--sort",
        "risk",
        "--format",
        "json",
    )
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["rss:en1", "rss:pl1", "rss:ru1"]
    assert rows[0]["alert_status"] == "firing" and rows[0]["risk"] == 0.9


def test_alert_status_assignee_and_csv(tmp_path: Path) -> None:
    db = _archive(tmp_path)
    code, out = _search("", "--db", db, "--alert-status", "any", "--format", "csv")
    assert code == 0
    assert [r["id"] for r in csv.DictReader(io.StringIO(out))] == ["rss:pl1", "rss:en1"]
    code, out = _search("возврат*", "--db", db, "--assignee", "maria")
    assert code == 0 and "[Возврат]" in out


def test_bad_query_and_bad_filter_exit_codes(tmp_path: Path) -> None:
    db = _archive(tmp_path)
    assert _search('"unclosed', "--db", db)[0] == 2
    result = CliRunner().invoke(cli, ["search", "x", "--db", db, "--alert-status", "maybe"])
    assert result.exit_code == 2
