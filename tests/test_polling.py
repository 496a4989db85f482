"""Feed polling that does not trust the server: body hash, entry ids, adaptive interval.

Unit tests for `ingest.feeds.polling`, then runs of the real pipeline against a real local server
that lies in the ways real ones do (no validators, a regenerated document with the same
items), into a real Elasticsearch.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import corpus_pages
import pytest
from elasticsearch import Elasticsearch
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ingest import store
from ingest.config import Settings
from ingest.feeds import polling
from ingest.feeds.state import forget_documents_after_failures
from ingest.models import Feed, FeedEntry, FeedState, RunReport
from ingest.pipeline import run_feeds

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
PAGE = corpus_pages.ENGLISH  # an article of the demo corpus


# -- ingest.feeds.polling -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("<ttl>60</ttl>", timedelta(hours=1)),
        ("<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>",
         timedelta(minutes=30)),
        ("<sy:updatePeriod> daily </sy:updatePeriod>", timedelta(days=1)),
        ("<syn:updatePeriod>weekly</syn:updatePeriod>", timedelta(weeks=1)),
        ("<ttl>0</ttl>", None),
        ("<sy:updatePeriod>sometimes</sy:updatePeriod>", None),
        ("", None),
    ],
)  # fmt: skip
def test_declared_interval(channel: str, expected: timedelta | None) -> None:
    document = f'<rss xmlns:sy="x"><channel><title>T</title>{channel}<item/></channel></rss>'
    assert polling.declared_interval(document.encode()) == expected


def test_interval_halves_on_change_grows_without_and_stays_in_bounds() -> None:
    state = FeedState("f", "https://a.example/rss")
    polling.reschedule(state, changed=True, now=NOW)
    assert state.poll_interval == 450  # 15 min halved
    assert state.poll_due_at == NOW + timedelta(seconds=450)
    polling.reschedule(state, changed=True, now=NOW)
    assert state.poll_interval == polling.MIN_INTERVAL.total_seconds()
    for _ in range(40):
        polling.reschedule(state, changed=False, now=NOW)
    assert state.poll_interval == polling.MAX_INTERVAL.total_seconds()


def test_interval_never_below_what_the_feed_declares() -> None:
    state = FeedState("f", "https://a.example/rss", declared_interval=3600)
    for _ in range(5):
        polling.reschedule(state, changed=True, now=NOW)
    assert state.poll_interval == 3600
    state.declared_interval = 7 * 24 * 3600  # more than the maximum: the maximum wins
    polling.reschedule(state, changed=True, now=NOW)
    assert state.poll_interval == polling.MAX_INTERVAL.total_seconds()


def test_due() -> None:
    state = FeedState("f", "https://a.example/rss")
    assert polling.is_due(state, NOW)  # never polled
    state.poll_due_at = NOW + timedelta(minutes=1)
    assert not polling.is_due(state, NOW)
    assert polling.is_due(state, NOW + timedelta(minutes=1))


def test_entry_keys_use_the_guid_else_the_link() -> None:
    a = FeedEntry("f", "https://a.example/1", guid="g1")
    moved = FeedEntry("f", "https://a.example/1?page=2", guid="g1")
    no_guid = FeedEntry("f", "https://a.example/1")
    assert polling.entry_key(a) == polling.entry_key(moved) != polling.entry_key(no_guid)
    assert polling.remembered_keys([a, moved, no_guid]) == [
        polling.entry_key(a),
        polling.entry_key(no_guid),
    ]


def test_a_run_with_index_failures_forgets_what_feeds_listed() -> None:
    states = {"f": FeedState("f", "u", content_hash="abc", entry_keys=["k1"])}
    report = RunReport("r", NOW)
    forget_documents_after_failures(states, report)
    assert states["f"].entry_keys == ["k1"]
    report.count("entries.index_failed")
    forget_documents_after_failures(states, report)
    assert states["f"].content_hash is None and states["f"].entry_keys == []


# -- the pipeline against servers that lie --------------------------------------------------


def rss(server: HTTPServer, paths: list[str], built: datetime, ttl: int | None = None) -> str:
    items = "".join(
        f"<item><title>Story {path}</title><link>{server.url_for(path)}</link>"
        f"<guid>{path}</guid><description>About {path}</description>"
        f"<pubDate>{format_datetime(NOW)}</pubDate></item>"
        for path in paths
    )
    extra = f"<ttl>{ttl}</ttl>" if ttl else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        f"<lastBuildDate>{format_datetime(built)}</lastBuildDate>{extra}{items}</channel></rss>"
    )


@pytest.fixture
def pages(httpserver: HTTPServer) -> list[str]:
    html = corpus_pages.page(PAGE)
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    paths = [f"/story/{n}" for n in range(4)]
    for path in paths:
        httpserver.expect_request(path).respond_with_data(
            html, content_type="text/html; charset=utf-8"
        )
    return paths


class LyingFeed:
    """A feed without validators: every poll is a 200 with whatever `body` is now."""

    def __init__(self, server: HTTPServer) -> None:
        self.body = ""
        server.expect_request("/feed.xml").respond_with_handler(self.respond)
        self.feed = Feed("lying", server.url_for("/feed.xml"))

    def respond(self, request: Request) -> Response:
        return Response(self.body, content_type="application/rss+xml")


def page_requests(server: HTTPServer) -> int:
    return sum(1 for request, _ in server.log if request.path.startswith("/story/"))


def feed_state(es: Elasticsearch, settings: Settings, name: str = "lying") -> FeedState:
    return store.load_feed_states(es, store.IndexNames(settings.index_prefix), [name])[name]


@pytest.fixture
def run_settings(settings: Settings) -> Settings:
    return replace(settings, fetch=replace(settings.fetch, read_timeout=5.0, deadline=10.0))


@pytest.mark.es
def test_a_200_with_the_same_bytes_is_not_even_parsed(
    httpserver: HTTPServer, pages: list[str], run_settings: Settings, es: Elasticsearch
) -> None:
    lying = LyingFeed(httpserver)
    lying.body = rss(httpserver, pages[:3], NOW)
    first = run_feeds([lying.feed], run_settings, es)
    assert first.counts["articles.new"] == 3
    fetched = page_requests(httpserver)

    again = run_feeds([lying.feed], run_settings, es)
    assert again.counts["feeds.unchanged"] == 1 and again.counts["entries.seen"] == 0
    assert page_requests(httpserver) == fetched
    state = feed_state(es, run_settings)
    assert (state.polls, state.unchanged, state.identical, state.changed) == (2, 1, 1, 1)
    assert state.last_status == "unchanged"


@pytest.mark.es
def test_a_regenerated_document_with_known_entries_needs_no_look_up(
    httpserver: HTTPServer, pages: list[str], run_settings: Settings, es: Elasticsearch
) -> None:
    lying = LyingFeed(httpserver)
    lying.body = rss(httpserver, pages[:3], NOW)
    run_feeds([lying.feed], run_settings, es)
    lying.body = rss(httpserver, pages[:3], NOW + timedelta(minutes=5))  # same items

    again = run_feeds([lying.feed], run_settings, es)
    assert again.counts["entries.seen"] == 3 and again.counts["entries.known"] == 3
    assert again.counts["feeds.unchanged"] == 1 and again.counts["articles.new"] == 0
    state = feed_state(es, run_settings)
    assert (state.unchanged, state.identical, state.changed) == (1, 0, 1)


@pytest.mark.es
def test_only_the_new_entry_is_fetched_and_the_interval_adapts(
    httpserver: HTTPServer, pages: list[str], run_settings: Settings, es: Elasticsearch
) -> None:
    lying = LyingFeed(httpserver)
    lying.body = rss(httpserver, pages[:3], NOW, ttl=10)
    feed = lying.feed
    run_feeds([feed], run_settings, es)
    after_first = feed_state(es, run_settings)
    assert after_first.declared_interval == 600
    assert after_first.poll_interval == 600  # 15 min halved is 7.5: the ttl's 10 min wins
    fetched = page_requests(httpserver)

    lying.body = rss(httpserver, pages, NOW + timedelta(minutes=5), ttl=10)
    again = run_feeds([feed], run_settings, es)
    assert again.counts["articles.new"] == 1 and again.counts["entries.known"] == 3
    assert page_requests(httpserver) == fetched + 1

    not_due = run_feeds([feed], run_settings, es, due_only=True)
    assert not_due.counts["feeds.not_due"] == 1 and not_due.counts["feeds.polled"] == 0

    quiet = run_feeds([feed], run_settings, es)  # polled anyway: nothing new, so slower
    assert quiet.counts["feeds.unchanged"] == 1
    assert feed_state(es, run_settings).poll_interval == 900


@pytest.mark.es
def test_a_feed_moved_to_a_new_url_is_read_there_without_the_old_validators(
    httpserver: HTTPServer, pages: list[str], run_settings: Settings, es: Elasticsearch
) -> None:
    body, conditional = rss(httpserver, pages[:3], NOW), []

    def handler(request: Request) -> Response:
        conditional.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(body, content_type="application/rss+xml", headers={"ETag": '"v1"'})

    for path in ("/old.xml", "/new.xml"):  # the same server software, the same ETag scheme
        httpserver.expect_request(path).respond_with_handler(handler)
    run_feeds([Feed("wire", httpserver.url_for("/old.xml"))], run_settings, es)
    moved = run_feeds([Feed("wire", httpserver.url_for("/new.xml"))], run_settings, es)
    assert conditional == [None, None]  # the old URL's ETag is not sent to the new one
    assert moved.counts["feeds.not_modified"] == 0 and moved.counts["entries.seen"] == 3
    assert moved.counts["entries.known"] == 3 and moved.counts["articles.new"] == 0
    assert feed_state(es, run_settings, "wire").url == httpserver.url_for("/new.xml")
