"""Which of a run's articles are indexed already, and what a run does with those.

Looked up by id, under every id an earlier version gave one of the URL's variants
(`identity.lookup_ids`), one search per batch: before any page is fetched, for the
candidates' links; after, for the canonical links pages name. An article found is "seen
again": counted as known and its feeds added to the stored one, never fetched twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from ingest import identity, store
from ingest.models import Article, RunReport

__all__ = ["find_stored", "fold_page_canonicals", "record_seen_again"]


def find_stored(
    es: store.Client, names: store.IndexNames, urls: dict[str, str]
) -> dict[str, tuple[str, str]]:
    """Which of these articles (canonical URL by id) are indexed already, under their id or
    an id an earlier version gave one of their URL's variants: id -> (stored id, index)."""
    lookups = {
        doc_id: identity.lookup_ids(url) if url else [doc_id] for doc_id, url in urls.items()
    }
    found = store.find_known(es, names, [i for ids in lookups.values() for i in ids])
    stored = {}
    for doc_id, ids in lookups.items():
        stored_id = next((i for i in ids if i in found), None)
        if stored_id is not None:
            stored[doc_id] = (stored_id, found[stored_id])
    return stored


def record_seen_again(
    es: store.Client,
    stored: dict[str, tuple[str, str]],
    feeds: Mapping[str, Iterable[str]],
    report: RunReport,
    now: datetime,
) -> None:
    """Count articles found indexed as known and record the feeds that listed them again."""
    report.count("entries.known", len(stored))
    known = dict(stored.values())
    feeds_by_id = {stored_id: sorted(feeds[doc_id]) for doc_id, (stored_id, _) in stored.items()}
    for reason, n in store.mark_seen_again(es, known, feeds_by_id, now).items():
        report.fail(reason, n=n)


def fold_page_canonicals(
    articles: list[Article],
    es: store.Client,
    names: store.IndexNames,
    report: RunReport,
    now: datetime,
) -> list[Article]:
    """One article per id, once pages have named their canonical links (`articles.article_of`).

    A page whose canonical link is another article of this batch joins it (its feeds are
    added; entries.merged); one whose canonical link is indexed already is seen again
    (entries.known). Looked up here, not before the fetch: only the page says it.
    """
    kept: dict[str, Article] = {}
    for article in articles:
        first = kept.get(article.id)
        if first is None:
            kept[article.id] = article
            continue
        report.count("entries.merged")
        if _moved(first) and not _moved(article):  # keep the article as linked at its own URL
            kept[article.id], first, article = article, article, first
        first.feeds = sorted(set(first.feeds) | set(article.feeds))
    moved = {a.id: a.canonical_url for a in kept.values() if _moved(a)}
    stored = find_stored(es, names, moved) if moved else {}
    if stored:
        record_seen_again(
            es, stored, {doc_id: kept[doc_id].feeds for doc_id in stored}, report, now
        )
    return [article for doc_id, article in kept.items() if doc_id not in stored]


def _moved(article: Article) -> bool:
    """The article's id comes from its page's canonical link, not from the link followed."""
    return bool(article.url) and article.id != identity.document_id(article.url)
