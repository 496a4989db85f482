"""Alert rules: validate, sync to the percolator index, percolate batches, record hits, notify.

    rules file ─▶ load_rules (shape, ids, targets) ─▶ sync_rules (Elasticsearch validates each
    query; all or nothing) ─▶ `mediamon-rules`, one percolator document per rule

    a batch of new articles ─▶ percolate (one request: a multi-document percolate of the
    batch, each article with its own language's fields only) ─▶ Article.rules
      ─▶ bulk index (with `alerts_pending` on matched articles)
      ─▶ record_hits (one alert per rule and story, or per article; deterministic ids: a
         match alerts once, ever; a later copy joins its story's alert) ─▶ clear `alerts_pending`
    start of a run, and the maintenance DAG ─▶ record_missing_alerts (articles still marked)
    end of a run ─▶ deliver_pending (pending alerts, oldest first: earlier failures, then new)

A rule is a query in Kibana's query-string syntax over the same fields as `mediamon search`
(`search.text_query`: title, summary, body and their per-language copies under `text`, so a
Dutch rule is stemmed the Dutch way), optionally restricted to languages and sources. The
restriction is part of the stored percolator query (a `bool` filter on the percolated
document's `language` and `source`), not a filter on the rule documents: one percolate
carries many articles, of several sources, and only the percolator itself sees each
document on its own.

A rule alerts once per story by default (`per: story`): the alert's id is a hash of the
rule and the story (`story_id`, assigned before percolation by `ingest.stories`; stories are
never merged afterwards, so every later copy names the one the first match named). The
batch's matching copies are written as one scripted upsert per alert: it creates the alert
with them, or adds those it does not hold yet (outlets, count, latest copy; the article ids
it holds make a retry, a re-run or a recovered alert a no-op) without touching the delivery
state, so a copy never notifies. A rule with `per: article` keeps one document per (rule,
article), written with op_type=create: a retry, a re-run or the same article from a second
feed hits a 409 and alerts nobody. The notification state (`status` pending|sent|failed,
`attempts`, `last_error`, `sent_at`, one entry per target in `deliveries`) is updated by
the run that delivers it, which first takes a short lease on it (optimistic concurrency),
so parallel Airflow batches never send one alert twice, and saves the outcome as those
fields only, while the lease is still its own (copies joining meanwhile stay). A delivery
that fails transiently stays pending and the next run retries it; a permanent failure (a 404
webhook, a refused recipient) marks it failed, and `requeue_failed` puts it back once the
target is fixed.

A rule may also ask for a daily volume-spike alert (`check_spikes`): its matches published in
the last day against the daily mean of the 14 days before, with what changed that day
(`ingest.alerts.explanation`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from elasticsearch import ApiError, Elasticsearch, helpers

from ingest import store
from ingest.alerts.explanation import SpikeExplanation, explain_spike
from ingest.alerts.notify import DeliverySettings, Notifier, Target, parse_targets, redact
from ingest.analysis.query_syntax import QuerySyntaxError, syntax_problem
from ingest.analysis.search import SearchHit, date_bound, search_hit, text_query
from ingest.config import Settings
from ingest.errors import ConfigError, FetchError, StoreError
from ingest.fetch.client import HttpClient
from ingest.models import AlertHit, Article, RunReport, story_subject
from ingest.store import IndexNames

__all__ = [
    "Matches",
    "Rule",
    "Spike",
    "SpikeCheck",
    "SyncResult",
    "alert_history",
    "check_spikes",
    "deliver_pending",
    "get_rule",
    "list_rules",
    "load_rules",
    "notify_pending",
    "percolate",
    "record_hits",
    "record_missing_alerts",
    "requeue_failed",
    "sync_rules",
    "sync_rules_file",
    "test_rule",
    "validate_rules",
]

RULE_KEYS = {"id", "name", "query", "languages", "sources", "tags", "notify", "spike", "per"}
PER = ("story", "article")  # what one alert of a rule stands for; the first is the default
SPIKE_KEYS = {"factor", "min_count"}
_RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")
PERCOLATE_PAGE = 1000
PENDING_ARTICLES_PAGE = 100  # with their bodies (up to 200,000 characters each)
DELIVERY_PAGE = 200
LEASE_MARGIN = timedelta(minutes=2)  # stop sending this long before a lease runs out
SPIKE_DAYS = 14
SUMMARY_CHARS = 300
# A story alert keeps this many of its articles' ids (to add each copy once); a copy beyond
# them that is matched again (a re-run) may be counted twice.
STORY_IDS_KEPT = 5000


# -- rules ---------------------------------------------------------------------------------


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
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the rules file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise ConfigError(f"{path}: expected a mapping with a list under 'rules'")
    unknown = sorted(set(data) - {"rules"})
    problems = [f"unknown top-level key {key!r}" for key in unknown]
    rules, rule_problems = parse_rules(data["rules"])
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


# -- validation by Elasticsearch and sync ---------------------------------------------------

_UNMAPPED = re.compile(r"unmapped fields? \[([^\]]*)\]")
_LENIENT = re.compile(r'failed \[([^\]]*)\] query, caused by (.*?)"\)(?:\s|$)')
_RULE_FIELD = re.compile(r"(?<![\w.])(rule\.[\w.]+):")
_PARSE_ERROR = re.compile(r"(Cannot parse '.*?': [^\n]*)", re.DOTALL)


def validate_rules(es: Elasticsearch, names: IndexNames, rules: Iterable[Rule]) -> list[str]:
    """Ask Elasticsearch about each rule's query against the rules index's mapping (the
    article fields): one problem per rule whose query does not parse, names a field no
    article has, or cannot apply to a field (text in a number field)."""
    ensure_rules_index(es, names)
    problems = []
    for rule in rules:
        problem = _server_verdict(es, names, rule)
        if problem:
            problems.append(f"rule {rule.id!r}: {problem}")
    return problems


def _server_verdict(es: Elasticsearch, names: IndexNames, rule: Rule) -> str | None:
    try:
        response = es.indices.validate_query(
            index=names.rules, query=rule.percolator_query(), explain=True
        )
    except QuerySyntaxError as exc:  # a NEAR query, parsed before it is sent
        return str(exc)
    except ApiError as exc:
        return f"query refused by Elasticsearch: {exc.message}"
    for explanation in response.get("explanations", []):
        if not explanation.get("valid", response.get("valid")):
            error = str(explanation.get("error", "invalid query"))
            parse_error = _PARSE_ERROR.search(error)
            return f"query does not parse: {(parse_error.group(1) if parse_error else error)[:300]}"
        text = str(explanation.get("explanation", ""))
        unmapped = _UNMAPPED.search(text)
        if unmapped:
            name = unmapped.group(1)
            return f"unknown field {name} (not an article field){_renamed(name)}"
        lenient = _LENIENT.search(text)
        if lenient:
            return f"field {lenient.group(1)} cannot take this value: {lenient.group(2)[:200]}"
        own = _RULE_FIELD.search(text)
        if own:
            return f"unknown field {own.group(1)} (not an article field)"
    if not response.get("valid", False):
        return "query does not parse"
    return None


_OLD_LANGUAGE_FIELD = re.compile(r"^(title|summary|body)\.(\w+)$")


def _renamed(field_name: str) -> str:
    """A hint for the per-language subfields of mapping versions 1-3 (`title.nl`)."""
    old = _OLD_LANGUAGE_FIELD.match(field_name)
    return f"; since mapping version 4 it is text.{old[2]}.{old[1]}" if old else ""


def ensure_rules_index(es: Elasticsearch, names: IndexNames) -> None:
    """Create the rules and alerts indices if needed; add article fields that are new since.

    A changed analyzer cannot be applied to an existing index: that needs a new rules index
    (delete it and sync again: the file is the source of the rules).
    """
    if not es.indices.exists(index=names.rules) or not es.indices.exists(index=names.alerts):
        store.install_templates(es, names, templates=("rules", "alerts"))
    properties = store.load_template("rules", names)["template"]["mappings"]["properties"]
    try:
        es.indices.put_mapping(index=names.rules, properties=properties)
    except ApiError as exc:
        raise StoreError(
            f"{names.rules} cannot take the current article mapping ({exc.message}); "
            f"delete {names.rules} and sync the rules again"
        ) from None


@dataclass
class SyncResult:
    """What a sync changed, by rule id."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.created) + len(self.updated) + len(self.unchanged)


