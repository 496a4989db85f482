"""`mediamon es start|install|stop|status`: the embedded Elasticsearch."""

from __future__ import annotations

import click

from ingest import embedded
from ingest.cli.render.console import console
from ingest.config import DEFAULT_ES_PORT, Settings

__all__ = ["es"]


@click.group()
def es() -> None:
    """Start, stop or check the embedded Elasticsearch (data kept between starts)."""


@es.command("start")
@click.option("--port", default=DEFAULT_ES_PORT, show_default=True, help="HTTP port on 127.0.0.1.")
@click.option("--heap", default=embedded.DEFAULT_HEAP, show_default=True, help="Java heap size.")
@click.pass_obj
def es_start(settings: Settings, port: int, heap: str) -> None:
    """Start it (first time: resolve the jars with Maven), or reuse the running one."""
    with console.status(f"Starting Elasticsearch {embedded.ES_VERSION} on 127.0.0.1:{port} …"):
        status = embedded.start(settings.home, port=port, heap=heap)
    console.print(f"[green]✓[/] {status.message} (data under {embedded.es_dir(settings.home)})")


@es.command("install")
@click.pass_obj
def es_install(settings: Settings) -> None:
    """Resolve the Elasticsearch jars with Maven (done by `es start` when needed)."""
    lib = embedded.install(settings.home)
    console.print(f"[green]✓[/] Elasticsearch {embedded.ES_VERSION} jars in {lib}")


@es.command("stop")
@click.option("--port", default=DEFAULT_ES_PORT, show_default=True)
@click.pass_obj
def es_stop(settings: Settings, port: int) -> None:
    """Stop the embedded Elasticsearch started from this home folder."""
    status = embedded.stop(settings.home, port=port)
    console.print(
        "stopped" if not status.running else f"[yellow]still running:[/] {status.message}"
    )


@es.command("status")
@click.option("--port", default=DEFAULT_ES_PORT, show_default=True)
@click.pass_obj
def es_status(settings: Settings, port: int) -> None:
    """Say whether Elasticsearch answers on 127.0.0.1:PORT (exit 1 if not)."""
    status = embedded.status(settings.home, port=port)
    console.print(status.message + (f" (pid {status.pid})" if status.pid else ""))
    if not status.running:
        raise SystemExit(1)
