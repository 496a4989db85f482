"""A run killed with SIGKILL mid-batch, then re-run, ends where an uninterrupted run ends.

The killed run leaves its lease on the feed (ingest.store.claim_feeds): a run started while
it would still hold it skips the feed; once the lease has run out, unrenewed, the feed is free.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from pytest_httpserver import HTTPServer
from slow_site import ARTICLES, documents, serve_dispatches, start_run, wait_until_indexed

from ingest import store
from ingest.config import Settings
from ingest.feeds import load_feeds
from ingest.pipeline import run_feeds

pytestmark = [pytest.mark.es, pytest.mark.slow]

LEASE_SECONDS = 6


@pytest.fixture
def feeds_file(httpserver: HTTPServer, tmp_path: Path) -> Path:
    return serve_dispatches(httpserver, tmp_path)


def test_sigkill_mid_run_then_rerun_matches_uninterrupted_run(
    feeds_file: Path, settings: Settings, es: Elasticsearch
) -> None:
    process = start_run(feeds_file, settings, LEASE_SECONDS, extract_workers=1)
    wait_until_indexed(es, settings, process, at_least=4)
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
