"""Feeds: the feeds file, feed documents made into entries, and each feed's state between polls.

- file.py: the feeds file (`feeds.yaml`), loaded and validated into `Feed`s
- parse.py: a fetched feed document (RSS, Atom, JSON Feed) -> `FeedEntry`s, safely
- poll.py: one feed's poll in a run: conditional GET, unchanged bodies, its new entries
- polling.py: the adaptive polling schedule, body hashes and the entry keys remembered
- state.py: `FeedState` transitions: success, failure and backoff, page retries, forgetting
- leases.py: the feeds a run holds, leased in the feeds index (talks to Elasticsearch, so
  imported from `ingest.feeds.leases` by the pipeline and not re-exported here)
"""

from ingest.feeds import polling, state
from ingest.feeds.file import FEED_KEYS, load_feeds
from ingest.feeds.parse import MAX_ENTRIES, ParsedFeed, html_to_text, parse_feed
from ingest.feeds.poll import poll_feed

__all__ = [
    "FEED_KEYS",
    "MAX_ENTRIES",
    "ParsedFeed",
    "html_to_text",
    "load_feeds",
    "parse_feed",
    "poll_feed",
    "polling",
    "state",
]
