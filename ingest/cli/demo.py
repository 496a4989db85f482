"""`mediamon demo`: the project's corpus ingested twice, then what a user came for.

1. Pass 1: every outlet's feed, every page; what was indexed, what failed and why.
2. Pass 2, the same sites later: two articles are new and one has been edited. Only the
   feeds that changed are downloaded again and only the new pages fetched; nothing is
   indexed twice.
3. The re-check (what `mediamon refetch` does a day later): every article is fetched again
   and the edited one gets a second version.
4. A stemmed Dutch search, the trend by language over the ten days, the story of the agency
   wire (`related`), the edited article's `history`, the border-crisis rule's alerts, and
   its spike check evaluated as of the corpus's own days, not today.

Each step prints its result and one line saying what it showed, computed from that result.
The sites, their server and the corpus are `ingest.demo`; this module is the command and the
printed walkthrough.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from ingest import embedded, store
from ingest.cli.options import index_names
from ingest.cli.render.alerts import print_alerts
from ingest.cli.render.console import console
from ingest.cli.render.hits import print_hits
from ingest.cli.render.runs import print_report
from ingest.cli.runs import run_pass
from ingest.config import DEFAULT_ES_PORT, REPOSITORY, Settings, environment, parse_cidrs
from ingest.demo.site import DemoServer, DemoSite, build_site
from ingest.models import RunReport
from ingest.store import IndexNames

__all__ = ["RECHECK_STAGE", "Walkthrough", "demo", "spike_days"]

BORDER_RULE = "border-crisis"
RECHECK_STAGE = "demo-recheck"  # marked on every article the demo's re-check looked at


@dataclass
class Walkthrough:
    """What the demo's steps share: the settings, the client, the demo server and its files."""

    settings: Settings
    client: store.Client
    server: DemoServer
    out_dir: Path
    seed_dir: Path | None
    rules_file: Path

    @property
    def names(self) -> IndexNames:
        return IndexNames(self.settings.index_prefix)

    def step(self, title: str) -> None:
        console.rule(f"[bold]{title}")

    def showed(self, text: str) -> None:
        console.print(f"[bold green]→ what this showed:[/] {text}\n")


def ingest_pass(tour: Walkthrough, site: DemoSite, list_feed_only: bool = True) -> RunReport:
    """One ingestion pass over the site as built; prints the report and what it showed."""
    tour.server.log.clear()
    report = run_pass(
        tour.settings, site.feeds_yaml, show_progress=True, rules_file=tour.rules_file
    )
    print_report(report)
    store.refresh(tour.client, tour.names)
    feeds_200 = _feed_requests(tour.server, 200)
    feeds_304 = _feed_requests(tour.server, 304)
    pages = tour.server.log.count(status=200, content_type="text/html")
    new = report.counts.get("articles.new", 0)
    failures = ", ".join(f"{k} {n}" for k, n in sorted(report.failures.items())) or "none"
    tour.showed(
        f"feeds downloaded {feeds_200}, unchanged (304) {feeds_304}; pages fetched {pages}; "
        f"new articles {new} in {len(report.by_language)} languages; already known "
        f"{report.counts.get('entries.known', 0)}; failures by reason: {failures}."
    )
    for title, reason in (
        store.feed_only_articles(tour.client, tour.names) if list_feed_only else ()
    ):
        console.print(f"  kept from the feed only ({reason}): {title}")
    return report


def _feed_requests(server: DemoServer, status: int) -> int:
    return sum(
        server.log.count(status=status, content_type=kind)
        for kind in ("application/rss+xml", "application/atom+xml")
    )


def second_pass(tour: Walkthrough, first: DemoSite) -> tuple[DemoSite, RunReport]:
    """Rebuild the sites as they are later (new articles, one edit) and ingest again."""
    before = store.count_articles(tour.client, tour.names)
    site = build_site(tour.out_dir, first.port, pass_number=2, seed_dir=tour.seed_dir)
    added = sorted({a.url for a in site.articles} - {a.url for a in first.articles})
    edited = sum(1 for a in site.articles if a.edited)
    console.print(
        f"the sites now list {len(added)} more articles; articles with a new version: {edited}"
    )
    report = ingest_pass(tour, site, list_feed_only=False)  # pass 1 listed them
    after = store.count_articles(tour.client, tour.names)
    distinct = len({a.url for a in site.articles})
    tour.showed(
        f"articles in the index: {before} before this pass, {after} after; the feeds list "
        f"{distinct} distinct links, so nothing was indexed twice."
        if after == distinct
        else f"articles in the index: {before} before, {after} after, for {distinct} links."
    )
    return site, report


