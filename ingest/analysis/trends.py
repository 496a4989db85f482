"""Trends: how coverage of a query grew and faded, from a date histogram.

`coverage_trend` runs one search: the query (Kibana's query-string syntax, as
`mediamon search`), a `date_histogram` on `published_at` with a `calendar_interval` (hour,
day, week; weeks start on Monday; UTC) and empty buckets filled in, and with `--by` a
`terms` aggregation on the language, source or matched rules, each value with a histogram
of its own, so every bucket has one count per series.

Output, for `mediamon trend`:

- `render_table`: one row per bucket, its count, the count of each series and a bar drawn
  with block characters (stacked and coloured per series), so the shape shows in a terminal;
- `to_json`: a list of buckets `{"key": "2021-11-16T00:00:00Z", "count": 12}`, with --by
  also `"series": {"nl": 9, "de": 3}` (the same series in every bucket, zeros included);
- `to_csv`: `key,count[,<series>...]`, one row per bucket;
- `plot_png`: a chart fit for a report (matplotlib; bars, stacked per series).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from ingest.analysis.search import SearchFilters, build_query, date_bound
from ingest.errors import ConfigError
from ingest.store import ApiError, Client, IndexNames

__all__ = [
    "BY_FIELDS",
    "INTERVALS",
    "Trend",
    "TrendRequest",
    "aggregate_articles",
    "coverage_trend",
    "plot_png",
    "render_table",
    "to_csv",
    "to_json",
]

INTERVALS = ("hour", "day", "week")
BY_FIELDS = {"language": "language", "source": "source", "rule": "rules"}
# Fields with one value per article: what the top series leave of a bucket is "other".
_SINGLE_VALUED = {"language", "source"}
OTHER = "other"
BAR_WIDTH = 40
_BLOCKS = " ▏▎▍▌▋▊▉"  # 0 to 7 eighths of a character cell
_COLOURS = ("cyan", "magenta", "yellow", "green", "blue", "red", "bright_cyan", "bright_magenta")
_MPL_COLOURS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
)


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


# -- output ---------------------------------------------------------------------------------


def to_json(trend: Trend) -> str:
    rows = []
    normalized = trend.request.normalize
    for bucket in trend.buckets:
        row: dict[str, Any] = {"key": bucket.iso, "count": bucket.count}
        if normalized:
            row |= {"all": bucket.all_count, "share": rounded(bucket.share)}
        if trend.request.by:
            row["series"] = {name: bucket.series.get(name, 0) for name in trend.series}
            if normalized:
                row["series_share"] = {n: rounded(bucket.series_share(n)) for n in trend.series}
        rows.append(row)
    return json.dumps(rows, indent=2, ensure_ascii=False)


def rounded(value: float | None) -> float | None:
    """A share as JSON and CSV carry it: six decimals, None (empty in CSV) without articles."""
    return None if value is None else round(value, 6)


def to_csv(trend: Trend) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    normalized = trend.request.normalize
    shares = [f"{name}_share" for name in trend.series] if normalized else []
    writer.writerow(
        ["key", "count", *(["all", "share"] if normalized else []), *trend.series, *shares]
    )
    for bucket in trend.buckets:
        row: list[Any] = [bucket.iso, bucket.count]
        if normalized:
            row += [bucket.all_count, rounded(bucket.share)]
        row += [bucket.series.get(n, 0) for n in trend.series]
        if normalized:
            row += [rounded(bucket.series_share(n)) for n in trend.series]
        writer.writerow(row)
    return out.getvalue()


def percent(value: float | None) -> str:
    """12.5%, <0.1% for a small non-zero share, and – for an interval with no articles."""
    if value is None:
        return "–"
    if 0 < value < 0.001:
        return "<0.1%"
    return f"{value:.1%}"


def label(key: datetime, interval: str) -> str:
    """How an interval reads in a table: 2021-11-16 08:00, 2021-11-16, or 2021-11-15 (wk 46)."""
    if interval == "hour":
        return f"{key:%Y-%m-%d %H:%M}"
    if interval == "week":
        return f"{key:%Y-%m-%d} (wk {key.isocalendar().week})"
    return f"{key:%Y-%m-%d}"


def render_table(trend: Trend, width: int = 100) -> Table:
    """The counts, and a bar per bucket (stacked per series): a table that is a chart.

    The bars take what the other columns leave of `width` (the terminal's): 10 to 60 cells.
    """
    request = trend.request
    title = (
        f"{request.query or 'all articles'!r}: {trend.total} articles per {request.interval}"
        + (f", by {request.by}" if request.by else "")
        + (", share of all articles" if request.normalize else "")
    )
    table = Table(title=title, title_justify="left", box=None, padding=(0, 1))
    table.add_column(request.interval, no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    if request.normalize:
        table.add_column("all", justify="right", no_wrap=True)
        table.add_column("share", justify="right", no_wrap=True)
    for position, name in enumerate(trend.series):
        table.add_column(Text(name, style=_colour(position)), justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    peak = max((b.count for b in trend.buckets), default=0)
    cells = _bar_width(trend, width)
    for bucket in trend.buckets:
        cells_of_row = [label(bucket.key, request.interval), str(bucket.count)]
        if request.normalize:
            cells_of_row += [str(bucket.all_count), percent(bucket.share)]
        for name in trend.series:
            count = str(bucket.series.get(name, 0))
            if request.normalize:
                count += f" {percent(bucket.series_share(name))}"
            cells_of_row.append(count)
        table.add_row(*cells_of_row, bar(bucket, trend.series, peak, cells))
    return table


def _bar_width(trend: Trend, width: int) -> int:
    digits = len(str(max((b.count for b in trend.buckets), default=0)))
    first = len(label(trend.buckets[0].key, trend.request.interval)) if trend.buckets else 10
    columns = [first, max(len("count"), digits)]
    if trend.request.normalize:
        all_digits = len(str(max((b.all_count or 0 for b in trend.buckets), default=0)))
        columns += [max(len("all"), all_digits), len("100.0%")]
        digits += len(" 100.0%")
    columns += [max(len(n), digits) for n in trend.series]
    # Every cell has a space of padding on each side, the bar's included.
    return max(10, min(60, width - sum(c + 2 for c in columns) - 3))


def bar(bucket: Bucket, series: Sequence[str], peak: int, width: int = BAR_WIDTH) -> Text:
    """A horizontal bar, `width` cells at `peak`, in eighths of a cell; with series, each
    cell takes the colour of the series its middle falls in (stacked, as the columns)."""
    if peak <= 0 or bucket.count <= 0:
        return Text("")
    eighths = max(1, round(bucket.count / peak * width * 8))  # never hide a non-zero count
    cells = "█" * (eighths // 8) + (_BLOCKS[eighths % 8] if eighths % 8 else "")
    text = Text()
    for position, cell in enumerate(cells):
        middle = (position + 0.5) / len(cells) * bucket.count
        text.append(cell, style=_series_at(bucket, series, middle))
    return text


def _series_at(bucket: Bucket, series: Sequence[str], position: float) -> str:
    """The colour of the series covering `position` when the bucket's series are stacked."""
    running = 0
    for index, name in enumerate(series):
        running += bucket.series.get(name, 0)
        if position < running:
            return _colour(index)
    return _colour(0) if not series else "dim"


def _colour(position: int) -> str:
    return _COLOURS[position % len(_COLOURS)]


def plot_png(trend: Trend, path: Path, generated: datetime | None = None) -> Path:
    """Write the trend as a PNG chart for a report: bars per interval, stacked per series."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("--plot needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    request = trend.request
    # Days since matplotlib's epoch: what bar() needs for x and for the widths below.
    keys = mdates.date2num([b.key for b in trend.buckets])  # type: ignore[no-untyped-call]
    width = {"hour": 1 / 24, "day": 1.0, "week": 7.0}[request.interval] * 0.85
    figure, axes = plt.subplots(figsize=(10, 4.5), dpi=150)
    try:
        if request.normalize:
            _plot_shares(axes, keys, trend)
        elif trend.series:
            base = [0] * len(keys)
            for i, name in enumerate(trend.series):
                values = [b.series.get(name, 0) for b in trend.buckets]
                colour = "#b0b0b0" if name == OTHER else _MPL_COLOURS[i % len(_MPL_COLOURS)]
                axes.bar(
                    keys, values, width=width, bottom=base, label=name, color=colour, align="edge"
                )
                base = [a + v for a, v in zip(base, values, strict=True)]
            axes.legend(
                title=request.by, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0)
            )
        else:
            axes.bar(
                keys,
                [b.count for b in trend.buckets],
                width=width,
                color=_MPL_COLOURS[0],
                align="edge",
            )
        _style_axes(axes, request, trend, mdates)
        stamp = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
        figure.text(
            0.01,
            0.01,
            f"mediamon · published_at, UTC · generated {stamp}",
            fontsize=7,
            color="#666666",
        )
        figure.tight_layout()
        figure.savefig(path)
    finally:
        plt.close(figure)
    return path


def _plot_shares(axes: Any, keys: Any, trend: Trend) -> None:
    """One line per series (or one for the query): its share of all articles, in per cent;
    intervals without any article are gaps, not zeros."""
    lines = [(name, [b.series_share(name) for b in trend.buckets]) for name in trend.series]
    if not lines:
        lines = [(trend.request.query or "all articles", [b.share for b in trend.buckets])]
    for i, (name, shares) in enumerate(lines):
        values = [float("nan") if v is None else v * 100 for v in shares]
        colour = "#b0b0b0" if name == OTHER else _MPL_COLOURS[i % len(_MPL_COLOURS)]
        axes.plot(keys, values, marker="o", markersize=3, label=name, color=colour)
    if trend.series:
        axes.legend(
            title=trend.request.by, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0)
        )


def _style_axes(axes: Any, request: TrendRequest, trend: Trend, mdates: Any) -> None:
    query = request.query or "all articles"
    by = f", by {request.by}" if request.by else ""
    what = "share of all articles" if request.normalize else "articles"
    axes.set_title(
        f"“{query}”: {what} per {request.interval}{by} ({trend.total} in all)",
        loc="left",
        fontsize=11,
    )
    axes.set_ylabel(
        f"% of articles per {request.interval}"
        if request.normalize
        else f"articles per {request.interval}"
    )
    locator = mdates.AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if not request.normalize:
        axes.yaxis.get_major_locator().set_params(integer=True)
    axes.grid(axis="y", color="#dddddd", linewidth=0.6)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