def sync_rules_file(es: Elasticsearch, names: IndexNames, path: Path) -> int:
    """Validate the whole file (shape and, by Elasticsearch, every query) and sync it.

    Refuses the file with one error naming every bad rule, changing nothing. Returns the
    number of rules now in the index (the Airflow maintenance task calls this).
    """
    return sync_rules_from(es, names, path).total


def sync_rules_from(es: Elasticsearch, names: IndexNames, path: Path) -> SyncResult:
    rules, problems = _read_rules(path)
    problems += validate_rules(es, names, rules)
    if problems:
        raise ConfigError(f"{path}: not synced, nothing changed: " + "; ".join(problems))
    return _write_rules(es, names, rules)


def sync_rules(es: Elasticsearch, names: IndexNames, rules: Sequence[Rule]) -> SyncResult:
    """Make the rules index hold exactly `rules`: validated first (all or nothing), then
    new and changed rules written, rules no longer listed removed."""
    problems = validate_rules(es, names, rules)
    if problems:
        raise ConfigError("rules not synced, nothing changed: " + "; ".join(problems))
    return _write_rules(es, names, rules)


def _write_rules(es: Elasticsearch, names: IndexNames, rules: Sequence[Rule]) -> SyncResult:
    template = store.load_template("rules", names)["template"]
    fingerprint = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    now = datetime.now(UTC)
    stored = _stored_hashes(es, names)
    result = SyncResult()
    actions: list[dict[str, Any]] = []
    for rule in rules:
        doc = rule.to_document(fingerprint, now)
        if stored.get(rule.id) != doc["rule"]["hash"]:
            (result.updated if rule.id in stored else result.created).append(rule.id)
            actions.append(_action("index", names.rules, rule.id, doc))
        else:
            result.unchanged.append(rule.id)
    for rule_id in sorted(set(stored) - {rule.id for rule in rules}):
        result.removed.append(rule_id)
        actions.append(_action("delete", names.rules, rule_id))
    failures = store.bulk_write(es, actions, label="alerts", ok_statuses=(404,)).failures
    if failures:
        raise StoreError(f"rules sync partly failed: {dict(failures)}")
    es.indices.refresh(index=names.rules)  # the next batch percolates against these rules
    return result


