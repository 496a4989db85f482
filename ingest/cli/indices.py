"""`mediamon setup`, `migrate` and `dead-letters`: the indices themselves, and what they
refused."""

from __future__ import annotations

import json

import click

from ingest import store
from ingest.cli.options import index_names
from ingest.cli.render.console import console
from ingest.cli.render.dead_letters import print_dead_letters
from ingest.config import Settings

__all__ = ["dead_letters", "migrate", "setup"]


@click.command()
@click.pass_obj
def setup(settings: Settings) -> None:
    """Install or upgrade the index templates (idempotent)."""
    client = store.connect(settings)
    installed = store.install_templates(client, index_names(settings))
    console.print(f"[green]✓[/] templates installed: {', '.join(installed)}")


@click.command()
@click.pass_obj
def migrate(settings: Settings) -> None:
    """Move articles of the old per-month indices behind the alias (safe to run again)."""
    from ingest.store.migrate import migrate_articles

    client = store.connect(settings)
    outcome = migrate_articles(client, index_names(settings))
    console.print(f"[green]✓[/] {outcome.summary()}")


@click.command("dead-letters")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(0, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print the counts and latest as JSON.")
@click.pass_obj
def dead_letters(settings: Settings, limit: int, as_json: bool) -> None:
    """Articles Elasticsearch refused (a 4xx): counts by error type, then the latest."""
    by_type, latest = store.dead_letters(store.connect(settings), index_names(settings), limit)
    if as_json:
        payload = {"by_type": by_type, "latest": latest}
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    print_dead_letters(by_type, latest)
