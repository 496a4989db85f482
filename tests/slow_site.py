"""A local site whose pages are slow, so that a run is still fetching when it is stopped
(killed, interrupted), and the `mediamon run` subprocess that reads it.

The site serves one RSS feed, `dispatches`, of `ARTICLES` items; each page answers after
`PAGE_DELAY` seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from elasticsearch import Elasticsearch
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ingest import store
from ingest.config import Settings

PARAGRAPH = (
    "Volunteers at the border described long nights in the forest, with temperatures far "
    "below zero and little shelter, while officials on both sides traded accusations about "
    "who had brought the people there and who was keeping them from crossing. "
)
ARTICLES = 16
PAGE_DELAY = 0.4  # seconds: slow enough that a signal lands mid-run


def slow_page(request: Request) -> Response:
    time.sleep(PAGE_DELAY)
    n = request.path.rsplit("/", 1)[1]
    paragraphs = "".join(f"<p>{PARAGRAPH} Dispatch {n}, part {p}.</p>" for p in range(4))
    html = (
        f"<html lang='en'><head><title>Dispatch {n}</title></head><body><article>"
        f"<h1>Dispatch {n}</h1>{paragraphs}</article></body></html>"
    )
    return Response(html, content_type="text/html; charset=utf-8")


def serve_dispatches(httpserver: HTTPServer, folder: Path) -> Path:
    """Serve the feed and its slow pages; return a feeds file listing the feed."""
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    items = "".join(
        f"<item><title>Dispatch {n}</title><link>{httpserver.url_for(f'/d/{n}')}</link></item>"
        for n in range(ARTICLES)
    )
    rss = f"<rss version='2.0'><channel><title>Dispatches</title>{items}</channel></rss>"
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss, content_type="application/rss+xml"
    )
    for n in range(ARTICLES):
        httpserver.expect_request(f"/d/{n}").respond_with_handler(slow_page)
    path = folder / "feeds.yaml"
    path.write_text(f"feeds:\n  - {{name: dispatches, url: '{httpserver.url_for('/feed.xml')}'}}\n")
    return path


def start_run(
    feeds_file: Path, settings: Settings, lease_seconds: int, extract_workers: int
) -> subprocess.Popen[bytes]:
    """`mediamon run --json` over `feeds_file` in a process group of its own (so that a signal
    to the group reaches it and its children only); stderr piped, stdout dropped."""
    env = {
        **os.environ,
        "ES_URL": settings.es_url,
        "MEDIAMON_INDEX_PREFIX": settings.index_prefix,
        "MEDIAMON_EGRESS_ALLOW": "127.0.0.1/32",
        "MEDIAMON_BATCH_SIZE": "4",
        "MEDIAMON_PER_HOST": "2",
        "MEDIAMON_EXTRACT_WORKERS": str(extract_workers),
        "MEDIAMON_FEED_LEASE_SECONDS": str(lease_seconds),
    }
    command = [sys.executable, "-m", "ingest.cli", "run", "--feeds", str(feeds_file), "--json"]
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def wait_until_indexed(
    es: Elasticsearch, settings: Settings, process: subprocess.Popen[bytes], at_least: int
) -> int:
    """Wait (at most 2 min) until the run has indexed `at_least` articles; return how many.
    Fails if the run ended first."""
    names = store.IndexNames(settings.index_prefix)
    deadline = time.monotonic() + 120
    indexed = 0
    while time.monotonic() < deadline and process.poll() is None:
        store.refresh(es, names)
        exists = es.indices.exists(index=names.articles)
        indexed = es.count(index=names.articles)["count"] if exists else 0
        if indexed >= at_least:
            break
        time.sleep(0.05)
    assert process.poll() is None, process.stderr.read() if process.stderr else ""
    assert indexed >= at_least, f"only {indexed} articles indexed in 2 min"
    return int(indexed)


def documents(es: Elasticsearch, settings: Settings) -> dict[str, tuple[str, str]]:
    """Every stored article: id -> (title, body); fails on a duplicate id."""
    names = store.IndexNames(settings.index_prefix)
    store.refresh(es, names)
    hits = es.search(index=names.articles, size=100, query={"match_all": {}})["hits"]["hits"]
    ids = [hit["_id"] for hit in hits]
    assert len(ids) == len(set(ids))
    return {hit["_id"]: (hit["_source"]["title"], hit["_source"]["body"]) for hit in hits}
