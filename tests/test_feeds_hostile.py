"""parse_feed against odd, malformed and hostile feeds, and decompression bombs at the egress.

Every document of the generated corpus (tests/feed_corpus.py) goes through `parse_feed`: no
exception escapes, the outcome is named, every entry of the document is accounted for, and
what comes out is clean (absolute http(s) URLs, no control characters, no secret). An audit
hook and a local listener prove that no XML parser opens a file or a connection.

Run with `-s` to see the outcome table.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import io
import ipaddress
import pyexpat
import socket
import sys
import threading
import time
import tracemalloc
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import feedparser
import pytest
import trafilatura.utils
from feed_corpus import (
    BROTLI_HELLO,
    FEED_URL,
    NOW,
    ZSTD_FRAME,
    Item,
    OddFeed,
    billion_laughs,
    corpus,
    rss20,
)
from pytest_httpserver import HTTPServer

from ingest.config import FetchLimits
from ingest.errors import ExtractionError, FetchError
from ingest.extract import page as extract
from ingest.feeds import MAX_ENTRIES, ParsedFeed, parse_feed
from ingest.fetch.client import HttpClient
from ingest.models import Feed

FEED = Feed(name="odd", url=FEED_URL)
OUTCOMES = {"ok", "malformed", "not_a_feed", "empty", "unsupported"}
# Reasons for which the whole document is refused: its entries count under the feed's reason.
WHOLE_DOCUMENT = {
    "feed:empty",
    "feed:not_a_feed",
    "feed:compressed",
    "feed:dtd_entities",
    "feed:too_complex",
}
SECRET = "mediamon-secret-4f1c9e"
CASE_NAMES = [case.name for case in corpus(port=1, secret=Path("/nonexistent"))]


# -- watching for files and connections ---------------------------------------------------


class Watch:
    """Records, while on, every socket connection and every open of a watched path.

    Audit hooks cannot be removed, so one is added once and stays quiet while `events` is None.
    """

    events: list[tuple[str, str]] | None = None
    paths: tuple[str, ...] = ("/etc/passwd",)

    @classmethod
    def hook(cls, event: str, args: tuple[Any, ...]) -> None:
        if cls.events is None:
            return
        if event.startswith(("socket.connect", "urllib.Request", "socket.getaddrinfo")):
            cls.events.append((event, repr(args)))
        elif event == "open" and any(p in repr(args[0]) for p in cls.paths):
            cls.events.append((event, repr(args[0])))


sys.addaudithook(Watch.hook)


@dataclass
class Result:
    parsed: ParsedFeed | None
    error: BaseException | None
    seconds: float
    events: list[tuple[str, str]]


@pytest.fixture(scope="module")
def listener() -> Iterator[tuple[int, list[object]]]:
    """A TCP listener on 127.0.0.1 that records (and drops) every connection made to it."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    hits: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, address = server.accept()
            except TimeoutError:
                continue
            hits.append(address)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    stop.set()
    thread.join()
    server.close()


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file that must never be read: it is also a valid feed, so a leak would show."""
    path = tmp_path_factory.mktemp("secret") / "secret.xml"
    item = Item(title=SECRET, link=f"https://news.example.org/{SECRET}")
    path.write_text(rss20([item]).replace("Odd feed", SECRET))
    Watch.paths = ("/etc/passwd", str(path))
    return path


@pytest.fixture(scope="module")
def cases(listener: tuple[int, list[object]], secret_file: Path) -> dict[str, OddFeed]:
    return {case.name: case for case in corpus(listener[0], secret_file)}


_results: dict[str, Result] = {}


def run_case(case: OddFeed) -> Result:
    """parse_feed on one case, timed and watched; cached for the outcome table."""
    if case.name not in _results:
        Watch.events = []
        start = time.perf_counter()
        try:
            parsed, error = parse_feed(case.content, FEED, FEED_URL, NOW), None
        except Exception as exc:  # the test reports it: nothing may escape parse_feed
            parsed, error = None, exc
        seconds = time.perf_counter() - start
        events, Watch.events = Watch.events, None
        _results[case.name] = Result(parsed, error, seconds, events)
    return _results[case.name]


# -- every case ---------------------------------------------------------------------------


def entry_texts(parsed: ParsedFeed) -> Iterator[str]:
    yield parsed.title
    for entry in parsed.entries:
        yield from (entry.url, entry.title, entry.summary, entry.guid or "", entry.source or "")
        yield from entry.authors + entry.tags


def control_characters(text: str) -> list[str]:
    return [hex(ord(c)) for c in text if unicodedata.category(c) in ("Cc", "Cs")]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_odd_feed(name: str, cases: dict[str, OddFeed], listener: tuple[int, Any]) -> None:
    case = cases[name]
    result = run_case(case)
    assert result.error is None, f"{name}: {result.error!r} escaped parse_feed"
    parsed = result.parsed
    assert parsed is not None
    assert parsed.outcome in OUTCOMES
    assert (parsed.outcome == "ok") == (parsed.reason is None) == (not parsed.malformed)
    # feed:parser_error is the last guard; the screen must defuse what feedparser raises on.
    assert parsed.reason != "feed:parser_error"
    accounted = len(parsed.entries) + sum(parsed.skipped.values())
    if parsed.reason in WHOLE_DOCUMENT:
        assert accounted == 0
    else:
        assert accounted == case.items, f"{accounted} accounted for, {case.items} in the document"

    for entry in parsed.entries:
        if not entry.url:  # kept without a usable link: says why, and has an identity
            assert entry.link_problem and entry.identity and (entry.title or entry.summary)
            continue
        parts = urlsplit(entry.url)
        assert parts.scheme in ("http", "https") and parts.hostname, entry.url
    for text in entry_texts(parsed):
        assert not control_characters(text), f"control characters in {text[:80]!r}"
        assert SECRET not in text and "root:x:0:0" not in text
    assert result.events == [], "a parser opened a file or a connection"
    assert listener[1] == [], "something connected to the listener"
    assert result.seconds < (15 if "big" in case.tags else 1), f"took {result.seconds:.1f} s"

    expected = {
        "outcome": (case.outcome, parsed.outcome),
        "reason": (case.reason, parsed.reason),
        "title": (case.title, parsed.entries[0].title if parsed.entries else None),
        "urls": (case.urls, tuple(e.url for e in parsed.entries)),
        "link_problems": (
            case.link_problems,
            tuple(e.link_problem for e in parsed.entries if not e.url),
        ),
        "skipped": (case.skipped, dict(parsed.skipped)),
        "published": (case.published, tuple(e.published_at for e in parsed.entries)),
    }
    for key, (want, got) in expected.items():
        if want is not None:
            assert got == want, f"{key}: expected {want!r}, got {got!r}"


def test_the_corpus_is_large_enough() -> None:
    assert len(CASE_NAMES) >= 150


def test_outcome_table(cases: dict[str, OddFeed], capsys: pytest.CaptureFixture[str]) -> None:
    """Counts per outcome and reason over the whole corpus (shown with `pytest -s`)."""
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    items = entries = refused = 0
    for case in cases.values():
        parsed = run_case(case).parsed
        assert parsed is not None
        outcomes[parsed.outcome] += 1
        reasons[parsed.reason or "-"] += 1
        skipped.update(parsed.skipped)
        items += case.items
        entries += len(parsed.entries)
        if parsed.reason in WHOLE_DOCUMENT:
            refused += case.items
    assert items == entries + sum(skipped.values()) + refused
    slowest = sorted(cases, key=lambda n: _results[n].seconds, reverse=True)[:3]
    lines = [f"\n{len(cases)} feeds, {items} entries in them", "outcome      feeds"]
    lines += [f"  {k:<11}{v:>6}" for k, v in outcomes.most_common()]
    lines += ["feed reason          feeds"] + [f"  {k:<19}{v:>6}" for k, v in reasons.most_common()]
    lines += [f"entries: {entries} parsed, {refused} in refused feeds, skipped:"]
    lines += [f"  {k:<19}{v:>6}" for k, v in skipped.most_common()]
    lines += ["slowest: " + ", ".join(f"{n} {_results[n].seconds:.2f}s" for n in slowest)]
    with capsys.disabled():
        print("\n".join(lines))


# -- bombs, external entities, files ------------------------------------------------------


@pytest.mark.parametrize("name", ["billion-laughs", "billion-laughs-utf16", "quadratic-blowup"])
def test_entity_bombs_are_refused_fast_in_bounded_memory(
    name: str, cases: dict[str, OddFeed]
) -> None:
    case = cases[name]
    if name == "billion-laughs":
        assert len(case.content) < 1024
    tracemalloc.start()
    start = time.perf_counter()
    parsed = parse_feed(case.content, FEED, FEED_URL, NOW)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seconds < 1
    assert peak < 50 * 2**20 + 10 * len(case.content)
    assert (parsed.outcome, parsed.reason) == ("malformed", "feed:dtd_entities")


def test_expat_limits_amplification() -> None:
    """feedparser's strict parser is expat: since 2.4 it stops billion laughs by itself (but
    only after 8 MiB of output, which is why parse_feed refuses entity declarations first)."""
    assert tuple(int(n) for n in pyexpat.EXPAT_VERSION.split("_")[1].split(".")) >= (2, 4, 0)


@pytest.mark.parametrize("loose", [False, True], ids=["expat", "loose"])
def test_feedparser_itself_never_fetches_external_entities(
    loose: bool, listener: tuple[int, list[object]], secret_file: Path
) -> None:
    """Without parse_feed's screen: neither of feedparser's parsers reads a file or connects.

    The DTD is on the declaration's line, where feedparser's own DOCTYPE rewriting (which
    only looks at line starts) leaves it to expat. `loose` breaks the document at its end, so
    that expat gives up and feedparser's loose parser parses it again.
    """
    url = f"http://127.0.0.1:{listener[0]}"
    dtd = (
        f'<!DOCTYPE rss SYSTEM "{url}/rss.dtd" [<!ENTITY f SYSTEM "file://{secret_file}">'
        f'<!ENTITY h SYSTEM "{url}/e"><!ENTITY % p SYSTEM "{url}/p.dtd">%p;]>'
    )
    body = rss20([Item(title="x &f; &h;", summary="&f;")], decl="", raw=True)
    document = ('<?xml version="1.0"?>' + dtd + body + ("<" if loose else "")).encode()
    Watch.events = []
    parsed = feedparser.parse(io.BytesIO(document))
    events, Watch.events = Watch.events, None
    assert bool(parsed.bozo) is loose  # expat parsed it all, or gave up for the loose parser
    assert parsed.entries[0].title == ("x &f; &h;" if loose else "x")  # never expanded
    assert SECRET not in repr(parsed)
    assert events == [] and listener[1] == []


def test_feedparser_alone_expands_declared_entities() -> None:
    """Why parse_feed refuses entity declarations: feedparser alone turns 30 KB into 10 MB.

    Expat stops at its amplification limit (only after 8 MiB), and then feedparser's loose
    parser parses the document again, keeping every entity whose value has no "&", and
    expands it without a limit (80 KB took 16 s and 1.2 GB).
    """
    dtd = f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "{"x" * 10_000}">\n]>\n'
    body = rss20([Item(title="&a;" * 1_000)], decl="", raw=True)
    parsed = feedparser.parse(io.BytesIO((dtd + body).encode()))
    assert "amplification" in str(parsed.bozo_exception)
    assert len(parsed.entries[0].title) == 10_000_000


def test_feedparser_loose_parser_drops_nested_entities() -> None:
    """The loose parser keeps no entity whose value refers to another: billion laughs stay
    unexpanded there, and expat stops them at its limit, but only after ~1 s and 20 MB."""
    document = billion_laughs(one_line=False) + "<"  # declarations on their own lines
    start = time.perf_counter()
    parsed = feedparser.parse(io.BytesIO(document.encode()))
    assert time.perf_counter() - start < 1
    assert parsed.bozo and parsed.entries[0].title == "x &j;"


def test_bytes_naming_a_file_are_not_read(secret_file: Path) -> None:
    """feedparser.parse(bytes) opens the bytes as a path if such a file exists: a feed body of
    b"/etc/passwd" or b"/dev/zero" was read from this machine. parse_feed hands it a BytesIO."""
    Watch.events = []
    parsed = parse_feed(str(secret_file).encode(), FEED, FEED_URL, NOW)
    events, Watch.events = Watch.events, None
    assert events == []
    assert (parsed.outcome, parsed.entries, parsed.title) == ("not_a_feed", [], "")


def test_entries_over_the_limit_are_counted(cases: dict[str, OddFeed]) -> None:
    parsed = run_case(cases["100k-entries-rss20"]).parsed
    assert parsed is not None
    assert len(parsed.entries) == MAX_ENTRIES
    assert parsed.skipped == {"entry:over_limit": 100_000 - MAX_ENTRIES}
    assert parsed.entries[-1].title == f"T{MAX_ENTRIES - 1}"  # the first ones, in order
    parsed = run_case(cases["100k-entries-jsonfeed"]).parsed
    assert parsed is not None
    assert parsed.skipped == {"entry:over_limit": 100_000 - MAX_ENTRIES}


# -- decompression bombs at the egress client ---------------------------------------------
# tests/test_http.py covers a gzip bomb page, Content-Length over the cap and a brotli page.
# trafilatura never decompresses: it inflates *bytes* by their magic number
# (trafilatura.utils.decode_file), but extract_page hands it the str that fetch.client decoded.

LIMITS = FetchLimits(connect_timeout=2.0, read_timeout=2.0, deadline=5.0, max_bytes=64 * 1024)
LOCAL = (ipaddress.ip_network("127.0.0.0/8"),)


@functools.cache
def bomb() -> bytes:
    return b"<rss>" + b" " * 40_000_000  # 40 MB that compress to ~40 KB


COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "raw-deflate": lambda data: zlib.compress(data)[2:-4],  # no zlib header and trailer
    "gzip-gzip": lambda data: gzip.compress(gzip.compress(data)),
    # Refused on the header, before the body is read: any body will do.
    "br": lambda data: BROTLI_HELLO,
    "zstd": lambda data: ZSTD_FRAME,
}


async def _fetch(url: str, page: bool, peak: list[int] | None = None) -> Any:
    """fetch_page or fetch_feed; `peak` gets the most memory the fetch itself allocated."""
    async with HttpClient(LIMITS, LOCAL, respect_robots=False) as http:
        tracemalloc.start()  # after the client is made: its TLS context alone takes ~10 MB
        try:
            return await (http.fetch_page(url) if page else http.fetch_feed(url))
        finally:
            (peak if peak is not None else []).append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()


def serve(server: HTTPServer, path: str, body: bytes, encoding: str) -> str:
    server.expect_request(path).respond_with_data(
        body, content_type="text/html", headers={"Content-Encoding": encoding}
    )
    return server.url_for(path)


@pytest.mark.parametrize("page", [False, True], ids=["feed", "page"])
@pytest.mark.parametrize(
    ("encoding", "compress", "reason"),
    [
        ("gzip", "gzip", "too_large"),
        ("x-gzip", "gzip", "too_large"),
        ("deflate", "deflate", "too_large"),
        ("deflate", "raw-deflate", "bad_encoding"),  # zlib wants its header: refused, not guessed
        ("gzip, gzip", "gzip-gzip", "bad_encoding"),  # only one layer is ever undone
        ("br", "br", "bad_encoding"),
        ("zstd", "zstd", "bad_encoding"),
    ],
    ids=["gzip", "x-gzip", "deflate", "raw-deflate", "gzip-gzip", "br", "zstd"],
)
def test_compressed_bombs_stop_at_the_cap(
    httpserver: HTTPServer, page: bool, encoding: str, compress: str, reason: str
) -> None:
    url = serve(httpserver, "/bomb", COMPRESS[compress](bomb()), encoding)
    peak: list[int] = []
    with pytest.raises(FetchError) as info:
        asyncio.run(_fetch(url, page, peak))
    assert info.value.reason == reason
    # The cap is 64 KB and the bomb inflates to 40 MB. (The test server's thread and pytest's
    # capture add up to ~10 MB of their own to the peak.)
    assert peak[0] < 20 * 2**20


def test_a_body_compressed_twice_is_inflated_once(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One Content-Encoding layer is undone (within the cap); the inner gzip never is, neither
    by feedparser nor by trafilatura."""
    inner = gzip.compress(bomb())  # ~40 KB: within the cap once inflated
    url = serve(httpserver, "/twice", gzip.compress(inner), "gzip")
    response = asyncio.run(_fetch(url, page=False))
    assert response.content == inner
    parsed = parse_feed(response.content, FEED, FEED_URL, NOW)
    assert (parsed.outcome, parsed.reason) == ("unsupported", "feed:compressed")

    inflated: list[int] = []
    real = trafilatura.utils.handle_compressed_file

    def spy(content: bytes, *args: Any) -> bytes:
        inflated.append(len(content))
        return real(content, *args)

    monkeypatch.setattr(trafilatura.utils, "handle_compressed_file", spy)
    page = asyncio.run(_fetch(url, page=True))
    assert isinstance(page.html, str)
    with pytest.raises(ExtractionError):
        extract.extract_page(page.html, url)
    assert inflated == []
    trafilatura.utils.decode_file(gzip.compress(b"<p>bytes</p>"))
    assert len(inflated) == 1  # the spy does see what trafilatura is handed as bytes
