"""The ``groundswell`` command line."""

from __future__ import annotations

import csv
import importlib
import json
import logging
import sys
from importlib.resources import files
from pathlib import Path

import click

from monitor import __version__
from monitor.cli_common import (
    EXIT_ALL_FAILED,
    EXIT_CONFIG,
    EXIT_FAILURE,
    config_option,
    db_option,
    load_config_or_exit,
    open_store,
    parse_query_or_exit,
    parse_when,
)
from monitor.config import ConfigError, load_config

__all__ = ["cli", "main"]

# Feature packages contribute their commands here (module with a COMMANDS list).
FEATURE_COMMANDS = (
    "monitor.nlp.cli",
    "monitor.risk_cli",
    "alerts.cli",
    "monitor.web.cli",
    "monitor.audit_cli",
    "monitor.service_cli",
    "sources.cli",
    "monitor.worker_cli",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="groundswell")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("--log-json", is_flag=True, help="Structured JSON log lines on stderr.")
def cli(verbose: int, log_json: bool) -> None:
    """groundswell: watch public posts and news about your brand, flag the complaints that are
    starting to spread, and alert the people who should answer.

    Start with `groundswell init`, edit groundswell.toml, then `groundswell poll`.
    """
    from monitor.logs import configure_logging

    configure_logging(verbose, log_json)


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False), default="groundswell.toml")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str, force: bool) -> None:
    """Write a commented example configuration to PATH (default groundswell.toml).

    Example:

        groundswell init && groundswell config check
    """
    target = Path(path)
    if target.exists() and not force:
        click.echo(f"{path} already exists; use --force to overwrite it", err=True)
        raise SystemExit(EXIT_FAILURE)
    target.write_text(
        files("monitor").joinpath("templates/groundswell.example.toml").read_text("utf-8"),
        encoding="utf-8",
    )
    click.echo(f"wrote {path}; edit the brands and sources, then run: groundswell config check")


@cli.group()
def config() -> None:
    """Inspect and validate the configuration."""


@config.command("check")
@config_option
def config_check(config_path: str | None) -> None:
    """Validate the config and list every problem with its key path and a hint.

    Example:

        groundswell config check --config groundswell.toml
    """
    path = config_path or "groundswell.toml"
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(EXIT_CONFIG) from None
    click.echo(f"{path}: OK — {len(loaded.brands)} brand(s), {len(loaded.sources)} source(s)")
    for brand in loaded.brands:
        role = f" (competitor of {', '.join(brand.competitor_of)})" if brand.is_competitor else ""
        click.echo(f"  brand  {brand.name}{role}: {brand.query.source if brand.query else ''}")
    for spec in loaded.sources:
        state = "" if spec.enabled else " [disabled]"
        click.echo(f"  source {spec.name} ({spec.type}) every {spec.interval:g}s{state}")


@cli.command()
@config_option
@db_option
@click.option(
    "--source", "-s", "only", multiple=True, help="Poll only this source name (repeatable)."
)
@click.option("--timeout", default=20.0, show_default=True, help="HTTP timeout in seconds.")
def poll(
    config_path: str | None, db_path: str | None, only: tuple[str, ...], timeout: float
) -> None:
    """Run one collection round: fetch every source, match brands, store new items.

    Exits 0 when at least one source worked, 3 when every source failed.

    Example:

        groundswell poll --source travel-news
    """
    from monitor.pipeline import poll as run_poll
    from sources.http import HttpClient

    loaded = load_config_or_exit(config_path)
    unknown = set(only) - {s.name for s in loaded.sources}
    if unknown:
        click.echo(f"unknown source(s): {', '.join(sorted(unknown))}", err=True)
        raise SystemExit(EXIT_CONFIG)
    with open_store(loaded, db_path) as store, HttpClient(timeout=timeout) as client:
        report = run_poll(loaded, store, client, only=only or None)
    for item in report.sources:
        label = item.key
        if item.ok:
            extra = " (not modified)" if item.not_modified else ""
            click.echo(
                f"ok    {label}: {item.fetched} fetched, {item.matched} matched, "
                f"{item.new} new, {item.snapshots} snapshots{extra}"
            )
        else:
            click.echo(f"FAIL  {label}: {item.error}")
    click.echo(f"{report.new} new item(s) stored")
    if report.all_failed:
        raise SystemExit(EXIT_ALL_FAILED)


