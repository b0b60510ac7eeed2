"""``groundswell demo``: a scripted day of brand mentions, played through the real service.

Everything is local: loopback fake sources (news RSS, Reddit-, Mastodon-, Bluesky- and Hacker
News-shaped APIs) play a day in accelerated time — ordinary multilingual chatter, a competitor's
outage, a viral but harmless post, and a "United Breaks Guitars"-like complaint that starts small
and spreads to the news. The real scheduler, collectors, offline model, scoring, alert routing
and delivery run against it; alerts arrive in a local mailbox (SMTP on 127.0.0.1, written to
``demo-mailbox.mbox``) and a signed webhook log (``demo-webhooks.jsonl``). The archive stays in
``groundswell.db`` for exploration, and the review UI is served at the end when stdin is a
terminal (unless ``--no-serve``).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.config import Config, parse_config
from monitor.demo_script import BRAND, RIVAL, Scenario, build_scenario
from monitor.fakes import FakeSources, SimulatedClock
from monitor.mailbox import LocalMailbox, WebhookLog, free_port
from monitor.stages import StageResult, run_stage
from monitor.store import Store

__all__ = ["DEMO_ENV", "DemoOutcome", "demo_config", "play"]

Echo = Callable[[str], None]

# Credentials of the fake services and the local mailbox: demo values, set for this process only.
DEMO_ENV = {
    "DEMO_REDDIT_CLIENT_ID": "demo-client",
    "DEMO_REDDIT_CLIENT_SECRET": "demo-secret",
    "DEMO_BSKY_HANDLE": "demo.bsky.social",
    "DEMO_BSKY_APP_PASSWORD": "demo-app-password",
    "DEMO_SMTP_PASSWORD": "demo-smtp-password",
    "DEMO_WEBHOOK_SECRET": "demo-webhook-secret",
    "GROUNDSWELL_LINK_SECRET": "demo-link-secret",
}
DEMO_USER = ("demo", "demo-password")
DEMO_MARKER = "demo-reddit"


@dataclass(frozen=True, slots=True)
class DemoOutcome:
    exit_code: int
    alerts: list[dict[str, Any]]
    emails: int
    webhooks: int


def demo_config(
    urls: dict[str, str], db_path: str, smtp_port: int, webhook_url: str, ui_url: str
) -> dict[str, Any]:
    """The demo's configuration, as a ``groundswell.toml`` would hold it."""

    def mail(to: str) -> str:
        return (
            f"mailto://alerts:${{DEMO_SMTP_PASSWORD}}@127.0.0.1:{smtp_port}"
            f"?from=groundswell@demo.example&to={to}&mode=insecure"
        )

    return {
        "storage": {"path": db_path},
        "brands": [
            {
                "name": BRAND,
                "aliases": ["AuroraAir"],
                "handles": ["@auroraair"],
                "query": '("aurora air" OR auroraair) NOT "aurora borealis"',
                "languages": ["en", "de", "es", "pl", "fr"],
                "competitors": [RIVAL],
            },
            {"name": RIVAL, "query": '"nimbus airlines" OR "nimbus air" OR nimbusair'},
        ],
        "sources": [
            {
                "name": "demo-news",
                "type": "rss",
                "interval": "15m",
                "params": {"url": urls["news"]},
            },
            {
                "name": DEMO_MARKER,
                "type": "reddit",
                "interval": "5m",
                "params": {
                    "client_id_env": "DEMO_REDDIT_CLIENT_ID",
                    "client_secret_env": "DEMO_REDDIT_CLIENT_SECRET",
                    "api_url": urls["reddit_api"],
                    "token_url": urls["reddit_token"],
                    "web_url": urls["reddit_web"],
                    "user_agent": "demo:groundswell:1.0 (by /u/groundswell)",
                },
            },
            {
                "name": "demo-mastodon",
                "type": "mastodon",
                "interval": "5m",
                "params": {"servers": [urls["mastodon"]]},
            },
            {
                "name": "demo-bluesky",
                "type": "bluesky",
                "interval": "5m",
                "params": {
                    "handle_env": "DEMO_BSKY_HANDLE",
                    "app_password_env": "DEMO_BSKY_APP_PASSWORD",
                    "service": urls["bluesky"],
                },
            },
            {
                "name": "demo-hn",
                "type": "hackernews",
                "interval": "10m",
                "params": {"api_url": urls["hn_api"], "item_api_url": urls["hn_items"]},
            },
        ],
        # A fresh archive has no history yet: let brand-level bursts alert from the first hour.
        "risk": {"bursts": {"warmup_hours": 0}},
        "scheduler": {
            "process_interval": "5m",
            "repoll_interval": "10m",
            "disabled": ["retention", "digest", "optimize"],
        },
        "alerts": {
            "base_url": ui_url,
            "route": {
                "receiver": "pr-oncall",
                "group_wait": "2m",
                "group_interval": "30m",
                "repeat_interval": "12h",
                "routes": [{"match": {"competitor": "true"}, "receiver": "community"}],
            },
            "receivers": [
                {
                    "name": "pr-oncall",
                    "team": "PR on-call",
                    "apprise": [mail("pr-oncall@demo.example")],
                    "webhooks": [{"url": webhook_url, "secret_env": "DEMO_WEBHOOK_SECRET"}],
                },
                {
                    "name": "community",
                    "team": "Community managers",
                    "apprise": [mail("community@demo.example")],
                },
            ],
        },
    }


