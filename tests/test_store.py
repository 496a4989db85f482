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
from ingest.config import Settings
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
    template = es.indices.get_index_template(name=f"{names.prefix}-articles-nl")
    patterns = template["index_templates"][0]["index_template"]["index_patterns"]
    assert patterns == [f"{names.prefix}-articles-*-nl"]
    assert store.article_groups()[-1] == "neutral" and len(store.article_groups()) == 16


def test_each_language_group_has_its_own_indices_analysed_its_own_way(
    es: Elasticsearch, settings: Settings
) -> None:
    """An article's text is analysed the neutral way and by its own language's analyzer only
    (the costly part of indexing); a search over `body.*` still stems each in its language."""
    names = names_of(settings)
    articles = [
        article("nl", "Duizenden vluchtelingen bij de grens.", NOW),
        article("de", "Tausende Flüchtlinge an der Grenze.", NOW, language="de"),
        article("ja", "国境に数千人の難民が集まった。", NOW, language="ja"),
        article("pl", "Tysiące uchodźców na granicy.", NOW, language="pl"),
    ]
    outcome = store.bulk_index(es, names, articles)
    month = f"{names.articles}-2026.01"
    assert outcome.created == 4
    assert set(outcome.written.values()) == {
        f"{month}-{group}" for group in ("nl", "de", "cjk", "neutral")
    }
    store.refresh(es, names)
    assert store.find_known(es, names, ["nl", "de", "ja", "pl"]) == {
        "nl": f"{month}-nl", "de": f"{month}-de", "ja": f"{month}-cjk", "pl": f"{month}-neutral",
    }  # fmt: skip
    body_nl = es.indices.get_mapping(index=f"{month}-nl")[f"{month}-nl"]["mappings"]
    assert set(body_nl["properties"]["body"]["fields"]) == {"nl"}
    neutral = es.indices.get_mapping(index=f"{month}-neutral")[f"{month}-neutral"]["mappings"]
    assert "fields" not in neutral["properties"]["body"]

    def found(query: str) -> set[str]:
        response = es.search(
            index=names.articles,
            query={"query_string": {"query": query, "fields": ["body", "body.*"]}},
        )
        return {hit["_id"] for hit in response["hits"]["hits"]}

    assert found("vluchteling") == {"nl"}  # Dutch stemming, in the Dutch index only
    assert found("Flüchtling") == {"de"}
    assert found("難民") == {"ja"}
    assert found("granicy") == {"pl"}


def test_articles_land_in_monthly_indices_behind_one_alias(
    es: Elasticsearch, settings: Settings
) -> None:
    names = names_of(settings)
    outcome = store.bulk_index(
        es,
        names,
        [
            article("a", "tekst", datetime(2021, 11, 16, tzinfo=UTC)),
            article("b", "tekst", datetime(2021, 12, 1, tzinfo=UTC)),
        ],
    )
    assert outcome.created == 2 and not outcome.failures
    store.refresh(es, names)
    assert store.find_known(es, names, ["a", "b", "c"]) == {
        "a": f"{names.prefix}-articles-2021.11-nl",
        "b": f"{names.prefix}-articles-2021.12-nl",
    }


def test_create_only_writes_never_overwrite(es: Elasticsearch, settings: Settings) -> None:
    names = names_of(settings)
    first = store.bulk_index(es, names, [article("a", "eerste", NOW)])
    second = store.bulk_index(es, names, [article("a", "tweede", NOW)])
    assert (first.created, second.created, second.conflicts) == (1, 0, 1)
    assert es.get(index=names.article_index(NOW, "nl"), id="a")["_source"]["body"] == "eerste"


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
    assert doc["target_index"] == names.article_index(NOW, "nl") and doc["feeds"] == ["nos"]
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
        es.index(index=names.article_index(NOW, "nl"), id="x", document=doc)


def test_dutch_stemming_finds_inflected_forms(es: Elasticsearch, settings: Settings) -> None:
    names = names_of(settings)
    body = "Duizenden vluchtelingen en migranten aan de Pools-Wit-Russische grens."
    store.bulk_index(es, names, [article("nl", body, NOW)])
    store.refresh(es, names)
    stemmed = es.search(index=names.articles, query={"match": {"body.nl": "vluchteling"}})
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
