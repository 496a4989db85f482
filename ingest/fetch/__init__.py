"""Fetching: every request mediamon sends out, and the text it gets back.

- `client`: `HttpClient`, the one egress point: feeds (conditional GET), pages and
  robots.txt, with timeouts, size caps, redirects and per-host limits; every failure is a
  `FetchError` with a reason (`ingest.errors`).
- `egress`: the guard that refuses non-public addresses, checked where the connection opens.
- `politeness`: each host's pace: Crawl-delay, Retry-After, a pause for a failing host.
- `charset`: bytes to text, the one decoder of pages and feeds.
"""

from ingest.fetch.charset import decode
from ingest.fetch.client import FeedResponse, HttpClient
from ingest.fetch.egress import check_egress
from ingest.fetch.politeness import HostPacing, parse_retry_after

__all__ = [
    "FeedResponse",
    "HostPacing",
    "HttpClient",
    "check_egress",
    "decode",
    "parse_retry_after",
]