def _action(op: str, index: str, doc_id: str, doc: dict[str, Any] | None = None) -> dict[str, Any]:
    action = {"_op_type": op, "_index": index, "_id": doc_id}
    return action if doc is None else {**action, "_source": doc}


def _stored_hashes(es: Elasticsearch, names: IndexNames) -> dict[str, str]:
    es.indices.refresh(index=names.rules)
    return {
        hit["_id"]: hit["_source"].get("rule", {}).get("hash", "")
        for hit in helpers.scan(es, index=names.rules, _source=["rule.hash"])
    }


def get_rule(es: Elasticsearch, names: IndexNames, rule_id: str) -> Rule | None:
    response = es.options(ignore_status=404).get(index=names.rules, id=rule_id)
    if not response.get("found"):
        return None
    return Rule.from_document(response["_source"]["rule"])


def stored_rules(es: Elasticsearch, names: IndexNames) -> list[Rule]:
    """Every rule in the rules index, by id."""
    hits = helpers.scan(es, index=names.rules, _source=["rule"])
    return sorted((Rule.from_document(hit["_source"]["rule"]) for hit in hits), key=lambda r: r.id)


# -- percolation and hits --------------------------------------------------------------------
#
# Rules are percolated where they are stored, in the rules index, which maps the article
# fields. A percolated document is analysed through the fields it has: an article fills
# the neutral fields and its own language's `text.<group>` only (`ingest.store.language_fields`),
# so it pays for two analyzers, not fifteen, and one index serves every language. One
# multi-document percolate carries the batch: one request per batch.


@dataclass
class Matches:
    """Which rules each article of a batch matched (rule ids sorted), and those rules."""

    by_article: dict[str, list[str]] = field(default_factory=dict)
    rules: dict[str, Rule] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(ids) for ids in self.by_article.values())


def percolate(es: Elasticsearch, names: IndexNames, articles: Sequence[Article]) -> Matches:
    """Match a batch of articles against every rule: one multi-document percolate.

    More than `PERCOLATE_PAGE` matching rules are paged (rules sorted by id).
    """
    matches = Matches()
    if not articles:
        return matches
    documents = [store.article_document(article) for article in articles]
    after: list[Any] | None = None
    while True:
        try:
            page = _percolate_page(es, names, documents, after)
        except _StaleMapping:
            # Articles gained a field since the rules were synced: take the current article
            # mapping into the rules index (adding fields is always possible) and go on.
            ensure_rules_index(es, names)
            page = _percolate_page(es, names, documents, after)
        for hit in page:
            rule = Rule.from_document(hit["_source"]["rule"])
            matches.rules[rule.id] = rule
            for slot in hit.get("fields", {}).get("_percolator_document_slot", []):
                matches.by_article.setdefault(articles[slot].id, []).append(rule.id)
        if len(page) < PERCOLATE_PAGE:
            break
        after = page[-1]["sort"]
    for rule_ids in matches.by_article.values():
        rule_ids.sort()
    return matches


class _StaleMapping(StoreError):
    """A percolated article has a field the rules index does not map yet."""


def _percolate_page(
    es: Elasticsearch,
    names: IndexNames,
    documents: list[dict[str, Any]],
    after: list[Any] | None,
) -> list[dict[str, Any]]:
    body: dict[str, Any] = {
        "query": {"percolate": {"field": "query", "documents": documents}},
        "_source": ["rule"],
        "sort": [{"rule.id": "asc"}],
        "size": PERCOLATE_PAGE,
        "track_total_hits": False,
    }
    if after:
        body["search_after"] = after
    try:
        response = es.options(ignore_status=404).search(index=names.rules, **body)
    except ApiError as exc:
        reason = str(exc)
        if "strict_dynamic_mapping" in reason or "mapper_parsing" in reason:
            raise _StaleMapping(reason) from None
        raise StoreError(f"percolating a batch failed: {reason}") from None
    if response.meta.status == 404:  # no rules index yet: no rules
        return []
    return list(response["hits"]["hits"])


@dataclass
class HitOutcome:
    created: int = 0  # new alerts: these notify
    joined: int = 0  # story alerts that gained copies (another outlet, a later run): silent
    existing: int = 0  # already there with these articles: a retry, a re-run, another feed
    failures: Counter[str] = field(default_factory=Counter)
    existing_ids: set[str] = field(default_factory=set)
    # Articles with an alert for each of their rules now: their `alerts_pending` is cleared.
    settled: set[str] = field(default_factory=set)
    unsettled: set[str] = field(default_factory=set)  # left pending: the next run tries again


