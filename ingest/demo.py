"""The offline demo: a recorded news site built from the shared corpus, and its local server.

The corpus pages are their publishers' content, so the repository holds only the recipe
(`examples/demo/demo.yaml`); `build_site` turns it into a site on disk at run time:

    <out_dir>/site/<host>.localhost/<path>     pages, feeds (one folder per virtual host)
    <out_dir>/feeds.yaml                       the feeds file the pipeline reads

Every link keeps its original path, only the host becomes `<host>.localhost:<port>`:
`*.localhost` is loopback by definition (RFC 6761), so our HTTP client sends it to
127.0.0.1 itself and `DemoServer` picks the site folder from the `Host` header.

    with DemoServer(site_dir, port=0) as server:           # binds 127.0.0.1 only
        site = build_site(shared_dir, out_dir, server.port)
        ...                                                # run the pipeline
        assert server.log.count(status=200) == 0           # e.g. "the re-run fetched nothing"

`serve_demo` does both for the `mediamon demo` command. `python -m ingest.demo` rewrites the
committed `examples/demo/feeds.yaml` (the feeds for a server on port 8765) from the recipe.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import ipaddress
import json
import logging
import os
import re
import shutil
import string
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import format_datetime, formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import TCPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import yaml

from ingest.errors import ConfigError

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_RECIPE",
    "DemoArticle",
    "DemoServer",
    "DemoSite",
    "RequestLog",
    "ServedRequest",
    "build_site",
    "render_feeds_yaml",
    "serve_demo",
]

_log = logging.getLogger(__name__)

DEMO_DIR = Path(__file__).resolve().parent.parent / "examples" / "demo"
DEFAULT_RECIPE = DEMO_DIR / "demo.yaml"
COMMITTED_FEEDS_YAML = DEMO_DIR / "feeds.yaml"
DEFAULT_PORT = 8765
LOCAL_SUFFIX = ".localhost"
SUMMARY_CHARS = 300
SEED_TEMPLATE = "seed-page.html"
EXPECTATIONS = ("ok", "no_text", "not_html", "http_404")
_SITE_MARKER = ".mediamon-demo-site"  # only a folder carrying it is ever deleted by a rebuild
_MISSING_HINT = "set MEDIAMON_SHARED to the shared folder that holds corpus/ and seed/"


# --- what build_site returns ---------------------------------------------------------------


@dataclass(frozen=True)
class DemoArticle:
    """One distinct link of the demo feeds and what the pipeline should make of it."""

    url: str  # as linked in the (first) feed, on the local server
    title: str
    language: str
    publisher: str
    published: datetime
    feeds: tuple[str, ...]  # every feed that lists it
    expect: str  # "ok" (an article with text), "no_text", "not_html" or "http_404"


@dataclass(frozen=True)
class DemoSite:
    """A built demo site: where it is and what a run against it should find."""

    site_dir: Path  # what DemoServer serves
    feeds_yaml: Path  # the feeds file for the pipeline
    port: int
    hosts: list[str]  # every virtual host the links use, e.g. www.derstandard.at.localhost
    feeds: dict[str, str]  # feed name -> feed URL
    articles: tuple[DemoArticle, ...]
    expected_articles: int  # distinct links whose page has article text
    expected_failures: dict[str, int] = field(default_factory=dict)  # expect -> count


# --- the recipe ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _FeedSpec:
    name: str
    format: str  # "rss" or "atom"
    url: str  # as the original would look; made local by `local_url`
    title: str
    language: str | None
    source: str | None
    tags: tuple[str, ...]
    items: tuple[tuple[str, str | None], ...]  # (page key, query that replaces the link's)


@dataclass(frozen=True)
class _Page:
    key: str  # corpus `file`, or a key of the recipe's `pages`
    url: str
    publisher: str
    lang: str
    title: str
    summary: str
    published: datetime
    expect: str
    content: bytes | None  # None: nothing is served there (a 404)


def render_feeds_yaml(recipe: Path = DEFAULT_RECIPE, port: int = DEFAULT_PORT) -> str:
    """The feeds file for a demo server on `port` (needs only the recipe, not the corpus)."""
    feeds = _parse_feeds(_read_recipe(recipe), recipe)
    entries = [_feed_config(feed, port) for feed in feeds]
    header = (
        f"# Generated from {recipe.name} by `python -m ingest.demo` for a demo server on port "
        f"{port}.\n# Edit {recipe.name}, not this file.\n"
    )
    return header + yaml.safe_dump(
        {"feeds": entries}, sort_keys=False, allow_unicode=True, width=120
    )


def _feed_config(feed: _FeedSpec, port: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": feed.name, "url": local_url(feed.url, port)}
    if feed.language:
        entry["language"] = feed.language
    if feed.source:
        entry["source"] = feed.source
    if feed.tags:
        entry["tags"] = list(feed.tags)
    return entry


def _read_recipe(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the demo recipe ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("feeds"), list):
        raise ConfigError(f"{path}: expected a mapping with a list under 'feeds'")
    return data


def _parse_feeds(data: Mapping[str, Any], recipe: Path) -> list[_FeedSpec]:
    feeds: list[_FeedSpec] = []
    for position, item in enumerate(data["feeds"], start=1):
        feed = _parse_feed(item, f"{recipe}: feed #{position}")
        if any(f.name == feed.name for f in feeds):
            raise ConfigError(f"{recipe}: feed {feed.name!r} is listed twice")
        feeds.append(feed)
    return feeds


def _parse_feed(item: Any, label: str) -> _FeedSpec:
    if not isinstance(item, dict):
        raise ConfigError(f"{label}: expected a mapping")
    name, fmt, url = item.get("name"), item.get("format"), item.get("url")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{label}: missing 'name'")
    label = f"{label} ({name})"
    if fmt not in ("rss", "atom"):
        raise ConfigError(f"{label}: format must be rss or atom, got {fmt!r}")
    # The server picks a file's Content-Type by its suffix, so the URL must carry it.
    if not isinstance(url, str) or not urlsplit(url).path.endswith(f".{fmt}"):
        raise ConfigError(f"{label}: url must be an http(s) URL ending in .{fmt}")
    items = item.get("items")
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{label}: 'items' must be a non-empty list")
    return _FeedSpec(
        name=name,
        format=fmt,
        url=url,
        title=str(item.get("title") or name),
        language=item.get("language"),
        source=item.get("source"),
        tags=tuple(item.get("tags") or ()),
        items=tuple(_parse_item(entry, label) for entry in items),
    )


def _parse_item(entry: Any, label: str) -> tuple[str, str | None]:
    if isinstance(entry, str):
        return entry, None
    if isinstance(entry, dict) and isinstance(entry.get("page"), str):
        query = entry.get("query")
        return entry["page"], None if query is None else str(query)
    raise ConfigError(f"{label}: an item is a page name or {{page: ..., query: ...}}: {entry!r}")


def _load_pages(
    data: Mapping[str, Any], feeds: list[_FeedSpec], shared_dir: Path, recipe: Path
) -> dict[str, _Page]:
    """Every page some feed lists, with its content, keyed as the feeds refer to it."""
    corpus = _corpus_index(shared_dir)
    own = data.get("pages") or {}
    publishers = data.get("publishers") or {}
    pages: dict[str, _Page] = {}
    for feed in feeds:
        for key, _query in feed.items:
            if key in pages:
                continue
            if key in own:
                label = f"{recipe}: page {key!r}"
                pages[key] = _own_page(key, own[key], shared_dir, recipe.parent, label)
            elif key in corpus:
                pages[key] = _corpus_page(corpus[key], shared_dir, publishers)
            else:
                raise ConfigError(
                    f"{recipe}: feed {feed.name!r} lists {key!r}, which is neither a key of "
                    f"'pages' nor a `file` in {shared_dir / 'corpus' / 'pages.jsonl'}"
                )
    return pages


def _corpus_index(shared_dir: Path) -> dict[str, dict[str, Any]]:
    path = shared_dir / "corpus" / "pages.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        raise ConfigError(f"demo corpus not found: cannot read {path}; {_MISSING_HINT}") from None
    records = [json.loads(line) for line in lines if line.strip()]
    return {record["file"]: record for record in records}


def _corpus_page(
    record: Mapping[str, Any], shared_dir: Path, publishers: Mapping[str, str]
) -> _Page:
    path = shared_dir / "corpus" / record["file"]
    try:
        content = gzip.decompress(path.read_bytes())
    except OSError:
        raise ConfigError(f"demo corpus page missing: {path}; {_MISSING_HINT}") from None
    content.decode("utf-8")  # the server declares charset=utf-8: fail here, not in a client
    publisher = record["publisher"]
    return _Page(
        key=record["file"],
        url=record["url"],
        publisher=publishers.get(publisher, publisher),
        lang=record["lang"],
        title=record["title"],
        summary=summary_of(record["body"]),
        published=parse_time(record["published"]),
        expect="ok",
        content=content,
    )


_OWN_PAGE_KEYS = frozenset(
    [
        "seed",
        "file",
        "status",
        "url",
        "publisher",
        "lang",
        "title",
        "summary",
        "published",
        "expect",
    ]
)


def _own_page(key: str, spec: Any, shared_dir: Path, demo_dir: Path, label: str) -> _Page:
    """A page of ours: the seed wrapped in a news page, a committed file, or a 404."""
    if not isinstance(spec, dict) or set(spec) - _OWN_PAGE_KEYS:
        raise ConfigError(f"{label}: expected a mapping with keys among {sorted(_OWN_PAGE_KEYS)}")
    kinds = [kind for kind in ("seed", "file", "status") if kind in spec]
    if len(kinds) != 1:
        raise ConfigError(f"{label}: needs exactly one of seed, file or status")
    for required in ("url", "publisher", "lang", "title", "published"):
        if not spec.get(required):
            raise ConfigError(f"{label}: missing {required!r}")
    expect = spec.get("expect", "ok")
    if expect not in EXPECTATIONS:
        raise ConfigError(f"{label}: expect must be one of {EXPECTATIONS}, got {expect!r}")
    published = parse_time(spec["published"])
    summary = str(spec.get("summary", ""))
    content: bytes | None = None
    if "seed" in spec:
        paragraphs = read_seed(shared_dir / "seed" / spec["seed"], published, label)
        content = _seed_page(spec, published, paragraphs, demo_dir / SEED_TEMPLATE)
        summary = summary or summary_of(" ".join(paragraphs))
    elif "file" in spec:
        try:
            content = (demo_dir / spec["file"]).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{label}: cannot read {demo_dir / spec['file']}: {exc}") from None
    elif spec["status"] != 404:
        raise ConfigError(f"{label}: the only status a page can have is 404")
    return _Page(
        key=key,
        url=spec["url"],
        publisher=spec["publisher"],
        lang=spec["lang"],
        title=spec["title"],
        summary=summary,
        published=published,
        expect=expect,
        content=content,
    )


_SEED_DATE = re.compile(r"^\s*date\s+(\d{4})-(\d{2})\b\s*")


def read_seed(path: Path, published: datetime, label: str = "seed") -> list[str]:
    """The paragraphs of a seed text, checking its `date YYYY-MM` marker against `published`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise ConfigError(f"{label}: seed text not found at {path}; {_MISSING_HINT}") from None
    marker = _SEED_DATE.match(text)
    if marker:
        year, month = int(marker[1]), int(marker[2])
        if (published.year, published.month) != (year, month):
            raise ConfigError(
                f"{label}: published {published:%Y-%m-%d} is not in the month its text is "
                f"marked with ({year}-{month:02d})"
            )
        text = text[marker.end() :]
    paragraphs = [" ".join(block.split()) for block in re.split(r"\n\s*\n", text)]
    return [p for p in paragraphs if p]


