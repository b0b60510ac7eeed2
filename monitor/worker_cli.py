"""CLI for scale-out: ``groundswell worker`` runs jobs from the queue."""

from __future__ import annotations

from typing import Any

import click

from monitor.cli_common import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    config_option,
    db_option,
    db_path_for,
    load_config_or_exit,
)
from monitor.config import Config

__all__ = ["COMMANDS", "open_enqueuer_or_exit"]

QUEUE_NAMES = ("collect", "process", "deliver", "maintenance")


@click.command()
@config_option
@db_option
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Jobs run at once in this process (default: [queue] concurrency, else 1).",
)
@click.option(
    "--queue",
    "queues",
    multiple=True,
    type=click.Choice(QUEUE_NAMES),
    help="Only take jobs from this queue (repeatable; default: all).",
)
@click.option(
    "--model", default=None, help="Sentiment model: 'default', a local folder or a hub id."
)
@click.option(
    "--until-idle", is_flag=True, help="Exit once no job is waiting or running (batch runs)."
)
@click.option("--status", is_flag=True, help="Print the jobs per queue and status, then exit.")
def worker(
    config_path: str | None,
    db_path: str | None,
    concurrency: int | None,
    queues: tuple[str, ...],
    model: str | None,
    until_idle: bool,
    status: bool,
) -> None:
    """Run jobs from the queue: collect, classify, score, alert, deliver, maintenance.

    Needs `queue = "postgresql://..."` in the config; `groundswell run` then enqueues
    instead of running. Start as many workers as you like, on any machine that reaches the queue
    and the archive. Stops gracefully on SIGTERM/SIGINT (running jobs finish).

    Example:

        groundswell worker --config groundswell.toml --concurrency 2
        groundswell worker --queue collect          # a collect-only worker
        groundswell worker --status
    """
    from monitor.workers.runner import (
        QueueNotConfigured,
        WorkerOptions,
        queue_counts,
        run_worker,
        settings_or_raise,
    )

    config = load_config_or_exit(config_path)
    try:
        dsn = settings_or_raise(config).dsn()
    except QueueNotConfigured as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_CONFIG) from None
    if status:
        import psycopg

        try:
            counts = queue_counts(dsn)
        except psycopg.Error as exc:
            click.echo(f"error: cannot read the queue: {exc}", err=True)
            raise SystemExit(EXIT_FAILURE) from None
        for queue, by_status in counts.items():
            line = ", ".join(f"{state} {count}" for state, count in by_status.items())
            click.echo(f"{queue:<12} {line}")
        if not counts:
            click.echo("no jobs")
        return
    options = WorkerOptions(
        concurrency=concurrency, queues=queues or None, model=model, until_idle=until_idle
    )
    runs = run_worker(config, db_path_for(config, db_path), options)
    click.echo(f"worker stopped after {runs} stage run(s)")


def open_enqueuer_or_exit(config: Config) -> Any:
    """The scheduler's connection to the queue (``groundswell run --queue``); exits on errors."""
    from monitor.workers.runner import Enqueuer, QueueNotConfigured, settings_or_raise

    try:
        dsn = settings_or_raise(config).dsn()
    except QueueNotConfigured as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_CONFIG) from None
    import psycopg

    try:
        return Enqueuer(dsn).open()
    except psycopg.Error as exc:
        click.echo(f"error: cannot reach the queue database: {exc}", err=True)
        raise SystemExit(EXIT_FAILURE) from None


COMMANDS = [worker]
