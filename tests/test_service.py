"""The running service: timetable from config, jobs that store, reload, graceful shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import parse_config
from monitor.loopback import LoopbackServer, Reply
from monitor.scheduler import Timetable
from monitor.service import Service
from monitor.stages import StageResult
from monitor.store import Store

FIX = Path(__file__).parent / "fixtures" / "rss"


def raw_config(server: LoopbackServer, interval: str = "1h", **scheduler: object) -> dict:
    return {
        "brands": [{"name": "Acme Air", "query": '"acme air"'}, {"name": "Globex"}],
        "sources": [
            {
                "name": "news",
                "type": "rss",
                "interval": interval,
                "params": {"url": server.url("/news")},
            },
            {"name": "off", "type": "rss", "enabled": False, "params": {"url": server.url("/off")}},
        ],
        "scheduler": {
            "disabled": ["process", "repoll", "retention", "digest", "anchor", "optimize"],
            **scheduler,
        },
    }


def test_timetable_jobs_follow_the_config(loopback: LoopbackServer) -> None:
    config = parse_config(raw_config(loopback))
    table = Timetable(lambda *a: None)
    table.apply(config)
    assert table.job_ids() == ["collect:news"]
    everything = parse_config({**raw_config(loopback), "scheduler": {}})
    added, removed = table.apply(everything)
    assert set(added) == {"process", "repoll", "retention", "digest", "anchor", "optimize"}
    assert removed == []
    job = table.scheduler.get_job("collect:news")
    assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time == 120
    assert job.trigger.interval.total_seconds() == 3600 and job.trigger.jitter == 60


def test_per_brand_sources_get_one_job_per_brand(loopback: LoopbackServer) -> None:
    raw = raw_config(loopback)
    raw["sources"].append({"name": "hn", "type": "hackernews", "interval": "10m", "params": {}})
    config = parse_config(raw)
    table = Timetable(lambda *a: None)
    table.apply(config)
    assert "collect:hn|Acme Air" in table.job_ids() and "collect:hn|Globex" in table.job_ids()


def test_service_collects_records_and_stops(tmp_path: Path, loopback: LoopbackServer) -> None:
    loopback.routes["/news"] = Reply(200, (FIX / "rss20_en.xml").read_bytes())
    config = parse_config(raw_config(loopback))
    done = threading.Event()
    seen: list[tuple[str, StageResult]] = []

    def on_result(job_id: str, result: StageResult) -> None:
        seen.append((job_id, result))
        done.set()

    db = str(tmp_path / "svc.db")
    service = Service(config, db, on_result=on_result)
    service.start()
    try:
        assert done.wait(20), "the collect job did not run"
    finally:
        service.stop(flush=False)
    job_id, result = seen[0]
    assert job_id == "collect:news" and result.ok and result.count == 2
    with Store.open(db) as store:
        assert store.count("posts") == 2
        runs = store.conn.execute(
            "SELECT stage, runs, failures, last_count FROM stage_runs"
        ).fetchall()
    assert runs == [("collect:news", 1, 0, 2)]
    from monitor.status import collect_status

    with Store.open(db) as store:
        report = collect_status(config, store)
    assert [s["stage"] for s in report["stages"]] == ["collect:news"]
    assert report["stages"][0]["last_error"] is None


def test_reload_keeps_old_config_when_new_is_invalid(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    path = tmp_path / "groundswell.toml"
    path.write_text(
        f'[[brands]]\nname = "Acme"\n[[sources]]\nname = "news"\ntype = "rss"\nparams = {{ url = "{loopback.url("/news")}" }}\n'
        '[scheduler]\ndisabled = ["process", "repoll", "retention", "digest", "anchor", "optimize"]\n'
    )
    from monitor.config import load_config

    service = Service(load_config(path), str(tmp_path / "r.db"), config_path=str(path))
    service.timetable.apply(service.config)
    path.write_text('[[brands]]\nname = "Acme"\n[[sources]]\ntype = "nope"\n')
    assert service.reload() is False
    assert service.config.sources[0].name == "news"
    assert service.timetable.job_ids() == ["collect:news"]
    text = f'[[brands]]\nname = "Acme"\n[[sources]]\nname = "blog"\ntype = "rss"\nparams = {{ url = "{loopback.url("/b")}" }}\n'
    path.write_text(
        text
        + '[scheduler]\ndisabled = ["process", "repoll", "retention", "digest", "anchor", "optimize"]\n'
    )
    assert service.reload() is True
    assert service.timetable.job_ids() == ["collect:blog"]
    service.stop(flush=False)


@pytest.mark.slow
def test_sigterm_stops_gracefully(tmp_path: Path, loopback: LoopbackServer) -> None:
    loopback.routes["/news"] = Reply(200, (FIX / "rss20_en.xml").read_bytes())
    (tmp_path / "groundswell.toml").write_text(
        f'[[brands]]\nname = "Acme Air"\nquery = \'"acme air"\'\n[[sources]]\nname = "news"\ntype = "rss"\n'
        f'interval = "1h"\nparams = {{ url = "{loopback.url("/news")}" }}\n'
        '[scheduler]\ndisabled = ["process", "repoll", "retention", "digest", "anchor", "optimize"]\n'
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "-v", "run"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "groundswell running" in line:
                break
        # wait until the first collection is stored, then ask it to stop
        for _ in range(200):
            with Store.open(tmp_path / "groundswell.db") as store:
                if store.count("posts") == 2:
                    break
            threading.Event().wait(0.05)
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        assert proc.wait(timeout=30) == 0
    assert "stopping" in rest


def test_graceful_stop_while_a_job_asks_for_another_run_does_not_deadlock() -> None:
    """APScheduler's shutdown(wait=True) holds its job-store lock while waiting for running jobs;
    a job that asks for another run at that moment must not block on that lock."""
    entered, release = threading.Event(), threading.Event()

    def job(job_id: str, *args: object) -> None:
        entered.set()
        release.wait(5)
        table.run_soon("process")

    table = Timetable(job)
    # An interval job like the service's own: a one-off job would be removed by APScheduler's
    # loop after it starts, which races with shutdown() inside APScheduler itself.
    table.scheduler.add_job(job, "interval", hours=1, args=("slow",), id="slow", next_run_time=None)
    table.start()
    table.scheduler.get_job("slow").modify(next_run_time=datetime.now(UTC))
    assert entered.wait(5)
    stopper = threading.Thread(target=table.shutdown)
    stopper.start()
    threading.Event().wait(0.2)  # let shutdown take the scheduler's locks first
    release.set()
    stopper.join(timeout=10)
    assert not stopper.is_alive(), "shutdown deadlocked"


def test_asks_for_a_running_job_make_one_more_run_not_skips(loopback: LoopbackServer) -> None:
    """Each collect asks for a process run; while one runs, the asks are held and honoured once
    when it ends, instead of APScheduler skipping them ("maximum number of running instances")."""
    entered, release, twice = threading.Event(), threading.Event(), threading.Event()
    runs: list[str] = []

    def job(job_id: str, *args: object) -> None:
        runs.append(job_id)
        if len(runs) == 1:
            entered.set()
            release.wait(5)
        else:
            twice.set()

    raw = raw_config(loopback)
    raw["scheduler"] = {
        "disabled": ["collect", "repoll", "retention", "digest", "anchor", "optimize"]
    }
    table = Timetable(job)
    table.apply(parse_config(raw))
    table.start()
    try:
        assert entered.wait(5)
        for _ in range(20):
            table.run_soon("process")
        release.set()
        assert twice.wait(5)
        threading.Event().wait(0.3)  # a skipped or extra run would show up here
    finally:
        table.shutdown()
    assert runs == ["process", "process"]