def record_hits(
    es: Elasticsearch,
    names: IndexNames,
    articles: Iterable[Article],
    matches: Matches,
    run_id: str,
    now: datetime | None = None,
    written: Mapping[str, str] | None = None,
) -> HitOutcome:
    """One alert per (rule, story) match (per (rule, article) for `per: article` rules),
    created once; a later copy of the story joins its alert without notifying again.

    The articles were indexed with `alerts_pending: true`; those now settled are marked so
    (`written`: article id -> index, where the bulk write put them). An article whose alert
    could not be written stays pending, and `record_missing_alerts` writes it later.
    """
    now = now or datetime.now(UTC)
    hits: dict[str, list[AlertHit]] = {}
    for article in articles:
        rule_ids = matches.by_article.get(article.id)
        if rule_ids:  # only these were marked
            document = article.to_document()
            hits[article.id] = [
                _hit(matches.rules[rule_id], article.id, document, run_id, now)
                for rule_id in rule_ids
            ]
    outcome = _write_alerts(es, names, hits, now)
    written = written or {}  # not those indexed meanwhile by another worker: its mark is its own
    _clear_pending(es, {i: written[i] for i in outcome.settled if i in written}, outcome)
    return outcome


def record_missing_alerts(
    es: Elasticsearch,
    names: IndexNames,
    run_id: str,
    report: RunReport | None = None,
    now: datetime | None = None,
) -> HitOutcome:
    """Create the alerts of indexed articles still marked `alerts_pending`, exactly once.

    Such an article was written, with its matches in `rules`, by a run whose alert write
    then failed (a blocked or unavailable alerts index) or never happened (a crash between
    the two writes): whatever the order, the mark is set with the article and cleared only
    once every alert of it exists. Alert ids are deterministic (rule and story, or rule and
    article) and an alert keeps the ids of the articles it holds, so an alert written before
    a crash is found, not doubled, and a copy is added to its story's alert once. A rule
    deleted since alerts no one. Every run does this first; so does the maintenance DAG.
    Counts go to `report` as alerts.recovered (new alerts), alerts.joined and
    alerts.already_recorded, failures as `alerts:<reason>`.
    """
    now = now or datetime.now(UTC)
    total = HitOutcome()
    rules: dict[str, Rule] | None = None
    after: list[Any] | None = None
    while True:
        page = _pending_articles(es, names, after)
        if not page:
            break
        after = page[-1]["sort"]
        if rules is None:  # no rules index: every rule is gone, the marks are cleared
            synced = stored_rules(es, names) if es.indices.exists(index=names.rules) else []
            rules = {rule.id: rule for rule in synced}
        hits = {
            hit["_id"]: [
                _hit(rules[rule_id], hit["_id"], hit["_source"], run_id, now)
                for rule_id in hit["_source"].get("rules") or []
                if rule_id in rules
            ]
            for hit in page
        }
        outcome = _write_alerts(es, names, hits, now)
        settled = {hit["_id"]: hit["_index"] for hit in page if hit["_id"] in outcome.settled}
        _clear_pending(es, settled, outcome)
        _add_outcome(total, outcome)
    if report is not None:
        report.count("alerts.recovered", total.created)
        if total.joined:
            report.count("alerts.joined", total.joined)
        report.count("alerts.already_recorded", total.existing)
        for reason, n in total.failures.items():
            report.fail(reason, n=n)
    return total


def _pending_articles(
    es: Elasticsearch, names: IndexNames, after: list[Any] | None
) -> list[dict[str, Any]]:
    """A page of the articles marked `alerts_pending`, oldest first."""
    body: dict[str, Any] = {
        "query": {"term": {"alerts_pending": True}},
        "_source": [
            "rules",
            "story_id",
            "title",
            "url",
            "source",
            "domain",
            "language",
            "published_at",
            "summary",
            "body",
        ],
        "sort": [{"first_seen_at": "asc"}, {"url": "asc"}],
        "size": PENDING_ARTICLES_PAGE,
    }
    if after:
        body["search_after"] = after
    # A cluster away or busy raises a transient StoreError at the boundary (ingest.store.boundary).
    response = es.options(ignore_status=404).search(index=names.articles, **body)
    return list(response.get("hits", {}).get("hits", []))


def _hit(
    rule: Rule, article_id: str, article: Mapping[str, Any], run_id: str, now: datetime
) -> AlertHit:
    """The alert of `rule` about an article (its document, as indexed or to be indexed).

    Per story, the subject is the story the article had when it matched: stories are never
    merged afterwards (`ingest.stories`), so every later copy names the same story.
    """
    summary = " ".join((article.get("summary") or article.get("body") or "").split())
    story_id = str(article.get("story_id") or article_id)
    per_story = rule.per == "story"
    return AlertHit(
        rule_id=rule.id,
        rule_name=rule.title,
        subject=story_subject(story_id) if per_story else article_id,
        kind="match",
        created_at=now,
        run_id=run_id,
        targets=[target.key for target in rule.notify],
        rule_tags=list(rule.tags),
        article={
            "title": article.get("title", ""),
            "url": article.get("url", ""),
            "source": article.get("source", ""),
            "language": article.get("language", ""),
            "published_at": article.get("published_at"),
            "summary": summary[:SUMMARY_CHARS],
        },
        per=rule.per,
        article_id=article_id,
        story_id=story_id,
        story=_story_of([(article_id, _outlet(article), _copy(article))], now)
        if per_story
        else None,
    )


