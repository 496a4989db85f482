"""The `mediamon` command: embedded Elasticsearch, setup, runs, search and the demo."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgressBar
from rich.table import Table

from ingest import embedded, store
from ingest.cli import attention
from ingest.cli.attention import coverage_filters, interval_option, output_format
from ingest.config import DEFAULT_ES_PORT, REPOSITORY, Settings, parse_cidrs
from ingest.errors import MediamonError, RunInterrupted
from ingest.models import RunReport

console = Console()


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


# -- embedded Elasticsearch -------------------------------------------------------------


@cli.group()
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


# -- setup, run, search -----------------------------------------------------------------


@cli.command()
@click.pass_obj
def setup(settings: Settings) -> None:
    """Install or upgrade the index templates (idempotent)."""
    client = store.connect(settings)
    installed = store.install_templates(client, store.IndexNames(settings.index_prefix))
    console.print(f"[green]✓[/] templates installed: {', '.join(installed)}")


@cli.command()
@click.pass_obj
def migrate(settings: Settings) -> None:
    """Move articles of the old per-month indices behind the alias (safe to run again)."""
    from ingest.store.migrate import migrate_articles

    client = store.connect(settings)
    outcome = migrate_articles(client, store.IndexNames(settings.index_prefix))
    console.print(f"[green]✓[/] {outcome.summary()}")


@cli.command()
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
    report = _run_pass(settings, feeds_file, show_progress=not as_json, rules_file=rules_file)
    if as_json:
        click.echo(json.dumps(report.to_document(), indent=2, ensure_ascii=False))
    else:
        print_report(report)
        _print_raised(settings, report)


@cli.command()
@click.argument("query", default="")
@click.option("--lang", "languages", multiple=True, help="Only these languages (repeatable).")
@click.option("--source", "sources", multiple=True, help="Only these sources (repeatable).")
@click.option("--since", help="From: 2021-11-01, 2021-11-01T08:00, or 24h / 7d / 2w ago.")
@click.option("--until", help="Until, in the same forms.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print hits as JSON.")
@click.pass_obj
def search(
    settings: Settings,
    query: str,
    languages: tuple[str, ...],
    sources: tuple[str, ...],
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Search articles with Kibana's query-string syntax, e.g. '"Poolse grens" OR vluchteling',
    plus NEAR/n and ONEAR/n proximity: 'vluchteling NEAR/5 grens' (README, "Query syntax")."""
    from ingest.analysis.search import SearchFilters, search_articles

    client = store.connect(settings)
    filters = SearchFilters(languages, sources, since, until)
    names = store.IndexNames(settings.index_prefix)
    total, hits = search_articles(client, names, query, filters, limit)
    if as_json:
        payload = {"total": total, "hits": [h.to_dict() for h in hits]}
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    print_hits(query, total, hits)


# -- alerts -----------------------------------------------------------------------------


@cli.group("alerts")
def alerts_group() -> None:
    """Alert rules: sync them, try them, see what they raised (see examples/alerts.yaml)."""


def _delivery() -> Any:
    """Delivery settings from MEDIAMON_SMTP_* and MEDIAMON_SECRET_* (the CLI is an edge)."""
    from ingest.alerts.notify import DeliverySettings

    return DeliverySettings.from_env(os.environ)


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

    result = sync_rules_from(store.connect(settings), _names(settings), rules_file)
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

    summaries = list_rules(store.connect(settings), _names(settings))
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in summaries], indent=2, ensure_ascii=False))
        return
    table = Table(
        "id",
        "query",
        "only",
        "notify",
        "articles",
        "alerts",
        title="Alert rules",
        title_justify="left",
        show_lines=True,
    )
    for s in summaries:
        only = " ".join([*s.rule.languages, *s.rule.sources])
        notify = " ".join(f"{t.type}{'(digest)' if t.digest else ''}" for t in s.rule.notify)
        states = " ".join(f"{k}:{v}" for k, v in sorted(s.alerts.items()))
        table.add_row(s.rule.id, escape(s.rule.query), only, notify, str(s.articles), states)
    console.print(table)


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

    client, names = store.connect(settings), _names(settings)
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

    found = alert_history(store.connect(settings), _names(settings), rule_id, status, limit=limit)
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

    client, names = store.connect(settings), _names(settings)
    checks = check_spikes(client, names)
    report = _deliver_now(settings, client)
    if as_json:
        payload = [c.to_dict() for c in checks]
        click.echo(json.dumps({"checks": payload, "counts": dict(report.counts)}, indent=2,
                              ensure_ascii=False))  # fmt: skip
        return
    table = Table(
        "rule",
        "last day",
        "daily mean",
        "factor",
        "min",
        "spike",
        "new alert",
        title="Volume spikes",
        title_justify="left",
    )
    for c in checks:
        table.add_row(
            c.rule_id,
            str(c.last_day),
            f"{c.daily_mean:.1f}",
            f"{c.spike.factor:g}",
            str(c.spike.min_count),
            "yes" if c.spiking else "",
            "yes" if c.alerted else "",
        )
    console.print(table)
    print_spike_explanations(checks)


