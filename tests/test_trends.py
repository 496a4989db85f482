"""Trends against a real Elasticsearch: a small corpus whose counts per hour, day, week,
language, source and rule are known in advance, through the library and `mediamon trend`.

    Mon 15 Nov 2021  08:00 nl NOS [border, poland]  09:30 nl NOS [border]
                     09:45 de Spiegel [border]
    Tue 16 Nov       12:00 en BBC                     (10:00 nl NOS: does not mention Kuźnica)
    Wed 17 Nov       07:00 nl Trouw [poland]
    Thu 18 Nov       23:59 pl Onet
    Mon 22 Nov       10:00 nl NOS [border]
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from articles import new_article
from click.testing import CliRunner
from elasticsearch import Elasticsearch

from ingest import store
from ingest.analysis.trends import Bucket, TrendRequest, coverage_trend
from ingest.cli import cli
from ingest.cli.render.trends import bar, to_csv, to_json
from ingest.config import Settings
from ingest.errors import ConfigError
from ingest.models import Article

pytestmark = pytest.mark.es

CORPUS = [  # (published, language, source, rules, mentions Kuźnica)
    ("2021-11-15T08:00:00", "nl", "NOS", ["border", "poland"], True),
    ("2021-11-15T09:30:00", "nl", "NOS", ["border"], True),
    ("2021-11-15T09:45:00", "de", "Spiegel", ["border"], True),
    ("2021-11-16T10:00:00", "nl", "NOS", [], False),
    ("2021-11-16T12:00:00", "en", "BBC", [], True),
    ("2021-11-17T07:00:00", "nl", "Trouw", ["poland"], True),
    ("2021-11-18T23:59:00", "pl", "Onet", [], True),
    ("2021-11-22T10:00:00", "nl", "NOS", ["border"], True),
]
QUERY = "Kuznica"  # the neutral fields fold accents: it finds Kuźnica in every language


def article(
    n: int, published: str, language: str, source: str, rules: list[str], hit: bool
) -> Article:
    when = datetime.fromisoformat(published).replace(tzinfo=UTC)
    body = "Bij de grensovergang Kuźnica wachten honderden mensen." if hit else "Iets anders."
    return new_article(
        f"a{n}",
        when,
        "example.org",
        url=f"https://example.org/{n}",
        canonical_url=f"https://example.org/{n}",
        source=source,
        title=f"Bericht {n}",
        body=body,
        language=language,
        rules=rules,
    )


@pytest.fixture
def corpus(es: Elasticsearch, settings: Settings) -> store.IndexNames:
    names = store.IndexNames(settings.index_prefix)
    outcome = store.bulk_index(es, names, [article(n, *row) for n, row in enumerate(CORPUS)])
    assert outcome.created == len(CORPUS)
    store.refresh(es, names)
    return names


def counts(trend) -> list[int]:  # type: ignore[no-untyped-def]
    return [b.count for b in trend.buckets]


def test_daily_counts_fill_the_requested_range_with_empty_days(
    es: Elasticsearch, corpus: store.IndexNames
) -> None:
    trend = coverage_trend(
        es, corpus, TrendRequest(QUERY, "day", since="2021-11-14", until="2021-11-23")
    )
    days = [b.iso[:10] for b in trend.buckets]
    assert days[0] == "2021-11-14" and days[-1] == "2021-11-23"
    assert counts(trend) == [0, 3, 1, 1, 1, 0, 0, 0, 1, 0]
    assert trend.total == 7 and trend.series == []
    rows = json.loads(to_json(trend))
    assert rows[1] == {"key": "2021-11-15T00:00:00Z", "count": 3}


def test_weeks_start_on_monday_and_hours_are_hours(
    es: Elasticsearch, corpus: store.IndexNames
) -> None:
    weekly = coverage_trend(es, corpus, TrendRequest(QUERY, "week"))
    assert [(b.iso, b.count) for b in weekly.buckets] == [
        ("2021-11-15T00:00:00Z", 6),
        ("2021-11-22T00:00:00Z", 1),
    ]
    hourly = coverage_trend(
        es,
        corpus,
        TrendRequest(QUERY, "hour", since="2021-11-15T00:00:00", until="2021-11-15T23:00:00"),
    )
    assert len(hourly.buckets) == 24
    assert {b.key.hour: b.count for b in hourly.buckets if b.count} == {8: 1, 9: 2}


def test_one_series_per_language_with_the_rest_as_other(
    es: Elasticsearch, corpus: store.IndexNames
) -> None:
    trend = coverage_trend(es, corpus, TrendRequest(QUERY, "day", by="language", top=2))
    assert trend.series == ["nl", "de", "other"]  # nl 3 first; de, en, pl tie at 1: by key
    assert [b.iso[:10] for b in trend.buckets] == [
        "2021-11-15",
        "2021-11-16",
        "2021-11-17",
        "2021-11-18",
        "2021-11-19",
        "2021-11-20",
        "2021-11-21",
        "2021-11-22",
    ]
    by_day = {b.iso[:10]: b.series for b in trend.buckets}
    assert by_day["2021-11-15"] == {"nl": 2, "de": 1, "other": 0}
    assert by_day["2021-11-16"] == {"nl": 0, "de": 0, "other": 1}
    assert by_day["2021-11-22"] == {"nl": 1, "de": 0, "other": 0}
    for bucket in trend.buckets:
        assert sum(bucket.series.values()) == bucket.count
    rows = list(csv.reader(io.StringIO(to_csv(trend))))
    assert rows[0] == ["key", "count", "nl", "de", "other"]
    assert rows[1] == ["2021-11-15T00:00:00Z", "3", "2", "1", "0"]


def test_rules_are_multi_valued_series_without_other(
    es: Elasticsearch, corpus: store.IndexNames
) -> None:
    trend = coverage_trend(es, corpus, TrendRequest(QUERY, "day", by="rule"))
    assert trend.series == ["border", "poland"]
    by_day = {b.iso[:10]: (b.count, b.series) for b in trend.buckets}
    assert by_day["2021-11-15"] == (3, {"border": 3, "poland": 1})  # one article in both
    assert by_day["2021-11-17"] == (1, {"border": 0, "poland": 1})
    assert by_day["2021-11-16"] == (1, {"border": 0, "poland": 0})


def test_bad_requests_are_clear_errors(es: Elasticsearch, corpus: store.IndexNames) -> None:
    with pytest.raises(ConfigError, match="--interval"):
        TrendRequest(QUERY, "month")
    with pytest.raises(ConfigError, match="--by"):
        TrendRequest(QUERY, by="author")
    with pytest.raises(ConfigError, match="is not a date"):
        coverage_trend(es, corpus, TrendRequest(QUERY, since="yesterday"))
    with pytest.raises(ConfigError, match="too many hour buckets"):
        coverage_trend(es, corpus, TrendRequest("", "hour", since="2000-01-01"))


def test_bars_are_proportional_and_never_hide_a_count() -> None:
    full = bar(Bucket(datetime(2021, 11, 15, tzinfo=UTC), 10), [], peak=10, width=10)
    half = bar(Bucket(datetime(2021, 11, 15, tzinfo=UTC), 5), [], peak=10, width=10)
    tiny = bar(Bucket(datetime(2021, 11, 15, tzinfo=UTC), 1), [], peak=1000, width=10)
    assert full.plain == "█" * 10 and half.plain == "█" * 5 and tiny.plain == "▏"
    stacked = bar(
        Bucket(datetime(2021, 11, 15, tzinfo=UTC), 4, {"nl": 3, "de": 1}),
        ["nl", "de"],
        peak=4,
        width=8,
    )
    styles = [span.style for span in stacked.spans]
    assert stacked.plain == "█" * 8 and styles.count("cyan") == 6 and styles.count("magenta") == 2


def test_trend_command_table_json_csv_and_png(
    es: Elasticsearch, corpus: store.IndexNames, settings: Settings, tmp_path: Path
) -> None:
    runner = CliRunner()
    base = ["--es-url", settings.es_url, "--prefix", settings.index_prefix, "trend", QUERY]

    table_chart = tmp_path / "table.png"
    table = runner.invoke(cli, [*base, "--by", "source", "--plot", str(table_chart)])
    assert table.exit_code == 0, table.output
    assert table_chart.exists() and f"chart written to {table_chart}" in table.output
    assert "7 articles per day, by source" in table.output
    assert "2021-11-15" in table.output and "NOS" in table.output and "█" in table.output

    as_json = runner.invoke(cli, [*base, "--interval", "week", "--format", "json"])
    assert json.loads(as_json.output) == [
        {"key": "2021-11-15T00:00:00Z", "count": 6},
        {"key": "2021-11-22T00:00:00Z", "count": 1},
    ]
    by_json = runner.invoke(
        cli, [*base, "--interval", "week", "--by", "language", "--format", "json"]
    )
    first = json.loads(by_json.output)[0]
    assert first["series"] == {"nl": 3, "de": 1, "en": 1, "pl": 1}

    as_csv = runner.invoke(
        cli, [*base, "--format", "csv", "--since", "2021-11-15", "--until", "2021-11-16"]
    )
    assert as_csv.output.splitlines() == [
        "key,count",
        "2021-11-15T00:00:00Z,3",
        "2021-11-16T00:00:00Z,1",
    ]

    chart = tmp_path / "trend.png"
    plotted = runner.invoke(
        cli, [*base, "--by", "language", "--format", "json", "--plot", str(chart)]
    )
    assert plotted.exit_code == 0, plotted.output
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 20_000

    bad = runner.invoke(cli, [*base, "--interval", "month"])
    assert bad.exit_code == 2 and "month" in bad.output
