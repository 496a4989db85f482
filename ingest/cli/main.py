"""The root `mediamon` group (--es-url, --prefix, errors as one line) and `main`; every
command group is its own module of `ingest.cli`, added here."""

from __future__ import annotations

import signal
from typing import Any

import click

from ingest.cli import alerts, articles, attention, demo, es, indices, kibana, runs, search
from ingest.config import Settings
from ingest.errors import MediamonError, RunInterrupted

__all__ = ["cli", "main"]


class _Group(click.Group):
    """Turns mediamon's own errors into one clear line and a non-zero exit, not a traceback;
    an interrupted command (Ctrl-C, SIGTERM during a run) exits with the shell's 128 + n."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RunInterrupted as exc:
            click.echo(f"Interrupted: {exc}", err=True)
            ctx.exit(exc.exit_status)
        except KeyboardInterrupt:  # Ctrl-C outside a run's own handling (ingest.interrupt)
            click.echo("Interrupted (SIGINT)", err=True)
            ctx.exit(128 + signal.SIGINT)
        except MediamonError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group)
@click.option("--es-url", envvar="ES_URL", help="Elasticsearch URL [env ES_URL; default: embedded]")
@click.option(
    "--prefix",
    envvar="MEDIAMON_INDEX_PREFIX",
    default="mediamon",
    show_default=True,
    help="Prefix of every index and template name.",
)
@click.pass_context
def cli(ctx: click.Context, es_url: str | None, prefix: str) -> None:
    """mediamon: news feeds into Elasticsearch, searchable and alerting.

    Without --es-url/ES_URL it talks to the embedded Elasticsearch on 127.0.0.1:9200
    (`mediamon es start`).
    """
    overrides: dict[str, Any] = {"index_prefix": prefix}
    if es_url:
        overrides["es_url"] = es_url
    ctx.obj = Settings.from_env(**overrides)


for command in (
    es.es,
    indices.setup,
    indices.migrate,
    indices.dead_letters,
    runs.run,
    runs.refetch,
    search.search,
    search.trend,
    attention.compare,
    attention.breakdown,
    attention.terms,
    alerts.alerts_group,
    articles.related,
    articles.history,
    kibana.kibana,
    demo.demo,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="mediamon")


if __name__ == "__main__":
    main()
