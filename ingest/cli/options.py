"""What several commands share: the coverage filters, --interval, --format/--json, and the
index names of the settings' prefix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ingest import store
from ingest.analysis.search import SearchFilters
from ingest.config import Settings

__all__ = [
    "coverage_filters",
    "filters_of",
    "index_names",
    "interval_option",
    "output_format",
    "output_option",
]

F = TypeVar("F", bound=Callable[..., Any])


def coverage_filters(command: F) -> F:
    """--lang, --source, --feed (each repeatable), --since and --until."""
    options = [
        click.option("--lang", "languages", multiple=True, help="Only these languages."),
        click.option("--source", "sources", multiple=True, help="Only these sources."),
        click.option("--feed", "feeds", multiple=True, help="Only articles from these feeds."),
        click.option("--since", help="From: 2021-11-01, 2021-11-01T08:00, or 24h / 7d / 2w ago."),
        click.option("--until", help="Until, in the same forms."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def filters_of(options: dict[str, Any]) -> SearchFilters:
    """The `coverage_filters` a command received, as search filters."""
    return SearchFilters(
        tuple(options["languages"]),
        tuple(options["sources"]),
        options["since"],
        options["until"],
        tuple(options["feeds"]),
    )


def output_option(command: F) -> F:
    """--format table|json|csv, and --json as the other commands have it (`output_format` reads
    both)."""
    command = click.option("--json", "as_json", is_flag=True, help="Same as --format json.")(
        command
    )
    return click.option(
        "--format",
        "output",
        type=click.Choice(["table", "json", "csv"]),
        default="table",
        show_default=True,
    )(command)


def output_format(output: str, as_json: bool) -> str:
    """--format's value, or json when --json was given."""
    return "json" if as_json else output


def index_names(settings: Settings) -> store.IndexNames:
    return store.IndexNames(settings.index_prefix)


def interval_option(command: F) -> F:
    return click.option(
        "--interval",
        type=click.Choice(["hour", "day", "week"]),
        default="day",
        show_default=True,
        help="Bucket size (UTC; weeks start on Monday).",
    )(command)
