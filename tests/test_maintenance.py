"""Retention of old articles and the feed health report, on a real Elasticsearch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from articles import new_article
from elasticsearch import Elasticsearch

from ingest import maintenance, store
from ingest.config import RolloverLimits, Settings
from ingest.errors import ConfigError
from ingest.models import FeedState

pytestmark = pytest.mark.es

TODAY = datetime(2026, 3, 15, 9, 30, tzinfo=UTC)


def names_of(settings: Settings) -> store.IndexNames:
    return store.IndexNames(settings.index_prefix)


def test_retention_cutoff_counts_the_current_month_in() -> None:
    assert maintenance.retention_cutoff(1, TODAY) == datetime(2026, 3, 1, tzinfo=UTC)
    assert maintenance.retention_cutoff(3, TODAY) == datetime(2026, 1, 1, tzinfo=UTC)
    assert maintenance.retention_cutoff(15, TODAY) == datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(ConfigError):
        maintenance.retention_cutoff(0, TODAY)


def published(es: Elasticsearch, names: store.IndexNames, ids_by_date: dict[str, str]) -> None:
    articles = [
        new_article(doc_id, datetime.fromisoformat(day).replace(tzinfo=UTC))
        for doc_id, day in ids_by_date.items()
    ]
    assert store.bulk_index(es, names, articles).created == len(articles)
    store.refresh(es, names)


def test_retention_drops_whole_indices_only_when_all_their_articles_are_old(
    es: Elasticsearch, settings: Settings
) -> None:
    """Indices are bounded by size and age, not by month: a backfill mixes 1991 with today.
    An index goes whole when every article in it is older; else its old articles go."""
    names = names_of(settings)
    every_time = RolloverLimits(max_docs=1)
    published(es, names, {"old-1": "2019-05-01", "old-2": "2025-12-31"})  # index 1: all old
    second = store.roll_over_articles(es, names, every_time)
    published(es, names, {"backfill": "1991-02-01", "recent": "2026-01-10"})  # index 2: mixed
    third = store.roll_over_articles(es, names, every_time)
    published(es, names, {"older-too": "2024-06-01"})  # index 3: the write index, all old

    outcome = maintenance.drop_old_articles(es, names, keep_months=3, today=TODAY)

    assert outcome.dropped_indices == [names.first_article_index]
    assert outcome.deleted_articles == 2  # "backfill" and "older-too", one by one
    assert store.backing_indices(es, names) == [second, third]  # the write index stays
    left = es.search(index=names.articles, size=10)["hits"]["hits"]
    assert [hit["_id"] for hit in left] == ["recent"]
    assert "2026-01-01" in outcome.summary() and "1 whole indices dropped" in outcome.summary()
    # Idempotent: nothing more to drop; new articles still go in.
    again = maintenance.drop_old_articles(es, names, 3, TODAY)
    assert (again.dropped_indices, again.deleted_articles) == ([], 0)
    published(es, names, {"new": "2026-03-14"})


def test_retention_with_no_articles(es: Elasticsearch, settings: Settings) -> None:
    outcome = maintenance.drop_old_articles(es, names_of(settings), 1, TODAY)
    assert (outcome.dropped_indices, outcome.deleted_articles) == ([], 0)


# -- feed health -----------------------------------------------------------------------------

NOW = datetime(2026, 3, 15, 6, 0, tzinfo=UTC)


def states() -> list[FeedState]:
    return [
        FeedState("healthy", "https://a.example/rss", last_status="ok", polls=100,
                  not_modified=60, last_new_entry_at=NOW - timedelta(hours=3)),
        FeedState("down", "https://b.example/rss", last_status="failed",
                  last_reason="feed:http_500", consecutive_failures=5, polls=40,
                  last_new_entry_at=NOW - timedelta(days=20)),
        FeedState("hiccup", "https://c.example/rss", last_status="failed",
                  last_reason="feed:timeout", consecutive_failures=1, polls=50, not_modified=20,
                  last_new_entry_at=NOW - timedelta(days=1)),
        FeedState("quiet", "https://d.example/rss", last_status="not_modified", polls=30,
                  not_modified=20, last_new_entry_at=NOW - timedelta(days=30)),
        FeedState("never-new", "https://e.example/rss", last_status="ok", polls=10),
        FeedState("not-polled-yet", "https://f.example/rss"),
    ]  # fmt: skip


def test_feed_health_report_from_the_feeds_index(es: Elasticsearch, settings: Settings) -> None:
    names = names_of(settings)
    store.save_feed_states(es, names, states())
    store.refresh(es, names)

    health = maintenance.feed_health(es, names, NOW, failing_after=3, stale_after=timedelta(days=7))

    assert [s.name for s in health.failing] == ["down"]
    assert [s.name for s in health.stale] == ["never-new", "quiet"]
    assert health.feeds == 6
    assert (health.polls, health.not_modified) == (230, 100)
    assert health.not_modified_share == pytest.approx(100 / 230)
    lines = health.lines()
    assert "6 feeds, 1 failing (3+ in a row), 2 with nothing new in 7 days" in lines[0]
    assert "43% of 230 polls answered 304" in lines[0]
    assert any("down: 5 in a row, last feed:http_500" in line for line in lines)
    assert any("quiet: no new entry since 2026-02-13" in line for line in lines)
    assert any("never-new: no new entry ever" in line for line in lines)

    run_id = maintenance.save_feed_health(es, names, health)
    assert run_id == "feed-health-2026-03-15"
    doc = es.get(index=names.runs, id=run_id)["_source"]  # the strict runs mapping took it
    assert doc["counts"]["health.failing"] == 1
    assert doc["counts"]["health.stale"] == 2
    assert doc["failures"] == {"health:failing": 1, "health:stale": 2}
    assert any("down" in line for line in doc["errors"])
    # Run again the same day: replaced, not duplicated.
    maintenance.save_feed_health(es, names, health)
    store.refresh(es, names)
    assert es.count(index=names.runs, query={"prefix": {"run_id": "feed-health-"}})["count"] == 1


def test_feed_health_thresholds_are_configurable() -> None:
    health = maintenance.assess_feeds(states(), NOW, failing_after=1, stale_after=timedelta(1))
    assert [s.name for s in health.failing] == ["down", "hiccup"]
    assert [s.name for s in health.stale] == ["never-new", "quiet"]  # failing ones not repeated
