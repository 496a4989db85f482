"""Publication times: the most precise statement that agrees on the day, with its zone.

Unit tests of `ingest.extract.dates` and the page's statements (`ingest.extract.page`), then
the whole pipeline against a real local server and Elasticsearch.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from html import escape

import pytest
from elasticsearch import Elasticsearch
from pytest_httpserver import HTTPServer

from ingest import store
from ingest.config import Settings
from ingest.extract import dates
from ingest.extract.page import extract_page
from ingest.models import Feed
from ingest.pipeline import run_feeds

NOW = datetime(2021, 11, 20, tzinfo=UTC)
CET = timezone(timedelta(hours=1))
TEXT = " ".join(
    f"De grensovergang bij Kuźnica bleef ook op dag {n} gesloten, meldden de Poolse autoriteiten."
    for n in range(6)
)


def article_page(head: str = "", article_head: str = "", sidebar: str = "") -> str:
    return f"""<!doctype html><html lang="nl"><head><meta charset="utf-8">{head}
<title>Grens dicht</title></head><body><article><h1>Grens dicht</h1>{article_head}
<p>{escape(TEXT)}</p><p>{escape(TEXT)}</p>{sidebar}</article></body></html>"""


def test_parse_knows_how_precise_a_statement_is() -> None:
    assert dates.parse("2021-11-17", NOW) == dates.Stated(datetime(2021, 11, 17), dates.DAY)
    assert dates.parse("2021-11-17T10:00:00", NOW) == dates.Stated(
        datetime(2021, 11, 17, 10), dates.TIME
    )
    zoned = dates.parse("2021-11-17T11:00:00 +01:00", NOW)
    assert zoned == dates.Stated(datetime(2021, 11, 17, 11, tzinfo=CET), dates.ZONED)
    assert zoned.aware().utcoffset() == timedelta(hours=1)  # the zone is kept
    for implausible in ("0001-01-01", "1970-01-01T00:00:00Z", "2021-11-25", "soon", None, 5):
        assert dates.parse(implausible, NOW) is None, implausible


def test_the_feeds_time_beats_the_pages_bare_day_only_on_that_day() -> None:
    day = dates.Stated(datetime(2021, 11, 17, tzinfo=UTC), dates.DAY)
    feed = datetime(2021, 11, 17, 11, tzinfo=CET)
    assert dates.publication(day, feed, NOW) == (feed, "feed")
    # just after midnight east of UTC, or late in the evening west of it: the 17th in UTC
    late = datetime(2021, 11, 18, 0, 30, tzinfo=CET)
    assert dates.publication(day, late, NOW) == (late, "feed")
    evening = datetime(2021, 11, 17, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert dates.publication(day, evening, NOW) == (evening, "feed")
    # the feed names another day (an update, a re-post): the page's day stands
    other = datetime(2021, 11, 19, 10, tzinfo=UTC)
    assert dates.publication(day, other, NOW) == (day.aware(), "page")
    # a page timestamp with a zone beats the feed; a feed's bare midnight beats nothing
    zoned = dates.Stated(datetime(2021, 11, 17, 9, 58, tzinfo=UTC), dates.ZONED)
    assert dates.publication(zoned, feed, NOW) == (zoned.aware(), "page")
    midnight = datetime(2021, 11, 17, tzinfo=UTC)
    assert dates.publication(day, midnight, NOW) == (day.aware(), "page")
    assert dates.publication(None, midnight, NOW) == (midnight, "feed")
    assert dates.publication(None, None, NOW) == (NOW, "first_seen")


def test_the_articles_time_element_makes_a_bare_meta_day_precise() -> None:
    page = article_page(
        '<meta name="date" content="2021-11-17">',
        '<time datetime="2021-11-17T10:00:00Z">17 november, 10.00 uur</time>',
    )
    result = extract_page(page, "https://nieuws.example/grens")
    assert result.published_at == datetime(2021, 11, 17, 10, tzinfo=UTC)
    assert (result.date_precision, result.date_source) == (dates.ZONED, "page")


def test_a_time_element_of_another_day_does_not_move_the_article() -> None:
    page = article_page(
        '<meta name="date" content="2021-11-17">',
        sidebar='<aside>Eerder: <time datetime="2021-11-12T08:00:00Z">12 nov</time></aside>',
    )
    result = extract_page(page, "https://nieuws.example/grens")
    assert result.published_at == datetime(2021, 11, 17, tzinfo=UTC)
    assert result.date_precision == dates.DAY


def rss(items: list[tuple[str, str]]) -> str:
    rows = "".join(
        f"<item><title>Grens dicht</title><link>{escape(link)}</link>"
        f"<pubDate>{escape(published)}</pubDate></item>"
        for link, published in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{rows}</channel></rss>'
    )


@pytest.mark.es
def test_stored_publication_times_are_the_most_precise_consistent_ones(
    httpserver: HTTPServer, es: Elasticsearch, settings: Settings
) -> None:
    s = httpserver
    s.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    bare_day = '<meta name="date" content="2021-11-17">'
    pages = {
        # the case: a bare meta day, a <time> at 10:00Z, the feed at 10:00 GMT
        "/a": (article_page(bare_day, '<time datetime="2021-11-17T10:00:00Z">10.00</time>'),
               "Wed, 17 Nov 2021 10:00:00 GMT"),
        # only a day in the page; the feed has the time, in its own zone
        "/b": (article_page(bare_day), "Wed, 17 Nov 2021 11:15:00 +0100"),
        # the feed names another day (updated since): the page's day is kept
        "/c": (article_page(bare_day), "Fri, 19 Nov 2021 08:00:00 GMT"),
        # the page has a timestamp with a zone: it wins over the feed's minute
        "/d": (article_page('<meta property="article:published_time" '
                            'content="2021-11-17T09:58:00+01:00">'),
               "Wed, 17 Nov 2021 09:00:00 GMT"),
    }  # fmt: skip
    for path, (html, _) in pages.items():
        s.expect_request(path).respond_with_data(html, content_type="text/html")
    items = [(s.url_for(path), published) for path, (_, published) in pages.items()]
    s.expect_request("/feed.xml").respond_with_data(rss(items), content_type="application/rss+xml")

    report = run_feeds([Feed("f", s.url_for("/feed.xml"))], settings, es)

    assert report.counts["articles.new"] == 4, report.failures
    names = store.IndexNames(settings.index_prefix)
    store.refresh(es, names)
    hits = es.search(index=names.articles, size=10)["hits"]["hits"]
    got = {
        hit["_source"]["url"].removeprefix(s.url_for("/")): (
            hit["_source"]["published_at"],
            hit["_source"]["date_source"],
        )
        for hit in hits
    }
    assert got == {
        "a": ("2021-11-17T10:00:00+00:00", "page"),
        "b": ("2021-11-17T11:15:00+01:00", "feed"),
        "c": ("2021-11-17T00:00:00+00:00", "page"),
        "d": ("2021-11-17T09:58:00+01:00", "page"),
    }
    # Kibana's time field sorts and filters by the instant, whatever the zone written
    newest = es.search(index=names.articles, size=1, sort=[{"published_at": "desc"}])
    assert newest["hits"]["hits"][0]["_source"]["url"] == s.url_for("/b")
