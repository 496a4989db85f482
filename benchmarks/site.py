"""The benchmark's news site: recorded corpus pages replicated under many distinct URLs.

    <out_dir>/pages/<corpus file>.html          each corpus page, decompressed once
    <out_dir>/site/<host>/<tag>/<lang>/<yyyy>/<mm>/<publisher>-<n>
                                                a symlink to one of those pages
    <out_dir>/site/<host>/feeds/<tag>-<feed>.rss
                                                the feeds (RSS 2.0, some with <ttl> or sy:)

The `tag` names one run's site: runs into the same indices use different tags, so each finds
only new articles and new feeds.

Article `n` is corpus page `n % 25`, so every size has the same mix of languages and page
weights as the extraction bound measured over the corpus. Its path is unique, so every link
is a distinct document; the body is the same as its corpus page's (near-duplicate detection
may cluster them, it must not drop them). Every 25th article is listed by a second feed as
well, as news aggregators do, so merging is exercised too.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

from ingest.demo.server import site_file
from ingest.demo.site import parse_time, sub_element, summary_of
from ingest.models import Feed

HOSTS = 20
FEEDS = 50
CROSS_LISTED_EVERY = 25  # one article in this many is also listed by the next feed
SY_NS = "http://purl.org/rss/1.0/modules/syndication/"


@dataclass(frozen=True)
class CorpusPage:
    file: str
    url: str  # where the publisher served it
    lang: str
    publisher: str
    title: str
    summary: str
    published: datetime
    html_path: Path  # the decompressed page under <out_dir>/pages


@dataclass(frozen=True)
class BenchSite:
    """A built site: what to serve, the feeds to poll and how many distinct articles they list."""

    site_dir: Path
    feeds: list[Feed]
    hosts: list[str]
    articles: int
    entries: int  # feed items, counting cross-listed articles twice


def load_corpus(shared_dir: Path, out_dir: Path) -> list[CorpusPage]:
    """The corpus pages, decompressed under `out_dir/pages` (in pages.jsonl order)."""
    corpus = shared_dir / "corpus"
    records = [
        json.loads(line)
        for line in (corpus / "pages.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    pages_dir = out_dir / "pages"
    pages_dir.mkdir(parents=True, exist_ok=True)
    pages = []
    for record in records:
        target = pages_dir / Path(record["file"]).name.removesuffix(".gz")
        if not target.exists():
            target.write_bytes(gzip.decompress((corpus / record["file"]).read_bytes()))
        pages.append(
            CorpusPage(
                file=record["file"],
                url=record["url"],
                lang=record["lang"],
                publisher=record["publisher"],
                title=record["title"],
                summary=summary_of(record["body"]),
                published=parse_time(record["published"]),
                html_path=target,
            )
        )
    return pages


def host_name(index: int) -> str:
    # *.localhost is loopback by definition (RFC 6761): the HTTP client resolves it itself.
    return f"news{index:02d}.bench.localhost"


def build_site(
    shared_dir: Path, out_dir: Path, port: int, articles: int, tag: str = "run"
) -> BenchSite:
    """Write a site of `articles` distinct article pages in `FEEDS` feeds on `HOSTS` hosts."""
    corpus = load_corpus(shared_dir, out_dir)
    site_dir = out_dir / "site"
    if site_dir.exists():
        shutil.rmtree(site_dir)
    site_dir.mkdir(parents=True)
    hosts = [host_name(i) for i in range(HOSTS)]
    items: list[list[tuple[str, CorpusPage, int]]] = [[] for _ in range(FEEDS)]
    for n in range(articles):
        page = corpus[n % len(corpus)]
        feed = n % FEEDS
        host = hosts[feed % HOSTS]
        path = f"/{tag}/{page.lang}/{page.published:%Y/%m}/{page.publisher.lower()}-{n:06d}"
        _link(site_dir, host, path, page.html_path)
        url = f"http://{host}:{port}{path}"
        items[feed].append((url, page, n))
        if n % CROSS_LISTED_EVERY == 0:
            items[(feed + 1) % FEEDS].append((url, page, n))
    feeds = []
    for index, feed_items in enumerate(items):
        host = hosts[index % HOSTS]
        path = f"/feeds/{tag}-feed{index:02d}.rss"
        _write(site_dir, host, path, _rss(index, host, port, feed_items))
        feeds.append(Feed(name=f"bench-{tag}-{index:02d}", url=f"http://{host}:{port}{path}"))
    return BenchSite(
        site_dir=site_dir,
        feeds=feeds,
        hosts=hosts,
        articles=articles,
        entries=sum(len(i) for i in items),
    )


def _link(site_dir: Path, host: str, path: str, target: Path) -> None:
    file = site_file(site_dir, host, path)
    assert file is not None, path
    file.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, file)  # thousands of articles cost inodes, not copies of the page


def _write(site_dir: Path, host: str, path: str, content: bytes) -> None:
    file = site_file(site_dir, host, path)
    assert file is not None, path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(content)


def _rss(index: int, host: str, port: int, items: list[tuple[str, CorpusPage, int]]) -> bytes:
    """An RSS 2.0 feed. A third declare `<ttl>`, a third `sy:updatePeriod`, as publishers do."""
    ET.register_namespace("sy", SY_NS)
    rss = ET.Element("rss", version="2.0")
    channel = sub_element(rss, "channel")
    sub_element(channel, "title", f"Bench feed {index:02d}")
    sub_element(channel, "link", f"http://{host}:{port}/")
    sub_element(channel, "description", "mediamon benchmark feed")
    if index % 3 == 1:
        sub_element(channel, "ttl", "30")
    elif index % 3 == 2:
        sub_element(channel, f"{{{SY_NS}}}updatePeriod", "hourly")
        sub_element(channel, f"{{{SY_NS}}}updateFrequency", "2")
    for url, page, n in items:
        item = sub_element(channel, "item")
        sub_element(item, "title", f"{page.title} ({n})")
        sub_element(item, "link", url)
        sub_element(item, "guid", url, isPermaLink="false")
        sub_element(item, "pubDate", format_datetime(page.published))
        sub_element(item, "description", page.summary)
    document: bytes = ET.tostring(rss, encoding="utf-8", xml_declaration=True)
    return document
