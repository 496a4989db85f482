"""The Airflow task functions as plain Python: batches, connection settings, errors, summary.

The DAGs themselves run under a real Airflow in tests/airflow/.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import AuthenticationException

from ingest import airflow_batches, airflow_settings, airflow_tasks
from ingest.airflow_batches import batch_specs, feed_from_spec, plan_batches, summary_report
from ingest.airflow_settings import Options, settings_from_connection
from ingest.airflow_tasks import task_errors
from ingest.config import Settings
from ingest.errors import ConfigError, StoreError
from ingest.models import Feed, RunReport

# With Airflow installed, the error-mapping tests import it: keep it out of ~/airflow.
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="mediamon-airflow-")
    atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)


def feed(name: str, host: str) -> Feed:
    return Feed(name=name, url=f"https://{host}/{name}.rss", language="nl", tags=("t",))


FEEDS = [
    feed("nos-1", "feeds.nos.nl"),
    feed("nos-2", "feeds.nos.nl"),
    feed("nos-3", "feeds.nos.nl"),
    feed("nu-1", "www.nu.nl"),
    feed("nu-2", "www.nu.nl"),
    feed("volkskrant", "www.volkskrant.nl"),
    feed("trouw", "www.trouw.nl"),
    feed("ad", "www.ad.nl"),
]


# -- batches ---------------------------------------------------------------------------------


def test_a_hosts_feeds_stay_in_one_batch() -> None:
    batches = plan_batches(FEEDS, max_batches=3)
    assert len(batches) == 3
    hosts_seen: dict[str, int] = {}
    for index, batch in enumerate(batches):
        for f in batch:
            host = airflow_batches.host_of(f)
            assert hosts_seen.setdefault(host, index) == index, f"{host} split over batches"
    assert sorted(f.name for b in batches for f in b) == sorted(f.name for f in FEEDS)


def test_batches_are_balanced_and_deterministic() -> None:
    def names(batches: list[list[Feed]]) -> list[set[str]]:
        return [{f.name for f in batch} for batch in batches]

    assert names(plan_batches(FEEDS, max_batches=3)) == [
        {"nos-1", "nos-2", "nos-3"},
        {"nu-1", "nu-2", "volkskrant"},
        {"ad", "trouw"},
    ]
    assert names(plan_batches(list(reversed(FEEDS)), 3)) == names(plan_batches(FEEDS, 3))


def test_no_more_batches_than_hosts_and_one_batch_is_fine() -> None:
    assert len(plan_batches(FEEDS, max_batches=50)) == 5  # five hosts
    assert [len(b) for b in plan_batches(FEEDS, max_batches=1)] == [8]
    with pytest.raises(ConfigError):
        plan_batches(FEEDS, max_batches=0)


def test_batch_specs_are_small_readable_and_round_trip() -> None:
    specs = batch_specs(plan_batches(FEEDS, 3))
    assert [s["index"] for s in specs] == [0, 1, 2]
    assert [s["label"] for s in specs] == [
        "1/3 feeds.nos.nl (3 feeds)",
        "2/3 www.nu.nl, www.volkskrant.nl (3 feeds)",
        "3/3 www.ad.nl, www.trouw.nl (2 feeds)",
    ]
    [whole] = batch_specs(plan_batches(FEEDS, 1))
    assert whole["label"] == "1/1 feeds.nos.nl, www.ad.nl +3 hosts (8 feeds)"
    assert batch_specs([[FEEDS[0]]])[0]["label"] == "1/1 feeds.nos.nl (1 feed)"
    rebuilt = [feed_from_spec(f) for s in specs for f in s["feeds"]]
    assert sorted(rebuilt, key=lambda f: f.name) == sorted(FEEDS, key=lambda f: f.name)
    with pytest.raises(ConfigError):
        feed_from_spec({"url": "https://x/"})


# -- the Elasticsearch connection ------------------------------------------------------------


@dataclass
class Conn:
    host: str | None = None
    port: int | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    conn_type: str | None = "elasticsearch"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def extra_dejson(self) -> dict[str, Any]:
        return self.extra


BASE = Settings()


def test_connection_with_host_port_and_basic_auth() -> None:
    s = settings_from_connection(
        Conn(host="es01", port=9201, login="mediamon", password="s3cret"), BASE
    )
    assert s.es_url == "http://es01:9201"
    assert (s.es_username, s.es_password, s.es_api_key) == ("mediamon", "s3cret", None)
    assert "s3cret" not in repr(s) and "s3cret" not in airflow_settings.describe(s)


def test_connection_with_url_in_host_scheme_in_extra_or_schema() -> None:
    assert settings_from_connection(Conn(host="https://es.example:9243"), BASE).es_url == (
        "https://es.example:9243"
    )
    assert settings_from_connection(Conn(host="es", extra={"scheme": "https"}), BASE).es_url == (
        "https://es:9200"
    )
    assert settings_from_connection(Conn(host="es", schema="https"), BASE).es_url == (
        "https://es:9200"
    )
    with pytest.raises(ConfigError, match="no host"):
        settings_from_connection(Conn(host=""), BASE)
    with pytest.raises(ConfigError, match="scheme"):
        settings_from_connection(Conn(host="ftp://es"), BASE)


def test_connection_api_key_wins_and_extra_sets_the_prefix() -> None:
    s = settings_from_connection(
        Conn(host="es", login="u", password="p", extra={"api_key": "a2V5", "index_prefix": "mm"}),
        BASE,
    )
    assert (s.es_api_key, s.es_username, s.es_password) == ("a2V5", None, None)
    assert s.index_prefix == "mm"
    assert "a2V5" not in repr(s) and "api key" in airflow_settings.describe(s)


def test_options_defaults_and_bad_values() -> None:
    options = Options.from_values({})
    assert options.max_batches == 16 and options.retention_months == 0
    assert str(options.feeds_file) == "/opt/mediamon/config/feeds.yaml"
    assert Options.from_values({"mediamon_max_batches": " 4 "}).max_batches == 4
    with pytest.raises(ConfigError, match="mediamon_max_batches"):
        Options.from_values({"mediamon_max_batches": "many"})
    with pytest.raises(ConfigError, match="at least 1"):
        Options.from_values({"mediamon_max_batches": "0"})


# -- errors: permanent fail at once, transient are retried -----------------------------------


def _permanent_type() -> type[Exception]:
    try:
        from airflow.sdk.exceptions import AirflowFailException
    except ImportError:
        return airflow_tasks.PermanentTaskError
    return AirflowFailException


def _auth_error() -> AuthenticationException:
    meta = ApiResponseMeta(401, "1.1", HttpHeaders(), 0.0, NodeConfig("http", "es", 9200))
    return AuthenticationException("unauthorized", meta, {})


@pytest.mark.parametrize(
    "error",
    [ConfigError("feeds.yaml: bad"), StoreError("mapping refused"), _auth_error()],
    ids=["config", "store-permanent", "auth"],
)
def test_permanent_errors_fail_at_once(error: Exception) -> None:
    with pytest.raises(_permanent_type()) as raised, task_errors("batch 1/2"):
        raise error
    assert "batch 1/2" in str(raised.value)
    assert raised.value.__cause__ is error


@pytest.mark.parametrize(
    "error",
    [StoreError("Elasticsearch went away", transient=True), ConnectionError("reset")],
    ids=["store-transient", "connection"],
)
def test_transient_errors_are_left_for_airflow_to_retry(error: Exception) -> None:
    with pytest.raises(type(error)), task_errors("batch"):
        raise error


# -- summary ---------------------------------------------------------------------------------


def test_summary_merges_batches_and_names_the_failed_one() -> None:
    specs = batch_specs(plan_batches(FEEDS, 3))
    ok = []
    for spec in specs[:2]:
        report = RunReport(run_id=f"b{spec['index']}", started_at=datetime.now(UTC))
        report.count("feeds.polled", len(spec["feeds"]))
        report.count("articles.new", 5)
        report.fail("page:http_404", n=1)
        report.by_language["nl"] += 5
        ok.append(airflow_batches.batch_result(spec["index"], len(spec["feeds"]), report))
    started = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    report = summary_report(specs, [*ok, None], "manual__1", started)
    assert report.run_id == "manual__1" and report.started_at == started
    assert report.counts["articles.new"] == 10
    assert report.counts["feeds.polled"] == len(specs[0]["feeds"]) + len(specs[1]["feeds"])
    assert report.counts["batches.planned"] == 3
    assert report.counts["batches.ok"] == 2
    assert report.counts["batches.failed"] == 1
    assert report.counts["feeds.in_failed_batches"] == len(specs[2]["feeds"])
    assert report.failures == {"page:http_404": 2, "batch:failed": 1}
    assert report.by_language["nl"] == 10
    assert specs[2]["label"] in report.errors[0]
    with pytest.raises(_permanent_type(), match="1 of 3 batches failed"):
        airflow_tasks.fail_if_batches_failed({"counts": dict(report.counts)})
    airflow_tasks.fail_if_batches_failed({"counts": {"batches.planned": 3, "batches.ok": 3}})
