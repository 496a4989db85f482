"""The batches of one DAG run: planning them, their XCom forms, and merging their results.

    plan_batches    the feeds split into host-grouped batches (a host never in two)
    batch_specs     the batches as XCom carries them: index, label, feed definitions
    batch_run_id    the run id of one batch's own report
    batch_result    what a batch hands back: counts only
    summary_report  every batch's counts in one report, each failed batch named

Nothing here talks to Airflow or Elasticsearch: the task functions (`ingest.airflow_tasks`)
do, with these.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ingest.errors import ConfigError
from ingest.models import Feed, RunReport
from ingest.run_id import run_id

__all__ = [
    "batch_label",
    "batch_result",
    "batch_run_id",
    "batch_specs",
    "feed_from_spec",
    "feed_to_spec",
    "host_of",
    "plan_batches",
    "summary_report",
]


def host_of(feed: Feed) -> str:
    """The host of a feed's URL, lower-cased: the unit batches never split."""
    return (urlsplit(feed.url).hostname or "").lower()


def plan_batches(feeds: Sequence[Feed], max_batches: int) -> list[list[Feed]]:
    """Split feeds into at most `max_batches` batches, every host's feeds in one batch.

    Politeness limits are per host inside one pipeline run, so a host must not be spread over
    batches that may run at once on different workers. Hosts are dealt largest first to the
    lightest batch, which keeps batches even; the result is deterministic for a given input.
    """
    if max_batches < 1:
        raise ConfigError(f"max_batches must be at least 1, got {max_batches}")
    by_host: dict[str, list[Feed]] = defaultdict(list)
    for feed in feeds:
        by_host[host_of(feed)].append(feed)
    groups = sorted(by_host.items(), key=lambda item: (-len(item[1]), item[0]))
    count = min(max_batches, len(groups))
    heap = [(0, index) for index in range(count)]  # (feeds so far, batch index)
    batches: list[list[Feed]] = [[] for _ in range(count)]
    for _, group in groups:
        size, index = heapq.heappop(heap)
        batches[index].extend(group)
        heapq.heappush(heap, (size + len(group), index))
    return [batch for batch in batches if batch]


def batch_specs(batches: Sequence[Sequence[Feed]]) -> list[dict[str, Any]]:
    """The XCom form of planned batches: index, a readable label, the feed definitions."""
    total = len(batches)
    return [
        {
            "index": index,
            "label": batch_label(index, total, batch),
            "feeds": [feed_to_spec(feed) for feed in batch],
        }
        for index, batch in enumerate(batches)
    ]


def batch_label(index: int, total: int, batch: Sequence[Feed]) -> str:
    """`3/8 nos.nl, nu.nl +4 hosts (12 feeds)`: the map index name shown in the Airflow UI."""
    hosts = sorted({host_of(feed) for feed in batch})
    shown = ", ".join(hosts[:2]) + (f" +{len(hosts) - 2} hosts" if len(hosts) > 2 else "")
    noun = "feed" if len(batch) == 1 else "feeds"
    return f"{index + 1}/{total} {shown} ({len(batch)} {noun})"


def feed_to_spec(feed: Feed) -> dict[str, Any]:
    """A feed definition as XCom carries it (plain JSON)."""
    return {
        "name": feed.name,
        "url": feed.url,
        "language": feed.language,
        "source": feed.source,
        "tags": list(feed.tags),
    }


def feed_from_spec(spec: Mapping[str, Any]) -> Feed:
    """The feed of a spec made by `feed_to_spec`; a malformed one is a `ConfigError`."""
    try:
        return Feed(
            name=str(spec["name"]),
            url=str(spec["url"]),
            language=spec.get("language"),
            source=spec.get("source"),
            tags=tuple(spec.get("tags") or ()),
        )
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"batch spec has a malformed feed: {spec!r} ({exc})") from None


def batch_run_id(dag_run_id: str, index: int) -> str:
    """The run id of one batch's own report: `batch-003@<dag run id>`."""
    return run_id("batch", part_of=dag_run_id, index=index)


def batch_result(index: int, feeds: int, report: RunReport) -> dict[str, Any]:
    """What a batch hands to the summary through XCom: counts only."""
    return {
        "index": index,
        "feeds": feeds,
        "run_id": report.run_id,
        "counts": dict(report.counts),
        "failures": dict(report.failures),
        "by_language": dict(report.by_language),
        "by_source": dict(report.by_source),
    }


def summary_report(
    batches: Sequence[Mapping[str, Any]],
    results: Iterable[Mapping[str, Any] | None],
    run_id: str,
    started_at: datetime,
) -> RunReport:
    """One report for the whole DAG run: every batch's counts, and each failed batch named.

    A batch that failed (no result) counts under `batch:failed`, with its feeds under
    `feeds.in_failed_batches`, so the report says what was not polled this run.
    """
    report = RunReport(run_id=run_id, started_at=started_at)
    done: set[int] = set()
    for result in results:
        if not result:
            continue
        done.add(int(result["index"]))
        report.counts.update(result.get("counts", {}))
        report.failures.update(result.get("failures", {}))
        report.by_language.update(result.get("by_language", {}))
        report.by_source.update(result.get("by_source", {}))
    report.count("batches.planned", len(batches))
    report.count("batches.ok", len(done))
    for batch in batches:
        if int(batch["index"]) not in done:
            report.count("batches.failed")
            report.count("feeds.in_failed_batches", len(batch["feeds"]))
            report.fail("batch:failed", f"batch {batch['label']} failed: see its task log")
    report.finished_at = datetime.now(UTC)
    return report
