"""An archive feed reaching back decades, in three languages, through the real pipeline.

The kind of feed a backfill, a news sitemap or an archive page gives: over a thousand
entries from 1991 to 2026. Article indices must depend on how much is stored, never on the
dates or languages in it (before mapping version 4, this feed made an index per month and
language group: 606 shards, and the node's circuit breaker stopped the run).
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape

import pytest
from elasticsearch import Elasticsearch
from pytest_httpserver import HTTPServer

from ingest import store
from ingest.config import RolloverLimits, Settings
from ingest.models import Feed
from ingest.pipeline import run_feeds

pytestmark = pytest.mark.es

ENTRIES = 1_050
FIRST_DAY = datetime(1991, 3, 1, 8, tzinfo=UTC)
LAST_DAY = datetime(2026, 3, 1, 8, tzinfo=UTC)

# Sentences for pages in each language; every page draws its own mix, and a number.
SENTENCES = {
    "nl": [
        "De gemeenteraad heeft gisteren besloten om het nieuwe plan voor de haven uit te stellen.",
        "Volgens de burgemeester is er nog te weinig geld voor de bouw van de brug.",
        "Bewoners van de wijk maken zich zorgen over het verkeer en de luchtkwaliteit.",
        "Het kabinet wil volgend jaar meer investeren in onderwijs en zorg in de regio.",
        "De politie zoekt getuigen van een inbraak in een winkel aan de markt.",
        "Onderzoekers van de universiteit presenteerden hun resultaten op een congres.",
        "De boeren protesteerden met hun trekkers voor het provinciehuis tegen de regels.",
        "Het waterschap waarschuwt voor hoog water in de rivieren na de zware regenval.",
        "De voetbalclub won zondag met twee doelpunten verschil van de nummer drie.",
        "In het museum is vanaf volgende week een tentoonstelling over de geschiedenis te zien.",
    ],
    "en": [
        "The city council decided yesterday to postpone the new plan for the harbour.",
        "According to the mayor there is still too little money to build the bridge.",
        "Residents of the district are worried about traffic and the quality of the air.",
        "The government wants to invest more in education and health care next year.",
        "Police are looking for witnesses to a burglary at a shop near the market square.",
        "Researchers from the university presented their findings at a conference.",
        "Farmers drove their tractors to the provincial office to protest against the rules.",
        "The water board warns of high water in the rivers after the heavy rainfall.",
        "The football club won on Sunday by two goals against the team in third place.",
        "From next week the museum shows an exhibition about the history of the town.",
    ],
    "de": [
        "Der Stadtrat hat gestern beschlossen, den neuen Plan für den Hafen zu verschieben.",
        "Nach Angaben des Bürgermeisters fehlt noch immer Geld für den Bau der Brücke.",
        "Die Bewohner des Viertels machen sich Sorgen über den Verkehr und die Luftqualität.",
        "Die Regierung will im nächsten Jahr mehr in Bildung und Gesundheit investieren.",
        "Die Polizei sucht Zeugen eines Einbruchs in ein Geschäft am Marktplatz.",
        "Forscher der Universität stellten ihre Ergebnisse auf einer Konferenz vor.",
        "Die Bauern fuhren mit ihren Traktoren vor das Landratsamt, um zu protestieren.",
        "Das Wasseramt warnt nach den starken Regenfällen vor Hochwasser in den Flüssen.",
        "Der Fußballverein gewann am Sonntag mit zwei Toren Vorsprung gegen den Dritten.",
        "Ab nächster Woche zeigt das Museum eine Ausstellung über die Geschichte der Stadt.",
    ],
}


def archive(server: HTTPServer) -> list[tuple[str, str, datetime]]:
    """Serve the archive's pages; return its entries (path, language, publication date)."""
    rng = random.Random(14)
    step = (LAST_DAY - FIRST_DAY) / (ENTRIES - 1)
    entries = []
    for n in range(ENTRIES):
        language = ("nl", "en", "de")[n % 3]
        published = FIRST_DAY + step * n
        path = f"/archive/{published:%Y/%m/%d}/{n}"
        body = " ".join(rng.sample(SENTENCES[language], 7)) + f" ({n})"
        title = f"{SENTENCES[language][n % 10][:40]} {n}"
        page = (
            f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title>"
            f'<meta property="article:published_time" content="{published.isoformat()}">'
            f"</head><body><article><h1>{escape(title)}</h1>"
            + "".join(f"<p>{escape(body)} {escape(s)}</p>" for s in SENTENCES[language][:3])
            + "</article></body></html>"
        )
        server.expect_request(path).respond_with_data(page, content_type="text/html")
        entries.append((path, language, published))
    return entries


def rss(server: HTTPServer, entries: list[tuple[str, str, datetime]]) -> str:
    items = "".join(
        f"<item><title>Archief {n}</title><link>{server.url_for(path)}</link>"
        f"<pubDate>{format_datetime(published)}</pubDate></item>"
        for n, (path, _, published) in enumerate(entries)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>A</title>{items}</channel></rss>'
    )


@pytest.fixture
def backfill(httpserver: HTTPServer) -> Feed:
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    feed_xml = rss(httpserver, archive(httpserver))
    httpserver.expect_request("/archive.xml").respond_with_data(
        feed_xml, content_type="application/rss+xml"
    )
    return Feed("archive", httpserver.url_for("/archive.xml"), source="Archief")


def test_a_backfill_from_1991_fills_a_handful_of_indices_and_a_rerun_adds_nothing(
    backfill: Feed, settings: Settings, es: Elasticsearch
) -> None:
    # Small limits, so that this run rolls over a few times; in production: 50 GB or 30 days.
    run_settings = replace(settings, rollover=RolloverLimits(max_docs=300), batch_size=100)
    names = store.IndexNames(settings.index_prefix)

    started = datetime.now(UTC)
    report = run_feeds([backfill], run_settings, es)
    took = datetime.now(UTC) - started

    assert report.counts["articles.new"] == ENTRIES, (dict(report.counts), report.errors[:5])
    assert report.accounted_entries() == ENTRIES and not report.failures
    indices = store.backing_indices(es, names)
    assert 3 <= len(indices) <= 6, indices  # 1,050 articles at 300 a index, give or take
    assert set(es.indices.get(index=f"{names.articles}-*").body) == set(indices)
    store.refresh(es, names)
    assert es.count(index=names.articles)["count"] == ENTRIES
    languages = es.search(
        index=names.articles, size=0, aggs={"l": {"terms": {"field": "language"}}}
    )["aggregations"]["l"]["buckets"]
    assert {b["key"]: b["doc_count"] for b in languages} == {"nl": 350, "en": 350, "de": 350}
    oldest = es.search(index=names.articles, size=1, sort=[{"published_at": "asc"}])
    assert oldest["hits"]["hits"][0]["_source"]["published_at"].startswith("1991-03-01")
    assert took < timedelta(minutes=10)

    again = run_feeds([backfill], run_settings, es)
    assert again.counts["articles.new"] == 0 and not again.failures
    store.refresh(es, names)
    assert es.count(index=names.articles)["count"] == ENTRIES
    assert store.backing_indices(es, names) == indices