def _seed_page(
    spec: Mapping[str, Any], published: datetime, paragraphs: list[str], template: Path
) -> bytes:
    """The seed text as a Dutch news article page (template: examples/demo/seed-page.html)."""
    try:
        page = string.Template(template.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the seed page template {template}: {exc}") from None
    esc = html.escape
    return page.substitute(
        title=esc(spec["title"]),
        site_name=esc(spec["publisher"]),
        description=esc(summary_of(" ".join(paragraphs), 160)),
        canonical_url=esc(spec["url"]),
        published=published.isoformat(),
        published_display=f"{published:%d-%m-%Y, %H:%M}",
        paragraphs="\n".join(f"      <p>{esc(p)}</p>" for p in paragraphs),
    ).encode("utf-8")


def summary_of(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The first ~`limit` characters of a text, cut at a word where the language has words."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:  # Japanese and Korean (mostly) lack spaces: cut those anywhere
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def parse_time(value: str | datetime) -> datetime:
    """An ISO time from the corpus or the recipe, whole seconds, with a time zone."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:  # one corpus date has no zone; UTC is as good a guess as any
        moment = moment.replace(tzinfo=UTC)
    return moment.replace(microsecond=0)


def local_url(url: str, port: int, query: str | None = None) -> str:
    """`https://www.orf.at/x?y` -> `http://www.orf.at.localhost:PORT/x?y` (query replaceable)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"demo recipe: {url!r} is not an http(s) URL")
    netloc = f"{parts.hostname}{LOCAL_SUFFIX}:{port}"
    return urlunsplit(
        ("http", netloc, parts.path or "/", parts.query if query is None else query, "")
    )


def _local_host(url: str) -> str:
    return f"{urlsplit(url).hostname}{LOCAL_SUFFIX}"


# --- building the site ---------------------------------------------------------------------


def build_site(
    shared_dir: Path, out_dir: Path, port: int, recipe: Path = DEFAULT_RECIPE
) -> DemoSite:
    """Build the demo site for a server on `port` from the recipe and the shared corpus.

    Raises `ConfigError` naming the path when the shared corpus or seed is missing.
    Rebuilding gives byte-identical files with the same modification times (a page's is its
    publication time), so ETag and Last-Modified survive a rebuild and re-runs fetch nothing.
    """
    data = _read_recipe(recipe)
    feeds = _parse_feeds(data, recipe)
    pages = _load_pages(data, feeds, Path(shared_dir), recipe)
    site_dir = _fresh_site_dir(Path(out_dir) / "site")
    hosts = sorted(
        {_local_host(f.url) for f in feeds} | {_local_host(p.url) for p in pages.values()}
    )
    for host in hosts:  # every host exists, so even a host with only a 404 serves robots.txt
        (site_dir / host).mkdir(exist_ok=True)
    for page in pages.values():
        if page.content is not None:
            _write(site_dir, page.url, page.content, page.published)
    for feed in feeds:
        items = [(pages[key], query) for key, query in feed.items]
        newest = max(page.published for page, _ in items)
        _write(site_dir, feed.url, _feed_document(feed, items, port), newest)
    feeds_yaml = Path(out_dir) / "feeds.yaml"
    feeds_yaml.write_text(render_feeds_yaml(recipe, port), encoding="utf-8")
    articles = _articles(feeds, pages, port)
    return DemoSite(
        site_dir=site_dir,
        feeds_yaml=feeds_yaml,
        port=port,
        hosts=hosts,
        feeds={feed.name: local_url(feed.url, port) for feed in feeds},
        articles=articles,
        expected_articles=sum(1 for a in articles if a.expect == "ok"),
        expected_failures=dict(Counter(a.expect for a in articles if a.expect != "ok")),
    )


def _fresh_site_dir(site_dir: Path) -> Path:
    """An empty site folder; an old one is removed only if a previous build made it."""
    if site_dir.exists():
        if not (site_dir / _SITE_MARKER).exists():
            raise ConfigError(f"{site_dir} exists but was not built by mediamon; not replacing it")
        shutil.rmtree(site_dir)  # a stale page of an older recipe must not linger
    site_dir.mkdir(parents=True)
    (site_dir / _SITE_MARKER).write_text("built by ingest.demo.build_site\n", encoding="utf-8")
    return site_dir


def _write(site_dir: Path, url: str, content: bytes, modified: datetime) -> None:
    parts = urlsplit(url)
    path = site_file(site_dir, _local_host(url), parts.path)
    if path is None:
        raise ConfigError(f"demo recipe: {url!r} has a path the demo server cannot serve")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    os.utime(path, (modified.timestamp(), modified.timestamp()))


def _articles(
    feeds: list[_FeedSpec], pages: dict[str, _Page], port: int
) -> tuple[DemoArticle, ...]:
    links: dict[str, str] = {}
    listed_in: dict[str, list[str]] = {}
    for feed in feeds:
        for key, query in feed.items:
            links.setdefault(key, local_url(pages[key].url, port, query))
            listed_in.setdefault(key, []).append(feed.name)
    return tuple(
        DemoArticle(
            url=links[key],
            title=page.title,
            language=page.lang,
            publisher=page.publisher,
            published=page.published,
            feeds=tuple(listed_in[key]),
            expect=page.expect,
        )
        for key, page in pages.items()
    )


# --- feed documents ------------------------------------------------------------------------

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ATOM_NS = "http://www.w3.org/2005/Atom"


def _feed_document(feed: _FeedSpec, items: list[tuple[_Page, str | None]], port: int) -> bytes:
    """RSS 2.0 or Atom for a feed, newest item first, as publishers order them."""
    ordered = sorted(items, key=lambda item: item[0].published, reverse=True)
    root = _rss(feed, ordered, port) if feed.format == "rss" else _atom(feed, ordered, port)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    element.text = text
    return element


def _home(url: str, port: int) -> str:
    return local_url(urlunsplit(("https", urlsplit(url).netloc, "/", "", "")), port)


def _site_link(feed: _FeedSpec, items: list[tuple[_Page, str | None]], port: int) -> str:
    """The publisher's home page when the feed is one site's, else the feed host's."""
    hosts = {urlsplit(page.url).netloc for page, _ in items}
    return _home(items[0][0].url if len(hosts) == 1 else feed.url, port)


def _rss(feed: _FeedSpec, items: list[tuple[_Page, str | None]], port: int) -> ET.Element:
    rss = ET.Element("rss", version="2.0")
    channel = _sub(rss, "channel")
    _sub(channel, "title", feed.title)
    _sub(channel, "link", _site_link(feed, items, port))
    _sub(channel, "description", f"{feed.title} (mediamon demo feed)")
    if feed.language:
        _sub(channel, "language", feed.language)
    _sub(channel, "lastBuildDate", format_datetime(items[0][0].published))
    for page, query in items:
        item = _sub(channel, "item")
        _sub(item, "title", page.title)
        _sub(item, "link", local_url(page.url, port, query))
        # The original URL as guid: stable whatever port the demo runs on.
        _sub(item, "guid", page.url, isPermaLink="false")
        _sub(item, "pubDate", format_datetime(page.published))
        _sub(item, "description", page.summary)
        if not feed.source:  # a multi-publisher feed names each item's publisher
            _sub(item, "source", page.publisher, url=_home(page.url, port))
    return rss


def _atom(feed: _FeedSpec, items: list[tuple[_Page, str | None]], port: int) -> ET.Element:
    root = ET.Element("feed", xmlns=ATOM_NS)
    if feed.language:
        root.set(_XML_LANG, feed.language)
    _sub(root, "title", feed.title)
    _sub(root, "id", feed.url)
    _sub(root, "updated", items[0][0].published.isoformat())
    _sub(root, "link", rel="self", href=local_url(feed.url, port))
    _sub(root, "link", rel="alternate", href=_site_link(feed, items, port))
    _sub(_sub(root, "author"), "name", feed.source or feed.title)
    for page, query in items:
        entry = _sub(root, "entry")
        _sub(entry, "title", page.title)
        _sub(
            entry, "link", rel="alternate", type="text/html", href=local_url(page.url, port, query)
        )
        _sub(entry, "id", page.url)
        _sub(entry, "published", page.published.isoformat())
        _sub(entry, "updated", page.published.isoformat())
        _sub(entry, "summary", page.summary)
        if not feed.source:
            source = _sub(entry, "source")
            _sub(source, "id", _home(page.url, port))
            _sub(source, "title", page.publisher)
    return root


# --- serving -------------------------------------------------------------------------------

_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
_HTML = "text/html; charset=utf-8"
# News URLs seldom end in an extension (and CBC's `…-1.7287711` ends in a false one), so
# anything not listed here is a page.
_CONTENT_TYPES = {
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".pdf": "application/pdf",
}
_FEED_TYPES = {_CONTENT_TYPES[".rss"], _CONTENT_TYPES[".atom"], _CONTENT_TYPES[".xml"]}
_ROBOTS_ALLOW_ALL = b"User-agent: *\nAllow: /\n"
_ROBOTS_MODIFIED = datetime(2021, 1, 1, tzinfo=UTC).timestamp()  # fixed: stable validators
_NOT_FOUND = b"<!DOCTYPE html><title>404 Not Found</title><h1>Not Found</h1>\n"


def site_file(site_dir: Path, host: str, path: str) -> Path | None:
    """Where `path` on virtual `host` lives under `site_dir`; None if it could escape it.

    Used by the build and by the server alike, so a page is written exactly where it is
    looked for. A path ending in `/` is that folder's index.html.
    """
    if not _HOST.fullmatch(host):
        return None
    names = [name for name in unquote(path).split("/") if name]
    # Hidden names cover `..` and `.` (no escaping site_dir) and the build's own marker.
    if any(name.startswith(".") or "\x00" in name or "\\" in name for name in names):
        return None
    file = site_dir.joinpath(host, *names)
    return file / "index.html" if not names or path.endswith("/") else file


@dataclass(frozen=True)
class ServedRequest:
    """One request the demo server answered."""

    method: str
    host: str
    path: str  # without the query string
    status: int
    content_type: str | None  # of the resource (also on a 304); None on a 404


class RequestLog:
    """Every request served, thread-safe; tests and benchmarks count what a run fetched."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[ServedRequest] = []

    def add(self, request: ServedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def requests(self) -> list[ServedRequest]:
        with self._lock:
            return list(self._requests)

    def count(
        self,
        *,
        host: str | None = None,
        path: str | None = None,
        status: int | None = None,
        content_type: str | None = None,
        method: str | None = None,
    ) -> int:
        """Requests matching every given filter; `content_type` matches by prefix."""
        return sum(
            1
            for r in self.requests()
            if (host is None or r.host == host)
            and (path is None or r.path == path)
            and (status is None or r.status == status)
            and (method is None or r.method == method)
            and (content_type is None or (r.content_type or "").startswith(content_type))
        )

    def page_requests(self) -> int:
        """Requests for anything but feeds and robots.txt, whatever the answer (304, 404 too)."""
        return sum(
            1
            for r in self.requests()
            if r.path != "/robots.txt" and (r.content_type or "") not in _FEED_TYPES
        )

    def hits(self) -> Counter[str]:
        """Request count per `host/path`."""
        return Counter(f"{r.host}{r.path}" for r in self.requests())

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()


@dataclass(frozen=True)
class _Resource:
    data: bytes
    content_type: str
    modified: float  # POSIX time, whole seconds are what Last-Modified can say

    @property
    def etag(self) -> str:
        # From the content, not the file's mtime or inode: a rebuild keeps it.
        return '"' + hashlib.blake2b(self.data, digest_size=12).hexdigest() + '"'

    @property
    def last_modified(self) -> str:
        return formatdate(int(self.modified), usegmt=True)


def _find(site_dir: Path, host: str, path: str) -> _Resource | None:
    file = site_file(site_dir, host, path)
    if file is not None and file.is_file():
        content_type = _CONTENT_TYPES.get(file.suffix.lower(), _HTML)
        return _Resource(file.read_bytes(), content_type, file.stat().st_mtime)
    if path == "/robots.txt" and (site_dir / host).is_dir() and _HOST.fullmatch(host):
        return _Resource(_ROBOTS_ALLOW_ALL, _CONTENT_TYPES[".txt"], _ROBOTS_MODIFIED)
    return None


def _not_modified(headers: Message, resource: _Resource) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or resource.etag in tags
    if_modified_since = headers.get("If-Modified-Since")
    if not if_modified_since:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False  # an unparsable date is ignored, as the RFC says
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return int(resource.modified) <= since.timestamp()


def _request_host(header: str) -> str:
    host = header.strip().lower()
    name, _, port = host.rpartition(":")
    return name if name and port.isdigit() else host


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True
    # Don't wait for handler threads on close: a client's idle keep-alive connection
    # would otherwise hold `stop()` until its socket times out.
    block_on_close = False

    def __init__(self, address: tuple[str, int], site_dir: Path, log: RequestLog) -> None:
        self.site_dir = site_dir
        self.log = log
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), slow on some offline
        # machines and useless here.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-response is routine in tests; keep stderr quiet.
        _log.debug("demo server: error answering %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _SiteServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real sites; every answer has a length
    server_version = "mediamon-demo/0.1"
    sys_version = ""
    timeout = 30  # an idle keep-alive connection frees its thread after this

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is in `RequestLog`, not on stderr."""

    def _answer(self, send_body: bool) -> None:
        host = _request_host(self.headers.get("Host", ""))
        path = urlsplit(self.path).path or "/"
        resource = _find(self.server.site_dir, host, path)
        if resource is None:
            self._record(host, path, 404, None)
            self._send(404, {"Content-Type": _HTML}, _NOT_FOUND, send_body)
            return
        validators = {"ETag": resource.etag, "Last-Modified": resource.last_modified}
        if _not_modified(self.headers, resource):
            self._record(host, path, 304, resource.content_type)
            self._send(304, validators, b"", send_body=False)
        else:
            self._record(host, path, 200, resource.content_type)
            headers = {"Content-Type": resource.content_type, **validators}
            self._send(200, headers, resource.data, send_body)

    def _record(self, host: str, path: str, status: int, content_type: str | None) -> None:
        # Before answering: once a client has its response, the log already holds it.
        self.server.log.add(ServedRequest(self.command, host, path, status, content_type))

    def _send(self, status: int, headers: dict[str, str], body: bytes, send_body: bool) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:  # a 304 has no body, and its length would describe the 200's
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)


