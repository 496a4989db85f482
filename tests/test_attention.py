"""Attention analysis against a real Elasticsearch: a corpus whose counts, shares, sources,
stories and words are known in advance, through the library and the commands.

    Mon 15 Nov 2021   nl NOS    border, "waterkanon" (story s1)     en BBC   budget
                      nl Trouw  border, "waterkanon" (story s1, a reprint)
    Tue 16 Nov        nl NOS    border, "waterkanon" (story s2)     en BBC   budget
                      nl RTL    border, "waterkanon" (story s3)     en BBC   football
                      pl Onet   border (story s4)
    Wed 17 Nov        (nothing at all)
    Thu 18 Nov        nl NOS    sanctions (story s5)                 en BBC   budget

"border" articles mention Kuźnica; all Dutch texts are full of Dutch stopwords, which the
English background lacks: without the stoplists, `de` and `het` would stand out.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from articles import new_article
from click.testing import CliRunner
from elasticsearch import Elasticsearch

from ingest import kibana, store
from ingest.analysis.attention import (
    breakdown,
    compare_queries,
    parse_named_queries,
    significant_terms,
    stopwords,
)
from ingest.analysis.search import SearchFilters
from ingest.analysis.trends import TrendRequest, coverage_trend
from ingest.cli import cli
from ingest.cli.render.trends import to_csv, to_json
from ingest.config import Settings
from ingest.errors import ConfigError
from ingest.models import Article

pytestmark = pytest.mark.es

BORDER = (
    "Bij de grensovergang Kuźnica staan de mensen al dagen in de kou, en het leger van "
    "Polen houdt de grens dicht. {extra} Volgens de grenswacht is het rustig, maar de "
    "hulporganisaties zeggen dat het niet zo is."
)
# The planted word, in three sentences of their own (and once more in a reprint).
WATER = (
    "De politie zette een waterkanon in tegen de groep bij het hek.",
    "Bij het hek werd opnieuw een waterkanon gebruikt, zeggen ooggetuigen.",
    "Beelden tonen hoe het waterkanon de menigte uiteendreef.",
)
SANCTIONS = (
    "De Europese Unie bereidt nieuwe sancties voor tegen het regime, en de ministers "
    "vergaderen er in de komende dagen over."
)
BUDGET = "The council approved the budget for the new school year after a long debate."
FOOTBALL = "The home side won the cup final after extra time in front of a full stadium."
ONET = "Przejście graniczne Kuźnica jest zamknięte, a straż graniczna pilnuje setek ludzi."

CORPUS = [  # (day, hour, language, source, feed, story, body)
    (15, 8, "nl", "NOS", "nos", "s1", BORDER.format(extra=WATER[0])),
    (15, 9, "nl", "Trouw", "trouw", "s1", BORDER.format(extra=WATER[0])),
    (15, 10, "en", "BBC", "bbc", "b1", BUDGET),
    (16, 8, "nl", "NOS", "nos", "s2", BORDER.format(extra=WATER[1])),
    (16, 9, "nl", "RTL", "rtl", "s3", BORDER.format(extra=WATER[2])),
    (16, 10, "pl", "Onet", "onet", "s4", ONET),
    (16, 11, "en", "BBC", "bbc", "b2", BUDGET + " Taxes rise."),
    (16, 12, "en", "BBC", "bbc", "b3", FOOTBALL),
    (18, 8, "nl", "NOS", "nos", "s5", SANCTIONS),
    (18, 9, "en", "BBC", "bbc", "b4", BUDGET + " Again."),
]
QUERY = "Kuznica"  # the neutral fields fold accents: it finds Kuźnica in every language
SINCE, UNTIL = "2021-11-15", "2021-11-18"


def article(
    n: int, day: int, hour: int, language: str, source: str, feed: str, story: str, body: str
) -> Article:
    when = datetime(2021, 11, day, hour, tzinfo=UTC)
    return new_article(
        f"a{n}",
        when,
        f"{source.lower()}.example",
        source=source,
        feeds=[feed],
        title=f"{source} {day}/{hour}",
        body=body,
        language=language,
        story_id=story,
    )


@pytest.fixture
def corpus(es: Elasticsearch, settings: Settings) -> store.IndexNames:
    names = store.IndexNames(settings.index_prefix)
    outcome = store.bulk_index(es, names, [article(n, *row) for n, row in enumerate(CORPUS)])
    assert outcome.created == len(CORPUS)
    store.refresh(es, names)
    return names


def test_normalized_trend_gives_the_share_of_all_articles_per_day(
    es: Elasticsearch, corpus: store.IndexNames
) -> None:
    trend = coverage_trend(
        es, corpus, TrendRequest(QUERY, "day", since=SINCE, until=UNTIL, normalize=True)
    )
    by_day = {b.iso[:10]: (b.count, b.all_count, b.share) for b in trend.buckets}
    assert by_day == {
        "2021-11-15": (2, 3, pytest.approx(2 / 3)),
        "2021-11-16": (3, 5, pytest.approx(3 / 5)),
        "2021-11-17": (0, 0, None),  # no coverage at all is not 0% of it
        "2021-11-18": (0, 2, 0.0),
    }
    rows = json.loads(to_json(trend))
    assert rows[1] == {"key": "2021-11-16T00:00:00Z", "count": 3, "all": 5, "share": 0.6}
    assert rows[2]["share"] is None
    lines = list(csv.reader(io.StringIO(to_csv(trend))))
    assert lines[0] == ["key", "count", "all", "share"]
    assert lines[3] == ["2021-11-17T00:00:00Z", "0", "0", ""]


def test_the_filters_hold_for_the_whole_too(es: Elasticsearch, corpus: store.IndexNames) -> None:
    dutch = coverage_trend(
        es,
        corpus,
        TrendRequest(QUERY, "day", since=SINCE, until=UNTIL, normalize=True, languages=("nl",)),
    )
    by_day = {b.iso[:10]: (b.count, b.all_count) for b in dutch.buckets}
    assert by_day == {
        "2021-11-15": (2, 2),
        "2021-11-16": (2, 2),
        "2021-11-17": (0, 0),
        "2021-11-18": (0, 1),
    }
    one_feed = coverage_trend(es, corpus, TrendRequest("", "week", normalize=True, feeds=("nos",)))
    assert [(b.count, b.all_count) for b in one_feed.buckets] == [(3, 3)]


def test_normalized_series_are_shares_of_their_own_language(
    es: Elasticsearch, corpus: store.IndexNames
) -> None:
    trend = coverage_trend(
        es,
        corpus,
        TrendRequest(QUERY, "day", by="language", since=SINCE, until=UNTIL, normalize=True),
    )
    assert trend.series == ["nl", "pl"]
    day = {b.iso[:10]: b for b in trend.buckets}["2021-11-16"]
    assert day.series == {"nl": 2, "pl": 1}
    assert day.all_series == {"nl": 2, "pl": 1}  # the day's Dutch and Polish articles
    assert day.series_share("nl") == 1.0 and day.share == pytest.approx(0.6)
    rows = json.loads(to_json(trend))
    assert rows[1]["series_share"] == {"nl": 1.0, "pl": 1.0}


def test_compare_counts_each_query_and_the_whole_per_interval(
    es: Elasticsearch, corpus: store.IndexNames
) -> None:
    queries = parse_named_queries(["grens=Kuznica", "sancties=sancties", "budget"])
    assert queries == {"grens": "Kuznica", "sancties": "sancties", "budget": "budget"}
    found = compare_queries(es, corpus, queries, "day", SearchFilters(since=SINCE, until=UNTIL))
    assert found.totals == {"grens": 5, "sancties": 1, "budget": 3}
    assert found.all_total == 10
    rows = {i.iso[:10]: (i.all_count, i.counts) for i in found.intervals}
    assert rows["2021-11-16"] == (5, {"grens": 3, "sancties": 0, "budget": 1})
    assert rows["2021-11-17"] == (0, {"grens": 0, "sancties": 0, "budget": 0})
    assert rows["2021-11-18"] == (2, {"grens": 0, "sancties": 1, "budget": 1})
    day = found.intervals[3]
    assert day.share("sancties") == 0.5 and found.intervals[2].share("grens") is None


def test_named_queries_are_checked() -> None:
    with pytest.raises(ConfigError, match="at least two"):
        parse_named_queries(["a=Kuznica"])
    with pytest.raises(ConfigError, match="two queries are named 'a'"):
        parse_named_queries(["a=Kuznica", "a=grens"])
    with pytest.raises(ConfigError, match="empty"):
        parse_named_queries(["a=", "b=grens"])
    # an '=' inside a query is not a name
    assert parse_named_queries(['"a=b" OR c', "x=y"]) == {'"a=b" OR c': '"a=b" OR c', "x": "y"}


def test_breakdown_by_source_with_other_and_a_sample_of_stories(
    es: Elasticsearch, corpus: store.IndexNames
) -> None:
    found = breakdown(es, corpus, QUERY, "source", top=2, sample=10)
    assert found.total == 5
    assert [(v.value, v.count) for v in found.values] == [("NOS", 2), ("Onet", 1), ("other", 2)]
    assert found.values[0].share == pytest.approx(0.4)
    stories = sorted(a["story_id"] for a in found.sample)
    assert stories == ["s1", "s2", "s3", "s4"]  # s1's reprint in Trouw is folded into s1
    by_feed = breakdown(es, corpus, "", "feed", top=10)
    assert {v.value: v.count for v in by_feed.values} == {
        "nos": 3,
        "bbc": 4,
        "trouw": 1,
        "rtl": 1,
        "onet": 1,
    }
    with pytest.raises(ConfigError, match="--by"):
        breakdown(es, corpus, QUERY, "author")


def test_significant_terms_name_the_planted_word_and_leave_stopwords_out(
    es: Elasticsearch, corpus: store.IndexNames
) -> None:
    total, terms = significant_terms(es, corpus, QUERY, size=10)
    assert total == 5
    words = [t.term for t in terms]
    assert "waterkanon" in words[:5], words
    assert not {"de", "het", "een", "en", "in"} & set(words), words
    planted = next(t for t in terms if t.term == "waterkanon")
    # Trouw's reprint of NOS's sentence counts once (filter_duplicate_text); the background
    # counts every article with the word.
    assert planted.matching == 3 and planted.background == 4
    assert {s["story_id"] for s in planted.stories} <= {"s1", "s2", "s3"}
    assert len({s["story_id"] for s in planted.stories}) == len(planted.stories)
    with pytest.raises(ConfigError, match="needs a query"):
        significant_terms(es, corpus, "  ")


def test_stopwords_are_folded_as_the_neutral_field_indexes_them() -> None:
    assert {"de", "het"} <= stopwords(["nl"])
    assert "fur" in stopwords(["de"]) and "für" not in stopwords(["de"])
    assert stopwords(["xx"]) == set()


def test_the_commands_print_tables_json_and_csv(
    es: Elasticsearch, corpus: store.IndexNames, settings: Settings, tmp_path: Path
) -> None:
    runner = CliRunner()
    base = ["--es-url", settings.es_url, "--prefix", settings.index_prefix]

    trend = runner.invoke(
        cli, [*base, "trend", QUERY, "--normalize", "--since", SINCE, "--until", UNTIL]
    )
    assert trend.exit_code == 0, trend.output
    assert "share of all articles" in trend.output and "66.7%" in trend.output

    chart = tmp_path / "compare.png"
    compared = runner.invoke(
        cli,
        [
            *base,
            "compare",
            "grens=Kuznica",
            "budget=budget",
            "--since",
            SINCE,
            "--until",
            UNTIL,
            "--format",
            "csv",
            "--plot",
            str(chart),
        ],
    )
    assert compared.exit_code == 0, compared.output
    lines = compared.output.splitlines()
    assert lines[0] == "key,all,grens,budget,grens_share,budget_share"
    assert "2021-11-16T00:00:00Z,5,3,1,0.6,0.2" in lines
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    by_language = runner.invoke(
        cli, [*base, "breakdown", QUERY, "--by", "language", "--format", "json"]
    )
    payload = json.loads(by_language.output)
    assert [(v["value"], v["count"], v["share"]) for v in payload["values"]] == [
        ("nl", 4, 0.8),
        ("pl", 1, 0.2),
    ]
    table = runner.invoke(cli, [*base, "breakdown", QUERY, "--sample", "3"])
    assert table.exit_code == 0 and "NOS" in table.output and "3 stories" in table.output

    words = runner.invoke(cli, [*base, "terms", QUERY])
    assert words.exit_code == 0, words.output
    assert "waterkanon" in words.output
    as_json = json.loads(runner.invoke(cli, [*base, "terms", QUERY, "--json"]).output)
    assert as_json["total"] == 5 and "waterkanon" in [t["term"] for t in as_json["terms"]]
    shares = json.loads(
        runner.invoke(
            cli,
            [*base, "trend", QUERY, "--normalize", "--json", "--since", SINCE, "--until", UNTIL],
        ).output
    )
    assert [row["share"] for row in shares] == [0.666667, 0.6, None, 0.0]

    nothing = runner.invoke(cli, [*base, "terms", "zzzyyyxxx"])
    assert nothing.exit_code == 0 and "matches no article" in nothing.output
    bad = runner.invoke(cli, [*base, "compare", "only=one"])
    assert bad.exit_code == 1 and "at least two queries" in bad.output


# -- the Kibana "Attention" dashboard's Vega panels, run against the real node --------------


def kibana_body(url: dict[str, Any], query_bar: str, start: datetime, end: datetime) -> Any:
    """The body Kibana sends for a Vega `url`, with its placeholders replaced as Kibana's
    documented Vega syntax says: `%context%` puts the query bar and the time picker into the
    query, `%timefilter%` becomes the picker's range (true) or bound ("min"/"max", epoch ms),
    and `interval: {"%autointerval%": true}` a fixed interval (one day here)."""
    bounds = {"min": int(start.timestamp() * 1000), "max": int(end.timestamp() * 1000)}
    time_range = {
        "gte": start.isoformat(),
        "lte": end.isoformat(),
        "format": "strict_date_optional_time",
    }

    def replace(node: Any, key: str = "") -> Any:
        if isinstance(node, list):
            return [replace(item) for item in node]
        if not isinstance(node, dict):
            return node
        if node.get("%timefilter%") is True:
            return time_range
        if node.get("%timefilter%") in bounds:
            return bounds[node["%timefilter%"]]
        out = {k: replace(v, k) for k, v in node.items() if k != "interval"}
        if key == "date_histogram" and "interval" in node:
            out["fixed_interval"] = "1d"
        return out

    body = replace(url["body"])
    if url.get("%context%"):
        body["query"] = {
            "bool": {
                "must": [{"query_string": {"query": query_bar}}],
                "filter": [{"range": {url["%timefield%"]: time_range}}],
            }
        }
    return body


def vega_rows(es: Elasticsearch, source: dict[str, Any], body: Any) -> Any:
    response = es.search(index=source["url"]["index"], body=body).body
    for part in source["format"]["property"].split("."):
        response = response[part]
    return response


def test_the_attention_dashboards_vega_panels_answer_as_the_commands_do(
    es: Elasticsearch, corpus: store.IndexNames
) -> None:
    # As `mediamon kibana import --prefix` would send them: the panels query this test's indices.
    objects = kibana.read_saved_objects(kibana.saved_object_files(), prefix=corpus.prefix)
    panels = {o["id"]: kibana.vega_data(o) for o in objects if kibana.vega_data(o)}
    assert set(panels) == {"mediamon-attention-share", "mediamon-attention-terms"}
    start, end = datetime(2021, 11, 15, tzinfo=UTC), datetime(2021, 11, 18, 23, 59, tzinfo=UTC)

    sources = {s["name"]: s for s in panels["mediamon-attention-share"]}
    rows = {
        name: vega_rows(es, sources[name], kibana_body(sources[name]["url"], QUERY, start, end))
        for name in ("matching", "all")
    }
    whole = {b["key"]: b["doc_count"] for b in rows["all"]}
    shares = {
        b["key"]: b["doc_count"] / whole[b["key"]] for b in rows["matching"] if whole[b["key"]]
    }
    trend = coverage_trend(
        es, corpus, TrendRequest(QUERY, "day", since=SINCE, until=UNTIL, normalize=True)
    )
    expected = {int(b.key.timestamp() * 1000): b.share for b in trend.buckets if b.all_count}
    assert shares == pytest.approx(expected)

    [terms_source] = panels["mediamon-attention-terms"]
    buckets = vega_rows(es, terms_source, kibana_body(terms_source["url"], QUERY, start, end))
    assert "waterkanon" in [b["key"] for b in buckets][:5]
