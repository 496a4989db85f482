"""Trends: how coverage of a query grew and faded, from a date histogram.

`coverage_trend` runs one search: the query (Kibana's query-string syntax, as
`mediamon search`), a `date_histogram` on `published_at` with a `calendar_interval` (hour,
day, week; weeks start on Monday; UTC) and empty buckets filled in, and with `--by` a
`terms` aggregation on the language, source or matched rules, each value with a histogram
of its own, so every bucket has one count per series. It returns a `Trend`: the request,
its `Bucket`s (a count, and one per series; with `normalize` also the count of all articles,
so each reads as a share) and the series' names, largest first.

How a trend prints (a table with bars, JSON, CSV, a PNG) is `ingest.cli.render.trends`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from ingest.analysis.search import SearchFilters, build_query, date_bound
from ingest.errors import ConfigError
from ingest.store import ApiError, Client, IndexNames

__all__ = [
    "BY_FIELDS",
    "INTERVALS",
    "OTHER",
    "Bucket",
    "Trend",
    "TrendRequest",
    "aggregate_articles",
    "bucket_time",
    "coverage_trend",
    "date_histogram",
    "explain_refusal",
    "share",
]

INTERVALS = ("hour", "day", "week")
BY_FIELDS = {"language": "language", "source": "source", "rule": "rules"}
# Fields with one value per article: what the top series leave of a bucket is "other".
_SINGLE_VALUED = {"language", "source"}
OTHER = "other"


@dataclass(frozen=True)
class TrendRequest:
    """What to count: the query, the bucket size, the split and the time range."""

    query: str = ""
    interval: str = "day"
    by: str | None = None  # language, source or rule
    since: str | None = None  # ISO date/time, or 24h, 7d, 2w ago
    until: str | None = None
    top: int = 8  # series shown with --by; the rest is "other"
    normalize: bool = False  # also count all articles per interval: the query's share
    languages: tuple[str, ...] = ()  # filters that hold for the matches and the whole alike
    sources: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()

    @property
    def filters(self) -> SearchFilters:
        return SearchFilters(self.languages, self.sources, self.since, self.until, self.feeds)

    def __post_init__(self) -> None:
        if self.interval not in INTERVALS:
            raise ConfigError(f"--interval must be one of {', '.join(INTERVALS)}")
        if self.by is not None and self.by not in BY_FIELDS:
            raise ConfigError(f"--by must be one of {', '.join(BY_FIELDS)}")


@dataclass
class Bucket:
    key: datetime  # the start of the interval, UTC
    count: int
    series: dict[str, int] = field(default_factory=dict)
    # With --normalize: every article of the interval under the same filters, and per series
    # value (languages and sources: that value's articles; rules: every article).
    all_count: int | None = None
    all_series: dict[str, int] = field(default_factory=dict)

    @property
    def iso(self) -> str:
        return self.key.isoformat().replace("+00:00", "Z")

    @property
    def share(self) -> float | None:
        return share(self.count, self.all_count)

    def series_share(self, name: str) -> float | None:
        return share(self.series.get(name, 0), self.all_series.get(name))


def share(part: int, whole: int | None) -> float | None:
    """`part` of `whole`, or None for an interval without any article: no coverage is not 0%."""
    return part / whole if whole else None


@dataclass
class Trend:
    request: TrendRequest
    buckets: list[Bucket]
    series: list[str]  # names, largest first ("other" last)
    total: int


def coverage_trend(es: Client, names: IndexNames, request: TrendRequest) -> Trend:
    """Counts per interval (and per series) of the articles matching the request."""
    histogram = date_histogram(request.interval, request.since, request.until)
    aggs: dict[str, Any] = {"over_time": {"date_histogram": histogram}}
    if request.by:
        aggs["by"] = {
            "terms": {"field": BY_FIELDS[request.by], "size": request.top},
            "aggs": {"over_time": {"date_histogram": histogram}},
        }
    query = build_query(request.query, request.filters)
    body = aggregate_articles(es, names, query, aggs, request.query, request.interval)
    trend = _trend(request, body)
    if request.normalize:
        _add_denominators(es, names, trend, histogram)
    return trend


def date_histogram(interval: str, since: str | None, until: str | None) -> dict[str, Any]:
    """A `date_histogram` on `published_at` that keeps empty intervals and the whole range."""
    histogram: dict[str, Any] = {
        "field": "published_at",
        "calendar_interval": interval,
        "min_doc_count": 0,  # empty intervals are part of the shape
    }
    bounds = _bounds(since, until)
    if bounds:
        histogram["extended_bounds"] = bounds
    return histogram


def aggregate_articles(
    es: Client,
    names: IndexNames,
    query: dict[str, Any],
    aggs: dict[str, Any],
    label: str,
    interval: str,
    size: int = 0,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One search of the articles with aggregations (and `size` hits, `extra` arguments); a
    refusal becomes a ConfigError naming `label` (the query) and `interval`."""
    try:
        # No retries on 503: Elasticsearch 7 answers "too many buckets" with one.
        response = es.options(ignore_status=404, retry_on_status=()).search(
            index=names.articles,
            query=query,
            size=size,
            aggs=aggs,
            track_total_hits=True,
            **(extra or {}),
        )
    except ApiError as exc:
        raise ConfigError(explain_refusal(label, interval, exc)) from None
    return dict(response.body)


