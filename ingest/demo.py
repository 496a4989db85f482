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
import html
import json
import logging
import os
import re
import shutil
import string
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from ingest.demo_server import DemoServer, RequestLog, ServedRequest, site_file
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


def sub_element(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    """A child element `tag` of `parent` with `text` and attributes (feeds are built so)."""
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
    channel = sub_element(rss, "channel")
    sub_element(channel, "title", feed.title)
    sub_element(channel, "link", _site_link(feed, items, port))
    sub_element(channel, "description", f"{feed.title} (mediamon demo feed)")
    if feed.language:
        sub_element(channel, "language", feed.language)
    sub_element(channel, "lastBuildDate", format_datetime(items[0][0].published))
    for page, query in items:
        item = sub_element(channel, "item")
        sub_element(item, "title", page.title)
        sub_element(item, "link", local_url(page.url, port, query))
        # The original URL as guid: stable whatever port the demo runs on.
        sub_element(item, "guid", page.url, isPermaLink="false")
        sub_element(item, "pubDate", format_datetime(page.published))
        sub_element(item, "description", page.summary)
        if not feed.source:  # a multi-publisher feed names each item's publisher
            sub_element(item, "source", page.publisher, url=_home(page.url, port))
    return rss


def _atom(feed: _FeedSpec, items: list[tuple[_Page, str | None]], port: int) -> ET.Element:
    root = ET.Element("feed", xmlns=ATOM_NS)
    if feed.language:
        root.set(_XML_LANG, feed.language)
    sub_element(root, "title", feed.title)
    sub_element(root, "id", feed.url)
    sub_element(root, "updated", items[0][0].published.isoformat())
    sub_element(root, "link", rel="self", href=local_url(feed.url, port))
    sub_element(root, "link", rel="alternate", href=_site_link(feed, items, port))
    sub_element(sub_element(root, "author"), "name", feed.source or feed.title)
    for page, query in items:
        entry = sub_element(root, "entry")
        sub_element(entry, "title", page.title)
        sub_element(
            entry, "link", rel="alternate", type="text/html", href=local_url(page.url, port, query)
        )
        sub_element(entry, "id", page.url)
        sub_element(entry, "published", page.published.isoformat())
        sub_element(entry, "updated", page.published.isoformat())
        sub_element(entry, "summary", page.summary)
        if not feed.source:
            source = sub_element(entry, "source")
            sub_element(source, "id", _home(page.url, port))
            sub_element(source, "title", page.publisher)
    return root


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
