"""`mediamon compare`, `breakdown` and `terms`: attention analysis in a terminal.

Every command takes the same filters (`--lang`, `--source`, `--feed`, `--since`, `--until`),
which apply to the matching articles and to the whole they are compared with alike, and
prints a table, JSON (`--format json`) or CSV (`--format csv`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ingest import store
from ingest.cli.options import (
    coverage_filters,
    filters_of,
    index_names,
    interval_option,
    output_format,
    output_option,
)
from ingest.cli.render.console import console
from ingest.config import Settings

__all__ = ["breakdown", "compare", "terms"]


@click.command()
@click.argument("queries", nargs=-1, required=True)
@interval_option
@coverage_filters
@output_option
@click.option(
    "--plot", type=click.Path(dir_okay=False, path_type=Path), help="Also write a PNG chart."
)
@click.pass_obj
def compare(
    settings: Settings, /, queries: tuple[str, ...], interval: str, output: str, as_json: bool,
    plot: Path | None, **filters: Any,
) -> None:  # fmt: skip
    """Several queries over the same intervals: counts and shares of all articles.

    Name each query: compare 'grens=Kuznica OR grens' 'sancties=sancties OR sanctions'.
    """
    from ingest.analysis.attention import compare_queries, parse_named_queries
    from ingest.cli.render.attention import (
        comparison_csv,
        comparison_json,
        comparison_table,
        plot_comparison,
    )

    output = output_format(output, as_json)
    named = parse_named_queries(queries)
    client = store.connect(settings)
    found = compare_queries(client, index_names(settings), named, interval, filters_of(filters))
    if output == "json":
        click.echo(comparison_json(found))
    elif output == "csv":
        click.echo(comparison_csv(found), nl=False)
    else:
        console.print(comparison_table(found))
        if found.all_total == 0:
            console.print("[yellow]No article is indexed under these filters.[/]")
        for name, total in found.totals.items():
            if total == 0 and found.all_total:
                console.print(f"[yellow]{name!r} matches no article under these filters.[/]")
    if plot:
        plot_comparison(found, plot)
        click.echo(f"chart written to {plot}", err=True)  # stderr: stdout may be JSON or CSV


@click.command()
@click.argument("query", default="")
@click.option(
    "--by",
    type=click.Choice(["source", "language", "domain", "feed"]),
    default="source",
    show_default=True,
)
@click.option("--top", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option(
    "--sample",
    default=0,
    show_default=True,
    type=click.IntRange(0, 100),
    help="Also list this many representative articles, one per story.",
)
@coverage_filters
@output_option
@click.pass_obj
def breakdown(
    settings: Settings, /, query: str, by: str, top: int, sample: int, output: str,
    as_json: bool, **filters: Any,
) -> None:  # fmt: skip
    """Matching articles by source, language, domain or feed: counts and shares."""
    from ingest.analysis.attention import breakdown as count_by
    from ingest.cli.render.attention import (
        breakdown_csv,
        breakdown_json,
        breakdown_table,
        sample_table,
    )

    output = output_format(output, as_json)
    client = store.connect(settings)
    found = count_by(client, index_names(settings), query, by, filters_of(filters), top, sample)
    if output == "json":
        click.echo(breakdown_json(found))
        return
    if output == "csv":
        click.echo(breakdown_csv(found), nl=False)
        return
    if found.total == 0:
        console.print(f"[yellow]{query or 'all articles'!r} matches no article.[/]")
        return
    console.print(breakdown_table(found))
    if found.sample:
        console.print(sample_table(found.sample, f"{len(found.sample)} stories, best first"))


@click.command()
@click.argument("query")
@click.option("--size", default=20, show_default=True, type=click.IntRange(1, 200))
@click.option(
    "--sample",
    default=500,
    show_default=True,
    type=click.IntRange(10, 10_000),
    help="Best matches per shard whose text is analysed.",
)
@coverage_filters
@output_option
@click.pass_obj
def terms(
    settings: Settings,
    /,
    query: str,
    size: int,
    sample: int,
    output: str,
    as_json: bool,
    **filters: Any,
) -> None:
    """What matching coverage talks about: terms that stand out against all coverage
    in the same period, with the stories each comes from."""
    from ingest.analysis.attention import significant_terms
    from ingest.cli.render.attention import terms_csv, terms_json, terms_table

    output = output_format(output, as_json)
    client = store.connect(settings)
    total, found = significant_terms(
        client, index_names(settings), query, filters_of(filters), size, sample
    )
    if output == "json":
        click.echo(terms_json(query, total, found))
    elif output == "csv":
        click.echo(terms_csv(found), nl=False)
    elif total == 0:
        console.print(f"[yellow]{query!r} matches no article.[/]")
    elif not found:
        console.print(
            f"[yellow]{total} articles match {query!r}, but no term stands out against the "
            "rest of the coverage: too few articles, or too little text (feed-only).[/]"
        )
    else:
        console.print(terms_table(query, total, found))
