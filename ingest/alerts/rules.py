"""The rules file: `Rule` and `Spike`, and reading, parsing and checking the file's shape.

A rule is a query in Kibana's query-string syntax over the same fields as `mediamon search`
(`search.text_query`: title, summary, body and their per-language copies under `text`, so a
Dutch rule is stemmed the Dutch way), optionally restricted to languages and sources. The
restriction is part of the stored percolator query (a `bool` filter on the percolated
document's `language` and `source`), not a filter on the rule documents: one percolate
carries many articles, of several sources, and only the percolator itself sees each
document on its own. `article_query` asks the same of indexed articles.

Whether each query parses and names known fields is Elasticsearch's verdict, asked by
`ingest.alerts.sync.validate_rules`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ingest.alerts.notify import Target, parse_targets
from ingest.analysis.query_syntax import syntax_problem
from ingest.analysis.search import text_query
from ingest.config import load_yaml_list
from ingest.errors import ConfigError

RULE_KEYS = {"id", "name", "query", "languages", "sources", "tags", "notify", "spike", "per"}
PER = ("story", "article")  # what one alert of a rule stands for; the first is the default
SPIKE_KEYS = {"factor", "min_count"}
_RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")


@dataclass(frozen=True)
class Spike:
    """Alert when the last day's matches exceed `factor` × the daily mean of the 14 days
    before, and are at least `min_count`."""

    factor: float = 3.0
    min_count: int = 5


@dataclass(frozen=True)
class Rule:
    """One alert rule, as validated from the rules file or read back from the rules index."""

    id: str
    query: str
    name: str = ""
    languages: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    notify: tuple[Target, ...] = ()
    spike: Spike | None = None
    per: str = "story"  # one alert per story (its copies join it), or "article"

    @property
    def title(self) -> str:
        return self.name or self.id

    def percolator_query(self) -> dict[str, Any]:
        """The query stored in `mediamon-rules`: the text query and the rule's restrictions."""
        filters: list[dict[str, Any]] = []
        if self.languages:
            filters.append({"terms": {"language": list(self.languages)}})
        if self.sources:
            filters.append({"terms": {"source": list(self.sources)}})
        return {"bool": {"must": [text_query(self.query)], "filter": filters}}

    def to_document(self, mapping_fingerprint: str, synced_at: datetime) -> dict[str, Any]:
        meta = self._meta()
        digest = json.dumps([meta, mapping_fingerprint], sort_keys=True)
        meta["hash"] = hashlib.sha256(digest.encode()).hexdigest()[:32]
        meta["synced_at"] = synced_at.isoformat()
        return {"query": self.percolator_query(), "rule": meta}

    def _meta(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "query": self.query,
            "languages": list(self.languages),
            "sources": list(self.sources),
            "tags": list(self.tags),
            "notify": [target.to_spec() for target in self.notify],
            "spike": None if self.spike is None else self.spike.__dict__.copy(),
            "per": self.per,
        }

    @classmethod
    def from_document(cls, meta: Mapping[str, Any]) -> Rule:
        spike = meta.get("spike")
        return cls(
            id=meta["id"],
            query=meta["query"],
            name=meta.get("name") or "",
            languages=tuple(meta.get("languages") or ()),
            sources=tuple(meta.get("sources") or ()),
            tags=tuple(meta.get("tags") or ()),
            notify=tuple(Target.from_spec(spec) for spec in meta.get("notify") or ()),
            spike=Spike(**spike) if spike else None,
            per=meta.get("per") or PER[0],
        )


def load_rules(path: Path) -> list[Rule]:
    """Read and check a rules file: `rules: [{id, name?, query, languages?, sources?, tags?,
    notify?, spike?, per?}]`. Every problem is raised at once in one `ConfigError` naming each rule.

    This checks the file's shape; whether each query parses and names known fields is
    Elasticsearch's verdict, asked by `validate_rules` (and so by `sync_rules`).
    """
    rules, problems = _read_rules(path)
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))
    return rules


