"""``groundswell alerts …``: list, acknowledge, resolve, silence, test channels, run delivery."""

from __future__ import annotations

import getpass
import json
from datetime import timedelta
from typing import Any

import click

from monitor.cli_common import (
    EXIT_FAILURE,
    config_option,
    db_option,
    load_config_or_exit,
    open_store,
)
from monitor.config import parse_interval
from monitor.records import isoformat, parse_iso, utcnow

__all__ = ["COMMANDS", "alerts"]


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _by_option(func: Any) -> Any:
    return click.option(
        "--by", "actor", default=_default_actor, show_default="current user", help="Who acts."
    )(func)


@click.group()
def alerts() -> None:
    """Alert threads: list, acknowledge, resolve, silence; test channels; run delivery."""


@alerts.command("list")
@config_option
@db_option
@click.option(
    "--status", type=click.Choice(["firing", "acknowledged", "resolved"]), help="Only this status."
)
@click.option("--brand", help="Only this brand.")
@click.option("--limit", default=50, show_default=True, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_command(
    config_path: str | None,
    db_path: str | None,
    status: str | None,
    brand: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List alert threads, newest first.

    Example:

        groundswell alerts list --status firing --brand Acme
    """
    from alerts.lifecycle import list_alerts

    config = load_config_or_exit(config_path, required=False)
    with open_store(config, db_path) as store:
        rows = list_alerts(store, status=status, brand=brand, limit=limit)
    for row in rows:
        state = row["state"] or {}
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False, sort_keys=True))
            continue
        click.echo(
            f"#{row['id']:<5} {row['status']:<12} {row['severity']:<8} {row['brand']:<12} "
            f"risk {float(row['risk']):.2f}  {state.get('post_count', 0)} post(s) on "
            f"{len(state.get('sources', []))} source(s)  → {', '.join(row['receivers'])}  "
            f"{row['updated_at']}"
        )
    if not rows and not as_json:
        click.echo("no alerts")


@alerts.command("show")
@config_option
@db_option
@click.argument("alert_id", type=int)
def show_command(config_path: str | None, db_path: str | None, alert_id: int) -> None:
    """Show one alert thread with its history and deliveries.

    Example:

        groundswell alerts show 12
    """
    from alerts.lifecycle import get_alert

    config = load_config_or_exit(config_path, required=False)
    with open_store(config, db_path) as store:
        alert = get_alert(store, alert_id)
        if alert is None:
            click.echo(f"no alert with id {alert_id}", err=True)
            raise SystemExit(EXIT_FAILURE)
        events = store.conn.execute(
            "SELECT at, kind, actor, post_id, detail FROM alert_events WHERE alert_id = ? ORDER BY id",
            (alert_id,),
        ).fetchall()
        deliveries = store.conn.execute(
            "SELECT id, kind, receiver, channel_kind, status, attempts, last_error FROM outbox "
            "WHERE alert_id = ? ORDER BY id",
            (alert_id,),
        ).fetchall()
    click.echo(
        f"alert #{alert['id']} {alert['status']} {alert['severity']} {alert['brand']} "
        f"({alert['kind']}) route {alert['route']}"
    )
    click.echo(f"  group   {alert['group_key']}")
    click.echo(f"  risk    {float(alert['risk']):.2f}; reasons: {'; '.join(alert['reasons'])}")
    for label in ("acknowledged", "resolved"):
        if alert[f"{label}_by"]:
            click.echo(
                f"  {label} by {alert[f'{label}_by']} at {alert[f'{label}_at']} "
                f"via {alert[f'{label}_via']}"
            )
    click.echo("history:")
    for at, kind, actor, post_id, _detail in events:
        click.echo(f"  {at} {kind:<12} {actor:<10} {post_id or ''}")
    click.echo("deliveries:")
    for item_id, kind, receiver, channel, status, attempts, error in deliveries:
        suffix = f" — {error}" if error else ""
        click.echo(
            f"  #{item_id} {kind:<12} {receiver}/{channel} {status} ({attempts} attempt(s)){suffix}"
        )


def _transition(
    action: str, config_path: str | None, db_path: str | None, alert_id: int, actor: str
) -> None:
    from alerts.lifecycle import AlertNotFoundError, TransitionError, ack, resolve

    config = load_config_or_exit(config_path, required=False)
    with open_store(config, db_path) as store:
        try:
            alert = (ack if action == "ack" else resolve)(store, alert_id, actor, "cli")
        except (AlertNotFoundError, TransitionError) as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_FAILURE) from None
    click.echo(f"alert #{alert_id} is {alert['status']} (by {actor})")


@alerts.command("ack")
@config_option
@db_option
@click.argument("alert_id", type=int)
@_by_option
def ack_command(config_path: str | None, db_path: str | None, alert_id: int, actor: str) -> None:
    """Acknowledge an alert: you are on it (stops reminders and escalation).

    Example:

        groundswell alerts ack 12 --by maria
    """
    _transition("ack", config_path, db_path, alert_id, actor)


@alerts.command("resolve")
@config_option
@db_option
@click.argument("alert_id", type=int)
@_by_option
def resolve_command(
    config_path: str | None, db_path: str | None, alert_id: int, actor: str
) -> None:
    """Resolve an alert: answered and closed.

    Example:

        groundswell alerts resolve 12 --by maria
    """
    _transition("resolve", config_path, db_path, alert_id, actor)


@alerts.command("silence")
@config_option
@db_option
@click.argument("matchers", nargs=-1, required=True)
@click.option("--for", "duration", help="How long, e.g. 2h (default: alerts.silence_duration).")
@click.option("--until", "until", help="End time, ISO 8601 with zone (instead of --for).")
@click.option("--comment", "-m", required=True, help="Why (shown to everyone).")
@_by_option
def silence_command(
    config_path: str | None,
    db_path: str | None,
    matchers: tuple[str, ...],
    duration: str | None,
    until: str | None,
    comment: str,
    actor: str,
) -> None:
    """Silence alerts whose labels match every MATCHER (label=value, !=, =~ regex, !~).

    Example:

        groundswell alerts silence brand=Acme story=rss:123 --for 4h -m "answered, watching"
    """
    from alerts.matchers import MatcherError
    from alerts.settings import settings_for
    from alerts.silences import SilenceError, create_silence

    config = load_config_or_exit(config_path, required=False)
    now = utcnow()
    try:
        if until:
            ends = parse_iso(until)
        else:
            seconds = (
                parse_interval(duration) if duration else settings_for(config).silence_duration
            )
            ends = now + timedelta(seconds=seconds)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_FAILURE) from None
    with open_store(config, db_path) as store:
        try:
            silence = create_silence(
                store,
                matchers,
                starts_at=now,
                ends_at=ends,
                created_by=actor,
                comment=comment,
                now=now,
            )
        except (SilenceError, MatcherError) as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_FAILURE) from None
    click.echo(f"silence #{silence.id}: {silence.describe()} until {isoformat(silence.ends_at)}")


@alerts.command("silences")
@config_option
@db_option
@click.option("--all", "show_all", is_flag=True, help="Include expired silences.")
def silences_command(config_path: str | None, db_path: str | None, show_all: bool) -> None:
    """List active and pending silences.

    Example:

        groundswell alerts silences --all
    """
    from alerts.silences import list_silences

    config = load_config_or_exit(config_path, required=False)
    now = utcnow()
    with open_store(config, db_path) as store:
        items = list_silences(store, now, include_expired=show_all)
    for silence in items:
        state = (
            "active"
            if silence.active(now)
            else ("pending" if silence.starts_at > now else "expired")
        )
        click.echo(
            f"#{silence.id:<4} {state:<8} {silence.describe()}  until "
            f"{isoformat(silence.expired_at or silence.ends_at)}  by {silence.created_by}: "
            f"{silence.comment}"
        )
    if not items:
        click.echo("no silences")


@alerts.command("unsilence")
@config_option
@db_option
@click.argument("silence_id", type=int)
@_by_option
def unsilence_command(
    config_path: str | None, db_path: str | None, silence_id: int, actor: str
) -> None:
    """Lift a silence now.

    Example:

        groundswell alerts unsilence 3
    """
    from alerts.silences import SilenceError, expire_silence

    config = load_config_or_exit(config_path, required=False)
    with open_store(config, db_path) as store:
        try:
            expire_silence(store, silence_id, actor=actor, now=utcnow())
        except SilenceError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_FAILURE) from None
    click.echo(f"silence #{silence_id} lifted")


@alerts.command("test-channel")
@config_option
@db_option
@click.argument("receiver")
def test_channel_command(config_path: str | None, db_path: str | None, receiver: str) -> None:
    """Send a test message to every channel of RECEIVER (through the outbox) and report.

    Example:

        groundswell alerts test-channel pr-oncall
    """
    from alerts.delivery import deliver_pending
    from alerts.engine import AlertEngine

    config = load_config_or_exit(config_path, required=False)
    with open_store(config, db_path) as store:
        engine = AlertEngine(config, store)
        try:
            rows = engine.test_notification(receiver)
        except KeyError as exc:
            click.echo(f"error: {exc.args[0]}", err=True)
            raise SystemExit(EXIT_FAILURE) from None
        keys = [row.idempotency_key for row in rows]
        marks = ",".join("?" * len(keys))
        ids = [
            r[0]
            for r in store.conn.execute(
                f"SELECT id FROM outbox WHERE idempotency_key IN ({marks})", keys
            )
        ]
        report = deliver_pending(store, config, utcnow(), only_ids=ids)
    for line in report.errors:
        click.echo(f"failed: {line}", err=True)
    click.echo(f"{report.sent} of {len(ids)} channel(s) of {receiver} accepted the test message")
    if report.failed:
        raise SystemExit(EXIT_FAILURE)


@alerts.command("deliver")
@config_option
@db_option
def deliver_command(config_path: str | None, db_path: str | None) -> None:
    """Run the timers (group wait, repeats, escalation, digests) and send due outbox rows.

    Example:

        groundswell alerts deliver
    """
    from alerts.delivery import deliver_pending
    from alerts.engine import AlertEngine

    config = load_config_or_exit(config_path, required=False)
    with open_store(config, db_path) as store:
        now = utcnow()
        tick = AlertEngine(config, store, clock=lambda: now).tick(now)
        report = deliver_pending(store, config, now)
    for line in report.errors:
        click.echo(f"failed: {line}", err=True)
    click.echo(
        f"queued {tick.notifications}, escalated {tick.escalated}, digests {tick.digests}; "
        f"sent {report.sent}, failed {report.failed}, dead-lettered {report.dead}"
    )


@alerts.command("outbox")
@config_option
@db_option
@click.option("--retry-dead", is_flag=True, help="Queue every dead-lettered delivery again.")
def outbox_command(config_path: str | None, db_path: str | None, retry_dead: bool) -> None:
    """Show the delivery outbox: pending, sent, dead letters (and optionally retry them).

    Example:

        groundswell alerts outbox --retry-dead
    """
    from alerts.outbox import outbox_status
    from alerts.outbox import retry_dead as requeue

    config = load_config_or_exit(config_path, required=False)
    with open_store(config, db_path) as store:
        if retry_dead:
            click.echo(f"requeued {requeue(store, utcnow())} dead delivery(ies)")
        status = outbox_status(store)
    click.echo(
        f"pending {status['pending']}, sent {status['sent']}, dead {status['dead']}"
        + (
            f"; oldest pending since {status['oldest_pending_at']}"
            if status["oldest_pending_at"]
            else ""
        )
    )
    for item in status["dead_letters"]:
        click.echo(
            f"  dead #{item['id']} {item['kind']} → {item['receiver']}/{item['channel']} "
            f"after {item['attempts']} attempt(s): {item['last_error']}"
        )


@alerts.command("route")
@config_option
@click.argument("labels", nargs=-1, required=True)
def route_command(config_path: str | None, labels: tuple[str, ...]) -> None:
    """Show which receivers an alert with these LABELS (name=value) would reach.

    Example:

        groundswell alerts route brand=Acme severity=critical cues=legal_threat
    """
    from alerts.routing import route_matches
    from alerts.settings import settings_for

    config = load_config_or_exit(config_path, required=False)
    values = {}
    for item in labels:
        name, sep, value = item.partition("=")
        if not sep:
            click.echo(f"error: expected name=value, got {item!r}", err=True)
            raise SystemExit(EXIT_FAILURE)
        values[name] = value
    for match in route_matches(settings_for(config), values):
        click.echo(f"{match.route.path} → {match.receiver}")


COMMANDS = [alerts]
