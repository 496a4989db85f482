"""Two runs over the same feeds do the work once: a run leases the feeds it polls.

A real local HTTP server with slow pages, the real pipeline, a real Elasticsearch. A run
started while another polls the same feeds skips them (`feeds.leased_elsewhere`) and fetches
no page; the first run fetches each page once. A lease that ran out (a run that died) or that
the same run id holds (an Airflow task retried) is taken over; a live run renews its lease.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ingest import store
from ingest.config import Settings
from ingest.models import Feed, RunReport
from ingest.pipeline import run_feeds

pytestmark = [pytest.mark.es, pytest.mark.slow]

PAGES = 6
TEXT = (
    "Volunteers at the border described long nights in the forest, with temperatures far "
    "below zero and little shelter, while officials traded accusations. "
)


@pytest.fixture
def feeds(httpserver: HTTPServer) -> tuple[list[Feed], Counter[str]]:
    """Two feeds of three slow pages each, and the count of requests per page."""
    requests: Counter[str] = Counter()

    def slow_page(request: Request) -> Response:
        requests[request.path] += 1
        time.sleep(1.0)  # a run lasts a few seconds: long enough to meet it
        body = "".join(f"<p>{TEXT} Page {request.path}, part {p}.</p>" for p in range(3))
        html = f"<html lang='en'><body><article><h1>{request.path}</h1>{body}</article></body>"
        return Response(html + "</html>", content_type="text/html; charset=utf-8")

    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    feed_list = []
    for f in range(2):
        links = [f"/f{f}/{n}" for n in range(PAGES // 2)]
        items = "".join(
            f"<item><title>Item {link}</title><link>{httpserver.url_for(link)}</link></item>"
            for link in links
        )
        rss = f"<rss version='2.0'><channel><title>F{f}</title>{items}</channel></rss>"
        httpserver.expect_request(f"/f{f}.xml").respond_with_data(
            rss, content_type="application/rss+xml"
        )
        for link in links:
            httpserver.expect_request(link).respond_with_handler(slow_page)
        feed_list.append(Feed(f"feed-{f}", httpserver.url_for(f"/f{f}.xml")))
    return feed_list, requests


def lease_of(es: Elasticsearch, names: store.IndexNames, feed: str) -> dict[str, Any]:
    doc = es.options(ignore_status=404).get(index=names.feeds, id=feed)
    return {k: v for k, v in doc.get("_source", {}).items() if k.startswith("lease_")}


def wait_for_lease(es: Elasticsearch, names: store.IndexNames, feed: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lease = lease_of(es, names, feed)
        if lease:
            return lease
        time.sleep(0.05)
    raise AssertionError(f"no lease on {feed}")


def test_a_second_run_skips_the_feeds_the_first_is_polling(
    feeds: tuple[list[Feed], Counter[str]], settings: Settings, es: Elasticsearch
) -> None:
    feed_list, requests = feeds
    names = store.IndexNames(settings.index_prefix)
    first: list[RunReport] = []
    running = threading.Thread(target=lambda: first.append(run_feeds(feed_list, settings, es)))
    running.start()
    try:
        held = wait_for_lease(es, names, "feed-0")
        second = run_feeds(feed_list, settings, es)
    finally:
        running.join(timeout=120)
    assert held["lease_owner"] == first[0].run_id
    assert second.counts["feeds.leased_elsewhere"] == 2
    assert second.counts["feeds.polled"] == 0 and second.counts["pages.fetched"] == 0
    assert first[0].counts["articles.new"] == PAGES
    assert sorted(requests.values()) == [1] * PAGES  # every page fetched once, by the first
    assert lease_of(es, names, "feed-0") == lease_of(es, names, "feed-1") == {}  # given back
    third = run_feeds(feed_list, settings, es)  # free again: polled, nothing new
    assert third.counts["feeds.polled"] == 2 and third.counts["articles.new"] == 0


def test_a_lease_that_ran_out_or_is_the_runs_own_is_taken_over(
    feeds: tuple[list[Feed], Counter[str]], settings: Settings, es: Elasticsearch
) -> None:
    feed_list, _ = feeds
    names = store.IndexNames(settings.index_prefix)
    now = datetime.now(UTC)
    for feed, owner, until in (
        (feed_list[0], "a run that died", now - timedelta(seconds=1)),
        (feed_list[1], "batch-000@retried", now + timedelta(minutes=5)),
    ):
        es.index(index=names.feeds, id=feed.name, refresh=True, document={
            "name": feed.name, "url": feed.url, "lease_owner": owner,
            "lease_until": until.isoformat(),
        })  # fmt: skip
    report = run_feeds(feed_list, settings, es, run_id="batch-000@retried")
    assert report.counts["feeds.polled"] == 2 and report.counts["articles.new"] == PAGES
    assert not report.counts["feeds.leased_elsewhere"]
    other = store.claim_feeds(es, names, {feed_list[0].name: feed_list[0].url}, "someone", now, now)
    assert other == {feed_list[0].name}  # and nothing was left held


def test_a_live_run_renews_its_lease(
    feeds: tuple[list[Feed], Counter[str]], settings: Settings, es: Elasticsearch
) -> None:
    feed_list, _ = feeds
    names = store.IndexNames(settings.index_prefix)
    short = replace(settings, feed_lease_seconds=1)  # renewed every third of a second
    running = threading.Thread(target=run_feeds, args=(feed_list, short, es))
    running.start()
    try:
        first = wait_for_lease(es, names, "feed-1")["lease_until"]
        time.sleep(1.2)
        later = lease_of(es, names, "feed-1").get("lease_until")
    finally:
        running.join(timeout=120)
    assert later is not None and later > first  # still held, and moved on
