"""Attention analysis: how much of all coverage a query gets, and what it says.

The questions researchers ask of a news archive (the reference is Media Cloud's search):
not only "how many articles", but "what share of everything published", "how do two
framings compare", "who carries it", and "what are they talking about". Each answer is one
or two Elasticsearch aggregations; nothing here scans hits on the client.

- `compare_queries`: several named queries over the same intervals, each interval's count
  per query and the number of all articles under the same filters (its share's whole),
  from one `date_histogram` with a `filters` sub-aggregation;
- `breakdown`: matching articles by source, language, domain or feed, the top values with
  "other" and the articles without a value, plus a sample of representative articles, one
  per story (`collapse` on `story_id`);
- `significant_terms`: the words that set matching coverage apart from all coverage in the
  same period (`significant_text` over a sample of the best matches, reprinted passages
  counted once, the stopwords of the matches' languages left out), each with the stories
  it comes from.

`mediamon trend --normalize` (ingest.analysis.trends) gives the single-query share over time.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from ingest.analysis.search import SearchFilters, build_query, text_query
from ingest.analysis.trends import aggregate_articles, bucket_time, date_histogram, share
from ingest.errors import ConfigError
from ingest.store import Client, IndexNames

__all__ = [
    "BREAKDOWN_FIELDS",
    "Breakdown",
    "Comparison",
    "Term",
    "breakdown",
    "compare_queries",
    "parse_named_queries",
    "significant_terms",
    "terms_against",
]

BREAKDOWN_FIELDS = {"source": "source", "language": "language", "domain": "domain", "feed": "feeds"}
NO_FILTERS = SearchFilters()
SAMPLE_FIELDS = ["title", "source", "language", "published_at", "url", "story_id", "story_outlets"]
# ISO 639-1 code -> jusText's stoplist name; jusText comes with trafilatura, and its lists
# are the ones the extraction already trusts to tell prose from boilerplate.
_STOPLISTS = {
    "af": "Afrikaans",
    "ar": "Arabic",
    "bg": "Bulgarian",
    "ca": "Catalan",
    "cs": "Czech",
    "da": "Danish",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "et": "Estonian",
    "fa": "Persian",
    "fi": "Finnish",
    "fr": "French",
    "he": "Hebrew",
    "hr": "Croatian",
    "hu": "Hungarian",
    "id": "Indonesian",
    "it": "Italian",
    "lt": "Lithuanian",
    "lv": "Latvian",
    "nl": "Dutch",
    "no": "Norwegian_Bokmal",
    "pl": "Polish",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "sk": "Slovak",
    "sl": "Slovenian",
    "sr": "Serbian",
    "sv": "Swedish",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "vi": "Vietnamese",
}


# -- compare --------------------------------------------------------------------------------


@dataclass
class Interval:
    key: datetime
    all_count: int  # every article of the interval under the filters: the shares' whole
    counts: dict[str, int]  # per named query

    @property
    def iso(self) -> str:
        return self.key.isoformat().replace("+00:00", "Z")

    def share(self, name: str) -> float | None:
        return share(self.counts.get(name, 0), self.all_count)


@dataclass
class Comparison:
    queries: dict[str, str]  # name -> query, in the user's order
    interval: str
    intervals: list[Interval]
    totals: dict[str, int]  # matches per query over the whole range
    all_total: int


def parse_named_queries(specs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`name=query` (or a bare query, named after itself) -> {name: query}, names unique."""
    queries: dict[str, str] = {}
    for spec in specs:
        name, sep, query = spec.partition("=")
        name, query = (name.strip(), query.strip()) if sep else (spec.strip(), spec.strip())
        if sep and (not name or " " in name or '"' in name):  # `"a=b" OR c` is a query
            name, query = spec.strip(), spec.strip()
        if not query:
            raise ConfigError(f"{spec!r}: the query after '=' is empty")
        if name in queries:
            raise ConfigError(f"two queries are named {name!r}: give each its own name=")
        queries[name] = query
    if len(queries) < 2:
        raise ConfigError("compare needs at least two queries (name=query ...)")
    return queries


