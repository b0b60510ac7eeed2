"""Auditor commands: ``audit`` (verify, anchor, log), ``export``, ``hold``, ``retention``,
``forget-author`` and ``archive`` (Datasette metadata and a read-only Datasette server)."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import click

from monitor.cli_common import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    config_option,
    db_option,
    db_path_for,
    load_config_or_exit,
    open_store,
    parse_query_or_exit,
    parse_when,
)

__all__ = [
    "COMMANDS",
    "archive",
    "audit",
    "datasette_metadata",
    "export",
    "forget_author",
    "hold",
    "retention",
]

_ANCHOR_TIMEOUT = 10.0


def _actor(value: str | None) -> str:
    if value:
        return value
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def actor_option(func: Any) -> Any:
    return click.option(
        "--actor",
        default=None,
        envvar="GROUNDSWELL_ACTOR",
        help="Who is acting, for the audit log (default: cli:<login name>).",
    )(func)


# -- audit ------------------------------------------------------------------------------------


@click.group()
def audit() -> None:
    """Check and read the tamper-evident audit log.

    Example:

        groundswell audit verify --anchors /mnt/worm/groundswell-anchors.jsonl
    """


@audit.command("verify")
@config_option
@db_option
@click.option(
    "--anchors",
    "anchor_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Anchor file(s) written by `audit anchor` (default: [retention] anchor_file).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def audit_verify(
    config_path: str | None, db_path: str | None, anchor_files: tuple[str, ...], fmt: str
) -> None:
    """Walk the hash chain; name the first edited, deleted, reordered or missing row.

    Exits 0 when the chain is intact, 1 when it is not. Anchor files kept outside the archive
    also reveal a chain rewritten from start to end, or cut short.

    Example:

        groundswell audit verify
        groundswell audit verify --anchors /mnt/worm/anchors.jsonl --format json
    """
    from monitor.audit import AnchorError, read_anchor_file, verify
    from monitor.retention import settings_of

    config = load_config_or_exit(config_path, required=False)
    paths = list(anchor_files)
    configured = settings_of(config).anchor_file
    if not paths and configured and Path(configured).exists():
        paths = [configured]
    anchors = []
    for path in paths:
        try:
            anchors += read_anchor_file(path)
        except AnchorError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_CONFIG) from None
    with open_store(config, db_path, readonly=True) as store:
        report = verify(store, anchors)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "rows": report.rows,
                    "head_seq": report.head_seq,
                    "head_hash": report.head_hash,
                    "anchors_checked": report.anchors_checked,
                    "problems": [
                        {"seq": p.seq, "kind": p.kind, "detail": p.detail} for p in report.problems
                    ],
                },
                indent=2,
            )
        )
    elif report.ok:
        click.echo(
            f"audit log intact: {report.rows} rows, head {report.head_seq} "
            f"{report.head_hash[:16]}…, {report.anchors_checked} anchor(s) checked"
        )
    else:
        first = report.first_bad
        click.echo(f"audit log BROKEN: first bad row {first.seq if first else '?'}")
        for problem in report.problems:
            click.echo(f"  {problem}")
    if not report.ok:
        raise SystemExit(EXIT_FAILURE)


@audit.command("anchor")
@config_option
@db_option
@click.option(
    "--file",
    "anchor_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Append the head here (default: [retention] anchor_file).",
)
@click.option("--webhook", default=None, help="Also POST the head as JSON to this URL.")
def audit_anchor(
    config_path: str | None, db_path: str | None, anchor_file: str | None, webhook: str | None
) -> None:
    """Copy the audit chain head out of the archive (to a file and/or a webhook).

    Keep anchors where the archive's writers cannot change them (another host, WORM storage,
    a chat channel): a chain rewritten after an anchor then fails `audit verify --anchors`.

    Example:

        groundswell audit anchor --file /mnt/worm/groundswell-anchors.jsonl
        groundswell audit anchor --webhook https://chat.example/hooks/audit
    """
    from monitor.audit import anchor
    from monitor.retention import settings_of

    config = load_config_or_exit(config_path, required=False)
    target = anchor_file or settings_of(config).anchor_file
    if not target and not webhook:
        click.echo("error: give --file or --webhook (or set [retention] anchor_file)", err=True)
        raise SystemExit(EXIT_CONFIG)
    with open_store(config, db_path) as store:
        result = anchor(store, target)
    if webhook:
        import httpx

        try:
            response = httpx.post(
                webhook,
                json={"archive": db_path_for(config, db_path), **json.loads(result.to_json())},
                timeout=_ANCHOR_TIMEOUT,
                headers={"User-Agent": "groundswell-audit-anchor"},
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            click.echo(f"error: anchor not delivered to the webhook: {exc}", err=True)
            raise SystemExit(EXIT_FAILURE) from None
    click.echo(f"anchored row {result.seq} {result.hash} at {result.at}")


@audit.command("log")
@config_option
@db_option
@click.option("--actor", default=None, help="Only this actor.")
@click.option("--action", default=None, help="Only this action (a trailing '.' or '*': prefix).")
@click.option("--subject", default=None, help="Only this subject, e.g. alert:12 or post:rss:abc.")
@click.option("--since", default=None, help="At or after (YYYY-MM-DD or ISO timestamp).")
@click.option("--until", default=None, help="Before (YYYY-MM-DD or ISO timestamp).")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def audit_log(
    config_path: str | None,
    db_path: str | None,
    actor: str | None,
    action: str | None,
    subject: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    fmt: str,
) -> None:
    """Show audit log entries, newest first.

    Example:

        groundswell audit log --action alert. --since 2026-11-01
        groundswell audit log --actor alice --format json
    """
    from monitor.audit import entries

    config = load_config_or_exit(config_path, required=False)
    with open_store(config, db_path, readonly=True) as store:
        rows = list(
            entries(
                store,
                since=parse_when(since),
                until=parse_when(until),
                actor=actor,
                action=action,
                subject=subject,
                limit=limit,
                newest_first=True,
            )
        )
    for entry in rows:
        if fmt == "json":
            click.echo(json.dumps(entry.as_dict(), ensure_ascii=False))
            continue
        change = ""
        if entry.before is not None or entry.after is not None:
            change = f"  {entry.before or '-'} -> {entry.after or '-'}"
        click.echo(
            f"{entry.seq:>6} {entry.at[:19].replace('T', ' ')} {entry.actor:<16} "
            f"{entry.action:<22} {entry.subject}{change}"
        )


# -- export -----------------------------------------------------------------------------------


@click.command()
@click.argument("query", required=False)
@config_option
@db_option
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv")
@click.option(
    "--output", "-o", default="-", help="File to write ('-' = standard output).", show_default=True
)
@click.option(
    "--include",
    "includes",
    multiple=True,
    type=click.Choice(["assessments", "alerts", "reviews"]),
    help="Add model assessments, alert history or review actions per post (repeatable).",
)
@click.option("--brand", help="Only posts matched to this brand.")
@click.option("--source", help="Only this source type or source name.")
@click.option("--lang", help="Only this language.")
@click.option("--since", help="Published at or after (YYYY-MM-DD or ISO timestamp).")
@click.option("--until", help="Published before.")
@click.option("--sentiment", help="Only this model sentiment.")
@click.option("--risk-min", type=float, help="Latest risk at least this (0..1).")
@click.option(
    "--alert-status",
    type=click.Choice(["firing", "acknowledged", "resolved", "open", "any", "none"]),
    help="Posts whose alert has this status.",
)
@click.option("--no-bom", is_flag=True, help="CSV without the byte-order mark Excel needs.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a tty).")
@actor_option
def export(
    query: str | None,
    config_path: str | None,
    db_path: str | None,
    fmt: str,
    output: str,
    includes: tuple[str, ...],
    brand: str | None,
    source: str | None,
    lang: str | None,
    since: str | None,
    until: str | None,
    sentiment: str | None,
    risk_min: float | None,
    alert_status: str | None,
    no_bom: bool,
    progress: bool | None,
    actor: str | None,
) -> None:
    """Export posts to CSV (Excel-ready UTF-8) or JSON Lines, streaming; logged in the audit log.

    Without QUERY every post is exported. The file's SHA-256 goes into the audit entry.

    Example:

        groundswell export -o archive.csv --include assessments --include alerts
        groundswell export 'refund* NEAR/5 never' --brand Skyline --format jsonl -o refunds.jsonl
        groundswell export --alert-status any --include alerts --include reviews -o alerted.csv
    """
    from monitor.audit import record
    from monitor.export import ExportError, export_posts
    from monitor.search import SearchError, SearchFilters
    from monitor.store import ReadOnlyError, Store

    config = load_config_or_exit(config_path, required=False)
    parsed = parse_query_or_exit(query)
    filters = SearchFilters(
        brand,
        source,
        lang,
        parse_when(since),
        parse_when(until),
        sentiment=sentiment,
        risk_min=risk_min,
        alert_status=alert_status,
    )
    show = progress if progress is not None else (output != "-" and sys.stderr.isatty())
    path = db_path_for(config, db_path)
    with open_store(config, db_path, readonly=True) as store:
        try:
            report = export_posts(
                store,
                sys.stdout.buffer if output == "-" else output,
                fmt,
                query=parsed,
                filters=filters,
                include=includes,
                bom=not no_bom,
                progress=show,
            )
        except (ExportError, SearchError) as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_FAILURE) from None
    details = {
        "format": fmt,
        "output": report.path,
        "rows": report.rows,
        "sha256": report.sha256,
        "bytes": report.bytes,
        "query": query,
        "filters": {k: v for k, v in _filters_dict(filters).items() if v is not None},
        "include": list(includes),
    }
    try:
        with Store.open(path, migrate=False) as writable:
            record(writable, actor=_actor(actor), action="export", subject="archive", after=details)
    except (ReadOnlyError, OSError, sqlite3.Error) as exc:
        click.echo(f"warning: export not recorded in the audit log: {exc}", err=True)
    click.echo(f"exported {report.rows} posts ({report.sha256})", err=True)


def _filters_dict(filters: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {
        k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(filters).items()
    }


# -- legal holds ------------------------------------------------------------------------------


@click.group()
def hold() -> None:
    """Legal holds: posts matching an open hold are never purged.

    Example:

        groundswell hold add 'author:"Dave Carroll" OR "broke my guitar"' --reason "claim 17"
    """


@hold.command("add")
@click.argument("query")
@config_option
@db_option
@click.option("--reason", default="", help="Why (case number, request).")
@actor_option
def hold_add(
    query: str, config_path: str | None, db_path: str | None, reason: str, actor: str | None
) -> None:
    """Open a legal hold on every post matching QUERY (brand query language).

    Example:

        groundswell hold add 'site:news.example "lost luggage"' --reason "claim 2026-17"
    """
    from monitor.retention import HoldError, add_hold

    config = load_config_or_exit(config_path, required=False)
    with open_store(config, db_path) as store:
        try:
            added = add_hold(store, query, actor=_actor(actor), reason=reason)
        except HoldError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_CONFIG) from None
    click.echo(f"hold {added.id} open: {added.query}")


@hold.command("list")
@config_option
@db_option
@click.option("--all", "include_released", is_flag=True, help="Include released holds.")
def hold_list(config_path: str | None, db_path: str | None, include_released: bool) -> None:
    """List legal holds (open ones unless --all).

    Example:

        groundswell hold list --all
    """
    from monitor.retention import list_holds

    config = load_config_or_exit(config_path, required=False)
    with open_store(config, db_path, readonly=True) as store:
        for item in list_holds(store, include_released):
            state = "open" if item.open else f"released {item.released_at} by {item.released_by}"
            click.echo(
                f"{item.id:>4}  {item.query}  [{state}] by {item.created_by} {item.created_at}"
                + (f" — {item.reason}" if item.reason else "")
            )


@hold.command("remove")
@click.argument("hold_id", type=int)
@config_option
@db_option
@actor_option
def hold_remove(
    hold_id: int, config_path: str | None, db_path: str | None, actor: str | None
) -> None:
    """Release a legal hold (it stays listed with --all, and in the audit log).

    Example:

        groundswell hold remove 3
    """
    from monitor.retention import HoldError, release_hold

    config = load_config_or_exit(config_path, required=False)
    with open_store(config, db_path) as store:
        try:
            release_hold(store, hold_id, actor=_actor(actor))
        except HoldError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_FAILURE) from None
    click.echo(f"hold {hold_id} released")


# -- retention and privacy --------------------------------------------------------------------


@click.group()
def retention() -> None:
    """Apply the [retention] rules.

    Example:

        groundswell retention run --dry-run
    """


@retention.command("run")
@config_option
@db_option
@click.option("--dry-run", is_flag=True, help="Only count what would go.")
@actor_option
def retention_run(
    config_path: str | None, db_path: str | None, dry_run: bool, actor: str | None
) -> None:
    """Purge by the [retention] rules, sparing open alerts and legal holds; logged.

    Example:

        groundswell retention run --dry-run
        groundswell retention run
    """
    from monitor.retention import run_retention, settings_of

    config = load_config_or_exit(config_path, required=False)
    settings = settings_of(config)
    if not settings.active:
        click.echo("no [retention] rules configured: nothing to do")
        return
    with open_store(config, db_path) as store:
        report = run_retention(store, settings, actor=_actor(actor), dry_run=dry_run)
    verb = "would" if dry_run else "did"
    click.echo(
        f"{verb} redact {report.redacted}, delete {report.deleted} posts and "
        f"{report.snapshots_deleted} snapshots; kept {report.kept_for_hold} under hold, "
        f"{report.kept_for_alert} under open alert"
    )


@click.command("forget-author")
@click.argument("author")
@config_option
@db_option
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where the author's posts go (JSON Lines) before deletion.",
)
@click.option("--export-only", is_flag=True, help="Export without deleting.")
@actor_option
def forget_author(
    author: str,
    config_path: str | None,
    db_path: str | None,
    output: str,
    export_only: bool,
    actor: str | None,
) -> None:
    """Export one author's posts, then delete them (a GDPR-style request); logged.

    Posts under a legal hold or an open alert are exported but kept, and listed.

    Example:

        groundswell forget-author "jane_doe" -o jane_doe.jsonl
    """
    from monitor.audit import record
    from monitor.retention import forget_author as run_forget

    config = load_config_or_exit(config_path, required=False)
    with open_store(config, db_path) as store, open(output, "wb") as handle:
        result = run_forget(store, author, handle, actor=_actor(actor), delete=not export_only)
        if export_only:
            record(
                store,
                actor=_actor(actor),
                action="privacy.export_author",
                subject="author",
                after={"exported": result["exported"], "sha256": result["export_sha256"]},
            )
    click.echo(
        f"exported {result['exported']} post(s) to {output}; deleted {result['deleted']}"
        + (f"; kept {len(result['kept'])} (hold or open alert)" if result["kept"] else "")
    )


# -- archive: Datasette -----------------------------------------------------------------------


def datasette_metadata(database: str) -> dict[str, Any]:
    """The shipped Datasette metadata with its database key set to ``database``."""
    raw = json.loads(
        files("monitor").joinpath("datasette_metadata.json").read_text(encoding="utf-8")
    )
    databases = raw.get("databases", {})
    template: dict[str, Any] = next(iter(databases.values()), {}) if databases else {}
    raw["databases"] = {database: template}
    return dict(raw)


@click.group()
def archive() -> None:
    """Explore the archive file without the app (Datasette, read-only).

    Example:

        groundswell archive serve --port 8001
    """


@archive.command("metadata")
@config_option
@db_option
@click.option("--output", "-o", default="-", help="File to write ('-' = standard output).")
def archive_metadata(config_path: str | None, db_path: str | None, output: str) -> None:
    """Print Datasette metadata (titles, facets, canned audit queries) for the archive.

    Example:

        groundswell archive metadata -o metadata.json && datasette -i groundswell.db -m metadata.json
    """
    config = load_config_or_exit(config_path, required=False)
    name = Path(db_path_for(config, db_path)).stem
    text = json.dumps(datasette_metadata(name), indent=2, ensure_ascii=False)
    if output == "-":
        click.echo(text)
    else:
        Path(output).write_text(text + "\n", encoding="utf-8")


@archive.command("serve")
@config_option
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8001, show_default=True)
def archive_serve(config_path: str | None, db_path: str | None, host: str, port: int) -> None:
    """Open the archive read-only (immutable) in Datasette, with the audit metadata.

    Needs the optional extra: pip install 'groundswell[datasette]'.

    Example:

        groundswell archive serve --port 8001
    """
    import importlib.util

    config = load_config_or_exit(config_path, required=False)
    path = Path(db_path_for(config, db_path))
    if not path.exists():
        click.echo(f"error: archive {path} does not exist", err=True)
        raise SystemExit(EXIT_FAILURE)
    if importlib.util.find_spec("datasette") is None:
        click.echo(
            "Datasette is not installed: pip install 'groundswell[datasette]' "
            "(or open the file with any SQLite tool; `groundswell archive metadata` prints "
            "the table descriptions)",
            err=True,
        )
        raise SystemExit(EXIT_FAILURE)
    with tempfile.TemporaryDirectory() as tmp:
        metadata = Path(tmp) / "metadata.json"
        metadata.write_text(json.dumps(datasette_metadata(path.stem)), encoding="utf-8")
        command = [
            sys.executable,
            "-m",
            "datasette",
            "serve",
            "--immutable",
            str(path),
            "--metadata",
            str(metadata),
            "--host",
            host,
            "--port",
            str(port),
        ]
        click.echo(f"Datasette on http://{host}:{port}/ (read-only: {path})", err=True)
        with contextlib.suppress(KeyboardInterrupt):
            subprocess.run(command, check=False, env=dict(os.environ))


@archive.command("export-sqlite")
@config_option
@db_option
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False), help="New SQLite file to write."
)
@click.option("--since", help="Only posts published at or after (YYYY-MM-DD or ISO timestamp).")
@click.option("--until", help="Only posts published before.")
@actor_option
def archive_export_sqlite(
    config_path: str | None,
    db_path: str | None,
    out: str,
    since: str | None,
    until: str | None,
    actor: str | None,
) -> None:
    """Copy a PostgreSQL archive (or a date range of it) into a new SQLite archive for auditors.

    The file has the normal SQLite schema and the whole audit chain, so `groundswell audit
    verify --db FILE` checks it; --since/--until limit the posts and what hangs off them.
    The export is recorded in the PostgreSQL archive's audit log with the file's SHA-256.

    Example:

        groundswell archive export-sqlite --db postgresql://gs@db/groundswell --out audit.db
        groundswell archive export-sqlite --out q3.db --since 2026-07-01 --until 2026-10-01
    """
    from monitor.audit import record
    from monitor.pg import is_postgres_url
    from monitor.store import ReadOnlyError, Store

    config = load_config_or_exit(config_path, required=False)
    source = db_path_for(config, db_path)
    if not is_postgres_url(source):
        click.echo(
            "error: export-sqlite reads a PostgreSQL archive (--db postgresql://...); "
            f"{source} is a SQLite archive already",
            err=True,
        )
        raise SystemExit(EXIT_CONFIG)
    from monitor.pg.export import ExportSqliteError, export_sqlite

    with Store.open(source, readonly=True) as store:
        try:
            report = export_sqlite(store, out, since=parse_when(since), until=parse_when(until))  # type: ignore[arg-type]
        except ExportSqliteError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_FAILURE) from None
    details = {
        "format": "sqlite",
        "output": report.path,
        "sha256": report.sha256,
        "rows": report.rows,
        "since": report.since,
        "until": report.until,
        "audit_seq": report.audit_seq,
        "audit_hash": report.audit_hash,
    }
    try:
        with Store.open(source, migrate=False) as writable:
            record(writable, actor=_actor(actor), action="export", subject="archive", after=details)
    except (ReadOnlyError, OSError, sqlite3.Error) as exc:
        click.echo(f"warning: export not recorded in the audit log: {exc}", err=True)
    click.echo(
        f"exported {report.rows.get('posts', 0)} posts, audit chain to row {report.audit_seq} "
        f"({report.audit_hash[:16]}…) into {report.path} ({report.sha256})",
        err=True,
    )


COMMANDS = [audit, export, hold, retention, forget_author, archive]
