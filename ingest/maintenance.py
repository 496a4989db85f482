"""Upkeep of what mediamon stores: retention of old articles, feed health.

Both take the client and the `IndexNames` as arguments, like `ingest.store`; the maintenance
DAG calls them through `ingest.airflow_tasks`, and so can a script.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ingest import store
from ingest.errors import ConfigError
from ingest.models import FeedState, RunReport
from ingest.store import Client, IndexNames, save_run_report, scan


def retention_cutoff(keep_months: int, today: datetime) -> datetime:
    """The start of the oldest month kept: `keep_months=1` keeps only the current month,
    `keep_months=12` keeps it and the 11 before. Articles published before it go."""
    if keep_months < 1:
        raise ConfigError(f"retention: keep_months must be at least 1, got {keep_months}")
    months = today.year * 12 + today.month - 1 - (keep_months - 1)
    return datetime(months // 12, months % 12 + 1, 1, tzinfo=UTC)


@dataclass
class Retention:
    """What retention removed: whole article indices, and articles deleted one by one."""

    cutoff: datetime
    dropped_indices: list[str] = field(default_factory=list)
    deleted_articles: int = 0

    def summary(self) -> str:
        return (
            f"articles published before {self.cutoff:%Y-%m-%d}: "
            f"{len(self.dropped_indices)} whole indices dropped "
            f"({', '.join(self.dropped_indices) or 'none'}), "
            f"{self.deleted_articles} articles deleted from the others"
        )


def drop_old_articles(
    es: Client, names: IndexNames, keep_months: int, today: datetime
) -> Retention:
    """Delete the articles published before the `keep_months` newest months.

    Indices are bounded by size and age, not by publication month (a backfill puts 1991
    next to today), so an index goes whole only when every article in it is older than the
    cutoff: deleting an index is cheap and frees its disk at once. From the others, older
    articles are deleted by query. The write index is never dropped. Indices are deleted by
    their exact names (never a wildcard), so `action.destructive_requires_name` is fine.
    """
    outcome = Retention(retention_cutoff(keep_months, today))
    write_index = next(reversed(store.backing_indices(es, names)), None)
    for index, newest in _newest_article_by_index(es, names).items():
        if index != write_index and newest < outcome.cutoff:
            es.options(ignore_status=404).indices.delete(index=index)
            outcome.dropped_indices.append(index)
    response = es.options(ignore_status=404).delete_by_query(
        index=names.articles,
        query={"range": {"published_at": {"lt": outcome.cutoff.isoformat()}}},
        conflicts="proceed",  # an article updated meanwhile is deleted by the next run
        refresh=True,
        slices="auto",
    )
    outcome.deleted_articles = int(response.get("deleted", 0))
    return outcome


def _newest_article_by_index(es: Client, names: IndexNames) -> dict[str, datetime]:
    """The latest publication date in each article index that has articles."""
    es.options(ignore_status=404).indices.refresh(index=names.articles)
    response = es.options(ignore_status=404).search(
        index=names.articles,
        size=0,
        aggs={
            "indices": {
                "terms": {"field": "_index", "size": 10_000},
                "aggs": {"newest": {"max": {"field": "published_at"}}},
            }
        },
    )
    buckets = response.get("aggregations", {}).get("indices", {}).get("buckets", [])
    return {
        bucket["key"]: datetime.fromtimestamp(bucket["newest"]["value"] / 1000, UTC)
        for bucket in buckets
        if bucket["newest"].get("value") is not None
    }


# -- feed health -----------------------------------------------------------------------------


@dataclass
class FeedHealth:
    """What the feeds index says about the feeds, at `checked_at`."""

    checked_at: datetime
    failing_after: int
    stale_after: timedelta
    feeds: int = 0
    polls: int = 0
    not_modified: int = 0
    failing: list[FeedState] = field(default_factory=list)  # N or more failures in a row
    stale: list[FeedState] = field(default_factory=list)  # polled fine, nothing new for long
    by_status: Counter[str] = field(default_factory=Counter)

    @property
    def not_modified_share(self) -> float:
        """Share of polls answered 304 Not Modified (conditional GET at work)."""
        return self.not_modified / self.polls if self.polls else 0.0

    def counts(self) -> dict[str, int]:
        return {
            "feeds": self.feeds,
            "failing": len(self.failing),
            "stale": len(self.stale),
            "polls": self.polls,
            "not_modified": self.not_modified,
        }

    def lines(self) -> list[str]:
        """The report for humans: a headline, then one line per failing or stale feed."""
        lines = [
            f"feed health at {self.checked_at:%Y-%m-%d %H:%M} UTC: {self.feeds} feeds, "
            f"{len(self.failing)} failing ({self.failing_after}+ in a row), "
            f"{len(self.stale)} with nothing new in {self.stale_after.days} days, "
            f"{self.not_modified_share:.0%} of {self.polls} polls answered 304"
        ]
        for state in self.failing:
            lines.append(
                f"failing: {state.name}: {state.consecutive_failures} in a row, "
                f"last {state.last_reason or state.last_status} ({state.url})"
            )
        for state in self.stale:
            last = state.last_new_entry_at
            since = f"since {last:%Y-%m-%d}" if last else "ever"
            lines.append(f"stale: {state.name}: no new entry {since} ({state.url})")
        return lines

    def to_report(self) -> RunReport:
        """The health report as a runs-index document (`feed-health-YYYY-MM-DD`)."""
        report = RunReport(
            run_id=f"feed-health-{self.checked_at:%Y-%m-%d}",
            started_at=self.checked_at,
            finished_at=self.checked_at,
        )
        for key, value in self.counts().items():
            report.count(f"health.{key}", value)
        for status, n in self.by_status.items():
            report.count(f"health.status.{status}", n)
        if self.failing:
            report.fail("health:failing", n=len(self.failing))
        if self.stale:
            report.fail("health:stale", n=len(self.stale))
        report.errors.extend(self.lines()[1:50])
        return report


def load_all_feed_states(es: Client, names: IndexNames) -> list[FeedState]:
    """Every stored feed state (a scroll, so any number of feeds)."""
    hits = scan(es, index=names.feeds, query={"query": {"match_all": {}}}, size=500)
    return [FeedState.from_document(hit["_source"]) for hit in hits]


def assess_feeds(
    states: list[FeedState], now: datetime, failing_after: int, stale_after: timedelta
) -> FeedHealth:
    """Sort feeds into failing and stale; add up polls and 304s."""
    health = FeedHealth(checked_at=now, failing_after=failing_after, stale_after=stale_after)
    cutoff = now - stale_after
    for state in sorted(states, key=lambda s: s.name):
        health.feeds += 1
        health.polls += state.polls
        health.not_modified += state.not_modified
        health.by_status[state.last_status or "never_polled"] += 1
        if state.consecutive_failures >= failing_after:
            health.failing.append(state)
        elif state.polls and _older(state.last_new_entry_at, cutoff):
            health.stale.append(state)
    health.failing.sort(key=lambda s: (-s.consecutive_failures, s.name))
    return health


def _older(moment: datetime | None, cutoff: datetime) -> bool:
    if moment is None:
        return True
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment < cutoff


def feed_health(
    es: Client,
    names: IndexNames,
    now: datetime,
    *,
    failing_after: int = 3,
    stale_after: timedelta = timedelta(days=7),
) -> FeedHealth:
    """The health of every feed in the feeds index (see `FeedHealth`)."""
    return assess_feeds(load_all_feed_states(es, names), now, failing_after, stale_after)


def save_feed_health(es: Client, names: IndexNames, health: FeedHealth) -> str:
    """Store the report in the runs index (one document per day, replaced on re-runs)."""
    report = health.to_report()
    save_run_report(es, names, report)
    return report.run_id
