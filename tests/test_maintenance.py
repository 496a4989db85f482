"""Retention of monthly article indices and the feed health report, on a real Elasticsearch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch

from ingest import maintenance, store
from ingest.config import Settings
from ingest.errors import ConfigError
from ingest.models import FeedState

pytestmark = pytest.mark.es

TODAY = datetime(2026, 3, 15, 9, 30, tzinfo=UTC)


def names_of(settings: Settings) -> store.IndexNames:
    return store.IndexNames(settings.index_prefix)


def create_months(es: Elasticsearch, names: store.IndexNames, months: list[str]) -> None:
    for month in months:
        es.indices.create(index=f"{names.articles}-{month}")


def test_months_past_retention_pure() -> None:
    months = {f"p-articles-{ym}": tuple(map(int, ym.split("."))) for ym in
              ("2025.01", "2025.12", "2026.01", "2026.02", "2026.03", "2026.04")}  # fmt: skip
    assert maintenance.indices_past_retention(months, 3, TODAY) == [
        "p-articles-2025.01",
        "p-articles-2025.12",
    ]
    kept_current = maintenance.indices_past_retention(months, 1, TODAY)
    assert "p-articles-2026.03" not in kept_current and "p-articles-2026.04" not in kept_current
    assert len(kept_current) == 4
    assert maintenance.indices_past_retention(months, 120, TODAY) == []
    with pytest.raises(ConfigError):
        maintenance.indices_past_retention(months, 0, TODAY)


def test_retention_drops_only_the_months_past_the_limit(
    es: Elasticsearch, settings: Settings
) -> None:
    names = names_of(settings)
    # One index per month and language group; "2024.11": as named before mapping version 3.
    old = ["2024.11", "2025.06-neutral", "2025.06-nl", "2025.12-cjk"]
    kept = ["2026.01-de", "2026.02-nl", "2026.03-nl", "2026.04-en"]  # the last: a future month
    create_months(es, names, old + kept)
    bystanders = [f"{names.articles}-archive-nl", f"{names.prefix}-articlesx-2020.01-nl"]
    for index in bystanders:
        es.indices.create(index=index)

    dropped = maintenance.drop_old_article_indices(es, names, keep_months=3, today=TODAY)

    assert dropped == [f"{names.articles}-{m}" for m in old]
    remaining = set(es.indices.get(index=f"{names.prefix}-*").body)
    assert remaining >= {f"{names.articles}-{m}" for m in kept} | set(bystanders)
    assert not remaining & set(dropped)
    # The alias still covers what is left.
    alias = es.indices.get_alias(name=names.articles).body
    assert set(alias) == {f"{names.articles}-{m}" for m in kept} | {bystanders[0]}
    # Idempotent: nothing more to drop.
    assert maintenance.drop_old_article_indices(es, names, 3, TODAY) == []


def test_retention_never_drops_the_current_month(es: Elasticsearch, settings: Settings) -> None:
    names = names_of(settings)
    create_months(es, names, ["2026.02-nl", "2026.03-nl"])
    assert maintenance.drop_old_article_indices(es, names, 1, TODAY) == [
        f"{names.articles}-2026.02-nl"
    ]
    assert es.indices.exists(index=f"{names.articles}-2026.03-nl")


def test_retention_with_no_article_indices(es: Elasticsearch, settings: Settings) -> None:
    assert maintenance.drop_old_article_indices(es, names_of(settings), 1, TODAY) == []


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
