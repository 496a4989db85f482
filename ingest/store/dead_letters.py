"""Dead letters: the articles Elasticsearch refused, kept for a person to look at.

One document per refused article in `names.dead_letters`, with the error and the refused
document; written by `dead_letter`, deleted once the article is indexed
(`clear_dead_letters`), summed up by `dead_letters`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

from ingest.models import Article
from ingest.store.articles import article_document
from ingest.store.bulk import BulkOutcome, ItemError, bulk_write
from ingest.store.names import IndexNames

__all__ = ["clear_dead_letters", "dead_letter", "dead_letters"]


# A repeated refusal updates the article's dead letter: the latest error, run and document,
# one more attempt; first_failed_at stays.
_FAILED_AGAIN = """
ctx._source.putAll(params.latest);
ctx._source.attempts = (ctx._source.attempts ?: 0) + 1;
"""
_REASON_MAX = 4000  # characters of an error message kept in a dead letter


def dead_letter(
    es: Elasticsearch,
    names: IndexNames,
    rejected: Iterable[tuple[Article, ItemError]],
    run_id: str,
    now: datetime,
) -> BulkOutcome:
    """Keep the articles Elasticsearch refused (a 4xx, see `ItemError`) in the dead-letter
    index, with the error and the refused document, for a person to look at.

    The id is the article's: the same article refused again updates its one document
    (`attempts`, `last_failed_at`, the latest error). Returns the outcome of that write:
    its `failed_ids` are articles whose dead letter could not be written either.
    """
    actions = []
    for article, error in rejected:
        latest = {
            "article_id": article.id,
            "url": article.url,
            "canonical_url": article.canonical_url,
            "feeds": sorted(article.feeds),
            "target_index": names.articles_write,
            "status": error.status,
            "error_type": error.type,
            "reason": error.message[:_REASON_MAX],
            "run_id": run_id,
            "last_failed_at": now.isoformat(),
            "document": article_document(article),
        }
        actions.append(
            {
                "_op_type": "update",
                "_index": names.dead_letters,
                "_id": article.id,
                "script": {"source": _FAILED_AGAIN, "params": {"latest": latest}},
                "upsert": {**latest, "first_failed_at": now.isoformat(), "attempts": 1},
            }
        )
    return bulk_write(es, actions)


def clear_dead_letters(es: Elasticsearch, names: IndexNames, ids: Collection[str]) -> int:
    """Delete the dead letters of `ids`, articles indexed now (the cause of their refusal was
    fixed, e.g. the mapping); returns how many there were. One small search when there are
    none, the usual case."""
    if not ids:
        return 0
    response = es.options(ignore_status=404).search(
        index=names.dead_letters, query={"ids": {"values": list(ids)}}, source=False, size=len(ids)
    )
    found = [hit["_id"] for hit in response.get("hits", {}).get("hits", [])]
    if found:
        actions = ({"_op_type": "delete", "_index": names.dead_letters, "_id": i} for i in found)
        bulk_write(es, actions)
        es.indices.refresh(index=names.dead_letters)
    return len(found)


def dead_letters(
    es: Elasticsearch, names: IndexNames, limit: int = 20
) -> tuple[Counter[str], list[dict[str, Any]]]:
    """Dead letters by error type, and the latest `limit` (without the refused document)."""
    es.options(ignore_status=404).indices.refresh(index=names.dead_letters)
    response = es.options(ignore_status=404).search(
        index=names.dead_letters,
        size=limit,
        sort=[{"last_failed_at": "desc"}],
        source_excludes=["document"],
        aggs={"types": {"terms": {"field": "error_type", "size": 100}}},
    )
    buckets = response.get("aggregations", {}).get("types", {}).get("buckets", [])
    by_type = Counter({b["key"]: b["doc_count"] for b in buckets})
    return by_type, [hit["_source"] for hit in response.get("hits", {}).get("hits", [])]
