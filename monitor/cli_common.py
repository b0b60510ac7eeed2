"""Options and helpers shared by every CLI command (``--db``, ``--config``, exit codes)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from monitor.config import Config, ConfigError, load_config
from monitor.store import Store

__all__ = [
    "EXIT_ALL_FAILED",
    "EXIT_CONFIG",
    "EXIT_FAILURE",
    "config_option",
    "db_option",
    "load_config_or_exit",
    "open_store",
    "parse_query_or_exit",
    "parse_when",
]

F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_ALL_FAILED = 3
DEFAULT_CONFIG = "groundswell.toml"


def db_option(func: F) -> F:
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False),
        default=None,
        envvar="GROUNDSWELL_DB",
        help="Archive file (default: storage.path from the config, else groundswell.db).",
    )(func)


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "-c",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        envvar="GROUNDSWELL_CONFIG",
        help=f"Config file (default: {DEFAULT_CONFIG}).",
    )(func)


def load_config_or_exit(config_path: str | None, required: bool = True) -> Config:
    """Load the config; print every problem and exit 2 when it is broken."""
    path = config_path or DEFAULT_CONFIG
    if not required and config_path is None and not Path(path).exists():
        return Config()
    try:
        return load_config(path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(EXIT_CONFIG) from None


def parse_when(value: str | None) -> datetime | None:
    """A ``--since``/``--until`` option: a date or an ISO timestamp (UTC when no zone is given)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date; use YYYY-MM-DD or an ISO timestamp"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_query_or_exit(query: str | None) -> Any:
    """A QUERY argument as a parsed brand query (None when empty); exit 2 with the column on errors."""
    from monitor.query import QuerySyntaxError, parse

    if not query or not query.strip():
        return None
    try:
        return parse(query)
    except QuerySyntaxError as exc:
        click.echo(f"query error: {exc}", err=True)
        raise SystemExit(EXIT_CONFIG) from None


def db_path_for(config: Config, db_path: str | None) -> str:
    return db_path or os.environ.get("GROUNDSWELL_DB") or config.storage.path


def open_store(config: Config, db_path: str | None, readonly: bool = False) -> Store:
    path = db_path_for(config, db_path)
    try:
        return Store.open(path, readonly=readonly)
    except FileNotFoundError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_FAILURE) from None
