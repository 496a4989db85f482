"""Runs (`mediamon run`, `refetch`, `alerts notify`): the progress bars while a run works,
and the tables of what it did."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgressBar
from rich.table import Table

from ingest.cli.render.console import console
from ingest.models import RunReport

__all__ = ["BarProgress", "print_report", "progress_bars"]


@contextmanager
def progress_bars() -> Iterator[BarProgress]:
    """A bar per pipeline stage, drawn while the block runs and left on screen after it."""
    with RichProgressBar(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        yield BarProgress(bar)


class BarProgress:
    """Feeds the pipeline's progress events into a rich progress bar."""

    def __init__(self, bar: RichProgressBar) -> None:
        self.bar = bar
        self.tasks: dict[str, TaskID] = {}

    def start(self, stage: str, total: int) -> None:
        self.tasks[stage] = self.bar.add_task(stage, total=total)

    def advance(self, stage: str, n: int = 1) -> None:
        if stage in self.tasks:
            self.bar.advance(self.tasks[stage], n)


def print_report(report: RunReport) -> None:
    duration = (report.finished_at - report.started_at).total_seconds() if report.finished_at else 0
    console.print(f"\n[bold]Run {report.run_id}[/] in {duration:.1f} s")
    counts = Table("count", "n", title="What happened", title_justify="left")
    for key in sorted(report.counts):
        counts.add_row(key, str(report.counts[key]))
    console.print(counts)
    for title, counter in (
        ("New articles by language", report.by_language),
        ("New articles by source", report.by_source),
        ("Failures by reason", report.failures),
    ):
        if counter:
            table = Table("key", "n", title=title, title_justify="left")
            for key, n in counter.most_common():
                table.add_row(key, str(n))
            console.print(table)
