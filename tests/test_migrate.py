"""`mediamon migrate`: from the per-month indices of mapping versions 1-3 to the bounded
layout, on a real Elasticsearch. Nothing lost, search answering once per article during and
after, safe to interrupt and run again."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from articles import new_article
from click.testing import CliRunner
from elasticsearch import Elasticsearch

from ingest import alerts, store
from ingest.analysis.search import SearchFilters, search_articles
from ingest.cli import cli
from ingest.config import Settings
from ingest.store import migrate

pytestmark = pytest.mark.es

# Old indices: version 3 (per month and language group) and version 2 (per month).
LEGACY = {"2021.11-nl": ("nl", 120), "2021.11-de": ("de", 60), "2020.01": ("nl", 90)}
TOTAL = sum(n for _, n in LEGACY.values())


def legacy_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """The article mapping as versions 1-3 had it, derived from mappings/articles.json: the
    `text.<group>.<field>` of version 4 as `<field>.fields.<group>` subfields."""
    old = copy.deepcopy(properties)
    for group, spec in old.pop("text")["properties"].items():
        for name, sub in spec["properties"].items():
            old[name].setdefault("fields", {})[group] = sub
    return old


def make_legacy_layout(es: Elasticsearch, names: store.IndexNames) -> None:
    template = store.load_template("articles", names)["template"]
    mappings = dict(
        template["mappings"], properties=legacy_properties(template["mappings"]["properties"])
    )
    for suffix, (language, count) in LEGACY.items():
        index = f"{names.articles}-{suffix}"
        es.indices.create(index=index, mappings=mappings, aliases={names.articles: {}})
        day = datetime(int(suffix[:4]), int(suffix[5:7]), 16, tzinfo=UTC)
        body = {
            "nl": "Duizenden vluchtelingen wachten bij de grens.",
            "de": "Tausende Flüchtlinge warten an der Grenze.",
        }[language]
        old_documents = (
            new_article(f"{suffix}-{n}", day, body=body, language=language) for n in range(count)
        )
        actions = [
            {"_op_type": "create", "_index": index, "_id": a.id, "_source": a.to_document()}
            for a in old_documents
        ]
        assert store.bulk_write(es, actions).created == count
    # The rules index of version 3 mapped the subfields too.
    rule = alerts.Rule("vluchteling", "vluchteling")
    es.indices.delete(index=names.rules)
    rules = store.load_template("rules", names)["template"]
    es.indices.create(
        index=names.rules,
        mappings=dict(
            rules["mappings"], properties=legacy_properties(rules["mappings"]["properties"])
        ),
    )
    es.index(index=names.rules, id=rule.id, document=rule.to_document("old", datetime.now(UTC)))
    store.refresh(es, names)


def visible(es: Elasticsearch, names: store.IndexNames) -> int:
    """Articles a search sees: through the read alias, and as Kibana's data view does."""
    es.indices.refresh(index=f"{names.prefix}-*")
    through_alias = int(es.count(index=names.articles)["count"])
    data_view = int(es.count(index=f"{names.articles}*")["count"])
    assert through_alias == data_view
    return through_alias


def test_migration_moves_every_article_once_and_search_answers_throughout(
    es: Elasticsearch, settings: Settings
) -> None:
    names = store.IndexNames(settings.index_prefix)
    make_legacy_layout(es, names)
    assert visible(es, names) == TOTAL

    # Interrupted after two batches: nothing visible changed.
    class Interrupted(Exception):
        pass

    batches = 0

    def stop_after_two(n: int) -> None:
        nonlocal batches
        batches += 1
        assert visible(es, names) == TOTAL  # during: every article once
        if batches == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        migrate.migrate_articles(es, names, progress=stop_after_two, batch_size=50)
    assert visible(es, names) == TOTAL
    assert len(migrate.legacy_article_indices(es, names)) == 3

    # Run again: picks up, switches, and every article is there once, stemmed the new way.
    during: list[int] = []
    outcome = migrate.migrate_articles(
        es, names, progress=lambda n: during.append(visible(es, names)), batch_size=50
    )
    assert set(during) == {TOTAL}
    assert (outcome.articles, outcome.copied + outcome.copied_before) == (TOTAL, TOTAL)
    # The interrupted run's two batches: the 90 of 2020.01 (50 + 40); its rules were rebuilt.
    assert outcome.copied_before == 90 and outcome.rules == 0
    assert migrate.legacy_article_indices(es, names) == []
    assert visible(es, names) == TOTAL
    assert set(es.indices.get_alias(name=names.articles).body) == {
        names.first_article_index, migrate.migrated_index(names),
    }  # fmt: skip
    total, hits = search_articles(es, names, "vluchteling", SearchFilters())
    assert total == 210 and all(hit.language == "nl" for hit in hits)
    doc = es.get(index=migrate.migrated_index(names), id="2021.11-de-0")["_source"]
    assert set(doc["text"]) == {"de"}
    # The rules index lost the old subfields, kept its rule, and still percolates.
    mapping = es.indices.get_mapping(index=names.rules)[names.rules]["mappings"]["properties"]
    assert "fields" not in mapping["title"]
    matches = alerts.percolate(
        es, names, [new_article("x", datetime.now(UTC), body="De vluchtelingen.")]
    )
    assert matches.by_article == {"x": ["vluchteling"]}
    # Known-id look-ups find the migrated articles; the pipeline writes the new layout.
    assert store.find_known(es, names, ["2020.01-3"]) == {
        "2020.01-3": migrate.migrated_index(names)
    }

    # Once more, from the command line: nothing left to do.
    cli_args = ["--es-url", settings.es_url, "--prefix", names.prefix, "migrate"]
    again = CliRunner().invoke(cli, cli_args)
    assert again.exit_code == 0, again.output
    assert "nothing to migrate" in again.output
    assert visible(es, names) == TOTAL


def test_the_first_interrupted_run_rebuilt_the_rules(es: Elasticsearch, settings: Settings) -> None:
    names = store.IndexNames(settings.index_prefix)
    make_legacy_layout(es, names)
    outcome = migrate.migrate_articles(es, names)
    assert outcome.rules == 1 and outcome.copied == TOTAL
    assert json.dumps(es.indices.get_mapping(index=names.rules).body).count('"fields"') == 0
