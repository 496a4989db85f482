"""`mediamon related` and `history`: one stored article, the story it belongs to, and how it
changed after publication."""

from __future__ import annotations

import json
from typing import Any

import click

from ingest import store
from ingest.cli.options import index_names
from ingest.cli.render.console import console
from ingest.config import Settings

__all__ = ["history", "related"]


def _stored_article(settings: Settings, ref: str) -> tuple[Any, store.StoredArticle]:
    """The client and the article that ID or URL `ref` names (a clear error if none)."""
    client = store.connect(settings)
    found = store.find_article(client, index_names(settings), ref)
    if found is None:
        raise click.ClickException(f"no article with id or URL {ref!r}")
    return client, found


@click.command()
@click.argument("ref", metavar="ID|URL")
@click.option(
    "--limit",
    default=10,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Related articles to list.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the story and related articles as JSON."
)
@click.pass_obj
def related(settings: Settings, ref: str, limit: int, as_json: bool) -> None:
    """Show the story an article belongs to (its copies, sources, dates) and related coverage."""
    from ingest.cli.render.stories import render_related
    from ingest.stories import related_coverage

    client, found = _stored_article(settings, ref)
    coverage = related_coverage(client, index_names(settings), found, limit)
    if as_json:
        click.echo(json.dumps(coverage.to_dict(), indent=2, ensure_ascii=False))
        return
    for part in render_related(coverage):
        console.print(part)


@click.command()
@click.argument("ref", metavar="ID|URL")
@click.option("--json", "as_json", is_flag=True, help="Print the versions and diffs as JSON.")
@click.pass_obj
def history(settings: Settings, ref: str, as_json: bool) -> None:
    """Show how an article changed after publication: title and body, version by version."""
    from ingest.cli.render.history import render_history
    from ingest.revisions import article_history, diff_versions

    client, found = _stored_article(settings, ref)
    names = index_names(settings)
    record = article_history(client, names, found.id, found.source)
    if not as_json:
        for part in render_history(record):
            console.print(part)
        return
    pairs = zip(record.versions, record.versions[1:], strict=False)
    changes = [diff_versions(a, b) for a, b in pairs]
    payload = {
        "id": record.article_id,
        "url": record.url,
        "versions": [v.__dict__ for v in record.versions],
        "changes": [
            {
                "from": d.before.number,
                "to": d.after.number,
                "title_changed": d.title_changed,
                "body": [c.to_dict() for c in d.body if c.op != "same"],
                "unified_diff": d.unified(),
            }
            for d in changes
        ],
    }
    click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
