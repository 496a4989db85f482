"""A run killed with SIGKILL mid-batch, then re-run, ends where an uninterrupted run ends.

The killed run leaves its lease on the feed (ingest.store.claim_feeds): a run started while
it would still hold it skips the feed; once the lease has run out, unrenewed, the feed is free.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ingest import store
from ingest.config import Settings
from ingest.feeds import load_feeds
from ingest.pipeline import run_feeds

pytestmark = [pytest.mark.es, pytest.mark.slow]

PARAGRAPH = (
    "Volunteers at the border described long nights in the forest, with temperatures far "
    "below zero and little shelter, while officials on both sides traded accusations about "
    "who had brought the people there and who was keeping them from crossing. "
)
ARTICLES = 16
LEASE_SECONDS = 6


def slow_page(request: Request) -> Response:
    time.sleep(0.4)  # slow enough that the kill lands mid-run
    n = request.path.rsplit("/", 1)[1]
    paragraphs = "".join(f"<p>{PARAGRAPH} Dispatch {n}, part {p}.</p>" for p in range(4))
    html = (
        f"<html lang='en'><head><title>Dispatch {n}</title></head><body><article>"
        f"<h1>Dispatch {n}</h1>{paragraphs}</article></body></html>"
    )
    return Response(html, content_type="text/html; charset=utf-8")


@pytest.fixture
def feeds_file(httpserver: HTTPServer, tmp_path: Path) -> Path:
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
    path = tmp_path / "feeds.yaml"
    path.write_text(f"feeds:\n  - {{name: dispatches, url: '{httpserver.url_for('/feed.xml')}'}}\n")
    return path


def documents(es: Elasticsearch, settings: Settings) -> dict[str, tuple[str, str]]:
    names = store.IndexNames(settings.index_prefix)
    store.refresh(es, names)
    hits = es.search(index=names.articles, size=100, query={"match_all": {}})["hits"]["hits"]
    ids = [hit["_id"] for hit in hits]
    assert len(ids) == len(set(ids))
    return {hit["_id"]: (hit["_source"]["title"], hit["_source"]["body"]) for hit in hits}


def test_sigkill_mid_run_then_rerun_matches_uninterrupted_run(
    feeds_file: Path, settings: Settings, es: Elasticsearch
) -> None:
    names = store.IndexNames(settings.index_prefix)
    env = {
        **os.environ,
        "ES_URL": settings.es_url,
        "MEDIAMON_INDEX_PREFIX": settings.index_prefix,
        "MEDIAMON_EGRESS_ALLOW": "127.0.0.1/32",
        "MEDIAMON_BATCH_SIZE": "4",
        "MEDIAMON_PER_HOST": "2",
        "MEDIAMON_EXTRACT_WORKERS": "1",
        "MEDIAMON_FEED_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    command = [sys.executable, "-m", "ingest.cli", "run", "--feeds", str(feeds_file), "--json"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    indexed = 0
    while time.monotonic() < deadline and process.poll() is None:
        store.refresh(es, names)
        indexed = (
            es.count(index=names.articles)["count"]
            if es.indices.exists(index=names.articles)
            else 0
        )
        if indexed >= 4:
            break
        time.sleep(0.05)
    assert process.poll() is None, process.stderr.read() if process.stderr else ""
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.stderr is not None
    process.stderr.close()
    killed_at = time.monotonic()
    interrupted = documents(es, settings)
    assert 0 < len(interrupted) < ARTICLES

    blocked = run_feeds(load_feeds(feeds_file), settings, es)  # the dead run's lease holds
    if time.monotonic() - killed_at < LEASE_SECONDS - 1:  # (unless this machine was slow)
        assert blocked.counts["feeds.leased_elsewhere"] == 1
        assert blocked.counts["feeds.polled"] == 0 and documents(es, settings) == interrupted
    time.sleep(max(0.0, LEASE_SECONDS - (time.monotonic() - killed_at)))

    report = run_feeds(load_feeds(feeds_file), settings, es)
    assert report.counts["entries.known"] == len(interrupted)
    resumed = documents(es, settings)

    clean = replace(settings, index_prefix=settings.index_prefix + "-clean")
    clean_es = store.connect(clean)
    store.install_templates(clean_es, store.IndexNames(clean.index_prefix))
    try:
        run_feeds(load_feeds(feeds_file), clean, clean_es)
        uninterrupted = documents(clean_es, clean)
    finally:
        store.delete_all(clean_es, store.IndexNames(clean.index_prefix))
    assert resumed == uninterrupted and len(resumed) == ARTICLES