def _outlet(article: Mapping[str, Any]) -> str:
    return str(article.get("source") or article.get("domain") or "")


def _copy(article: Mapping[str, Any]) -> dict[str, Any]:
    """What a story alert shows of its newest copy."""
    keys = ("title", "url", "source", "published_at")
    return {key: article.get(key) for key in keys}


def _story_of(members: Sequence[tuple[str, str, dict[str, Any]]], now: datetime) -> dict[str, Any]:
    """A new story alert's counters: members are (article id, outlet, copy), in order."""
    sources = sorted({outlet for _, outlet, _ in members} - {""})
    return {
        "articles": len(members),
        "outlets": len(sources),
        "sources": sources,
        "article_ids": [doc_id for doc_id, _, _ in members][:STORY_IDS_KEPT],
        "latest": members[-1][2],
        "updated_at": now.isoformat(),
    }


# Adds a batch's copies to a story alert that exists: each article once (a retry, a re-run
# or a recovered alert adds nothing and the write is a no-op). Its delivery state is left
# alone, so a copy that arrives after the alert was sent notifies nobody.
_JOIN_ALERT = """
def story = ctx._source.story;
if (story == null) { ctx.op = 'none'; return; }
boolean added = false;
for (member in params.members) {
  if (story.article_ids.contains(member.id)) { continue; }
  if (story.article_ids.size() < params.kept) { story.article_ids.add(member.id); }
  story.articles += 1;
  if (member.outlet != '' && !story.sources.contains(member.outlet)) {
    story.sources.add(member.outlet);
  }
  story.latest = member.copy;
  added = true;
}
if (!added) { ctx.op = 'none'; return; }
Collections.sort(story.sources);
story.outlets = story.sources.size();
story.updated_at = params.now;
"""


def _write_alerts(
    es: Elasticsearch,
    names: IndexNames,
    hits: Mapping[str, Sequence[AlertHit]],
    now: datetime,
) -> HitOutcome:
    """Write the alerts of each article (id -> its alerts): create-only per article; per
    story, one upsert per alert that creates it with the batch's copies or adds those."""
    by_id: dict[str, list[tuple[str, AlertHit]]] = {}
    for article_id, article_hits in hits.items():
        for hit in article_hits:
            by_id.setdefault(hit.id, []).append((article_id, hit))
    result = store.bulk_write(es, (_alert_action(names, group, now) for group in by_id.values()),
                              label="alerts")  # fmt: skip
    outcome = HitOutcome(failures=result.failures)
    for doc_id, item in result.items.items():
        status, done = item.get("status", 0), item.get("result")
        if status == 409 or done == "noop":
            outcome.existing += 1
            outcome.existing_ids.add(doc_id)
        elif done == "created":
            outcome.created += 1
        elif done == "updated":
            outcome.joined += 1
    for article_id, article_hits in hits.items():
        done = all(_written(result.items.get(hit.id)) for hit in article_hits)
        (outcome.settled if done else outcome.unsettled).add(article_id)
    return outcome


def _alert_action(
    names: IndexNames, group: Sequence[tuple[str, AlertHit]], now: datetime
) -> dict[str, Any]:
    """The write of one alert from its hits in this batch (the first raises it)."""
    first = group[0][1]
    if first.per != "story":
        return {"_op_type": "create", "_index": names.alerts, "_id": first.id,
                "_source": first.to_document()}  # fmt: skip
    members = []
    for _, hit in group:
        assert hit.story is not None and hit.article_id is not None
        members.append((hit.article_id, _outlet(hit.article), hit.story["latest"]))
    first.story = _story_of(members, now)
    return {
        "_op_type": "update",
        "_index": names.alerts,
        "_id": first.id,
        "retry_on_conflict": 5,  # copies of one story matched by several workers at once
        "script": {
            "source": _JOIN_ALERT,
            "lang": "painless",
            "params": {
                "members": [{"id": i, "outlet": o, "copy": c} for i, o, c in members],
                "kept": STORY_IDS_KEPT,
                "now": now.isoformat(),
            },
        },
        "upsert": first.to_document(),
    }


def _written(item: Mapping[str, Any] | None) -> bool:
    """The alert exists now: created or updated (2xx) or there already (409)."""
    status = item.get("status", 0) if item else 0
    return 200 <= status < 300 or status == 409


def _clear_pending(es: Elasticsearch, articles: Mapping[str, str], outcome: HitOutcome) -> None:
    """Mark settled articles (id -> index) as having all their alerts. A mark that cannot be
    cleared only costs the next run a look-up that finds the alerts there."""
    actions = [
        {"_op_type": "update", "_index": index, "_id": doc_id, "doc": {"alerts_pending": False}}
        for doc_id, index in articles.items()
    ]
    result = store.bulk_write(es, actions, label="alerts")
    for reason, n in result.failures.items():
        outcome.failures[f"{reason}:pending_mark"] += n


