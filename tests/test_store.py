"""The Elasticsearch layer against a real Elasticsearch (mappings, analyzers, bulk errors)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from articles import new_article
from click.testing import CliRunner
from elasticsearch import Elasticsearch

from ingest import store
from ingest.cli import cli
from ingest.config import RolloverLimits, Settings
from ingest.models import Article, FeedState, RunReport

pytestmark = pytest.mark.es
NOW = datetime(2026, 1, 2, tzinfo=UTC)


def article(doc_id: str, body: str, published: datetime, **changes: object) -> Article:
    fields = {"source": "NOS", "feeds": ["nos"], "title": f"Titel {doc_id}", "body": body}
    fields |= {"language_confidence": 0.99, "published_at": published}
    return new_article(doc_id, NOW, "nos.nl", **(fields | changes))


def names_of(settings: Settings) -> store.IndexNames:
    return store.IndexNames(settings.index_prefix)


def test_templates_install_idempotently(es: Elasticsearch, settings: Settings) -> None:
    names = names_of(settings)
    assert store.install_templates(es, names) == store.install_templates(es, names)
    template = es.indices.get_index_template(name=f"{names.prefix}-articles")
    patterns = template["index_templates"][0]["index_template"]["index_patterns"]
    assert patterns == [f"{names.prefix}-articles-*", f"{names.prefix}-migrated-articles"]
    assert store.article_groups()[-1] == "neutral" and len(store.article_groups()) == 16
    assert store.backing_indices(es, names) == [names.first_article_index]


def test_every_language_shares_one_index_each_analysed_its_own_way(
    es: Elasticsearch, settings: Settings
) -> None:
    """An article's text is analysed the neutral way and by its own language's analyzer only
    (the costly part of indexing), in one index for all languages; a search over
    `text.*.body` still stems each in its language."""
    names = names_of(settings)
    articles = [
        article("nl", "Duizenden vluchtelingen bij de grens.", NOW),
        article("de", "Tausende Flüchtlinge an der Grenze.", NOW, language="de"),
        article("ja", "国境に数千人の難民が集まった。", NOW, language="ja"),
        article("pl", "Tysiące uchodźców na granicy.", NOW, language="pl"),
    ]
    outcome = store.bulk_index(es, names, articles)
    assert outcome.created == 4
    assert set(outcome.written.values()) == {names.first_article_index}
    store.refresh(es, names)
    assert store.find_known(es, names, ["nl", "de", "ja", "pl"]) == dict.fromkeys(
        ["nl", "de", "ja", "pl"], names.first_article_index
    )
    sources = {
        hit["_id"]: hit["_source"]["text"]
        for hit in es.search(index=names.articles, size=10)["hits"]["hits"]
    }
    assert {doc_id: set(text) for doc_id, text in sources.items()} == {
        "nl": {"nl"}, "de": {"de"}, "ja": {"cjk"}, "pl": set(),
    }  # fmt: skip
    assert sources["de"]["de"]["body"] == "Tausende Flüchtlinge an der Grenze."

    def found(query: str) -> set[str]:
        response = es.search(
            index=names.articles,
            query={"query_string": {"query": query, "fields": ["body", "text.*.body"]}},
        )
        return {hit["_id"] for hit in response["hits"]["hits"]}

    assert found("vluchteling") == {"nl"}  # Dutch stemming, for the Dutch article only
    assert found("Flüchtling") == {"de"}
    assert found("難民") == {"ja"}
    assert found("granicy") == {"pl"}
    # Only the article's own language's fields exist in its index: nothing analysed twice.
    german = es.search(index=names.articles, query={"exists": {"field": "text.de.body"}})
    assert [hit["_id"] for hit in german["hits"]["hits"]] == ["de"]


def test_a_publication_date_creates_no_index(es: Elasticsearch, settings: Settings) -> None:
    """How many article indices exist depends on how much is stored, not on its dates."""
    names = names_of(settings)
    dates = [
        datetime(year, month, 1, tzinfo=UTC) for year in (1991, 2008, 2026) for month in (1, 7)
    ]
    outcome = store.bulk_index(
        es, names, [article(f"a{i}", "tekst", date) for i, date in enumerate(dates)]
    )
    assert outcome.created == len(dates) and not outcome.failures
    assert set(es.indices.get(index=f"{names.articles}-*").body) == {names.first_article_index}
    store.refresh(es, names)
    assert set(store.find_known(es, names, ["a0", "a5", "zz"])) == {"a0", "a5"}


def test_rollover_starts_the_next_index_when_a_limit_is_met(
    es: Elasticsearch, settings: Settings
) -> None:
    names = names_of(settings)
    limits = RolloverLimits(max_docs=2)
    store.bulk_index(es, names, [article("a", "tekst", NOW)])
    store.refresh(es, names)
    assert store.roll_over_articles(es, names, limits) is None  # 1 of 2: not due
    store.bulk_index(es, names, [article("b", "tekst", NOW)])
    store.refresh(es, names)
    second = store.roll_over_articles(es, names, limits)
    assert second == f"{names.articles}-000002"
    assert store.backing_indices(es, names) == [names.first_article_index, second]
    written = store.bulk_index(es, names, [article("c", "tekst", NOW)]).written
    assert written == {"c": second}
    # Found in any backing index, at once (real time, before any refresh), and only once.
    assert store.find_known(es, names, ["a", "b", "c"]) == {
        "a": names.first_article_index, "b": names.first_article_index, "c": second,
    }  # fmt: skip
    again = store.bulk_index(es, names, [article("a", "tweede", NOW)])
    assert (again.created, again.conflicts) == (0, 1)  # an older index has it: no second copy
    store.refresh(es, names)
    assert es.count(index=names.articles)["count"] == 3


def test_two_writers_racing_across_a_rollover_leave_one_copy(
    es: Elasticsearch, settings: Settings
) -> None:
    """Both writers looked the articles up before either wrote them (both found nothing);
    the first writes, the index rolls over, the second writes into the next index. The
    second's copies are taken back: one document per article, the first's."""
    names = names_of(settings)
    ids = [f"race{i}" for i in range(20)]
    assert store.find_known(es, names, ids) == {}  # writer A looks up
    assert store.find_known(es, names, ids) == {}  # writer B looks up
    first = store.bulk_index(es, names, [article(i, "A", NOW) for i in ids[:15]])
    assert first.created == 15
    store.refresh(es, names)  # max_docs counts searchable documents
    rolled = store.roll_over_articles(es, names, RolloverLimits(max_docs=1))
    assert rolled == f"{names.articles}-000002"
    second = store.bulk_index(es, names, [article(i, "B", NOW, feeds=["rtl"]) for i in ids])
    assert (second.created, second.conflicts) == (5, 15)
    assert second.race_winners == dict.fromkeys(ids[:15], names.first_article_index)
    assert set(second.written) == set(ids[15:]) and set(second.written.values()) == {rolled}
    store.refresh(es, names)
    hits = es.search(index=names.articles, size=100)["hits"]["hits"]
    assert sorted(hit["_id"] for hit in hits) == sorted(ids)  # one copy each
    assert {hit["_source"]["body"] for hit in hits if hit["_id"] in ids[:15]} == {"A"}


def test_writing_a_batch_makes_elasticsearch_refresh_nothing(
    es: Elasticsearch, settings: Settings
) -> None:
    """After a write, the older indices are asked for racing copies; asking the index just
    written to in real time would make Elasticsearch refresh it (internally: a new segment)
    after every batch, which its refresh interval is there to spare."""
    names = names_of(settings)

    def refreshes() -> int:
        stats = es.indices.stats(index=names.articles_write, metric="refresh")
        return int(stats["_all"]["primaries"]["refresh"]["total"])

    before = refreshes()
    ids = [f"new{i}" for i in range(10)]
    for batch in (ids[:5], ids[5:]):
        assert store.bulk_index(es, names, [article(i, "tekst", NOW) for i in batch]).created == 5
    assert refreshes() == before
    assert set(store.find_known(es, names, ids)) == set(ids)  # found in real time all the same


def test_create_only_writes_never_overwrite(es: Elasticsearch, settings: Settings) -> None:
    names = names_of(settings)
    first = store.bulk_index(es, names, [article("a", "eerste", NOW)])
    second = store.bulk_index(es, names, [article("a", "tweede", NOW)])
    assert (first.created, second.created, second.conflicts) == (1, 0, 1)
    assert es.get(index=names.first_article_index, id="a")["_source"]["body"] == "eerste"


def test_item_errors_are_counted_with_their_reason(es: Elasticsearch, settings: Settings) -> None:
    names = names_of(settings)
    bad = article("bad", "tekst", NOW)
    bad_doc = bad.to_document()
    bad_doc["word_count"] = "not a number"  # mapping says integer
    good = article("good", "tekst", NOW)
    actions = [bad, good]

    class Broken(Article):
        def to_document(self) -> dict[str, object]:
            return bad_doc

    actions[0] = Broken(**bad.__dict__)
    outcome = store.bulk_index(es, names, actions)
    assert outcome.created == 1
    assert outcome.failures == {"index:mapper_parsing_exception": 1}
    assert "bad" in outcome.failed_ids
    error = outcome.errors["bad"]
    assert (error.status, error.type, error.rejected) == (400, "mapper_parsing_exception", True)
    assert outcome.rejected == {"bad": error}


def test_conflicts_are_not_rejections(es: Elasticsearch, settings: Settings) -> None:
    names = names_of(settings)
    store.bulk_index(es, names, [article("a", "eerste", NOW)])
    again = store.bulk_index(es, names, [article("a", "tweede", NOW)])
    assert again.conflicts == 1 and not again.errors and not again.rejected


def test_a_refused_article_has_one_dead_letter_however_often_refused(
    es: Elasticsearch, settings: Settings
) -> None:
    names = names_of(settings)
    refused = article("bad", "tekst", NOW)
    error = store.ItemError(400, "mapper_parsing_exception", "failed to parse", rejected=True)
    first = store.dead_letter(es, names, [(refused, error)], "run-1", NOW)
    later = datetime(2026, 1, 3, tzinfo=UTC)
    again = replace(error, type="strict_dynamic_mapping_exception", message="unknown field")
    second = store.dead_letter(es, names, [(refused, again)], "run-2", later)
    assert first.created == 1 and not first.failures and not second.failures
    store.refresh(es, names)
    assert es.count(index=names.dead_letters)["count"] == 1
    doc = es.get(index=names.dead_letters, id="bad")["_source"]
    assert doc["attempts"] == 2 and doc["run_id"] == "run-2" and doc["status"] == 400
    assert doc["error_type"] == "strict_dynamic_mapping_exception"
    assert doc["reason"] == "unknown field"
    assert doc["first_failed_at"].startswith("2026-01-02")
    assert doc["last_failed_at"].startswith("2026-01-03")
    assert doc["target_index"] == names.articles_write and doc["feeds"] == ["nos"]
    assert doc["document"]["title"] == "Titel bad"

    by_type, latest = store.dead_letters(es, names)
    assert by_type == {"strict_dynamic_mapping_exception": 1}
    assert [d["article_id"] for d in latest] == ["bad"] and "document" not in latest[0]
    cli_args = ["--es-url", settings.es_url, "--prefix", names.prefix, "dead-letters", "--json"]
    shown = CliRunner().invoke(cli, cli_args)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["by_type"] == {"strict_dynamic_mapping_exception": 1}


def test_strict_mapping_rejects_unknown_fields(es: Elasticsearch, settings: Settings) -> None:
    names = names_of(settings)
    doc = article("x", "tekst", NOW).to_document() | {"surprise": 1}
    with pytest.raises(Exception, match="strict_dynamic_mapping_exception"):
        es.index(index=names.articles_write, id="x", document=doc)


def test_dutch_stemming_finds_inflected_forms(es: Elasticsearch, settings: Settings) -> None:
    names = names_of(settings)
    body = "Duizenden vluchtelingen en migranten aan de Pools-Wit-Russische grens."
    store.bulk_index(es, names, [article("nl", body, NOW)])
    store.refresh(es, names)
    stemmed = es.search(index=names.articles, query={"match": {"text.nl.body": "vluchteling"}})
    neutral = es.search(index=names.articles, query={"match": {"body": "vluchteling"}})
    assert stemmed["hits"]["total"]["value"] == 1
    assert neutral["hits"]["total"]["value"] == 0  # the neutral field does not stem


def test_seen_again_adds_feed_and_bumps_last_seen(es: Elasticsearch, settings: Settings) -> None:
    names = names_of(settings)
    store.bulk_index(es, names, [article("a", "tekst", NOW)])
    store.refresh(es, names)
    known = store.find_known(es, names, ["a"])
    later = datetime(2026, 1, 3, tzinfo=UTC)
    assert not store.mark_seen_again(es, known, {"a": ["nos", "rtl"]}, later)
    source = es.get(index=known["a"], id="a")["_source"]
    assert source["feeds"] == ["nos", "rtl"]
    assert source["last_seen_at"].startswith("2026-01-03")
    assert source["first_seen_at"].startswith("2026-01-02")


def test_feed_state_and_run_report_round_trip(es: Elasticsearch, settings: Settings) -> None:
    names = names_of(settings)
    state = FeedState(name="nos", url="https://nos.nl/rss", etag='"abc"', last_polled_at=NOW)
    store.save_feed_states(es, names, [state])
    assert store.load_feed_states(es, names, ["nos", "other"]) == {"nos": state}
    report = RunReport(run_id="r1", started_at=NOW, finished_at=NOW)
    report.count("entries.seen", 3)
    report.fail("page:http_404")
    store.save_run_report(es, names, report)
    stored = es.get(index=names.runs, id="r1")["_source"]
    assert stored["counts"] == {"entries.seen": 3}
    assert stored["failure_reasons"] == ["page:http_404"]


def test_over_long_keyword_values_never_reject_the_document(
    es: Elasticsearch, settings: Settings
) -> None:
    """Lucene refuses a term over 32,766 bytes; every keyword field has `ignore_above` (or is
    not indexed), so a page stating a 50,000-character author or tag is still indexed."""
    huge = "Ä" * 50_000  # 100,000 bytes in UTF-8
    names = names_of(settings)
    doc = article(
        "long-keywords",
        "De tekst van het artikel.",
        NOW,
        authors=[huge],
        tags=[huge, "grens"],
        source=huge,
        url=f"https://nos.nl/{'a' * 40_000}",
        extraction_reason=huge,
    )
    outcome = store.bulk_index(es, names, [doc])
    assert outcome.created == 1 and not outcome.failures
    store.refresh(es, names)
    found = es.search(index=names.articles, query={"term": {"tags": "grens"}})["hits"]["hits"]
    assert [hit["_id"] for hit in found] == ["long-keywords"]
    assert found[0]["_source"]["authors"] == [huge]  # kept in _source, just not a term
