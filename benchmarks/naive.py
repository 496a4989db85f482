"""The naive pipeline the speed-up is measured against: one thing at a time.

What a first script would do: poll each feed in turn, then for each entry fetch the page,
extract it and index it with one request, then the next. It does the same work per article
as mediamon (the same `analyse_page` and the same document), so the comparison is about how
the work is arranged, not about what is done: no concurrency, no process pool, no bulk, no
look-up of known ids (the index is fresh, so there are none).

A sequential run over thousands of articles would take most of an hour, so it stops after a
time budget and its rate (articles per second) is what is compared.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
from elasticsearch import ApiError, Elasticsearch

from ingest import feeds, identity, store
from ingest.articles import Candidate, article_of
from ingest.errors import ExtractionError
from ingest.extract.pool import analyse_page, tag_feed_text
from ingest.fetch import charset
from ingest.models import Extraction, Feed, FeedEntry


def _loopback(url: str) -> tuple[str, str]:
    """(URL to connect to, Host header): the site's hosts live on 127.0.0.1."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(("http", f"127.0.0.1{port}", parts.path, parts.query, "")), parts.netloc


def _get(client: httpx.Client, url: str) -> httpx.Response:
    target, host = _loopback(url)
    return client.get(target, headers={"Host": host})


def run_naive(
    feed_list: Sequence[Feed], es: Elasticsearch, names: store.IndexNames, budget: float
) -> tuple[int, float]:
    """Index articles one by one until `budget` seconds have passed: (articles, seconds)."""
    started = time.perf_counter()
    indexed = 0
    with httpx.Client(timeout=30) as client:
        for feed in feed_list:
            response = _get(client, feed.url)
            parsed = feeds.parse_feed(response.content, feed, feed.url)
            for entry in parsed.entries:
                indexed += _index_one(client, es, names, entry)
                if time.perf_counter() - started > budget:
                    return indexed, time.perf_counter() - started
    return indexed, time.perf_counter() - started


def _index_one(
    client: httpx.Client, es: Elasticsearch, names: store.IndexNames, entry: FeedEntry
) -> bool:
    """Fetch, extract and index one entry; False if it was indexed already (cross-listed)."""
    canonical = identity.canonical_url(entry.url)
    candidate = Candidate(identity.document_id(canonical), canonical, entry, {entry.feed_name})
    response = _get(client, entry.url)
    fetched_at = datetime.now(UTC)
    html = charset.decode(response.content, response.charset_encoding)
    try:
        extraction, language = analyse_page(html, entry.url, entry.declared_language)
        article = article_of(candidate, extraction, language, fetched_at)
    except ExtractionError as exc:
        language = tag_feed_text(entry.title, entry.summary, entry.declared_language)
        article = article_of(candidate, Extraction(), language, fetched_at, f"page:{exc.reason}")
    try:
        es.create(
            index=names.articles_write,
            id=article.id,
            document=store.article_document(article),
        )
    except ApiError as exc:
        if exc.meta.status != 409:  # 409: cross-listed, the other feed's copy is there
            raise
        return False
    return True