def _add_outcome(total: HitOutcome, outcome: HitOutcome) -> None:
    total.created += outcome.created
    total.joined += outcome.joined
    total.existing += outcome.existing
    total.failures.update(outcome.failures)
    total.existing_ids |= outcome.existing_ids
    total.settled |= outcome.settled
    total.unsettled |= outcome.unsettled


# -- delivery --------------------------------------------------------------------------------


@dataclass
class DeliveryOutcome:
    """What one delivery pass did, per alert (a digest's alerts count one by one)."""

    notified: int = 0  # every target delivered
    pending: int = 0  # some target failed for now: the next run retries
    failed: int = 0  # some target failed for good, none left to try
    busy: int = 0  # taken by another run meanwhile
    failures: Counter[str] = field(default_factory=Counter)  # notify:<reason>, per target


@dataclass
class _Claimed:
    alert: AlertHit
    lease: dict[str, Any]  # lease_owner and lease_until as written by the claim


async def deliver_pending(
    es: Elasticsearch,
    names: IndexNames,
    notifier: Notifier,
    report: RunReport | None = None,
    *,
    owner: str = "mediamon",
) -> DeliveryOutcome:
    """Deliver every pending alert, oldest first, and record each delivery's outcome.

    Pending alerts are leased before sending (an optimistic-concurrency write), so two runs
    delivering at once never both send one alert. Counts go to `report` as alerts.notified,
    alerts.pending, alerts.failed and failures `notify:<reason>`.
    """
    outcome = DeliveryOutcome()
    es.options(ignore_status=404).indices.refresh(index=names.alerts)
    after: list[Any] | None = None
    seen = 0
    while seen < notifier.delivery.max_alerts_per_run:
        now = datetime.now(UTC)
        hits = _pending_page(es, names, now, after)
        if not hits:
            break
        after = hits[-1]["sort"]
        seen += len(hits)
        until = now + notifier.delivery.lease
        claimed = _claim(es, names, hits, owner, until, outcome)
        if claimed:
            margin = min(LEASE_MARGIN, notifier.delivery.lease / 2)
            await _deliver(es, names, claimed, notifier, outcome, until - margin)
    if report is not None:
        report.count("alerts.notified", outcome.notified)
        report.count("alerts.pending", outcome.pending)
        if outcome.failed:
            report.count("alerts.failed", outcome.failed)
        for reason, n in outcome.failures.items():
            report.fail(reason, n=n)
    return outcome


def notify_pending(
    es: Elasticsearch,
    settings: Settings,
    delivery: DeliverySettings,
    report: RunReport | None = None,
    *,
    owner: str = "notify",
) -> DeliveryOutcome:
    """`deliver_pending` outside an ingestion run, with an `HttpClient` of its own: for
    `mediamon alerts notify`/`spikes`, and for an Airflow task delivering once per DAG run."""

    async def deliver() -> DeliveryOutcome:
        async with HttpClient(settings.fetch, settings.egress_allow) as http:
            notifier = Notifier(http, delivery, settings.egress_allow)
            names = IndexNames(settings.index_prefix)
            return await deliver_pending(es, names, notifier, report, owner=owner)

    return asyncio.run(deliver())


def _pending_page(
    es: Elasticsearch, names: IndexNames, now: datetime, after: list[Any] | None
) -> list[dict[str, Any]]:
    response = es.options(ignore_status=404).search(
        index=names.alerts,
        query={"bool": {
            "filter": [{"term": {"status": "pending"}}],
            "must_not": [{"range": {"lease_until": {"gt": now.isoformat()}}}],
        }},
        sort=[{"created_at": "asc"}, {"alert_id": "asc"}],
        size=DELIVERY_PAGE,
        search_after=after,
        seq_no_primary_term=True,
    )  # fmt: skip
    return list(response.get("hits", {}).get("hits", []))


def _claim(
    es: Elasticsearch,
    names: IndexNames,
    hits: list[dict[str, Any]],
    owner: str,
    until: datetime,
    outcome: DeliveryOutcome,
) -> list[_Claimed]:
    alerts = {hit["_id"]: AlertHit.from_document(hit["_source"]) for hit in hits}
    actions = []
    for hit in hits:
        alert = alerts[hit["_id"]]
        alert.lease_owner, alert.lease_until = owner, until
        actions.append({
            "_op_type": "index", "_index": names.alerts, "_id": hit["_id"],
            "_source": alert.to_document(),
            "if_seq_no": hit["_seq_no"], "if_primary_term": hit["_primary_term"],
        })  # fmt: skip
    result = store.bulk_write(es, actions, label="alerts")
    outcome.busy += result.conflicts
    lease = {"owner": owner, "until": until.isoformat()}
    return [
        _Claimed(alerts[doc_id], lease)
        for doc_id, item in result.items.items()
        if doc_id not in result.conflicted and "_seq_no" in item and "error" not in item
    ]