def recheck(tour: Walkthrough) -> RunReport:
    """What `mediamon refetch` does a day after ingest, done now: fetch every article again
    and keep the earlier version of any that changed."""
    from ingest.revisions import Stage, refetch_due

    report = refetch_due(tour.settings, tour.client, stages=[Stage(RECHECK_STAGE, timedelta(0))])
    counts = report.counts
    tour.showed(
        f"{counts.get('refetch.due', 0)} articles re-checked: "
        f"{counts.get('refetch.revised', 0)} changed, {counts.get('refetch.unchanged', 0)} "
        "unchanged (a second run of the demo finds them all checked already: 0 due)."
    )
    return report


def rule_query(rules_file: Path, rule_id: str = BORDER_RULE) -> str:
    """The query of the rule the demo follows, so the trend counts what the rule matches."""
    from ingest.alerts import load_rules

    return next((r.query for r in load_rules(rules_file) if r.id == rule_id), "")


def days_of(site: DemoSite) -> tuple[str, str]:
    """The first day of the corpus and the day after its last (UTC dates)."""
    moments = [a.published.astimezone(UTC) for a in site.articles]
    return f"{min(moments):%Y-%m-%d}", f"{max(moments) + timedelta(days=1):%Y-%m-%d}"


def dutch_search(tour: Walkthrough) -> None:
    from ingest.analysis.search import SearchFilters, search_articles

    total, hits = search_articles(
        tour.client, tour.names, "vluchteling", SearchFilters(languages=("nl",)), limit=5
    )
    print_hits("vluchteling", total, hits)
    forms = sorted({m.lower() for h in hits for m in re.findall(r"<em>(.*?)</em>", h.snippet)})
    tour.showed(
        f"{total} Dutch articles match `vluchteling`; the words highlighted in them: "
        f"{', '.join(forms) or 'none'} (Dutch stemming: one query, every form)."
    )


def trend_by_language(tour: Walkthrough, query: str, since: str, until: str) -> list[Any]:
    from ingest.analysis.trends import TrendRequest, coverage_trend
    from ingest.cli.render.trends import render_table

    request = TrendRequest(query, "day", "language", since, until, top=8)
    found = coverage_trend(tour.client, tour.names, request)
    console.print(render_table(found, console.width))
    peak = max(found.buckets, key=lambda b: b.count) if found.buckets else None
    if peak is not None:
        tour.showed(
            f"{found.total} border-crisis articles in {len(found.series)} languages between "
            f"{since} and {until}; the busiest day is {peak.key:%Y-%m-%d} with {peak.count}."
        )
    return found.buckets


def story_of_the_wire(tour: Walkthrough, site: DemoSite) -> None:
    from ingest.cli.render.stories import render_related
    from ingest.stories import related_coverage

    reprints = [a for a in site.articles if a.wire]
    if not reprints:
        return
    found = store.find_article(tour.client, tour.names, reprints[0].url)
    if found is None:
        tour.showed("the agency story was not indexed")
        return
    coverage = related_coverage(tour.client, tour.names, found, limit=5)
    for part in render_related(coverage):
        console.print(part)
    story = coverage.to_dict()["story"]
    tour.showed(
        f"one agency wire, {len(reprints)} reprints in the feeds: mediamon holds them as one "
        f"story of {story['size']} articles from {story['outlets']} outlets "
        f"({', '.join(story['sources'])}), each with its own headline and cuts."
    )


def history_of_the_edit(tour: Walkthrough, site: DemoSite) -> None:
    from ingest.cli.render.history import render_history
    from ingest.revisions import article_history

    edited = [a for a in site.articles if a.edited]
    for article in edited:
        found = store.find_article(tour.client, tour.names, article.url)
        if found is None:
            continue
        record = article_history(tour.client, tour.names, found.id, found.source)
        for part in render_history(record):
            console.print(part)
        titles = " → ".join(repr(v.title) for v in record.versions)
        tour.showed(f"{len(record.versions)} versions of one article: {titles}.")


def border_alerts(tour: Walkthrough, reports: list[RunReport]) -> None:
    from ingest.alerts import alert_history

    found = alert_history(tour.client, tour.names, rule_id=BORDER_RULE, limit=10_000)
    stories = [a for a in found if a.kind != "spike"]
    # One alert per story: the most reprinted first, each with its outlets.
    largest = sorted(stories, key=lambda a: (-a.outlets, a.created_at))[:5]
    print_alerts(f"The {len(largest)} most carried of the {BORDER_RULE} stories", largest)
    per_pass = ", ".join(
        f"pass {n}: {sum(1 for a in stories if a.run_id == r.run_id)}"
        for n, r in enumerate(reports, start=1)
    )
    languages = sorted({str(a.article.get("language", "")) for a in stories} - {""})
    matched = sum(int((a.story or {}).get("articles") or 1) for a in stories)
    top = (
        f"the most carried, {largest[0].article.get('title', '')!r}, {largest[0].outlets} outlets; "
        if largest
        else ""
    )
    tour.showed(
        f"the {BORDER_RULE} rule holds {len(stories)} alerts, one per story, for {matched} "
        f"matching articles in {', '.join(languages)}; {top}"
        f"created by {per_pass} (an alert is created once, a reprint joins its story's "
        "alert without a second notification: re-runs add none)."
    )


