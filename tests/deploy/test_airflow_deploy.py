"""mediamon on a real Airflow, as deployed (issue #13): `make test-deploy`, run by CI.

For LocalExecutor, and for CeleryExecutor with two workers: Postgres for the metadata
database, the api-server, scheduler, dag-processor and triggerer started with the `airflow`
command as the official image does, the embedded Elasticsearch, feeds and pages generated
here and served locally, alerts sent to a local webhook. The DAGs start unpaused, so the
scheduler's own first run of `media_monitoring` must succeed on the first attempt of every
task, with the default extraction workers (processes); a triggered second run adds nothing.
With the LocalExecutor, a batch's task process sent SIGTERM mid-batch (as the task supervisor
forwards a pod's or a worker's shutdown) stops cleanly: its report is stored as interrupted,
no process of it is left, Airflow retries the batch, and the retry completes it without
duplicates. With Celery both workers take batches, and a worker killed (SIGKILL, with everything it
started) in the middle of a batch loses nothing and duplicates nothing once the batch is
retried on the other. Run times are printed (`make test-deploy` shows them).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from deploy_services import BIN, Airflow, NewsSite, WebhookReceiver, free_port, wait_for
from elasticsearch import Elasticsearch

from ingest import store
from ingest.airflow_batches import batch_run_id
from ingest.config import Settings

pytestmark = [pytest.mark.deploy, pytest.mark.slow, pytest.mark.timeout(1800)]

HOSTS = ("north", "south", "east", "west")  # one feed each: four host-grouped batches
ARTICLES_PER_FEED = 5
ALERTED_EVERY = 3  # articles 0, 3, ... of each feed say "Kordon": the rule's matches
WORDS = (  # noqa: SIM905 (a sentence is easier to read than 40 quoted words)
    "border guards families forest night cold shelter volunteers officials crossing fence "
    "ministers sanctions aid convoy hospital doctors winter camp journalists checkpoint "
    "refugees soldiers villagers lorries bread water blankets children river bridge "
    "negotiations embassy statement protest parliament governor airport flights charter"
).split()
RULES = """
rules:
  - id: kordon
    name: Kordon
    query: Kordon
    notify:
      - type: webhook
        url: {url}
"""


# -- the site ---------------------------------------------------------------------------------


def article_html(title: str, seed: str) -> str:
    rng = random.Random(seed)  # distinct text per article: no two are one story
    paragraphs = "".join(
        "<p>" + " ".join(rng.choice(WORDS) for _ in range(45)).capitalize() + ".</p>"
        for _ in range(5)
    )
    return (
        f"<html lang='en'><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        f"{paragraphs}</article></body></html>"
    )


def publish(site: NewsSite, start: int, count: int, delay: float = 0.0) -> list[str]:
    """Articles `start`..`start+count-1` on every host (their feeds list all so far)."""
    titles = []
    for host in HOSTS:
        base = f"http://{host}.localhost:{site.port}"
        for n in range(start + count):
            title = f"{host.title()} report {n}" + (" Kordon" if n % ALERTED_EVERY == 0 else "")
            if n >= start:
                site.put(f"/{host}/{n}.html", article_html(title, f"{host}-{n}"), "text/html",
                         delay)  # fmt: skip
                titles.append(title)
        items = "".join(
            f"<item><title>{host} {n}</title><link>{base}/{host}/{n}.html</link>"
            f"<guid>{base}/{host}/{n}.html</guid></item>"
            for n in range(start + count)
        )
        site.put(f"/{host}/feed.xml", f"<rss version='2.0'><channel><title>{host}</title>"
                 f"<link>{base}/</link>{items}</channel></rss>", "application/rss+xml")  # fmt: skip
        site.put("/robots.txt", "User-agent: *\nAllow: /\n", "text/plain")
    return titles


def write_config(folder: Path, site: NewsSite, webhook: WebhookReceiver) -> tuple[Path, Path]:
    feeds = [{"name": host, "url": f"http://{host}.localhost:{site.port}/{host}/feed.xml",
              "language": "en", "source": host.title()} for host in HOSTS]  # fmt: skip
    feeds_file, rules_file = folder / "feeds.yaml", folder / "alerts.yaml"
    feeds_file.write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")
    rules_file.write_text(RULES.format(url=webhook.url), encoding="utf-8")
    return feeds_file, rules_file


# -- the deployment ---------------------------------------------------------------------------


def mediamon(env: dict[str, str], *args: str) -> None:
    """The compose file's `init` service: templates, then the alert rules, before Airflow."""
    result = subprocess.run([str(BIN / "mediamon"), *args], env=env, capture_output=True,
                            text=True, timeout=300, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def bring_up(
    make: Callable[..., Airflow], executor: str, broker: str, es_url: str, prefix: str,
    feeds_file: Path, rules_file: Path,
) -> Airflow:  # fmt: skip
    extra = {
        "AIRFLOW_VAR_MEDIAMON_FEEDS_FILE": str(feeds_file),
        "AIRFLOW_VAR_MEDIAMON_RULES_FILE": str(rules_file),
        "AIRFLOW_VAR_MEDIAMON_INDEX_PREFIX": prefix,
        # Every run polls every feed (the second run must see the same entries again).
        "AIRFLOW_VAR_MEDIAMON_POLL_ALL_FEEDS": "true",
        # The test's feeds are on loopback, which the egress guard refuses by default.
        "MEDIAMON_EGRESS_ALLOW": "127.0.0.1/32",
        # A killed worker's task is noticed after 30 s without a heartbeat (default 5 min).
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__CORE__PARALLELISM": "4",
    }
    airflow = make(executor, broker, es_url, extra)
    started = time.monotonic()
    airflow.cli("db", "migrate")
    airflow.cli("pools", "set", "mediamon_fetch", "4", "mediamon: batches fetching at once")
    init_env = {**airflow.env, "ES_URL": es_url, "MEDIAMON_INDEX_PREFIX": prefix}
    mediamon(init_env, "setup")
    mediamon(init_env, "alerts", "sync", "--rules", str(rules_file))
    print(f"\n[{executor}] db migrate, pool, init: {time.monotonic() - started:.0f} s")
    airflow.start("api-server", "api-server")
    airflow.start("dag-processor", "dag-processor")
    airflow.start("triggerer", "triggerer")
    if executor == "CeleryExecutor":
        for name in ("worker-a", "worker-b"):
            airflow.start(name, "celery", "worker", "--celery-hostname", f"{name}@%h",
                          "--concurrency", "2", DEPLOY_WORKER_NAME=name,
                          AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()))  # fmt: skip
    # The scheduler last, as compose starts it after `init`: the DAGs are unpaused at
    # creation, so its first run of media_monitoring starts as soon as they are parsed.
    airflow.start("scheduler", "scheduler")
    api = airflow.env["AIRFLOW__API__BASE_URL"]
    wait_for("the api-server", lambda: _healthy(api, airflow), timeout=300, every=2)
    return airflow


