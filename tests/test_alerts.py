"""Alert rules against a real Elasticsearch: the rules file, sync, percolation, spikes, CLI.

Rules are percolated by the real percolator against the real article mapping, so Dutch
stemming, language and source filters are what Elasticsearch does, not what a mock says.
Delivery to real receivers (HTTP, SMTP) is in test_alerts_delivery.py.
"""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from articles import new_article
from click.testing import CliRunner
from elasticsearch import Elasticsearch

from ingest import alerts, store
from ingest.alerts.notify import Target
from ingest.cli import cli
from ingest.config import Settings
from ingest.errors import ConfigError
from ingest.models import AlertHit, Article, alert_id, story_subject

NOW = datetime(2021, 11, 16, 12, tzinfo=UTC)
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BORDER = '"Poolse grens" OR "Polish border" OR Loekasjenko OR Lukashenko OR vluchteling'


def article(doc_id: str, title: str, body: str = "", **changes: object) -> Article:
    fields = {"source": "NOS", "feeds": ["nos"], "title": title, "body": body}
    return new_article(doc_id, NOW, **(fields | {"language_confidence": 0.99} | changes))


def write_rules(tmp_path: Path, text: str, name: str = "alerts.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def names_of(settings: Settings) -> store.IndexNames:
    return store.IndexNames(settings.index_prefix)


def story_alert(rule_id: str, story_id: str) -> str:
    """The id of a rule's alert about a story."""
    return alert_id(rule_id, story_subject(story_id))


def stored(es: Elasticsearch, names: store.IndexNames) -> dict[str, dict]:  # type: ignore[type-arg]
    es.indices.refresh(index=names.rules)
    hits = es.search(index=names.rules, size=100, query={"match_all": {}})["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


# -- the rules file (no Elasticsearch) -----------------------------------------------------


def test_the_example_rules_file_is_valid() -> None:
    rules = alerts.load_rules(EXAMPLES / "alerts.yaml")
    border = next(r for r in rules if r.id == "border-crisis")
    for name in ("Loekasjenko", "Lukashenko", "Łukaszenka", "Лукашенко", "vluchteling"):
        assert name in border.query  # the demo's six languages (and Dutch stemming)
    assert border.spike is not None and border.per == "story"  # the default: one per story
    assert all(t.type == "log" for r in rules for t in r.notify)  # the demo sends nothing out


def test_every_problem_in_a_rules_file_is_named_at_once(tmp_path: Path) -> None:
    path = write_rules(
        tmp_path,
        """
        rules:
          - id: fine
            query: grens
          - query: no id here
          - id: twice
            query: a
          - id: twice
            query: b
          - id: no-query
          - id: bad-language
            query: x
            languages: [dutch]
          - id: odd-key
            query: x
            colour: red
          - id: bad-target
            query: x
            notify:
              - type: pigeon
              - type: webhook
                url: ftp://example.org/hook
              - type: email
                to: not-an-address
          - id: literal-secret
            query: x
            notify:
              - type: webhook
                url: https://example.org/hook
                secret: hunter2-literal
          - id: reads-other-env
            query: x
            notify:
              - type: webhook
                url: https://example.org/${ES_PASSWORD}
          - id: bad-spike
            query: x
            spike: {factor: 0.5, min_count: 0}
          - id: bad-per
            query: x
            per: outlet
    """,
    )
    with pytest.raises(ConfigError) as caught:
        alerts.load_rules(path)
    message = str(caught.value)
    for expected in (
        "rule #2: missing id",
        "rule 'twice': duplicate id",
        "rule 'no-query': missing query",
        "rule 'bad-language': language 'dutch'",
        "rule 'odd-key': unknown key 'colour'",
        "rule 'bad-target': notify #1",
        "rule 'bad-target': notify #2: url is not an http(s) URL",
        "rule 'bad-target': notify #3: 'not-an-address' is not an e-mail address",
        "rule 'literal-secret': notify #1: secret must be a reference",
        "rule 'reads-other-env': notify #1: url refers to ${ES_PASSWORD}",
        "rule 'bad-spike': spike factor",
        "rule 'bad-spike': spike min_count",
        "rule 'bad-per': per must be one of story, article",
    ):
        assert expected in message, expected
    assert "'fine'" not in message
    assert "hunter2-literal" not in message


def test_a_rule_without_notify_logs_and_spike_true_takes_the_defaults(tmp_path: Path) -> None:
    path = write_rules(
        tmp_path,
        """
        rules:
          - {id: r, query: grens, spike: true}
    """,
    )
    (rule,) = alerts.load_rules(path)
    assert [t.type for t in rule.notify] == ["log"]
    assert rule.spike == alerts.Spike(factor=3.0, min_count=5)


def test_alert_ids_are_deterministic_per_rule_and_article() -> None:
    assert alert_id("r", "a") == alert_id("r", "a")
    assert len({alert_id("r", "a"), alert_id("r", "b"), alert_id("s", "a")}) == 3


# -- sync ----------------------------------------------------------------------------------

es_test = pytest.mark.es  # these need a real Elasticsearch


@es_test
def test_sync_writes_updates_and_removes_rules(
    es: Elasticsearch, settings: Settings, tmp_path: Path
) -> None:
    names = names_of(settings)
    first = write_rules(
        tmp_path,
        f"""
        rules:
          - {{id: border, query: '{BORDER}'}}
          - {{id: gone-later, query: grens}}
    """,
    )
    result = alerts.sync_rules_from(es, names, first)
    assert sorted(result.created) == ["border", "gone-later"] and not result.removed
    assert stored(es, names)["border"]["rule"]["query"] == BORDER
    # The stored percolator query is the search module's text query, restrictions as filters.
    assert stored(es, names)["border"]["query"]["bool"]["must"][0]["query_string"]["fields"]

    again = alerts.sync_rules_from(es, names, first)
    assert sorted(again.unchanged) == ["border", "gone-later"] and not again.created

    second = write_rules(tmp_path, """
        rules:
          - {id: border, query: vluchteling, languages: [nl]}
          - {id: new, query: Loekasjenko}
    """, "second.yaml")  # fmt: skip
    result = alerts.sync_rules_from(es, names, second)
    assert (result.created, result.updated, result.removed) == (["new"], ["border"], ["gone-later"])
    assert set(stored(es, names)) == {"border", "new"}
    assert alerts.sync_rules_file(es, names, second) == 2  # the Airflow maintenance hook


@es_test
def test_a_bad_rules_file_changes_nothing_and_names_each_bad_rule(
    es: Elasticsearch, settings: Settings, tmp_path: Path
) -> None:
    names = names_of(settings)
    good = write_rules(
        tmp_path,
        """
        rules:
          - {id: border, query: vluchteling}
          - {id: keep, query: grens}
    """,
    )
    alerts.sync_rules_from(es, names, good)
    before = stored(es, names)

    bad = write_rules(tmp_path, """
        rules:
          - {id: border, query: 'Loekasjenko OR vluchteling'}
          - {id: unparsable, query: 'vluchteling AND ('}
          - {id: unknown-field, query: 'colour:red OR grens'}
          - {id: wrong-type, query: 'word_count:many'}
          - {id: rule-field, query: 'rule.name:x'}
          - {id: old-field, query: 'title.nl:vluchteling'}
          - {query: 'no id'}
          - {id: dup, query: a}
          - {id: dup, query: b}
    """, "bad.yaml")  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        alerts.sync_rules_from(es, names, bad)
    message = str(caught.value)
    assert "nothing changed" in message
    assert "rule 'unparsable': query does not parse: Cannot parse" in message
    assert "rule 'unknown-field': unknown field colour" in message
    assert "rule 'wrong-type': field word_count cannot take this value" in message
    assert "rule 'rule-field': unknown field rule.name" in message
    assert (
        "rule 'old-field': unknown field title.nl (not an article field); since mapping "
        "version 4 it is text.nl.title" in message
    )
    assert "rule #7: missing id" in message
    assert "rule 'dup': duplicate id" in message
    assert "'border'" not in message and "'keep'" not in message
    assert stored(es, names) == before  # not one rule written, updated or removed

    with pytest.raises(ConfigError):  # the same verdicts through sync_rules (run --rules)
        alerts.sync_rules(es, names, [alerts.Rule("x", "vluchteling AND (")])
    assert stored(es, names) == before


# -- percolation ---------------------------------------------------------------------------


def sync(es: Elasticsearch, settings: Settings, *rules: alerts.Rule) -> store.IndexNames:
    names = names_of(settings)
    alerts.sync_rules(es, names, list(rules))
    return names


@es_test
def test_one_percolate_matches_a_batch_with_dutch_stemming_and_filters(
    es: Elasticsearch, settings: Settings
) -> None:
    names = sync(
        es,
        settings,
        alerts.Rule("border", BORDER),
        alerts.Rule("refugees-nl", "vluchteling", languages=("nl",)),
        alerts.Rule("refugees-en", "refugee", languages=("en",)),
        alerts.Rule("nos-only", "grens", sources=("NOS",)),
        alerts.Rule("tagged", "tags:border-crisis AND grens"),
        alerts.Rule("dutch-title", "text.nl.title:vluchteling"),  # a language field by name
        alerts.Rule("quake", "地震"),  # Japanese: the cjk analyzer's group
        alerts.Rule("border-pl", "granica"),  # Polish has no analyzer: the neutral group
    )
    batch = [
        article("nl-plural", "Honderden vluchtelingen bij de grens", "Zij wachten in de kou."),
        article("nl-phrase", "Spanning", "Militairen aan de Poolse grens.", source="RTL"),
        article("en", "Refugees stuck at the Polish border", "refugees", language="en"),
        article("de", "Flüchtlinge", "refugee camp", language="de", source="ORF"),
        article("tagged", "De grens", "grens", tags=["border-crisis"], source="RTL"),
        article("nothing", "Weerbericht", "Zon en regen.", source="RTL"),
        article("ja", "宮崎県で震度5弱の地震", "津波注意報", language="ja", source="Asahi"),
        article("pl", "Kryzys na granica", "Straż graniczna", language="pl", source="RP"),
    ]
    matches = alerts.percolate(es, names, batch)
    assert matches.by_article == {
        "nl-plural": ["border", "dutch-title", "nos-only", "refugees-nl"],  # ~ vluchtelingen
        "nl-phrase": ["border"],
        "en": ["border", "refugees-en"],  # "refugees" stemmed the English way
        "tagged": ["tagged"],
        "ja": ["quake"],
        "pl": ["border-pl"],
    }  # "de": English word, but the rule is for English articles only
    assert matches.rules["refugees-nl"].languages == ("nl",)
    assert alerts.percolate(es, names, []).by_article == {}

    # `alerts test` (a search over indexed articles) finds exactly what percolation found.
    for doc in batch:
        doc.rules = matches.by_article.get(doc.id, [])
    store.bulk_index(es, names, batch)
    store.refresh(es, names)
    for rule in alerts.stored_rules(es, names):
        total, hits = alerts.test_rule(es, names, rule, limit=20)
        expected = {a for a, rules in matches.by_article.items() if rule.id in rules}
        assert {h.id for h in hits} == expected and total == len(expected), rule.id


@es_test
def test_percolation_pages_through_many_matching_rules(
    es: Elasticsearch, settings: Settings
) -> None:
    names = sync(es, settings, *(alerts.Rule(f"r{i:02d}", "grens") for i in range(8)))
    batch = [article("a", "grens"), article("b", "niets")]
    matches = alerts.percolate(es, names, batch, page_size=3)
    assert matches.by_article == {"a": [f"r{i:02d}" for i in range(8)]}


@es_test
def test_hits_are_created_once_whatever_happens_again(
    es: Elasticsearch, settings: Settings
) -> None:
    names = sync(es, settings, alerts.Rule("border", BORDER), alerts.Rule("nl", "grens"))
    batch = [article("a", "Vluchtelingen aan de grens"), article("b", "Loekasjenko")]
    matches = alerts.percolate(es, names, batch)
    first = alerts.record_hits(es, names, batch, matches, "run-1", NOW)
    assert (first.created, first.existing) == (3, 0)
    # A retry of the batch, a re-run, or the same article reached through a second feed:
    again = alerts.record_hits(es, names, batch, alerts.percolate(es, names, batch), "run-2")
    assert (again.created, again.existing) == (0, 3)
    es.indices.refresh(index=names.alerts)
    docs = es.search(index=names.alerts, size=10)["hits"]["hits"]
    # Each article is a story of its own: one alert per (rule, story).
    assert {d["_id"] for d in docs} == {
        story_alert("border", "a"), story_alert("nl", "a"), story_alert("border", "b")
    }  # fmt: skip
    doc = es.get(index=names.alerts, id=story_alert("border", "a"))["_source"]
    assert doc["run_id"] == "run-1" and doc["status"] == "pending" and doc["attempts"] == 0
    assert doc["article"]["title"] == "Vluchtelingen aan de grens"


# -- spikes --------------------------------------------------------------------------------


@es_test
def test_a_volume_spike_alerts_once_a_day(es: Elasticsearch, settings: Settings) -> None:
    names = sync(
        es,
        settings,
        alerts.Rule("border", BORDER, spike=alerts.Spike(factor=3, min_count=5)),
        alerts.Rule("quiet", "Loekasjenko", spike=alerts.Spike(factor=3, min_count=5)),
        alerts.Rule("no-spike-asked", BORDER),
    )
    now = datetime(2021, 11, 20, 6, tzinfo=UTC)
    docs = [  # two a day for 14 days, then 9 in the last day
        article(f"old-{day}-{n}", "vluchtelingen", published_at=now - timedelta(days=day, hours=3))
        for day in range(1, 15)
        for n in range(2)
    ] + [article(f"new-{n}", "vluchtelingen", published_at=now - timedelta(hours=n + 1))
         for n in range(9)]  # fmt: skip
    docs.append(article("lukas", "Loekasjenko", published_at=now - timedelta(hours=2)))
    assert store.bulk_index(es, names, docs).created == len(docs)
    store.refresh(es, names)

    checks = {c.rule_id: c for c in alerts.check_spikes(es, names, now=now)}
    assert set(checks) == {"border", "quiet"}
    border = checks["border"]
    assert (border.last_day, border.daily_mean, border.spiking, border.alerted) == (
        10,
        2.0,
        True,
        True,
    )
    assert not checks["quiet"].spiking  # 1 is above 3 × 0, but below min_count
    spike = es.get(index=names.alerts, id=alert_id("border", "spike:2021-11-20"))["_source"]
    assert spike["kind"] == "spike" and spike["spike"]["last_day"] == 10

    later = {c.rule_id: c for c in alerts.check_spikes(es, names, now=now + timedelta(hours=1))}
    assert later["border"].spiking and not later["border"].alerted  # once a day


# -- CLI -----------------------------------------------------------------------------------


def invoke(settings: Settings, *args: str) -> str:
    result = CliRunner().invoke(
        cli, ["--es-url", settings.es_url, "--prefix", settings.index_prefix, *args]
    )
    assert result.exit_code == 0, result.output
    return result.output


@es_test
def test_cli_sync_list_test_and_history(
    es: Elasticsearch, settings: Settings, tmp_path: Path
) -> None:
    names = names_of(settings)
    rules = write_rules(
        tmp_path,
        f"""
        rules:
          - {{id: border, name: Grenscrisis, query: '{BORDER}', languages: [nl]}}
          - {{id: other, query: Kalifat}}
    """,
    )
    assert "2 rules synced: 2 new" in invoke(settings, "alerts", "sync", "--rules", str(rules))

    batch = [article("a", "Vluchtelingen aan de grens"), article("b", "Weerbericht")]
    matches = alerts.percolate(es, names, batch)
    for doc in batch:
        doc.rules = matches.by_article.get(doc.id, [])
    store.bulk_index(es, names, batch)
    alerts.record_hits(es, names, batch, matches, "run-1", NOW)
    store.refresh(es, names)

    listed = {r["id"]: r for r in json.loads(invoke(settings, "alerts", "list", "--json"))}
    assert listed["border"]["articles"] == 1 and listed["border"]["alerts"] == {"pending": 1}
    assert listed["border"]["languages"] == ["nl"] and listed["other"]["articles"] == 0
    assert "border" in invoke(settings, "alerts", "list")  # the table renders

    tested = json.loads(invoke(settings, "alerts", "test", "border", "--json"))
    assert tested["total"] == 1 and tested["hits"][0]["id"] == "a"
    since = json.loads(invoke(settings, "alerts", "test", "border", "--since", "1d", "--json"))
    assert since["total"] == 0  # published 2021-11-16
    draft = write_rules(tmp_path, "rules:\n  - {id: draft, query: Weerbericht}\n", "draft.yaml")
    from_file = invoke(settings, "alerts", "test", "draft", "--rules", str(draft), "--json")
    assert json.loads(from_file)["total"] == 1  # tried from the file, not synced
    assert "draft" not in stored(es, names)

    history = json.loads(invoke(settings, "alerts", "history", "--rule", "border", "--json"))
    assert [(h["rule_id"], h["article_id"], h["status"]) for h in history] == [
        ("border", "a", "pending")
    ]
    assert "pending" in invoke(settings, "alerts", "history")

    bad = write_rules(tmp_path, "rules:\n  - {id: x, query: 'a AND ('}\n", "bad.yaml")
    result = CliRunner().invoke(
        cli, ["--es-url", settings.es_url, "--prefix", settings.index_prefix,
              "alerts", "sync", "--rules", str(bad)],
    )  # fmt: skip
    assert result.exit_code == 1 and "rule 'x': query does not parse" in result.output
    missing = CliRunner().invoke(
        cli, ["--es-url", settings.es_url, "--prefix", settings.index_prefix,
              "alerts", "test", "nope"],
    )  # fmt: skip
    assert missing.exit_code == 1 and "no rule 'nope'" in missing.output


@es_test
def test_cli_spikes_and_retry(es: Elasticsearch, settings: Settings) -> None:
    log = Target(type="log", key="log")
    names = sync(
        es, settings, alerts.Rule("border", BORDER, notify=(log,), spike=alerts.Spike(2, 1))
    )
    store.bulk_index(es, names, [article("a", "vluchtelingen", published_at=datetime.now(UTC))])
    store.refresh(es, names)
    out = json.loads(invoke(settings, "alerts", "spikes", "--json"))
    assert out["checks"][0]["alerted"] is True
    assert out["counts"]["alerts.notified"] == 1  # the rule's default target: log
    failed = AlertHit(
        rule_id="border", rule_name="b", subject="x", kind="match", created_at=NOW,
        run_id="r", targets=[], status="failed",
        deliveries={"log": {"status": "failed", "attempts": 1}},
    )  # fmt: skip
    es.index(index=names.alerts, id=failed.id, document=failed.to_document(), refresh=True)
    assert "1 failed alerts are pending again" in invoke(settings, "alerts", "retry")
    doc = es.get(index=names.alerts, id=failed.id)["_source"]
    assert doc["status"] == "pending" and doc["targets"] == ["log"]


@es_test
def test_percolation_takes_in_article_fields_added_after_the_rules_were_synced(
    es: Elasticsearch, settings: Settings
) -> None:
    names = sync(es, settings, alerts.Rule("r", "grens"))
    # A rules index from before `word_count` was an article field (strict mapping):
    index = names.rules
    body = store.load_template("rules", names)["template"]
    del body["mappings"]["properties"]["word_count"]
    rule_doc = es.get(index=index, id="r")["_source"]
    es.indices.delete(index=index)
    es.indices.create(index=index, settings=body["settings"], mappings=body["mappings"])
    es.index(index=index, id="r", document=rule_doc, refresh=True)

    matches = alerts.percolate(es, names, [article("a", "grens", word_count=1)])
    assert matches.by_article == {"a": ["r"]}
    assert "word_count" in es.indices.get_mapping(index=index)[index]["mappings"]["properties"]