def print_spike_explanations(checks: list[Any]) -> None:
    """What changed on each spiking rule's day, as the spike alert's messages say it."""
    from ingest.alerts.explanation import explanation_lines

    for check in checks:
        if check.explanation is not None:
            console.print(f"[bold]{escape(check.rule_id)}[/]: what changed")
            for line in explanation_lines(check.explanation.to_dict()):
                console.print(f"  {escape(line)}")


@alerts_group.command("notify")
@click.pass_obj
def alerts_notify(settings: Settings) -> None:
    """Deliver pending alerts now (every run does this too)."""
    report = _deliver_now(settings, store.connect(settings))
    print_report(report)


@alerts_group.command("retry")
@click.option("--rule", "rule_id", help="Only this rule's alerts.")
@click.pass_obj
def alerts_retry(settings: Settings, rule_id: str | None) -> None:
    """Put failed alerts back to pending (after fixing their target); the next run sends them."""
    from ingest.alerts import requeue_failed

    n = requeue_failed(store.connect(settings), _names(settings), rule_id)
    console.print(f"[green]✓[/] {n} failed alerts are pending again")


def _deliver_now(settings: Settings, client: Any) -> RunReport:
    from datetime import UTC, datetime

    from ingest.alerts import notify_pending

    started = datetime.now(UTC)
    report = RunReport(run_id=f"notify-{started:%Y%m%dT%H%M%SZ}", started_at=started)
    notify_pending(client, settings, _delivery(), report, owner=report.run_id)
    report.finished_at = datetime.now(UTC)
    return report


def _names(settings: Settings) -> store.IndexNames:
    return store.IndexNames(settings.index_prefix)


def _print_raised(settings: Settings, report: RunReport) -> None:
    """The alerts this run raised (new matches), with their notification state."""
    from ingest.alerts import alert_history

    if not report.counts.get("alerts.matched"):
        console.print("no new alerts this run")
        return
    raised = alert_history(store.connect(settings), _names(settings), run_id=report.run_id)
    print_alerts(f"Alerts raised by this run ({len(raised)})", raised)


def print_alerts(title: str, found: list[Any]) -> None:
    table = Table(
        "created",
        "rule",
        "status",
        "article / spike",
        title=title,
        title_justify="left",
        show_lines=True,
    )
    for alert in found:
        if alert.kind == "spike":
            what = f"spike: {alert.spike['last_day']} in a day (mean {alert.spike['daily_mean']})"
        else:
            article = alert.article
            what = (
                f"[bold]{escape(article.get('title', ''))}[/]\n"
                f"{escape(article.get('source', ''))} {article.get('url', '')}"
            )
            if alert.story and alert.story.get("articles", 1) > 1:  # the story's other copies
                sources = ", ".join(alert.story.get("sources") or [])
                what += (
                    f"\n{alert.outlets} outlets, {alert.story.get('articles', 1)} articles: "
                    f"{escape(sources)}"
                )
        status = alert.status + (f"\n{escape(alert.last_error)}" if alert.last_error else "")
        table.add_row(alert.created_at.strftime("%Y-%m-%d %H:%M"), alert.rule_id, status, what)
    console.print(table)


# -- following a story: related, history, refetch, trend --------------------------------


def _stored_article(settings: Settings, ref: str) -> tuple[Any, store.StoredArticle]:
    """The client and the article that ID or URL `ref` names (a clear error if none)."""
    client = store.connect(settings)
    found = store.find_article(client, store.IndexNames(settings.index_prefix), ref)
    if found is None:
        raise click.ClickException(f"no article with id or URL {ref!r}")
    return client, found


@cli.command()
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
    from ingest.stories import related_coverage, render_related

    client, found = _stored_article(settings, ref)
    coverage = related_coverage(client, store.IndexNames(settings.index_prefix), found, limit)
    if as_json:
        click.echo(json.dumps(coverage.to_dict(), indent=2, ensure_ascii=False))
        return
    for part in render_related(coverage):
        console.print(part)