def spike_days(buckets: list[Any]) -> tuple[datetime, datetime]:
    """The two days to check the spike rule as of: the morning after the busiest day of the
    corpus, and the morning before it (its own dates, not today's)."""
    peak = max(buckets, key=lambda b: b.count)
    after = peak.key.astimezone(UTC) + timedelta(days=1)
    return after - timedelta(days=1), after


def spikes(tour: Walkthrough, buckets: list[Any]) -> None:
    from ingest.alerts import check_spikes
    from ingest.alerts.explanation import explanation_lines

    if not buckets:
        return
    table = Table(
        "as of (UTC)", "rule", "last day", "daily mean (14 d)", "factor", "spike", "new alert"
    )
    results = []
    for as_of in spike_days(buckets):
        for check in check_spikes(tour.client, tour.names, now=as_of, run_id="demo-spikes"):
            results.append((as_of, check))
            table.add_row(
                f"{as_of:%Y-%m-%d %H:%M}",
                check.rule_id,
                str(check.last_day),
                f"{check.daily_mean:.2f}",
                f"{check.spike.factor:g}",
                "yes" if check.spiking else "no",
                "yes" if check.alerted else "",
            )
    console.print(table)
    for as_of, check in results:
        if check.explanation is not None:
            console.print(f"{check.rule_id}, as of {as_of:%d %b}: what changed")
            for line in explanation_lines(check.explanation.to_dict()):
                console.print(f"  {line}", markup=False)
    said = [
        f"as of {as_of:%d %b}: {c.last_day} in the last day against a mean of "
        f"{c.daily_mean:.2f}, {'a spike' if c.spiking else 'no spike'}"
        for as_of, c in results
        if c.rule_id == BORDER_RULE
    ]
    why = [
        f" On {as_of:%d %b} what stood out was {', '.join(c.explanation.terms_named(3))}."
        for as_of, c in results
        if c.rule_id == BORDER_RULE and c.explanation and c.explanation.terms
    ]
    tour.showed("; ".join(said) + "." + "".join(why))


@click.command()
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
    from ingest.demo.site import serve_demo

    if "ES_URL" not in environment() and settings.es_url.endswith(f":{DEFAULT_ES_PORT}"):
        with console.status("Starting the embedded Elasticsearch …"):
            status = embedded.start(settings.home, port=es_port)
        settings = replace(settings, es_url=status.url)
        console.print(f"[green]✓[/] {status.message}")
    # The demo server is ours, on loopback: allow exactly that address, nothing wider.
    settings = replace(
        settings, egress_allow=(*settings.egress_allow, *parse_cidrs("127.0.0.1/32"))
    )
    client = store.connect(settings)
    store.install_templates(client, index_names(settings))
    seed_dir = shared / "seed"
    out_dir = settings.home / "demo-site"
    server, site = serve_demo(out_dir, port, seed_dir=seed_dir if seed_dir.is_dir() else None)
    tour = Walkthrough(
        settings=settings,
        client=client,
        server=server,
        out_dir=out_dir,
        seed_dir=seed_dir if seed_dir.is_dir() else None,
        rules_file=rules_file,
    )
    try:
        outlets = len(site.hosts)
        console.print(
            f"[green]✓[/] {outlets} demo news sites served at {server.url}: "
            f"{len(site.articles)} articles in their feeds"
            + (" (with the shared seed article)" if tour.seed_dir else "")
        )
        tour.step("1. First pass: every feed, every page")
        first = ingest_pass(tour, site)
        tour.step("2. Second pass: the same sites later")
        site, second = second_pass(tour, site)
        tour.step("3. Re-check: every article fetched again, edits kept as versions")
        recheck(tour)
    finally:
        server.stop()
    tour.step("4. Search: a stemmed Dutch query")
    dutch_search(tour)
    tour.step("5. Trend: border-crisis coverage per day and language")
    buckets = trend_by_language(tour, rule_query(rules_file), *days_of(site))
    tour.step("6. Related: the agency story and the outlets that carried it")
    story_of_the_wire(tour, site)
    tour.step("7. History: the article that was edited between the passes")
    history_of_the_edit(tour, site)
    tour.step("8. Alerts: the border-crisis rule")
    border_alerts(tour, [first, second])
    tour.step("9. Spike: the rule's daily volume, as of the corpus's own days")
    spikes(tour, buckets)
