"""The DAGs under a real Airflow: clean imports, and whole runs with `dag.test()`.

`dag.test()` runs every task in this process against the SQLite metadata database of the
conftest, the real Elasticsearch of the `es_url` fixture and a local feed server
(pytest-httpserver) that serves three hosts as `*.localhost` virtual hosts, so the planner
makes three batches: two healthy hosts and one whose feed answers 500.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from articles import new_article
from elasticsearch import Elasticsearch
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ingest import store
from ingest.config import Settings
from ingest.errors import StoreError

pytest.importorskip("airflow", reason="needs mediamon[airflow]")

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(DAGS.glob("*.py"))
HEAVY = ("elasticsearch", "trafilatura", "feedparser", "lxml", "ingest")

pytestmark = [
    pytest.mark.es,
    pytest.mark.slow,
    # Airflow's in-process execution API imports fastapi.testclient, which warns on import
    # with starlette >= 1.x; it is theirs, not ours (pyproject turns warnings into errors).
    pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`"),
]


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    return ("127.0.0.1", 0)


# -- imports -------------------------------------------------------------------------------

# Runs in a fresh interpreter: sockets refuse to connect or resolve, then the DAG file is
# parsed the way the dag-processor does (DagBag), and what got imported is reported.
IMPORT_PROBE = textwrap.dedent(
    """
    import json, socket, sys
    def refuse(*args, **kwargs):
        raise OSError("network access during DAG parsing")
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.getaddrinfo = refuse
    socket.create_connection = refuse
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
    print(json.dumps({
        "dags": sorted(bag.dag_ids),
        "errors": {k: str(v) for k, v in bag.import_errors.items()},
        "warnings": {k: list(v) for k, v in bag.captured_warnings.items()},
        "schedules": {d: str(bag.dags[d].schedule) for d in bag.dag_ids},
        "modules": sorted({m.split(".")[0] for m in sys.modules}),
    }))
    """
)


def probe_import(path: Path, **env: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("path", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_dag_file_imports_cleanly_without_network_or_heavy_modules(
    airflow_db: Path, path: Path
) -> None:
    found = probe_import(path)
    assert found["errors"] == {}
    assert found["warnings"] == {}
    assert len(found["dags"]) == 1
    assert not set(HEAVY) & set(found["modules"]), "a DAG file imported a heavy module"


def test_the_schedule_is_a_variable_with_a_default(airflow_db: Path) -> None:
    path = DAGS / "media_monitoring.py"
    assert probe_import(path)["schedules"] == {"media_monitoring": "*/15 * * * *"}
    hourly = probe_import(path, AIRFLOW_VAR_MEDIAMON_SCHEDULE="0 * * * *")
    assert hourly["schedules"] == {"media_monitoring": "0 * * * *"}


@pytest.fixture(scope="module")
def dagbag(airflow_db: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return bag


def test_media_monitoring_shape(dagbag: Any) -> None:
    dag = dagbag.get_dag("media_monitoring")
    assert dag.catchup is False and dag.max_active_runs == 1
    assert set(dag.task_ids) == {"plan", "ingest_batch", "summary"}
    batch = dag.get_task("ingest_batch")
    assert batch.pool == "mediamon_fetch"
    assert batch.retries == 4 and batch.retry_exponential_backoff == 2.0
    assert batch.map_index_template
    assert dag.get_task("summary").trigger_rule == "all_done_min_one_success"
    assert dag.get_task("summary").upstream_task_ids == {"plan", "ingest_batch"}


def test_maintenance_shape(dagbag: Any) -> None:
    dag = dagbag.get_dag("mediamon_maintenance")
    assert dag.catchup is False and dag.schedule == "@daily"
    assert dag.get_task("templates").downstream_task_ids == {
        "rules", "refetch", "retention", "feed_health"
    }  # fmt: skip
    # missing alerts and spikes are made from the newly synced rules
    assert dag.get_task("rules").downstream_task_ids == {"missing_alerts", "spikes"}


# -- a local news site -----------------------------------------------------------------------

PARAGRAPHS = {
    "nl": [
        "Bij de grensovergang tussen Belarus en Polen wachten sinds het weekend honderden "
        "migranten in de kou. Hulporganisaties melden dat families met jonge kinderen in het "
        "bos overnachten, zonder voldoende voedsel of warme kleding, terwijl Poolse militairen "
        "de grens met prikkeldraad en extra patrouilles afsluiten.",
        "De Europese Commissie noemt de situatie een hybride aanval en wil nieuwe sancties "
        "tegen het regime in Minsk. Ministers overleggen deze week in Brussel over de vraag "
        "hoe de lidstaten de buitengrens kunnen bewaken zonder het recht op asiel opzij te "
        "zetten, want daarover lopen de meningen in de Unie sterk uiteen.",
        "Journalisten krijgen geen toegang tot het afgesloten gebied langs de grens. Lokale "
        "bewoners vertellen dat zij 's nachts groepen mensen zien lopen en dat de hulpdiensten "
        "overbelast raken. Volgens artsen zijn inmiddels meerdere mensen onderkoeld in het "
        "ziekenhuis opgenomen, onder wie een aantal kinderen.",
    ],
    "en": [
        "Hundreds of migrants remained stranded at the border between Belarus and Poland on "
        "Monday as temperatures dropped below freezing. Aid groups said families with small "
        "children were sleeping in the forest without enough food or warm clothing while "
        "Polish soldiers reinforced the razor wire fence.",
        "European officials accused the government in Minsk of orchestrating the crossings "
        "and prepared a new round of sanctions. Ministers meeting in Brussels this week will "
        "discuss how member states can protect the external border without setting aside the "
        "right to claim asylum, an issue that still divides the union.",
        "Reporters have been barred from the restricted zone along the frontier. Residents of "
        "nearby villages described groups of people walking through the woods at night, and "
        "doctors said several people, including children, had been treated in hospital for "
        "hypothermia after days in the open.",
    ],
}


def article_html(title: str, language: str, published: str) -> str:
    body = "\n".join(f"<p>{p}</p>" for p in PARAGRAPHS[language])
    return (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        f"<title>{title}</title>"
        f'<meta property="article:published_time" content="{published}"></head>'
        f"<body><nav><a href='/'>Home</a></nav><article><h1>{title}</h1>"
        f"<time datetime='{published}'>{published}</time>{body}</article>"
        f"<footer>© Testkrant</footer></body></html>"
    )


def rss(title: str, language: str, items: list[tuple[str, str, str]]) -> str:
    entries = "".join(
        f"<item><title>{t}</title><link>{link}</link><guid>{link}</guid>"
        f"<pubDate>{date}</pubDate><description>{t}: samenvatting.</description></item>"
        for t, link, date in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>http://example/</link><language>{language}</language>"
        f"{entries}</channel></rss>"
    )


class NewsSite:
    """Three hosts on one local server: alpha (two Dutch feeds), beta (English), broken (500)."""

    def __init__(self, server: HTTPServer, tmp_path: Path) -> None:
        self.server = server
        port = server.port
        self.alpha = f"http://alpha.localhost:{port}"
        self.beta = f"http://beta.localhost:{port}"
        self.broken = f"http://broken.localhost:{port}"
        day = "Tue, 09 Nov 2021 {}:00:00 +0000"
        pages = {
            "/nl/grens-1.html": ("Migranten wachten in de kou bij de Poolse grens", "nl"),
            "/nl/grens-2.html": ("Brussel wil nieuwe sancties tegen Minsk", "nl"),
            "/nl/grens-3.html": ("Artsen: onderkoelde migranten in het ziekenhuis", "nl"),
            "/en/border-1.html": ("Migrants stranded at the Poland-Belarus border", "en"),
            "/en/border-2.html": ("EU prepares new sanctions against Minsk", "en"),
        }
        for n, (path, (title, lang)) in enumerate(pages.items(), start=8):
            html = article_html(title, lang, f"2021-11-09T{n:02d}:00:00+00:00")
            server.expect_request(path).respond_with_data(html, content_type="text/html")
        self.article_count = len(pages)
        binnenland = rss("Alpha Binnenland", "nl", [
            ("Migranten in de kou", f"{self.alpha}/nl/grens-1.html", day.format("08")),
            ("Nieuwe sancties", f"{self.alpha}/nl/grens-2.html", day.format("09")),
        ])  # fmt: skip
        buitenland = rss("Alpha Buitenland", "nl", [
            ("Nieuwe sancties", f"{self.alpha}/nl/grens-2.html?utm_source=rss", day.format("09")),
            ("Onderkoeld", f"{self.alpha}/nl/grens-3.html", day.format("10")),
        ])  # fmt: skip
        world = rss("Beta World", "en", [
            ("Stranded", f"{self.beta}/en/border-1.html", day.format("11")),
            ("Sanctions", f"{self.beta}/en/border-2.html", day.format("12")),
        ])  # fmt: skip
        server.expect_request("/alpha/binnenland.rss").respond_with_data(
            binnenland, content_type="application/rss+xml"
        )
        server.expect_request("/alpha/buitenland.rss").respond_with_data(
            buitenland, content_type="application/rss+xml"
        )
        server.expect_request("/beta/world.rss").respond_with_handler(self._conditional(world))
        server.expect_request("/broken/feed.rss").respond_with_data("oops", status=500)
        server.expect_request("/robots.txt").respond_with_data("", status=404)
        self.feeds_file = tmp_path / "feeds.yaml"
        self.write_feeds()

    @staticmethod
    def _conditional(body: str) -> Any:
        def handler(request: Request) -> Response:
            if request.headers.get("If-None-Match") == '"world-v1"':
                return Response(status=304, headers={"ETag": '"world-v1"'})
            etag = {"ETag": '"world-v1"'}
            return Response(body, content_type="application/rss+xml", headers=etag)

        return handler

    def write_feeds(self, extra: list[dict[str, Any]] | None = None) -> None:
        feeds = [
            {"name": "alpha-binnenland", "url": f"{self.alpha}/alpha/binnenland.rss",
             "language": "nl", "source": "Alpha"},
            {"name": "alpha-buitenland", "url": f"{self.alpha}/alpha/buitenland.rss",
             "language": "nl", "source": "Alpha"},
            {"name": "beta-world", "url": f"{self.beta}/beta/world.rss", "source": "Beta"},
            {"name": "broken", "url": f"{self.broken}/broken/feed.rss"},
            *(extra or []),
        ]  # fmt: skip
        self.feeds_file.write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")

    def requests_to(self, path: str) -> int:
        return sum(1 for request, _ in self.server.log if request.path == path)


@pytest.fixture
def site(httpserver: HTTPServer, tmp_path: Path) -> NewsSite:
    return NewsSite(httpserver, tmp_path)


@pytest.fixture
def run_dag(
    dagbag: Any, airflow_env: dict[str, str], es: Elasticsearch, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """Run a DAG with `dag.test()` and return (DagRun, {task_id[map index]: state})."""
    from airflow.utils.session import create_session

    def run(dag_id: str, **variables: str) -> tuple[Any, dict[str, str]]:
        for key, value in variables.items():
            monkeypatch.setenv(f"AIRFLOW_VAR_{key.upper()}", value)
        dag = dagbag.get_dag(dag_id)
        for task in dag.tasks:
            # dag.test() waits out real retry delays: keep the retries, not the minutes.
            task.retry_delay, task.max_retry_delay = timedelta(seconds=1), timedelta(seconds=2)
        dag_run = dag.test()
        with create_session() as session:
            instances = dag_run.get_task_instances(session=session)
            states = {_key(ti): ti.state for ti in instances}
            tries.clear()
            tries.update({_key(ti): ti.try_number for ti in instances})
        return dag_run, states

    tries: dict[str, int] = {}
    run.tries = tries  # type: ignore[attr-defined]

    yield run


def _key(ti: Any) -> str:
    return f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else str(ti.task_id)


def summary_doc(es: Elasticsearch, settings: Settings, run_id: str) -> dict[str, Any]:
    return dict(es.get(index=store.IndexNames(settings.index_prefix).runs, id=run_id)["_source"])


def article_count(es: Elasticsearch, settings: Settings) -> int:
    names = store.IndexNames(settings.index_prefix)
    store.refresh(es, names)
    return int(es.count(index=names.articles)["count"])


# -- whole runs ------------------------------------------------------------------------------

RULES = """
rules:
  - id: border
    query: grens OR border OR Minsk
    notify:
      - type: log
