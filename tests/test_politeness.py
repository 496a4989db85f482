"""Politeness of HttpClient towards one host: robots.txt Crawl-delay, Retry-After, a failing
host backing off. Against a real local server that records when each request arrived, so the
spacing is asserted on what the server saw, not on the client's own clock or total time.

Hosts are virtual: a.localhost and b.localhost reach the same server on 127.0.0.1 but are two
hosts to the client.
"""

from __future__ import annotations

import asyncio
import itertools
import pickle
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from ipaddress import ip_network
from typing import Any, TypeVar

import pytest

from ingest.config import FetchLimits
from ingest.errors import FetchError, TransientFetchError
from ingest.fetch.client import HttpClient
from ingest.fetch.politeness import parse_retry_after

T = TypeVar("T")
LOCAL = (ip_network("127.0.0.0/8"),)
LIMITS = FetchLimits(connect_timeout=2.0, read_timeout=2.0, deadline=5.0, max_bytes=64 * 1024)
HTML = b"<!doctype html><html><body>Poolse grens</body></html>"
SLACK = 0.05  # a request may reach the server a little sooner after the previous one than sent

# (host, path, number of this request to the same host and path) -> status, headers, body
Answer = Callable[[str, str, int], tuple[int, dict[str, str], bytes]]


@dataclass
class Hit:
    at: float  # time.monotonic() when the server read the request
    wall: float  # time.time(), for HTTP dates
    host: str
    path: str


@dataclass
class Site:
    port: int
    hits: list[Hit] = field(default_factory=list)

    def url(self, host: str, path: str) -> str:
        return f"http://{host}.localhost:{self.port}{path}"

    def seen(self, host: str, *, pages_only: bool = False) -> list[Hit]:
        return [
            h
            for h in self.hits
            if h.host == f"{host}.localhost" and not (pages_only and h.path == "/robots.txt")
        ]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@asynccontextmanager
