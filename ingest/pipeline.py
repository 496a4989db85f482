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

The CLI and the Airflow DAGs both call `run_feeds`; neither re-implements a stage.
Every entry ends up counted (`RunReport.accounted_entries`): entries.seen ==
entries.merged + entries.known + articles.new + entries.deferred + entries.dead_lettered +
entries.index_failed + entries.interrupted + entries skipped by reason (failures "entry:*").
Deferred articles (page failed for a passing reason), failed writes and interrupted entries
are tried again by the next poll; dead-lettered articles (refused with a 4xx) are not.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from elasticsearch import Elasticsearch

from ingest import alerts, feeds, identity, interrupt, malloc, store, stories
from ingest.alerts.notify import DeliverySettings, Notifier
from ingest.config import RolloverLimits, Settings
from ingest.errors import (
    ExtractionError,
    FetchError,
    RunInterrupted,
    StoreError,
    TransientFetchError,
)
from ingest.extract import dates, pool
from ingest.extract.language import SITE_MIN_ARTICLES, count_words
from ingest.feeds import polling
from ingest.fetch.client import FeedResponse, HttpClient
from ingest.models import (
    Article,
    Extraction,
    Feed,
    FeedEntry,
    FeedState,
    LanguageTag,
    RunReport,
    SiteLanguages,
)

# A page that fails for a reason that may pass (timeout, 5xx, 429, a host backing off) is
# not indexed as feed-only at once: its feeds are read again by the next polls, which try it
# again. Only the last attempt indexes what the feed said about it, with the reason.
PAGE_ATTEMPTS = 4
MAX_PAGE_RETRIES_KEPT = 500  # per feed
# A failing feed waits 5 min, 10, 20 ... up to a day before it is polled again, or until
# the server's Retry-After if that is later (still at most a day).
FEED_BACKOFF_BASE = timedelta(minutes=5)
FEED_BACKOFF_MAX = timedelta(days=1)
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
    es: Elasticsearch
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


@dataclass
class Candidate:
    """A unique article-to-be of this run: the first entry that linked it, and every feed."""

    id: str
    canonical_url: str
    entry: FeedEntry
    feeds: set[str] = field(default_factory=set)
    page_attempts: int = 0  # transient page failures in earlier runs (FeedState.page_retries)