"""


def test_media_monitoring_end_to_end(
    run_dag: Any, site: NewsSite, es: Elasticsearch, settings: Settings
) -> None:
    from ingest import alerts

    rules = site.feeds_file.with_name("alerts.yaml")
    rules.write_text(RULES, encoding="utf-8")
    alerts.sync_rules_file(es, store.IndexNames(settings.index_prefix), rules)

    dag_run, states = run_dag("media_monitoring", mediamon_feeds_file=str(site.feeds_file))

    assert dag_run.state == "success", states
    assert states == {
        "plan": "success",
        "ingest_batch[0]": "success",
        "ingest_batch[1]": "success",
        "ingest_batch[2]": "success",
        "summary": "success",
    }
    assert article_count(es, settings) == site.article_count
    doc = summary_doc(es, settings, dag_run.run_id)
    counts = doc["counts"]
    assert (counts["batches.planned"], counts["batches.ok"]) == (3, 3)
    assert "batches.failed" not in counts
    assert counts["articles.new"] == site.article_count
    assert counts["feeds.polled"] == 3 and counts["feeds.failed"] == 1
    assert counts["entries.merged"] == 1  # the same article in both alpha feeds
    assert doc["failures"] == {"feed:http_500": 1}
    assert doc["by_language"] == {"nl": 3, "en": 2}
    # Each batch stored its own report too, under the DAG run's id.
    names = store.IndexNames(settings.index_prefix)
    batch_ids = {f"batch-{i:03d}@{dag_run.run_id}" for i in range(3)}
    assert all(es.exists(index=names.runs, id=run_id) for run_id in batch_ids)
    # Readable map index names in the UI.
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        labels = {
            ti.rendered_map_index
            for ti in session.query(TaskInstance).filter_by(
                run_id=dag_run.run_id, task_id="ingest_batch"
            )
        }
    assert any(label and label.startswith("1/3 ") and "feeds)" in label for label in labels)
    assert any(label and "broken.localhost" in label for label in labels)

    # Alerts: recorded by the batches, one per story (the site's pages in one language are
    # copies of one another), delivered once by the summary.
    store.refresh(es, names)
    matched = es.search(index=names.articles, size=0, query={"term": {"rules": "border"}},
                        aggs={"stories": {"cardinality": {"field": "story_id"}}})  # fmt: skip
    stories = matched["aggregations"]["stories"]["value"]
    assert matched["hits"]["total"]["value"] == site.article_count and stories < site.article_count
    assert counts["alerts.matched"] == counts["alerts.notified"] == stories
    sent = es.count(index=names.alerts, query={"term": {"status": "sent"}})["count"]
    assert sent == stories

    # A second run right away: no feed is due yet (adaptive polling), nothing is fetched.
    pages_before = site.requests_to("/nl/grens-1.html")
    feeds_before = site.requests_to("/alpha/binnenland.rss")
    second, states = run_dag("media_monitoring", mediamon_feeds_file=str(site.feeds_file))
    assert second.state == "success", states
    counts = summary_doc(es, settings, second.run_id)["counts"]
    assert counts.get("articles.new", 0) == 0 and counts.get("feeds.polled", 0) == 0
    assert counts["feeds.not_due"] == 3 and counts["feeds.backing_off"] == 1
    assert site.requests_to("/alpha/binnenland.rss") == feeds_before

    # A third, polling every feed: the same documents, a 304, still nothing new.
    third, states = run_dag(
        "media_monitoring",
        mediamon_feeds_file=str(site.feeds_file),
        mediamon_poll_all_feeds="true",
    )
    assert third.state == "success", states
    assert article_count(es, settings) == site.article_count
    counts = summary_doc(es, settings, third.run_id)["counts"]
    assert counts.get("articles.new", 0) == 0
    assert counts["feeds.polled"] == 3
    assert counts["feeds.unchanged"] == 2  # alpha: byte-identical, not even parsed
    assert counts["feeds.not_modified"] == 1  # beta answered 304
    assert counts["feeds.backing_off"] == 1  # broken waits before its next poll
    assert counts.get("alerts.notified", 0) == 0  # nothing alerted twice
    assert site.requests_to("/nl/grens-1.html") == pages_before  # no page fetched again


def test_a_failed_batch_does_not_stop_the_others(
    run_dag: Any,
    site: NewsSite,
    es: Elasticsearch,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fault injection around the real pipeline: the beta batch fails for good (a permanent
    store error), the alpha batch once for a while (Elasticsearch away: retried)."""
    from ingest import pipeline

    real_run_feeds = pipeline.run_feeds
    calls: list[str] = []

    def run_feeds(feed_list: Any, *args: Any, **kwargs: Any) -> Any:
        names = {feed.name for feed in feed_list}
        calls.extend(sorted(names))
        if "beta-world" in names:
            raise StoreError("index refused the batch (injected)")
        if "alpha-binnenland" in names and calls.count("alpha-binnenland") == 1:
            raise StoreError("Elasticsearch went away (injected)", transient=True)
        return real_run_feeds(feed_list, *args, **kwargs)

    monkeypatch.setattr(pipeline, "run_feeds", run_feeds)
    dag_run, states = run_dag("media_monitoring", mediamon_feeds_file=str(site.feeds_file))

    batches = {key: state for key, state in states.items() if key.startswith("ingest_batch")}
    assert sorted(batches.values()) == ["failed", "success", "success"]
    [failed] = [key for key, state in batches.items() if state == "failed"]
    assert run_dag.tries[failed] == 1  # permanent: failed at once
    assert sorted(run_dag.tries[key] for key in batches) == [1, 1, 2]  # alpha: retried once
    # The summary ran, stored the report, then failed the run so that it is noticed.
    assert states["summary"] == "failed" and dag_run.state == "failed"
    doc = summary_doc(es, settings, dag_run.run_id)
    counts = doc["counts"]
    assert (counts["batches.planned"], counts["batches.ok"], counts["batches.failed"]) == (3, 2, 1)
    assert counts["feeds.in_failed_batches"] == 1
    assert doc["failures"] == {"feed:http_500": 1, "batch:failed": 1}
    assert any("beta.localhost" in message for message in doc["errors"])
    assert article_count(es, settings) == 3  # alpha's articles made it


