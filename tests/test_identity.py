"""One document per article, end to end: a real local server, the pipeline, Elasticsearch.

The server answers for several host names (`nieuws.localhost`, `www.nieuws.localhost`, ...:
`ingest.fetch.client` resolves *.localhost to 127.0.0.1 without DNS), so the variants of one link
and the pages of different sites are real requests to real URLs.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape

import pytest
from articles import new_article
from elasticsearch import Elasticsearch
from pytest_httpserver import HTTPServer

from ingest import identity, store
from ingest.config import Settings
from ingest.models import Feed
from ingest.pipeline import run_feeds

pytestmark = pytest.mark.es

TOPICS = ["grens", "vluchtelingen", "Kuźnica", "Loekasjenko", "winter", "hulp", "Brussel"]


def page(number: int, canonical: str | None = None) -> str:
    """An article page with a text of its own (`number` picks the words)."""
    words = [TOPICS[(number + i) % len(TOPICS)] for i in range(len(TOPICS))]
    sentences = [
        f"Artikel {number} gaat over {word} en de gevolgen daarvan voor de mensen aan de "
        f"Pools-Wit-Russische grens, schrijft onze verslaggever in bericht {number}-{i}."
        for i, word in enumerate(words)
    ]
    link = f'<link rel="canonical" href="{escape(canonical)}">' if canonical else ""
    return f"""<!doctype html><html lang="nl"><head><meta charset="utf-8">{link}