def _prepare_archive(db_path: Path, echo: Echo) -> None:
    """Start from a fresh archive, but never overwrite one that is not a demo's."""
    if not db_path.exists():
        return
    with Store.open(db_path) as store:
        keys = [row[0] for row in store.conn.execute("SELECT key FROM source_state")]
        posts = store.count("posts")
    if posts and not any(k.startswith(("demo-", DEMO_MARKER, "travel-news")) for k in keys):
        raise SystemExit(
            f"{db_path} holds a non-demo archive; run the demo in another directory or use --db"
        )
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    echo(f"replacing the previous demo archive {db_path}")


def _progress(
    scenario: Scenario, clock: Callable[[], datetime], stop: threading.Event, echo: Echo
) -> None:
    from tqdm import tqdm

    total = (scenario.end - scenario.start).total_seconds() / 3600
    with tqdm(
        total=round(total, 1),
        unit="h",
        desc="simulated day",
        bar_format="{desc}: {bar} {n:.1f}/{total} h",
    ) as bar:
        while not stop.wait(0.5):
            done = min(total, (clock() - scenario.start).total_seconds() / 3600)
            bar.update(done - bar.n)
            if done >= total:
                break


def _alerts(store: Store) -> list[dict[str, Any]]:
    if not store.db["alerts"].exists():
        return []
    cursor = store.conn.execute(
        "SELECT id, brand, kind, severity, status, receiver, first_post_id, story_id, risk, reasons, created_at "
        "FROM alerts ORDER BY created_at"
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _timeline(store: Store, scenario: Scenario, echo: Echo) -> None:
    echo("")
    echo("Timeline (simulated time)")
    rows: list[tuple[str, str]] = []
    ubg = store.conn.execute(
        "SELECT source, min(first_seen_at) FROM posts WHERE text LIKE '%cello%' AND text LIKE '%refund%' "
        "GROUP BY source ORDER BY 2"
    ).fetchall()
    for source, seen in ubg:
        rows.append((seen, f"first seen on {source}: the cello complaint"))
    for alert in _alerts(store):
        reasons = ", ".join(json.loads(alert["reasons"])[:4])
        rows.append(
            (
                alert["created_at"],
                f"ALERT {alert['severity'].upper():<8} {alert['kind']:<5} "
                f"{alert['brand']} → {alert['receiver']}: {reasons}",
            )
        )
    if store.db["outbox"].exists():
        sent = store.conn.execute(
            "SELECT substr(sent_at, 1, 16), kind, receiver, group_concat(DISTINCT channel_kind) FROM outbox "
            "WHERE status = 'sent' AND channel_kind != 'log' GROUP BY 1, 2, 3 ORDER BY 1"
        ).fetchall()
        for minute, kind, receiver, channels in sent:
            via = ", ".join(sorted("email" if c == "apprise" else c for c in channels.split(",")))
            rows.append((minute, f"delivered {kind} to {receiver} ({via})"))
    for at, text in sorted(rows):
        echo(f"  {at[11:16]}  {text}")
    if store.db["risk_scores"].exists():
        echo("")
        echo("Highest risk in the archive")
        for risk, source, lang, title in store.conn.execute(
            "SELECT max(r.risk), p.source, p.lang, coalesce(nullif(p.title, ''), p.text) FROM risk_scores r "
            "JOIN posts p ON p.id = r.post_id GROUP BY r.post_id ORDER BY 1 DESC LIMIT 5"
        ):
            echo(f"  {risk:.2f}  {source:<10} {lang or '--':<3} {title[:80]}")


def play(
    db_path: Path,
    *,
    serve: bool = False,
    fast: bool = False,
    echo: Echo = print,
    speed: float | None = None,
    model: str | None = None,
) -> DemoOutcome:
    """Play the scripted day through the real service, print a timeline, optionally serve the UI."""
    from monitor.service import Service

    os.environ.update({k: v for k, v in DEMO_ENV.items() if k not in os.environ})
    scenario = build_scenario()
    speed = speed or (1440.0 if fast else 480.0)  # a day in 1 or 3 minutes
    _prepare_archive(db_path, echo)
    workdir = db_path.resolve().parent
    mbox, hooks = workdir / "demo-mailbox.mbox", workdir / "demo-webhooks.jsonl"
    mbox.unlink(missing_ok=True)
    hooks.unlink(missing_ok=True)
    ui_port = free_port()
    ui_url = f"http://127.0.0.1:{ui_port}"

    echo(
        "groundswell demo: a scripted day for the brand "
        f"'{BRAND}' (competitor '{RIVAL}'), {24 * 3600 / speed / 60:.1f} minutes of real time"
    )
    echo("loading the offline sentiment model (built on first use; a few minutes the first time) …")
    with (
        LocalMailbox(mbox, "alerts", DEMO_ENV["DEMO_SMTP_PASSWORD"]) as mailbox,
        WebhookLog(hooks, DEMO_ENV["DEMO_WEBHOOK_SECRET"]) as webhook,
    ):
        clock = SimulatedClock(scenario.start, speed)
        with FakeSources(scenario, clock) as fakes:
            config: Config = parse_config(
                demo_config(fakes.urls, str(db_path), mailbox.port, webhook.url, ui_url), "<demo>"
            )
            service = Service(config, str(db_path), clock=clock, speed=speed, model=model)
            loaded = run_stage(service.ctx, "classify", lambda ctx: _load_model(ctx))
            if not loaded.ok:
                echo(f"model unavailable ({loaded.detail}); continuing without sentiment")
            clock.restart()
            echo(
                f"fake sources on 127.0.0.1; mailbox on 127.0.0.1:{mailbox.port}; webhook {webhook.url}"
            )
            stop = threading.Event()
            ticker = threading.Thread(
                target=_progress, args=(scenario, clock, stop, echo), daemon=True
            )
            service.start()
            ticker.start()
            try:
                stop_at = scenario.end
                while clock() < stop_at:
                    if stop.wait(0.2):
                        break
            except KeyboardInterrupt:
                echo("interrupted: stopping the service")
            finally:
                stop.set()
                ticker.join(timeout=2)
                service.stop(flush=False)
            # One last round so that what the day produced is scored, alerted and delivered.
            for name in ("process", "deliver"):
                run_stage(service.ctx, name)
        with Store.open(db_path) as store:
            alerts = _alerts(store)
            _timeline(store, scenario, echo)
            posts = store.count("posts")
        echo("")
        echo(
            f"{posts} posts stored in {db_path}; {len(alerts)} alert thread(s); "
            f"{len(mailbox.messages)} email(s) in {mbox.name}; {len(webhook.payloads)} webhook call(s) in {hooks.name}"
        )
        outcome = DemoOutcome(
            0 if posts else 1, alerts, len(mailbox.messages), len(webhook.payloads)
        )
    echo("Explore:  groundswell search 'cello OR refund*' --db " + str(db_path))
    echo("          groundswell alerts list --db " + str(db_path))
    echo("          groundswell status --db " + str(db_path))
    if serve:
        _serve(config, db_path, ui_port, echo)
    return outcome


def _load_model(ctx: Any) -> StageResult:
    ctx.classifier()
    return StageResult("model", True, 1)


def _serve(config: Config, db_path: Path, port: int, echo: Echo) -> None:
    import uvicorn

    from monitor.web.app import create_app
    from monitor.web.auth import ensure_user

    with Store.open(db_path) as store:
        ensure_user(store, DEMO_USER[0], DEMO_USER[1], "admin")
    echo("")
    echo(
        f"Review UI: http://127.0.0.1:{port}/  — log in as {DEMO_USER[0]} / {DEMO_USER[1]}  (Ctrl-C to stop)"
    )
    uvicorn.run(create_app(config, str(db_path)), host="127.0.0.1", port=port, log_level="warning")
