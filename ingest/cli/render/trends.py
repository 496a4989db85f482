"""Trends (`mediamon trend`, the demo): a trend as a table with bars, JSON, CSV or a PNG.

- `render_table`: one row per bucket, its count, the count of each series and a bar drawn
  with block characters (stacked and coloured per series), so the shape shows in a terminal;
- `to_json`: a list of buckets `{"key": "2021-11-16T00:00:00Z", "count": 12}`, with --by
  also `"series": {"nl": 9, "de": 3}` (the same series in every bucket, zeros included);
- `to_csv`: `key,count[,<series>...]`, one row per bucket;
- `plot_png`: a chart fit for a report (matplotlib; bars, stacked per series).

`rounded`, `percent` and `label` are how shares and intervals read, here and in
`ingest.cli.render.attention`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from ingest.analysis.trends import OTHER, Bucket, Trend, TrendRequest
from ingest.errors import ConfigError

__all__ = [
    "bar",
    "label",
    "percent",
    "plot_png",
    "render_table",
    "rounded",
    "to_csv",
    "to_json",
]

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
