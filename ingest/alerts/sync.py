"""The rules index: validation by Elasticsearch, sync (all or nothing), the stored rules.

    rules file ─▶ load_rules (shape, ids, targets) ─▶ sync_rules (Elasticsearch validates each
    query; all or nothing) ─▶ `mediamon-rules`, one percolator document per rule

The rules index maps the article fields (`ensure_rules_index` adds those new since), so a
query is checked against them and percolated where it is stored. A synced rule carries a
hash of itself and of the mapping: a sync rewrites only the rules that changed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest import store
from ingest.alerts.rules import Rule, _read_rules
from ingest.analysis.query_syntax import QuerySyntaxError
from ingest.errors import ConfigError, StoreError
from ingest.store import IndexNames

_UNMAPPED = re.compile(r"unmapped fields? \[([^\]]*)\]")
_LENIENT = re.compile(r'failed \[([^\]]*)\] query, caused by (.*?)"\)(?:\s|$)')
_RULE_FIELD = re.compile(r"(?<![\w.])(rule\.[\w.]+):")
_PARSE_ERROR = re.compile(r"(Cannot parse '.*?': [^\n]*)", re.DOTALL)


def validate_rules(es: store.Client, names: IndexNames, rules: Iterable[Rule]) -> list[str]:
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


def _server_verdict(es: store.Client, names: IndexNames, rule: Rule) -> str | None:
    try:
        response = es.indices.validate_query(
            index=names.rules, query=rule.percolator_query(), explain=True
        )
    except QuerySyntaxError as exc:  # a NEAR query, parsed before it is sent
        return str(exc)
    except store.ApiError as exc:
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


def ensure_rules_index(es: store.Client, names: IndexNames) -> None:
    """Create the rules and alerts indices if needed; add article fields that are new since.

    A changed analyzer cannot be applied to an existing index: that needs a new rules index
    (delete it and sync again: the file is the source of the rules).
    """
    if not es.indices.exists(index=names.rules) or not es.indices.exists(index=names.alerts):
        store.install_templates(es, names, templates=("rules", "alerts"))
    properties = store.load_template("rules", names)["template"]["mappings"]["properties"]
    try:
        es.indices.put_mapping(index=names.rules, properties=properties)
    except store.ApiError as exc:
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


def sync_rules_file(es: store.Client, names: IndexNames, path: Path) -> int:
    """Validate the whole file (shape and, by Elasticsearch, every query) and sync it.

    Refuses the file with one error naming every bad rule, changing nothing. Returns the
    number of rules now in the index (the Airflow maintenance task calls this).
    """
    return sync_rules_from(es, names, path).total


def sync_rules_from(es: store.Client, names: IndexNames, path: Path) -> SyncResult:
    rules, problems = _read_rules(path)
    problems += validate_rules(es, names, rules)
    if problems:
        raise ConfigError(f"{path}: not synced, nothing changed: " + "; ".join(problems))
    return _write_rules(es, names, rules)


def sync_rules(es: store.Client, names: IndexNames, rules: Sequence[Rule]) -> SyncResult:
    """Make the rules index hold exactly `rules`: validated first (all or nothing), then
    new and changed rules written, rules no longer listed removed."""
    problems = validate_rules(es, names, rules)
    if problems:
        raise ConfigError("rules not synced, nothing changed: " + "; ".join(problems))
    return _write_rules(es, names, rules)


def _write_rules(es: store.Client, names: IndexNames, rules: Sequence[Rule]) -> SyncResult:
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


def _stored_hashes(es: store.Client, names: IndexNames) -> dict[str, str]:
    es.indices.refresh(index=names.rules)
    return {
        hit["_id"]: hit["_source"].get("rule", {}).get("hash", "")
        for hit in store.scan(es, index=names.rules, _source=["rule.hash"])
    }


def get_rule(es: store.Client, names: IndexNames, rule_id: str) -> Rule | None:
    response = es.options(ignore_status=404).get(index=names.rules, id=rule_id)
    if not response.get("found"):
        return None
    return Rule.from_document(response["_source"]["rule"])


def stored_rules(es: store.Client, names: IndexNames) -> list[Rule]:
    """Every rule in the rules index, by id."""
    hits = store.scan(es, index=names.rules, _source=["rule"])
    return sorted((Rule.from_document(hit["_source"]["rule"]) for hit in hits), key=lambda r: r.id)
