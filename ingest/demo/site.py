"""The offline demo: the project's own news sites, built from its corpus, and their server.

The corpus (`examples/demo/corpus/`, read by `ingest.demo.corpus`) was written for mediamon
and ships with it; `build_site` renders it into a site on disk, for one of the demo's two
passes (the second adds the articles published later and shows the edited article's new
version):

    <out_dir>/site/<host>.localhost/<path>     pages, feeds (one folder per virtual host)
    <out_dir>/feeds.yaml                       the feeds file the pipeline reads

Every outlet lives on a fictional `.example` host (RFC 2606), served as
`<host>.localhost:<port>`: `*.localhost` is loopback by definition (RFC 6761), so our HTTP
client sends it to 127.0.0.1 itself and `DemoServer` picks the site folder from the `Host`
header.

    with DemoServer(site_dir, port=0) as server:           # binds 127.0.0.1 only
        site = build_site(out_dir, server.port)             # pass 1
        ...                                                 # run the pipeline
        build_site(out_dir, server.port, pass_number=2)     # the same sites, later

`serve_demo` does both for the `mediamon demo` command. `python -m ingest.demo.site` rewrites the
committed `examples/demo/feeds.yaml` (the feeds for a server on port 8765).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import yaml

from ingest.config import REPOSITORY
from ingest.demo.corpus import CORPUS_DIR, Article, Corpus, Outlet, Version, load_corpus
from ingest.demo.pages import page_path, render_page
from ingest.demo.server import DemoServer, RequestLog, ServedRequest, site_file
from ingest.errors import ConfigError

__all__ = [
    "DEFAULT_PORT",
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

DEMO_DIR = REPOSITORY / "examples" / "demo"
COMMITTED_FEEDS_YAML = DEMO_DIR / "feeds.yaml"
DEFAULT_PORT = 8765
LOCAL_SUFFIX = ".localhost"
SUMMARY_CHARS = 300
SEED_FILE = "border-crisis-nl-2021-11.txt"
_SITE_MARKER = ".mediamon-demo-site"  # only a folder carrying it is ever deleted by a rebuild


# --- what build_site returns ---------------------------------------------------------------


@dataclass(frozen=True)
class DemoArticle:
    """One link of the demo feeds and what the pipeline should make of it."""

    id: str  # the corpus id (the last part of its path)
    url: str  # as linked in its feed, on the local server
    title: str  # in the pass the site was built for
    language: str
    publisher: str
    published: datetime
    feeds: tuple[str, ...]  # every feed that lists it
    expect: str  # "ok" (an article with text), "no_text" or "http_404"
    edited: bool = False  # its page changes between the demo's passes
    wire: str | None = None  # the agency wire it reprints


@dataclass(frozen=True)
class DemoSite:
    """A built demo site: where it is and what a run against it should find."""

    site_dir: Path  # what DemoServer serves
    feeds_yaml: Path  # the feeds file for the pipeline
    port: int
    pass_number: int
    hosts: list[str]  # every virtual host, e.g. www.dagnieuws.example.localhost
    feeds: dict[str, str]  # feed name -> feed URL
    articles: tuple[DemoArticle, ...]  # the links listed in this pass
    expected_articles: int  # links whose page has article text
    expected_failures: dict[str, int] = field(default_factory=dict)  # expect -> count
    malformed_feeds: tuple[str, ...] = ()


def render_feeds_yaml(port: int = DEFAULT_PORT, corpus_dir: Path = CORPUS_DIR) -> str:
    """The feeds file for a demo server on `port`: one feed per outlet."""
    corpus = load_corpus(corpus_dir)
    entries = [_feed_config(outlet, port) for outlet in corpus.outlets]
    header = (
        "# Generated from examples/demo/corpus/outlets.yaml by `python -m ingest.demo.site` for a "
        f"demo server on port {port}.\n# Edit the corpus, not this file.\n"
    )
    return header + yaml.safe_dump(
        {"feeds": entries}, sort_keys=False, allow_unicode=True, width=120
    )


def _feed_config(outlet: Outlet, port: int) -> dict[str, Any]:
    return {
        "name": outlet.id,
        "url": local_url(outlet.feed_url, port),
        "language": outlet.language,
        "source": outlet.name,
        "tags": ["demo", outlet.language],
    }


_SEED_DATE = re.compile(r"^\s*date\s+(\d{4})-(\d{2})\b\s*")


def read_seed(path: Path, published: datetime, label: str = "seed") -> list[str]:
    """The paragraphs of a seed text, checking its `date YYYY-MM` marker against `published`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise ConfigError(f"{label}: seed text not found at {path}") from None
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


SEED_PUBLISHED = datetime.fromisoformat("2021-11-16T14:32:00+01:00")
SEED_TITLE = "Rusland geeft het Westen de schuld van crisis aan Pools-Wit-Russische grens"