@cli.command()
@click.argument("query", required=False)
@config_option
@db_option
@click.option("--brand", help="Only posts matched to this brand.")
@click.option("--source", help="Only this source type or source name.")
@click.option("--lang", help="Only this language (ISO 639-1).")
@click.option("--since", help="Published at or after (YYYY-MM-DD or ISO timestamp).")
@click.option("--until", help="Published before (YYYY-MM-DD or ISO timestamp).")
@click.option("--sentiment", help="Only this model sentiment (negative, neutral, positive).")
@click.option("--risk-min", type=float, help="Latest risk at least this (0..1).")
@click.option("--risk-max", type=float, help="Latest risk at most this (0..1).")
@click.option(
    "--alert-status",
    type=click.Choice(["firing", "acknowledged", "resolved", "open", "any", "none"]),
    help="Posts whose alert (own or story's) has this status; open = firing or acknowledged.",
)
@click.option("--assignee", help="Only posts assigned to this reviewer.")
@click.option("--limit", default=50, show_default=True, help="At most this many results.")
@click.option(
    "--sort",
    type=click.Choice(["time", "risk", "relevance"]),
    default="time",
    show_default=True,
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
def search(
    query: str | None,
    config_path: str | None,
    db_path: str | None,
    brand: str | None,
    source: str | None,
    lang: str | None,
    since: str | None,
    until: str | None,
    sentiment: str | None,
    risk_min: float | None,
    risk_max: float | None,
    alert_status: str | None,
    assignee: str | None,
    limit: int,
    sort: str,
    fmt: str,
) -> None:
    """Search the archive with the brand query language (read-only).

    Snippets show the query's words in [brackets] (bold on a terminal). Filters on sentiment,
    risk, alert status and assignee work once the model, scoring, alerts and review UI have
    written their tables.

    Example:

        groundswell search "refund NEAR/5 never" --lang en --format json
        groundswell search 'title:"lost luggage" OR site:news.example' --since 2026-11-01
        groundswell search "zwrot* OR возврат*" --sentiment negative --risk-min 0.6 --sort risk
        groundswell search "" --alert-status open --assignee maria
    """
    from monitor.search import SearchError, SearchFilters, tune_for_search
    from monitor.search import search as run_search

    loaded = load_config_or_exit(config_path, required=False)
    parsed = parse_query_or_exit(query)
    filters = SearchFilters(
        brand,
        source,
        lang,
        parse_when(since),
        parse_when(until),
        sentiment=sentiment,
        risk_min=risk_min,
        risk_max=risk_max,
        alert_status=alert_status,
        assignee=assignee,
    )
    bold = fmt == "table" and sys.stdout.isatty()
    marks = ("\x1b[1m", "\x1b[0m") if bold else ("[", "]")
    with open_store(loaded, db_path, readonly=True) as store:
        tune_for_search(store)
        try:
            rows = run_search(store, parsed, filters, limit=limit, order=sort, marks=marks)
        except SearchError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_FAILURE) from None
    fields = [
        "id",
        "published_at",
        "source",
        "site",
        "lang",
        "author",
        "brands",
        "sentiment",
        "risk",
        "alert_status",
        "assignee",
        "title",
        "url",
        "snippet",
    ]
    if fmt == "json":
        for row in rows:
            click.echo(json.dumps({k: row.get(k) for k in [*fields, "text"]}, ensure_ascii=False))
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    else:
        for row in rows:
            when = (row["published_at"] or "")[:16].replace("T", " ")
            extra = ""
            if row.get("risk") is not None:
                extra += f" risk={row['risk']:.2f}"
            if row.get("alert_status"):
                extra += f" alert={row['alert_status']}"
            click.echo(
                f"{when}  {row['source']:<8} {row['lang'] or '--':<3} {row['title'] or ''}{extra}".rstrip()
            )
            click.echo(f"    {row['snippet']}")
            if row["url"]:
                click.echo(f"    {row['url']}")
        click.echo(f"{len(rows)} result(s)", err=True)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@config_option
