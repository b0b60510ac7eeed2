"""The command line through click's CliRunner."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.loopback import LoopbackServer, Reply

FIX = Path(__file__).parent / "fixtures" / "rss"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GROUNDSWELL_DB", raising=False)
    monkeypatch.delenv("GROUNDSWELL_CONFIG", raising=False)
    return CliRunner()


def write_config(server: LoopbackServer, *paths: str) -> None:
    sources = "\n".join(
        f'[[sources]]\nname = "{p.strip("/")}"\ntype = "rss"\nparams = {{ url = "{server.url(p)}" }}\n'
        for p in paths
    )
    Path("groundswell.toml").write_text(
        '[[brands]]\nname = "Acme Air"\nquery = \'"acme air" OR guitar\'\n\n' + sources,
        encoding="utf-8",
    )


def test_init_then_check(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["init"])
    assert result.exit_code == 0, result.output
    assert Path("groundswell.toml").exists()
    again = runner.invoke(cli, ["init"])
    assert again.exit_code == 1 and "already exists" in again.output
    check = runner.invoke(cli, ["config", "check"])
    assert check.exit_code == 0, check.output
    assert "2 brand(s), 2 source(s)" in check.output


def test_config_check_lists_all_problems(runner: CliRunner) -> None:
    Path("bad.toml").write_text(
        '[[brands]]\nname = "A"\nquery = "x AND"\n[[sources]]\ntype = "nope"\ninterval = "soon"\n'
    )
    result = runner.invoke(cli, ["config", "check", "--config", "bad.toml"])
    assert result.exit_code == 2
    assert "brands[0].query" in result.output
    assert "sources[0].type" in result.output
    assert "sources[0].interval" in result.output


def test_poll_search_status(runner: CliRunner, loopback: LoopbackServer) -> None:
    loopback.routes["/news"] = Reply(200, (FIX / "rss20_en.xml").read_bytes())
    loopback.routes["/down"] = Reply(503, b"")
    write_config(loopback, "/news", "/down")
    result = runner.invoke(cli, ["poll", "--timeout", "2"])
    assert result.exit_code == 0, result.output
    assert "ok    news: 3 fetched, 2 matched, 2 new" in result.output
    assert "FAIL  down: HTTP 503" in result.output

    found = runner.invoke(cli, ["search", "guitar NEAR/3 refused", "--format", "json"])
    assert found.exit_code == 0, found.output
    rows = [json.loads(line) for line in found.output.splitlines() if line.startswith("{")]
    assert [r["id"] for r in rows] == ["rss:ex-1"]
    assert rows[0]["brands"] == "Acme Air"

    as_csv = runner.invoke(
        cli, ["search", 'title:"acme air"', "--format", "csv", "--since", "2026-11-01"]
    )
    table = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert sorted(r["id"] for r in table) == ["rss:ex-1", "rss:ex-2"]

    none = runner.invoke(cli, ["search", "acme", "--until", "2026-01-01", "--format", "json"])
    assert none.exit_code == 0 and "{" not in none.output

    status = runner.invoke(cli, ["status", "--format", "json"])
    data = json.loads(status.output)
    by_key = {s["key"]: s for s in data["sources"]}
    assert by_key["news"]["last_success_at"] and by_key["down"]["last_error"].startswith("HTTP 503")


def test_poll_exit_code_when_every_source_fails(
    runner: CliRunner, loopback: LoopbackServer
) -> None:
    write_config(loopback, "/missing")
    result = runner.invoke(cli, ["poll"])
    assert result.exit_code == 3
    assert "HTTP 404" in result.output


def test_search_reports_query_errors_with_column(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["search", "refund AND (never", "--db", "x.db"])
    assert result.exit_code == 2
    assert "column" in result.output


def test_search_on_missing_archive_is_a_clear_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["search", "x", "--db", "nope.db"])
    assert result.exit_code == 1
    assert "nope.db" in result.output