def _read_rules(path: Path) -> tuple[list[Rule], list[str]]:
    items, data = load_yaml_list(path, "rules", "the rules file")
    unknown = sorted(set(data) - {"rules"})
    problems = [f"unknown top-level key {key!r}" for key in unknown]
    rules, rule_problems = parse_rules(items)
    return rules, problems + rule_problems


def parse_rules(items: Sequence[Any]) -> tuple[list[Rule], list[str]]:
    """Rules from the parsed YAML list, and every problem (missing or duplicate id, ...)."""
    rules: list[Rule] = []
    problems: list[str] = []
    counts = Counter(item.get("id") for item in items if isinstance(item, dict))
    for position, item in enumerate(items, start=1):
        rule, item_problems = _parse_rule(item, position)
        if rule is not None and counts[rule.id] > 1:
            item_problems.append(f"rule {rule.id!r}: duplicate id (#{position})")
            rule = None
        problems += item_problems
        if rule is not None:
            rules.append(rule)
    return rules, problems


def _parse_rule(item: Any, position: int) -> tuple[Rule | None, list[str]]:
    if not isinstance(item, dict):
        return None, [f"rule #{position}: expected a mapping, got {type(item).__name__}"]
    rule_id = item.get("id")
    label = f"rule {rule_id!r}" if isinstance(rule_id, str) and rule_id else f"rule #{position}"
    problems = [f"{label}: unknown key {key!r}" for key in sorted(set(item) - RULE_KEYS)]
    if rule_id is None or rule_id == "":
        problems.append(f"{label}: missing id")
    elif not isinstance(rule_id, str) or not _RULE_ID.match(rule_id):
        problems.append(f"{label}: id must be letters, digits and _.:- (at most 128)")
    query = item.get("query")
    if not isinstance(query, str) or not query.strip():
        problems.append(f"{label}: missing query")
    elif problem := syntax_problem(query.strip()):  # NEAR/n; Elasticsearch judges the rest
        problems.append(f"{label}: {problem}")
    name = item.get("name", "")
    if not isinstance(name, str):
        problems.append(f"{label}: name must be a string")
    lists = {key: _string_list(item.get(key), f"{label}: {key}", problems)
             for key in ("languages", "sources", "tags")}  # fmt: skip
    problems += [f"{label}: language {code!r} is not a two-letter ISO 639-1 code"
                 for code in lists["languages"] if not _LANGUAGE.match(code)]  # fmt: skip
    targets, target_problems = parse_targets(item.get("notify"), label)
    problems += target_problems
    spike = _parse_spike(item.get("spike"), label, problems)
    per = item.get("per", PER[0])
    if per not in PER:
        problems.append(f"{label}: per must be one of {', '.join(PER)}")
    if problems:
        return None, problems
    assert isinstance(rule_id, str) and isinstance(query, str)
    return Rule(rule_id, query.strip(), name, tuple(lists["languages"]), tuple(lists["sources"]),
                tuple(lists["tags"]), tuple(targets), spike, per), []  # fmt: skip


def _string_list(value: Any, label: str, problems: list[str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems.append(f"{label} must be a list of strings")
        return []
    return list(value)


def _parse_spike(value: Any, label: str, problems: list[str]) -> Spike | None:
    if value is None or value is False:
        return None
    if value is True:
        return Spike()
    if not isinstance(value, dict):
        problems.append(f"{label}: spike must be true or a mapping with factor and min_count")
        return None
    problems += [f"{label}: spike: unknown key {k!r}" for k in sorted(set(value) - SPIKE_KEYS)]
    factor, min_count = value.get("factor", Spike.factor), value.get("min_count", Spike.min_count)
    if isinstance(factor, bool) or not isinstance(factor, int | float) or factor <= 1:
        problems.append(f"{label}: spike factor must be a number above 1")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        problems.append(f"{label}: spike min_count must be a whole number of at least 1")
    return Spike(float(factor), int(min_count)) if not problems else None


def article_query(rule: Rule) -> dict[str, Any]:
    """`rule` as a query over indexed articles that matches what percolation matches: the
    article indices and the rules index map the same fields (`include_fields_of`)."""
    restrictions = rule.percolator_query()["bool"]["filter"]
    return {"bool": {"must": [text_query(rule.query)], "filter": restrictions}}
