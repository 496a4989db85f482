"""A run's articles-to-be: the candidates its feeds' entries make, and the article of each.

    entries of every feed ─▶ `interleave` ─▶ `candidates_by_id` (one per canonical link)
    candidate + its page's extraction (or none) + language ─▶ `article_of` ─▶ `Article`

The joining of what a feed said about an article with what its page said lives here, in
one place, so that the pipeline, `mediamon refetch` and the benchmarks' naive pipeline
build articles alike; fetching and extracting are `ingest.fetch` and `ingest.extract`'s.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingest import identity
from ingest.extract import dates
from ingest.extract.language import count_words
from ingest.models import Article, Extraction, FeedEntry, LanguageTag, RunReport

__all__ = [
    "Candidate",
    "article_of",
    "candidates_by_id",
    "interleave",
    "publication_date",
    "site_of",
]


@dataclass
class Candidate:
    """A unique article-to-be of this run: the first entry that linked it, and every feed."""

    id: str
    canonical_url: str
    entry: FeedEntry
    feeds: set[str] = field(default_factory=set)
    page_attempts: int = 0  # transient page failures in earlier runs (FeedState.page_retries)


def interleave(polled: list[list[FeedEntry]]) -> list[FeedEntry]:
    """Every feed's entries, taking one from each feed in turn.

    Feeds list one site's links, and fetching keeps to a few connections per host: in feed
    order, a batch would be one or two hosts' links, fetched a few at a time.
    """
    rounds = itertools.zip_longest(*polled)
    return [entry for round_ in rounds for entry in round_ if entry is not None]


def candidates_by_id(entries: list[FeedEntry], report: RunReport) -> dict[str, Candidate]:
    """One candidate per canonical URL; a link listed twice (any feeds) is merged, not lost."""
    candidates: dict[str, Candidate] = {}
    for entry in entries:
        if entry.url:
            canonical = identity.canonical_url(entry.url)
            doc_id = identity.document_id(canonical)  # the same for http/https, www., a final /
        else:  # an item without a link (`ingest.feeds.parse`): no page, an identity of its own
            canonical, doc_id = "", identity.entry_id(entry.identity or "")
        if doc_id in candidates:
            report.count("entries.merged")
        else:
            candidates[doc_id] = Candidate(doc_id, canonical, entry)
        candidates[doc_id].feeds.add(entry.feed_name)
    return candidates


def site_of(candidate: Candidate) -> str:
    """The site of a candidate: its link's host, or its feed's for an item without a link."""
    return identity.domain_of(candidate.canonical_url or candidate.entry.feed_url)


def article_of(
    candidate: Candidate,
    extraction: Extraction,
    language: LanguageTag,
    fetched_at: datetime | None,
    reason: str | None = None,
    canonical: str | None = None,
) -> Article:
    """The article of `candidate`; under the id of `canonical`, the page's own canonical
    link (`identity.page_canonical`), when it names one."""
    entry = candidate.entry
    now = datetime.now(UTC)
    published_at, date_source = publication_date(extraction, entry, now)
    body = extraction.body
    canonical = canonical or candidate.canonical_url
    domain = identity.domain_of(canonical or entry.feed_url)  # an item without a link: the feed's
    return Article(
        id=identity.document_id(canonical) if canonical else candidate.id,
        url=entry.url,
        canonical_url=canonical,
        domain=domain,
        source=entry.source or extraction.site_name or domain,
        feeds=sorted(candidate.feeds),
        title=extraction.title or entry.title,
        summary=entry.summary or extraction.description,
        body=body,
        language=language.code,
        language_confidence=language.confidence,
        language_source=language.source,
        published_at=published_at,
        date_source=date_source,
        first_seen_at=now,
        last_seen_at=now,
        fetched_at=fetched_at,
        extraction_status="feed_only" if reason else "ok",
        extraction_reason=reason,
        body_truncated=extraction.truncated,
        extraction_method=extraction.method or None,
        authors=list(extraction.authors or entry.authors),
        tags=sorted(set(extraction.tags) | set(entry.tags)),
        content_hash=identity.content_hash(body) if body else None,
        word_count=count_words(body),  # CJK-aware: counts characters, not spaces
        minhash=extraction.minhash,
        lsh_bands=list(extraction.lsh_bands),
    )


def publication_date(
    extraction: Extraction, entry: FeedEntry, now: datetime
) -> tuple[datetime, str]:
    """When the article was published and who says so: the page's date, else the feed's."""
    page = None
    if extraction.published_at:
        page = dates.Stated(extraction.published_at, extraction.date_precision or dates.ZONED)
    return dates.publication(page, entry.published_at, now)