def with_seed(corpus: Corpus, seed_dir: Path | None) -> Corpus:
    """The corpus plus the shared seed article (publisher text, never committed) when
    `seed_dir` holds it: Het Dagnieuws carries it on 16 November. Without it, unchanged."""
    if seed_dir is None or not (seed_dir / SEED_FILE).is_file():
        return corpus
    paragraphs = tuple(read_seed(seed_dir / SEED_FILE, SEED_PUBLISHED))
    outlet = next(o for o in corpus.outlets if o.language == "nl")
    seed = Article(
        id="rusland-geeft-westen-schuld-van-crisis",
        outlet=outlet,
        published=SEED_PUBLISHED,
        section="Buitenland",
        author="Redactie buitenland",
        kind="article",
        summary=None,
        charset="utf-8",
        first_pass=1,
        versions=(Version(SEED_TITLE, paragraphs, SEED_PUBLISHED),),
    )
    return replace(corpus, articles=(*corpus.articles, seed))


def summary_of(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The first ~`limit` characters of a text, cut at a word."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def parse_time(value: str | datetime) -> datetime:
    """An ISO time, whole seconds, with a time zone (UTC when it has none)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.replace(microsecond=0)


def local_url(url: str, port: int) -> str:
    """`https://www.dagnieuws.example/x` -> `http://www.dagnieuws.example.localhost:PORT/x`."""
    scheme, rest = url.split("://", 1)
    host, _, path = rest.partition("/")
    if scheme not in ("http", "https") or not host:
        raise ConfigError(f"demo corpus: {url!r} is not an http(s) URL")
    return f"http://{host}{LOCAL_SUFFIX}:{port}/{path}"


def _base_url(outlet: Outlet, port: int) -> str:
    return f"http://{outlet.host}{LOCAL_SUFFIX}:{port}"


# --- building the site ---------------------------------------------------------------------


def build_site(
    out_dir: Path,
    port: int,
    pass_number: int = 1,
    corpus_dir: Path = CORPUS_DIR,
    seed_dir: Path | None = None,
) -> DemoSite:
    """Build the demo site, as it is in pass `pass_number` (1 or 2), for a server on `port`.

    Raises `ConfigError` naming the file and article when the corpus has a problem.
    Rebuilding gives byte-identical files with the same modification times (a page's is the
    time of the version it shows), so ETag and Last-Modified survive a rebuild and only what
    changed between the passes is fetched again.
    """
    if pass_number not in (1, 2):
        raise ConfigError(f"the demo has passes 1 and 2, not {pass_number}")
    corpus = with_seed(load_corpus(corpus_dir), seed_dir)
    site_dir = _fresh_site_dir(Path(out_dir) / "site")
    listed = [a for a in corpus.articles if a.in_pass(pass_number)]
    for outlet in corpus.outlets:  # every host exists, so each serves its robots.txt
        (site_dir / f"{outlet.host}{LOCAL_SUFFIX}").mkdir(exist_ok=True)
    for article in listed:
        if article.kind != "gone":
            content = render_page(article, corpus, pass_number, _base_url(article.outlet, port))
            _write(
                site_dir,
                article.outlet,
                page_path(article),
                content,
                article.version(pass_number).at,
            )
    for outlet in corpus.outlets:
        items = [a for a in listed if a.outlet is outlet]
        if items:
            document = _feed_document(outlet, items, pass_number, port)
            newest = max(a.version(pass_number).at for a in items)
            _write(site_dir, outlet, outlet.feed_path, document, newest)
    feeds_yaml = Path(out_dir) / "feeds.yaml"
    feeds_yaml.write_text(render_feeds_yaml(port, corpus_dir), encoding="utf-8")
    articles = tuple(_demo_article(a, pass_number, port) for a in listed)
    return DemoSite(
        site_dir=site_dir,
        feeds_yaml=feeds_yaml,
        port=port,
        pass_number=pass_number,
        hosts=sorted(f"{o.host}{LOCAL_SUFFIX}" for o in corpus.outlets),
        feeds={o.id: local_url(o.feed_url, port) for o in corpus.outlets},
        articles=articles,
        expected_articles=sum(1 for a in articles if a.expect == "ok"),
        expected_failures=dict(Counter(a.expect for a in articles if a.expect != "ok")),
        malformed_feeds=tuple(o.id for o in corpus.outlets if o.feed_malformed),
    )


def _demo_article(article: Article, pass_number: int, port: int) -> DemoArticle:
    return DemoArticle(
        id=article.id,
        url=_base_url(article.outlet, port) + page_path(article),
        title=article.version(pass_number).title,
        language=article.outlet.language,
        publisher=article.outlet.name,
        published=article.published,
        feeds=(article.outlet.id,),
        expect=article.expect,
        edited=article.edited,
        wire=article.wire,
    )


def _fresh_site_dir(site_dir: Path) -> Path:
    """An empty site folder; an old one is removed only if a previous build made it."""
    if site_dir.exists():
        if not (site_dir / _SITE_MARKER).exists():
            raise ConfigError(f"{site_dir} exists but was not built by mediamon; not replacing it")
        shutil.rmtree(site_dir)  # a page of the other pass must not linger
    site_dir.mkdir(parents=True)
    (site_dir / _SITE_MARKER).write_text("built by ingest.demo.site.build_site\n", encoding="utf-8")
    return site_dir


def _write(site_dir: Path, outlet: Outlet, path: str, content: bytes, modified: datetime) -> None:
    file = site_file(site_dir, f"{outlet.host}{LOCAL_SUFFIX}", path)
    if file is None:
        raise ConfigError(
            f"demo corpus: {outlet.host}{path} is a path the demo server cannot serve"
        )
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(content)
    os.utime(file, (modified.timestamp(), modified.timestamp()))


# --- feed documents ------------------------------------------------------------------------

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ATOM_NS = "http://www.w3.org/2005/Atom"
# Where a malformed feed breaks: a raw `&`, as hand-edited publisher templates produce. An
# XML parser stops there; feedparser reads on (bozo) and the pipeline counts feed:malformed.
_MALFORMED_AT = "</title>"


def _feed_document(outlet: Outlet, items: list[Article], pass_number: int, port: int) -> bytes:
    """RSS 2.0 or Atom for one outlet, newest item first, as publishers order them."""
    ordered = sorted(items, key=lambda a: a.published, reverse=True)
    if outlet.feed_format == "rss":
        root = _rss(outlet, ordered, pass_number, port)
    else:
        root = _atom(outlet, ordered, pass_number, port)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    if outlet.feed_malformed:
        document = document.replace(_MALFORMED_AT.encode(), b" & co" + _MALFORMED_AT.encode(), 1)
    return document


def sub_element(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    """A child element `tag` of `parent` with `text` and attributes (feeds are built so)."""
    element = ET.SubElement(parent, tag, attrib)
    element.text = text
    return element


def _summary(article: Article, version: Version) -> str:
    return article.summary or summary_of(" ".join(version.paragraphs))


def _rss(outlet: Outlet, items: list[Article], pass_number: int, port: int) -> ET.Element:
    rss = ET.Element("rss", version="2.0")
    channel = sub_element(rss, "channel")
    sub_element(channel, "title", outlet.feed_title)
    sub_element(channel, "link", local_url(outlet.home, port))
    sub_element(channel, "description", f"{outlet.name} (mediamon demo feed)")
    sub_element(channel, "language", outlet.language)
    newest = max(a.version(pass_number).at for a in items)
    sub_element(channel, "lastBuildDate", format_datetime(newest))
    for article in items:
        version = article.version(pass_number)
        item = sub_element(channel, "item")
        sub_element(item, "title", version.title)
        sub_element(item, "link", _base_url(outlet, port) + page_path(article))
        # The article's path as guid: stable whatever port the demo runs on.
        sub_element(item, "guid", f"{outlet.host}{page_path(article)}", isPermaLink="false")
        sub_element(item, "pubDate", format_datetime(article.published))
        sub_element(item, "category", article.section)
        sub_element(item, "description", _summary(article, version))
    return rss


def _atom(outlet: Outlet, items: list[Article], pass_number: int, port: int) -> ET.Element:
    root = ET.Element("feed", xmlns=ATOM_NS)
    root.set(_XML_LANG, outlet.language)
    sub_element(root, "title", outlet.feed_title)
    sub_element(root, "id", outlet.feed_url)
    newest = max(a.version(pass_number).at for a in items)
    sub_element(root, "updated", newest.isoformat())
    sub_element(root, "link", rel="self", href=local_url(outlet.feed_url, port))
    sub_element(root, "link", rel="alternate", href=local_url(outlet.home, port))
    for article in items:
        version = article.version(pass_number)
        entry = sub_element(root, "entry")
        sub_element(entry, "title", version.title)
        href = _base_url(outlet, port) + page_path(article)
        sub_element(entry, "link", rel="alternate", type="text/html", href=href)
        sub_element(entry, "id", f"tag:{outlet.host},2021:{article.id}")
        sub_element(entry, "published", article.published.isoformat())
        sub_element(entry, "updated", version.at.isoformat())
        sub_element(sub_element(entry, "author"), "name", article.author)
        sub_element(entry, "category", term=article.section)
        sub_element(entry, "summary", _summary(article, version))
    return root


def serve_demo(
    out_dir: Path, port: int = DEFAULT_PORT, seed_dir: Path | None = None
) -> tuple[DemoServer, DemoSite]:
    """Build pass 1 of the demo site under `out_dir` and serve it on 127.0.0.1:`port` (0: any
    free port). The server is already serving from a background thread; the caller stops it.
    """
    server = DemoServer(Path(out_dir) / "site", port=port)
    try:
        site = build_site(out_dir, server.port, seed_dir=seed_dir)
    except BaseException:
        server.stop()
        raise
    return server.start(), site


def _write_committed_feeds_yaml() -> None:
    """Rewrite the committed examples/demo/feeds.yaml from the corpus."""
    COMMITTED_FEEDS_YAML.write_text(render_feeds_yaml(DEFAULT_PORT), encoding="utf-8")
    print(f"wrote {COMMITTED_FEEDS_YAML}")


if __name__ == "__main__":
    _write_committed_feeds_yaml()
