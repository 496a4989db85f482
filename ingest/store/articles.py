"""Articles in Elasticsearch: their documents, the indices holding them, finding them.

Articles live in backing indices behind two aliases (`IndexNames.articles` to read,
`IndexNames.articles_write` to write), and the next backing index starts when the write
index is big or old enough (`roll_over_articles`). This module makes an article's document,
writes new articles create-only (`bulk_index`), looks up which are known already and where
(`find_known`), finds one by id or URL (`find_article`), records that known articles were
listed again (`mark_seen_again`), and counts the languages of a site's articles
(`site_languages`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

from ingest.config import RolloverLimits
from ingest.models import Article, SiteLanguages
from ingest.store.boundary import without_backoff
from ingest.store.bulk import BulkOutcome, bulk_write
from ingest.store.language_fields import language_fields
from ingest.store.names import IndexNames
from ingest.store.templates import article_groups, ensure_write_index, refresh

__all__ = [
    "StoredArticle",
    "article_document",
    "backing_indices",
    "bulk_index",
    "count_articles",
    "feed_only_articles",
    "find_article",
    "find_known",
    "find_known_everywhere",
    "mark_seen_again",
    "roll_over_articles",
    "site_languages",
]


def article_document(article: Article) -> dict[str, Any]:
    """The `_source` of an article: its fields, and its text again under its language's
    analyzer (`text.<group>`, see `ingest.store.language_fields`). Indexed and percolated alike."""
    document = article.to_document()
    document["text"] = language_fields(document, article_groups())
    return document


def backing_indices(es: Elasticsearch, names: IndexNames) -> list[str]:
    """The article indices behind the write alias, oldest first: the write index is last."""
    response = es.options(ignore_status=404).indices.get_alias(name=names.articles_write)
    return sorted(response.body) if response.meta.status == 200 else []


def find_known(es: Elasticsearch, names: IndexNames, ids: list[str]) -> dict[str, str]:
    """Which of `ids` are indexed already, in any backing index, mapped to the index
    holding each (the oldest, should a race have left two copies for a moment)."""
    if not ids:
        return {}
    holders = find_known_everywhere(es, names, ids)
    return {doc_id: min(indices) for doc_id, indices in holders.items()}


def roll_over_articles(es: Elasticsearch, names: IndexNames, limits: RolloverLimits) -> str | None:
    """Start the next article index if the write index meets one of `limits`; return the
    new index's name, or None when nothing was due.

    The embedded 7.10 node has neither ILM nor data streams, so the pipeline asks before each
    batch and the maintenance DAG daily; the request is cheap when nothing is due. Two
    workers asking at once may both roll over: that only makes an index with no articles.
    """
    ensure_write_index(es, names)
    # Never urgent: if the cluster is busy, the next batch asks again (no backoff here).
    response = without_backoff(es).indices.rollover(
        alias=names.articles_write, conditions=limits.conditions()
    )
    if response.get("rolled_over"):
        # the index that was written to takes no more new articles: searchable now, so that
        # look-ups need not ask it in real time for long
        es.options(ignore_status=404).indices.refresh(index=str(response["old_index"]))
    return str(response["new_index"]) if response.get("rolled_over") else None


def find_known_everywhere(
    es: Elasticsearch, names: IndexNames, ids: list[str], *, realtime_below: str | None = None
) -> dict[str, set[str]]:
    """Every backing index holding each of `ids` (a search, and `mget` in real time on the
    newest two, or only on those of them older than `realtime_below`).

    A search sees what was refreshed; the newest two backing indices are also asked in real
    time (`mget`), as articles written there in the last seconds are not searchable yet:
    the write index, and the one before it should a rollover just have happened. A caller
    that has just written `ids` into `realtime_below` knows they are there, and a real-time
    get of a document not yet refreshed makes Elasticsearch refresh the whole shard.
    """
    holders: dict[str, set[str]] = {}
    if not ids:
        return holders
    response = es.options(ignore_status=404).search(
        index=names.articles, query={"ids": {"values": ids}}, source=False, size=len(ids) * 4
    )
    for hit in response.get("hits", {}).get("hits", []):
        holders.setdefault(hit["_id"], set()).add(hit["_index"])
    recent = backing_indices(es, names)[-2:]
    if realtime_below is not None:
        recent = [index for index in recent if index < realtime_below]
    if recent:
        docs = [{"_index": index, "_id": i} for i in ids for index in recent]
        for doc in es.mget(docs=docs, source=False)["docs"]:
            if doc.get("found"):
                holders.setdefault(doc["_id"], set()).add(doc["_index"])
    return holders


@dataclass(frozen=True)
class StoredArticle:
    """An indexed article: its id, the index holding it, and its `_source`."""

    id: str
    index: str
    source: dict[str, Any]


def find_article(es: Elasticsearch, names: IndexNames, ref: str) -> StoredArticle | None:
    """The article with this document id, or at this URL (as linked, or its canonical form)."""
    # Imported here, not with the module: courlan loaded before trafilatura makes trafilatura's
    # import raise urllib3's SOCKS DependencyWarning, an error under the tests' filters.
    from ingest.identity import canonical_url, lookup_ids

    ref = ref.strip()
    clauses: list[dict[str, Any]] = [{"ids": {"values": [ref]}}]
    if "://" in ref:
        canonical = canonical_url(ref)
        clauses += [
            {"ids": {"values": lookup_ids(canonical)}},  # any variant, old ids too
            {"term": {"url": ref}},
            {"term": {"canonical_url": canonical}},
        ]
    response = es.options(ignore_status=404).search(
        index=names.articles, query={"bool": {"should": clauses}}, size=1
    )
    hits = response.get("hits", {}).get("hits", [])
    return StoredArticle(hits[0]["_id"], hits[0]["_index"], hits[0]["_source"]) if hits else None


def site_languages(
    es: Elasticsearch,
    names: IndexNames,
    feeds: Collection[str],
    domains: Collection[str],
    since: datetime,
) -> SiteLanguages:
    """How many articles of each of `feeds` and `domains`, first seen since `since`, were
    tagged in each language from their own text (`language_source` "text", "text+..."):
    one search with two terms aggregations, for a whole batch.

    Articles whose language a hint chose are left out, so that a site's history says what
    its texts are, not what its feeds declare (nor what earlier guesses made of them)."""
    if not feeds and not domains:
        return SiteLanguages()
    by_language = {"languages": {"terms": {"field": "language", "size": 20}}}
    aggs: dict[str, Any] = {}
    for name, field_name, values in (("feeds", "feeds", feeds), ("domains", "domain", domains)):
        if values:
            terms = {"field": field_name, "include": sorted(values), "size": len(values)}
            aggs[name] = {"terms": terms, "aggs": by_language}
    of_these = [{"terms": {"feeds": sorted(feeds)}}, {"terms": {"domain": sorted(domains)}}]
    filters: list[dict[str, Any]] = [
        {"prefix": {"language_source": "text"}},
        {"range": {"first_seen_at": {"gte": since.isoformat()}}},
        {"bool": {"should": of_these}},  # no must: one of them at least
    ]
    response = es.options(ignore_status=404).search(
        index=names.articles,
        query={"bool": {"filter": filters, "must_not": [{"term": {"language": "und"}}]}},
        aggs=aggs,
        size=0,
    )
    found = response.get("aggregations", {})

    def counts(name: str) -> dict[str, dict[str, int]]:
        return {
            bucket["key"]: {b["key"]: b["doc_count"] for b in bucket["languages"]["buckets"]}
            for bucket in found.get(name, {}).get("buckets", [])
        }

    return SiteLanguages(by_feed=counts("feeds"), by_domain=counts("domains"))


# Adds the feed and bumps last_seen_at without fetching the page again; a no-op write when
# nothing changes, so re-runs do not rewrite documents.
_SEEN_AGAIN = """
boolean changed = false;
if (ctx._source.feeds == null) { ctx._source.feeds = new ArrayList(); }
for (f in params.feeds) {
  if (!ctx._source.feeds.contains(f)) { ctx._source.feeds.add(f); changed = true; }
}
if (ctx._source.last_seen_at == null || ctx._source.last_seen_at.compareTo(params.seen) < 0) {
  ctx._source.last_seen_at = params.seen; changed = true;
}
if (!changed) { ctx.op = 'noop'; }
"""


def mark_seen_again(
    es: Elasticsearch,
    known: Mapping[str, str],
    feeds_by_id: Mapping[str, list[str]],
    seen_at: datetime,
) -> Counter[str]:
    """Record that known articles were listed again (by these feeds, at `seen_at`)."""
    actions = (
        {
            "_op_type": "update",
            "_index": index,
            "_id": doc_id,
            "script": {
                "source": _SEEN_AGAIN,
                "params": {
                    "feeds": sorted(feeds_by_id.get(doc_id, [])),
                    "seen": seen_at.isoformat(),
                },
            },
        }
        for doc_id, index in known.items()
    )
    outcome = bulk_write(es, actions)
    return outcome.failures


def bulk_index(es: Elasticsearch, names: IndexNames, articles: Iterable[Article]) -> BulkOutcome:
    """Create-only bulk write of new articles into the write index (`names.articles_write`).

    429s are retried with backoff by the helper; every other item-level error is counted
    under `index:<error type>` and returned, never ignored. The articles refused with a 4xx
    (`BulkOutcome.rejected`) are for `dead_letter`. An article another worker wrote into an
    older backing index meanwhile is counted as a conflict: see `_undo_rollover_races`.
    """
    actions = (
        {
            "_op_type": "create",
            "_index": names.articles_write,
            "_id": article.id,
            "_source": article_document(article),
        }
        for article in articles
    )
    outcome = bulk_write(es, actions)
    _undo_rollover_races(es, names, outcome)
    return outcome


def _undo_rollover_races(es: Elasticsearch, names: IndexNames, outcome: BulkOutcome) -> None:
    """Delete the copies this write made of articles that an older index holds already.

    Create-only writes keep one copy per index, not per alias: two workers that both looked
    up an article before either wrote it, on both sides of a rollover, write it into two
    backing indices. So after writing, each worker looks its new articles up again; the copy
    in the oldest index wins (both workers agree on that), the newer copy is deleted and
    counted as a conflict, as the same race within one index would be (a 409).
    """
    created = dict(outcome.written)
    if not created:
        return
    # Only older indices can hold a copy that wins: the newest one written to needs no
    # real-time ask (see find_known_everywhere), which is the usual case of no rollover.
    holders = find_known_everywhere(es, names, list(created), realtime_below=max(created.values()))
    losers = {
        doc_id: index
        for doc_id, index in created.items()
        if min(holders.get(doc_id, {index})) < index
    }
    if not losers:
        return
    deletes = (
        {"_op_type": "delete", "_index": index, "_id": doc_id} for doc_id, index in losers.items()
    )
    bulk_write(es, deletes)
    for doc_id in losers:
        del outcome.written[doc_id]
        outcome.race_winners[doc_id] = min(holders[doc_id])
    outcome.created -= len(losers)
    outcome.conflicts += len(losers)


def count_articles(es: Elasticsearch, names: IndexNames) -> int:
    """How many articles are indexed, once what was written is searchable."""
    refresh(es, names)
    response = es.options(ignore_status=404).count(index=names.articles)
    return int(response.get("count", 0))


def feed_only_articles(
    es: Elasticsearch, names: IndexNames, limit: int = 100
) -> list[tuple[str, str]]:
    """(title, reason) of the articles indexed from their feed entry alone, oldest first."""
    response = es.options(ignore_status=404).search(
        index=names.articles,
        query={"term": {"extraction.status": "feed_only"}},
        sort=[{"published_at": "asc"}],
        size=limit,
        source_includes=["title", "extraction.reason"],
    )
    hits = response.get("hits", {}).get("hits", [])
    return [
        (h["_source"].get("title", ""), h["_source"].get("extraction", {}).get("reason", ""))
        for h in hits
    ]