def test_a_bad_feeds_file_fails_at_once(run_dag: Any, tmp_path: Path) -> None:
    bad = tmp_path / "feeds.yaml"
    bad.write_text("feeds:\n  - name: x\n    url: ftp://nope\n", encoding="utf-8")
    dag_run, states = run_dag("media_monitoring", mediamon_feeds_file=str(bad))
    assert dag_run.state == "failed"
    assert states["plan"] == "failed"
    assert run_dag.tries["plan"] == 1  # AirflowFailException: no retry
    assert states["summary"] == "upstream_failed"


def test_maintenance_drops_old_months_and_reports_feed_health(
    run_dag: Any, site: NewsSite, es: Elasticsearch, settings: Settings
) -> None:
    run_dag("media_monitoring", mediamon_feeds_file=str(site.feeds_file))  # feed states
    names = store.IndexNames(settings.index_prefix)
    today = datetime.now(UTC)

    def months_back(back: int) -> datetime:
        n = today.year * 12 + today.month - 1 - back
        return datetime(n // 12, n % 12 + 1, 1, 12, tzinfo=UTC)

    # Articles published this month, 1, 2, 3 and 14 months back (the site's: 2021-11).
    dated = [new_article(f"back-{back}", months_back(back)) for back in (0, 1, 2, 3, 14)]
    assert store.bulk_index(es, names, dated).created == len(dated)
    store.refresh(es, names)

    rules_file = site.feeds_file.with_name("alerts.yaml")
    rules_file.write_text(RULES + "  - id: minsk\n    query: Minsk\n", encoding="utf-8")

    dag_run, states = run_dag(
        "mediamon_maintenance",
        mediamon_retention_months="3",
        mediamon_health_failures="1",
        mediamon_rules_file=str(rules_file),
    )

    assert dag_run.state == "success", states
    store.refresh(es, names)
    left = {hit["_id"] for hit in es.search(index=names.articles, size=100)["hits"]["hits"]}
    assert {"back-0", "back-1", "back-2"} <= left and not {"back-3", "back-14"} & left
    older = {"range": {"published_at": {"lt": months_back(2).replace(day=1, hour=0).isoformat()}}}
    assert es.count(index=names.articles, query=older)["count"] == 0  # the site's 2021-11 too
    report = summary_doc(es, settings, f"feed-health-{today:%Y-%m-%d}")
    assert report["counts"]["health.feeds"] == 4
    assert report["counts"]["health.failing"] == 1
    assert any("broken" in line for line in report["errors"])
    tasks = ["templates", "rules", "missing_alerts", "spikes", "refetch", "retention",
             "feed_health"]  # fmt: skip
    assert states == dict.fromkeys(tasks, "success")
    store.refresh(es, names)
    assert es.count(index=names.rules)["count"] == 2


def test_maintenance_refetches_due_articles_and_checks_spikes(
    run_dag: Any, site: NewsSite, es: Elasticsearch, settings: Settings
) -> None:
    rules_file = site.feeds_file.with_name("alerts.yaml")
    rules_file.write_text(RULES + "    spike: {factor: 1.5, min_count: 2}\n", encoding="utf-8")
    run_dag("media_monitoring", mediamon_feeds_file=str(site.feeds_file))
    names = store.IndexNames(settings.index_prefix)
    # As if the articles had been first seen two hours ago and published today: due for a
    # re-check at 1h, and a spike against the 14 days before (none).
    now = datetime.now(UTC)
    es.update_by_query(
        index=names.articles, refresh=True, conflicts="proceed", query={"match_all": {}},
        script={"source": "ctx._source.first_seen_at = params.seen; "
                          "ctx._source.published_at = params.published",
                "params": {"seen": (now - timedelta(hours=2)).isoformat(),
                           "published": (now - timedelta(hours=1)).isoformat()}},
    )  # fmt: skip

    dag_run, states = run_dag(
        "mediamon_maintenance", mediamon_rules_file=str(rules_file), mediamon_refetch_after="1h"
    )

    assert dag_run.state == "success", states
    assert states["refetch"] == states["spikes"] == "success"
    store.refresh(es, names)
    reports = es.search(index=names.runs, query={"prefix": {"run_id": "refetch-"}})["hits"]
    assert reports["total"]["value"] == 1
    counts = reports["hits"][0]["_source"]["counts"]
    ok = es.count(index=names.articles, query={"term": {"extraction.status": "ok"}})["count"]
    assert ok >= 4 and counts["refetch.due"] == ok and counts["refetch.unchanged"] == ok
    checked = es.count(index=names.articles, query={"term": {"refetch_stages": "1h"}})["count"]
    assert checked == ok
    spikes = es.search(index=names.alerts, query={"term": {"kind": "spike"}})["hits"]["hits"]
    assert [hit["_source"]["rule_id"] for hit in spikes] == ["border"]
