"""How `mediamon compare`, `breakdown` and `terms` print: rich tables, JSON, CSV, a PNG.

JSON and CSV carry shares as fractions with six decimals (empty, or null, for an interval
without any article: no coverage is not 0%); tables print them as per cent.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from ingest.analysis.attention import Breakdown, Comparison, Term
from ingest.cli.render.trends import label, percent, rounded
from ingest.errors import ConfigError

__all__ = [
    "breakdown_csv",
    "breakdown_json",
    "breakdown_table",
    "comparison_csv",
    "comparison_json",
    "comparison_table",
    "plot_comparison",
    "sample_table",
    "terms_csv",
    "terms_json",
    "terms_table",
]

_COLOURS = ("cyan", "magenta", "yellow", "green", "blue", "red")
_MPL_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


# -- compare --------------------------------------------------------------------------------


def comparison_json(comparison: Comparison) -> str:
    names = list(comparison.queries)
    payload = {
        "queries": comparison.queries,
        "interval": comparison.interval,
        "totals": comparison.totals,
        "all": comparison.all_total,
        "intervals": [
            {
                "key": i.iso,
                "all": i.all_count,
                "counts": i.counts,
                "shares": {n: rounded(i.share(n)) for n in names},
            }
            for i in comparison.intervals
        ],
    }
    return json.dumps(payload, indent=2, ensure_ascii=False)


def comparison_csv(comparison: Comparison) -> str:
    names = list(comparison.queries)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["key", "all", *names, *(f"{n}_share" for n in names)])
    for i in comparison.intervals:
        writer.writerow(
            [
                i.iso,
                i.all_count,
                *(i.counts[n] for n in names),
                *(rounded(i.share(n)) for n in names),
            ]
        )
    return out.getvalue()


def comparison_table(comparison: Comparison) -> Table:
    names = list(comparison.queries)
    totals = ", ".join(f"{n} {comparison.totals[n]}" for n in names)
    title = (
        f"{len(names)} queries per {comparison.interval} ({totals}; "
        f"{comparison.all_total} articles in all): count and share of all articles"
    )
    table = Table(title=title, title_justify="left", box=None, padding=(0, 1))
    table.add_column(comparison.interval, no_wrap=True)
    table.add_column("all", justify="right", no_wrap=True)
    for position, name in enumerate(names):
        table.add_column(
            Text(name, style=_COLOURS[position % len(_COLOURS)]), justify="right", no_wrap=True
        )
    for i in comparison.intervals:
        cells = [f"{i.counts[n]} {percent(i.share(n))}" for n in names]
        table.add_row(label(i.key, comparison.interval), str(i.all_count), *cells)
    return table


def plot_comparison(comparison: Comparison, path: Path) -> Path:
    """A line per query: its share of all articles per interval, in per cent."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("--plot needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    keys = mdates.date2num([i.key for i in comparison.intervals])  # type: ignore[no-untyped-call]
    figure, axes = plt.subplots(figsize=(10, 4.5), dpi=150)
    try:
        for position, name in enumerate(comparison.queries):
            shares = [i.share(name) for i in comparison.intervals]
            values = [float("nan") if v is None else v * 100 for v in shares]
            axes.plot(
                keys,
                values,
                marker="o",
                markersize=3,
                color=_MPL_COLOURS[position % 6],
                label=f"{name} ({comparison.totals[name]})",
            )
        axes.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        axes.set_title(f"Share of all articles per {comparison.interval}", loc="left", fontsize=11)
        axes.set_ylabel(f"% of articles per {comparison.interval}")
        locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        axes.grid(axis="y", color="#dddddd", linewidth=0.6)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        figure.tight_layout()
        figure.savefig(path)
    finally:
        plt.close(figure)
    return path


# -- breakdown ------------------------------------------------------------------------------


def breakdown_json(result: Breakdown) -> str:
    payload = {
        "query": result.query,
        "by": result.by,
        "total": result.total,
        "values": [
            {"value": v.value, "count": v.count, "share": rounded(v.share)} for v in result.values
        ],
        "sample": result.sample,
    }
    return json.dumps(payload, indent=2, ensure_ascii=False)


def breakdown_csv(result: Breakdown) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([result.by, "count", "share"])
    for value in result.values:
        writer.writerow([value.value, value.count, rounded(value.share)])
    return out.getvalue()


def breakdown_table(result: Breakdown, width: int = 40) -> Table:
    title = f"{result.query or 'all articles'!r}: {result.total} articles by {result.by}"
    table = Table(title=title, title_justify="left", box=None, padding=(0, 1))
    table.add_column(result.by)
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("share", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    peak = max((v.count for v in result.values), default=0)
    for value in result.values:
        cells = round(value.count / peak * width) if peak else 0
        table.add_row(value.value, str(value.count), percent(value.share), "█" * max(cells, 1))
    return table


def sample_table(articles: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, title_justify="left", box=None, padding=(0, 1))
    for column in ("published", "source", "lang", "outlets", "title"):
        table.add_column(column, no_wrap=column != "title")
    for article in articles:
        table.add_row(
            str(article.get("published_at", ""))[:16].replace("T", " "),
            str(article.get("source", "")),
            str(article.get("language", "")),
            str(article.get("story_outlets") or 1),
            str(article.get("title", "")),
        )
    return table


# -- significant terms ----------------------------------------------------------------------


def terms_json(query: str, total: int, terms: list[Term]) -> str:
    payload = {
        "query": query,
        "total": total,
        "terms": [
            {
                "term": t.term,
                "matching": t.matching,
                "background": t.background,
                "score": t.score,
                "stories": t.stories,
            }
            for t in terms
        ],
    }
    return json.dumps(payload, indent=2, ensure_ascii=False)


def terms_csv(terms: list[Term]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["term", "matching", "background", "score", "stories"])
    for t in terms:
        titles = " | ".join(str(s.get("title", "")) for s in t.stories)
        writer.writerow([t.term, t.matching, t.background, t.score, titles])
    return out.getvalue()


def terms_table(query: str, total: int, terms: list[Term]) -> Table:
    title = (
        f"What {total} articles matching {query!r} talk about: terms that stand out against "
        "all coverage in the same period"
    )
    table = Table(title=title, title_justify="left", box=None, padding=(0, 1))
    table.add_column("term", no_wrap=True)
    table.add_column("in matches", justify="right", no_wrap=True)
    table.add_column("in all", justify="right", no_wrap=True)
    table.add_column("from stories")
    for t in terms:
        stories = "; ".join(f"{s.get('title', '')} ({s.get('source', '')})" for s in t.stories)
        table.add_row(t.term, str(t.matching), str(t.background), stories)
    return table
