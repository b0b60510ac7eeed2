"""CLI for viral-risk scoring: ``groundswell replay`` and ``groundswell risk score|show``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from monitor.cli_common import (
    EXIT_FAILURE,
    config_option,
    db_option,
    load_config_or_exit,
    open_store,
)

__all__ = ["COMMANDS", "replay_command", "risk"]


@click.command("replay")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--brand", default=None, help="Monitored brand name (default: the config's brands).")
@click.option("--query", default=None, help="Brand query (default: the brand name as a phrase).")
@config_option
@click.option(
    "--out", "out_path", type=click.Path(dir_okay=False), default=None, help="Write alerts here."
)
@click.option("--model", default=None, help="Sentiment model id or folder for text harm.")
@click.option(
    "--lexicon", is_flag=True, help="Lexicon-only harm (no model): fast, weaker, labelled as such."
)
@click.option(
    "--no-engine", is_flag=True, help="Use the minimal grouping even when alerts/ is installed."
)
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a tty).")
def replay_command(
    file: str,
    brand: str | None,
    query: str | None,
    config_path: str | None,
    out_path: str | None,
    model: str | None,
    lexicon: bool,
    no_engine: bool,
    progress: bool | None,
) -> None:
    """Replay recorded posts (JSON Lines) through scoring and alerting in simulated time.

    Posts become visible at seen_at (else published_at) and snapshots at their `at`; one JSON
    alert per line is written as it fires (post_id, fired_at, kind, severity, risk, reasons,
    route); a summary goes to stderr. Same input, same output.

    Example:

        groundswell replay history.jsonl --brand "Aurora Air" --out alerts.jsonl
    """
    from monitor.harm import load_estimator
    from monitor.query import QuerySyntaxError
    from monitor.replay import ReplayAlert, ReplayError, brands_for, read_posts, replay
    from monitor.risk_settings import risk_settings

    config = load_config_or_exit(config_path, required=config_path is not None)
    settings = risk_settings(config)
    started = time.perf_counter()
    if file == "-":
        posts, errors = read_posts(sys.stdin)
    else:
        with open(file, encoding="utf-8", errors="replace") as handle:
            posts, errors = read_posts(handle)
    try:
        brands = brands_for(config, brand, query)
    except QuerySyntaxError as exc:
        click.echo(f"error: --query: {exc}", err=True)
        raise SystemExit(EXIT_FAILURE) from None
    try:
        estimator = load_estimator(
            settings.harm, model=model, lexicon_only=lexicon, model_settings=config.section("model")
        )
    except Exception as exc:  # an explicitly requested model that cannot load
        click.echo(f"error: cannot load model {model!r}: {exc}", err=True)
        raise SystemExit(EXIT_FAILURE) from None
    out = open(out_path, "w", encoding="utf-8") if out_path else None  # noqa: SIM115
    try:

        def write(alert: ReplayAlert) -> None:
            line = alert.to_json()
            if out is not None:
                out.write(line + "\n")
            else:
                click.echo(line)

        try:
            _, summary = replay(
                posts,
                brands=brands,
                settings=settings,
                estimator=estimator,
                config=config,
                use_engine=not no_engine,
                on_alert=write,
                progress=progress,
                errors=errors,
            )
        except ReplayError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_FAILURE) from None
    finally:
        if out is not None:
            out.close()
    elapsed = time.perf_counter() - started
    click.echo(summary.render(), err=True)
    rate = summary.posts / elapsed if elapsed > 0 else 0.0
    click.echo(f"took {elapsed:.1f} s ({rate:.0f} posts/s)", err=True)
    if not posts and errors:
        raise SystemExit(EXIT_FAILURE)


@click.group("risk")
def risk() -> None:
    """Viral-risk scores: run the scoring stage, show a post's score history."""


@risk.command("score")
@db_option
@config_option
def score_command(db_path: str | None, config_path: str | None) -> None:
    """Score new and changed brand mentions now (the pipeline's score stage) and print events.

    Example:

        groundswell risk score --db groundswell.db
    """
    from monitor.records import utcnow
    from monitor.risk import score_pending

    config = load_config_or_exit(config_path, required=False)
    with open_store(config, db_path) as store:
        events = score_pending(store, config, utcnow(), limit=0)  # all of them, not one batch
    for event in events:
        click.echo(
            f"{event.severity:8} {event.risk:.2f} {event.kind:5} {event.brand}: {event.post_id} "
            f"— {'; '.join(event.reasons)}"
        )
    click.echo(f"{len(events)} event(s)", err=True)


@risk.command("show")
@click.argument("post_id")
@db_option
@config_option
def show_command(post_id: str, db_path: str | None, config_path: str | None) -> None:
    """Print the stored risk score history of one post as JSON lines.

    Example:

        groundswell risk show reddit:t3_abc123
    """
    config = load_config_or_exit(config_path, required=False)
    if db_path and not Path(db_path).exists():
        click.echo(f"error: archive {db_path} does not exist", err=True)
        raise SystemExit(EXIT_FAILURE)
    with open_store(config, db_path, readonly=True) as store:
        rows = store.conn.execute(
            "SELECT brand, at, kind, risk, severity, reasons, components FROM risk_scores "
            "WHERE post_id = ? ORDER BY at",
            (post_id,),
        ).fetchall()
    if not rows:
        click.echo(f"no risk scores for {post_id}", err=True)
        raise SystemExit(EXIT_FAILURE)
    for brand, at, kind, risk_value, severity, reasons, components in rows:
        click.echo(
            json.dumps(
                {
                    "brand": brand,
                    "at": at,
                    "kind": kind,
                    "risk": risk_value,
                    "severity": severity,
                    "reasons": json.loads(reasons),
                    "components": json.loads(components),
                },
                ensure_ascii=False,
            )
        )


COMMANDS = [replay_command, risk]
