"""Percolation: which rules each article of a batch matches, in one request per batch.

Rules are percolated where they are stored, in the rules index, which maps the article
fields. A percolated document is analysed through the fields it has: an article fills
the neutral fields and its own language's `text.<group>` only (`ingest.store.language_fields`),
so it pays for two analyzers, not fifteen, and one index serves every language. One
multi-document percolate carries the batch: one request per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest import store
from ingest.alerts.rules import Rule
from ingest.alerts.sync import ensure_rules_index
from ingest.errors import StoreError
from ingest.models import Article
from ingest.store import IndexNames

PERCOLATE_PAGE = 1000  # matching rules per page of a percolate


@dataclass
class Matches:
    """Which rules each article of a batch matched (rule ids sorted), and those rules."""

    by_article: dict[str, list[str]] = field(default_factory=dict)
    rules: dict[str, Rule] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(ids) for ids in self.by_article.values())


def percolate(
    es: store.Client,
    names: IndexNames,
    articles: Sequence[Article],
    *,
    page_size: int = PERCOLATE_PAGE,
) -> Matches:
    """Match a batch of articles against every rule: one multi-document percolate.

    More than `page_size` matching rules are paged (rules sorted by id).
    """
    matches = Matches()
    if not articles:
        return matches
    documents = [store.article_document(article) for article in articles]
    after: list[Any] | None = None
    while True:
        try:
            page = _percolate_page(es, names, documents, after, page_size)
        except _StaleMapping:
            # Articles gained a field since the rules were synced: take the current article
            # mapping into the rules index (adding fields is always possible) and go on.
            ensure_rules_index(es, names)
            page = _percolate_page(es, names, documents, after, page_size)
        for hit in page:
            rule = Rule.from_document(hit["_source"]["rule"])
            matches.rules[rule.id] = rule
            for slot in hit.get("fields", {}).get("_percolator_document_slot", []):
                matches.by_article.setdefault(articles[slot].id, []).append(rule.id)
        if len(page) < page_size:
            break
        after = page[-1]["sort"]
    for rule_ids in matches.by_article.values():
        rule_ids.sort()
    return matches


class _StaleMapping(StoreError):
    """A percolated article has a field the rules index does not map yet."""


def _percolate_page(
    es: store.Client,
    names: IndexNames,
    documents: list[dict[str, Any]],
    after: list[Any] | None,
    page_size: int,
) -> list[dict[str, Any]]:
    body: dict[str, Any] = {
        "query": {"percolate": {"field": "query", "documents": documents}},
        "_source": ["rule"],
        "sort": [{"rule.id": "asc"}],
        "size": page_size,
        "track_total_hits": False,
    }
    if after:
        body["search_after"] = after
    try:
        response = es.options(ignore_status=404).search(index=names.rules, **body)
    except store.ApiError as exc:
        reason = str(exc)
        if "strict_dynamic_mapping" in reason or "mapper_parsing" in reason:
            raise _StaleMapping(reason) from None
        raise StoreError(f"percolating a batch failed: {reason}") from None
    if response.meta.status == 404:  # no rules index yet: no rules
        return []
    return list(response["hits"]["hits"])