def _healthy(api: str, airflow: Airflow) -> bool:
    airflow.check_alive()
    try:
        with urllib.request.urlopen(f"{api}/api/v2/monitor/health", timeout=5) as response:
            health = json.load(response)
    except OSError:
        return False
    return all(part.get("status") == "healthy" for part in health.values() if part)


def runs(airflow: Airflow, dag_id: str) -> list[tuple[str, str, str, Any, Any]]:
    return [
        (str(a), str(b), str(c), d, e)
        for a, b, c, d, e in airflow.query(
            "SELECT run_id, run_type, state, start_date, end_date FROM dag_run "
            "WHERE dag_id = %s ORDER BY id", dag_id
        )
    ]  # fmt: skip


def finished_run(airflow: Airflow, dag_id: str, nth: int, timeout: float = 900) -> tuple[str, ...]:
    """The `nth` run of `dag_id`, once it has ended. Only the first is found by its place:
    the schedule (every 15 minutes) may add a run of its own at any time after it."""

    def done() -> Any:
        airflow.check_alive()
        found = runs(airflow, dag_id)
        if len(found) >= nth and found[nth - 1][2] in ("success", "failed"):
            return found[nth - 1]
        return None

    return tuple(wait_for(f"run {nth} of {dag_id}", done, timeout=timeout, every=2))


def finished(airflow: Airflow, run_id: str, timeout: float = 900) -> tuple[str, ...]:
    """The run of `media_monitoring` called `run_id` (see `trigger`), once it has ended."""

    def done() -> Any:
        airflow.check_alive()
        found = [run for run in runs(airflow, "media_monitoring") if run[0] == run_id]
        return found[0] if found and found[0][2] in ("success", "failed") else None

    return tuple(wait_for(f"run {run_id}", done, timeout=timeout, every=2))


def task_instances(airflow: Airflow, run_id: str) -> list[tuple[str, int, str, int, str]]:
    return [
        (str(t), int(m), str(s), int(n), str(h))
        for t, m, s, n, h in airflow.query(
            "SELECT task_id, map_index, state, try_number, hostname FROM task_instance "
            "WHERE dag_id = 'media_monitoring' AND run_id = %s ORDER BY task_id, map_index",
            run_id,
        )
    ]  # fmt: skip


def trigger(airflow: Airflow, run_id: str) -> str:
    """Trigger `media_monitoring` as a run named `run_id`, to be told from scheduled runs."""
    airflow.cli("dags", "trigger", "media_monitoring", "--run-id", run_id)
    return run_id