<title>Bericht {number}</title></head><body><article><h1>Bericht {number}</h1>
{"".join(f"<p>{s}</p>" for s in sentences)}</article></body></html>"""


def rss(links: list[str]) -> str:
    items = "".join(
        f"<item><title>Bericht</title><link>{escape(link)}</link>"
        f"<pubDate>{format_datetime(datetime(2021, 11, 17, 9, tzinfo=UTC))}</pubDate></item>"
        for link in links
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'
    )


def stored(es: Elasticsearch, settings: Settings) -> dict[str, dict[str, object]]:
    names = store.IndexNames(settings.index_prefix)
    store.refresh(es, names)
    hits = es.search(index=names.articles, size=100)["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


def test_variants_and_canonical_links_make_one_document_each(
    httpserver: HTTPServer, es: Elasticsearch, settings: Settings
) -> None:
    s, port = httpserver, httpserver.port
    site, www = f"http://nieuws.localhost:{port}", f"http://www.nieuws.localhost:{port}"
    s.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    s.expect_request("/grens/1").respond_with_data(page(1), content_type="text/html")
    # /grens/2 and its AMP copy, which names /grens/2 (on www.) as its canonical page
    s.expect_request("/grens/2").respond_with_data(page(2), content_type="text/html")
    s.expect_request("/grens/2/amp").respond_with_data(
        page(2, f"{www}/grens/2"), content_type="text/html"
    )
    s.expect_request("/grens/2/print").respond_with_data(
        page(2, f"{www}/grens/2"), content_type="text/html"
    )
    # Different articles whose CMS names the section or the bare script as canonical page
    for n in (3, 4):
        s.expect_request(f"/politiek/{n}").respond_with_data(
            page(n, f"{site}/politiek/"), content_type="text/html"
        )
    s.expect_request("/nieuws.php", query_string={"artikel": "5"}).respond_with_data(
        page(5, "/nieuws.php"), content_type="text/html"
    )
    s.expect_request("/nieuws.php", query_string={"artikel": "6"}).respond_with_data(
        page(6, "/nieuws.php"), content_type="text/html"
    )
    # Another site's copy of article 1, naming it as canonical: a duplicate, not the same page
    s.expect_request("/kopie/1").respond_with_data(
        page(1, f"{site}/grens/1"), content_type="text/html"
    )
    first = [
        f"{site}/grens/1",
        f"{site}/grens/2",
        f"{site}/politiek/3",
        f"{site}/nieuws.php?artikel=5",
        f"http://ander.localhost:{port}/kopie/1",
    ]
    second = [
        f"https://www.nieuws.localhost:{port}/grens/1/",  # merged before any fetch
        f"{www}/grens/2/amp",  # its page names /grens/2
        f"{site}/politiek/4",
        f"{site}/nieuws.php?artikel=6",
    ]
    third = [f"{site}/grens/1/"]
    s.expect_request("/a.xml").respond_with_data(rss(first), content_type="application/rss+xml")
    s.expect_request("/b.xml").respond_with_data(rss(second), content_type="application/rss+xml")
    s.expect_request("/c.xml").respond_with_data(rss(third), content_type="application/rss+xml")
    feeds = [Feed(name, s.url_for(f"/{name}.xml")) for name in ("a", "b", "c")]

    report = run_feeds(feeds, settings, es)

    docs = stored(es, settings)
    by_url = {doc["canonical_url"]: doc for doc in docs.values()}
    assert len(docs) == 7, sorted(by_url)  # 10 links: /grens/1 three times, /grens/2 twice
    assert report.counts["entries.merged"] == 3, report.counts  # /grens/1 x2 before, amp after
    assert report.counts["articles.new"] == 7
    assert sorted(docs[identity.document_id(f"{site}/grens/1")]["feeds"]) == ["a", "b", "c"]
    assert sorted(docs[identity.document_id(f"{site}/grens/2")]["feeds"]) == ["a", "b"]
    assert docs[identity.document_id(f"{site}/grens/2")]["url"] == f"{site}/grens/2"
    for different in ("politiek/3", "politiek/4", "nieuws.php?artikel=5", "nieuws.php?artikel=6"):
        assert identity.document_id(f"{site}/{different}") in docs, different
    assert identity.document_id(f"http://ander.localhost:{port}/kopie/1") in docs
    assert report.accounted_entries() == report.counts["entries.seen"] == 10

    # A later run: a new feed lists the print copy of /grens/2: fetched, found by its
    # canonical link, seen again; no new document.
    s.expect_request("/d.xml").respond_with_data(
        rss([f"{site}/grens/2/print"]), content_type="application/rss+xml"
    )
    again = run_feeds([*feeds, Feed("d", s.url_for("/d.xml"))], settings, es)
    docs = stored(es, settings)
    assert len(docs) == 7 and again.counts["articles.new"] == 0, again.counts
    assert again.counts["entries.known"] >= 1
    assert sorted(docs[identity.document_id(f"{site}/grens/2")]["feeds"]) == ["a", "b", "d"]


def test_articles_indexed_under_old_ids_are_found_by_any_variant(
    httpserver: HTTPServer, es: Elasticsearch, settings: Settings
) -> None:
    s, port = httpserver, httpserver.port
    names = store.IndexNames(settings.index_prefix)
    # Indexed before issue #15: _id = hash of the canonical URL exactly as it was linked.
    old_url = f"http://www.nieuws.localhost:{port}/oud/7/"
    old_id = hashlib.sha256(old_url.encode()).hexdigest()[:40]
    when = datetime(2021, 11, 16, 8, tzinfo=UTC)
    article = new_article(old_id, when, url=old_url, canonical_url=old_url, feeds=["oud"])
    assert store.bulk_index(es, names, [article]).created == 1
    store.refresh(es, names)
    # No page is served: a fetch would fail (500) and show up as deferred.
    s.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    variant = f"http://nieuws.localhost:{port}/oud/7"
    s.expect_request("/f.xml").respond_with_data(rss([variant]), content_type="application/rss+xml")

    report = run_feeds([Feed("nieuw", s.url_for("/f.xml"))], settings, es)

    assert report.counts["entries.known"] == 1 and report.counts["articles.new"] == 0, report
    assert report.counts["pages.fetched"] == 0
    docs = stored(es, settings)
    assert list(docs) == [old_id] and sorted(docs[old_id]["feeds"]) == ["nieuw", "oud"]
    for ref in (variant, f"https://nieuws.localhost:{port}/oud/7/", old_url):
        found = store.find_article(es, names, ref)
        assert found is not None and found.id == old_id, ref
