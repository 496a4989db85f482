"""Feed polling that can be trusted, and that costs little when a feed has nothing new.

Conditional GET (ETag, Last-Modified) is sent, but not relied on: many servers ignore it
and answer 200 with the same document, or regenerate it with a new `lastBuildDate` and the
same items (Media Cloud turned conditional GET off because servers lie). So a 200 is
confirmed twice before anything is done with it:

1. a hash of the body: the same bytes as last time are not even parsed;
2. the set of entry ids (`guid`, else the link): entries listed by the previous poll were
   handled then, so they need no look-up in Elasticsearch.

Each feed keeps counts of what its polls brought (304s; 200s that brought nothing new, and
of those the byte-identical ones; polls with new entries), and its own polling interval:
halved when a poll brings something new, grown by half when it does not, never below what
the feed declares (`<ttl>`, `sy:updatePeriod`/`sy:updateFrequency`) nor outside
[`MIN_INTERVAL`, `MAX_INTERVAL`]. A run asked for due feeds only (`run_feeds(due_only=True)`)
skips the others, so thousands of feeds cost a few polls each per hour or day, as each
really changes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from ingest.models import FeedEntry, FeedState

__all__ = [
    "DEFAULT_INTERVAL",
    "MAX_INTERVAL",
    "MIN_INTERVAL",
    "body_hash",
    "declared_interval",
    "entry_key",
    "is_due",
    "remembered_keys",
    "reschedule",
]

MIN_INTERVAL = timedelta(minutes=5)
DEFAULT_INTERVAL = timedelta(minutes=15)  # a new feed, until its polls say otherwise
MAX_INTERVAL = timedelta(hours=24)
FASTER, SLOWER = 0.5, 1.5  # interval factors after a poll with, and without, new entries
MAX_KEYS = 1000  # entry ids remembered per feed; a longer feed's others are looked up

_PERIODS = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(weeks=1),
    "monthly": timedelta(days=30),
    "yearly": timedelta(days=365),
}
# Read from the raw document rather than feedparser's result: cheap, and it needs nothing
# of the parser's. Any namespace prefix: `sy:` is the custom, not a rule.
_TTL = re.compile(rb"<ttl>\s*(\d{1,6})\s*</ttl>", re.IGNORECASE)
_UPDATE_PERIOD = re.compile(rb"<(?:\w+:)?updatePeriod>\s*(\w+)\s*<", re.IGNORECASE)
_UPDATE_FREQUENCY = re.compile(rb"<(?:\w+:)?updateFrequency>\s*(\d{1,6})\s*<", re.IGNORECASE)
_HEAD_BYTES = 16 * 1024  # channel-level elements come before the items


def body_hash(content: bytes) -> str:
    """The fingerprint of a feed document's bytes."""
    return hashlib.sha256(content).hexdigest()[:32]


def entry_key(entry: FeedEntry) -> str:
    """A short, stable id of an entry within its feed: its guid, else its link, else (an
    item without a link) its title and date."""
    key = entry.guid or entry.url or entry.identity or ""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def remembered_keys(entries: Iterable[FeedEntry]) -> list[str]:
    """The keys to store for the next poll: unique, in feed order, at most `MAX_KEYS`."""
    return list(dict.fromkeys(entry_key(e) for e in entries))[:MAX_KEYS]


def declared_interval(content: bytes) -> timedelta | None:
    """How often the feed says it changes: RSS `<ttl>` minutes, or the syndication
    module's period divided by its frequency (`hourly` and `2` is every 30 minutes)."""
    head = content[:_HEAD_BYTES]
    ttl = _TTL.search(head)
    if ttl and int(ttl[1]) > 0:
        return timedelta(minutes=int(ttl[1]))
    period = _UPDATE_PERIOD.search(head)
    if period is None:
        return None
    length = _PERIODS.get(period[1].decode("ascii", "replace").lower())
    if length is None:
        return None
    frequency = _UPDATE_FREQUENCY.search(head)
    times = int(frequency[1]) if frequency else 1
    return length / max(times, 1)


def reschedule(state: FeedState, changed: bool, now: datetime) -> None:
    """Set the feed's next interval and due time after a successful poll."""
    current = timedelta(seconds=state.poll_interval) if state.poll_interval else DEFAULT_INTERVAL
    interval = current * (FASTER if changed else SLOWER)
    floor = max(MIN_INTERVAL, timedelta(seconds=state.declared_interval or 0))
    interval = min(max(interval, floor), MAX_INTERVAL)
    state.poll_interval = int(interval.total_seconds())
    state.poll_due_at = now + interval


def is_due(state: FeedState, now: datetime) -> bool:
    """Whether the feed's schedule wants it polled at `now` (a feed never polled is due)."""
    return state.poll_due_at is None or state.poll_due_at <= now