def compare_queries(
    es: Client,
    names: IndexNames,
    queries: dict[str, str],
    interval: str = "day",
    filters: SearchFilters = NO_FILTERS,
) -> Comparison:
    """Each query's count per interval, and all articles per interval, in one search."""
    per_query = {"filters": {"filters": {n: text_query(q) for n, q in queries.items()}}}
    aggs = {
        "over_time": {
            "date_histogram": date_histogram(interval, filters.since, filters.until),
            "aggs": {"queries": per_query},
        },
        "queries": per_query,
    }
    body = aggregate_articles(
        es, names, build_query("", filters), aggs, " / ".join(queries), interval
    )
    result = body.get("aggregations", {})
    intervals = [
        Interval(
            bucket_time(b["key"]),
            b["doc_count"],
            {n: b["queries"]["buckets"][n]["doc_count"] for n in queries},
        )
        for b in result.get("over_time", {}).get("buckets", [])
    ]
    totals = {
        n: result.get("queries", {}).get("buckets", {}).get(n, {}).get("doc_count", 0)
        for n in queries
    }
    return Comparison(queries, interval, intervals, totals, _total(body))


# -- breakdown ------------------------------------------------------------------------------


@dataclass
class Share:
    value: str
    count: int
    share: float | None  # of the matching articles


@dataclass
class Breakdown:
    query: str
    by: str
    total: int  # matching articles
    values: list[Share]  # the top values, then "other" and "(none)" when they count any
    sample: list[dict[str, Any]] = field(default_factory=list)  # one article per story


OTHER = "other"
NONE = "(none)"


def breakdown(
    es: Client,
    names: IndexNames,
    query: str,
    by: str,
    filters: SearchFilters = NO_FILTERS,
    top: int = 10,
    sample: int = 0,
) -> Breakdown:
    """Matching articles per value of `by` (top `top`, the rest as "other"), and `sample`
    representative articles: the best match of each story, so one reprint does not fill it."""
    if by not in BREAKDOWN_FIELDS:
        raise ConfigError(f"--by must be one of {', '.join(BREAKDOWN_FIELDS)}")
    field_name = BREAKDOWN_FIELDS[by]
    aggs = {
        "values": {"terms": {"field": field_name, "size": top}},
        "without": {"missing": {"field": field_name}},
    }
    extra: dict[str, Any] = {}
    if sample:
        extra = {
            "collapse": {"field": "story_id"},
            "source_includes": SAMPLE_FIELDS,
            "sort": ["_score", {"published_at": "desc"}],
        }
    body = aggregate_articles(
        es, names, build_query(query, filters), aggs, query, "day", sample, extra
    )
    total = _total(body)
    result = body.get("aggregations", {})
    values_agg = result.get("values", {})
    values = [
        Share(str(b["key"]), b["doc_count"], share(b["doc_count"], total))
        for b in values_agg.get("buckets", [])
    ]
    rest = values_agg.get("sum_other_doc_count", 0)
    if rest:
        values.append(Share(OTHER, rest, share(rest, total)))
    without = result.get("without", {}).get("doc_count", 0)
    if without:
        values.append(Share(NONE, without, share(without, total)))
    hits = [dict(h["_source"], id=h["_id"]) for h in body.get("hits", {}).get("hits", [])]
    return Breakdown(query, by, total, values, hits)


# -- significant terms ----------------------------------------------------------------------


@dataclass
class Term:
    term: str
    matching: int  # articles in the sample that use it
    background: int  # articles of all coverage in the period that use it
    score: float
    stories: list[dict[str, Any]]  # a few articles it comes from, one per story


def significant_terms(
    es: Client,
    names: IndexNames,
    query: str,
    filters: SearchFilters = NO_FILTERS,
    size: int = 20,
    sample: int = 500,
) -> tuple[int, list[Term]]:
    """(matching articles, the `size` terms that set them apart from all coverage under the
    same filters). `significant_text` re-analyses the text of the best `sample` matches per
    shard with the neutral analyzer (lowercased, accents folded) and counts a passage repeated
    across reprints once (`filter_duplicate_text`)."""
    if not query.strip():
        raise ConfigError("terms needs a query: it compares matching coverage with the rest")
    matching = build_query(query, filters)
    return terms_against(es, names, matching, build_query("", filters), query, size, sample)


