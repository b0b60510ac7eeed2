"""Every CLI command is documented in the README (and every command has help with an example)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from monitor.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "groundswell") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        full = f"{prefix} {name}"
        found.append((full, command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, full))
    return found


COMMANDS = _commands(cli)


def test_there_are_commands() -> None:
    assert len(COMMANDS) >= 6


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_in_readme(name: str, command: click.Command) -> None:
    assert f"`{name}" in README or f"{name} " in README, f"{name} is not mentioned in README.md"


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_has_help(name: str, command: click.Command) -> None:
    assert command.help and command.help.strip(), f"{name} has no docstring"
    if not isinstance(command, click.Group):
        assert "Example" in command.help, f"{name} help has no Example: block"
