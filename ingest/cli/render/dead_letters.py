"""Dead letters (`mediamon dead-letters`): counts by error type, then the latest refusals."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.markup import escape
from rich.table import Table

from ingest.cli.render.console import console

__all__ = ["print_dead_letters"]


def print_dead_letters(by_type: Counter[str], latest: list[dict[str, Any]]) -> None:
    counts = Table("error type", "n", title="Dead letters", title_justify="left")
    for error_type, n in by_type.most_common():
        counts.add_row(error_type, str(n))
    console.print(counts)
    table = Table("last failed", "tries", "status", "url / reason", show_lines=True)
    for doc in latest:
        reason = f"{escape(doc['url'])}\n[dim]{escape(doc['reason'][:300])}[/]"
        table.add_row(doc["last_failed_at"][:19], str(doc["attempts"]), str(doc["status"]), reason)
    if latest:
        console.print(table)
