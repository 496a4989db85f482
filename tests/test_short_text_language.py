"""The language of short texts from the site's other articles, against the real node.

A feed that declares no language (no `<language>`, none in the feeds file) lists Polish
pages on a real local HTTP server; the real pipeline indexes them into a real Elasticsearch.
A later poll of that feed, and of a new feed of the same site, lists Polish headlines too
short for the text alone ("NBP podnosi stopy": Bosnian at 0.27 by itself) and without a page:
they are tagged Polish from the site's history, `language_source` "site", with the text's
own low confidence. `store.site_languages` counts only articles their text tagged. A
cluster too busy for that count (refused through a proxy in front of the real node) leaves
the batch to the text alone, counted, and the run goes on.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import corpus_pages
import pytest
from articles import new_article
from elasticsearch import Elasticsearch
from faults import EsFaultProxy
from pytest_httpserver import HTTPServer

from ingest import store
from ingest.config import Settings
from ingest.extract.language import SITE_MIN_ARTICLES, tag_language
from ingest.models import Feed
from ingest.pipeline import run_feeds

pytestmark = pytest.mark.es

POLISH_PAGES = [
    a.id
    for a in corpus_pages.corpus().articles
    if a.outlet.language == "pl" and a.kind == "article"
][:6]
SHORT_TITLES = {"rynek": "NBP podnosi stopy", "rynek-gospodarka": "Orlen kupuje Lotos"}


def rss(items: list[tuple[str, str | None]]) -> str:
    """An RSS document without <language>: (title, link or None for a feed-only item)."""
    entries = "".join(
        f"<item><title>{title}</title><guid isPermaLink='false'>{title}</guid>"
        + (f"<link>{link}</link>" if link else "")
        + "</item>"
        for title, link in items
    )
    return f"<rss version='2.0'><channel><title>Rynek</title>{entries}</channel></rss>"


def serve(server: HTTPServer, path: str, items: list[tuple[str, str | None]]) -> str:
    server.expect_request(path).respond_with_data(rss(items), content_type="application/rss+xml")
    return server.url_for(path)


def stored(es: Elasticsearch, settings: Settings) -> dict[str, dict[str, Any]]:
    names = store.IndexNames(settings.index_prefix)
    store.refresh(es, names)
    hits = es.search(index=names.articles, size=50)["hits"]["hits"]
    return {hit["_source"]["title"]: hit["_source"] for hit in hits}


def test_a_short_title_on_a_polish_site_without_a_declared_language_is_polish(
    httpserver: HTTPServer, es: Elasticsearch, settings: Settings
) -> None:
    assert len(POLISH_PAGES) >= SITE_MIN_ARTICLES
    for title in SHORT_TITLES.values():  # the text alone cannot tell
        assert tag_language(title).code == "und"
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    for article_id in POLISH_PAGES:
        httpserver.expect_request(f"/pl/{article_id}").respond_with_data(
            corpus_pages.page(article_id), content_type="text/html; charset=utf-8"
        )
    pages = [(corpus_pages.title(i), httpserver.url_for(f"/pl/{i}")) for i in POLISH_PAGES]
    feed = Feed("rynek", serve(httpserver, "/rynek.rss", pages))  # no language declared
    first = run_feeds([feed], settings, es)
    assert first.counts["articles.new"] == len(POLISH_PAGES), (first.counts, first.failures)
    assert {a["language"] for a in stored(es, settings).values()} == {"pl"}

    # The same feed later, and a new feed of the same site: short items without a page.
    httpserver.clear()
    serve(httpserver, "/rynek.rss", [*pages, (SHORT_TITLES["rynek"], None)])
    other = Feed(
        "rynek-gospodarka",
        serve(httpserver, "/gospodarka.rss", [(SHORT_TITLES["rynek-gospodarka"], None)]),
    )
    second = run_feeds([feed, other], settings, es)
    assert second.counts["articles.new"] == 2, (second.counts, second.failures)
    articles = stored(es, settings)
    for feed_name, title in SHORT_TITLES.items():
        article = articles[title]
        assert article["feeds"] == [feed_name]
        assert article["extraction"]["status"] == "feed_only"
        assert (article["language"], article["language_source"]) == ("pl", "site"), title
        # the text's own probability of Polish: the site chose, it did not raise the figure
        assert 0.0 < article["language_confidence"] < 0.5


def test_a_site_without_history_leaves_a_short_title_undetermined(
    httpserver: HTTPServer, es: Elasticsearch, settings: Settings
) -> None:
    feed = Feed("nowy", serve(httpserver, "/nowy.rss", [(SHORT_TITLES["rynek"], None)]))
    report = run_feeds([feed], settings, es)
    assert report.counts["articles.new"] == 1, (report.counts, report.failures)
    article = stored(es, settings)[SHORT_TITLES["rynek"]]
    assert (article["language"], article["language_source"]) == ("und", "text")


def test_a_cluster_too_busy_for_the_sites_count_leaves_the_title_to_its_text(
    httpserver: HTTPServer, es: Elasticsearch, settings: Settings
) -> None:
    names = store.IndexNames(settings.index_prefix)
    now = datetime.now(UTC)
    history = [
        new_article(f"p{i}", now, "127.0.0.1", feeds=["rynek"], language="pl")
        for i in range(SITE_MIN_ARTICLES)
    ]
    assert store.bulk_index(es, names, history).created == SITE_MIN_ARTICLES
    store.refresh(es, names)
    first, second = SHORT_TITLES.values()
    feed = Feed("rynek", serve(httpserver, "/rynek.rss", [(first, None)]))
    with EsFaultProxy(settings.es_url) as proxy:
        via_proxy = replace(settings, es_url=proxy.url)
        client = store.connect(via_proxy)
        client.backoff = (0.1, 0.2, 0.4)  # type: ignore[attr-defined]
        # every try of the site's count (the only search with "include") is refused
        proxy.reject_next("/_search", times=50, status=429, body_fragment='"include"')
        busy = run_feeds([feed], via_proxy, client)
    assert busy.counts["articles.new"] == 1, (busy.counts, busy.failures)
    assert busy.counts["language.site_unavailable"] == 1
    article = stored(es, settings)[first]
    assert (article["language"], article["language_source"]) == ("und", "text")

    # The cluster answers again: the feed's next short title takes its site's language.
    httpserver.clear()
    serve(httpserver, "/rynek.rss", [(first, None), (second, None)])
    calm = run_feeds([feed], settings, es)
    assert calm.counts["articles.new"] == 1, (calm.counts, calm.failures)
    assert "language.site_unavailable" not in calm.counts
    article = stored(es, settings)[second]
    assert (article["language"], article["language_source"]) == ("pl", "site")


def test_site_languages_counts_what_texts_tagged_per_feed_and_site(
    es: Elasticsearch, settings: Settings
) -> None:
    names = store.IndexNames(settings.index_prefix)
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=400)
    articles = [
        new_article("a1", now, "rynek.example", feeds=["rynek"], language="pl"),
        new_article(
            "a2", now, "rynek.example", feeds=["rynek"], language="pl", language_source="text+feed"
        ),
        new_article("a3", now, "rynek.example", feeds=["rynek", "sport"], language="en"),
        # not counted: a hint chose it, the text could not tell, or it is too old
        new_article(
            "h1", now, "rynek.example", feeds=["rynek"], language="cs", language_source="feed"
        ),
        new_article(
            "h2", now, "rynek.example", feeds=["rynek"], language="sk", language_source="site"
        ),
        new_article("u1", now, "rynek.example", feeds=["rynek"], language="und"),
        new_article("o1", long_ago, "rynek.example", feeds=["rynek"], language="de"),
        # another site, other feeds: not asked for
        new_article("x1", now, "inny.example", feeds=["inny"], language="nl"),
    ]
    outcome = store.bulk_index(es, names, articles)
    assert outcome.created == len(articles)
    store.refresh(es, names)
    found = store.site_languages(
        es, names, {"rynek", "nowy"}, {"rynek.example"}, now - timedelta(days=90)
    )
    assert found.by_feed == {"rynek": {"pl": 2, "en": 1}}
    assert found.by_domain == {"rynek.example": {"pl": 2, "en": 1}}
    # a feed with too little history of its own takes its site's
    assert found.of(["nowy"], "rynek.example", enough=3) == {"pl": 2, "en": 1}
    assert found.of(["rynek"], "rynek.example", enough=3) == {"pl": 2, "en": 1}
    assert found.of(["nowy"], "inny.example", enough=3) == {}
    assert store.site_languages(es, names, set(), set(), now).by_feed == {}
