"""Related coverage (`mediamon related`): an article's story, and other articles like it.

The story is every article with its `story_id` (its copies, their outlets and dates, see
`ingest.stories.batch`); related articles are found by more_like_this over the text, in
the article's own language first. Rendering is the CLI's (`ingest.cli.render.stories`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ingest.store import Client, IndexNames, StoredArticle, article_groups
from ingest.store.language_fields import NEUTRAL, group_of

__all__ = ["Coverage", "RelatedCoverage", "mlt_fields", "related_coverage"]

_LISTED_FIELDS = [
    "title",
    "source",
    "language",
    "published_at",
    "first_seen_at",
    "url",
    "story_id",
    "duplicate_of",
    "duplicate_similarity",
]
# Puts articles in the language of the one asked about first; the score orders within each.
_SAME_LANGUAGE_FIRST = (
    "doc['language'].size() > 0 && doc['language'].value == params.language ? 1 : 0"
)


@dataclass(frozen=True)
class Coverage:
    """One article in a listing of related coverage."""

    id: str
    title: str
    source: str
    language: str
    published_at: str
    url: str
    relation: str  # "original", "exact copy", "near copy (0.82)", "related"
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RelatedCoverage:
    """The story an article belongs to (the other copies) and other articles like it."""

    article: Coverage
    story_id: str
    story: list[Coverage]  # the other articles of its story, oldest first
    sources: list[str]  # every outlet that carried the story, this article's included
    related: list[Coverage]  # more_like_this, same language first, the story left out

    def to_dict(self) -> dict[str, Any]:
        return {
            "article": self.article.to_dict(),
            "story": {
                "id": self.story_id,
                "size": len(self.story) + 1,
                "outlets": len(self.sources),
                "sources": self.sources,
                "articles": [c.to_dict() for c in self.story],
            },
            "related": [c.to_dict() for c in self.related],
        }


def related_coverage(
    es: Client, names: IndexNames, article: StoredArticle, limit: int = 10
) -> RelatedCoverage:
    """Its story's other articles, with their sources and dates, and related articles."""
    source = article.source
    story_id = source.get("story_id") or article.id
    story = _story_members(es, names, story_id, article.id)
    sources = sorted({str(source.get("source", "")), *(c.source for c in story)} - {""})
    related = _more_like_this(es, names, article, story_id, limit)
    return RelatedCoverage(_coverage(article.id, source), story_id, story, sources, related)


def _story_members(es: Client, names: IndexNames, story_id: str, exclude: str) -> list[Coverage]:
    response = es.search(
        index=names.articles,
        query={
            "bool": {
                "filter": [{"term": {"story_id": story_id}}],
                "must_not": [{"ids": {"values": [exclude]}}],
            }
        },
        sort=[{"first_seen_at": "asc"}, {"published_at": "asc"}],
        size=500,
        source_includes=_LISTED_FIELDS,
    )
    return [_coverage(hit["_id"], hit["_source"]) for hit in response["hits"]["hits"]]


def _more_like_this(
    es: Client, names: IndexNames, article: StoredArticle, story_id: str, limit: int
) -> list[Coverage]:
    """more_like_this over the article's text; copies of the same story are listed apart.

    Articles in the same language are compared through that language's analyzer; articles
    in other languages (which lack its `text.<group>`, see `ingest.store.language_fields`)
    through the neutral fields, e.g. a report in English quoting a Dutch one at length.
    """
    language = str(article.source.get("language", ""))
    like = {
        "bool": {
            "should": [_mlt_query(article, fields) for fields in mlt_fields(language)],
            "minimum_should_match": 1,
        }
    }
    response = es.search(
        index=names.articles,
        query={
            "bool": {
                "must": [like],
                "must_not": [{"ids": {"values": [article.id]}}, {"term": {"story_id": story_id}}],
            }
        },
        sort=[
            {
                "_script": {
                    "type": "number",
                    "order": "desc",
                    "script": {"source": _SAME_LANGUAGE_FIRST, "params": {"language": language}},
                }
            },
            "_score",
        ],
        track_scores=True,
        size=limit,
        source_includes=_LISTED_FIELDS,
    )
    return [
        replace(_coverage(hit["_id"], hit["_source"], "related"), score=hit.get("_score"))
        for hit in response["hits"]["hits"]
    ]


def _mlt_query(article: StoredArticle, fields: list[str]) -> dict[str, Any]:
    return {
        "more_like_this": {
            "fields": fields,
            "like": [{"_index": article.index, "_id": article.id}],
            "min_term_freq": 1,
            # A term must occur in another article too, or it cannot find one.
            "min_doc_freq": 2,
            "max_query_terms": 40,
            "minimum_should_match": "30%",
        }
    }


_NEUTRAL_FIELDS = ["title", "summary", "body"]


def mlt_fields(language: str) -> list[list[str]]:
    """The fields to compare an article in `language` with others through: title, summary
    and body as analysed for its language (only articles in its language group have them),
    and the language-neutral ones (every article has them).

    The language's own analyzer drops its stop words and stems; the neutral fields find
    other languages' articles that share many of its words (a quoted passage). The summary
    counts for articles kept from their feed only (no body).
    """
    group = group_of(language, article_groups())
    if group == NEUTRAL:
        return [_NEUTRAL_FIELDS]
    return [[f"text.{group}.{field}" for field in _NEUTRAL_FIELDS], _NEUTRAL_FIELDS]


def _coverage(doc_id: str, source: dict[str, Any], relation: str | None = None) -> Coverage:
    return Coverage(
        id=doc_id,
        title=str(source.get("title", "")),
        source=str(source.get("source", "")),
        language=str(source.get("language", "")),
        published_at=str(source.get("published_at", "")),
        url=str(source.get("url", "")),
        relation=relation or _relation(doc_id, source),
    )


def _relation(doc_id: str, source: dict[str, Any]) -> str:
    if not source.get("duplicate_of"):
        return "original" if (source.get("story_id") or doc_id) == doc_id else "—"
    similarity = source.get("duplicate_similarity")
    if similarity is not None and similarity >= 1.0:
        return "exact copy"
    return f"near copy ({similarity:.2f})" if similarity is not None else "near copy"
