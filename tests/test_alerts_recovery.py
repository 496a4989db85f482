"""Alerts are never lost between the article write and the alert write (issue #15, item 1).

The alerts index is blocked on the real node (`index.blocks.read_only_allow_delete`, what a
full disk does) while a real run writes; after the block is lifted, the next run creates the
missing alerts, once. A crash between the two writes is reproduced by writing the articles
as a run does and only some of their alerts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape

import pytest
from articles import new_article
from elasticsearch import Elasticsearch
from pytest_httpserver import HTTPServer

from ingest import airflow_tasks, alerts, store
from ingest.config import Settings
from ingest.models import AlertHit, Feed, alert_id
from ingest.pipeline import run_feeds

pytestmark = pytest.mark.es

NOW = datetime(2021, 11, 17, 12, tzinfo=UTC)
# One alert per matching article (`per: article`): the pages below are near copies of one
# another, which rules alerting per story would count as one story (test_story_alerts.py).
RULES = [alerts.Rule("kuz", "Kuźnica", per="article"),
         alerts.Rule("lukas", "Loekasjenko", per="article")]  # fmt: skip
TOPICS = {  # path -> what the article is about; the rules match "kuz" 3 times, "lukas" once
    "/a": "de grensovergang bij Kuźnica",
    "/b": "Kuźnica en Loekasjenko",
    "/c": "de weg naar Kuźnica",
    "/d": "het weer in Groningen",
}


def page(topic: str) -> str:
    sentences = " ".join(
        f"Verslaggevers meldden op dag {n} opnieuw nieuws over {topic}, zo bleek woensdag."
        for n in range(5)
    )
    return f"""<!doctype html><html lang="nl"><head><meta charset="utf-8">
<title>Over {escape(topic)}</title></head><body><article><h1>Over {escape(topic)}</h1>
<p>{escape(sentences)}</p><p>{escape(sentences)}</p></article></body></html>"""


def serve(server: HTTPServer) -> list[Feed]:
    server.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    items = ""
    for path, topic in TOPICS.items():
        server.expect_request(path).respond_with_data(page(topic), content_type="text/html")
        items += (
            f"<item><title>Over {escape(topic)}</title><link>{server.url_for(path)}</link>"
            f"<pubDate>{format_datetime(NOW)}</pubDate></item>"
        )
    rss = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'
    )
    server.expect_request("/feed.xml").respond_with_data(rss, content_type="application/rss+xml")
    return [Feed("nos", server.url_for("/feed.xml"))]


@contextmanager
def blocked(es: Elasticsearch, index: str) -> Iterator[None]:
    """The index refuses writes, as Elasticsearch makes it past the flood-stage disk mark."""
    es.indices.put_settings(index=index, settings={"index.blocks.read_only_allow_delete": True})
    try:
        yield
    finally:
        es.indices.put_settings(index=index, settings={"index.blocks.read_only_allow_delete": None})


def alert_docs(es: Elasticsearch, names: store.IndexNames) -> dict[str, dict[str, object]]:
    es.indices.refresh(index=names.alerts)
    hits = es.search(index=names.alerts, size=100)["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


def pending(es: Elasticsearch, names: store.IndexNames) -> int:
    store.refresh(es, names)
    return int(es.count(index=names.articles, query={"term": {"alerts_pending": True}})["count"])


def test_alerts_lost_to_a_blocked_index_are_created_by_the_next_run(
    httpserver: HTTPServer, es: Elasticsearch, settings: Settings
) -> None:
    names = store.IndexNames(settings.index_prefix)
    feeds = serve(httpserver)
    alerts.sync_rules(es, names, RULES)

    with blocked(es, names.alerts):
        first = run_feeds(feeds, settings, es)

    assert first.counts["articles.new"] == 4
    assert first.failures["alerts:cluster_block_exception"] == 4, first.failures
    assert first.counts["alerts.matched"] == 0 and alert_docs(es, names) == {}
    assert pending(es, names) == 3  # /a, /b, /c carry their rules and the mark

    second = run_feeds(feeds, settings, es)  # the feed is unchanged: nothing new to fetch

    assert second.counts["articles.new"] == 0 and second.counts["pages.fetched"] == 0
    assert second.counts["alerts.recovered"] == 4, second.counts
    matched = [("kuz", "/a"), ("kuz", "/b"), ("lukas", "/b"), ("kuz", "/c")]
    expected = {alert_id(rule, store_id(es, names, httpserver.url_for(p))) for rule, p in matched}
    docs = alert_docs(es, names)
    assert set(docs) == expected
    assert second.counts["alerts.notified"] == 4  # and delivered by the same run
    assert {doc["article"]["url"] for doc in docs.values()} == {  # type: ignore[index]
        httpserver.url_for(p) for p in ("/a", "/b", "/c")
    }
    assert pending(es, names) == 0

    third = run_feeds(feeds, settings, es)
    assert third.counts["alerts.recovered"] == 0 and third.counts["alerts.already_recorded"] == 0
    assert set(alert_docs(es, names)) == expected


def store_id(es: Elasticsearch, names: store.IndexNames, url: str) -> str:
    found = store.find_article(es, names, url)
    assert found is not None, url
    return found.id


def test_a_crash_between_article_and_alert_writes_leaves_nothing_missing_or_doubled(
    es: Elasticsearch, settings: Settings
) -> None:
    names = store.IndexNames(settings.index_prefix)
    alerts.sync_rules(es, names, [*RULES, alerts.Rule("gone", "grens", per="article")])
    written = [
        new_article("a1", NOW, title="Kuźnica", rules=["kuz"], alerts_pending=True),
        new_article("a2", NOW, title="Kuźnica, Loekasjenko", rules=["kuz", "lukas"],
                    alerts_pending=True),
        new_article("a3", NOW, title="grens", rules=["gone"], alerts_pending=True),
        new_article("a4", NOW, title="Kuźnica", rules=["kuz"]),  # its alert was recorded
    ]  # fmt: skip
    assert store.bulk_index(es, names, written).created == 4
    # The run got one alert of a2 written, then died.
    early = AlertHit("kuz", "kuz", "a2", "match", NOW, "crashed-run", [])
    es.create(index=names.alerts, id=early.id, document=early.to_document(), refresh=True)
    alerts.sync_rules(es, names, RULES)  # and the rule "gone" was deleted since
    store.refresh(es, names)

    outcome = alerts.record_missing_alerts(es, names, "later-run", now=NOW)

    assert (outcome.created, outcome.existing, dict(outcome.failures)) == (2, 1, {})
    docs = alert_docs(es, names)
    assert set(docs) == {alert_id("kuz", "a1"), alert_id("kuz", "a2"), alert_id("lukas", "a2")}
    assert docs[early.id]["run_id"] == "crashed-run"  # found, not rewritten
    assert pending(es, names) == 0
    again = alerts.record_missing_alerts(es, names, "next-run", now=NOW)
    assert (again.created, again.existing) == (0, 0)


def test_the_maintenance_task_creates_missing_alerts(es: Elasticsearch, settings: Settings) -> None:
    names = store.IndexNames(settings.index_prefix)
    alerts.sync_rules(es, names, RULES)
    lost = new_article("m1", NOW, title="Loekasjenko", rules=["lukas"], alerts_pending=True)
    assert store.bulk_index(es, names, [lost]).created == 1
    store.refresh(es, names)

    assert airflow_tasks.record_missing_alerts(settings) == {
        "created": 1,
        "existing": 0,
        "failed": 0,
    }
    assert set(alert_docs(es, names)) == {alert_id("lukas", "m1")}
    assert airflow_tasks.record_missing_alerts(settings)["created"] == 0
