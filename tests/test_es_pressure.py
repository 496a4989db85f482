"""A cluster under pressure, through the one Elasticsearch boundary (`ingest.store.boundary`).

Circuit breakers (429 `circuit_breaking_exception`, injected by the proxy of tests/faults.py
in front of the real node) and a real read-only block on the article indices: a run backs
off and goes on, or stops with one line and its counts, no traceback; nothing is
dead-lettered for a condition that passes, and the next run picks up what was missed,
without duplicates.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from elasticsearch import Elasticsearch
from faults import EsFaultProxy
from test_faults import indexed, news_site  # noqa: F401  # the fixture of 12 articles

from ingest import store
from ingest.config import Settings
from ingest.errors import StoreError
from ingest.models import Feed
from ingest.pipeline import run_feeds
from ingest.store import boundary

pytestmark = pytest.mark.es
BREAKER = "circuit_breaking_exception"


@pytest.fixture
def proxy(settings: Settings, es: Elasticsearch) -> Iterator[EsFaultProxy]:
    with EsFaultProxy(settings.es_url) as p:
        yield p


def client_through(proxy: EsFaultProxy, settings: Settings) -> tuple[Settings, Elasticsearch]:
    via_proxy = replace(settings, es_url=proxy.url)
    client = store.connect(via_proxy)
    assert isinstance(client, boundary.BoundaryElasticsearch)
    client.backoff = (0.1, 0.2, 0.4)  # the production schedule waits 31.5 s in all
    return via_proxy, client


def test_the_boundary_sorts_errors_into_transient_and_permanent() -> None:
    def breaker(status: int, kind: str) -> dict[str, object]:
        return {"error": {"root_cause": [{"type": kind}], "type": kind}}

    reason = boundary.api_error_reason
    assert reason(429, breaker(429, BREAKER)) == f"es:{BREAKER}"
    assert reason(429, {"error": "injected"}) == "es:http_429"
    assert reason(503, {}) == "es:http_503"
    assert reason(403, breaker(403, "cluster_block_exception")) == "es:cluster_block_exception"
    assert reason(403, breaker(403, "security_exception")) is None  # refused credentials
    assert reason(400, breaker(400, "parse_exception")) is None
    too_many_buckets = {  # how Elasticsearch 7 refuses a histogram of too many buckets
        "error": {"type": "search_phase_execution_exception", "root_cause": [],
                  "caused_by": {"type": "too_many_buckets_exception"}},
    }  # fmt: skip
    assert reason(503, too_many_buckets) is None
    assert boundary.item_is_transient(429, {"type": "cluster_block_exception"})
    assert not boundary.item_is_transient(400, {"type": "mapper_parsing_exception"})


def test_circuit_breakers_on_search_and_bulk_are_waited_out(
    news_site: Feed,  # noqa: F811
    settings: Settings,
    es: Elasticsearch,
    proxy: EsFaultProxy,
) -> None:
    via_proxy, client = client_through(proxy, settings)
    proxy.reject_next("/_search", times=2, status=429, error_type=BREAKER)
    proxy.reject_next("/_bulk", times=2, status=429, error_type=BREAKER)
    report = run_feeds([news_site], via_proxy, client)
    assert report.counts["articles.new"] == 12 and not report.failures, report.failures
    assert len(indexed(es, settings)) == 12
    assert proxy.requests["PUT /_bulk"] >= 3  # two refused, then accepted
    client.close()


def test_a_breaker_that_stays_stops_the_run_in_one_line_and_the_next_run_completes(
    news_site: Feed,  # noqa: F811
    settings: Settings,
    es: Elasticsearch,
    proxy: EsFaultProxy,
) -> None:
    via_proxy, client = client_through(proxy, settings)
    proxy.reject_next("/_bulk", times=1000, status=429, error_type=BREAKER)
    with pytest.raises(StoreError) as stop:
        run_feeds([news_site], via_proxy, client)
    line = str(stop.value)
    assert stop.value.transient and stop.value.reason == f"es:{BREAKER}"
    assert "\n" not in line and "stopped" in line and BREAKER in line
    assert "done: 0 new articles" in line and "deferred to the next run: 12 entries" in line
    assert not indexed(es, settings)
    names = store.IndexNames(settings.index_prefix)
    assert es.count(index=names.dead_letters)["count"] == 0

    with proxy._lock:  # the cluster recovered
        proxy._rejections.clear()
    again = run_feeds([news_site], via_proxy, client)
    assert again.counts["articles.new"] == 12 and not again.failures
    assert len(indexed(es, settings)) == 12
    assert es.count(index=names.dead_letters)["count"] == 0
    client.close()


def test_a_read_only_block_during_a_run_lifted_afterwards_loses_nothing(
    news_site: Feed,  # noqa: F811
    settings: Settings,
    es: Elasticsearch,
    proxy: EsFaultProxy,
) -> None:
    """What a node does when a disk passes the flood-stage watermark: every article index
    becomes read-only (deletes allowed) until the disk frees. Here the block is real, set
    before the run and lifted 2 s after the run's first bulk write met it."""
    names = store.IndexNames(settings.index_prefix)
    articles = f"{names.articles}-*"
    es.indices.put_settings(index=articles, settings={"index.blocks.read_only_allow_delete": True})
    lift = threading.Timer(
        2.0,
        lambda: es.indices.put_settings(
            index=articles, settings={"index.blocks.read_only_allow_delete": None}
        ),
    )
    passing = proxy._take_rejection

    def lift_after_first_bulk(path: str) -> int | None:
        if "/_bulk" in path and not lift.is_alive() and not lift.finished.is_set():
            lift.start()
        return passing(path)

    proxy._take_rejection = lift_after_first_bulk  # type: ignore[method-assign]
    via_proxy, client = client_through(proxy, settings)
    try:
        report = run_feeds([news_site], via_proxy, client)
    finally:
        lift.join()
    assert proxy.requests["PUT /_bulk"] >= 2  # the first met the block
    assert report.counts["articles.new"] == 12, (dict(report.counts), report.failures)
    assert not [reason for reason in report.failures if reason.startswith("dead_letter:")]
    assert report.counts["entries.seen"] == report.accounted_entries() == 12
    assert es.count(index=names.dead_letters)["count"] == 0
    assert len(indexed(es, settings)) == 12
    again = run_feeds([news_site], via_proxy, client)
    assert again.counts["articles.new"] == 0 and len(indexed(es, settings)) == 12
    client.close()


def test_a_read_only_block_for_the_whole_run_defers_everything_and_the_next_run_completes(
    news_site: Feed,  # noqa: F811
    settings: Settings,
    es: Elasticsearch,
) -> None:
    """The disk stays full for the whole run: the run still ends with its report (the
    articles refused for the block counted, none dead-lettered); once the block is lifted
    the next run indexes every article, once."""
    names = store.IndexNames(settings.index_prefix)
    blocked = {"index.blocks.read_only_allow_delete": True}
    es.indices.put_settings(index=f"{names.articles}-*", settings=blocked)
    try:
        report = run_feeds([news_site], settings, es)
    finally:
        es.indices.put_settings(
            index=f"{names.articles}-*", settings={"index.blocks.read_only_allow_delete": None}
        )
    assert report.counts["articles.new"] == 0 and report.counts["entries.index_failed"] == 12
    assert report.failures["index:cluster_block_exception"] == 12, report.failures
    assert not report.counts["entries.dead_lettered"]
    assert es.count(index=names.dead_letters)["count"] == 0 and not indexed(es, settings)

    again = run_feeds([news_site], settings, es)
    assert again.counts["articles.new"] == 12 and not again.failures
    assert len(indexed(es, settings)) == 12