def seconds(run: tuple[Any, ...]) -> float:
    start, end = run[3], run[4]
    return (end - start).total_seconds() if isinstance(start, datetime) else float("nan")


# -- what Elasticsearch holds ------------------------------------------------------------------


def articles(es: Elasticsearch, names: store.IndexNames) -> dict[str, str]:
    store.refresh(es, names)
    hits = es.search(index=names.articles, size=1000, query={"match_all": {}},
                     source_includes=["title", "extraction.status"])["hits"]["hits"]  # fmt: skip
    assert all(hit["_source"]["extraction"]["status"] == "ok" for hit in hits), hits
    return {hit["_id"]: hit["_source"]["title"] for hit in hits}


def alert_subjects(es: Elasticsearch, names: store.IndexNames) -> list[str]:
    hits = es.search(index=names.alerts, size=1000, query={"term": {"rule_id": "kordon"}},
                     source_includes=["subject", "status"])["hits"]["hits"]  # fmt: skip
    assert all(hit["_source"]["status"] == "sent" for hit in hits), hits
    return sorted(hit["_source"]["subject"] for hit in hits)


def run_report(es: Elasticsearch, names: store.IndexNames, run_id: str) -> dict[str, Any]:
    return dict(es.get(index=names.runs, id=run_id)["_source"])


def batch_reports(es: Elasticsearch, names: store.IndexNames, run_id: str) -> int:
    store.refresh(es, names)
    query = {"wildcard": {"run_id": {"value": f"batch-*@{run_id}"}}}
    return int(es.count(index=names.runs, query=query)["count"])


def check_first_two_runs(
    airflow: Airflow, es: Elasticsearch, names: store.IndexNames, webhook: WebhookReceiver,
    titles: list[str], label: str,
) -> list[str]:  # fmt: skip
    """The scheduler's first run, then a triggered one; returns the hosts that ran batches."""
    first = finished_run(airflow, "media_monitoring", 1)
    instances = task_instances(airflow, first[0])
    assert first[1] == "scheduled" and first[2] == "success", instances
    assert all(state == "success" and tries == 1 for _, _, state, tries, _ in instances), instances
    batches = [i for i in instances if i[0] == "ingest_batch"]
    assert len(batches) == len(HOSTS)
    stored = articles(es, names)
    report = run_report(es, names, first[0])
    assert sorted(stored.values()) == sorted(titles), (report["counts"], report["failures"])
    assert report["counts"]["articles.new"] == len(titles)
    assert batch_reports(es, names, first[0]) == len(HOSTS)
    alerted = sorted(t for t in titles if "Kordon" in t)
    assert len(alert_subjects(es, names)) == len(alerted)
    assert delivered_titles(webhook) == alerted
    print(f"[{label}] first run (scheduled): {seconds(first):.1f} s, {len(titles)} articles, "
          f"{len(alerted)} alerts")  # fmt: skip

    second = finished(airflow, trigger(airflow, "mediamon-test-second"))
    instances = task_instances(airflow, second[0])
    assert second[2] == "success", instances
    assert all(tries == 1 for _, _, _, tries, _ in instances), instances
    assert articles(es, names) == stored
    assert run_report(es, names, second[0])["counts"].get("articles.new", 0) == 0
    assert delivered_titles(webhook) == alerted
    print(f"[{label}] second run (triggered, nothing new): {seconds(second):.1f} s")
    maintenance = finished_run(airflow, "mediamon_maintenance", 1)
    assert maintenance[2] == "success"
    return [host for *_, host in batches]


def delivered_titles(webhook: WebhookReceiver) -> list[str]:
    return sorted(a["article"]["title"] for body in webhook.received for a in body["alerts"])


# -- the tests --------------------------------------------------------------------------------


