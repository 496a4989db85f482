"""How `mediamon related` prints an article's story and related coverage: rich text and tables.

The data come from `ingest.stories.related_coverage`; `--json` prints `to_dict()` instead.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from ingest.stories.related import RelatedCoverage

__all__ = ["render_related"]


def render_related(found: RelatedCoverage) -> list[RenderableType]:
    """`mediamon related`: the story (sources and dates), then related articles."""
    a = found.article
    head = Text.assemble(
        (a.title, "bold"), f"\n{a.source} · {a.language} · {a.published_at[:16]} · {a.relation}"
    )
    story = Table(
        "published",
        "source",
        "lang",
        "relation",
        "title",
        title_justify="left",
        title=f"Same story: {len(found.story) + 1} articles, {len(found.sources)} "
        f"outlet(s): {', '.join(found.sources)}",
    )
    for c in found.story:
        story.add_row(c.published_at[:16], c.source, c.language, c.relation, c.title)
    related = Table(
        "score",
        "published",
        "source",
        "lang",
        "title",
        title_justify="left",
        title="Related coverage (same language first)",
    )
    for c in found.related:
        related.add_row(f"{c.score or 0:.1f}", c.published_at[:16], c.source, c.language, c.title)
    parts: list[RenderableType] = [head]
    parts.append(story if found.story else Text("No other copy of this story.", style="dim"))
    parts.append(related if found.related else Text("No related article found.", style="dim"))
    return parts
