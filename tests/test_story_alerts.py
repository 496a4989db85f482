"""Story-level alerts and spikes that explain themselves (issue #18, items 1, 2 and 4).

Against the real percolator, the real story assignment of the pipeline, a real local
webhook receiver and a real SMTP server (aiosmtpd): ten reprints of one story arriving in
two runs notify each story rule once and leave one alert listing ten outlets; a near copy
in a later run updates that alert and notifies nobody; a `per: article` rule still alerts
once per article. A copy that joins an alert while it is being delivered neither is lost
nor gets the alert sent twice, and an alert lost to a blocked alerts index is recreated
once with every copy. A spike alert names the word planted in the spike day's articles,
its largest story and its sources, on `mediamon alerts spikes` and in the messages.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.utils import format_datetime
from html import escape
from typing import Any

import pytest
from articles import new_article
from elasticsearch import Elasticsearch
from pytest_httpserver import HTTPServer
from test_alerts import invoke, story_alert
from test_alerts_delivery import (
    FAST,
    MailReceiver,
    WebhookReceiver,
    alert_docs,
    deliver,
    hook,
    mail,  # noqa: F401  (the fixture)
    smtp_settings,
)
from test_alerts_recovery import blocked
from werkzeug import Request, Response

from ingest import alerts, store
from ingest.alerts.notify import DeliverySettings, Target
from ingest.config import Settings
from ingest.models import Article, Feed, RunReport
from ingest.pipeline import run_feeds

pytestmark = pytest.mark.es

PUBLISHED = datetime(2021, 11, 16, 8, tzinfo=UTC)
WIRE = [  # the agency story every outlet reprints word for word
    "Poolse grenswachten hebben dinsdag bij de grensovergang Kuźnica traangas en een "
    "waterkanon ingezet tegen migranten die stenen gooiden, meldt het Poolse ministerie.",
    "Aan de Wit-Russische kant van de grens wachten volgens hulporganisaties nog altijd "
    "duizenden mensen in de bossen, bij temperaturen rond het vriespunt.",
    "De Europese Unie beschuldigt Loekasjenko ervan de migranten naar de grens te hebben "
    "gebracht als vergelding voor de sancties tegen zijn regering.",
    "Minsk ontkent dat. De Wit-Russische staatstelevisie toonde beelden van tenten, "
    "dekens en soldaten die brandhout uitdeelden aan gezinnen met kleine kinderen.",
    "De Poolse regering heeft de noodtoestand in de grensstreek verlengd; journalisten en "
    "hulpverleners mogen het gebied nog steeds niet in.",
    "In Brussel praten de ministers van Buitenlandse Zaken volgende week over nieuwe "
    "sancties tegen luchtvaartmaatschappijen die migranten naar Minsk vliegen.",
]
NEAR_COPY = [  # a regional paper's version: its own intro, one paragraph dropped, a cut
    "Ook in onze regio volgen vluchtelingenorganisaties de gebeurtenissen met zorg.",
    *WIRE[:4],
    WIRE[5].split(";")[0],
]
OUTLETS = 10


def article_page(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f'<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>{escape(title)}'
        f"</title></head><body><article><h1>{escape(title)}</h1>{body}</article></body></html>"
    )


def outlet_feed(server: HTTPServer, name: str, title: str, paragraphs: list[str]) -> Feed:
    """One outlet: a feed listing its one article, a reprint of the agency story."""
    path = f"/{name}/grens-kuznica"
    server.expect_request(path).respond_with_data(
        article_page(title, paragraphs), content_type="text/html; charset=utf-8"
    )
    item = (
        f"<item><title>{escape(title)}</title><link>{server.url_for(path)}</link>"
        f"<pubDate>{format_datetime(PUBLISHED)}</pubDate></item>"
    )
    channel = f"<channel><title>{name}</title>{item}</channel>"
    rss = f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'
    server.expect_request(f"/{name}/feed.xml").respond_with_data(
        rss, content_type="application/rss+xml"
    )
    return Feed(name, server.url_for(f"/{name}/feed.xml"), language="nl", source=name.title())


@pytest.fixture
def reprints(httpserver: HTTPServer) -> list[Feed]:
    """Ten outlets carrying the agency story, then an eleventh with a near copy."""
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    title = "Waterkanon bij Kuźnica"
    feeds = [outlet_feed(httpserver, f"krant{n:02d}", title, WIRE) for n in range(OUTLETS)]
    near = outlet_feed(httpserver, "streekblad", "Regio volgt grens met zorg", NEAR_COPY)
    return [*feeds, near]


def story_rules(
    httpserver: HTTPServer, story_hook: WebhookReceiver, article_hook: WebhookReceiver
) -> list[alerts.Rule]:
    query = "Kuźnica OR Loekasjenko"
    return [
        alerts.Rule("border", query, name="Grenscrisis", notify=(
            Target(type="webhook", key="slack", url=hook(httpserver, story_hook, "/story"),
                   format="slack"),
            Target(type="email", key="desk", to=("desk@krant.example",)),
        )),
        alerts.Rule("border-each", query, per="article", notify=(
            Target(type="webhook", key="json", url=hook(httpserver, article_hook, "/each")),
        )),
    ]  # fmt: skip


def run(feeds: list[Feed], settings: Settings, es: Elasticsearch, **kw: Any) -> RunReport:
    return run_feeds(feeds, settings, es, **kw)


def story_alert_doc(es: Elasticsearch, settings: Settings) -> dict[str, Any]:
    (doc,) = [d for d in alert_docs(es, settings).values() if d["rule_id"] == "border"]
    return doc


def test_ten_reprints_in_two_runs_alert_once_and_a_near_copy_joins_later(
    reprints: list[Feed], settings: Settings, es: Elasticsearch, httpserver: HTTPServer,
    mail: tuple[MailReceiver, int],  # noqa: F811
) -> None:  # fmt: skip
    story_hook, article_hook = WebhookReceiver(), WebhookReceiver()
    rules = story_rules(httpserver, story_hook, article_hook)
    delivery = DeliverySettings(smtp=smtp_settings(mail[1]), **FAST)
    half = OUTLETS // 2

    first = run(reprints[:half], settings, es, rules=rules, delivery=delivery)
    second = run(reprints[half:OUTLETS], settings, es, rules=rules, delivery=delivery)

    assert first.counts["stories.exact_copies"] == half - 1
    assert second.counts["stories.exact_copies"] == half  # copies of the first run's story
    # The story rule: one alert, raised by the first run (1 story + 5 per-article alerts);
    # the second run's copies join it (1) and raise only the per-article alerts.
    assert first.counts["alerts.matched"] == 1 + half and first.counts["alerts.notified"] == 6
    assert second.counts["alerts.matched"] == half and second.counts["alerts.joined"] == 1
    assert second.counts["alerts.notified"] == half
    assert len(story_hook.accepted) == 1 and len(mail[0].messages) == 1
    assert len(article_hook.accepted) == OUTLETS  # per: article, one each, as before
    assert len(set(article_hook.accepted_alert_ids())) == OUTLETS

    doc = story_alert_doc(es, settings)
    assert doc["per"] == "story" and doc["status"] == "sent" and doc["attempts"] == 1
    assert doc["story"]["articles"] == OUTLETS and doc["story"]["outlets"] == OUTLETS
    assert doc["story"]["sources"] == sorted(f"Krant{n:02d}" for n in range(OUTLETS))
    assert doc["article"]["source"] == "Krant00"  # the original, first
    # The message was sent when the first run's five outlets had it.
    (text,) = [body["text"] for body in story_hook.accepted]
    assert text.startswith("*Grenscrisis: Waterkanon bij Kuźnica (5 outlets)*"), text
    assert "also carried by Krant01, Krant02, Krant03, Krant04 (5 articles in all)" in text
    subject = str(make_header(decode_header(mail[0].messages[0]["Subject"])))
    assert subject == "[mediamon] Grenscrisis: Waterkanon bij Kuźnica (5 outlets)"

    # A later run: the regional near copy joins the story's alert; the story rule is quiet.
    third = run(reprints[OUTLETS:], settings, es, rules=rules, delivery=delivery)
    assert third.counts["stories.near_copies"] == 1
    assert third.counts["alerts.joined"] == 1 and third.counts["alerts.matched"] == 1
    doc = story_alert_doc(es, settings)
    assert doc["story"]["outlets"] == OUTLETS + 1 and doc["story"]["articles"] == OUTLETS + 1
    assert doc["story"]["latest"]["title"] == "Regio volgt grens met zorg"
    assert doc["story"]["latest"]["source"] == "Streekblad"
    assert doc["status"] == "sent" and doc["attempts"] == 1
    assert len(story_hook.accepted) == 1 and len(mail[0].messages) == 1
    assert len(article_hook.accepted) == OUTLETS + 1

    # Everything again (feed state lost, so every entry is looked up): nothing changes.
    names = store.IndexNames(settings.index_prefix)
    es.delete_by_query(index=names.feeds, query={"match_all": {}}, refresh=True)
    again = run(reprints, settings, es, rules=rules, delivery=delivery)
    assert again.counts["alerts.matched"] == 0 and again.counts["alerts.joined"] == 0
    assert story_alert_doc(es, settings)["story"]["articles"] == OUTLETS + 1
    assert len(story_hook.requests) == 1 and len(article_hook.requests) == OUTLETS + 1
    assert len(alert_docs(es, settings)) == 1 + OUTLETS + 1


def copy_of(doc_id: str, story_id: str, source: str) -> Article:
    return new_article(
        doc_id, PUBLISHED, title="Waterkanon bij Kuźnica", body=" ".join(WIRE),
        source=source, story_id=story_id, duplicate_of=None if doc_id == story_id else story_id,
    )  # fmt: skip


def record(es: Elasticsearch, names: store.IndexNames, batch: list[Article], run_id: str) -> Any:
    return alerts.record_hits(es, names, batch, alerts.percolate(es, names, batch), run_id)


def test_a_copy_joining_while_its_alert_is_sent_is_kept_and_not_sent_again(
    es: Elasticsearch, settings: Settings, httpserver: HTTPServer
) -> None:
    names = store.IndexNames(settings.index_prefix)
    joined: list[Any] = []

    def receive(request: Request) -> Response:
        if not joined:  # the next batch's copy is recorded while this message is in flight
            joined.append(record(es, names, [copy_of("b", "a", "Trouw")], "run-2"))
        return receiver(request)

    receiver = WebhookReceiver()
    httpserver.expect_request("/hook", method="POST").respond_with_handler(receive)
    target = Target(type="webhook", key="w", url=httpserver.url_for("/hook"))
    alerts.sync_rules(es, names, [alerts.Rule("border", "Kuźnica", notify=(target,))])
    assert record(es, names, [copy_of("a", "a", "NOS")], "run-1").created == 1
    # A short lease: were the delivery's outcome lost, the alert would be sent again below.
    delivery = DeliverySettings(lease=timedelta(seconds=4), **FAST)

    outcome, report = deliver(es, settings, delivery)

    assert joined and joined[0].joined == 1
    assert outcome.notified == 1 and not report.failures, report.failures
    doc = alert_docs(es, settings)[story_alert("border", "a")]
    assert doc["status"] == "sent" and doc["lease_owner"] is None
    assert doc["story"]["sources"] == ["NOS", "Trouw"] and doc["story"]["articles"] == 2
    later = datetime.now(UTC) + timedelta(seconds=5)
    while datetime.now(UTC) < later:  # past the lease
        pass
    again, _ = deliver(es, settings, delivery)
    assert again.notified == 0 and len(receiver.accepted) == 1


def test_a_story_alert_lost_to_a_blocked_index_is_recreated_once_with_every_copy(
    reprints: list[Feed], settings: Settings, es: Elasticsearch, httpserver: HTTPServer
) -> None:
    receiver = WebhookReceiver()
    target = Target(type="webhook", key="w", url=hook(httpserver, receiver), format="slack")
    names = store.IndexNames(settings.index_prefix)
    delivery = DeliverySettings(**FAST)
    alerts.sync_rules(es, names, [alerts.Rule("border", "Kuźnica", notify=(target,))])

    with blocked(es, names.alerts):
        first = run(reprints[:3], settings, es, delivery=delivery)
    assert first.failures["alerts:cluster_block_exception"] == 1  # one story, one alert
    assert alert_docs(es, settings) == {}

    second = run(reprints[:4], settings, es, delivery=delivery)  # and a fourth outlet
    assert second.counts["alerts.recovered"] == 1 and second.counts["alerts.joined"] == 1
    doc = story_alert_doc(es, settings)
    assert doc["story"]["articles"] == 4 and doc["story"]["outlets"] == 4
    assert doc["status"] == "sent"
    (body,) = receiver.accepted
    assert body["text"].startswith("*border: Waterkanon bij Kuźnica (4 outlets)*"), body
    third = run(reprints[:4], settings, es, delivery=delivery)
    assert third.counts["alerts.recovered"] == 0 and third.counts["alerts.already_recorded"] == 0
    assert story_alert_doc(es, settings)["story"]["articles"] == 4


# -- spikes that explain themselves ----------------------------------------------------------

PLACES = ["Kuźnica", "Bruzgi", "Białystok", "Hajnówka", "Sokółka", "Michałowo", "Grodno"]
PEOPLE = ["gezinnen", "jonge mannen", "Koerden", "Syriërs", "Afghanen", "vrijwilligers"]


def baseline_text(n: int) -> str:
    place, people = PLACES[n % len(PLACES)], PEOPLE[n % len(PEOPLE)]
    return (
        f"Bij {place} aan de grens wachten {people} al {n + 2} dagen. Hulpverleners brengen "
        f"soep en slaapzakken; de nacht was koud, zegt een vrijwilliger uit {place}."
    )


SPIKE_SENTENCES = [  # each names the water cannon; the other words vary from one to the next
    "Het waterkanon stond {hours} uur opgesteld bij {place}.",
    "Agenten richtten het waterkanon op {people}.",
    "Ooggetuigen zagen bij {place} een waterkanon en traangas.",
    "Bij {place} werd het waterkanon ingezet tegen {people}.",
    "Een waterkanon spoot urenlang op {people} bij {place}.",
]


def spike_text(n: int) -> str:
    values = {"hours": n + 1, "place": PLACES[n % len(PLACES)],
              "people": PEOPLE[(n + 3) % len(PEOPLE)]}  # fmt: skip
    first, second = (SPIKE_SENTENCES[(n + k) % len(SPIKE_SENTENCES)] for k in (0, 2))
    return f"{first.format(**values)} {second.format(**values)} Het gebeurde aan de grens."


def spike_corpus(now: datetime) -> list[Article]:
    """Two matches a day for 14 days; then nine on the last day, planted with "waterkanon",
    three of them one story carried by three outlets."""
    day = [
        new_article(f"old-{d}-{n}", now - timedelta(days=d, hours=3), title="Grens",
                    body=baseline_text(d * 2 + n), source=f"Krant{n}")
        for d in range(1, 15) for n in range(2)
    ]  # fmt: skip
    spike = [
        new_article(f"new-{n}", now - timedelta(hours=n + 1), title="Grens", story_id=f"new-{n}",
                    body=spike_text(n), source=["NOS", "Trouw", "NOS", "RTL", "NU", "Trouw"][n])
        for n in range(6)
    ]  # fmt: skip
    story = [
        new_article(f"wk-{n}", now - timedelta(hours=8) + timedelta(minutes=n),
                    title="Waterkanon ingezet", body=spike_text(20), source=source,
                    story_id="wk-0")
        for n, source in enumerate(["ANP", "Volkskrant", "Parool"])
    ]  # fmt: skip
    return day + spike + story


def test_a_spike_alert_names_what_changed_in_the_cli_and_the_messages(
    es: Elasticsearch, settings: Settings, httpserver: HTTPServer,
    mail: tuple[MailReceiver, int],  # noqa: F811
) -> None:  # fmt: skip
    names = store.IndexNames(settings.index_prefix)
    slack = WebhookReceiver()
    now = datetime.now(UTC)
    alerts.sync_rules(es, names, [alerts.Rule(
        "border", "grens", name="Grenscrisis", spike=alerts.Spike(factor=3, min_count=5),
        notify=(Target(type="webhook", key="slack", url=hook(httpserver, slack), format="slack"),
                Target(type="email", key="desk", to=("desk@krant.example",))),
    )])  # fmt: skip
    assert store.bulk_index(es, names, spike_corpus(now)).created == 28 + 9
    store.refresh(es, names)

    (check,) = alerts.check_spikes(es, names, now=now)

    assert check.spiking and check.alerted and check.last_day == 9 and check.daily_mean == 2.0
    assert check.explanation is not None
    terms = [t["term"] for t in check.explanation.terms]
    assert terms[0] == "waterkanon", terms
    assert not {"de", "het", "een", "op", "bij"} & set(terms), terms  # Dutch stopwords out
    largest = check.explanation.stories[0]
    assert (largest["story_id"], largest["outlets"], largest["articles"]) == ("wk-0", 3, 3)
    assert largest["title"] == "Waterkanon ingezet"
    sources = {s["source"]: s["count"] for s in check.explanation.sources}
    assert sources["NOS"] == 2 and set(sources) <= {"NOS", "Trouw", "RTL", "NU", "ANP",
                                                    "Volkskrant", "Parool"}  # fmt: skip

    outcome, _ = deliver(es, settings, DeliverySettings(smtp=smtp_settings(mail[1]), **FAST))
    assert outcome.notified == 1
    (body,) = slack.accepted
    assert "what stands out: waterkanon" in body["text"]
    assert "Waterkanon ingezet — ANP (3 outlets, 3 articles)" in body["text"]
    (message,) = mail[0].messages
    text = message.get_payload(decode=True).decode()
    assert "what stands out: waterkanon" in text and "top sources: NOS 2" in text

    # The CLI shows the same explanation (the day's alert exists: no second one).
    shown = json.loads(invoke(settings, "alerts", "spikes", "--json"))
    (found,) = shown["checks"]
    assert found["alerted"] is False and found["explanation"]["terms"][0]["term"] == "waterkanon"
    table = invoke(settings, "alerts", "spikes")
    assert "what stands out: waterkanon" in table and "3 outlets" in table