async def _deliver(
    es: Elasticsearch,
    names: IndexNames,
    claimed: list[_Claimed],
    notifier: Notifier,
    outcome: DeliveryOutcome,
    send_until: datetime,
) -> None:
    rules = {
        rule_id: get_rule(es, names, rule_id) for rule_id in {c.alert.rule_id for c in claimed}
    }
    now = datetime.now(UTC)
    groups: dict[tuple[str, ...], tuple[Target, list[AlertHit]]] = {}
    for item in claimed:
        alert = item.alert
        alert.attempts += 1
        rule = rules.get(alert.rule_id)
        targets = {t.key: t for t in rule.notify} if rule else {}
        for key in alert.targets:
            target = targets.get(key)
            if target is None:
                why = "rule_removed" if rule is None else "target_removed"
                _record(alert, key, now, error=(why, "not in the synced rules any more", False))
                outcome.failures[f"notify:{why}"] += 1
                continue
            group = (
                (alert.rule_id, key, alert.kind)
                if target.digest
                else (alert.rule_id, key, alert.id)
            )
            groups.setdefault(group, (target, []))[1].append(alert)
    failing: dict[tuple[str, str], FetchError] = {}
    for (rule_id, key, *_), (target, alerts) in groups.items():
        if datetime.now(UTC) >= send_until:
            break  # our lease is running out: the rest stays pending for the next run
        error = failing.get((rule_id, key))
        if error is None:
            try:
                await notifier.send(target, alerts)
            except FetchError as exc:
                error = exc
                if exc.transient:  # the target is down: do not wait on it again this run
                    failing[(rule_id, key)] = exc
        secrets = notifier.delivery.secret_values()
        for alert in alerts:
            if error is None:
                _record(alert, key, now)
            else:
                message = redact(str(error), secrets)
                _record(alert, key, now, error=(error.reason, message, error.transient))
                outcome.failures[f"notify:{error.reason}"] += 1
    _settle(es, names, claimed, now, outcome)


def _record(
    alert: AlertHit, key: str, now: datetime, error: tuple[str, str, bool] | None = None
) -> None:
    """Note one target's delivery outcome on the alert; error is (reason, message, transient)."""
    delivery = alert.deliveries.setdefault(key, {"attempts": 0})
    delivery["attempts"] = int(delivery.get("attempts", 0)) + 1
    if error is None:
        delivery.update(status="sent", sent_at=now.isoformat(), last_error=None)
        alert.targets = [k for k in alert.targets if k != key]
        return
    _, message, transient = error
    delivery.update(status="pending" if transient else "failed", last_error=message)
    alert.last_error = message
    if not transient:
        alert.targets = [k for k in alert.targets if k != key]


def _settle(
    es: Elasticsearch,
    names: IndexNames,
    claimed: list[_Claimed],
    now: datetime,
    outcome: DeliveryOutcome,
) -> None:
    actions = []
    for item in claimed:
        alert = item.alert
        alert.lease_owner = alert.lease_until = None
        if alert.targets:
            alert.status = "pending"
            outcome.pending += 1
        elif any(d.get("status") == "failed" for d in alert.deliveries.values()):
            alert.status = "failed"
            outcome.failed += 1
        else:
            alert.status, alert.sent_at, alert.last_error = "sent", now, None
            outcome.notified += 1
        state = {key: alert.to_document()[key] for key in _DELIVERY_STATE}
        actions.append({
            "_op_type": "update", "_index": names.alerts, "_id": alert.id,
            "retry_on_conflict": 5,  # a copy of the story joined the alert meanwhile
            "script": {"source": _SETTLE, "lang": "painless",
                       "params": {"lease": item.lease, "state": state}},
        })  # fmt: skip
    result = store.bulk_write(es, actions, label="alerts")
    lost = sum(item.get("result") == "noop" for item in result.items.values())
    if lost or result.failures:
        # Our lease ran out and another run took the alert: its own outcome stands.
        outcome.failures["notify:state_not_saved"] += lost + sum(result.failures.values())


# The delivery state only, and only while the lease is still the one this run took: copies
# of the story added meanwhile (`_JOIN_ALERT`) stay, and a run whose lease ran out (another
# run took the alert) leaves that run's outcome alone.
_DELIVERY_STATE = (
    "status", "attempts", "last_error", "sent_at", "deliveries", "targets",
    "lease_owner", "lease_until",
)  # fmt: skip
_SETTLE = """
if (ctx._source.lease_owner != params.lease.owner
    || ctx._source.lease_until != params.lease.until) { ctx.op = 'none'; return; }
for (entry in params.state.entrySet()) { ctx._source[entry.getKey()] = entry.getValue(); }
"""


def requeue_failed(es: Elasticsearch, names: IndexNames, rule_id: str | None = None) -> int:
    """Put failed alerts back to pending (after fixing a target); return how many."""
    filters: list[dict[str, Any]] = [{"term": {"status": "failed"}}]
    if rule_id:
        filters.append({"term": {"rule_id": rule_id}})
    script = """
        List keys = new ArrayList();
        for (entry in ctx._source.deliveries.entrySet()) {
          if (entry.getValue().status == 'failed') {
            keys.add(entry.getKey());
            entry.getValue().status = 'pending';
          }
        }
        ctx._source.targets = keys; ctx._source.status = 'pending';
    """
    es.indices.refresh(index=names.alerts)
    response = es.update_by_query(
        index=names.alerts, query={"bool": {"filter": filters}},
        script={"source": script, "lang": "painless"}, refresh=True, conflicts="proceed",
    )  # fmt: skip
    return int(response.get("updated", 0))


