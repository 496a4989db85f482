"""`mediamon run` and `refetch`: an ingestion pass over the feeds, and the re-check of
articles at fixed ages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ingest import store
from ingest.cli.alerts import delivery_settings
from ingest.cli.options import index_names
from ingest.cli.render.alerts import print_alerts
from ingest.cli.render.console import console
from ingest.cli.render.runs import print_report, progress_bars
from ingest.config import Settings
from ingest.models import RunReport

__all__ = ["refetch", "run", "run_pass"]


@click.command()
@click.option(
    "--feeds",
    "feeds_file",
    type=click.Path(path_type=Path),
    required=True,
    envvar="MEDIAMON_FEEDS",
    help="Feeds file (YAML) [env MEDIAMON_FEEDS].",
)
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(path_type=Path),
    envvar="MEDIAMON_RULES",
    help="Alert rules file (YAML), validated and synced first [env MEDIAMON_RULES].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
@click.pass_obj
def run(settings: Settings, feeds_file: Path, rules_file: Path | None, as_json: bool) -> None:
    """Run one ingestion pass over the feeds in FEEDS (and alert on the rules in RULES)."""
    report = run_pass(settings, feeds_file, show_progress=not as_json, rules_file=rules_file)
    if as_json:
        click.echo(json.dumps(report.to_document(), indent=2, ensure_ascii=False))
    else:
        print_report(report)
        _print_raised(settings, report)


@click.command()
@click.option(
    "--after",
    "ages",
    multiple=True,
    default=("24h", "7d"),
    show_default=True,
    envvar="MEDIAMON_REFETCH_AFTER",
    help="Ages to re-check articles at (repeatable: 90m, 24h, 7d, 2w) "
    "[env MEDIAMON_REFETCH_AFTER, space-separated].",
)
@click.option(
    "--late-by",
    default="2d",
    show_default=True,
    help="How late a check may still run (a stage missed longer is skipped).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
@click.pass_obj
def refetch(settings: Settings, ages: tuple[str, ...], late_by: str, as_json: bool) -> None:
    """Re-fetch articles at the ages given and keep the earlier version of any that changed."""
    from ingest.revisions import parse_stage, refetch_due

    stages = [parse_stage(age) for age in ages]
    client = store.connect(settings)
    store.install_templates(client, index_names(settings))
    report = refetch_due(settings, client, stages=stages, late_by=parse_stage(late_by).after)
    if as_json:
        click.echo(json.dumps(report.to_document(), indent=2, ensure_ascii=False))
    else:
        print_report(report)


def run_pass(
    settings: Settings, feeds_file: Path, *, show_progress: bool, rules_file: Path | None = None
) -> RunReport:
    """One ingestion pass over the feeds of `feeds_file` (with progress bars if asked)."""
    from ingest.alerts import load_rules
    from ingest.feeds import load_feeds
    from ingest.pipeline import run_feeds

    feed_list = load_feeds(feeds_file)
    rules = load_rules(rules_file) if rules_file else None
    client = store.connect(settings)
    store.install_templates(client, index_names(settings))
    options: dict[str, Any] = {"rules": rules, "delivery": delivery_settings()}
    if not show_progress:
        return run_feeds(feed_list, settings, client, **options)
    with progress_bars() as progress:
        return run_feeds(feed_list, settings, client, progress=progress, **options)


def _print_raised(settings: Settings, report: RunReport) -> None:
    """The alerts this run raised (new matches), with their notification state."""
    from ingest.alerts import alert_history

    if not report.counts.get("alerts.matched"):
        console.print("no new alerts this run")
        return
    raised = alert_history(store.connect(settings), index_names(settings), run_id=report.run_id)
    print_alerts(f"Alerts raised by this run ({len(raised)})", raised)
