"""Elasticsearch faults, injected by a real proxy in front of the real node (tests/faults.py).

Nothing lost, nothing twice: a busy cluster is waited for, a vanished cluster fails the run
loudly, and the re-run ends in the same index state as a run that never failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from faults import EsFaultProxy
from pytest_httpserver import HTTPServer

from ingest import store
from ingest.config import Settings
from ingest.errors import StoreError
from ingest.models import Feed
from ingest.pipeline import run_feeds

pytestmark = pytest.mark.es

PARAGRAPH = (
    "The border guards reported that several hundred people had gathered near the crossing "
    "overnight, while aid organisations asked for access to the forest zone where families "
    "were said to be sleeping in the cold without food, water or medical care. "
)


def article_html(n: int) -> str:
    body = "".join(f"<p>{PARAGRAPH} Report number {n}, paragraph {p}.</p>" for p in range(4))
    return (
        f"<html lang='en'><head><title>Report {n}</title>"
        "<meta property='article:published_time' content='2021-11-16T10:00:00+00:00'></head>"
        f"<body><article><h1>Report {n}</h1>{body}</article></body></html>"
    )


@pytest.fixture
def news_site(httpserver: HTTPServer) -> Feed:
    """One feed of 12 articles on the local server."""
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    items = []
    for n in range(12):
        httpserver.expect_request(f"/news/{n}").respond_with_data(
            article_html(n), content_type="text/html; charset=utf-8"
        )
        link = httpserver.url_for(f"/news/{n}")
        items.append(f"<item><title>Report {n}</title><link>{link}</link><guid>{n}</guid></item>")
    rss = f"<rss version='2.0'><channel><title>Wire</title>{''.join(items)}</channel></rss>"
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss, content_type="application/rss+xml"
    )
    return Feed("wire", httpserver.url_for("/feed.xml"), source="Wire")


@pytest.fixture
def proxy(settings: Settings, es: Elasticsearch) -> Iterator[EsFaultProxy]:
    with EsFaultProxy(settings.es_url) as p:
        yield p


def indexed(es: Elasticsearch, settings: Settings) -> dict[str, dict[str, object]]:
    names = store.IndexNames(settings.index_prefix)
    store.refresh(es, names)
    response = es.search(index=names.articles, size=100, query={"match_all": {}})
    return {hit["_id"]: hit["_source"] for hit in response["hits"]["hits"]}


def test_bulk_rejected_with_429_is_retried_until_it_lands(
    news_site: Feed, settings: Settings, es: Elasticsearch, proxy: EsFaultProxy
) -> None:
    proxy.reject_next("/_bulk", times=2, status=429)
    via_proxy = replace(settings, es_url=proxy.url)
    report = run_feeds([news_site], via_proxy, store.connect(via_proxy))
    assert report.counts["articles.new"] == 12 and not report.failures
    assert proxy.requests["PUT /_bulk"] >= 3, proxy.requests  # two rejected, then accepted
    assert len(indexed(es, settings)) == 12


def test_cluster_gone_mid_run_fails_loudly_and_rerun_loses_nothing(
    news_site: Feed, settings: Settings, es: Elasticsearch, proxy: EsFaultProxy, tmp_path: Path
) -> None:
    via_proxy = replace(settings, es_url=proxy.url, batch_size=4)
    client = store.connect(via_proxy)
    # The first batch is indexed, then the cluster vanishes during the second batch's look-up.
    seen_bulks = 0

    original = proxy._take_rejection

    def vanish_after_first_bulk(path: str) -> int | None:
        nonlocal seen_bulks
        if "/_bulk" in path:
            seen_bulks += 1
            if seen_bulks == 1:
                proxy.go_away_on("/_search")
        return original(path)

    proxy._take_rejection = vanish_after_first_bulk  # type: ignore[method-assign]
    with pytest.raises(StoreError) as failure:
        run_feeds([news_site], via_proxy, client)
    assert failure.value.transient
    partial = indexed(es, settings)
    assert 0 < len(partial) < 12

    report = run_feeds([news_site], settings, es)  # the cluster is back (directly, this time)
    assert report.counts["entries.known"] == len(partial)
    assert report.counts["articles.new"] == 12 - len(partial)
    final = indexed(es, settings)
    assert len(final) == 12
    for doc_id, source in partial.items():  # what was there before is untouched
        assert final[doc_id]["first_seen_at"] == source["first_seen_at"]
