"""``groundswell alerts …`` through click's CliRunner on a real archive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.engine import AlertEngine
from monitor.cli import cli
from monitor.loopback import LoopbackServer, Reply
from monitor.records import utcnow
from monitor.store import Store
from tests.test_alerts_support import Clock, event, make_config


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no groundswell.toml here: defaults
    monkeypatch.delenv("GROUNDSWELL_CONFIG", raising=False)
    path = str(tmp_path / "cli.db")
    with Store.open(path) as store:
        AlertEngine(make_config({"route": {"group_wait": "0s"}}), store, Clock(utcnow())).process(
            [event("rss:1", story="s1", severity="critical", risk=0.8), event("rss:2", story="s2")]
        )
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_list_ack_resolve_show(db: str) -> None:
    code, out = run("alerts", "list", "--db", db)
    assert code == 0 and "#1" in out and "#2" in out and "critical" in out
    code, out = run("alerts", "ack", "1", "--by", "maria", "--db", db)
    assert code == 0 and "acknowledged" in out
    code, out = run("alerts", "list", "--status", "firing", "--db", db, "--json")
    assert [json.loads(line)["id"] for line in out.splitlines()] == [2]
    code, out = run("alerts", "resolve", "1", "--by", "maria", "--db", db)
    assert code == 0 and "resolved" in out
    code, out = run("alerts", "show", "1", "--db", db)
    assert code == 0 and "acknowledged by maria" in out and "resolved by maria" in out
    assert "fired" in out and "deliveries:" in out
    code, out = run("alerts", "ack", "1", "--by", "maria", "--db", db)
    assert code == 1
    code, out = run("alerts", "ack", "99", "--db", db)
    assert code == 1 and "no alert with id 99" in out


def test_silence_commands(db: str) -> None:
    code, out = run(
        "alerts",
        "silence",
        "brand=Acme",
        "story=s9",
        "--for",
        "2h",
        "-m",
        "known",
        "--by",
        "jo",
        "--db",
        db,
    )
    assert code == 0 and "silence #1: brand=Acme, story=s9" in out
    code, out = run("alerts", "silences", "--db", db)
    assert "#1" in out and "active" in out and "by jo: known" in out
    code, out = run("alerts", "silence", "brand", "-m", "x", "--db", db)
    assert code == 1 and "cannot read matcher" in out
    code, out = run("alerts", "silence", "brand=Acme", "--for", "soon", "-m", "x", "--db", db)
    assert code == 1
    code, out = run("alerts", "unsilence", "1", "--db", db)
    assert code == 0
    code, out = run("alerts", "silences", "--db", db)
    assert "no silences" in out


def test_deliver_and_outbox(db: str) -> None:
    code, out = run("alerts", "outbox", "--db", db)
    assert code == 0 and "pending 2" in out
    code, out = run("alerts", "deliver", "--db", db)
    assert code == 0 and "sent 2" in out
    code, out = run("alerts", "outbox", "--db", db)
    assert "pending 0, sent 2, dead 0" in out


def test_test_channel_reaches_a_webhook(db: str, tmp_path: Path) -> None:
    with LoopbackServer({"/hook": Reply(200, b"ok")}) as server:
        config = tmp_path / "groundswell.toml"
        config.write_text(
            "[alerts]\n"
            "[[alerts.receivers]]\n"
            'name = "pr-oncall"\n'
            f'webhooks = [{{ url = "{server.url("/hook")}", secret_env = "" }}]\n',
            encoding="utf-8",
        )
        code, out = run("alerts", "test-channel", "pr-oncall", "--db", db)
        assert code == 0 and "1 of 1 channel(s) of pr-oncall accepted" in out
        code, out = run("alerts", "test-channel", "nobody", "--db", db)
        assert code == 1 and "unknown receiver" in out
    (request,) = server.requests
    assert json.loads(request.body)["type"] == "test"


def test_route_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = run("alerts", "route", "brand=Acme", "severity=critical")
    assert code == 0 and out.strip() == "root → pr-oncall"
    code, out = run("alerts", "route", "nonsense")
    assert code == 1
