"""Searching indexed articles: the terminal equivalent of a Kibana Discover query.

Queries use the query-string syntax Kibana users already write (`"Poolse grens" OR
Loekasjenko`), over the language-neutral text fields and their per-language copies under
`text` (each article fills its own language's), so a Dutch query is stemmed the Dutch way
(`vluchteling` finds *vluchtelingen*). The `NEAR/n` and `ONEAR/n` proximity that users of
monitoring tools write is added by `ingest.analysis.query_syntax`, over the same fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ingest.analysis.query_syntax import proximity_query, uses_proximity
from ingest.errors import ConfigError
from ingest.store import BadRequestError, Client, IndexNames, article_groups
from ingest.store.language_fields import NEUTRAL

__all__ = [
    "SearchFilters",
    "SearchHit",
    "build_query",
    "date_bound",
    "query_string",
    "search_articles",
    "search_hit",
    "text_query",
]

# Neutral fields plus their per-language copies (see mappings/articles.json).
TEXT_FIELDS = ["title^3", "text.*.title^2", "summary^1.5", "text.*.summary", "body", "text.*.body"]
_RELATIVE = re.compile(r"^(\d+)([smhdwMy])$")


@dataclass(frozen=True)
class SearchFilters:
    languages: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    since: str | None = None  # ISO date/time, or relative: 24h, 7d, 2w
    until: str | None = None
    feeds: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchHit:
    id: str
    score: float
    published_at: str
    source: str
    language: str
    title: str
    url: str
    snippet: str  # with <em>…</em> around the matching words

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def text_query(query: str) -> dict[str, Any]:
    """The query over every text field; also used by alert rules. A query with NEAR/ONEAR
    is translated by `ingest.analysis.query_syntax` (and may raise its `QuerySyntaxError`);
    any other is one query-string query."""
    if uses_proximity(query):
        return proximity_query(query, proximity_fields(), query_string)
    return query_string(query)


def query_string(query: str) -> dict[str, Any]:
    """Kibana's query-string syntax over every text field."""
    return {
        "query_string": {
            "query": query,
            "fields": TEXT_FIELDS,
            "default_operator": "AND",
            "lenient": True,
        }
    }


def proximity_fields() -> dict[str, float]:
    """`TEXT_FIELDS` with each `text.*` spelled out per language group: an intervals query
    (a NEAR) names one field."""
    groups = [group for group in article_groups() if group != NEUTRAL]
    fields: dict[str, float] = {}
    for pattern in TEXT_FIELDS:
        name, _, boost = pattern.partition("^")
        for field_name in [name.replace("*", g) for g in groups] if "*" in name else [name]:
            fields[field_name] = float(boost or 1)
    return fields


def build_query(query: str, filters: SearchFilters) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = []
    if filters.languages:
        clauses.append({"terms": {"language": list(filters.languages)}})
    if filters.sources:
        clauses.append({"terms": {"source": list(filters.sources)}})
    if filters.feeds:
        clauses.append({"terms": {"feeds": list(filters.feeds)}})
    date_range = {
        key: date_bound(value)
        for key, value in (("gte", filters.since), ("lte", filters.until))
        if value
    }
    if date_range:
        clauses.append({"range": {"published_at": date_range}})
    must = [text_query(query)] if query.strip() else [{"match_all": {}}]
    return {"bool": {"must": must, "filter": clauses}}


def date_bound(value: str) -> str:
    """`7d` -> `now-7d`; an ISO date or date-time passes through; anything else is an error."""
    value = value.strip()
    if _RELATIVE.match(value):
        return f"now-{value}"
    try:
        if "T" in value or " " in value:
            datetime.fromisoformat(value)
        else:
            date.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{value!r} is not a date: use 2021-11-16, 2021-11-16T08:00:00 or 24h, 7d, 2w"
        ) from None
    return value


def search_articles(
    es: Client,
    names: IndexNames,
    query: str,
    filters: SearchFilters = SearchFilters(),
    limit: int = 10,
) -> tuple[int, list[SearchHit]]:
    """Total matches and the best `limit` hits, newest first among equals."""
    try:
        response = es.search(
            index=names.articles,
            query=build_query(query, filters),
            size=limit,
            sort=["_score", {"published_at": "desc"}],
            source_includes=["published_at", "source", "language", "title", "url", "summary"],
            highlight={
                "fields": {"body": {}, "text.*.body": {}, "title": {}, "summary": {}},
                "require_field_match": False,
                "fragment_size": 160,
                "number_of_fragments": 1,
            },
            track_total_hits=True,
        )
    except BadRequestError as exc:
        raise ConfigError(
            f"the query {query!r} was refused by Elasticsearch: {exc.message}"
        ) from None
    total = response["hits"]["total"]["value"]
    return total, [search_hit(hit) for hit in response["hits"]["hits"]]


def search_hit(hit: dict[str, Any]) -> SearchHit:
    """A search response's hit as a `SearchHit`, with its best highlighted snippet."""
    source = hit["_source"]
    highlight = hit.get("highlight", {})
    snippet = next(
        (
            fragments[0]
            for key in ("body", "summary", "title")
            for name, fragments in highlight.items()
            if name == key or name.endswith(f".{key}")  # body, text.nl.body
        ),
        source.get("summary", "")[:160],
    )
    return SearchHit(
        id=hit["_id"],
        score=float(hit.get("_score") or 0.0),
        published_at=source.get("published_at", ""),
        source=source.get("source", ""),
        language=source.get("language", ""),
        title=source.get("title", ""),
        url=source.get("url", ""),
        snippet=" ".join(snippet.split()),
    )