def run_feeds(
    feed_list: Sequence[Feed],
    settings: Settings,
    es: Elasticsearch,
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
    malloc.fix_mmap_threshold()  # or the process grows with the run's pages (ingest.malloc)
    if rules is not None:
        alerts.sync_rules(es, names, rules)
    delivery = (delivery or DeliverySettings()) if deliver else None
    started = datetime.now(UTC)
    report = RunReport(run_id=run_id or _new_run_id(started), started_at=started)
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
    es: Elasticsearch, names: store.IndexNames, report: RunReport, stop: interrupt.StopRequest
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
    es: Elasticsearch,
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
    async with _leased(es, names, feed_list, report, lease) as feed_list:
        started = report.started_at
        states = store.load_feed_states(es, names, [f.name for f in feed_list])
        # Alerts an earlier run matched but could not write (blocked index, crash): now, so that
        # this run delivers them with its own.
        await asyncio.to_thread(alerts.record_missing_alerts, es, names, report.run_id, report)
        async with HttpClient(settings.fetch, settings.egress_allow) as http:
            progress.start("feeds", len(feed_list))
            polled = await asyncio.gather(
                *(
                    _poll(http, feed, states, report, started, progress, due_only)
                    for feed in feed_list
                )
            )
            candidates = _merge_entries(_round_robin(polled), report)
            _count_earlier_attempts(candidates.values(), states)
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
        _record_new_entries(states, new_by_feed, started)
        _remember_page_retries(states, candidates.values(), run.deferred)
        _forget_documents_after_failures(states, report)
        store.save_feed_states(es, names, states.values())
        # Known-id look-ups are searches: make this run's articles visible to the next run now,
        # not after the refresh interval, so an immediate re-run fetches no page twice.
        store.refresh(es, names)
        report.finished_at = datetime.now(UTC)
        store.save_run_report(es, names, report)
        return report


@contextlib.asynccontextmanager
async def _leased(
    es: Elasticsearch,
    names: store.IndexNames,
    feed_list: Sequence[Feed],
    report: RunReport,
    lease: timedelta,
) -> AsyncIterator[list[Feed]]:
    """The feeds of `feed_list` this run holds a lease on (`store.claim_feeds`), the others
    counted as `feeds.leased_elsewhere`; the leases are renewed while the run lives and given
    back if it stops before saving the feeds' state (which ends them otherwise)."""
    started = report.started_at
    claimed = store.claim_feeds(
        es, names, {f.name: f.url for f in feed_list}, report.run_id, started + lease, started
    )
    if len(claimed) < len(feed_list):  # another run is polling them now: its work, not ours
        report.count("feeds.leased_elsewhere", len(feed_list) - len(claimed))
    renewing = asyncio.create_task(_renew_leases(es, names, report, lease))
    try:
        yield [f for f in feed_list if f.name in claimed]
    except BaseException:
        with contextlib.suppress(StoreError):
            store.release_feeds(es, names, claimed, report.run_id)
        raise
    finally:
        renewing.cancel()


async def _renew_leases(
    es: Elasticsearch, names: store.IndexNames, report: RunReport, lease: timedelta
) -> None:
    """Keep this run's feeds leased while it lives, renewing every third of the lease."""
    while True:
        await asyncio.sleep(lease.total_seconds() / 3)
        until = datetime.now(UTC) + lease
        try:
            await asyncio.to_thread(store.renew_feeds, es, names, report.run_id, until)
        except StoreError:  # a busy cluster: two more renewals come before the lease ends
            report.count("feeds.lease_renewal_failed")


async def _poll(
    http: HttpClient,
    feed: Feed,
    states: dict[str, FeedState],
    report: RunReport,
    now: datetime,
    progress: Progress,
    due_only: bool = False,
) -> list[FeedEntry]:
    """Poll one feed with a conditional GET; update its state; return its new entries."""
    state = states.setdefault(feed.name, FeedState(name=feed.name, url=feed.url))
    try:
        if state.url != feed.url:  # the URL changed in the feeds file: forget the old one's
            state.url = feed.url
            _forget_document(state)  # validators included
        elif state.next_poll_after and state.next_poll_after > now:
            report.count("feeds.backing_off")
            return []
        elif due_only and not polling.is_due(state, now):
            report.count("feeds.not_due")
            return []
        response = await http.fetch_feed(feed.url, state.etag, state.last_modified)
    except FetchError as exc:
        report.count("feeds.failed")
        report.fail(f"feed:{exc.reason}", f"feed {feed.name}: {exc}")
        _feed_failed(state, f"feed:{exc.reason}", str(exc), now, exc.retry_after)
        return []
    finally:
        progress.advance("feeds")
    report.count("feeds.polled")
    state.polls += 1
    state.last_polled_at = now
    if response.status == 304:
        report.count("feeds.not_modified")
        state.not_modified += 1
        _feed_ok(state, "not_modified", 0)
        polling.reschedule(state, changed=False, now=now)
        return []
    state.etag, state.last_modified = response.etag, response.last_modified
    return _read_feed(feed, state, response, report, now)


def _read_feed(
    feed: Feed, state: FeedState, response: FeedResponse, report: RunReport, now: datetime
) -> list[FeedEntry]:
    """The entries of a feed answered 200 that its previous poll did not list."""
    digest = polling.body_hash(response.content)
    if digest == state.content_hash:  # the server ignored the conditional GET: not parsed
        report.count("feeds.unchanged")
        state.unchanged, state.identical = state.unchanged + 1, state.identical + 1
        _feed_ok(state, "unchanged", state.entries_last_poll)
        polling.reschedule(state, changed=False, now=now)
        return []
    parsed = feeds.parse_feed(response.content, feed, response.final_url, now, response.charset)
    report.count("entries.seen", len(parsed.entries) + sum(parsed.skipped.values()))
    for reason, n in parsed.skipped.items():
        report.fail(reason, n=n)
    if parsed.malformed:
        assert parsed.reason is not None
        report.count("feeds.malformed")
        report.fail(parsed.reason, f"feed {feed.name}: {parsed.reason}")
        if not parsed.entries:
            _feed_failed(state, parsed.reason, "no entries could be parsed", now)
            return []
    _feed_ok(state, "malformed" if parsed.malformed else "ok", len(parsed.entries))
    new = _unseen_entries(state, parsed.entries, report)
    if new:
        state.changed += 1
    else:
        report.count("feeds.unchanged")
        state.unchanged += 1
    state.content_hash = digest
    declared = polling.declared_interval(response.content)
    state.declared_interval = int(declared.total_seconds()) if declared else None
    polling.reschedule(state, changed=bool(new), now=now)
    return new


def _unseen_entries(
    state: FeedState, entries: list[FeedEntry], report: RunReport
) -> list[FeedEntry]:
    """Drop the entries the feed's previous poll listed: that run handled them (and a run
    whose articles did not all index forgets them, see `_forget_documents_after_failures`),
    so they need no look-up. They count as known."""
    previous = set(state.entry_keys)
    new = [e for e in entries if polling.entry_key(e) not in previous]
    report.count("entries.known", len(entries) - len(new))
    state.entry_keys = polling.remembered_keys(entries)
    return new


def _forget_document(state: FeedState) -> None:
    """Forget the feed's last document, so that its next poll is answered with the document
    (no conditional headers), read, and its entries looked up again."""
    state.content_hash, state.entry_keys = None, []
    state.etag, state.last_modified = None, None


def _count_earlier_attempts(candidates: Iterable[Candidate], states: dict[str, FeedState]) -> None:
    for candidate in candidates:
        candidate.page_attempts = max(
            (states[name].page_retries.get(candidate.id, 0) for name in candidate.feeds),
            default=0,
        )


def _remember_page_retries(
    states: dict[str, FeedState], candidates: Iterable[Candidate], deferred: set[str]
) -> None:
    """Count a deferred page's attempt on each feed that listed it, and make those feeds'
    next polls read their entries again; forget the attempts of pages handled now."""
    for candidate in candidates:
        for name in candidate.feeds:
            retries = states[name].page_retries
            retries.pop(candidate.id, None)
            if candidate.id in deferred:
                retries[candidate.id] = candidate.page_attempts + 1
                _forget_document(states[name])
                # Bounded: an entry that left its feed before its page came back stays
                # here until newer ones push it out.
                for stale in list(retries)[:-MAX_PAGE_RETRIES_KEPT]:
                    del retries[stale]


def _forget_documents_after_failures(states: dict[str, FeedState], report: RunReport) -> None:
    # An article that failed to index must be tried again by the next poll, which would not
    # look its entry up if it were remembered as handled. Failures are rare: forgetting
    # every feed's document is simpler than tracing which feeds listed the failed ones.
    if report.counts["entries.index_failed"]:
        for state in states.values():
            _forget_document(state)


def _feed_ok(state: FeedState, status: str, entries: int) -> None:
    state.last_status, state.last_reason, state.last_error = status, None, None
    state.consecutive_failures, state.next_poll_after = 0, None
    state.entries_last_poll, state.new_entries_last_poll = entries, 0


def _feed_failed(
    state: FeedState,
    reason: str,
    message: str,
    now: datetime,
    retry_after: datetime | None = None,
) -> None:
    state.last_polled_at = now
    state.last_status, state.last_reason, state.last_error = "failed", reason, message
    state.consecutive_failures += 1
    delay = min(FEED_BACKOFF_BASE * 2 ** (state.consecutive_failures - 1), FEED_BACKOFF_MAX)
    state.next_poll_after = now + delay
    if retry_after is not None:  # the server's Retry-After, or the client pausing the host
        state.next_poll_after = max(state.next_poll_after, min(retry_after, now + FEED_BACKOFF_MAX))


def _round_robin(polled: list[list[FeedEntry]]) -> list[FeedEntry]:
    """Every feed's entries, taking one from each feed in turn.

    Feeds list one site's links, and fetching keeps to a few connections per host: in feed
    order, a batch would be one or two hosts' links, fetched a few at a time.
    """
    rounds = itertools.zip_longest(*polled)
    return [entry for round_ in rounds for entry in round_ if entry is not None]


def _merge_entries(entries: list[FeedEntry], report: RunReport) -> dict[str, Candidate]:
    """One candidate per canonical URL; a link listed twice (any feeds) is merged, not lost."""
    candidates: dict[str, Candidate] = {}
    for entry in entries:
        if entry.url:
            canonical = identity.canonical_url(entry.url)
            doc_id = identity.document_id(canonical)  # the same for http/https, www., a final /
        else:  # an item without a link (feeds._entry): no page, an identity of its own
            canonical, doc_id = "", identity.entry_id(entry.identity or "")
        if doc_id in candidates:
            report.count("entries.merged")
        else:
            candidates[doc_id] = Candidate(doc_id, canonical, entry)
        candidates[doc_id].feeds.add(entry.feed_name)
    return candidates


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
    stored = await asyncio.to_thread(_find_stored, run.es, run.names, urls)
    if stored:
        feeds = {c.id: c.feeds for c in batch}
        await asyncio.to_thread(_seen_again, run.es, stored, feeds, report, run.now)
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
    domains = {_domain(c) for c in undeclared}
    since = run.now - SITE_LANGUAGE_HISTORY
    try:
        return store.site_languages(run.es, run.names, feed_names, domains, since)
    except StoreError as exc:
        if not exc.transient:
            raise
        run.report.count("language.site_unavailable", len(undeclared))
        return SiteLanguages()


def _domain(candidate: Candidate) -> str:
    """The site of a candidate: its link's host, or its feed's for an item without a link."""
    return identity.domain_of(candidate.canonical_url or candidate.entry.feed_url)


def _find_stored(
    es: Elasticsearch, names: store.IndexNames, urls: dict[str, str]
) -> dict[str, tuple[str, str]]:
    """Which of these articles (canonical URL by id) are indexed already, under their id or
    an id an earlier version gave one of their URL's variants: id -> (stored id, index)."""
    lookups = {
        doc_id: identity.lookup_ids(url) if url else [doc_id] for doc_id, url in urls.items()
    }
    found = store.find_known(es, names, [i for ids in lookups.values() for i in ids])
    stored = {}
    for doc_id, ids in lookups.items():
        stored_id = next((i for i in ids if i in found), None)
        if stored_id is not None:
            stored[doc_id] = (stored_id, found[stored_id])
    return stored


def _seen_again(
    es: Elasticsearch,
    stored: dict[str, tuple[str, str]],
    feeds: Mapping[str, Iterable[str]],
    report: RunReport,
    now: datetime,
) -> None:
    """Count articles found indexed as known and record the feeds that listed them again."""
    report.count("entries.known", len(stored))
    known = dict(stored.values())
    feeds_by_id = {stored_id: sorted(feeds[doc_id]) for doc_id, (stored_id, _) in stored.items()}
    for reason, n in store.mark_seen_again(es, known, feeds_by_id, now).items():
        report.fail(reason, n=n)


def _fold_page_canonicals(
    articles: list[Article],
    es: Elasticsearch,
    names: store.IndexNames,
    report: RunReport,
    now: datetime,
) -> list[Article]:
    """One article per id, once pages have named their canonical links (`_article`).

    A page whose canonical link is another article of this batch joins it (its feeds are
    added; entries.merged); one whose canonical link is indexed already is seen again
    (entries.known). Looked up here, not before the fetch: only the page says it.
    """
    kept: dict[str, Article] = {}
    for article in articles:
        first = kept.get(article.id)
        if first is None:
            kept[article.id] = article
            continue
        report.count("entries.merged")
        if _moved(first) and not _moved(article):  # keep the article as linked at its own URL
            kept[article.id], first, article = article, article, first
        first.feeds = sorted(set(first.feeds) | set(article.feeds))
    moved = {a.id: a.canonical_url for a in kept.values() if _moved(a)}
    stored = _find_stored(es, names, moved) if moved else {}
    if stored:
        _seen_again(es, stored, {doc_id: kept[doc_id].feeds for doc_id in stored}, report, now)
    return [article for doc_id, article in kept.items() if doc_id not in stored]


def _moved(article: Article) -> bool:
    """The article's id comes from its page's canonical link, not from the link followed."""
    return bool(article.url) and article.id != identity.document_id(article.url)


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
    es: Elasticsearch,
    names: store.IndexNames,
    report: RunReport,
    now: datetime,
    unrefreshed: stories.Unrefreshed,
) -> Counter[str]:
    """Stories, alert matches and the bulk write of one batch's new articles (blocking)."""
    articles = _fold_page_canonicals(articles, es, names, report, now)
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
    site = sites.of(candidate.feeds, _domain(candidate), SITE_MIN_ARTICLES)
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
        return _article(candidate, Extraction(), language, fetched_at, reason=reason)

    if not entry.url:  # nothing to fetch: the feed's title and summary are the article
        report.count("entries.without_link")
        return await feed_only(entry.link_problem or "entry:no_link", None)
    try:
        page = await run.stop.unless_stopped(run.http.fetch_page(entry.url))
    except FetchError as exc:
        report.count("pages.failed")
        report.fail(f"page:{exc.reason}", str(exc))
        if isinstance(exc, TransientFetchError) and candidate.page_attempts + 1 < PAGE_ATTEMPTS:
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
    return _article(candidate, extraction, language, page.fetched_at, canonical=canonical)