@db_option
@click.option("--workers", type=int, default=None, help="Parser processes (default: one per core).")
@click.option(
    "--source-name",
    default="backfill",
    show_default=True,
    help="Recorded as the posts' source name.",
)
def backfill(
    paths: tuple[str, ...],
    config_path: str | None,
    db_path: str | None,
    workers: int | None,
    source_name: str,
) -> None:
    """Import saved RSS/Atom files (or directories of them) into the archive.

    Items are matched against the configured brand queries like polled ones; re-running the
    same import stores nothing twice.

    Example:

        groundswell backfill exports/2026-10/ --source-name press-archive
    """
    from tqdm import tqdm

    from monitor.backfill import backfill as run_backfill
    from monitor.backfill import feed_files

    loaded = load_config_or_exit(config_path)
    files = feed_files(paths)
    with (
        open_store(loaded, db_path) as store,
        tqdm(total=len(files), unit="file", desc="backfill") as bar,
    ):
        report = run_backfill(
            loaded,
            store,
            files,
            source_name=source_name,
            workers=workers,
            on_file=lambda name, count: bar.update(1),
        )
    for error in report.errors:
        click.echo(f"FAIL  {error}", err=True)
    click.echo(
        f"{report.files} file(s), {report.items} item(s), {report.matched} matched, {report.new} new"
    )
    if report.errors and len(report.errors) == report.files:
        raise SystemExit(EXIT_ALL_FAILED)


@cli.command()
@config_option
@db_option
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def status(config_path: str | None, db_path: str | None, fmt: str) -> None:
    """Show each source's last success, last error, items and next poll.

    Example:

        groundswell status --format json
    """
    from monitor.status import collect_status

    loaded = load_config_or_exit(config_path, required=False)
    with open_store(loaded, db_path) as store:
        report = collect_status(loaded, store)
    if fmt == "json":
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    click.echo(
        f"archive {report['archive']['path']}: {report['archive']['posts']} posts, "
        f"{report['archive']['snapshots']} snapshots, schema v{report['archive']['schema_version']}"
    )
    for src in report["sources"]:
        click.echo(
            f"{src['key']:<32} {src['type']:<10} mode={src['mode'] or '-':<8} "
            f"breaker={src['breaker']:<9} items={src['items_total']}"
        )
        click.echo(
            f"    last success {src['last_success_at'] or 'never'}; next poll {src['next_poll_at'] or '-'}"
        )
        if src["last_error"]:
            click.echo(f"    last error   {src['last_error_at']}: {src['last_error']}")
    outbox = report.get("outbox") or {}
    if outbox:
        click.echo(
            f"outbox: {', '.join(f'{k} {v}' for k, v in outbox.items() if not isinstance(v, list | dict))}"
        )
    queues = report.get("queues") or {}
    if queues:
        click.echo(f"queues: {', '.join(f'{k} {v}' for k, v in queues.items())}")
    for stage in report.get("stages") or []:
        state = "ok" if stage["last_error"] is None else f"FAILED: {stage['last_error']}"
        click.echo(
            f"stage {stage['stage']:<30} last run {stage['last_run_at']}  runs {stage['runs']}, "
            f"failures {stage['failures']}  {state}"
        )
    last = report.get("last_alert")
    if last:
        click.echo(
            f"last alert: #{last['id']} {last['severity']} {last['kind']} {last['brand']} "
            f"at {last['created_at']} ({last['status']})"
        )


@cli.command()
@click.option(
    "--no-serve", is_flag=True, help="Exit after the demo instead of serving the review UI."
)
@click.option(
    "--db",
    "db_path",
    default="groundswell.db",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Archive to write the demo into.",
)
@click.option("--fast", is_flag=True, help="Shortest run (used by the tests).")
def demo(no_serve: bool, db_path: str, fast: bool) -> None:
    """Run the built-in demo: a scripted day through the real service, all on this machine.

    Loopback fake sources (news, Reddit-, Mastodon-, Bluesky-, Hacker News-shaped APIs) play a
    day in accelerated time for the brand "Aurora Air" and its competitor: chatter in several
    languages, a competitor's outage, and a complaint that starts small and spreads to the news.
    The offline model, scoring, alert routing and delivery run for real: alerts arrive in a local
    mailbox (demo-mailbox.mbox) and a signed webhook log (demo-webhooks.jsonl). The archive stays
    in groundswell.db. Then the review UI is served (only when stdin is a terminal and --no-serve
    is not given).

    Example:

        groundswell demo --no-serve && groundswell search "cello NEAR/5 refund*"
    """
    from monitor.demo import play

    serve = not no_serve and sys.stdin.isatty()
    raise SystemExit(play(Path(db_path), serve=serve, fast=fast, echo=click.echo).exit_code)


def _register_features() -> None:
    for module_name in FEATURE_COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # that feature is not installed in this build
            raise
        for command in getattr(module, "COMMANDS", ()):
            cli.add_command(command)


_register_features()


def main() -> None:
    logging.captureWarnings(True)
    cli()


if __name__ == "__main__":
    main()