# -- volume spikes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SpikeCheck:
    rule_id: str
    last_day: int
    daily_mean: float
    spike: Spike
    spiking: bool
    alerted: bool = False  # a new spike alert was recorded (at most one per rule per day)
    # What changed on the spiking day: terms, largest stories, top sources (when spiking).
    explanation: SpikeExplanation | None = None

    def to_dict(self) -> dict[str, Any]:
        found = dict(self.__dict__, spike=self.spike.__dict__)
        found["explanation"] = self.explanation.to_dict() if self.explanation else None
        return found


def check_spikes(
    es: Elasticsearch,
    names: IndexNames,
    now: datetime | None = None,
    run_id: str = "spikes",
) -> list[SpikeCheck]:
    """For every rule with `spike`, compare its matches published in the last day with the
    daily mean of the 14 days before; record one spike alert per rule and day when above,
    carrying what changed (`ingest.alerts.explanation`: the terms that stand out against the
    rule's matches of the whole window, the day's largest stories and top sources).

    The counts come from one search over the articles with the rules' own queries, so a rule
    added today is measured over the past too, not only over articles matched since.
    """
    now = now or datetime.now(UTC)
    rules = [rule for rule in stored_rules(es, names) if rule.spike]
    if not rules:
        return []
    day_ago, start = now - timedelta(days=1), now - timedelta(days=SPIKE_DAYS + 1)
    response = es.options(ignore_status=404).search(
        index=names.articles,
        size=0,
        query={"range": {"published_at": {"gte": start.isoformat(), "lt": now.isoformat()}}},
        aggs={"rules": {
            "filters": {"filters": {rule.id: article_query(rule) for rule in rules}},
            "aggs": {"window": {"date_range": {"field": "published_at", "keyed": True, "ranges": [
                {"key": "before", "from": start.isoformat(), "to": day_ago.isoformat()},
                {"key": "last", "from": day_ago.isoformat(), "to": now.isoformat()},
            ]}}},
        }},
    )  # fmt: skip
    buckets = response.get("aggregations", {}).get("rules", {}).get("buckets", {})
    checks, hits = [], []
    for rule in rules:
        assert rule.spike is not None
        window = buckets.get(rule.id, {}).get("window", {}).get("buckets", {})
        last = int(window.get("last", {}).get("doc_count", 0))
        mean = window.get("before", {}).get("doc_count", 0) / SPIKE_DAYS
        spiking = last >= rule.spike.min_count and last > rule.spike.factor * mean
        why = None
        if spiking:
            why = explain_spike(es, names, article_query(rule), start, day_ago, now, rule.id)
            hits.append(_spike_hit(rule, last, mean, now, run_id, why))
        checks.append(SpikeCheck(rule.id, last, round(mean, 2), rule.spike, spiking, False, why))
    created = _write_alerts(es, names, {hit.subject: [hit] for hit in hits}, now)
    if created.failures:
        raise StoreError(f"could not record spike alerts: {dict(created.failures)}")
    new = {hit.rule_id for hit in hits if hit.id not in created.existing_ids}
    return [replace(check, alerted=check.rule_id in new) for check in checks]


def _spike_hit(
    rule: Rule, last: int, mean: float, now: datetime, run_id: str, why: SpikeExplanation
) -> AlertHit:
    assert rule.spike is not None
    return AlertHit(
        rule_id=rule.id,
        rule_name=rule.title,
        subject=f"spike:{now:%Y-%m-%d}",
        kind="spike",
        created_at=now,
        run_id=run_id,
        targets=[target.key for target in rule.notify],
        rule_tags=list(rule.tags),
        spike={
            "day": now.date().isoformat(),
            "last_day": last,
            "daily_mean": round(mean, 2),
            "factor": rule.spike.factor,
            "min_count": rule.spike.min_count,
            "terms": [term["term"] for term in why.terms],
            "explanation": why.to_dict(),
        },
    )


# -- looking things up (the CLI) -------------------------------------------------------------


@dataclass(frozen=True)
class RuleSummary:
    rule: Rule
    articles: int  # indexed articles whose `rules` holds this rule
    alerts: Mapping[str, int]  # by status

    def to_dict(self) -> dict[str, Any]:
        meta = self.rule._meta()
        meta["notify"] = [f"{t.type}:{t.key}" for t in self.rule.notify]
        return {**meta, "articles": self.articles, "alerts": dict(self.alerts)}


def list_rules(es: Elasticsearch, names: IndexNames) -> list[RuleSummary]:
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


def article_query(rule: Rule) -> dict[str, Any]:
    """`rule` as a query over indexed articles that matches what percolation matches: the
    article indices and the rules index map the same fields (`include_fields_of`)."""
    restrictions = rule.percolator_query()["bool"]["filter"]
    return {"bool": {"must": [text_query(rule.query)], "filter": restrictions}}


def test_rule(
    es: Elasticsearch,
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
    es: Elasticsearch,
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
