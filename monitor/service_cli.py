"""CLI for the running service: ``run`` and single ``stage`` runs."""

from __future__ import annotations

import json

import click

from monitor.cli_common import (
    EXIT_FAILURE,
    config_option,
    db_option,
    db_path_for,
    load_config_or_exit,
)

__all__ = ["COMMANDS"]


@click.command()
@config_option
@db_option
@click.option(
    "--once", is_flag=True, help="Run every stage once (collect, process, repoll) and exit."
)
@click.option(
    "--model", default=None, help="Sentiment model: 'default', a local folder or a hub id."
)
@click.option(
    "--queue/--no-queue",
    "use_queue",
    default=None,
    help="Enqueue the jobs for `groundswell worker` instead of running them "
    "(default: when the config has a queue).",
)
def run(
    config_path: str | None,
    db_path: str | None,
    once: bool,
    model: str | None,
    use_queue: bool | None,
) -> None:
    """Run the monitor: scheduled collection, classification, scoring, alerts and delivery.

    Stops gracefully on SIGTERM/SIGINT (running batches finish, the outbox is flushed);
    reloads the config on SIGHUP or when the file changes.

    Example:

        groundswell run --config groundswell.toml
        groundswell run --once        # one full round, for cron
        groundswell run --queue       # scheduler only: workers run the jobs
    """
    from monitor.service import Service
    from monitor.stages import collect_stage, run_stage

    config = load_config_or_exit(config_path)
    path = db_path_for(config, db_path)
    enqueuer = None
    if not once and (use_queue or (use_queue is None and "queue" in config.sections)):
        from monitor.worker_cli import open_enqueuer_or_exit

        enqueuer = open_enqueuer_or_exit(config)
    service = Service(
        config, path, config_path=config_path or "groundswell.toml", model=model, enqueuer=enqueuer
    )
    if once:
        results = [
            run_stage(service.ctx, "collect", lambda ctx: collect_stage(ctx)),
            run_stage(service.ctx, "process"),
            run_stage(service.ctx, "repoll"),
        ]
        for result in results:
            state = "ok" if result.ok else "FAILED"
            click.echo(f"{result.stage:<8} {state:<6} {result.count:>5}  {result.detail}")
        service.stop(flush=False)
        if not results[0].ok:
            raise SystemExit(EXIT_FAILURE)
        return
    service.run()


STAGE_NAMES = [
    "collect",
    "classify",
    "score",
    "alert",
    "deliver",
    "process",
    "repoll",
    "retention",
    "digest",
    "anchor",
    "optimize",
]


@click.command()
@click.argument("name", type=click.Choice(STAGE_NAMES))
@config_option
@db_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def stage(name: str, config_path: str | None, db_path: str | None, fmt: str) -> None:
    """Run one pipeline stage once, as the scheduler would.

    Stages: collect, classify, score, alert, deliver, process (classify → score → alert →
    deliver), repoll, retention, digest, anchor, optimize.

    Example:

        groundswell stage process
        groundswell stage optimize --format json
    """
    from monitor.service import record_stage_run
    from monitor.stages import StageContext, run_stage
    from monitor.store import Store
    from sources.http import HttpClient

    config = load_config_or_exit(config_path)
    path = db_path_for(config, db_path)
    with HttpClient() as client:
        result = run_stage(StageContext(config, path, client), name)
    with Store.open(path) as store:
        record_stage_run(store, name, result)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "stage": result.stage,
                    "ok": result.ok,
                    "count": result.count,
                    "detail": result.detail,
                    "seconds": round(result.seconds, 3),
                }
            )
        )
    else:
        click.echo(
            f"{result.stage}: {'ok' if result.ok else 'FAILED'}, {result.count} item(s)"
            f"{' — ' + result.detail if result.detail else ''} ({result.seconds:.2f}s)"
        )
    if not result.ok:
        raise SystemExit(EXIT_FAILURE)


COMMANDS = [run, stage]
