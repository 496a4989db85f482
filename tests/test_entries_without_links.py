"""Feed items without a usable link are coverage too: they are indexed feed-only, once.

A real local HTTP server serves a feed whose items have no link, a `javascript:` link or a
`urn:` guid beside one ordinary linked item; the real pipeline indexes them into a real
Elasticsearch. They become feed-only articles (`extraction.reason` says why there is no
page), under an id from the feed's URL and the item's guid (else its title and date), so a
later run, or another feed listing the same document, finds them instead of adding copies.
"""

from __future__ import annotations

from typing import Any

import corpus_pages
import pytest
from elasticsearch import Elasticsearch
from pytest_httpserver import HTTPServer

from ingest import store
from ingest.config import Settings
from ingest.models import Feed
from ingest.pipeline import run_feeds

pytestmark = pytest.mark.es

ITEMS = (
    "<item><title>Gewoon artikel</title><link>{page}</link><guid>linked</guid></item>"
    "<item><title>Grens blijft dicht</title><guid isPermaLink='false'>kort-1</guid>"
    "<description>De grensovergang bij Kuźnica blijft gesloten.</description></item>"
    "<item><title>Liveblog</title><link>javascript:openBlog()</link>"
    "<pubDate>Tue, 16 Nov 2021 10:00:00 +0000</pubDate></item>"
    "<item><description>Alleen een samenvatting, zonder titel of link.</description></item>"
    "<item><guid isPermaLink='false'>leeg</guid></item>"  # nothing to show: skipped
)


def serve(server: HTTPServer) -> Feed:
    server.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    server.expect_request("/artikel").respond_with_data(
        corpus_pages.page(corpus_pages.ENGLISH), content_type="text/html; charset=utf-8"
    )
    items = ITEMS.format(page=server.url_for("/artikel"))
    feed = f"<rss version='2.0'><channel><title>Krant</title>{items}</channel></rss>"
    server.expect_request("/rss").respond_with_data(feed, content_type="application/rss+xml")
    return Feed("krant", server.url_for("/rss"), language="nl")


def articles(es: Elasticsearch, settings: Settings) -> list[dict[str, Any]]:
    names = store.IndexNames(settings.index_prefix)
    store.refresh(es, names)
    hits = es.search(index=names.articles, size=50)["hits"]["hits"]
    return [dict(hit["_source"], id=hit["_id"]) for hit in hits]


def test_items_without_links_are_indexed_feed_only_once(
    httpserver: HTTPServer, es: Elasticsearch, settings: Settings
) -> None:
    feed = serve(httpserver)
    report = run_feeds([feed], settings, es)
    assert report.counts["articles.new"] == 4, (report.counts, report.failures)
    assert report.counts["entries.without_link"] == 3
    stored = {a["title"] or a["summary"][:20]: a for a in articles(es, settings)}
    linked = stored.pop(corpus_pages.title(corpus_pages.ENGLISH))
    assert linked["extraction"]["status"] == "ok"
    reasons = {title: a["extraction"]["reason"] for title, a in stored.items()}
    assert reasons == {
        "Grens blijft dicht": "entry:no_link",
        "Liveblog": "entry:bad_scheme",
        "Alleen een samenvatt": "entry:no_link",
    }
    for article in stored.values():
        assert article["extraction"]["status"] == "feed_only"
        assert article["url"] == "" and article["domain"] == "127.0.0.1"
        assert article["feeds"] == ["krant"] and article["language"] == "nl"
    assert stored["Liveblog"]["published_at"].startswith("2021-11-16T10:00:00")
    assert stored["Grens blijft dicht"]["summary"].startswith("De grensovergang bij Kuźnica")
    # No page was asked for: nothing to fetch.
    paths = [request.path for request, _ in httpserver.log]
    assert paths.count("/artikel") == 1 and len(set(paths)) == 3  # robots, rss, the article

    # Another feed entry in the file, at the same URL (its state is new, so it reads every
    # item again): the same documents, found known; none added.
    again = run_feeds([Feed("krant-kopie", feed.url, language="nl")], settings, es)
    assert again.counts["articles.new"] == 0
    assert again.counts["entries.known"] == 4
    after = articles(es, settings)
    assert len(after) == 4
    assert all(sorted(a["feeds"]) == ["krant", "krant-kopie"] for a in after)
