"""What changed on a spike day: the explanation a volume-spike alert carries.

A spike alert says how many; the next question is why. For a rule's matches published on
the spike day, `explain_spike` gives

- the terms that stand out against the rule's matches of the whole window (the baseline
  days and the spike day), from `ingest.analysis.attention.terms_against`: Elasticsearch's
  `significant_text` over the day's matches, reprinted passages counted once, the
  stopwords of the matches' languages (jusText's lists) left out;
- the day's largest stories, by the number of outlets that carried them, each with its
  first article;
- the day's top sources.

`explanation_lines` renders it as text: `mediamon alerts spikes`, the demo and the
messages (`ingest.alerts.notify`) all print these lines, so they say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ingest import store
from ingest.analysis.attention import terms_against
from ingest.analysis.trends import aggregate_articles
from ingest.store import IndexNames

__all__ = ["SpikeExplanation", "explain_spike", "explanation_lines"]

TERMS = 8
STORIES = 3
SOURCES = 5
# What an alert shows of one article: a spike's story's first article, a story alert's
# newest copy (`ingest.alerts.record`).
ARTICLE_FIELDS = ("title", "url", "source", "published_at")


@dataclass(frozen=True)
class SpikeExplanation:
    """The day's standing-out terms, largest stories and top sources (plain dicts: they go
    into the alert document and the messages as they are)."""

    terms: list[dict[str, Any]] = field(default_factory=list)  # term, matching, background, score
    stories: list[dict[str, Any]] = field(default_factory=list)  # story_id, outlets, articles, …
    sources: list[dict[str, Any]] = field(default_factory=list)  # source, count

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def terms_named(self, limit: int = TERMS) -> list[str]:
        return [str(term["term"]) for term in self.terms[:limit]]


def explain_spike(
    es: store.Client,
    names: IndexNames,
    rule_query: Mapping[str, Any],
    window_from: datetime,
    day_from: datetime,
    until: datetime,
    label: str = "spike",
) -> SpikeExplanation:
    """Why the rule's matches published in [day_from, until) stand out from its matches in
    [window_from, until): two searches for the terms (`terms_against`), one for the stories
    and sources."""
    day = _published(rule_query, day_from, until)
    window = _published(rule_query, window_from, until)
    _, terms = terms_against(es, names, day, window, label, size=TERMS)
    aggs = {
        "stories": {
            "terms": {
                "field": "story_id",
                "size": STORIES,
                "order": [{"outlets": "desc"}, {"_count": "desc"}],
            },
            "aggs": {
                "outlets": {"cardinality": {"field": "source"}},
                "first": {"top_hits": {
                    "size": 1, "sort": [{"first_seen_at": "asc"}],
                    "_source": {"includes": list(ARTICLE_FIELDS)},
                }},
            },
        },
        "sources": {"terms": {"field": "source", "size": SOURCES}},
    }  # fmt: skip
    body = aggregate_articles(es, names, day, aggs, label, "day")
    found = body.get("aggregations", {})
    return SpikeExplanation(
        terms=[
            {"term": t.term, "matching": t.matching, "background": t.background, "score": t.score}
            for t in terms
        ],
        stories=[_story(b) for b in found.get("stories", {}).get("buckets", [])],
        sources=[
            {"source": str(b["key"]), "count": int(b["doc_count"])}
            for b in found.get("sources", {}).get("buckets", [])
        ],
    )


def _published(query: Mapping[str, Any], start: datetime, end: datetime) -> dict[str, Any]:
    period = {"range": {"published_at": {"gte": start.isoformat(), "lt": end.isoformat()}}}
    return {"bool": {"must": [dict(query)], "filter": [period]}}


def _story(bucket: Mapping[str, Any]) -> dict[str, Any]:
    hits = bucket["first"]["hits"]["hits"]
    first = hits[0]["_source"] if hits else {}
    return {
        "story_id": str(bucket["key"]),
        "outlets": int(bucket["outlets"]["value"]),
        "articles": int(bucket["doc_count"]),
        **{key: first.get(key) for key in ARTICLE_FIELDS},
    }


def explanation_lines(explanation: Mapping[str, Any] | None) -> list[str]:
    """The explanation as a few lines of text (empty when there is none)."""
    if not explanation:
        return []
    lines = []
    terms = [str(t["term"]) for t in explanation.get("terms") or []]
    if terms:
        lines.append("what stands out: " + ", ".join(terms))
    stories = explanation.get("stories") or []
    if stories:
        lines.append("largest stories:")
        lines += [
            f"  {s.get('title') or s['story_id']} — {s.get('source') or ''} "
            f"({_count(s['outlets'], 'outlet')}, {_count(s['articles'], 'article')})"
            for s in stories
        ]
    sources = explanation.get("sources") or []
    if sources:
        lines.append("top sources: " + ", ".join(f"{s['source']} {s['count']}" for s in sources))
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