class DemoServer:
    """The demo site on 127.0.0.1, one virtual host per folder of `site_dir`.

    Binds at construction (so `.port` is known before `start()` when `port=0`), serves from
    a background thread after `start()`, and is a context manager (`with` starts and stops).
    Answers GET and HEAD with ETag and Last-Modified, 304 to a matching conditional GET,
    an allow-all `/robots.txt` on every host without one, and 404 to anything unknown.
    """

    def __init__(self, site_dir: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        _require_loopback(host)
        self.log = RequestLog()
        try:
            self._httpd = _SiteServer((host, port), Path(site_dir), self.log)
        except OSError as exc:
            raise ConfigError(
                f"demo server cannot listen on {host}:{port} ({exc.strerror}); "
                "is another demo running? choose another port"
            ) from None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def site_dir(self) -> Path:
        return self._httpd.site_dir

    def page_requests(self) -> int:
        """How many requests asked for a page (not a feed, not robots.txt) since the last clear."""
        return self.log.page_requests()

    def start(self) -> DemoServer:
        """Serve from a daemon thread (a no-op if already serving)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, name=f"demo-server-{self.port}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (for a foreground command)."""
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _require_loopback(host: str) -> None:
    # The corpus is publishers' content we may use but not republish: never serve it beyond
    # this machine.
    try:
        loopback = ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(f"the demo server binds to a 127.x.x.x address only, not {host!r}")


def serve_demo(
    shared_dir: Path, out_dir: Path, port: int = DEFAULT_PORT, recipe: Path = DEFAULT_RECIPE
) -> tuple[DemoServer, DemoSite]:
    """Build the demo site under `out_dir` and serve it on 127.0.0.1:`port` (0: any free).

    The server is already serving from a background thread; the caller stops it.
    """
    server = DemoServer(Path(out_dir) / "site", port=port)
    try:
        site = build_site(shared_dir, out_dir, server.port, recipe)
    except BaseException:
        server.stop()
        raise
    return server.start(), site


def _write_committed_feeds_yaml() -> None:
    """Rewrite the committed examples/demo/feeds.yaml from the recipe."""
    text = render_feeds_yaml(DEFAULT_RECIPE, DEFAULT_PORT)
    COMMITTED_FEEDS_YAML.write_text(text, encoding="utf-8")
    print(f"wrote {COMMITTED_FEEDS_YAML}")


if __name__ == "__main__":
    _write_committed_feeds_yaml()