@cli.command()
@click.argument("ref", metavar="ID|URL")
@click.option("--json", "as_json", is_flag=True, help="Print the versions and diffs as JSON.")
@click.pass_obj
def history(settings: Settings, ref: str, as_json: bool) -> None:
    """Show how an article changed after publication: title and body, version by version."""
    from ingest.revisions import article_history, diff_versions, render_history

    client, found = _stored_article(settings, ref)
    names = store.IndexNames(settings.index_prefix)
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


@cli.command("dead-letters")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(0, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print the counts and latest as JSON.")
@click.pass_obj
def dead_letters(settings: Settings, limit: int, as_json: bool) -> None:
    """Articles Elasticsearch refused (a 4xx): counts by error type, then the latest."""
    by_type, latest = store.dead_letters(store.connect(settings), _names(settings), limit)
    if as_json:
        payload = {"by_type": by_type, "latest": latest}
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    counts = Table("error type", "n", title="Dead letters", title_justify="left")
    for error_type, n in by_type.most_common():
        counts.add_row(error_type, str(n))
    console.print(counts)
    table = Table("last failed", "tries", "status", "url / reason", show_lines=True)
    for doc in latest:
        reason = f"{escape(doc['url'])}\n[dim]{escape(doc['reason'][:300])}[/]"
        table.add_row(doc["last_failed_at"][:19], str(doc["attempts"]), str(doc["status"]), reason)
    if latest:
        console.print(table)


@cli.command()
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
    store.install_templates(client, store.IndexNames(settings.index_prefix))
    report = refetch_due(settings, client, stages=stages, late_by=parse_stage(late_by).after)
    if as_json:
        click.echo(json.dumps(report.to_document(), indent=2, ensure_ascii=False))
    else:
        print_report(report)


@cli.command()
@click.argument("query", default="")
@interval_option
@click.option(
    "--by",
    type=click.Choice(["language", "source", "rule"]),
    help="One series per language, source or matched alert rule.",
)
@coverage_filters
@click.option(
    "--top",
    default=8,
    show_default=True,
    type=click.IntRange(1, 50),
    help="Series shown with --by (the rest is 'other').",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help='table (with a bar chart), json ([{"key", "count", "series"}]) or csv.',
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a PNG chart to this file.",
)
@click.option(
    "--normalize",
    is_flag=True,
    help="Also give each count as a share of all articles in the interval (same filters).",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.pass_obj
def trend(
    settings: Settings,
    query: str,
    interval: str,
    by: str | None,
    since: str | None,
    until: str | None,
    top: int,
    output: str,
    plot: Path | None,
    normalize: bool,
    languages: tuple[str, ...],
    sources: tuple[str, ...],
    feeds: tuple[str, ...],
    as_json: bool,
) -> None:
    """Count matching articles over time, e.g. trend '"Poolse grens"' --interval day --by source."""
    from ingest.analysis.trends import (
        TrendRequest,
        coverage_trend,
        plot_png,
        render_table,
        to_csv,
        to_json,
    )

    request = TrendRequest(
        query, interval, by, since, until, top, normalize, languages, sources, feeds
    )
    output = output_format(output, as_json)
    client = store.connect(settings)
    found = coverage_trend(client, store.IndexNames(settings.index_prefix), request)
    if output == "json":
        click.echo(to_json(found))
    elif output == "csv":
        click.echo(to_csv(found), nl=False)
    else:
        console.print(render_table(found, console.width))
    if plot:
        plot_png(found, plot)
        click.echo(f"chart written to {plot}", err=True)  # stderr: stdout may be JSON or CSV


# -- demo -------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--port",
    default=8765,
    show_default=True,
    envvar="MEDIAMON_DEMO_PORT",
    help="Port of the local demo server [env MEDIAMON_DEMO_PORT].",
)
@click.option(
    "--shared",
    type=click.Path(path_type=Path),
    envvar="MEDIAMON_SHARED",
    default=REPOSITORY.parent / "shared",
    show_default=True,
    help="Optional: a shared folder whose seed/ article the demo adds [env MEDIAMON_SHARED].",
)
@click.option(
    "--es-port",
    default=DEFAULT_ES_PORT,
    show_default=True,
    envvar="MEDIAMON_DEMO_ES_PORT",
    help="Embedded Elasticsearch's port when ES_URL is not set [env MEDIAMON_DEMO_ES_PORT].",
)
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(path_type=Path),
    default=REPOSITORY / "examples" / "alerts.yaml",
    show_default=True,
    help="Alert rules for the demo (their targets: log).",
)
@click.pass_obj
def demo(settings: Settings, port: int, shared: Path, es_port: int, rules_file: Path) -> None:
    """Serve the project's demo news sites locally, ingest them twice, and show the result.

    The corpus is the repository's own (examples/demo/corpus/): border-crisis coverage of
    November 2021 by fictional outlets in six languages. Nothing else is needed.
    """
    from ingest.demo import walkthrough as steps
    from ingest.demo.site import serve_demo

    if "ES_URL" not in os.environ and settings.es_url.endswith(f":{DEFAULT_ES_PORT}"):
        with console.status("Starting the embedded Elasticsearch …"):
            status = embedded.start(settings.home, port=es_port)
        settings = replace(settings, es_url=status.url)
        console.print(f"[green]✓[/] {status.message}")
    # The demo server is ours, on loopback: allow exactly that address, nothing wider.
    settings = replace(
        settings, egress_allow=(*settings.egress_allow, *parse_cidrs("127.0.0.1/32"))
    )
    client = store.connect(settings)
    store.install_templates(client, store.IndexNames(settings.index_prefix))
    seed_dir = shared / "seed"
    out_dir = settings.home / "demo-site"
    server, site = serve_demo(out_dir, port, seed_dir=seed_dir if seed_dir.is_dir() else None)
    tour = steps.Walkthrough(
        settings=settings,
        client=client,
        server=server,
        out_dir=out_dir,
        seed_dir=seed_dir if seed_dir.is_dir() else None,
        rules_file=rules_file,
        console=console,
        run_pass=lambda s, feeds, rules: _run_pass(s, feeds, show_progress=True, rules_file=rules),
        print_report=print_report,
        print_hits=print_hits,
        print_alerts=print_alerts,
    )
    try:
        outlets = len(site.hosts)
        console.print(
            f"[green]✓[/] {outlets} demo news sites served at {server.url}: "
            f"{len(site.articles)} articles in their feeds"
            + (" (with the shared seed article)" if tour.seed_dir else "")
        )
        tour.step("1. First pass: every feed, every page")
        first = steps.ingest_pass(tour, site)
        tour.step("2. Second pass: the same sites later")
        site, second = steps.second_pass(tour, site)
        tour.step("3. Re-check: every article fetched again, edits kept as versions")
        steps.recheck(tour)
    finally:
        server.stop()
    tour.step("4. Search: a stemmed Dutch query")
    steps.dutch_search(tour)
    tour.step("5. Trend: border-crisis coverage per day and language")
    buckets = steps.trend_by_language(tour, steps.rule_query(rules_file), *steps.days_of(site))
    tour.step("6. Related: the agency story and the outlets that carried it")
    steps.story_of_the_wire(tour, site)
    tour.step("7. History: the article that was edited between the passes")
    steps.history_of_the_edit(tour, site)
    tour.step("8. Alerts: the border-crisis rule")
    steps.border_alerts(tour, [first, second])
    tour.step("9. Spike: the rule's daily volume, as of the corpus's own days")
    steps.spikes(tour, buckets)


