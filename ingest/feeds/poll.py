"""One feed's poll in a run: conditional GET, an unchanged body left unparsed, its new entries.

What the poll did is recorded in the feed's state (`ingest.feeds.state`) and counted in the
run's report; the entries its previous poll listed are dropped here (see
`ingest.feeds.polling` for why a 200 is not trusted to be new).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ingest.errors import FetchError
from ingest.feeds import polling
from ingest.feeds import state as feed_state
from ingest.feeds.parse import parse_feed
from ingest.fetch.client import FeedResponse, HttpClient
from ingest.models import Feed, FeedEntry, FeedState, RunReport

__all__ = ["poll_feed"]


async def poll_feed(
    http: HttpClient,
    feed: Feed,
    states: dict[str, FeedState],
    report: RunReport,
    now: datetime,
    polled: Callable[[], None],
    due_only: bool = False,
) -> list[FeedEntry]:
    """Poll one feed with a conditional GET; update its state; return its new entries.

    `polled` is called once the request is done (or skipped), whatever its outcome."""
    state = states.setdefault(feed.name, FeedState(name=feed.name, url=feed.url))
    try:
        if state.url != feed.url:  # the URL changed in the feeds file: forget the old one's
            state.url = feed.url
            feed_state.forget_document(state)  # validators included
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
        feed_state.record_failure(state, f"feed:{exc.reason}", str(exc), now, exc.retry_after)
        return []
    finally:
        polled()
    report.count("feeds.polled")
    state.polls += 1
    state.last_polled_at = now
    if response.status == 304:
        report.count("feeds.not_modified")
        state.not_modified += 1
        feed_state.record_success(state, "not_modified", 0)
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
        feed_state.record_success(state, "unchanged", state.entries_last_poll)
        polling.reschedule(state, changed=False, now=now)
        return []
    parsed = parse_feed(response.content, feed, response.final_url, now, response.charset)
    report.count("entries.seen", len(parsed.entries) + sum(parsed.skipped.values()))
    for reason, n in parsed.skipped.items():
        report.fail(reason, n=n)
    if parsed.malformed:
        assert parsed.reason is not None
        report.count("feeds.malformed")
        report.fail(parsed.reason, f"feed {feed.name}: {parsed.reason}")
        if not parsed.entries:
            feed_state.record_failure(state, parsed.reason, "no entries could be parsed", now)
            return []
    feed_state.record_success(state, "malformed" if parsed.malformed else "ok", len(parsed.entries))
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
    whose articles did not all index forgets them, see
    `ingest.feeds.state.forget_documents_after_failures`),
    so they need no look-up. They count as known."""
    previous = set(state.entry_keys)
    new = [e for e in entries if polling.entry_key(e) not in previous]
    report.count("entries.known", len(entries) - len(new))
    state.entry_keys = polling.remembered_keys(entries)
    return new