def terms_against(
    es: Client,
    names: IndexNames,
    matching: dict[str, Any],
    background: dict[str, Any],
    label: str,
    size: int = 20,
    sample: int = 500,
) -> tuple[int, list[Term]]:
    """(articles `matching`, the `size` terms that set them apart from the `background`
    articles): `significant_terms` with the two sides given as queries. The spike
    explanation (`ingest.alerts.explanation`) compares a rule's matches of one day with its
    matches of the weeks before this way."""
    languages = _languages(es, names, matching, label)
    aggs = {
        "sample": {
            "sampler": {"shard_size": sample},
            "aggs": {
                "terms": {
                    "significant_text": {
                        "field": "body",
                        "size": size,
                        "filter_duplicate_text": True,
                        "min_doc_count": 2,
                        "background_filter": background,
                        "exclude": sorted(stopwords(languages)),
                    },
                }
            },
        }
    }
    body = aggregate_articles(es, names, matching, aggs, label, "day")
    buckets = body.get("aggregations", {}).get("sample", {}).get("terms", {}).get("buckets", [])
    stories = _stories_of(es, names, matching, [str(b["key"]) for b in buckets], label)
    terms = [
        Term(
            str(b["key"]),
            b["doc_count"],
            b.get("bg_count", 0),
            round(float(b.get("score", 0.0)), 4),
            stories.get(str(b["key"]), []),
        )
        for b in buckets
    ]
    return _total(body), terms


def _stories_of(
    es: Client,
    names: IndexNames,
    matching: dict[str, Any],
    terms: list[str],
    label: str,
) -> dict[str, list[dict[str, Any]]]:
    """For each term, the best matching articles that use it, one per story: one search with
    a filter per term (`significant_text` takes no sub-aggregations)."""
    if not terms:
        return {}
    per_term = {
        "filters": {"filters": {t: {"term": {"body": t}} for t in terms}},
        "aggs": {"best": {"top_hits": {"size": 5, "_source": {"includes": SAMPLE_FIELDS}}}},
    }
    body = aggregate_articles(es, names, matching, {"terms": per_term}, label, "day")
    buckets = body.get("aggregations", {}).get("terms", {}).get("buckets", {})
    return {t: _one_per_story(b["best"]["hits"]["hits"]) for t, b in buckets.items()}


def _languages(es: Client, names: IndexNames, matching: dict[str, Any], label: str) -> list[str]:
    aggs = {"languages": {"terms": {"field": "language", "size": 10}}}
    body = aggregate_articles(es, names, matching, aggs, label, "day")
    buckets = body.get("aggregations", {}).get("languages", {}).get("buckets", [])
    return [str(b["key"]) for b in buckets]


@cache
def _stoplist(language: str) -> frozenset[str]:
    import justext

    name = _STOPLISTS.get(language)
    if name is None:
        return frozenset()
    # As the neutral analyzer indexes them: lower case, accents folded.
    return frozenset(_fold(word) for word in justext.get_stoplist(name))


def stopwords(languages: list[str]) -> set[str]:
    """The stopwords of these languages, as the neutral `body` field holds its terms."""
    words: set[str] = set()
    for language in languages:
        words |= _stoplist(language)
    return words


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _one_per_story(hits: list[dict[str, Any]], limit: int = 3) -> list[dict[str, Any]]:
    seen: set[str] = set()
    stories = []
    for hit in hits:
        source = dict(hit["_source"], id=hit["_id"])
        story = str(source.get("story_id") or hit["_id"])
        if story not in seen:
            seen.add(story)
            stories.append(source)
    return stories[:limit]


# -- one search -----------------------------------------------------------------------------


def _total(body: dict[str, Any]) -> int:
    return int(body.get("hits", {}).get("total", {}).get("value", 0))