# -- Kibana -----------------------------------------------------------------------------


@cli.group()
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


# -- output -----------------------------------------------------------------------------


def _run_pass(
    settings: Settings, feeds_file: Path, *, show_progress: bool, rules_file: Path | None = None
) -> RunReport:
    from ingest.alerts import load_rules
    from ingest.feeds import load_feeds
    from ingest.pipeline import run_feeds

    feed_list = load_feeds(feeds_file)
    rules = load_rules(rules_file) if rules_file else None
    client = store.connect(settings)
    store.install_templates(client, store.IndexNames(settings.index_prefix))
    options: dict[str, Any] = {"rules": rules, "delivery": _delivery()}
    if not show_progress:
        return run_feeds(feed_list, settings, client, **options)
    with RichProgressBar(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        return run_feeds(feed_list, settings, client, progress=_BarProgress(bar), **options)


class _BarProgress:
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


def print_hits(query: str, total: int, hits: list[Any]) -> None:
    table = Table(
        "date",
        "source",
        "lang",
        "title / snippet",
        title=f"{query!r}: {total} found",
        title_justify="left",
        show_lines=True,
    )
    for hit in hits:
        snippet = escape(hit.snippet).replace("<em>", "[bold yellow]").replace("</em>", "[/]")
        table.add_row(
            hit.published_at[:10],
            escape(hit.source),
            hit.language,
            f"[bold]{escape(hit.title)}[/]\n{snippet}",
        )
    console.print(table)


for attention_command in (attention.compare, attention.breakdown, attention.terms):
    cli.add_command(attention_command)


def main() -> None:
    cli(prog_name="mediamon")


if __name__ == "__main__":
    main()
