"""What the CLI looks up: the synced rules with their counts, a rule tried on the indexed
articles, and the alert history."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ingest import store
from ingest.alerts.rules import Rule, article_query
from ingest.alerts.sync import stored_rules
from ingest.analysis.search import SearchHit, date_bound, search_hit
from ingest.models import AlertHit
from ingest.store import IndexNames


@dataclass(frozen=True)
class RuleSummary:
    rule: Rule
    articles: int  # indexed articles whose `rules` holds this rule
    alerts: Mapping[str, int]  # by status

    def to_dict(self) -> dict[str, Any]:
        meta = self.rule._meta()
        meta["notify"] = [f"{t.type}:{t.key}" for t in self.rule.notify]
        return {**meta, "articles": self.articles, "alerts": dict(self.alerts)}


def list_rules(es: store.Client, names: IndexNames) -> list[RuleSummary]:
    """The synced rules with how many articles each matched and its alerts by status."""
    rules = stored_rules(es, names)
    matched = es.options(ignore_status=404).search(
        index=names.articles, size=0,
        aggs={"rules": {"terms": {"field": "rules", "size": max(10, len(rules))}}},
    )  # fmt: skip
    buckets = matched.get("aggregations", {}).get("rules", {}).get("buckets", [])
    articles = {bucket["key"]: bucket["doc_count"] for bucket in buckets}
    states = es.options(ignore_status=404).search(
        index=names.alerts, size=0,
        aggs={"rules": {"terms": {"field": "rule_id", "size": max(10, len(rules))},
                        "aggs": {"status": {"terms": {"field": "status"}}}}},
    )  # fmt: skip
    alerts: dict[str, dict[str, int]] = defaultdict(dict)
    for bucket in states.get("aggregations", {}).get("rules", {}).get("buckets", []):
        for status in bucket["status"]["buckets"]:
            alerts[bucket["key"]][status["key"]] = status["doc_count"]
    return [RuleSummary(r, articles.get(r.id, 0), alerts.get(r.id, {})) for r in rules]


def test_rule(
    es: store.Client,
    names: IndexNames,
    rule: Rule,
    since: str | None = None,
    limit: int = 10,
) -> tuple[int, list[SearchHit]]:
    """What `rule` matches among the indexed articles, as percolation would have matched
    them: for writing and tuning rules. Best matches first; newest first among equals."""
    clauses = [article_query(rule)]
    if since:
        clauses.append({"range": {"published_at": {"gte": date_bound(since)}}})
    response = es.options(ignore_status=404).search(
        index=names.articles,
        query={"bool": {"filter": clauses[1:], "must": clauses[:1]}},
        size=limit,
        sort=["_score", {"published_at": "desc"}],
        source_includes=["published_at", "source", "language", "title", "url", "summary"],
        highlight={"fields": {"body": {}, "title": {}, "summary": {}, "text.*": {}},
                   "require_field_match": False, "fragment_size": 160, "number_of_fragments": 1},
        track_total_hits=True,
    )  # fmt: skip
    hits = response.get("hits", {})
    return hits.get("total", {}).get("value", 0), [search_hit(h) for h in hits.get("hits", [])]


test_rule.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def alert_history(
    es: store.Client,
    names: IndexNames,
    rule_id: str | None = None,
    status: str | None = None,
    run_id: str | None = None,
    limit: int = 50,
) -> list[AlertHit]:
    """The newest alerts first, optionally of one rule, status or run."""
    filters = [
        {"term": {key: value}}
        for key, value in (("rule_id", rule_id), ("status", status), ("run_id", run_id))
        if value
    ]
    es.options(ignore_status=404).indices.refresh(index=names.alerts)
    response = es.options(ignore_status=404).search(
        index=names.alerts,
        query={"bool": {"filter": filters}},
        sort=[{"created_at": "desc"}, {"alert_id": "asc"}],
        size=limit,
    )
    return [AlertHit.from_document(h["_source"]) for h in response.get("hits", {}).get("hits", [])]
