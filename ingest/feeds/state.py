"""`FeedState` transitions: what a poll, a page failure or a failed write does to a feed's state.

A feed's state (`ingest.models.FeedState`, one document per feed in the feeds index) is what
the next poll starts from: its validators and last document, the entries it listed, its
failure streak and backoff, and the pages of its entries that failed for a passing reason.
The polling schedule (when a feed is due) is `ingest.feeds.polling`'s.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ingest.models import FeedState, RunReport

if TYPE_CHECKING:
    from ingest.articles import Candidate

__all__ = [
    "FEED_BACKOFF_BASE",
    "FEED_BACKOFF_MAX",
    "MAX_PAGE_RETRIES_KEPT",
    "PAGE_ATTEMPTS",
    "count_earlier_attempts",
    "forget_document",
    "forget_documents_after_failures",
    "record_failure",
    "record_new_entries",
    "record_success",
    "remember_page_retries",
]

# A page that fails for a reason that may pass (timeout, 5xx, 429, a host backing off) is
# not indexed as feed-only at once: its feeds are read again by the next polls, which try it
# again. Only the last attempt indexes what the feed said about it, with the reason.
PAGE_ATTEMPTS = 4
MAX_PAGE_RETRIES_KEPT = 500  # per feed
# A failing feed waits 5 min, 10, 20 ... up to a day before it is polled again, or until
# the server's Retry-After if that is later (still at most a day).
FEED_BACKOFF_BASE = timedelta(minutes=5)
FEED_BACKOFF_MAX = timedelta(days=1)


def record_success(state: FeedState, status: str, entries: int) -> None:
    """A poll that read the feed (`status`: ok, malformed, not_modified, unchanged) and found
    `entries`: the failure streak and any backoff end."""
    state.last_status, state.last_reason, state.last_error = status, None, None
    state.consecutive_failures, state.next_poll_after = 0, None
    state.entries_last_poll, state.new_entries_last_poll = entries, 0


def record_failure(
    state: FeedState,
    reason: str,
    message: str,
    now: datetime,
    retry_after: datetime | None = None,
) -> None:
    """A poll that failed for `reason`: the feed backs off, 5 minutes doubling with each
    failure in a row up to `FEED_BACKOFF_MAX`, or until the server's `retry_after` if later."""
    state.last_polled_at = now
    state.last_status, state.last_reason, state.last_error = "failed", reason, message
    state.consecutive_failures += 1
    delay = min(FEED_BACKOFF_BASE * 2 ** (state.consecutive_failures - 1), FEED_BACKOFF_MAX)
    state.next_poll_after = now + delay
    if retry_after is not None:  # the server's Retry-After, or the client pausing the host
        state.next_poll_after = max(state.next_poll_after, min(retry_after, now + FEED_BACKOFF_MAX))


def forget_document(state: FeedState) -> None:
    """Forget the feed's last document, so that its next poll is answered with the document
    (no conditional headers), read, and its entries looked up again."""
    state.content_hash, state.entry_keys = None, []
    state.etag, state.last_modified = None, None


def count_earlier_attempts(candidates: Iterable[Candidate], states: dict[str, FeedState]) -> None:
    """Set each candidate's `page_attempts` from its feeds' page retries (the most of any)."""
    for candidate in candidates:
        candidate.page_attempts = max(
            (states[name].page_retries.get(candidate.id, 0) for name in candidate.feeds),
            default=0,
        )


def remember_page_retries(
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
                forget_document(states[name])
                # Bounded: an entry that left its feed before its page came back stays
                # here until newer ones push it out.
                for stale in list(retries)[:-MAX_PAGE_RETRIES_KEPT]:
                    del retries[stale]


def forget_documents_after_failures(states: dict[str, FeedState], report: RunReport) -> None:
    """Forget every feed's document if an article of this run failed to index."""
    # An article that failed to index must be tried again by the next poll, which would not
    # look its entry up if it were remembered as handled. Failures are rare: forgetting
    # every feed's document is simpler than tracing which feeds listed the failed ones.
    if report.counts["entries.index_failed"]:
        for state in states.values():
            forget_document(state)


def record_new_entries(
    states: dict[str, FeedState], new_by_feed: Counter[str], now: datetime
) -> None:
    """The new articles each feed brought this run (`new_by_feed`), found at `now`."""
    for name, count in new_by_feed.items():
        if name in states:
            states[name].new_entries_last_poll = count
            states[name].last_new_entry_at = now