def test_local_executor(
    deployment: Callable[..., Airflow], es_url: str, redis_url: str, settings: Settings,
    es: Elasticsearch, news_site: NewsSite, webhook: WebhookReceiver, tmp_path: Path,
) -> None:  # fmt: skip
    name, names = settings.index_prefix, store.IndexNames(settings.index_prefix)
    titles = publish(news_site, 0, ARTICLES_PER_FEED)
    feeds_file, rules_file = write_config(tmp_path, news_site, webhook)
    airflow = bring_up(deployment, "LocalExecutor", redis_url, es_url, name, feeds_file,
                       rules_file)  # fmt: skip
    check_first_two_runs(airflow, es, names, webhook, titles, "LocalExecutor")

    # Six new slow pages per feed: four are fetched at once (MEDIAMON_PER_HOST), so the last
    # two are still being fetched when the batch's extraction processes are up.
    titles += publish(news_site, ARTICLES_PER_FEED, 6, delay=5.0)
    run_id = trigger(airflow, "mediamon-test-third")
    run_id, map_index, pid, tree = wait_for("a batch extracting", lambda: a_batch_extracting(
        airflow, run_id), timeout=300, every=0.5)  # fmt: skip
    os.kill(pid, signal.SIGTERM)
    _, alive = psutil.wait_procs([psutil.Process(pid), *tree], timeout=60)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], "processes left behind"

    def batch_ended() -> str | None:
        state = str(airflow.query("SELECT state FROM task_instance WHERE dag_id = "
            "'media_monitoring' AND run_id = %s AND task_id = 'ingest_batch' AND map_index = %s",
            run_id, map_index)[0][0])  # fmt: skip
        return None if state == "running" else state

    state = wait_for("Airflow to see the batch end", batch_ended, timeout=120)
    assert state == "up_for_retry", state  # retry_delay: a minute, so its report is still ours
    report = run_report(es, names, batch_run_id(run_id, map_index))
    assert report["status"] == "interrupted" and report["interrupted_by"] == "SIGTERM", report
    third = finished(airflow, run_id)
    instances = task_instances(airflow, third[0])
    assert third[2] == "success", instances
    retried = next(i for i in instances if i[0] == "ingest_batch" and i[1] == map_index)
    assert retried[3] == 2, retried
    assert sorted(articles(es, names).values()) == sorted(titles)  # nothing lost, none twice
    left = report["counts"].get("entries.interrupted", 0)
    print(f"[LocalExecutor] third run, a batch sent SIGTERM mid-batch: {seconds(third):.1f} s, "
          f"{left} entries left to its retry")  # fmt: skip


def a_batch_extracting(airflow: Airflow, run_id: str) -> Any:
    """(run id, map index, pid, descendants) of a running batch whose extraction pool is up
    (forkserver, resource tracker, a worker), or None."""
    for map_index, pid in airflow.query(
        "SELECT map_index, pid FROM task_instance WHERE dag_id = 'media_monitoring' AND "
        "run_id = %s AND task_id = 'ingest_batch' AND state = 'running' AND pid IS NOT NULL",
        run_id,
    ):
        try:
            tree = psutil.Process(int(pid)).children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        if len(tree) >= 3:
            return run_id, int(map_index), int(pid), tree
    return None


def test_celery_executor_two_workers_and_one_killed(
    deployment: Callable[..., Airflow], es_url: str, redis_url: str, settings: Settings,
    es: Elasticsearch, news_site: NewsSite, webhook: WebhookReceiver, tmp_path: Path,
) -> None:  # fmt: skip
    name, names = settings.index_prefix, store.IndexNames(settings.index_prefix)
    titles = publish(news_site, 0, ARTICLES_PER_FEED)
    feeds_file, rules_file = write_config(tmp_path, news_site, webhook)
    airflow = bring_up(deployment, "CeleryExecutor", redis_url, es_url, name, feeds_file,
                       rules_file)  # fmt: skip
    hosts = check_first_two_runs(airflow, es, names, webhook, titles, "Celery")
    assert set(hosts) == {"worker-a", "worker-b"}, hosts

    # New articles whose pages are slow, so that a batch is still fetching when its worker
    # is killed with everything it started (the task, its extraction workers).
    titles += publish(news_site, ARTICLES_PER_FEED, 3, delay=2.0)
    run_id = trigger(airflow, "mediamon-test-third")

    def a_running_batch() -> Any:
        airflow.check_alive()
        running = [i for i in task_instances(airflow, run_id)
                   if i[0] == "ingest_batch" and i[2] == "running" and i[4]]  # fmt: skip
        return running[0] if running else None

    _, map_index, _, _, victim = wait_for("a running batch", a_running_batch, timeout=300)
    time.sleep(2)  # a page or two into the batch
    worker = next(s for s in airflow.services if s.name == victim)
    killed_at = time.monotonic()
    worker.kill()
    worker.name = f"killed-{victim}"
    third = finished(airflow, run_id)
    instances = task_instances(airflow, third[0])
    assert third[2] == "success", instances
    retried = next(i for i in instances if i[0] == "ingest_batch" and i[1] == map_index)
    assert retried[3] == 2 and retried[4] != victim, retried  # the second try, elsewhere
    assert sorted(articles(es, names).values()) == sorted(titles)  # nothing lost, none twice
    alerted = sorted(t for t in titles if "Kordon" in t)
    assert len(alert_subjects(es, names)) == len(alerted)
    assert delivered_titles(webhook) == alerted
    print(f"[Celery] third run, {victim} killed mid-batch: {seconds(third):.1f} s "
          f"({time.monotonic() - killed_at:.0f} s from the kill to the run's end)")  # fmt: skip
