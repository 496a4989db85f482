"""Edits: re-fetching at ~24 h and ~7 d, revisions kept, `mediamon history` — against a real
Elasticsearch and a real local HTTP server whose pages change between checks.

Four articles are ingested, then re-checked as if 25 hours, then 7 days and an hour, had
passed (`now=`): "edited" gets a new headline, a word fixed and a paragraph added, later a
paragraph cut; "steady" never changes; "gone" answers 404; "flaky" answers 503 once, then
recovers. The counts of every check are known in advance.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from elasticsearch import Elasticsearch
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ingest import revisions, store
from ingest.cli import cli
from ingest.config import Settings
from ingest.models import Extraction, Feed
from ingest.pipeline import run_feeds
from ingest.revisions import Version, diff_versions, parse_stage, refetch_due

pytestmark = pytest.mark.es

STEADY = [
    "De gemeenteraad van Zwolle heeft dinsdagavond ingestemd met het plan voor een nieuwe "
    "fietsbrug over het Zwarte Water, na een debat dat tot ver na middernacht duurde.",
    "De brug moet in 2027 klaar zijn en kost naar schatting 14 miljoen euro, waarvan de "
    "provincie Overijssel ongeveer de helft betaalt uit het fonds voor regionale mobiliteit.",
    "Omwonenden maakten bezwaar tegen de hoogte van de brug, die volgens hen het uitzicht "
    "over de rivier bederft; de wethouder beloofde een aangepast ontwerp met lagere pylonen.",
]
V1 = (
    "Kabinet presenteert plan voor grensbewaking",
    [
        "Het kabinet heeft maandag een plan gepresenteerd om de bewaking van de oostgrens te "
        "versterken, na weken van oplopende spanningen aan de Pools-Wit-Russische grens.",
        "Volgens de minister gaat het om zestig extra marechaussees en nieuwe camera's langs "
        "de belangrijkste wegen, die binnen drie maanden operationeel moeten zijn.",
        "De oppositie noemt het plan symbolisch en vraagt om een debat over de opvang van "
        "vluchtelingen die de grens al zijn overgestoken.",
    ],
)
V2 = (
    "Kabinet trekt tachtig marechaussees uit voor de oostgrens",
    [
        V1[1][0],
        V1[1][1].replace("zestig", "tachtig"),
        V1[1][2],
        "Een debat in de Tweede Kamer staat gepland voor donderdag, liet de Kamervoorzitter "
        "in de loop van de middag weten.",
    ],
)
V3 = (V2[0], [V2[1][0], V2[1][1], V2[1][3]])


def news_page(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta property="article:published_time" content="2021-11-16T09:30:00+01:00"></head>'
        f"<body><article><h1>{title}</h1>{body}</article></body></html>"
    )


class ChangingSite:
    """What the server answers now: the version of /edited and the status of /flaky."""

    def __init__(self) -> None:
        self.edited = V1
        self.flaky_status = 200
        self.gone = False

    def edited_page(self, request: Request) -> Response:
        return Response(news_page(*self.edited), content_type="text/html")

    def flaky_page(self, request: Request) -> Response:
        html = news_page("Flaky", STEADY[::-1])
        return Response(html, status=self.flaky_status, content_type="text/html")

    def gone_page(self, request: Request) -> Response:
        if self.gone:
            return Response("weg", status=404, content_type="text/html")
        return Response(news_page("Gone soon", STEADY[1:] + STEADY[:1]), content_type="text/html")


@pytest.fixture
def changing(httpserver: HTTPServer) -> tuple[ChangingSite, Feed]:
    site = ChangingSite()
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    httpserver.expect_request("/edited").respond_with_handler(site.edited_page)
    httpserver.expect_request("/steady").respond_with_data(
        news_page("Fietsbrug Zwolle", STEADY), content_type="text/html"
    )
    httpserver.expect_request("/gone").respond_with_handler(site.gone_page)
    httpserver.expect_request("/flaky").respond_with_handler(site.flaky_page)
    items = "".join(
        f"<item><title>{p}</title><link>{httpserver.url_for(p)}</link></item>"
        for p in ("/edited", "/steady", "/gone", "/flaky")
    )
    httpserver.expect_request("/feed.xml").respond_with_data(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>',
        content_type="application/rss+xml",
    )
    return site, Feed("nieuws", httpserver.url_for("/feed.xml"), source="Nieuws")


def docs(es: Elasticsearch, settings: Settings) -> dict[str, dict[str, Any]]:
    names = store.IndexNames(settings.index_prefix)
    store.refresh(es, names)
    hits = es.search(index=names.articles, size=50, query={"match_all": {}})["hits"]["hits"]
    return {h["_source"]["url"].rsplit("/", 1)[1]: {"id": h["_id"], **h["_source"]} for h in hits}


def revision_docs(es: Elasticsearch, settings: Settings) -> list[dict[str, Any]]:
    names = store.IndexNames(settings.index_prefix)
    es.indices.refresh(index=names.revisions)
    hits = es.search(index=names.revisions, size=50, sort=[{"revision": "asc"}])["hits"]["hits"]
    return [{"_id": h["_id"], **h["_source"]} for h in hits]


def test_stage_ages_parse_and_bad_ones_are_refused() -> None:
    assert parse_stage("24h") == revisions.Stage("24h", timedelta(hours=24))
    assert parse_stage(" 2w ").after == timedelta(weeks=2)
    for bad in ("0d", "1y", "soon", ""):
        with pytest.raises(Exception, match="not an age"):
            parse_stage(bad)


def test_edits_are_found_at_each_stage_and_kept_as_revisions(
    changing: tuple[ChangingSite, Feed], settings: Settings, es: Elasticsearch
) -> None:
    site, feed = changing
    run_feeds([feed], settings, es)
    first = docs(es, settings)
    seen = datetime.fromisoformat(first["edited"]["first_seen_at"])
    assert first["edited"]["revision_count"] == 0 and first["edited"]["refetch_stages"] == []

    # Nothing is due before a day has passed.
    early = refetch_due(settings, es, now=seen + timedelta(hours=12))
    assert early.counts["refetch.due"] == 0

    # As if the first version had been cut at the body limit: the revision's flag must replace
    # it (the edited text is short), not be left behind.
    names = store.IndexNames(settings.index_prefix)
    es.update_by_query(
        index=names.articles,
        query={"ids": {"values": [first["edited"]["id"]]}},
        script={"source": "ctx._source.extraction.truncated = true"},
        refresh=True,
    )
    site.edited, site.gone, site.flaky_status = V2, True, 503
    day = seen + timedelta(hours=25)
    report = refetch_due(settings, es, now=day)
    c = report.counts
    assert (c["refetch.due"], c["refetch.revised"], c["refetch.unchanged"]) == (4, 1, 1)
    assert (c["refetch.failed"], c["refetch.retry"]) == (1, 1)
    assert report.failures["page:http_404"] == 1 and report.failures["page:http_503"] == 1

    after = docs(es, settings)
    edited = after["edited"]
    assert edited["title"] == V2[0] and "tachtig extra marechaussees" in edited["body"]
    assert edited["revision_count"] == 1 and edited["revised_at"] == day.isoformat()
    assert edited["refetch_stages"] == ["24h"] and edited["last_check_status"] == "revised"
    assert edited["content_hash"] != first["edited"]["content_hash"]
    assert edited["lsh_bands"] != first["edited"]["lsh_bands"]  # fingerprint follows the text
    assert edited["extraction"]["truncated"] is False  # follows the new text
    assert edited["extraction"]["method"] == "precision"
    assert after["steady"]["last_check_status"] == "unchanged"
    assert after["steady"]["body"] == first["steady"]["body"]
    assert after["steady"]["revision_count"] == 0 and after["steady"]["refetch_stages"] == ["24h"]
    assert after["gone"]["last_check_status"] == "failed:page:http_404"
    assert after["gone"]["refetch_stages"] == ["24h"] and after["gone"]["body"]  # text kept
    assert after["flaky"]["refetch_stages"] == [] and after["flaky"]["last_check_status"] is None

    (rev,) = revision_docs(es, settings)
    assert rev["_id"] == f"{edited['id']}-r1" and rev["revision"] == 1
    assert rev["title"] == V1[0] and "zestig extra" in rev["body"]
    assert rev["seen_from"] == first["edited"]["first_seen_at"]
    assert rev["replaced_at"] == day.isoformat() and rev["stage"] == "24h"
    assert rev["title_changed"] and rev["body_changed"]

    # A transient failure is tried again on the next run, and only it.
    site.flaky_status = 200
    retry = refetch_due(settings, es, now=day + timedelta(hours=2))
    assert retry.counts["refetch.due"] == 1 and retry.counts["refetch.unchanged"] == 1

    # A week on: the 7-day stage; a paragraph was cut meanwhile.
    site.edited = V3
    week = seen + timedelta(days=7, hours=1)
    weekly = refetch_due(settings, es, now=week)
    assert weekly.counts["refetch.due"] == 4 and weekly.counts["refetch.revised"] == 1
    final = docs(es, settings)["edited"]
    assert final["revision_count"] == 2 and final["refetch_stages"] == ["24h", "7d"]
    assert [r["title"] for r in revision_docs(es, settings)] == [V1[0], V2[0]]
    # And nothing is due twice.
    assert refetch_due(settings, es, now=week + timedelta(hours=1)).counts["refetch.due"] == 0


def test_an_article_late_for_two_stages_is_checked_once_for_both(
    changing: tuple[ChangingSite, Feed], settings: Settings, es: Elasticsearch
) -> None:
    _, feed = changing
    run_feeds([feed], settings, es)
    seen = datetime.fromisoformat(docs(es, settings)["steady"]["first_seen_at"])
    names = store.IndexNames(settings.index_prefix)
    due = revisions.due_articles(es, names, seen + timedelta(days=7, hours=1))
    assert len(due) == 4 and {d.stage.name for d in due} == {"7d"}
    assert all(d.marks == ["7d", "24h"] for d in due)
    # Checks missed for longer than late_by are skipped, not caught up.
    assert not revisions.due_articles(es, names, seen + timedelta(days=30))


def test_two_workers_storing_the_same_change_keep_one_revision(
    changing: tuple[ChangingSite, Feed], settings: Settings, es: Elasticsearch
) -> None:
    _, feed = changing
    run_feeds([feed], settings, es)
    names = store.IndexNames(settings.index_prefix)
    seen = datetime.fromisoformat(docs(es, settings)["edited"]["first_seen_at"])
    now = seen + timedelta(hours=25)
    (due,) = [
        d for d in revisions.due_articles(es, names, now) if d.source["url"].endswith("/edited")
    ]
    new = Extraction(title=V2[0], body="\n\n".join(V2[1]))
    check = revisions.compare(due, new)
    assert check.status == "revised"
    for _ in range(2):  # the same check stored twice, as by two workers racing
        report = revisions.store_checks(es, names, [check], now)
        assert not report.failures
    assert len(revision_docs(es, settings)) == 1
    assert docs(es, settings)["edited"]["revision_count"] == 1


def test_diff_shows_the_changed_title_words_and_paragraphs() -> None:
    before = Version(0, V1[0], "\n\n".join(V1[1]), "2021-11-16T09:30:00+00:00", "x")
    after = Version(1, V2[0], "\n\n".join(V2[1]), "x", None)
    diff = diff_versions(before, after)
    assert diff.title_changed
    ops = [c.op for c in diff.body]
    assert ops == ["same", "changed", "same", "added"]
    changed = diff.body[1]
    assert ("removed", "zestig") in changed.words and ("added", "tachtig") in changed.words
    assert "-# Kabinet presenteert plan voor grensbewaking" in diff.unified()
    assert "+Een debat in de Tweede Kamer" in diff.unified()
    japanese = diff_versions(
        Version(0, "t", "震度5弱の地震があった。", "x", "x"),
        Version(1, "t", "震度5強の地震があった。", "x", None),
    )
    assert ("removed", "弱") in japanese.body[0].words


def test_history_and_refetch_commands(
    changing: tuple[ChangingSite, Feed], settings: Settings, es: Elasticsearch, tmp_path: Path
) -> None:
    site, feed = changing
    run_feeds([feed], settings, es)
    seen = datetime.fromisoformat(docs(es, settings)["edited"]["first_seen_at"])
    site.edited = V2
    refetch_due(settings, es, now=seen + timedelta(hours=25))
    edited = docs(es, settings)["edited"]
    runner = CliRunner()
    base = ["--es-url", settings.es_url, "--prefix", settings.index_prefix]

    shown = runner.invoke(cli, [*base, "history", edited["url"]], terminal_width=120)
    assert shown.exit_code == 0, shown.output
    assert "1 revision" in shown.output and "version 0 → 1" in shown.output
    assert "Kabinet presenteert plan" in shown.output and "tachtig" in shown.output
    assert "Een debat in de Tweede Kamer" in shown.output

    as_json = runner.invoke(cli, [*base, "history", edited["id"], "--json"])
    payload = json.loads(as_json.output)
    assert [v["title"] for v in payload["versions"]] == [V1[0], V2[0]]
    (change,) = payload["changes"]
    assert change["title_changed"] and [c["op"] for c in change["body"]] == ["changed", "added"]

    steady = runner.invoke(cli, [*base, "history", docs(es, settings)["steady"]["id"]])
    assert "No change seen" in steady.output
    missing = runner.invoke(cli, [*base, "history", "no-such-article"])
    assert missing.exit_code == 1 and "no article with id or URL" in missing.output

    # `mediamon refetch`: nothing is a day old yet at the real clock; the report says so.
    env = {"MEDIAMON_EGRESS_ALLOW": "127.0.0.1/32"}
    ran = runner.invoke(cli, [*base, "refetch", "--after", "24h", "--json"], env=env)
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output)["counts"]["refetch.due"] == 0
    bad = runner.invoke(cli, [*base, "refetch", "--after", "soon"])
    assert bad.exit_code == 1 and "not an age" in bad.output


def test_refetch_command_checks_what_is_due(
    changing: tuple[ChangingSite, Feed], settings: Settings, es: Elasticsearch
) -> None:
    """A short stage (90 minutes) on articles first seen two hours ago, through the CLI."""
    site, feed = changing
    run_feeds([feed], settings, es)
    names = store.IndexNames(settings.index_prefix)
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    es.update_by_query(
        index=names.articles,
        script={"source": "ctx._source.first_seen_at = params.t", "params": {"t": two_hours_ago}},
        refresh=True,
    )
    site.edited = V2
    runner = CliRunner()
    base = ["--es-url", settings.es_url, "--prefix", settings.index_prefix]
    env = {"MEDIAMON_EGRESS_ALLOW": "127.0.0.1/32"}
    ran = runner.invoke(cli, [*base, "refetch", "--after", "90m", "--json"], env=env)
    assert ran.exit_code == 0, ran.output
    counts = json.loads(ran.output)["counts"]
    assert counts["refetch.due"] == 4 and counts["refetch.revised"] == 1
    assert counts["refetch.unchanged"] == 3
    assert docs(es, settings)["edited"]["refetch_stages"] == ["90m"]
