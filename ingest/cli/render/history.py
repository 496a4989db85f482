"""An article's history (`mediamon history`, the demo): each change between consecutive
versions, readable in a terminal.

Removed words read `[-so-]`, added ones `{+so+}` (as `git diff --word-diff`), so the diff
stays legible without colour, e.g. piped into a file.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ingest.revisions import History, ParagraphChange, VersionDiff, diff_versions

__all__ = ["render_diff", "render_history"]

_STYLES = {"removed": "red strike", "added": "green", "same": ""}


def render_history(history: History) -> list[RenderableType]:
    """`mediamon history`: each change between consecutive versions, readable in a terminal."""
    count = len(history.versions) - 1
    parts: list[RenderableType] = [
        Text.assemble(
            (history.versions[-1].title, "bold"),
            f"\n{history.source} · {history.url}\n",
            f"{count} revision{'s' if count != 1 else ''} · id {history.article_id}",
        )
    ]
    if not count:
        parts.append(Text("No change seen since it was first indexed.", style="dim"))
    for before, after in zip(history.versions, history.versions[1:], strict=False):
        parts.append(render_diff(diff_versions(before, after)))
    return parts


def render_diff(diff: VersionDiff) -> RenderableType:
    """One change: the title before and after, then the body's changed paragraphs.

    Removed words read `[-so-]`, added ones `{+so+}` (as `git diff --word-diff`), so the
    diff stays legible without colour, e.g. piped into a file.
    """
    rows = Table.grid(padding=(0, 1))
    rows.add_column(style="bold", no_wrap=True)
    rows.add_column()
    if diff.title_changed:
        rows.add_row("title", Text(f"[-{diff.before.title}-]", style="red strike"))
        rows.add_row("", Text(f"{{+{diff.after.title}+}}", style="green"))
    unchanged = 0
    for change in diff.body:
        if change.op == "same":
            unchanged += 1
            continue
        if unchanged:
            rows.add_row("", Text(f"… {unchanged} unchanged paragraph(s)", style="dim"))
            unchanged = 0
        rows.add_row(*_render_change(change))
    if unchanged:
        rows.add_row("", Text(f"… {unchanged} unchanged paragraph(s)", style="dim"))
    if not diff.title_changed and all(c.op == "same" for c in diff.body):
        rows.add_row("", Text("(only spacing, case or punctuation changed)", style="dim"))
    title = (
        f"version {diff.before.number} → {diff.after.number}: "
        f"seen {_short(diff.before.seen_from)}, replaced {_short(diff.before.replaced_at)}"
    )
    return Panel(rows, title=title, title_align="left")


_MARKERS = {"removed": ("[-", "-]"), "added": ("{+", "+}"), "same": ("", "")}


def _render_change(change: ParagraphChange) -> tuple[Text, Text]:
    if change.op == "removed":
        return Text("-", style="red"), Text(change.before, style="red")
    if change.op == "added":
        return Text("+", style="green"), Text(change.after, style="green")
    text = Text()
    spaced = " " in change.before or " " in change.after  # not so in Japanese or Chinese
    for position, (op, words) in enumerate(change.words):
        opening, closing = _MARKERS[op]
        text.append(" " if position and spaced else "")
        text.append(f"{opening}{words}{closing}", style=_STYLES[op])
    return Text("~", style="yellow"), text


def _short(iso: str | None) -> str:
    return (iso or "?")[:16].replace("T", " ")
