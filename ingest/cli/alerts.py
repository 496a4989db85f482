"""`mediamon alerts sync|list|test|history|spikes|notify|retry`: the alert rules, what they
match, what they raised and its delivery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ingest import store
from ingest.cli.options import index_names
from ingest.cli.render.alerts import print_alerts, print_rules, print_spikes
from ingest.cli.render.console import console
from ingest.cli.render.hits import print_hits
from ingest.cli.render.runs import print_report
from ingest.config import Settings, environment
from ingest.models import RunReport
from ingest.run_id import run_id

__all__ = ["alerts_group", "deliver_now", "delivery_settings"]


@click.group("alerts")
def alerts_group() -> None:
    """Alert rules: sync them, try them, see what they raised (see examples/alerts.yaml)."""


def delivery_settings() -> Any:
    """Delivery settings from MEDIAMON_SMTP_* and MEDIAMON_SECRET_* (the CLI is an edge)."""
    from ingest.alerts.notify import DeliverySettings

    return DeliverySettings.from_env(environment())


@alerts_group.command("sync")
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(path_type=Path),
    required=True,
    envvar="MEDIAMON_RULES",
    help="Rules file (YAML) [env MEDIAMON_RULES].",
)
@click.pass_obj
def alerts_sync(settings: Settings, rules_file: Path) -> None:
    """Validate every rule (Elasticsearch parses each query) and sync the file: all or nothing."""
    from ingest.alerts import sync_rules_from

    result = sync_rules_from(store.connect(settings), index_names(settings), rules_file)
    console.print(
        f"[green]✓[/] {result.total} rules synced: {len(result.created)} new, "
        f"{len(result.updated)} changed, {len(result.unchanged)} unchanged, "
        f"{len(result.removed)} removed"
        + (f" ({', '.join(result.removed)})" if result.removed else "")
    )


@alerts_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the rules as JSON.")
@click.pass_obj
def alerts_list(settings: Settings, as_json: bool) -> None:
    """The synced rules, with the articles each matched and its alerts by status."""
    from ingest.alerts import list_rules

    summaries = list_rules(store.connect(settings), index_names(settings))
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in summaries], indent=2, ensure_ascii=False))
        return
    print_rules(summaries)


@alerts_group.command("test")
@click.argument("rule_id")
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(path_type=Path),
    help="Take the rule from this file (not synced) instead of the rules index.",
)
@click.option("--since", help="From: 2021-11-01, or 24h / 7d / 2w ago.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print hits as JSON.")
@click.pass_obj
def alerts_test(
    settings: Settings,
    rule_id: str,
    rules_file: Path | None,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """What RULE_ID matches among the indexed articles: for writing and tuning rules."""
    from ingest.alerts import get_rule, load_rules, test_rule, validate_rules
    from ingest.errors import ConfigError

    client, names = store.connect(settings), index_names(settings)
    if rules_file:
        rule = next((r for r in load_rules(rules_file) if r.id == rule_id), None)
        problems = validate_rules(client, names, [rule]) if rule else []
        if problems:
            raise ConfigError("; ".join(problems))
    else:
        rule = get_rule(client, names, rule_id)
    if rule is None:
        where = rules_file or "the rules index (sync first, or pass --rules)"
        raise ConfigError(f"no rule {rule_id!r} in {where}")
    total, hits = test_rule(client, names, rule, since, limit)
    if as_json:
        payload = {"rule": rule.id, "total": total, "hits": [h.to_dict() for h in hits]}
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    print_hits(f"{rule.id}: {rule.query}", total, hits)


@alerts_group.command("history")
@click.option("--rule", "rule_id", help="Only this rule's alerts.")
@click.option("--status", type=click.Choice(["pending", "sent", "failed"]))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Print the alerts as JSON.")
@click.pass_obj
def alerts_history(
    settings: Settings, rule_id: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """The alerts raised, newest first, with their notification state."""
    from ingest.alerts import alert_history

    found = alert_history(
        store.connect(settings), index_names(settings), rule_id, status, limit=limit
    )
    if as_json:
        docs = [alert.to_document() for alert in found]
        for doc in docs:
            doc.pop("lease_owner", None), doc.pop("lease_until", None)
        click.echo(json.dumps(docs, indent=2, ensure_ascii=False))
        return
    print_alerts("Alerts", found)


@alerts_group.command("spikes")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.pass_obj
def alerts_spikes(settings: Settings, as_json: bool) -> None:
    """Check the rules that ask for volume-spike alerts (daily), and notify new spikes."""
    from ingest.alerts import check_spikes

    client, names = store.connect(settings), index_names(settings)
    checks = check_spikes(client, names)
    report = deliver_now(settings, client)
    if as_json:
        payload = [c.to_dict() for c in checks]
        click.echo(json.dumps({"checks": payload, "counts": dict(report.counts)}, indent=2,
                              ensure_ascii=False))  # fmt: skip
        return
    print_spikes(checks)


@alerts_group.command("notify")
@click.pass_obj
def alerts_notify(settings: Settings) -> None:
    """Deliver pending alerts now (every run does this too)."""
    report = deliver_now(settings, store.connect(settings))
    print_report(report)


@alerts_group.command("retry")
@click.option("--rule", "rule_id", help="Only this rule's alerts.")
@click.pass_obj
def alerts_retry(settings: Settings, rule_id: str | None) -> None:
    """Put failed alerts back to pending (after fixing their target); the next run sends them."""
    from ingest.alerts import requeue_failed

    n = requeue_failed(store.connect(settings), index_names(settings), rule_id)
    console.print(f"[green]✓[/] {n} failed alerts are pending again")


def deliver_now(settings: Settings, client: Any) -> RunReport:
    """Deliver the pending alerts, outside a run: the report of a notify-only run."""
    from datetime import UTC, datetime

    from ingest.alerts import notify_pending

    started = datetime.now(UTC)
    report = RunReport(run_id=run_id("notify", started=started), started_at=started)
    notify_pending(client, settings, delivery_settings(), report, owner=report.run_id)
    report.finished_at = datetime.now(UTC)
    return report
