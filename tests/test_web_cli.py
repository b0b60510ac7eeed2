"""``groundswell users`` through the CLI; ``serve`` is exercised by the browser tests."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from monitor.cli import cli
from monitor.store import Store
from monitor.web.auth import authenticate


def test_users_add_list_passwd_remove(tmp_path: Path) -> None:
    db = str(tmp_path / "a.db")
    runner = CliRunner()
    added = runner.invoke(
        cli,
        ["users", "add", "alice", "--role", "admin", "--db", db, "--password-stdin"],
        input="correct horse\n",
    )
    assert added.exit_code == 0, added.output
    assert "created alice (admin)" in added.output
    listed = runner.invoke(cli, ["users", "list", "--db", db])
    assert listed.output.strip() == "alice\tadmin"
    changed = runner.invoke(
        cli,
        ["users", "passwd", "alice", "--role", "reviewer", "--db", db, "--password-env", "NEW_PW"],
        env={"NEW_PW": "battery staple"},
    )
    assert changed.exit_code == 0, changed.output
    with Store.open(db) as store:
        user = authenticate(store, "alice", "battery staple")
        assert user is not None and user.role == "reviewer"
    duplicate = runner.invoke(
        cli, ["users", "add", "alice", "--db", db, "--password-stdin"], input="correct horse\n"
    )
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    short = runner.invoke(cli, ["users", "add", "bob", "--db", db, "--password-stdin"], input="x\n")
    assert short.exit_code == 1 and "too short" in short.output
    removed = runner.invoke(cli, ["users", "remove", "alice", "--db", db])
    assert removed.exit_code == 0
    assert "no users yet" in runner.invoke(cli, ["users", "list", "--db", db]).output


def test_serve_help_has_an_example() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0 and "Example:" in result.output
