"""One ingestion pass over a list of feeds: the composition of every stage.

    create the alerts earlier runs matched but could not write (alerts_pending articles)
    poll feeds (conditional GET) ─▶ entries ─▶ canonical id, merge repeats
      ─▶ drop ids already indexed (one look-up per batch, no page fetch; record "seen again")
      ─▶ the languages indexed for the feeds and sites declaring none (one search per batch)
      ─▶ fetch pages ─▶ extract + tag language + near-duplicate fingerprint (process pool)
      ─▶ the page's canonical link: merge or drop as known the pages naming another article
      ─▶ stories: near and exact copies (one look-up per batch; story_id, duplicate_of)
      ─▶ percolate against the alert rules (one request per batch; matches on Article.rules)
      ─▶ bulk index (create-only; an article refused with a 4xx goes to the dead letters)
      ─▶ record alert hits (one per rule and story, or article: created once; copies join)
      ─▶ deliver pending alerts (earlier failures first) ─▶ feed state ─▶ RunReport

SIGINT or SIGTERM stops a run early (`ingest.interrupt`): no batch starts, pages not yet
fetched are abandoned (entries.interrupted), the batches in flight store what they extracted;
then the report is stored as interrupted, the feeds' leases are given back and their state is
left as it was, so the next run reads their entries again and takes up the rest.

The CLI and the Airflow DAGs both call `run_feeds`; neither re-implements a stage. Nor does
this module: it only composes them. Leases and polls are `ingest.feeds` (leases, poll, and
state for what a run does to a feed's state), candidates and article assembly
`ingest.articles`, the known-article look-ups `ingest.known`, pages `ingest.fetch` and
`ingest.extract`, stories `ingest.stories`, alert rules and hits `ingest.alerts`, every
Elasticsearch call `ingest.store`.

Every entry ends up counted (`RunReport.accounted_entries`): entries.seen ==
entries.merged + entries.known + articles.new + entries.deferred + entries.dead_lettered +
entries.index_failed + entries.interrupted + entries skipped by reason (failures "entry:*").
Deferred articles (page failed for a passing reason), failed writes and interrupted entries
are tried again by the next poll; dead-lettered articles (refused with a 4xx) are not.
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ingest import alerts, feeds, identity, interrupt, known, malloc, store, stories
from ingest.alerts.notify import DeliverySettings, Notifier
from ingest.articles import Candidate, article_of, candidates_by_id, interleave, site_of
from ingest.config import RolloverLimits, Settings
from ingest.errors import (
    ExtractionError,
    FetchError,
    RunInterrupted,
    StoreError,
    TransientFetchError,
)
from ingest.extract import pool
from ingest.extract.language import SITE_MIN_ARTICLES
from ingest.feeds import state as feed_state
from ingest.feeds.leases import leased_feeds
from ingest.fetch.client import HttpClient
from ingest.models import Article, Extraction, Feed, RunReport, SiteLanguages
from ingest.run_id import run_id as new_run_id

# Batches in flight at once: while one batch is stored (looked up, percolated, indexed), the
# next is fetched and extracted, so neither the network nor the workers wait on
# Elasticsearch. Two overlap fully; more would only hold more articles in memory.
BATCHES_IN_FLIGHT = 2
# How far back a site's articles are counted for the language of its short texts: enough
# for a site's languages, bounded so that the count's cost does not grow with the archive
# and a site that changes its language is followed.
SITE_LANGUAGE_HISTORY = timedelta(days=90)


class Progress(Protocol):
    """What a run reports while it goes (the CLI draws a progress bar from it)."""

    def start(self, stage: str, total: int) -> None: ...
    def advance(self, stage: str, n: int = 1) -> None: ...


class _NoProgress:
    def start(self, stage: str, total: int) -> None:
        pass

    def advance(self, stage: str, n: int = 1) -> None:
        pass


@dataclass(frozen=True)
class _RunContext:
    """What every batch of one run shares: the clients, the report and the bounds on work."""

    http: HttpClient
    es: store.Client
    names: store.IndexNames
    executor: Executor
    report: RunReport
    now: datetime
    progress: Progress
    # Pages fetched but not yet extracted. Fetching outpaces extraction, so without a bound
    # a batch's pages would pile up in the pool's queue (~270 KB each).
    pages: asyncio.Semaphore
    store_turn: asyncio.Lock  # batches are stored one at a time, in order
    rollover: RolloverLimits  # when the next article index starts (checked before each batch)
    stop: interrupt.StopRequest  # SIGINT/SIGTERM: take no new work
    # Ids of the articles whose page failed transiently: not indexed, tried again next run.
    deferred: set[str] = field(default_factory=set)
    # Articles written but maybe not yet searchable: story candidates for the next batches.
    unrefreshed: stories.Unrefreshed = field(default_factory=stories.Unrefreshed)


def run_feeds(
    feed_list: Sequence[Feed],
    settings: Settings,
    es: store.Client,
    *,
    progress: Progress | None = None,
    run_id: str | None = None,
    rules: Sequence[alerts.Rule] | None = None,
    delivery: DeliverySettings | None = None,
    deliver: bool = True,
    due_only: bool = False,
) -> RunReport:
    """Run one pass over `feed_list` and store its report. Clients are made here, at the edge.

    Every feed is polled, unless `due_only`: then only the feeds whose adaptive schedule
    (`ingest.feeds.polling`) wants a poll now; the others count as `feeds.not_due`.

    New articles are matched against the rules in the rules index; with `rules` (a loaded
    rules file) those are validated and synced there first, a bad rule failing the run before
    anything is fetched. `delivery` says how alerts are sent (SMTP, secrets, retries);
    `deliver=False` leaves them pending for one delivery after many batches
    (`alerts.notify_pending`), so a digest is one message per rule for all of them.
    """
    names = store.IndexNames(settings.index_prefix)
    # or the process grows with the run's pages (ingest.malloc)
    malloc.fix_mmap_threshold()
    if rules is not None:
        alerts.sync_rules(es, names, rules)
    delivery = (delivery or DeliverySettings()) if deliver else None
    started = datetime.now(UTC)
    report = RunReport(run_id=run_id or new_run_id(started=started), started_at=started)
    try:
        with (
            interrupt.stop_on_signals() as stop,
            pool.extraction_pool(settings.extract_workers) as executor,
        ):
            return asyncio.run(
                _run(
                    feed_list,
                    settings,
                    es,
                    names,
                    executor,
                    progress or _NoProgress(),
                    report,
                    delivery,
                    stop,
                    due_only=due_only,
                )
            )
    except StoreError as exc:
        if not exc.transient:
            raise
        raise StoreError(stopped(report, exc), transient=True, reason=exc.reason) from None


def _interrupted(
    es: store.Client, names: store.IndexNames, report: RunReport, stop: interrupt.StopRequest
) -> RunInterrupted:
    """Store the report of a run stopped by a signal; the error that says so in one line.

    The feeds' state is not saved: their entries not indexed are not remembered as seen, so
    the next run reads them again, finds the ones indexed here known and fetches the rest."""
    stop.honoured = True
    store.refresh(es, names)  # the next run's look-ups must see what this one indexed
    report.status, report.interrupted_by = "interrupted", stop.signal_name
    report.finished_at = datetime.now(UTC)
    store.save_run_report(es, names, report)
    left = report.counts["entries.interrupted"]
    message = (
        f"run {report.run_id} interrupted by {stop.signal_name} | done: "
        f"{report.counts['articles.new']} new articles, {report.counts['entries.known']} known "
        f"| left for the next run: {left} entries | report stored in {names.runs}"
    )
    return RunInterrupted(message, stop.signal_number or 0)


def stopped(report: RunReport, cause: StoreError) -> str:
    """The one line of a run that Elasticsearch stopped: why, what was done, what waits.

    Nothing of what waits is lost: its entries are not marked known, its feeds keep their
    previous state, so the next run polls them again and takes up what is not indexed."""
    deferred = report.counts["entries.seen"] - report.accounted_entries()
    return (
        f"run {report.run_id} stopped: {cause} | done: {report.counts['articles.new']} new "
        f"articles, {report.counts['entries.known']} known | deferred to the next run: "
        f"{deferred} entries ({cause.reason})"
    )


async def _run(
    feed_list: Sequence[Feed],
    settings: Settings,
    es: store.Client,
    names: store.IndexNames,
    executor: Executor,
    progress: Progress,
    report: RunReport,
    delivery: DeliverySettings | None,
    stop: interrupt.StopRequest,
    *,
    due_only: bool,
) -> RunReport:
    stop.bind()
    lease = timedelta(seconds=settings.feed_lease_seconds)
    async with leased_feeds(es, names, feed_list, report, lease) as feed_list:
        started = report.started_at
        states = store.load_feed_states(es, names, [f.name for f in feed_list])
        # Alerts an earlier run matched but could not write (blocked index, crash): now, so that
        # this run delivers them with its own.
        await asyncio.to_thread(alerts.record_missing_alerts, es, names, report.run_id, report)
        async with HttpClient(settings.fetch, settings.egress_allow) as http:
            progress.start("feeds", len(feed_list))
            polled = functools.partial(progress.advance, "feeds")
            entries = await asyncio.gather(
                *(
                    feeds.poll_feed(http, feed, states, report, started, polled, due_only)
                    for feed in feed_list
                )
            )
            candidates = candidates_by_id(interleave(entries), report)
            feed_state.count_earlier_attempts(candidates.values(), states)
            progress.start("articles", len(candidates))
            run = _RunContext(
                http,
                es,
                names,
                executor,
                report,
                started,
                progress,
                pages=asyncio.Semaphore(
                    settings.fetch.concurrency + 2 * pool.worker_count(settings.extract_workers)
                ),
                store_turn=asyncio.Lock(),
                rollover=settings.rollover,
                stop=stop,
            )
            new_by_feed = await _ingest_all(list(candidates.values()), settings.batch_size, run)
            if delivery is not None and not stop.requested:  # pending ones wait for the next run
                notifier = Notifier(http, delivery, settings.egress_allow)
                await alerts.deliver_pending(es, names, notifier, report, owner=report.run_id)
        if stop.requested:  # raised inside the leases: they are given back
            raise _interrupted(es, names, report, stop)
        feed_state.record_new_entries(states, new_by_feed, started)
        feed_state.remember_page_retries(states, candidates.values(), run.deferred)
        feed_state.forget_documents_after_failures(states, report)
        store.save_feed_states(es, names, states.values())
        # Known-id look-ups are searches: make this run's articles visible to the next run now,
        # not after the refresh interval, so an immediate re-run fetches no page twice.
        store.refresh(es, names)
        report.finished_at = datetime.now(UTC)
        store.save_run_report(es, names, report)
        return report


async def _ingest_all(candidates: list[Candidate], size: int, run: _RunContext) -> Counter[str]:
    """Ingest `candidates` in batches of `size`, `BATCHES_IN_FLIGHT` at a time."""
    new_by_feed: Counter[str] = Counter()
    slots = asyncio.Semaphore(BATCHES_IN_FLIGHT)

    async def ingest(batch: list[Candidate]) -> None:
        try:
            new_by_feed.update(await _ingest_batch(batch, run))
        finally:
            slots.release()

    batches = list(_batches(candidates, size))
    try:
        async with asyncio.TaskGroup() as group:
            for n, batch in enumerate(batches):
                await slots.acquire()
                if run.stop.requested:  # no new batch: these are left for the next run
                    run.report.count("entries.interrupted", sum(map(len, batches[n:])))
                    break
                group.create_task(ingest(batch))
    except BaseExceptionGroup as failed:  # the first batch's error, as a sequential run gave
        raise failed.exceptions[0] from None
    return new_by_feed


async def _ingest_batch(batch: list[Candidate], run: _RunContext) -> Counter[str]:
    """Look up, fetch, extract and store one batch; return new articles counted per feed.

    Elasticsearch calls are blocking: they run in a thread so that the event loop goes on
    fetching (and the pool extracting) another batch's pages meanwhile.
    """
    report, progress = run.report, run.progress
    urls = {c.id: c.canonical_url for c in batch}
    stored = await asyncio.to_thread(known.find_stored, run.es, run.names, urls)
    if stored:
        feeds = {c.id: c.feeds for c in batch}
        await asyncio.to_thread(known.record_seen_again, run.es, stored, feeds, report, run.now)
        progress.advance("articles", len(stored))
    new = [c for c in batch if c.id not in stored]
    sites = await asyncio.to_thread(_site_languages, new, run)
    built = await asyncio.gather(*(_build_article(c, run, sites) for c in new))
    articles = [article for article in built if article is not None]
    # The store step counts into a report of its own (it runs in another thread), merged
    # here; batches take turns, in order, so a batch's look-ups see the batches before it.
    counted = RunReport(run_id=report.run_id, started_at=report.started_at)
    async with run.store_turn:
        if articles and not await asyncio.to_thread(_roll_over_if_due, run):
            report.count("rollover.deferred")
        new_by_feed = await asyncio.to_thread(
            _store_batch, articles, run.es, run.names, counted, run.now, run.unrefreshed
        )
    report.merge(counted)
    return new_by_feed


def _site_languages(candidates: list[Candidate], run: _RunContext) -> SiteLanguages:
    """The languages already indexed for the feeds and sites of the candidates that declare
    none (one search per batch); nothing if every candidate declares its language, or if
    the cluster is too busy to say (`language.site_unavailable`: tagged without it)."""
    undeclared = [c for c in candidates if c.entry.declared_language is None]
    if not undeclared:
        return SiteLanguages()
    feed_names = {name for c in undeclared for name in c.feeds}
    domains = {site_of(c) for c in undeclared}
    since = run.now - SITE_LANGUAGE_HISTORY
    try:
        return store.site_languages(run.es, run.names, feed_names, domains, since)
    except StoreError as exc:
        if not exc.transient:
            raise
        run.report.count("language.site_unavailable", len(undeclared))
        return SiteLanguages()


def _roll_over_if_due(run: _RunContext) -> bool:
    """Start the next article index if the write index is full; False if the cluster was
    too busy to say (the write index takes the batch, the next batch asks again)."""
    try:
        store.roll_over_articles(run.es, run.names, run.rollover)
    except StoreError as exc:
        if not exc.transient:
            raise
        return False
    return True


def _store_batch(
    articles: list[Article],
    es: store.Client,
    names: store.IndexNames,
    report: RunReport,
    now: datetime,
    unrefreshed: stories.Unrefreshed,
) -> Counter[str]:
    """Stories, alert matches and the bulk write of one batch's new articles (blocking)."""
    articles = known.fold_page_canonicals(articles, es, names, report, now)
    # before indexing: on the article
    story = stories.assign_stories(es, names, articles, unrefreshed=unrefreshed)
    for key, n in story.counts().items():
        report.count(key, n)
    matches = alerts.percolate(es, names, articles)  # before indexing: stored on the article
    for article in articles:
        article.rules = matches.by_article.get(article.id, [])
        # Written with the article, cleared once its alerts exist: whatever fails in between,
        # the next run's alerts.record_missing_alerts finds the article and writes them.
        article.alerts_pending = bool(article.rules)
    outcome = store.bulk_index(es, names, articles)
    report.count("articles.new", outcome.created)
    report.count("entries.known", outcome.conflicts)  # indexed meanwhile by another worker
    if outcome.race_winners:  # the copy another worker wrote first gets this one's feeds
        feeds_by_id = {a.id: sorted(a.feeds) for a in articles if a.id in outcome.race_winners}
        for reason, n in store.mark_seen_again(es, outcome.race_winners, feeds_by_id, now).items():
            report.fail(reason, n=n)
    # Refused with a 4xx: the same document would be refused again, so it is kept in the
    # dead-letter index, not retried. Other failures (5xx, 429 after the retries), and a
    # refused article whose dead letter could not be written, are retried by the next poll.
    rejected = outcome.rejected
    refused = [(a, rejected[a.id]) for a in articles if a.id in rejected]
    unfiled = store.dead_letter(es, names, refused, report.run_id, now).failed_ids
    for doc_id, error in outcome.errors.items():
        if error.rejected and doc_id not in unfiled:
            report.count("entries.dead_lettered")
            report.fail(f"dead_letter:{error.type}", f"dead letter {doc_id}: {error.message}")
        else:
            report.count("entries.index_failed")
            note = f" (no dead letter: {unfiled[doc_id]})" if doc_id in unfiled else ""
            report.fail(f"index:{error.type}", f"index {doc_id}: {error.message}{note}")
    cleared = store.clear_dead_letters(es, names, outcome.written.keys())
    if cleared:
        report.count("dead_letters.cleared", cleared)
    joined = stories.after_indexing(
        es, names, story, articles, outcome.written, outcome.failed_ids, unrefreshed
    )
    for reason, n in joined.items():
        report.fail(reason, n=n)
    if matches.count:
        indexed = [a for a in articles if a.id not in outcome.failed_ids]
        hits = alerts.record_hits(
            es, names, indexed, matches, report.run_id, now, written=outcome.written
        )
        report.count("alerts.matched", hits.created)
        if hits.joined:  # copies added to their story's alert: no new notification
            report.count("alerts.joined", hits.joined)
        report.count("alerts.already_recorded", hits.existing)
        for reason, n in hits.failures.items():
            report.fail(reason, n=n)
    new_by_feed: Counter[str] = Counter()
    for article in articles:
        if article.id not in outcome.failed_ids:
            report.by_language[article.language] += 1
            report.by_source[article.source] += 1
            new_by_feed.update(article.feeds)
    return new_by_feed


