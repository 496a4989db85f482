"""Politeness towards one host, for the life of one `HttpClient` (one run).

- a page request starts at least the host's robots.txt `Crawl-delay` after the previous
  request to that host started (the client passes the delay, clamped to
  `FetchLimits.max_crawl_delay`);
- after a 429 or 503 with `Retry-After` (seconds or an HTTP date), the host is not asked again
  before then: requests wait if that is at most `max_retry_after_wait` away, else fail fast;
- after `host_failure_limit` consecutive transient failures (connect_error, timeout, deadline,
  dns_error, http_5xx) the host is paused for `host_failure_cooldown`, doubling while it keeps
  failing: its requests fail fast instead of each waiting for its own timeout.

A request failing fast is `host_backoff`, with `retry_after` set to when the host may be asked.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from ingest.config import FetchLimits
from ingest.errors import FetchError, TransientFetchError

__all__ = ["HostPacing", "HostState", "parse_retry_after"]

# A Retry-After further away than this is taken as this: a run is over long before, and a
# failed feed is polled again within a day at most anyway (feeds.state.FEED_BACKOFF_MAX).
RETRY_AFTER_MAX = timedelta(days=1)
HOST_PAUSE_MAX = 3600.0  # a failing host's pause stops doubling here (seconds)
# Transient failures that say the host itself is unwell; a 429 says "slower", not "down".
_HOST_FAILURES = re.compile(r"connect_error|timeout|deadline|dns_error|http_5\d\d")


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """A `Retry-After` value (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) as a time.

    None for garbage, a negative or zero delay and a date not after `now`; a time further
    away than `RETRY_AFTER_MAX` is taken as `now + RETRY_AFTER_MAX`.
    """
    value = (value or "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():  # 1*DIGIT: no sign, no fraction
        seconds = int(value)
        if seconds <= 0:
            return None
        return now + min(timedelta(seconds=min(seconds, 10**9)), RETRY_AFTER_MAX)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, per RFC 5322
        when = when.replace(tzinfo=UTC)
    if when <= now:
        return None
    return min(when, now + RETRY_AFTER_MAX)


@dataclass
class HostState:
    """What one client knows of one host: when it may be asked next, and how it has fared.

    Times are `time.monotonic()`. `lock` orders the requests to the host: each takes its turn
    under it (see `HostPacing.take_turn`), so spacing holds across concurrent tasks.
    """

    name: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_start: float | None = None  # when the latest request to the host was sent
    not_before: float = 0.0  # Retry-After: no request before this
    consecutive_failures: int = 0  # transient failures of the host itself, in a row
    paused_until: float = 0.0  # after too many failures: requests fail fast until then
    pauses: int = 0  # pauses since the last success (each twice as long as the one before)


class HostPacing:
    """The politeness state of every host one client asks; counts go into its `stats`."""

    def __init__(self, limits: FetchLimits, stats: Counter[str]) -> None:
        self.limits = limits
        self.stats = stats
        self._hosts: dict[str, HostState] = {}

    def host(self, name: str) -> HostState:
        return self._hosts.setdefault(name, HostState(name))

    async def take_turn(self, host: HostState, url: str, crawl_delay: float) -> None:
        """Return when a request to `host` may start, or raise `host_backoff` if not soon.

        Called under `host.lock`. Loops because a request in flight may pause the host or set
        a Retry-After while this one sleeps.
        """
        while True:
            now = time.monotonic()
            if host.paused_until > now:
                why = f"{host.consecutive_failures} failures in a row"
                raise _backoff(host, url, host.paused_until, why)
            if host.not_before - now > self.limits.max_retry_after_wait:
                raise _backoff(host, url, host.not_before, "Retry-After")
            start = host.not_before
            if host.last_start is not None:
                start = max(start, host.last_start + crawl_delay)
            if start <= now:
                return
            self.stats["host_waits"] += 1
            await asyncio.sleep(start - now)

    def record(self, host: HostState, error: FetchError | None) -> None:
        """Keep a Retry-After and count the host's failures; any other outcome (a success,
        a 404, a 429, a refused body) shows the host answering and resets the count."""
        now = time.monotonic()
        if error is not None and error.retry_after is not None:
            wait = (error.retry_after - datetime.now(UTC)).total_seconds()
            host.not_before = max(host.not_before, now + wait)
            self.stats["retry_after"] += 1
        if error is None or not _HOST_FAILURES.fullmatch(error.reason):
            host.consecutive_failures = host.pauses = 0
            return
        host.consecutive_failures += 1
        # Paused only when not paused already: the requests that were in flight when the limit
        # was reached fail too, and must not double the pause each. After a pause the count
        # is still over the limit, so the first request failing again pauses the host again.
        if host.consecutive_failures >= self.limits.host_failure_limit and host.paused_until <= now:
            cooldown = self.limits.host_failure_cooldown * 2**host.pauses
            host.paused_until = now + min(cooldown, HOST_PAUSE_MAX)
            host.pauses += 1
            self.stats["hosts_paused"] += 1


def _backoff(host: HostState, url: str, until: float, why: str) -> TransientFetchError:
    seconds = until - time.monotonic()
    retry_after = datetime.now(UTC) + timedelta(seconds=seconds)
    detail = f"{host.name}: {why}, not asked again for {seconds:.0f}s"
    return TransientFetchError("host_backoff", url, detail, retry_after=retry_after)