async def serve(answer: Answer) -> AsyncIterator[Site]:
    """A one-request-per-connection HTTP server that logs every request as it arrives."""
    site = Site(port=0)
    counts: dict[tuple[str, str], int] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            path = head.split(" ", 2)[1]
            host = next(
                line.split(":", 1)[1].strip().rsplit(":", 1)[0]
                for line in head.split("\r\n")
                if line.lower().startswith("host:")
            )
            site.hits.append(Hit(time.monotonic(), time.time(), host, path))
            counts[host, path] = n = counts.get((host, path), 0) + 1
            status, headers, body = answer(host, path, n)
            lines = [f"HTTP/1.1 {status} X", "Connection: close", f"Content-Length: {len(body)}"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    site.port = server.sockets[0].getsockname()[1]
    try:
        yield site
    finally:
        server.close()
        await server.wait_closed()


def page(status: int = 200, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "text/html", **headers}, HTML if status == 200 else b"no"


def robots(text: str) -> Answer:
    """Every host serves `text` as robots.txt and a page at any other path."""

    def answer(host: str, path: str, n: int) -> tuple[int, dict[str, str], bytes]:
        if path == "/robots.txt":
            return 200, {"Content-Type": "text/plain"}, text.encode()
        return page()

    return answer


async def attempt(http: HttpClient, url: str) -> FetchError | None:
    try:
        await http.fetch_page(url)
    except FetchError as exc:
        return exc
    return None


def fetch_concurrently(
    answer: Answer,
    pages: list[tuple[str, str]],
    limits: FetchLimits = LIMITS,
    *,
    respect_robots: bool = True,
) -> tuple[Site, Counter[str]]:
    """Fetch the (host, path) pages all at once from a server answering `answer`; return
    what the server saw and the client's stats."""

    async def scenario() -> tuple[Site, Counter[str]]:
        async with (
            serve(answer) as site,
            HttpClient(limits, LOCAL, respect_robots=respect_robots) as http,
        ):
            await asyncio.gather(*(http.fetch_page(site.url(h, p)) for h, p in pages))
            return site, http.stats

    return run(scenario())


def on_a(n: int) -> list[tuple[str, str]]:
    """`n` distinct pages on host a."""
    return [("a", f"/p{i}") for i in range(n)]


def gaps(hits: list[Hit]) -> list[float]:
    times = sorted(h.at for h in hits)
    return [b - a for a, b in itertools.pairwise(times)]


# --- robots.txt Crawl-delay ------------------------------------------------------------------


def test_crawl_delay_spaces_requests_to_the_host_across_concurrent_tasks() -> None:
    site, stats = fetch_concurrently(robots("User-agent: *\nCrawl-delay: 0.5\n"), on_a(4))
    hits = site.seen("a")
    assert next(h.path for h in hits) == "/robots.txt" and len(hits) == 5
    # robots.txt, then each page at least 0.5 s after the request before it started
    assert all(gap >= 0.5 - SLACK for gap in gaps(hits)), gaps(hits)
    assert stats["pages"] == 4 and stats["host_waits"] >= 4


def test_crawl_delay_for_our_user_agent_wins_and_other_hosts_are_not_slowed() -> None:
    rules = {
        "a.localhost": "User-agent: mediamon\nCrawl-delay: 0.4\n\nUser-agent: *\nCrawl-delay: 9\n",
        "b.localhost": "User-agent: other-bot\nCrawl-delay: 9\n",
    }

    def answer(host: str, path: str, n: int) -> tuple[int, dict[str, str], bytes]:
        if path == "/robots.txt":
            return 200, {"Content-Type": "text/plain"}, rules[host].encode()
        return page()

    site, _ = fetch_concurrently(answer, [(h, f"/p{i}") for i in range(3) for h in "ab"])
    a_gaps = gaps(site.seen("a"))
    assert all(0.4 - SLACK <= gap < 2 for gap in a_gaps), a_gaps
    b_pages = site.seen("b", pages_only=True)
    assert max(h.at for h in b_pages) - min(h.at for h in b_pages) < 0.4  # no delay for b


def test_crawl_delay_above_the_cap_is_clamped() -> None:
    limits = replace(LIMITS, max_crawl_delay=0.3)
    site, _ = fetch_concurrently(robots("User-agent: *\nCrawl-delay: 3600\n"), on_a(3), limits)
    assert all(0.3 - SLACK <= gap < 1.5 for gap in gaps(site.seen("a"))), gaps(site.seen("a"))


@pytest.mark.parametrize("value", ["soon", "-2", "nan", "inf", ""])
def test_unusable_crawl_delay_is_ignored(value: str) -> None:
    site, stats = fetch_concurrently(robots(f"User-agent: *\nCrawl-delay: {value}\n"), on_a(4))
    hits = site.seen("a")
    assert stats["host_waits"] == 0
    assert len(hits) == 5 and hits[-1].at - hits[0].at < 0.45  # 2 s with a 0.5 s delay


def test_crawl_delay_is_not_applied_without_robots() -> None:
    answer = robots("User-agent: *\nCrawl-delay: 5\n")
    site, _ = fetch_concurrently(answer, on_a(3), respect_robots=False)
    assert [h.path for h in site.hits].count("/robots.txt") == 0
    assert max(gaps(site.hits)) < 1


# --- Retry-After -----------------------------------------------------------------------------


def busy_once(status: int, retry_after: str) -> Answer:
    """Host a answers its first request with `status` and `Retry-After`, then pages."""

    def answer(host: str, path: str, n: int) -> tuple[int, dict[str, str], bytes]:
        if host == "a.localhost" and path == "/p" and n == 1:
            return page(status, **{"Retry-After": retry_after})
        return page()

    return answer


def test_retry_after_seconds_delays_the_next_request_to_the_host() -> None:
    async def scenario() -> tuple[Site, FetchError | None, datetime, Any]:
        async with (
            serve(busy_once(503, "1")) as site,
            HttpClient(LIMITS, LOCAL, respect_robots=False) as http,
        ):
            before = datetime.now(UTC)
            error = await attempt(http, site.url("a", "/p"))
            await asyncio.gather(*(http.fetch_page(site.url("a", f"/q{i}")) for i in range(2)))
            await http.fetch_page(site.url("b", "/p"))
            return site, error, before, http.stats

    site, error, before, stats = run(scenario())
    assert isinstance(error, TransientFetchError) and error.reason == "http_503"
    assert error.retry_after is not None
    assert timedelta(seconds=0.9) < error.retry_after - before < timedelta(seconds=1.5)
    first, *later = site.seen("a")
    assert first.path == "/p" and len(later) == 2
    assert all(h.at - first.at >= 1 - SLACK for h in later), [h.at - first.at for h in later]
    assert stats["retry_after"] == 1 and stats["pages"] == 3


def test_retry_after_http_date_delays_the_next_request_to_the_host() -> None:
    async def scenario() -> tuple[Site, FetchError | None, datetime]:
        when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
        async with (
            serve(busy_once(429, format_datetime(when, usegmt=True))) as site,
            HttpClient(LIMITS, LOCAL, respect_robots=False) as http,
        ):
            error = await attempt(http, site.url("a", "/p"))
            await http.fetch_page(site.url("a", "/q"))
            return site, error, when

    site, error, when = run(scenario())
    assert isinstance(error, TransientFetchError) and error.reason == "http_429"
    assert error.retry_after == when
    first, second = site.seen("a")
    assert second.wall >= when.timestamp() - SLACK
    # The first request came before that date (so the client did wait), however late the busy
    # machine sent it; how long before varies, so no fixed gap is asserted.
    assert first.wall < when.timestamp()


@pytest.mark.parametrize(
    "value", ["soon", "-5", "0", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT", "Mon, 99 Foo 2099"]
)
def test_unusable_retry_after_is_ignored(value: str) -> None:
    async def scenario() -> tuple[Site, FetchError | None]:
        async with (
            serve(busy_once(503, value)) as site,
            HttpClient(LIMITS, LOCAL, respect_robots=False) as http,
        ):
            error = await attempt(http, site.url("a", "/p"))
            await http.fetch_page(site.url("a", "/q"))
            return site, error

    site, error = run(scenario())
    assert isinstance(error, TransientFetchError) and error.reason == "http_503"
    assert error.retry_after is None
    first, second = site.seen("a")
    assert second.at - first.at < 0.3


def test_long_retry_after_fails_the_host_fast_without_asking_it() -> None:
    async def scenario() -> tuple[Site, list[FetchError | None], datetime, Any]:
        async with (
            serve(busy_once(429, "3600")) as site,
            HttpClient(LIMITS, LOCAL, respect_robots=False) as http,
        ):
            before = datetime.now(UTC)
            errors = [await attempt(http, site.url("a", "/p"))]
            started = time.monotonic()
            errors += await asyncio.gather(
                *(attempt(http, site.url("a", f"/q{i}")) for i in range(3))
            )
            try:
                await http.fetch_feed(site.url("a", "/feed.xml"))
            except FetchError as exc:
                errors.append(exc)
            assert time.monotonic() - started < 0.5  # failed fast, no wait
            assert await attempt(http, site.url("b", "/p")) is None  # other hosts unaffected
            return site, errors, before, http.stats

    site, errors, before, stats = run(scenario())
    assert [e.reason if e else None for e in errors] == ["http_429"] + ["host_backoff"] * 4
    assert len(site.seen("a")) == 1  # only the request that got the 429 reached the server
    for error in errors[1:]:
        assert isinstance(error, TransientFetchError) and error.retry_after is not None
        assert error.retry_after - before > timedelta(minutes=59)
        assert "Retry-After" in error.detail
    assert stats["failed:host_backoff"] == 4 and stats["requests"] == 2


def test_retry_after_on_robots_txt_holds_back_the_pages() -> None:
    def answer(host: str, path: str, n: int) -> tuple[int, dict[str, str], bytes]:
        if path == "/robots.txt":
            return page(503, **{"Retry-After": "7200"})
        return page()

    async def scenario() -> tuple[Site, list[FetchError | None]]:
        async with serve(answer) as site, HttpClient(LIMITS, LOCAL) as http:
            return site, [await attempt(http, site.url("a", "/p")) for _ in range(2)]

    site, errors = run(scenario())
    # robots.txt unreachable (5xx) means no pages for the run, as before; asked once only
    assert [e.reason if e else None for e in errors] == ["robots_unavailable"] * 2
    assert [h.path for h in site.hits] == ["/robots.txt"]


# --- a failing host backs off ----------------------------------------------------------------


def failing(host_down: str = "a.localhost") -> Answer:
    def answer(host: str, path: str, n: int) -> tuple[int, dict[str, str], bytes]:
        return page(500) if host == host_down and path != "/ok" else page()

    return answer


FAILING = replace(LIMITS, host_failure_limit=3, host_failure_cooldown=0.5)


def test_failing_host_is_paused_after_the_limit_and_others_are_not() -> None:
    async def scenario() -> tuple[Site, list[FetchError | None], Any]:
        async with (
            serve(failing()) as site,
            HttpClient(FAILING, LOCAL, respect_robots=False) as http,
        ):
            started = time.monotonic()
            errors = [await attempt(http, site.url("a", f"/p{i}")) for i in range(6)]
            assert time.monotonic() - started < 1  # no timeouts waited for
            errors += [await attempt(http, site.url("b", f"/p{i}")) for i in range(3)]
            return site, errors, http.stats

    site, errors, stats = run(scenario())
    reasons = [e.reason if e else None for e in errors]
    assert reasons == ["http_500"] * 3 + ["host_backoff"] * 3 + [None] * 3
    assert len(site.seen("a")) == 3  # exactly the limit reached the failing host
    assert len(site.seen("b")) == 3
    backoff = errors[3]
    assert isinstance(backoff, TransientFetchError) and backoff.retry_after is not None
    assert "3 failures in a row" in backoff.detail
    assert stats["hosts_paused"] == 1 and stats["failed:host_backoff"] == 3


def test_failing_host_is_tried_again_after_the_cooldown_which_doubles() -> None:
    async def scenario() -> tuple[Site, list[str | None]]:
        async with (
            serve(failing()) as site,
            HttpClient(FAILING, LOCAL, respect_robots=False) as http,
        ):
            reasons = []
            for i in range(4):  # 3 failures, then paused for 0.5 s
                error = await attempt(http, site.url("a", f"/p{i}"))
                reasons.append(error.reason if error else None)
            await asyncio.sleep(0.6)
            error = await attempt(http, site.url("a", "/probe"))  # sent, fails: paused 1 s
            reasons.append(error.reason if error else None)
            await asyncio.sleep(0.2)
            error = await attempt(http, site.url("a", "/still"))  # still paused
            reasons.append(error.reason if error else None)
            await asyncio.sleep(1.0)
            error = await attempt(http, site.url("a", "/ok"))  # answered: count reset
            reasons.append(error.reason if error else None)
            error = await attempt(http, site.url("a", "/again"))
            reasons.append(error.reason if error else None)
            return site, reasons

    site, reasons = run(scenario())
    assert reasons == ["http_500"] * 3 + ["host_backoff", "http_500", "host_backoff"] + [
        None,
        "http_500",
    ]
    assert [h.path for h in site.seen("a")] == ["/p0", "/p1", "/p2", "/probe", "/ok", "/again"]


def test_an_answer_resets_the_failure_count() -> None:
    async def scenario() -> list[str | None]:
        async with (
            serve(failing()) as site,
            HttpClient(FAILING, LOCAL, respect_robots=False) as http,
        ):
            paths = ["/a", "/b", "/ok", "/c", "/d", "/ok", "/e"]
            errors = [await attempt(http, site.url("a", p)) for p in paths]
            return [e.reason if e else None for e in errors]

    assert run(scenario()) == [
        "http_500",
        "http_500",
        None,
        "http_500",
        "http_500",
        None,
        "http_500",
    ]


def test_unreachable_host_backs_off_without_connecting() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario() -> tuple[list[str | None], Any]:
        async with HttpClient(FAILING, LOCAL, respect_robots=False) as http:
            url = f"http://127.0.0.1:{port}/"
            errors = [await attempt(http, url) for _ in range(5)]
            return [e.reason if e else None for e in errors], http.stats

    reasons, stats = run(scenario())
    assert reasons == ["connect_error"] * 3 + ["host_backoff"] * 2
    assert stats["requests"] == 3


def test_concurrent_failures_pause_the_host_once() -> None:
    async def scenario() -> tuple[Site, list[FetchError | None], Any]:
        async with serve(failing()) as site:
            limits = replace(FAILING, per_host=2)
            async with HttpClient(limits, LOCAL, respect_robots=False) as http:
                urls = [site.url("a", f"/p{i}") for i in range(10)]
                errors = await asyncio.gather(*(attempt(http, u) for u in urls))
                return site, errors, http.stats

    site, errors, stats = run(scenario())
    sent = len(site.seen("a"))
    assert 3 <= sent <= 4  # the limit, plus at most the other request already in flight
    assert [e.reason if e else None for e in errors].count("host_backoff") == 10 - sent
    assert stats["hosts_paused"] == 1


# --- parsing ---------------------------------------------------------------------------------

NOW = datetime(2024, 5, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", NOW + timedelta(seconds=120)),
        (" 7 ", NOW + timedelta(seconds=7)),
        ("Fri, 03 May 2024 12:30:00 GMT", NOW + timedelta(minutes=30)),
        ("Fri, 03 May 2024 14:30:00 +0200", NOW + timedelta(minutes=30)),
        ("Fri, 03 May 2024 12:30:00 -0000", NOW + timedelta(minutes=30)),
        ("99999999999999999999999", NOW + timedelta(days=1)),  # capped, no overflow
        ("Sat, 01 Jan 2050 00:00:00 GMT", NOW + timedelta(days=1)),
        (None, None),
        ("", None),
        ("0", None),
        ("-30", None),
        ("+30", None),
        ("1.5", None),
        ("²", None),
        ("soon", None),
        ("Fri, 03 May 2024 11:59:00 GMT", None),  # in the past
        ("Fri, 03 May 2024 12:00:00 GMT", None),  # now
        ("Fri, 32 May 2024 12:00:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: datetime | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_retry_after_survives_pickling() -> None:
    error = TransientFetchError("http_429", "https://x.example/", "busy", retry_after=NOW)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.url, copy.detail, copy.retry_after) == (
        "http_429",
        "https://x.example/",
        "busy",
        NOW,
    )