def _add_denominators(
    es: Client, names: IndexNames, trend: Trend, histogram: dict[str, Any]
) -> None:
    """Count every article per interval under the request's filters (the query left out),
    and per shown language or source, so each count can be read as a share."""
    request = trend.request
    aggs: dict[str, Any] = {"over_time": {"date_histogram": histogram}}
    shown = [name for name in trend.series if name != OTHER]
    per_value = request.by in _SINGLE_VALUED and shown
    if per_value:
        aggs["by"] = {
            "terms": {"field": BY_FIELDS[str(request.by)], "include": shown, "size": len(shown)},
            "aggs": {"over_time": {"date_histogram": histogram}},
        }
    whole_query = build_query("", request.filters)
    body = aggregate_articles(es, names, whole_query, aggs, request.query, request.interval)
    whole = _trend(replace(request, normalize=False), body)
    at = {b.key: b for b in whole.buckets}
    for bucket in trend.buckets:
        other = at.get(bucket.key)
        bucket.all_count = other.count if other else 0
        for name in trend.series:
            if not per_value:
                bucket.all_series[name] = bucket.all_count
            elif name == OTHER:
                rest = sum(other.series.get(n, 0) for n in shown) if other else 0
                bucket.all_series[name] = bucket.all_count - rest
            else:
                bucket.all_series[name] = other.series.get(name, 0) if other else 0


def _bounds(since: str | None, until: str | None) -> dict[str, str]:
    """Show the whole requested range, not only the span that has articles."""
    if not since and not until:
        return {}
    bounds = {"max": date_bound(until) if until else "now"}
    if since:
        bounds["min"] = date_bound(since)
    return bounds


def explain_refusal(query: str, interval: str, exc: ApiError) -> str:
    """One line for a search Elasticsearch refused: too many buckets, or the query itself."""
    text = json.dumps(exc.body) if isinstance(exc.body, dict) else str(exc)
    if "too_many_buckets" in text:
        return (
            f"too many {interval} buckets for this range: "
            "use a larger --interval or a shorter --since/--until"
        )
    return f"the query {query!r} was refused by Elasticsearch: {text}"


def _trend(request: TrendRequest, body: dict[str, Any]) -> Trend:
    aggs = body.get("aggregations", {})
    totals = aggs.get("over_time", {}).get("buckets", [])
    buckets = [Bucket(bucket_time(b["key"]), b["doc_count"]) for b in totals]
    at = {b.key: b for b in buckets}
    names: list[str] = []
    for value in aggs.get("by", {}).get("buckets", []):
        name = str(value["key"])
        names.append(name)
        for b in buckets:
            b.series[name] = 0
        for point in value["over_time"]["buckets"]:
            if bucket_time(point["key"]) in at:
                at[bucket_time(point["key"])].series[name] = point["doc_count"]
    if request.by in _SINGLE_VALUED and names:
        _add_other(buckets, names)
    total = int(body.get("hits", {}).get("total", {}).get("value", 0))
    return Trend(request, buckets, names, total)


def _add_other(buckets: list[Bucket], names: list[str]) -> None:
    others = [b.count - sum(b.series.values()) for b in buckets]
    if any(others):
        names.append(OTHER)
        for bucket, other in zip(buckets, others, strict=True):
            bucket.series[OTHER] = other


def bucket_time(epoch_ms: int) -> datetime:
    """A histogram bucket's key (epoch milliseconds) as a UTC time."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC)
