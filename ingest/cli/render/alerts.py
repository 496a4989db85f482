"""Alerts (`mediamon alerts ...`, `run`, the demo): the rules, the alerts raised, the volume
spikes and what changed on a spiking day."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from ingest.cli.render.console import console

__all__ = ["print_alerts", "print_rules", "print_spike_explanations", "print_spikes"]


def print_rules(summaries: list[Any]) -> None:
    """`alerts list`: each synced rule, the articles it matched and its alerts by status."""
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


def print_spikes(checks: list[Any]) -> None:
    """`alerts spikes`: each checked rule's last day against its mean, then what changed."""
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
