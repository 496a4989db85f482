"""A run stopped by SIGINT (Ctrl-C: the whole process group) or SIGTERM (Airflow, systemd,
Kubernetes: the main process) stops cleanly (issue #15): one line, the shell's status, a run
report marked interrupted with its counts, its leases given back, no process left behind;
the next run, started at once, takes up the rest without duplicates.

A real `mediamon run` with two extraction processes reads a local site whose pages are slow
(tests/slow_site.py), so that the signal lands mid-run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import pytest
from elasticsearch import Elasticsearch
from faults import EsFaultProxy
from pytest_httpserver import HTTPServer
from slow_site import ARTICLES, documents, serve_dispatches, start_run, wait_until_indexed

from ingest import store
from ingest.config import Settings
from ingest.feeds import load_feeds
from ingest.interrupt import StopRequest
from ingest.models import RunReport
from ingest.pipeline import run_feeds

pytestmark = [pytest.mark.es, pytest.mark.slow]

LEASE_SECONDS = 60  # far longer than the test: a lease left behind would block the re-run
WORKERS = 2  # extraction processes, with their forkserver and resource tracker


@pytest.fixture
def feeds_file(httpserver: HTTPServer, tmp_path: Path) -> Path:
    return serve_dispatches(httpserver, tmp_path)


def to_the_group(process: subprocess.Popen[bytes], number: int) -> None:
    os.killpg(process.pid, number)  # as a terminal does on Ctrl-C


def to_the_process(process: subprocess.Popen[bytes], number: int) -> None:
    os.kill(process.pid, number)  # as Airflow's task supervisor, systemd or Kubernetes do


def stderr_lines(process: subprocess.Popen[bytes]) -> list[str]:
    assert process.stderr is not None
    with process.stderr:
        return process.stderr.read().decode(errors="replace").splitlines()


def extraction_processes(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The run's descendants once its pool is up: forkserver, resource tracker, workers."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        tree = psutil.Process(process.pid).children(recursive=True)
        if len(tree) >= WORKERS + 2:
            return tree
        time.sleep(0.1)
    raise AssertionError(f"the run's pool did not start: {tree}")


def left_behind(tree: list[psutil.Process], seconds: float = 5) -> list[psutil.Process]:
    """Those of `tree` still alive `seconds` after the run ended."""
    _, alive = psutil.wait_procs(tree, timeout=seconds)
    return [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]


def stored_reports(es: Elasticsearch, settings: Settings) -> list[dict[str, Any]]:
    names = store.IndexNames(settings.index_prefix)
    store.refresh(es, names)
    hits = es.search(index=names.runs, size=10, query={"match_all": {}})["hits"]["hits"]
    return [hit["_source"] for hit in hits]


def leases(es: Elasticsearch, settings: Settings) -> dict[str, Any]:
    doc = es.get(index=store.IndexNames(settings.index_prefix).feeds, id="dispatches")
    return {k: v for k, v in doc["_source"].items() if k.startswith("lease_")}


@pytest.mark.parametrize(
    ("number", "send"),
    [(signal.SIGINT, to_the_group), (signal.SIGTERM, to_the_process)],
    ids=["SIGINT-to-the-group", "SIGTERM-to-the-main-process"],
)
def test_a_signal_mid_run_stops_it_cleanly_and_the_rerun_completes(
    feeds_file: Path,
    settings: Settings,
    es: Elasticsearch,
    number: signal.Signals,
    send: Callable[[subprocess.Popen[bytes], int], None],
) -> None:
    process = start_run(feeds_file, settings, LEASE_SECONDS, extract_workers=WORKERS)
    try:
        tree = extraction_processes(process)
        indexed = wait_until_indexed(es, settings, process, at_least=4)
        send(process, number)
        status = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    lines = stderr_lines(process)

    assert status == 128 + number, lines
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    assert f"interrupted by {number.name}" in lines[0], lines
    assert left_behind(tree) == [], "processes outlived the interrupted run"

    (report,) = stored_reports(es, settings)
    assert report["status"] == "interrupted" and report["interrupted_by"] == number.name
    counts, failures = report["counts"], report["failures"]
    stored = documents(es, settings)
    assert indexed <= counts["articles.new"] == len(stored) < ARTICLES
    assert counts["entries.interrupted"] > 0
    skipped = sum(n for reason, n in failures.items() if reason.startswith("entry:"))
    outcomes = sum(counts.get(key, 0) for key in RunReport.ENTRY_OUTCOMES) + skipped
    assert counts["entries.seen"] == ARTICLES == outcomes  # every entry under one outcome
    assert leases(es, settings) == {}  # given back: the re-run need not wait for them

    rerun = run_feeds(load_feeds(feeds_file), settings, es)
    assert rerun.counts["feeds.leased_elsewhere"] == 0
    assert rerun.counts["entries.known"] == len(stored)
    assert rerun.counts["articles.new"] == ARTICLES - len(stored)
    resumed = documents(es, settings)
    assert sorted(title for title, _ in resumed.values()) == sorted(
        f"Dispatch {n}" for n in range(ARTICLES)
    )
    assert all(body for _, body in resumed.values())


def test_a_second_signal_stops_at_once(
    feeds_file: Path, settings: Settings, es: Elasticsearch
) -> None:
    # The run's Elasticsearch hangs at the first signal, so the graceful stop hangs on
    # storing: Ctrl-C again, as a user would.
    with EsFaultProxy(settings.es_url) as proxy:
        through_proxy = replace(settings, es_url=proxy.url)
        process = start_run(feeds_file, through_proxy, LEASE_SECONDS, extract_workers=WORKERS)
        try:
            tree = extraction_processes(process)
            wait_until_indexed(es, settings, process, at_least=4)
            proxy.hang()
            to_the_group(process, signal.SIGINT)
            time.sleep(1)
            assert process.poll() is None  # still trying to store
            to_the_group(process, signal.SIGINT)
            status = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    lines = stderr_lines(process)
    assert status == 130, lines
    assert len(lines) == 1 and lines[0].startswith("mediamon: second SIGINT: stopped at once")
    assert left_behind(tree) == [], "processes outlived the stopped run"


def test_a_run_puts_back_the_signal_handlers_it_found(
    settings: Settings, es: Elasticsearch
) -> None:
    # As Airflow's task runner has its own SIGTERM handler, which must work after the run.
    def airflow_like(number: int, frame: object) -> None:
        pass

    before = signal.signal(signal.SIGTERM, airflow_like)
    try:
        run_feeds([], settings, es)
        assert signal.getsignal(signal.SIGTERM) is airflow_like
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, before)


def test_work_in_flight_is_abandoned_at_the_stop_request_and_finished_work_kept() -> None:
    async def scenario() -> tuple[str | None, str | None, bool]:
        stop = StopRequest()
        stop.bind()
        done = await stop.unless_stopped(asyncio.sleep(0, result="fetched"))
        slow = asyncio.ensure_future(asyncio.sleep(60, result="too late"))
        asyncio.get_running_loop().call_later(0.05, stop.ask, signal.SIGTERM)
        abandoned = await stop.unless_stopped(slow)
        return done, abandoned, slow.cancelled()

    assert asyncio.run(scenario()) == ("fetched", None, True)