async def _build_article(
    candidate: Candidate, run: _RunContext, sites: SiteLanguages
) -> Article | None:
    """Fetch and extract one page; a page that fails still yields a feed-only article,
    unless it failed transiently and has attempts left: then None, and it is deferred."""
    site = sites.of(candidate.feeds, site_of(candidate), SITE_MIN_ARTICLES)
    try:
        async with run.pages:
            if run.stop.requested:
                run.report.count("entries.interrupted")
                return None
            return await _fetch_and_extract(candidate, run, site)
    finally:
        run.progress.advance("articles")


async def _fetch_and_extract(
    candidate: Candidate, run: _RunContext, site: dict[str, int]
) -> Article | None:
    """`site`: language counts of the article's feeds or site (`SiteLanguages.of`)."""
    entry, report, executor = candidate.entry, run.report, run.executor
    loop = asyncio.get_running_loop()

    async def feed_only(reason: str, fetched_at: datetime | None) -> Article:
        declared = entry.declared_language
        language = await loop.run_in_executor(
            executor, pool.tag_feed_text, entry.title, entry.summary, declared, site
        )
        return article_of(candidate, Extraction(), language, fetched_at, reason=reason)

    if not entry.url:  # nothing to fetch: the feed's title and summary are the article
        report.count("entries.without_link")
        return await feed_only(entry.link_problem or "entry:no_link", None)
    try:
        page = await run.stop.unless_stopped(run.http.fetch_page(entry.url))
    except FetchError as exc:
        report.count("pages.failed")
        report.fail(f"page:{exc.reason}", str(exc))
        attempts_left = candidate.page_attempts + 1 < feed_state.PAGE_ATTEMPTS
        if isinstance(exc, TransientFetchError) and attempts_left:
            report.count("entries.deferred")
            run.deferred.add(candidate.id)
            return None
        return await feed_only(f"page:{exc.reason}", None)
    if page is None:  # abandoned half-fetched
        report.count("entries.interrupted")
        return None
    report.count("pages.fetched")
    try:
        extraction, language = await loop.run_in_executor(
            executor, pool.analyse_page, page.html, page.final_url, entry.declared_language, site
        )
    except ExtractionError as exc:
        report.fail(f"page:{exc.reason}", str(exc))
        return await feed_only(f"page:{exc.reason}", page.fetched_at)
    canonical = identity.page_canonical(extraction.canonical_link, page.final_url)
    return article_of(candidate, extraction, language, page.fetched_at, canonical=canonical)


def _batches(items: list[Candidate], size: int) -> Iterator[list[Candidate]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
