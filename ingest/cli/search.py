"""`mediamon search` and `trend`: the matching articles, and how many matched over time."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ingest import store
from ingest.cli.options import coverage_filters, index_names, interval_option, output_format
from ingest.cli.render.console import console
from ingest.cli.render.hits import print_hits
from ingest.config import Settings

__all__ = ["search", "trend"]


@click.command()
@click.argument("query", default="")
@click.option("--lang", "languages", multiple=True, help="Only these languages (repeatable).")
@click.option("--source", "sources", multiple=True, help="Only these sources (repeatable).")
@click.option("--since", help="From: 2021-11-01, 2021-11-01T08:00, or 24h / 7d / 2w ago.")
@click.option("--until", help="Until, in the same forms.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print hits as JSON.")
@click.pass_obj
def search(
    settings: Settings,
    query: str,
    languages: tuple[str, ...],
    sources: tuple[str, ...],
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Search articles with Kibana's query-string syntax, e.g. '"Poolse grens" OR vluchteling',
    plus NEAR/n and ONEAR/n proximity: 'vluchteling NEAR/5 grens' (README, "Query syntax")."""
    from ingest.analysis.search import SearchFilters, search_articles

    client = store.connect(settings)
    filters = SearchFilters(languages, sources, since, until)
    names = index_names(settings)
    total, hits = search_articles(client, names, query, filters, limit)
    if as_json:
        payload = {"total": total, "hits": [h.to_dict() for h in hits]}
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    print_hits(query, total, hits)


@click.command()
@click.argument("query", default="")
@interval_option
@click.option(
    "--by",
    type=click.Choice(["language", "source", "rule"]),
    help="One series per language, source or matched alert rule.",
)
@coverage_filters
@click.option(
    "--top",
    default=8,
    show_default=True,
    type=click.IntRange(1, 50),
    help="Series shown with --by (the rest is 'other').",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help='table (with a bar chart), json ([{"key", "count", "series"}]) or csv.',
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a PNG chart to this file.",
)
@click.option(
    "--normalize",
    is_flag=True,
    help="Also give each count as a share of all articles in the interval (same filters).",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.pass_obj
def trend(
    settings: Settings,
    query: str,
    interval: str,
    by: str | None,
    since: str | None,
    until: str | None,
    top: int,
    output: str,
    plot: Path | None,
    normalize: bool,
    languages: tuple[str, ...],
    sources: tuple[str, ...],
    feeds: tuple[str, ...],
    as_json: bool,
) -> None:
    """Count matching articles over time, e.g. trend '"Poolse grens"' --interval day --by source."""
    from ingest.analysis.trends import TrendRequest, coverage_trend
    from ingest.cli.render.trends import plot_png, render_table, to_csv, to_json

    request = TrendRequest(
        query, interval, by, since, until, top, normalize, languages, sources, feeds
    )
    output = output_format(output, as_json)
    client = store.connect(settings)
    found = coverage_trend(client, index_names(settings), request)
    if output == "json":
        click.echo(to_json(found))
    elif output == "csv":
        click.echo(to_csv(found), nl=False)
    else:
        console.print(render_table(found, console.width))
    if plot:
        plot_png(found, plot)
        click.echo(f"chart written to {plot}", err=True)  # stderr: stdout may be JSON or CSV
