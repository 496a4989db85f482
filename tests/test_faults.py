"""Elasticsearch faults, injected by a real proxy in front of the real node (tests/faults.py).

Nothing lost, nothing twice: a busy cluster is waited for, a vanished cluster fails the run
loudly, and the re-run ends in the same index state as a run that never failed. A document
the cluster refuses (a 400 item in a bulk 200) goes to the dead-letter index, once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from faults import EsFaultProxy
from pytest_httpserver import HTTPServer

from ingest import identity, store
from ingest.config import Settings
from ingest.errors import StoreError
from ingest.models import Feed, RunReport
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


def run_through(proxy: EsFaultProxy, feed: Feed, settings: Settings) -> RunReport:
    """One run whose Elasticsearch traffic goes through the fault proxy."""
    via_proxy = replace(settings, es_url=proxy.url)
    client = store.connect(via_proxy)
    try:
        return run_feeds([feed], via_proxy, client)
    finally:
        client.close()


def test_bulk_rejected_with_429_is_retried_until_it_lands(
    news_site: Feed, settings: Settings, es: Elasticsearch, proxy: EsFaultProxy
) -> None:
    proxy.reject_next("/_bulk", times=2, status=429)
    report = run_through(proxy, news_site, settings)
    assert report.counts["articles.new"] == 12 and not report.failures
    assert proxy.requests["PUT /_bulk"] >= 3, proxy.requests  # two rejected, then accepted
    assert len(indexed(es, settings)) == 12


def test_cluster_gone_mid_run_fails_loudly_and_rerun_loses_nothing(
    news_site: Feed, settings: Settings, es: Elasticsearch, proxy: EsFaultProxy, tmp_path: Path
) -> None:
    # A short lease on the feed: the run that dies cannot give it back (the cluster is gone).
    via_proxy = replace(settings, es_url=proxy.url, batch_size=4, feed_lease_seconds=2)
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

    # The cluster is back (directly, this time); the dead run's lease has run out.
    time.sleep(via_proxy.feed_lease_seconds)
    report = run_feeds([news_site], settings, es)
    assert report.counts["entries.known"] == len(partial)
    assert report.counts["articles.new"] == 12 - len(partial)
    final = indexed(es, settings)
    assert len(final) == 12
    for doc_id, source in partial.items():  # what was there before is untouched
        assert final[doc_id]["first_seen_at"] == source["first_seen_at"]


def page_requests(server: HTTPServer) -> int:
    return sum(1 for request, _ in server.log if request.path.startswith("/news/"))


def test_article_refused_with_a_400_is_dead_lettered_once_and_not_retried(
    news_site: Feed,
    settings: Settings,
    es: Elasticsearch,
    proxy: EsFaultProxy,
    httpserver: HTTPServer,
) -> None:
    names = store.IndexNames(settings.index_prefix)
    refused_url = httpserver.url_for("/news/5")
    refused_id = identity.document_id(identity.canonical_url(refused_url))
    # The real node answers the bulk with a 200 whose item for this article is a real 400.
    proxy.corrupt_document(refused_id, {"published_at": "not a date"})

    first = run_through(proxy, news_site, settings)
    c = first.counts
    assert (c["articles.new"], c["entries.dead_lettered"], c["entries.index_failed"]) == (11, 1, 0)
    assert first.failures["dead_letter:mapper_parsing_exception"] == 1
    assert not any(reason.startswith("index:") for reason in first.failures), first.failures
    assert c["entries.seen"] == first.accounted_entries() == 12
    articles = indexed(es, settings)
    assert len(articles) == 11 and refused_id not in articles
    letter = es.get(index=names.dead_letters, id=refused_id)["_source"]
    assert letter["status"] == 400 and letter["error_type"] == "mapper_parsing_exception"
    assert "published_at" in letter["reason"] and letter["attempts"] == 1
    assert letter["url"] == refused_url and letter["feeds"] == ["wire"]
    assert letter["run_id"] == first.run_id and letter["target_index"].startswith(names.prefix)
    assert letter["first_failed_at"] == letter["last_failed_at"]
    assert letter["document"]["title"] == "Report 5"  # kept for inspection (not indexed)

    # The next poll does not try it again: a 400 is the document's fault and would repeat.
    pages = page_requests(httpserver)
    second = run_through(proxy, news_site, settings)
    assert second.counts["articles.new"] == 0 and second.counts["entries.dead_lettered"] == 0
    assert page_requests(httpserver) == pages and not second.failures
    assert es.get(index=names.dead_letters, id=refused_id)["_source"] == letter

    # Met again (the feed's state lost, so its entries are looked up anew), it is fetched
    # and refused again: the same dead letter counts a second attempt, nothing else changes.
    es.delete_by_query(index=names.feeds, query={"match_all": {}}, refresh=True)
    third = run_through(proxy, news_site, settings)
    c = third.counts
    assert (c["entries.known"], c["articles.new"], c["entries.dead_lettered"]) == (11, 0, 1)
    assert c["entries.seen"] == third.accounted_entries() == 12
    assert page_requests(httpserver) == pages + 1  # only the refused article's page
    assert es.count(index=names.dead_letters)["count"] == 1
    again = es.get(index=names.dead_letters, id=refused_id)["_source"]
    assert again["attempts"] == 2 and again["run_id"] == third.run_id
    assert again["first_failed_at"] == letter["first_failed_at"]
    assert datetime.fromisoformat(again["last_failed_at"]) > datetime.fromisoformat(
        letter["last_failed_at"]
    )
    final = indexed(es, settings)
    assert final.keys() == articles.keys()
    for doc_id, source in articles.items():  # not indexed again, only marked seen again
        assert final[doc_id] | {"last_seen_at": None} == source | {"last_seen_at": None}

    # The cause fixed, met once more: it is indexed, and its dead letter goes.
    proxy.corrupt_document(refused_id, {})
    es.delete_by_query(index=names.feeds, query={"match_all": {}}, refresh=True)
    fourth = run_through(proxy, news_site, settings)
    c = fourth.counts
    assert (c["articles.new"], c["entries.dead_lettered"], c["dead_letters.cleared"]) == (1, 0, 1)
    assert refused_id in indexed(es, settings)
    assert es.count(index=names.dead_letters)["count"] == 0


def test_bulk_request_refused_whole_is_retried_not_dead_lettered(
    news_site: Feed, settings: Settings, es: Elasticsearch, proxy: EsFaultProxy
) -> None:
    """A 400 for the whole request says nothing about any one document."""
    proxy.reject_next("/_bulk", times=1, status=400)
    report = run_through(proxy, news_site, settings)
    assert report.counts["entries.index_failed"] == 12 and not report.counts["articles.new"]
    assert report.counts["entries.seen"] == report.accounted_entries()
    names = store.IndexNames(settings.index_prefix)
    store.refresh(es, names)
    assert es.count(index=names.dead_letters)["count"] == 0

    again = run_feeds([news_site], settings, es)  # the feed's entries are looked up again
    assert again.counts["articles.new"] == 12 and len(indexed(es, settings)) == 12
