"""Pages that fail for a passing reason are tried again by the next runs; huge bodies are cut.

A real local HTTP server whose pages fail on purpose, the real pipeline, a real
Elasticsearch. A page that answers 503 is not indexed as feed-only at once: its feed is read
again by the next run, which fetches the page again and indexes the article once, with its
text. Only after `PAGE_ATTEMPTS` transient failures does the feed's entry go in without a
body. A body past `MAX_BODY_CHARS` is cut and flagged, and the document is accepted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import corpus_pages
import pytest
from elasticsearch import Elasticsearch
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ingest import store
from ingest.config import Settings
from ingest.extract.page import MAX_BODY_CHARS
from ingest.feeds.state import PAGE_ATTEMPTS
from ingest.models import Feed
from ingest.pipeline import run_feeds

pytestmark = pytest.mark.es


def corpus_page() -> bytes:
    """A news page of the demo corpus."""
    return corpus_pages.page(corpus_pages.ENGLISH)


def feed_of(server: HTTPServer, paths: list[str]) -> str:
    items = "".join(
        f"<item><title>Item {n}</title><link>{server.url_for(path)}</link><guid>{path}</guid>"
        f"<description>What the feed says about item {n}</description></item>"
        for n, path in enumerate(paths)
    )
    return f"<rss version='2.0'><channel><title>T</title>{items}</channel></rss>"


def serve_feed(server: HTTPServer, paths: list[str]) -> Feed:
    """The feed with an ETag, answering 304 when it is sent back, as most servers do."""
    body, etag = feed_of(server, paths), '"v1"'

    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(body, content_type="application/rss+xml", headers={"ETag": etag})

    server.expect_request("/feed.xml").respond_with_handler(handler)
    server.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    return Feed("wire", server.url_for("/feed.xml"))


def fails_first(times: int, html: bytes, status: int = 503):  # type: ignore[no-untyped-def]
    """A page answering `status` to its first `times` requests, then the page."""
    calls = Counter[str]()

    def handler(request: Request) -> Response:
        calls[request.path] += 1
        if calls[request.path] <= times:
            return Response("busy", status=status)
        return Response(html, content_type="text/html; charset=utf-8")

    return handler


def stored(es: Elasticsearch, settings: Settings) -> dict[str, dict]:  # type: ignore[type-arg]
    names = store.IndexNames(settings.index_prefix)
    store.refresh(es, names)
    # No index exists until a first article is stored.
    answer = es.search(index=names.articles, size=50, ignore_unavailable=True)
    hits = answer["hits"]["hits"]
    return {hit["_source"]["url"].rsplit("/", 1)[1]: hit["_source"] for hit in hits}


def requests_for(server: HTTPServer, path: str) -> int:
    return sum(1 for request, _ in server.log if request.path == path)


def test_page_failing_once_is_fetched_again_by_the_next_run(
    httpserver: HTTPServer, settings: Settings, es: Elasticsearch
) -> None:
    html = corpus_page()
    httpserver.expect_request("/ok").respond_with_data(html, content_type="text/html")
    httpserver.expect_request("/flaky").respond_with_handler(fails_first(1, html))
    feed = serve_feed(httpserver, ["/ok", "/flaky"])

    first = run_feeds([feed], settings, es)
    assert first.counts["articles.new"] == 1 and first.counts["entries.deferred"] == 1
    assert first.failures["page:http_503"] == 1
    assert first.accounted_entries() == first.counts["entries.seen"] == 2
    assert set(stored(es, settings)) == {"ok"}  # nothing half-done indexed for /flaky
    state = store.load_feed_states(es, store.IndexNames(settings.index_prefix), ["wire"])["wire"]
    assert list(state.page_retries.values()) == [1] and state.etag is None

    second = run_feeds([feed], settings, es)
    assert second.counts["feeds.not_modified"] == 0  # read again, not answered 304
    assert second.counts["articles.new"] == 1 and second.counts["entries.known"] == 1
    assert second.accounted_entries() == second.counts["entries.seen"] == 2
    articles = stored(es, settings)
    assert set(articles) == {"ok", "flaky"}
    assert articles["flaky"]["extraction"]["status"] == "ok"
    assert articles["flaky"]["title"] == articles["ok"]["title"]  # the page's, not the feed's
    assert requests_for(httpserver, "/ok") == 1 and requests_for(httpserver, "/flaky") == 2

    third = run_feeds([feed], settings, es)  # settled: conditional GET again, nothing fetched
    assert third.counts["feeds.not_modified"] == 1 and not third.counts["entries.deferred"]
    assert requests_for(httpserver, "/flaky") == 2
    state = store.load_feed_states(es, store.IndexNames(settings.index_prefix), ["wire"])["wire"]
    assert state.page_retries == {}


def test_page_failing_every_time_goes_in_feed_only_after_the_last_attempt(
    httpserver: HTTPServer, settings: Settings, es: Elasticsearch
) -> None:
    httpserver.expect_request("/down").respond_with_data("no", status=500)
    feed = serve_feed(httpserver, ["/down"])

    for attempt in range(1, PAGE_ATTEMPTS):
        report = run_feeds([feed], settings, es)
        assert report.counts["entries.deferred"] == 1, attempt
        assert stored(es, settings) == {}
    last = run_feeds([feed], settings, es)
    assert not last.counts["entries.deferred"] and last.counts["articles.new"] == 1
    article = stored(es, settings)["down"]
    assert article["extraction"] == {
        "status": "feed_only",
        "reason": "page:http_500",
        "truncated": False,
        "method": None,
    }
    assert article["title"] == "Item 0"  # what the feed said
    assert requests_for(httpserver, "/down") == PAGE_ATTEMPTS
    after = run_feeds([feed], settings, es)
    assert after.counts["feeds.not_modified"] == 1
    assert requests_for(httpserver, "/down") == PAGE_ATTEMPTS


def test_permanent_page_failure_is_not_retried(
    httpserver: HTTPServer, settings: Settings, es: Elasticsearch
) -> None:
    httpserver.expect_request("/gone").respond_with_data("no", status=404)
    feed = serve_feed(httpserver, ["/gone"])
    report = run_feeds([feed], settings, es)
    assert report.counts["articles.new"] == 1 and not report.counts["entries.deferred"]
    assert stored(es, settings)["gone"]["extraction"]["reason"] == "page:http_404"


def test_huge_body_is_cut_and_flagged_and_the_document_accepted(
    httpserver: HTTPServer, settings: Settings, es: Elasticsearch
) -> None:
    # A live blog of 3,000 distinct paragraphs: ~450,000 characters of text.
    paragraphs = "".join(
        f"<p>Update {n}: the minister said at {n % 24}:00 that talks on item {n} continue, "
        f"and that a statement on point {n * 7} would follow later today.</p>"
        for n in range(3000)
    )
    page = (
        "<html lang='en'><head><title>Live: the summit, all updates</title></head><body>"
        f"<article><h1>Live: the summit, all updates</h1>{paragraphs}</article></body></html>"
    )
    httpserver.expect_request("/live").respond_with_data(page, content_type="text/html")
    httpserver.expect_request("/ok").respond_with_data(corpus_page(), content_type="text/html")
    feed = serve_feed(httpserver, ["/live", "/ok"])
    big = replace(settings, fetch=replace(settings.fetch, deadline=120.0, read_timeout=60.0))

    report = run_feeds([feed], big, es)
    assert report.counts["articles.new"] == 2, report.failures
    articles = stored(es, settings)
    live, ok = articles["live"], articles["ok"]
    assert live["extraction"] == {
        "status": "ok",
        "reason": None,
        "truncated": True,
        "method": "precision",
    }
    assert MAX_BODY_CHARS * 0.9 <= len(live["body"]) <= MAX_BODY_CHARS
    assert live["body"].startswith("Update 0:") and live["body"].endswith(".")  # at a break
    assert ok["extraction"]["truncated"] is False
