"""NEAR/n and ONEAR/n in rules and searches: the parser, its errors, and real matching.

The matching tests sync real rules into the real percolator and search the same articles
indexed in the real article index, so the word distances, the stop words counted in them and
the Dutch stemming inside a NEAR are what Elasticsearch does.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from articles import new_article
from click.testing import CliRunner
from elasticsearch import Elasticsearch

from ingest import alerts, store
from ingest.analysis.query_syntax import QuerySyntaxError, proximity_query, uses_proximity
from ingest.analysis.search import query_string, search_articles, text_query
from ingest.cli import cli
from ingest.config import Settings
from ingest.errors import ConfigError
from ingest.models import Article

NOW = datetime(2021, 11, 16, 12, tzinfo=UTC)
FIELDS = {"body": 1.0, "text.nl.body": 1.0}


def translated(query: str) -> dict:  # type: ignore[type-arg]
    return proximity_query(query, FIELDS, lambda text: {"plain": text})


def near_rule(query: str) -> dict:  # type: ignore[type-arg]
    """The intervals rule of a query that is one NEAR (the same for every field)."""
    per_field = translated(query)["dis_max"]["queries"]
    assert [next(iter(q["intervals"])) for q in per_field] == list(FIELDS)
    rule: dict = per_field[0]["intervals"]["body"]  # type: ignore[type-arg]
    return rule


def words(text: str) -> dict:  # type: ignore[type-arg]
    return {"match": {"query": text, "max_gaps": 0, "ordered": True}}


# -- the parser (no Elasticsearch) ---------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ['"Poolse grens" OR Loekasjenko', '"vluchteling NEAR/3 grens"', "near/3", "NEAR grens", ""],
)
def test_queries_without_near_keep_the_query_string_path(query: str) -> None:
    assert not uses_proximity(query)
    assert text_query(query) == query_string(query)


def test_near_and_onear_become_intervals_with_the_words_between() -> None:
    assert near_rule("vluchteling NEAR/3 grens") == {
        "all_of": {"intervals": [words("vluchteling"), words("grens")], "max_gaps": 3,
                   "ordered": False}}  # fmt: skip
    for ordered in ("Loekasjenko ONEAR/0 grens", "Loekasjenko NEAR/0f grens"):
        assert near_rule(ordered)["all_of"]["ordered"] is True
        assert near_rule(ordered)["all_of"]["max_gaps"] == 0


def test_phrases_groups_and_nested_near_on_either_side() -> None:
    rule = near_rule('(vluchteling OR migrant) NEAR/5 ("Poolse grens" OR (Kuźnica ONEAR/1 kamp))')
    left, right = rule["all_of"]["intervals"]
    assert left == {"any_of": {"intervals": [words("vluchteling"), words("migrant")]}}
    assert right["any_of"]["intervals"][0] == words("Poolse grens")
    assert right["any_of"]["intervals"][1]["all_of"] == {
        "intervals": [words("Kuźnica"), words("kamp")], "max_gaps": 1, "ordered": True}  # fmt: skip


def test_parts_without_near_go_verbatim_to_the_query_string() -> None:
    query = 'source:NOS AND (vluchteling NEAR/3 grens) AND NOT "staat van beleg"~2 OR migra*'
    tree = translated(query)
    either = tree["bool"]["should"]
    assert either[1] == {"plain": "migra*"}
    both = either[0]["bool"]
    assert both["must"][0] == {"plain": "source:NOS"} and "dis_max" in both["must"][1]
    assert both["must_not"] == [{"plain": '"staat van beleg"~2'}]


def test_boosts_follow_the_query_string_fields() -> None:
    queries = text_query("a NEAR/2 b")["dis_max"]["queries"]
    boosts = {name: rule.get("boost", 1) for q in queries for name, rule in q["intervals"].items()}
    assert boosts["title"] == 3 and boosts["text.nl.title"] == 2 and boosts["summary"] == 1.5
    assert boosts["body"] == 1 and boosts["text.nl.body"] == 1 and boosts["text.cjk.body"] == 1


@pytest.mark.parametrize(
    ("query", "position", "says"),
    [
        ("vluchteling NEAR/ grens", 13, "needs a number of words"),
        ("vluchteling NEAR/3", 19, "NEAR/3 needs a word, phrase or group on its right"),
        ("NEAR/3 grens", 1, "expected a word"),
        ("vluchteling NEAR/2s grens", 13, "not sentences"),
        ("(vluchteling NEAR/3 grens", 1, "this ( is never closed"),
        ("vluchteling NEAR/3 grens)", 25, "this ) has no ( before it"),
        ("vluchteling NEAR/3 (grens AND kamp)", 21, "AND cannot be a side of NEAR"),
        ("vluchteling NEAR/3 NOT grens", 20, "found 'NOT'"),
        ("title:vluchteling NEAR/3 grens", 1, "fields, wildcards"),
        ("vlucht* NEAR/3 grens", 1, "fields, wildcards"),
        ('"Poolse grens"~2 NEAR/3 kamp', 1, '"..."~n'),
        ('kamp NEAR/3 "Poolse grens', 13, "never closed"),
        ('kamp NEAR/3 "Poolse grens\\"', 13, "never closed"),  # an escaped " closes nothing
        ("title:(a NEAR/3 b)", 1, "NEAR inside title:( )"),
        ("a NEAR/3 b OR", 14, "found the end of the query"),
        ("a NEAR/1000 b", 3, "at most NEAR/100"),
    ],
)
def test_syntax_errors_name_the_position(query: str, position: int, says: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        text_query(query)
    assert caught.value.position == position, str(caught.value)
    assert says in str(caught.value)
    assert str(caught.value).startswith(f"query syntax error at character {position}: ")


def test_a_rules_file_with_a_bad_near_names_the_rule_and_the_position(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(textwrap.dedent("""
        rules:
          - {id: fine, query: 'vluchteling NEAR/3 grens'}
          - {id: broken, query: '  vluchteling NEAR/ grens'}
    """), encoding="utf-8")  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        alerts.load_rules(path)
    assert str(caught.value).endswith(
        "rule 'broken': query syntax error at character 13: NEAR/ needs a number of words, "
        "as in NEAR/5"
    )  # the position in the query as written, without its surrounding spaces


# -- matching in the real percolator and search ---------------------------------------------


def article(doc_id: str, body: str, language: str = "nl") -> Article:
    return new_article(doc_id, NOW, title=doc_id, body=body, language=language)


RULES = {
    "near": "vluchteling NEAR/3 grens",
    "onear": "vluchteling ONEAR/3 grens",
    "phrase": '"Poolse grens" NEAR/1 Loekasjenko',
    "mixed": "(vluchteling OR migrant) NEAR/2 grens AND NOT voetbal",
    "nested": "(Loekasjenko ONEAR/0 dreigt) NEAR/4 gas",
    "english": "refugee NEAR/1 border",
}
ARTICLES = [
    # `vluchtelingen` is stemmed to the rule's `vluchteling` only by the Dutch analyzer
    article("forward-3", "De vluchtelingen wachten bij de grens."),  # 3 words between
    article("forward-4", "De vluchtelingen wachten hier bij de grens."),  # 4: too far
    article("reverse-1", "Aan de grens wachten vluchtelingen."),  # either order for NEAR
    article("stopwords", "Vluchtelingen aan de grens kijken naar voetbal."),  # 2 between
    article("phrase", "De Poolse grens en Loekasjenko."),  # `en`: 1 word between
    article("phrase-split", "De grens is Pools en Loekasjenko ook."),  # not the phrase
    article("phrase-reversed", "Aan de grens Poolse troepen, Loekasjenko."),  # nor in order
    article("nested", "Loekasjenko dreigt Europa het gas af te sluiten."),
    article("nested-reversed", "Het gas, dreigt Loekasjenko."),  # ONEAR inside: wrong order
    article("english", "Refugees at the border.", language="en"),  # `at the`: 2 between
    article("english-near", "Refugees reach border camps.", language="en"),  # 1 between
    article("no-dutch-analyzer", "Vluchtelingen bij de grens.", language="pl"),  # neutral only
]
EXPECTED = {
    "near": {"forward-3", "reverse-1", "stopwords"},
    "onear": {"forward-3", "stopwords"},
    "phrase": {"phrase"},
    "mixed": {"reverse-1"},  # stopwords: voetbal; forward-3: 3 words between
    "nested": {"nested"},
    "english": {"english-near"},
}


@pytest.mark.es
def test_near_matches_and_misses_alike_in_the_percolator_search_and_alerts_test(
    es: Elasticsearch, settings: Settings
) -> None:
    names = store.IndexNames(settings.index_prefix)
    rules = [alerts.Rule(rule_id, query) for rule_id, query in RULES.items()]
    assert alerts.sync_rules(es, names, rules).created == list(RULES)

    matches = alerts.percolate(es, names, ARTICLES)
    percolated = {
        rule_id: {a for a, matched in matches.by_article.items() if rule_id in matched}
        for rule_id in RULES
    }
    assert percolated == EXPECTED

    for doc in ARTICLES:
        doc.rules = matches.by_article.get(doc.id, [])
    store.bulk_index(es, names, ARTICLES)
    store.refresh(es, names)
    for rule in alerts.stored_rules(es, names):
        total, hits = search_articles(es, names, rule.query, limit=50)
        assert {h.id for h in hits} == EXPECTED[rule.id] and total == len(hits), rule.id
        total, hits = alerts.test_rule(es, names, rule, limit=50)
        assert {h.id for h in hits} == EXPECTED[rule.id] and total == len(hits), rule.id


def invoke(settings: Settings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["--es-url", settings.es_url, "--prefix", settings.index_prefix, *args]
    )
    return result.exit_code, result.output


@pytest.mark.es
def test_a_bad_near_is_refused_at_sync_and_in_search_naming_rule_and_position(
    es: Elasticsearch, settings: Settings, tmp_path: Path
) -> None:
    names = store.IndexNames(settings.index_prefix)
    alerts.sync_rules(es, names, [alerts.Rule("keep", "grens NEAR/2 kamp")])
    with pytest.raises(ConfigError) as caught:
        alerts.sync_rules(es, names, [alerts.Rule("bad", "(vluchteling OR migrant NEAR/3 grens")])
    assert "rule 'bad': query syntax error at character 1: this ( is never closed" in str(
        caught.value
    )
    assert [rule.id for rule in alerts.stored_rules(es, names)] == ["keep"]  # nothing changed

    rules = tmp_path / "alerts.yaml"
    rules.write_text("rules:\n  - {id: typo, query: 'grens NEAR/5s kamp'}\n", encoding="utf-8")
    code, output = invoke(settings, "alerts", "sync", "--rules", str(rules))
    assert code == 1 and "Traceback" not in output
    assert "rule 'typo': query syntax error at character 7: NEAR/5s" in output

    code, output = invoke(settings, "search", "vluchteling NEAR/3")
    assert code == 1 and "Traceback" not in output
    assert "query syntax error at character 19: NEAR/3 needs a word" in output
    code, output = invoke(settings, "search", "vluchteling NEAR/3 grens", "--json")
    assert code == 0 and '"total": 0' in output
