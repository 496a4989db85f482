"""Search hits (`mediamon search`, `alerts test`, the demo): date, source, language, title and
the highlighted snippet."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from ingest.cli.render.console import console

__all__ = ["print_hits"]


def print_hits(query: str, total: int, hits: list[Any]) -> None:
    table = Table(
        "date",
        "source",
        "lang",
        "title / snippet",
        title=f"{query!r}: {total} found",
        title_justify="left",
        show_lines=True,
    )
    for hit in hits:
        snippet = escape(hit.snippet).replace("<em>", "[bold yellow]").replace("</em>", "[/]")
        table.add_row(
            hit.published_at[:10],
            escape(hit.source),
            hit.language,
            f"[bold]{escape(hit.title)}[/]\n{snippet}",
        )
    console.print(table)
