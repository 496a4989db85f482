"""The one egress point of mediamon: every outbound request goes through `HttpClient`.

For every request (feed, page, robots.txt) and every redirect hop, the client checks the URL
scheme, resolves the host itself and refuses non-public addresses (the egress guard), keeps
within the global and per-host concurrency limits, the connect/read timeouts, a wall-clock
deadline and a cap on the decoded body size. Pages also honour robots.txt.

Every request also waits its turn with its host (`ingest.fetch.politeness`): robots.txt
Crawl-delay, Retry-After, and a pause for a host that keeps failing (`host_backoff`).

Every failure is raised as a `FetchError` whose `reason` is one of:

    permanent  bad_url, bad_scheme, egress_refused, too_many_redirects, redirect_loop,
               too_large, bad_encoding, not_html, robots_disallowed, http_<3xx/4xx but 429>
    transient  timeout, deadline, connect_error, dns_error, protocol_error,
               http_429, http_<5xx>, robots_unavailable, host_backoff
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin

import httpcore
import httpx
from protego import Protego

from ingest.config import FetchLimits
from ingest.errors import FetchError, PermanentFetchError, TransientFetchError
from ingest.fetch import charset
from ingest.fetch.egress import (
    EgressRefused,
    GuardedBackend,
    NameNotResolved,
    Network,
)
from ingest.fetch.politeness import HostPacing, parse_retry_after
from ingest.models import Page

__all__ = ["FeedResponse", "HttpClient"]


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
FEED_ACCEPT = "application/rss+xml,application/atom+xml,application/xml;q=0.9,*/*;q=0.5"
# Only zlib codings are asked for: they are the ones we can inflate with a bound on the output.
ACCEPT_ENCODING = "gzip, deflate"
ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 §2.5: parse at least the first 500 KiB, ignore the rest
IDLE_CONNECTIONS_PER_SLOT = 4  # pooled connections per concurrent request (see _guarded_transport)


@dataclass(frozen=True)
class FeedResponse:
    """A fetched feed document; `status` 304 means not modified and `content` is empty."""

    url: str
    final_url: str
    status: int
    content: bytes
    etag: str | None
    last_modified: str | None
    # from Content-Type; `ingest.fetch.charset` weighs it against the bytes
    charset: str | None = None


def _guarded_transport(limits: FetchLimits, allow: tuple[Network, ...]) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx offers no public way to choose the network backend, so its pool is swapped for one
    # that connects only through the guard (the egress tests fail if this stops working).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        # Requests in flight are bounded by `concurrency` (HttpClient's semaphores); the pool
        # may keep more connections idle. A batch spreads over many hosts, and a pool capped
        # at `concurrency` closed one host's idle connection to open another's: about every
        # other request was a new connection (a TLS handshake, on real sites). At 4x, the
        # benchmark's 400 pages on 20 hosts open ~30 connections instead of ~240-390.
        max_connections=limits.concurrency * IDLE_CONNECTIONS_PER_SLOT,
        max_keepalive_connections=limits.concurrency * IDLE_CONNECTIONS_PER_SLOT,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(allow),
    )
    return transport


def _inflater(content_encoding: str, url: str) -> Callable[[bytes, int], bytes]:
    """`(chunk, max_length) -> bytes` undoing Content-Encoding, never returning more than asked.

    httpx's own decoders inflate a whole network chunk at once, so a small gzip bomb could
    allocate far more than the size cap before the cap is ever checked.
    """
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c not in ("", "identity")]
    if not codings:
        return lambda chunk, _: chunk
    if codings in (["gzip"], ["x-gzip"], ["deflate"]):
        return zlib.decompressobj(zlib.MAX_WBITS | 32).decompress  # | 32: gzip or zlib header
    raise PermanentFetchError("bad_encoding", url, f"Content-Encoding {content_encoding}")


def _media_type(headers: httpx.Headers) -> str:
    content_type: str = headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower()


def _looks_like_html(body: bytes) -> bool:
    head = body[:1024].lower()
    return b"<html" in head or b"<!doctype html" in head


@dataclass(frozen=True)
class _Ask:
    """What one fetch sends and what it accepts back."""

    headers: dict[str, str]
    robots: bool  # check robots.txt on every hop
    html_only: bool = False  # refuse a declared non-HTML Content-Type before reading the body
    max_bytes: int | None = None  # else limits.max_bytes
    truncate: bool = False  # cut the body at max_bytes instead of failing
    method: str = "GET"
    content: bytes | None = None  # request body (webhook POSTs)


@dataclass(frozen=True)
class _Response:
    url: httpx.URL
    status: int
    headers: httpx.Headers
    body: bytes
    charset: str | None = None  # from Content-Type
    location: str | None = None  # set on a redirect


_TRANSPORT_ERRORS: tuple[tuple[type[Exception], type[FetchError], str], ...] = (
    (EgressRefused, PermanentFetchError, "egress_refused"),
    (NameNotResolved, TransientFetchError, "dns_error"),
    (httpx.TimeoutException, TransientFetchError, "timeout"),
    (httpx.NetworkError, TransientFetchError, "connect_error"),  # refused, reset, broken pipe
    (OSError, TransientFetchError, "connect_error"),
)

_FOREIGN_ERRORS: tuple[type[Exception], ...] = (
    httpx.HTTPError,
    *(foreign for foreign, _, _ in _TRANSPORT_ERRORS),
)


def _map_transport_error(exc: Exception, url: str, hop: httpx.URL) -> FetchError:
    detail = f"{hop}: {exc}" if str(hop) != url else str(exc)
    for foreign, mapped, reason in _TRANSPORT_ERRORS:
        if isinstance(exc, foreign):
            return mapped(reason, url, detail)
    return TransientFetchError("protocol_error", url, detail)  # malformed or cut-off answer


def _parse_url(raw: str, url: str, base: httpx.URL | None = None) -> httpx.URL:
    """`raw` (relative to `base`) as an http(s) URL without fragment, else a FetchError."""
    try:
        parsed = httpx.URL(urljoin(str(base), raw) if base else raw)
    except (httpx.InvalidURL, ValueError) as exc:  # ValueError includes UnicodeError
        raise PermanentFetchError("bad_url", url, str(exc)) from exc
    if parsed.scheme not in ("http", "https"):
        raise PermanentFetchError("bad_scheme", url, str(parsed))
    if not parsed.host:
        raise PermanentFetchError("bad_url", url, f"{parsed}: no host")
    return parsed.copy_with(fragment=None)


class HttpClient:
    """Async HTTP client for feeds, pages and robots.txt, with the guarantees of this module.

    Create one per run at the edge (`async with HttpClient(settings.fetch, ...) as http:`) and
    pass it in; never keep one in a module global. `stats` counts requests and outcomes.
    """

    def __init__(
        self,
        limits: FetchLimits,
        egress_allow: tuple[Network, ...] = (),
        *,
        respect_robots: bool = True,
    ) -> None:
        self.limits = limits
        self.respect_robots = respect_robots
        self.stats: Counter[str] = Counter()
        self._transport = _guarded_transport(limits, egress_allow)
        self._client = httpx.AsyncClient(
            transport=self._transport,
            trust_env=False,  # an environment proxy would connect around the egress guard
            follow_redirects=False,  # _fetch follows them, checking every hop
            timeout=httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout),
            headers={"User-Agent": limits.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
        )
        self._all_slots = asyncio.Semaphore(limits.concurrency)
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._pacing = HostPacing(limits, self.stats)
        self._robots: dict[str, Protego | str] = {}  # origin -> rules, or why unavailable
        self._robots_locks: dict[str, asyncio.Lock] = {}

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.aclose()

    async def fetch_page(self, url: str) -> Page:
        """Fetch an HTML page (following redirects, honouring robots.txt) and decode it."""
        ask = _Ask({"Accept": PAGE_ACCEPT}, robots=self.respect_robots, html_only=True)
        try:
            response = await self._fetch(url, ask)
            if response.status == 304:  # never asked for: pages are fetched unconditionally
                raise PermanentFetchError("http_304", url, str(response.url))
            media_type = _media_type(response.headers)
            if not media_type and not _looks_like_html(response.body):
                raise PermanentFetchError("not_html", url, "no Content-Type, body not HTML")
        except FetchError as exc:
            self.stats[f"failed:{exc.reason}"] += 1
            raise
        self.stats["pages"] += 1
        return Page(
            url=url,
            final_url=str(response.url),
            status=response.status,
            # A str, so trafilatura never decompresses: it inflates only bytes (gzip, zstd,
            # brotli by magic number), and one Content-Encoding layer was undone here, bounded.
            html=charset.decode(response.body, response.charset),
            content_type=media_type or "text/html",
            fetched_at=datetime.now(UTC),
        )

    async def fetch_feed(
        self, url: str, etag: str | None = None, last_modified: str | None = None
    ) -> FeedResponse:
        """Fetch a feed document with a conditional GET; any content type is returned as is."""
        headers = {"Accept": FEED_ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            # robots.txt is not consulted: a feed is a URL a user subscribed to on purpose, and
            # its publisher offers it for automatic polling (feed readers behave the same way).
            response = await self._fetch(url, _Ask(headers, robots=False))
        except FetchError as exc:
            self.stats[f"failed:{exc.reason}"] += 1
            raise
        self.stats["not_modified" if response.status == 304 else "feeds"] += 1
        return FeedResponse(
            url=url,
            final_url=str(response.url),
            status=response.status,
            content=b"" if response.status == 304 else response.body,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            charset=response.charset,
        )

    async def post_json(
        self, url: str, payload: object, headers: Mapping[str, str] | None = None
    ) -> int:
        """POST `payload` as JSON (alert webhooks) and return the 2xx status.

        Same guard, limits and error reasons as a fetch; robots.txt does not apply (the
        receiver asked for these requests) and a redirect is not followed: it fails as
        `http_3xx`, since replaying a POST elsewhere is not what a webhook owner configured.
        """
        ask = _Ask(
            {"Content-Type": "application/json", "Accept": "*/*", **(headers or {})},
            robots=False,
            max_bytes=64 * 1024,  # the answer is read and dropped
            truncate=True,
            method="POST",
            content=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        )
        try:
            response = await self._fetch_once(_parse_url(url, url), url, ask)
            if response.location is not None:
                raise PermanentFetchError(f"http_{response.status}", url, "redirect not followed")
        except FetchError as exc:
            self.stats[f"failed:{exc.reason}"] += 1
            raise
        self.stats["posts"] += 1
        return response.status

    async def _fetch(self, url: str, ask: _Ask) -> _Response:
        target = _parse_url(url, url)
        seen = {target}
        for _ in range(self.limits.max_redirects + 1):
            crawl_delay = await self._check_robots(target, url) if ask.robots else 0.0
            response = await self._fetch_once(target, url, ask, crawl_delay)
            if response.location is None:
                return response
            target = _parse_url(response.location, url, base=target)
            if target in seen:
                raise PermanentFetchError("redirect_loop", url, str(target))
            seen.add(target)
            self.stats["redirects"] += 1
        raise PermanentFetchError("too_many_redirects", url, str(target))

    async def _fetch_once(
        self, target: httpx.URL, url: str, ask: _Ask, crawl_delay: float = 0.0
    ) -> _Response:
        """One request, when the host's politeness state allows it; its outcome is recorded.

        The per-host slot is taken first, then the host's turn (waiting out a Crawl-delay or a
        short Retry-After), then a global slot: a request waiting for its host holds no slot
        that another host's request could use.
        """
        host = self._pacing.host(target.host)
        per_host = self._host_slots.setdefault(target.host, asyncio.Semaphore(self.limits.per_host))
        async with per_host:
            async with host.lock:
                await self._pacing.take_turn(host, url, crawl_delay)
                await self._all_slots.acquire()
                host.last_start = time.monotonic()
            try:
                response = await self._send(target, url, ask)
            except FetchError as exc:
                self._pacing.record(host, exc)
                raise
            finally:
                self._all_slots.release()
        self._pacing.record(host, None)
        return response

    async def _send(self, target: httpx.URL, url: str, ask: _Ask) -> _Response:
        self.stats["requests"] += 1
        try:
            # Timeouts bound each read; only a deadline stops a server trickling bytes.
            async with asyncio.timeout(self.limits.deadline):
                return await self._exchange(target, url, ask)
        except TimeoutError:
            detail = f"{target}: no complete response within {self.limits.deadline}s"
            raise TransientFetchError("deadline", url, detail) from None
        except _FOREIGN_ERRORS as exc:
            raise _map_transport_error(exc, url, target) from exc

    async def _exchange(self, target: httpx.URL, url: str, ask: _Ask) -> _Response:
        request = self._client.build_request(
            ask.method, target, headers=ask.headers, content=ask.content
        )
        # Not client.send(): even with follow_redirects=False it parses Location into a next
        # request and raises on one it cannot parse, before we could judge the hop ourselves.
        response = await self._transport.handle_async_request(request)
        response.request = request
        self._client.cookies.extract_cookies(response)
        try:
            status, location = response.status_code, response.headers.get("location")
            if status in REDIRECT_STATUSES and location:
                return _Response(target, status, response.headers, b"", None, location)
            if status in (429, 503):
                retry_after = parse_retry_after(
                    response.headers.get("retry-after"), datetime.now(UTC)
                )
                raise TransientFetchError(
                    f"http_{status}", url, str(target), retry_after=retry_after
                )
            if not (200 <= status < 300 or status == 304):
                error = TransientFetchError if status >= 500 else PermanentFetchError
                raise error(f"http_{status}", url, str(target))
            media_type = _media_type(response.headers)
            if ask.html_only and media_type and media_type not in HTML_TYPES:
                raise PermanentFetchError("not_html", url, media_type)  # before reading the body
            cap = self.limits.max_bytes if ask.max_bytes is None else ask.max_bytes
            body = await self._read_body(response, url, cap, ask.truncate)
            return _Response(target, status, response.headers, body, response.charset_encoding)
        finally:
            await response.aclose()

    async def _read_body(
        self, response: httpx.Response, url: str, cap: int, truncate: bool
    ) -> bytes:
        declared = response.headers.get("content-length", "")
        if not truncate and declared.isdigit() and int(declared) > cap:
            raise PermanentFetchError("too_large", url, f"Content-Length {declared} > {cap}")
        inflate = _inflater(response.headers.get("content-encoding", ""), url)
        body = bytearray()
        async for chunk in response.aiter_raw():
            try:
                body += inflate(chunk, cap - len(body) + 1)  # one byte over the cap is enough
            except zlib.error as exc:
                raise PermanentFetchError("bad_encoding", url, str(exc)) from exc
            if len(body) > cap:
                if truncate:
                    return bytes(body[:cap])
                raise PermanentFetchError("too_large", url, f"more than {cap} bytes")
        return bytes(body)

    async def _check_robots(self, target: httpx.URL, url: str) -> float:
        """Raise unless robots.txt lets us fetch `target`; return its Crawl-delay (seconds)."""
        origin = f"{target.scheme}://{target.netloc.decode('ascii')}"
        try:
            rules = await self._robots_for(origin)
        except TransientFetchError as exc:  # host_backoff: as if the page had been asked
            error = TransientFetchError(exc.reason, url, exc.detail, retry_after=exc.retry_after)
            raise error from None
        if isinstance(rules, str):
            raise TransientFetchError("robots_unavailable", url, f"{origin}/robots.txt: {rules}")
        if not rules.can_fetch(str(target), self.limits.user_agent):
            raise PermanentFetchError("robots_disallowed", url, str(target))
        # Protego already drops a non-numeric, negative, NaN or infinite value (None).
        delay = rules.crawl_delay(self.limits.user_agent)
        if delay is None or not math.isfinite(delay) or delay <= 0:
            return 0.0
        # Clamped rather than obeyed above the cap: every page queued for a host waits its
        # turn, so a site asking for minutes between requests would stretch one run by hours
        # (and hold its page slots). At the cap such a host still gets one page per 30 s.
        return min(float(delay), self.limits.max_crawl_delay)

    async def _robots_for(self, origin: str) -> Protego | str:
        # The lock makes concurrent first requests to a host share one robots.txt fetch.
        async with self._robots_locks.setdefault(origin, asyncio.Lock()):
            if origin not in self._robots:
                self._robots[origin] = await self._load_robots(origin)
        return self._robots[origin]

    async def _load_robots(self, origin: str) -> Protego | str:
        """Rules per RFC 9309 §2.3.1: 4xx (or unusable) means no rules; 5xx or unreachable
        means disallow everything, remembered for this client's life (one run)."""
        self.stats["robots_fetches"] += 1
        cap = min(ROBOTS_MAX_BYTES, self.limits.max_bytes)
        try:
            ask = _Ask({"Accept": "text/plain"}, robots=False, max_bytes=cap, truncate=True)
            response = await self._fetch(f"{origin}/robots.txt", ask)
        except TransientFetchError as exc:  # includes 429: a request to slow down, not "no rules"
            if exc.reason == "host_backoff":  # not asked, nothing learnt: ask when it is over
                raise
            return exc.reason
        except PermanentFetchError:
            return Protego.parse("")
        return Protego.parse(response.body.decode("utf-8", errors="replace"))