def _article(
    candidate: Candidate,
    extraction: Extraction,
    language: LanguageTag,
    fetched_at: datetime | None,
    reason: str | None = None,
    canonical: str | None = None,
) -> Article:
    """The article of `candidate`; under the id of `canonical`, the page's own canonical
    link (`identity.page_canonical`), when it names one."""
    entry = candidate.entry
    now = datetime.now(UTC)
    published_at, date_source = _publication_date(extraction, entry, now)
    body = extraction.body
    canonical = canonical or candidate.canonical_url
    domain = identity.domain_of(canonical or entry.feed_url)  # an item without a link: the feed's
    return Article(
        id=identity.document_id(canonical) if canonical else candidate.id,
        url=entry.url,
        canonical_url=canonical,
        domain=domain,
        source=entry.source or extraction.site_name or domain,
        feeds=sorted(candidate.feeds),
        title=extraction.title or entry.title,
        summary=entry.summary or extraction.description,
        body=body,
        language=language.code,
        language_confidence=language.confidence,
        language_source=language.source,
        published_at=published_at,
        date_source=date_source,
        first_seen_at=now,
        last_seen_at=now,
        fetched_at=fetched_at,
        extraction_status="feed_only" if reason else "ok",
        extraction_reason=reason,
        body_truncated=extraction.truncated,
        extraction_method=extraction.method or None,
        authors=list(extraction.authors or entry.authors),
        tags=sorted(set(extraction.tags) | set(entry.tags)),
        content_hash=identity.content_hash(body) if body else None,
        word_count=count_words(body),  # CJK-aware: counts characters, not spaces
        minhash=extraction.minhash,
        lsh_bands=list(extraction.lsh_bands),
    )


def _publication_date(
    extraction: Extraction, entry: FeedEntry, now: datetime
) -> tuple[datetime, str]:
    page = None
    if extraction.published_at:
        page = dates.Stated(extraction.published_at, extraction.date_precision or dates.ZONED)
    return dates.publication(page, entry.published_at, now)


def _record_new_entries(
    states: dict[str, FeedState], new_by_feed: Counter[str], now: datetime
) -> None:
    for name, count in new_by_feed.items():
        if name in states:
            states[name].new_entries_last_poll = count
            states[name].last_new_entry_at = now


def _batches(items: list[Candidate], size: int) -> Iterator[list[Candidate]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _new_run_id(started: datetime) -> str:
    return f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
