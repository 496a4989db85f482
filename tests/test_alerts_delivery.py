"""Alert delivery to real receivers: a local webhook (HTTP) server and a local SMTP server.

End to end through the real pipeline and the real percolator: every matching article alerts
once, a receiver that fails and then recovers gets each alert exactly once, nothing is lost
while it is down, and no credential appears in alert documents, run reports or logs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any, ClassVar

import corpus_pages
import pytest
from elasticsearch import Elasticsearch
from pytest_httpserver import HTTPServer
from test_alerts import BORDER, article, story_alert, write_rules
from werkzeug import Request, Response

from ingest import alerts, store
from ingest.alerts.notify import DeliverySettings, Notifier, SmtpSettings, Target, redact
from ingest.config import Settings
from ingest.fetch.client import HttpClient
from ingest.models import Feed, RunReport
from ingest.pipeline import run_feeds

pytestmark = pytest.mark.es

WEBHOOK_SECRET = "wh-secret-7f3a9c"
SMTP_PASSWORD = "smtp-pass-d41b2e"
SEED_TITLE = corpus_pages.title(corpus_pages.DUTCH_BORDER)
FAST = {"attempts": 2, "backoff": 0.01, "max_backoff": 0.05}


# -- receivers -----------------------------------------------------------------------------


class WebhookReceiver:
    """A webhook endpoint that answers `status` to the first `fail_first` requests."""

    def __init__(self, fail_first: int = 0, status: int = 500, delay: float = 0.0) -> None:
        self.fail_first, self.status, self.delay = fail_first, status, delay
        self.requests: list[tuple[dict[str, str], Any]] = []
        self.accepted: list[Any] = []  # bodies answered 200: what the owner really received
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        time.sleep(self.delay)
        with self.lock:
            self.requests.append((dict(request.headers), request.get_json()))
            if len(self.requests) <= self.fail_first:
                return Response("down for maintenance", status=self.status)
            self.accepted.append(request.get_json())
        return Response("ok")

    def accepted_alert_ids(self) -> Counter[str]:
        return Counter(a["id"] for body in self.accepted for a in body.get("alerts", []))


def hook(server: HTTPServer, receiver: WebhookReceiver, path: str = "/hook") -> str:
    server.expect_request(path, method="POST").respond_with_handler(receiver)
    return server.url_for(path)


@dataclass
class MailReceiver:
    """An aiosmtpd handler: answers 451 (try later) to the first `fail_first` messages."""

    fail_first: int = 0
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)
    calls: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.calls += 1
        if self.calls <= self.fail_first:
            return "451 4.3.0 Mailbox busy, try again later"
        self.messages.append(message_from_bytes(envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = isinstance(data, LoginPassword) and data.password == SMTP_PASSWORD.encode()
        if ok:
            self.logins.append((data.login, data.password))
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mail() -> Iterator[tuple[MailReceiver, int]]:
    from aiosmtpd.controller import Controller

    receiver = MailReceiver()
    port = free_port()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # aiosmtpd warns about AUTH without TLS: loopback test
        controller = Controller(
            receiver, hostname="127.0.0.1", port=port, authenticator=receiver.authenticate,
            auth_require_tls=False,
        )  # fmt: skip
        controller.start()
    yield receiver, port
    controller.stop()


def smtp_settings(port: int, password: str = SMTP_PASSWORD) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, username="mediamon", password=password,
                        sender="alerts@mediamon.example", security="none", timeout=5)  # fmt: skip


# -- a news site for the pipeline ------------------------------------------------------------


def page(title: str, paragraphs: list[str], lang: str) -> str:
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    head = f'<head><meta charset="utf-8"><title>{escape(title)}</title></head>'
    article = f"<article><h1>{escape(title)}</h1>{body}</article>"
    return f'<!doctype html><html lang="{lang}">{head}<body>{article}</body></html>'


def rss(server: HTTPServer, items: list[tuple[str, str, str]], etag: str) -> Any:
    rows = "".join(
        f"<item><title>{escape(t)}</title><link>{server.url_for(path)}</link>"
        f"<description>{escape(summary)}</description>"
        f"<pubDate>{format_datetime(datetime(2021, 11, 16, 8, tzinfo=UTC))}</pubDate></item>"
        for t, path, summary in items
    )
    xml = f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{rows}</channel></rss>'

    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(xml, content_type="application/rss+xml", headers={"ETag": etag})

    return handler


@pytest.fixture
def site(httpserver: HTTPServer) -> list[Feed]:
    s = httpserver
    s.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    pages = {
        "/nl/grens": page(SEED_TITLE, corpus_pages.paragraphs(corpus_pages.DUTCH_BORDER), "nl"),
        "/en/border": page("Migrants stuck at the Polish border", [
            "Thousands of migrants are stuck in freezing forests at the Polish border with "
            "Belarus, where Lukashenko's government is accused of flying them in.",
        ] * 6, "en"),
        "/en/weather": page("Mild weather ahead", [
            "A mild and wet week is ahead, forecasters said on Tuesday, with rain in the west.",
        ] * 6, "en"),
    }  # fmt: skip
    for path, html in pages.items():
        s.expect_request(path).respond_with_data(html, content_type="text/html; charset=utf-8")
    nl = rss(s, [("Crisis aan de Poolse grens", "/nl/grens", "Vluchtelingen in de kou")], '"nl1"')
    en = rss(s, [
        ("Migrants stuck at the Polish border", "/en/border", "Migrants in the cold"),
        ("Mild weather ahead", "/en/weather", "Rain in the west"),
        ("Crisis aan de Poolse grens", "/nl/grens", "Vluchtelingen in de kou"),  # also in nl
    ], '"en1"')  # fmt: skip
    s.expect_request("/feeds/nl.xml").respond_with_handler(nl)
    s.expect_request("/feeds/en.xml").respond_with_handler(en)
    return [Feed("nl", s.url_for("/feeds/nl.xml"), language="nl", source="NOS"),
            Feed("en", s.url_for("/feeds/en.xml"), source="Wire")]  # fmt: skip


def run(feeds: list[Feed], settings: Settings, es: Elasticsearch, **kw: Any) -> RunReport:
    return run_feeds(feeds, settings, es, **kw)


def alert_docs(es: Elasticsearch, settings: Settings) -> dict[str, dict[str, Any]]:
    names = store.IndexNames(settings.index_prefix)
    es.indices.refresh(index=names.alerts)
    hits = es.search(index=names.alerts, size=100)["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


def articles_by_path(es: Elasticsearch, settings: Settings) -> dict[str, dict[str, Any]]:
    names = store.IndexNames(settings.index_prefix)
    store.refresh(es, names)
    hits = es.search(index=names.articles, size=100)["hits"]["hits"]
    return {"/" + h["_source"]["url"].split("/", 3)[3]: h["_source"] for h in hits}


# -- end to end ----------------------------------------------------------------------------


def test_every_match_alerts_once_through_the_pipeline(
    site: list[Feed], settings: Settings, es: Elasticsearch, httpserver: HTTPServer,
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    receiver, digest = WebhookReceiver(), WebhookReceiver()
    rules = alerts.load_rules(write_rules(tmp_path, f"""
        rules:
          - id: border-crisis
            query: '{BORDER}'
            tags: [border]
            notify:
              - type: webhook
                url: {hook(httpserver, receiver)}
                secret: ${{MEDIAMON_SECRET_HOOK}}
          - id: refugees-nl
            query: vluchteling
            languages: [nl]
            notify: [{{type: webhook, url: '{hook(httpserver, digest, "/digest")}', digest: true}}]
          - id: weather-from-nos
            query: weather OR regen
            sources: [NOS]
    """))  # fmt: skip
    delivery = DeliverySettings(secrets={"MEDIAMON_SECRET_HOOK": WEBHOOK_SECRET}, **FAST)

    report = run(site, settings, es, rules=rules, delivery=delivery)

    by_path = articles_by_path(es, settings)
    assert by_path["/nl/grens"]["rules"] == ["border-crisis", "refugees-nl"]  # stemmed, nl only
    assert by_path["/en/border"]["rules"] == ["border-crisis"]
    assert by_path["/en/weather"]["rules"] == []  # weather matches, but not from NOS
    assert report.counts["alerts.matched"] == 3 and report.counts["alerts.notified"] == 3
    assert report.counts["alerts.pending"] == 0
    assert not [reason for reason in report.failures if reason.startswith("notify:")]

    # One message per alert for the plain webhook; the two-feed article alerted once.
    assert sorted(receiver.accepted_alert_ids().values()) == [1, 1]
    titles = sorted(body["alerts"][0]["article"]["title"] for body in receiver.accepted)
    assert titles[0].startswith("Migrants") and "grens" in titles[1].lower()
    headers, body = receiver.requests[0]
    assert headers["X-Mediamon-Secret"] == WEBHOOK_SECRET
    assert body["rule"] == {"id": "border-crisis", "name": "border-crisis", "tags": ["border"]}
    assert headers["Idempotency-Key"]
    assert [b["digest"] for b in digest.accepted] == [True]

    docs = alert_docs(es, settings)
    doc = docs[story_alert("border-crisis", _id_of(es, settings, "/en/border"))]
    assert doc["status"] == "sent" and doc["attempts"] == 1 and doc["sent_at"]
    assert doc["targets"] == []
    for text in (json.dumps(docs), json.dumps(report.to_document()), caplog.text):
        assert WEBHOOK_SECRET not in text

    # Again: the feeds answer 304; and with their state lost the entries are known.
    again = run(site, settings, es, rules=rules, delivery=delivery)
    names = store.IndexNames(settings.index_prefix)
    es.delete_by_query(index=names.feeds, query={"match_all": {}}, refresh=True)
    third = run(site, settings, es, rules=rules, delivery=delivery)
    for r in (again, third):
        assert r.counts["alerts.matched"] == 0 and r.counts["alerts.notified"] == 0
    assert len(receiver.requests) == 2 and len(digest.requests) == 1
    assert len(alert_docs(es, settings)) == 3


def _id_of(es: Elasticsearch, settings: Settings, path: str) -> str:
    names = store.IndexNames(settings.index_prefix)
    hits = es.search(index=names.articles, size=100)["hits"]["hits"]
    return next(h["_id"] for h in hits if h["_source"]["url"].endswith(path))


def test_a_receiver_that_fails_then_recovers_gets_each_alert_exactly_once(
    site: list[Feed], settings: Settings, es: Elasticsearch, httpserver: HTTPServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    receiver = WebhookReceiver(fail_first=3)  # 2 tries per run: down for one run and a bit
    rules = alerts.load_rules(write_rules(tmp_path, f"""
        rules:
          - id: border-crisis
            query: '{BORDER}'
            notify: [{{type: webhook, url: '{hook(httpserver, receiver)}'}}]
    """))  # fmt: skip
    delivery = DeliverySettings(**FAST)

    first = run(site, settings, es, rules=rules, delivery=delivery)
    assert first.counts["alerts.matched"] == 2 and first.counts["alerts.notified"] == 0
    assert first.counts["alerts.pending"] == 2
    assert first.failures["notify:http_500"] == 2
    # The target failed twice for the first alert; the second was not tried against a dead
    # receiver in the same run.
    assert len(receiver.requests) == 2 and not receiver.accepted
    pending = alert_docs(es, settings)
    assert {d["status"] for d in pending.values()} == {"pending"}
    assert all("http_500" in d["last_error"] for d in pending.values())
    assert all(str(httpserver.port) not in d["last_error"] or "/hook" not in d["last_error"]
               for d in pending.values())  # fmt: skip

    second = run(site, settings, es, rules=rules, delivery=delivery)  # nothing new to ingest
    assert second.counts["alerts.matched"] == 0
    assert second.counts["alerts.notified"] == 2 and second.counts["alerts.pending"] == 0
    third = run(site, settings, es, rules=rules, delivery=delivery)
    assert third.counts["alerts.notified"] == 0

    ids = receiver.accepted_alert_ids()
    assert set(ids) == set(alert_docs(es, settings)) and set(ids.values()) == {1}
    docs = alert_docs(es, settings)
    assert {d["status"] for d in docs.values()} == {"sent"}
    assert sorted(d["attempts"] for d in docs.values()) == [2, 2]
    stored = store.IndexNames(settings.index_prefix)
    runs = es.get(index=stored.runs, id=first.run_id)["_source"]
    assert runs["counts"]["alerts.pending"] == 2 and runs["failures"]["notify:http_500"] == 2


def test_email_is_sent_through_smtp_and_retried_after_a_refusal(
    site: list[Feed], settings: Settings, es: Elasticsearch, tmp_path: Path,
    mail: tuple[MailReceiver, int], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    receiver, port = mail
    receiver.fail_first = 2  # 451 twice: the first run gives up on it, the next one sends
    rules = alerts.load_rules(write_rules(tmp_path, f"""
        rules:
          - id: border-crisis
            name: Grenscrisis
            query: '{BORDER}'
            notify: [{{type: email, to: [desk@krant.example], digest: true}}]
    """))  # fmt: skip
    delivery = DeliverySettings(smtp=smtp_settings(port), **FAST)

    first = run(site, settings, es, rules=rules, delivery=delivery)
    assert first.counts["alerts.pending"] == 2 and first.failures["notify:smtp_451"] == 2
    assert not receiver.messages
    second = run(site, settings, es, rules=rules, delivery=delivery)
    assert second.counts["alerts.notified"] == 2

    (message,) = receiver.messages  # a digest: one message for both articles
    assert receiver.envelopes == [("alerts@mediamon.example", ["desk@krant.example"])]
    assert message["Subject"] == "[mediamon] Grenscrisis: 2 new stories"
    text = message.get_payload(decode=True).decode()
    assert "Migrants stuck at the Polish border" in text and "/nl/grens" in text
    assert set(receiver.logins) == {(b"mediamon", SMTP_PASSWORD.encode())}  # logged in each time
    run(site, settings, es, rules=rules, delivery=delivery)
    assert len(receiver.messages) == 1  # sent once, never again

    names = store.IndexNames(settings.index_prefix)
    reports = es.search(index=names.runs, size=20)["hits"]["hits"]
    for text in (json.dumps(alert_docs(es, settings)), json.dumps(reports), caplog.text):
        assert SMTP_PASSWORD not in text


def test_a_wrong_smtp_password_fails_the_alert_without_revealing_it(
    es: Elasticsearch, settings: Settings, mail: tuple[MailReceiver, int]
) -> None:
    _, port = mail
    names = pending_alerts(es, settings, Target(type="email", key="desk", to=("a@b.example",)))
    wrong = "not-the-password-9c1d"
    outcome, report = deliver(
        es, settings, DeliverySettings(smtp=smtp_settings(port, wrong), **FAST)
    )
    assert outcome.failed == 2 and report.failures["notify:smtp_auth"] == 2
    docs = alert_docs(es, settings)
    assert {d["status"] for d in docs.values()} == {"failed"}
    assert all(d["deliveries"]["desk"]["status"] == "failed" for d in docs.values())
    assert wrong not in json.dumps(docs) and wrong not in json.dumps(report.to_document())
    # Fixed: requeue, and the next delivery sends them.
    assert alerts.requeue_failed(es, names) == 2
    outcome, _ = deliver(es, settings, DeliverySettings(smtp=smtp_settings(port), **FAST))
    assert outcome.notified == 2 and len(mail[0].messages) == 2


# -- delivery on its own ---------------------------------------------------------------------


def pending_alerts(
    es: Elasticsearch, settings: Settings, *targets: Target, rule_id: str = "border"
) -> store.IndexNames:
    """Two pending alerts of one rule notifying `targets`."""
    names = store.IndexNames(settings.index_prefix)
    alerts.sync_rules(es, names, [alerts.Rule(rule_id, BORDER, notify=targets, tags=("t",))])
    batch = [article("a", "Vluchtelingen aan de grens", summary="In de kou"),
             article("b", "Loekasjenko dreigt", body="Loekasjenko dreigt met gas.")]  # fmt: skip
    alerts.record_hits(es, names, batch, alerts.percolate(es, names, batch), "run-0")
    return names


def deliver(
    es: Elasticsearch, settings: Settings, delivery: DeliverySettings, owner: str = "test"
) -> tuple[alerts.DeliveryOutcome, RunReport]:
    report = RunReport(run_id=owner, started_at=datetime.now(UTC))

    async def go() -> alerts.DeliveryOutcome:
        async with HttpClient(settings.fetch, settings.egress_allow) as http:
            notifier = Notifier(http, delivery, settings.egress_allow)
            names = store.IndexNames(settings.index_prefix)
            return await alerts.deliver_pending(es, names, notifier, report, owner=owner)

    return asyncio.run(go()), report


def test_a_digest_is_one_message_per_rule_and_slack_gets_its_format(
    es: Elasticsearch, settings: Settings, httpserver: HTTPServer
) -> None:
    digest, slack = WebhookReceiver(), WebhookReceiver()
    pending_alerts(
        es, settings,
        Target(type="webhook", key="digest", url=hook(httpserver, digest, "/d"), digest=True),
        Target(type="webhook", key="slack", url=hook(httpserver, slack, "/s"), format="slack"),
    )  # fmt: skip
    outcome, _ = deliver(es, settings, DeliverySettings(**FAST))
    assert outcome.notified == 2
    (body,) = digest.accepted
    assert body["text"] == "border: 2 new stories" and len(body["alerts"]) == 2
    assert {a["article"]["title"] for a in body["alerts"]} == {
        "Vluchtelingen aan de grens", "Loekasjenko dreigt"
    }  # fmt: skip
    assert len(slack.accepted) == 2  # not a digest: one message per alert
    texts = sorted(b["text"] for b in slack.accepted)
    assert texts[0].startswith("*border: Loekasjenko dreigt*\n• <https://nieuws.example/b|")
    assert set(slack.accepted[0]) == {"text", "unfurl_links"}


def test_one_target_failing_does_not_resend_to_the_other(
    es: Elasticsearch, settings: Settings, httpserver: HTTPServer
) -> None:
    good, bad = WebhookReceiver(), WebhookReceiver(fail_first=2)
    pending_alerts(
        es, settings,
        Target(type="webhook", key="good", url=hook(httpserver, good, "/good")),
        Target(type="webhook", key="bad", url=hook(httpserver, bad, "/bad")),
    )  # fmt: skip
    first, _ = deliver(es, settings, DeliverySettings(**FAST))
    assert (first.notified, first.pending) == (0, 2)
    docs = alert_docs(es, settings)
    assert all(d["targets"] == ["bad"] for d in docs.values())
    assert all(d["deliveries"]["good"]["status"] == "sent" for d in docs.values())
    second, _ = deliver(es, settings, DeliverySettings(**FAST))
    assert second.notified == 2
    assert set(good.accepted_alert_ids().values()) == {1} and len(good.accepted) == 2
    assert set(bad.accepted_alert_ids().values()) == {1} and len(bad.accepted) == 2


def test_parallel_runs_deliver_each_alert_once(
    es: Elasticsearch, settings: Settings, httpserver: HTTPServer
) -> None:
    receiver = WebhookReceiver(delay=0.3)  # slow: both runs are delivering at the same time
    pending_alerts(es, settings, Target(type="webhook", key="w", url=hook(httpserver, receiver)))
    results: list[alerts.DeliveryOutcome] = []
    threads = [
        threading.Thread(target=lambda o=owner: results.append(  # type: ignore[misc]
            deliver(es, settings, DeliverySettings(**FAST), owner=o)[0]))
        for owner in ("batch-1", "batch-2", "batch-3")
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.notified for r in results) == 2
    assert receiver.accepted_alert_ids() == Counter({story_alert("border", "a"): 1,
                                                     story_alert("border", "b"): 1})  # fmt: skip


def test_webhook_and_smtp_hosts_go_through_the_egress_guard(
    es: Elasticsearch, settings: Settings, httpserver: HTTPServer, mail: tuple[MailReceiver, int]
) -> None:
    receiver = WebhookReceiver()
    pending_alerts(
        es, settings,
        Target(type="webhook", key="w", url=hook(httpserver, receiver)),
        Target(type="email", key="m", to=("desk@krant.example",)),
    )  # fmt: skip
    guarded = replace(settings, egress_allow=())  # loopback no longer allowed
    outcome, report = deliver(es, guarded, DeliverySettings(smtp=smtp_settings(mail[1]), **FAST))
    assert outcome.failed == 2 and report.failures["notify:egress_refused"] == 4
    assert not receiver.requests and not mail[0].messages and mail[0].calls == 0
    docs = alert_docs(es, settings)
    assert {d["status"] for d in docs.values()} == {"failed"}


def test_unresolved_secrets_and_missing_smtp_keep_alerts_pending(
    es: Elasticsearch, settings: Settings, httpserver: HTTPServer
) -> None:
    receiver = WebhookReceiver()
    url = httpserver.url_for("/") + "${MEDIAMON_SECRET_PATH}"
    hook(httpserver, receiver, "/hooks/T0/B0/xyzzy-token")
    pending_alerts(
        es, settings,
        Target(type="webhook", key="w", url=url),
        Target(type="email", key="m", to=("desk@krant.example",)),
    )  # fmt: skip
    outcome, report = deliver(es, settings, DeliverySettings(**FAST))
    assert outcome.pending == 2
    assert report.failures["notify:secret_missing"] == 2
    assert report.failures["notify:smtp_not_configured"] == 2
    secrets = {"MEDIAMON_SECRET_PATH": "hooks/T0/B0/xyzzy-token"}
    outcome, report = deliver(es, settings, DeliverySettings(secrets=secrets, **FAST))
    assert len(receiver.accepted) == 2 and outcome.pending == 2  # e-mail still waits
    docs = json.dumps(alert_docs(es, settings))
    assert "xyzzy-token" not in docs and "${MEDIAMON_SECRET_PATH}" not in docs


def test_a_removed_rule_fails_its_pending_alerts(es: Elasticsearch, settings: Settings) -> None:
    names = pending_alerts(es, settings, Target(type="log", key="log"))
    alerts.sync_rules(es, names, [])
    outcome, report = deliver(es, settings, DeliverySettings(**FAST))
    assert outcome.failed == 2 and report.failures["notify:rule_removed"] == 2


def test_redaction_removes_secrets_and_url_paths() -> None:
    text = "http_500 at https://hooks.slack.com/services/T0/B0/abc and token s3cr3t-value"
    assert redact(text, ["s3cr3t-value"]) == (
        "http_500 at https://hooks.slack.com/*** and token ***"
    )
    target = Target(type="webhook", key="w", url="https://hooks.slack.com/services/T0/B0/abc")
    assert target.label() == "webhook w (hooks.slack.com)"
    assert "abc" not in target.label()
    assert Target(type="webhook", key="w", url="${MEDIAMON_SECRET_X}").label() == "webhook w"
    assert SMTP_PASSWORD not in repr(smtp_settings(25))
    assert WEBHOOK_SECRET not in repr(DeliverySettings(secrets={"X": WEBHOOK_SECRET}))


def test_smtp_and_secrets_from_the_environment() -> None:
    env = {
        "MEDIAMON_SMTP_HOST": "smtp.krant.example", "MEDIAMON_SMTP_SECURITY": "ssl",
        "MEDIAMON_SMTP_USERNAME": "u", "MEDIAMON_SMTP_PASSWORD": "p", "MEDIAMON_SMTP_FROM": "a@b.c",
        "MEDIAMON_SECRET_HOOK": "h", "ES_PASSWORD": "never-a-secret-reference",
    }  # fmt: skip
    delivery = DeliverySettings.from_env(env)
    assert delivery.smtp == SmtpSettings("smtp.krant.example", 465, "u", "p", "a@b.c", "ssl")
    assert dict(delivery.secrets) == {"MEDIAMON_SECRET_HOOK": "h"}
    assert DeliverySettings.from_env({}).smtp is None

    class Connection:
        host, port, login, password = "mail.example", 2525, "u", "p"
        extra_dejson: ClassVar[dict[str, str]] = {"from": "x@y.z", "security": "none"}

    smtp = SmtpSettings.from_connection(Connection())
    assert (smtp.host, smtp.port, smtp.sender, smtp.security) == (
        "mail.example",
        2525,
        "x@y.z",
        "none",
    )
