"""`mediamon kibana import`: the saved objects of mappings/kibana/ into a Kibana."""

from __future__ import annotations

from pathlib import Path

import click

from ingest.cli.render.console import console
from ingest.config import Settings

__all__ = ["kibana"]


@click.group()
def kibana() -> None:
    """Kibana saved objects: data views, searches and dashboards (mappings/kibana/)."""


@kibana.command("import")
@click.option(
    "--kibana-url",
    envvar="MEDIAMON_KIBANA_URL",
    required=True,
    help="Kibana, e.g. http://localhost:5601 [env MEDIAMON_KIBANA_URL].",
)
@click.option(
    "--username",
    envvar="MEDIAMON_KIBANA_USERNAME",
    help="Basic auth user [env MEDIAMON_KIBANA_USERNAME].",
)
@click.option(
    "--password",
    envvar="MEDIAMON_KIBANA_PASSWORD",
    help="Basic auth password [env MEDIAMON_KIBANA_PASSWORD].",
)
@click.option(
    "--api-key",
    envvar="MEDIAMON_KIBANA_API_KEY",
    help="API key, base64 id:key, instead of a password [env MEDIAMON_KIBANA_API_KEY].",
)
@click.option("--space", help="Kibana space to import into (default: the default space).")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def kibana_import(
    settings: Settings,
    kibana_url: str,
    username: str | None,
    password: str | None,
    api_key: str | None,
    space: str | None,
    files: tuple[Path, ...],
) -> None:
    """Import the saved objects (FILES, default all of mappings/kibana/); re-importing
    replaces them in place. Data views follow the index prefix."""
    from ingest.kibana import import_saved_objects

    result = import_saved_objects(
        kibana_url,
        list(files) or None,
        username=username,
        password=password,
        api_key=api_key,
        space=space,
        prefix=settings.index_prefix,
    )
    console.print(f"[green]✓[/] {result.success_count} saved objects imported into {kibana_url}")
    for kind, object_id, title in result.objects:
        console.print(f"  {kind:<14} {title or object_id}")
