"""The deployment examples in deploy/ stay in step with the CLI and the config they use.

No container engine runs in the test suite, so these tests check what can go stale without one:
every command line in the compose file, the Dockerfile and the systemd units names real commands
and options, and the configuration the compose file ships passes ``config check``.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from monitor.cli import cli
from monitor.config import parse_config

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _check_command_line(args: list[str]) -> None:
    """Parse ``args`` (what follows ``groundswell``) exactly as click would, without running it."""
    command: click.Command = cli
    parent: click.Context | None = None
    rest = list(args)
    while isinstance(command, click.Group):
        # The group's own options (e.g. --log-json); what is left starts with the subcommand.
        ctx = click.Context(command, info_name=command.name, parent=parent)
        _, rest, _ = command.make_parser(ctx).parse_args(args=rest)
        assert rest, f"{args} names no subcommand"
        sub = command.get_command(ctx, rest[0])
        assert sub is not None, f"no command {rest[0]!r} in {args}"
        command, rest, parent = sub, rest[1:], ctx
    # Parsing fails on an unknown option or a missing argument, naming it.
    leaf = command.make_context(command.name or "", rest, parent=parent)
    assert not leaf.args, f"unexpected arguments {leaf.args} in {args}"


def _service_commands() -> list[tuple[str, list[str]]]:
    found = []
    for name, service in _compose()["services"].items():
        if "command" in service and name != "postgres":
            found.append((name, [str(part) for part in service["command"]]))
    return found


@pytest.mark.parametrize(("service", "args"), _service_commands())
def test_compose_commands_exist(service: str, args: list[str]) -> None:
    _check_command_line(args)


def test_check_command_line_refuses_unknown_options() -> None:
    with pytest.raises(click.UsageError):
        _check_command_line(["run", "--queueing"])
    with pytest.raises(AssertionError):
        _check_command_line(["workers"])


def test_compose_shape() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"postgres", "scheduler", "worker", "web"} <= set(services)
    assert services["scheduler"]["deploy"]["replicas"] == 1  # one timetable, never two
    env = services["worker"]["environment"]
    assert env["GROUNDSWELL_DB"].startswith("postgresql://")
    assert "${GS_DB_PASSWORD" in env["GROUNDSWELL_DB"]  # the password comes from deploy/.env
    assert services["web"]["ports"] == ["127.0.0.1:8080:8080"]


def test_compose_config_passes_check() -> None:
    text = _compose()["configs"]["groundswell"]["content"]
    raw = tomllib.loads(text)
    raw.setdefault("storage", "postgresql://groundswell@postgres:5432/groundswell")
    config = parse_config(raw)  # raises ConfigError listing every problem
    assert [b.name for b in config.brands] == ["Acme Air"]
    assert {s.type for s in config.sources} == {"google_news", "hackernews"}


def test_dockerfile_and_units_name_real_commands() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "torch==2.13.0" in dockerfile and "download.pytorch.org/whl/cpu" in dockerfile
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert cmd is not None
    _check_command_line(yaml.safe_load(cmd.group(1)))
    for unit in sorted(DEPLOY.glob("*.service")):
        line = re.search(r"^ExecStart=(.*)$", unit.read_text(encoding="utf-8"), re.MULTILINE)
        assert line is not None, unit.name
        program, *args = shlex.split(line.group(1))
        assert program.endswith("/groundswell"), unit.name
        _check_command_line(args)
