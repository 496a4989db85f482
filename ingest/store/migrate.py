"""Moving articles stored by mapping versions 1-3 into the layout of version 4.

Versions 1-3 kept one index per publication month (`<prefix>-articles-2021.11`), from
version 3 per month and language group (`<prefix>-articles-2021.11-nl`), with per-language
subfields (`body.nl`) that every article filled. Version 4 keeps articles in indices bounded
by size and age behind the same read alias, with the article's own language under
`text.<group>` (`ingest.store.language_fields`). `migrate_articles`:

1. copies every article of the old indices, with its `text.<group>` added, into one index
   outside the read alias (`<prefix>-migrated-articles`, also outside Kibana's data view
   `<prefix>-articles*`), create-only: searches meanwhile see the old indices, once each;
2. checks that the copy holds as many articles as the old indices;
3. in one atomic alias change, puts the copy behind the read alias and deletes the old
   indices: searches see every article once, before, during and after.

Interrupted anywhere, it is run again: copies made already are 409s (done), and until the
switch nothing visible changed. Run it with the pipeline paused: a "seen again" update the
pipeline makes to an old index while it is being copied may miss the copy (the articles
themselves are never lost). Rules are re-synced into a rules index without the old
subfields (`rebuild_rules_index`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ingest import alerts
from ingest.errors import StoreError
from ingest.store.bulk import bulk_write
from ingest.store.client import Client, scan
from ingest.store.language_fields import language_fields
from ingest.store.names import IndexNames
from ingest.store.templates import LEGACY_GROUPS, article_groups, install_templates

__all__ = ["Migration", "legacy_article_indices", "migrate_articles", "rebuild_rules_index"]


def migrated_index(names: IndexNames) -> str:
    """Where the old indices' articles go: one index, however many months they were."""
    return f"{names.prefix}-migrated-articles"


def legacy_article_indices(es: Client, names: IndexNames) -> list[str]:
    """The indices of mapping versions 1-3 under this prefix: `<prefix>-articles-YYYY.MM`
    with or without a language group."""
    pattern = re.compile(rf"^{re.escape(names.articles)}-\d{{4}}\.\d{{2}}(-[a-z]+)?$")
    response = es.options(ignore_status=404).indices.get(
        index=f"{names.articles}-*", expand_wildcards="open"
    )
    return sorted(index for index in response.body if pattern.match(index))


@dataclass
class Migration:
    """What a migration did."""

    legacy_indices: list[str] = field(default_factory=list)
    articles: int = 0  # in the old indices
    copied: int = 0  # copied by this run
    copied_before: int = 0  # found copied already (an earlier, interrupted run)
    rules: int = 0  # re-synced into the rebuilt rules index

    def summary(self) -> str:
        if not self.legacy_indices:
            return f"nothing to migrate (rules index: {self.rules} rules re-synced)"
        return (
            f"{self.articles} articles from {len(self.legacy_indices)} old indices moved "
            f"behind the alias ({self.copied} copied now, {self.copied_before} before); "
            f"{self.rules} rules re-synced"
        )


def migrate_articles(
    es: Client,
    names: IndexNames,
    progress: Callable[[int], None] | None = None,
    *,
    batch_size: int = 500,
) -> Migration:
    """Move the old indices' articles into the current layout (see the module docstring),
    copying `batch_size` articles a request (`progress` is told after each batch)."""
    install_templates(es, names)
    outcome = Migration(legacy_indices=legacy_article_indices(es, names))
    outcome.rules = rebuild_rules_index(es, names)
    if not outcome.legacy_indices:
        return outcome
    target = _ensure_hidden_target(es, names)
    es.indices.refresh(index=",".join(outcome.legacy_indices))
    for index in outcome.legacy_indices:
        outcome.articles += int(es.count(index=index)["count"])
        for batch in _batches(scan(es, index=index, size=batch_size), batch_size):
            written = bulk_write(es, _copies(batch, target), label="migrate")
            if written.failures:
                raise StoreError(
                    f"migration stopped, nothing switched (run it again): copying {index} "
                    f"failed for {sum(written.failures.values())} articles: "
                    f"{dict(written.failures)} {list(written.failed_ids.values())[:3]}"
                )
            outcome.copied += written.created
            outcome.copied_before += written.conflicts
            if progress:
                progress(len(batch))
    es.indices.refresh(index=target)
    held = int(es.count(index=target)["count"])
    if held < outcome.articles:
        raise StoreError(
            f"migration stopped, nothing switched (run it again): {target} holds {held} "
            f"articles, the old indices {outcome.articles}"
        )
    _switch(es, names, target, outcome.legacy_indices)
    return outcome


def _ensure_hidden_target(es: Client, names: IndexNames) -> str:
    """The copy's index, created from the article template, then taken out of the read
    alias (the template puts every article index in it) until the switch."""
    target = migrated_index(names)
    if not es.indices.exists(index=target):
        es.options(ignore_status=400).indices.create(index=target)
    aliases = es.indices.get_alias(index=target)[target]["aliases"]
    if names.articles in aliases and legacy_article_indices(es, names):
        es.indices.delete_alias(index=target, name=names.articles)
    return target


def _copies(hits: list[dict[str, Any]], target: str) -> list[dict[str, Any]]:
    actions = []
    for hit in hits:
        source = hit["_source"]
        source["text"] = language_fields(source, article_groups())
        actions.append(
            {"_op_type": "create", "_index": target, "_id": hit["_id"], "_source": source}
        )
    return actions


def _batches(hits: Any, size: int) -> Any:
    batch: list[dict[str, Any]] = []
    for hit in hits:
        batch.append(hit)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _switch(es: Client, names: IndexNames, target: str, legacy: list[str]) -> None:
    """One atomic alias change: the copy in, the old indices gone."""
    actions: list[dict[str, Any]] = [{"add": {"index": target, "alias": names.articles}}]
    actions += [{"remove_index": {"index": index}} for index in legacy]
    es.indices.update_aliases(actions=actions)


def rebuild_rules_index(es: Client, names: IndexNames) -> int:
    """Give the rules index the current mapping if it has the old per-language subfields
    (which made percolation run every language's analyzer over every article), and delete
    the per-language percolation indices of version 3. The rules are re-synced from what
    the rules index holds; returns how many (0 when nothing needed rebuilding)."""
    for group in LEGACY_GROUPS:
        es.options(ignore_status=404).indices.delete(index=f"{names.rules}-{group}")
    mapping = es.indices.get_mapping(index=names.rules)[names.rules]["mappings"]
    if "fields" not in mapping.get("properties", {}).get("title", {}):
        return 0
    rules = alerts.stored_rules(es, names)
    es.indices.delete(index=names.rules)
    install_templates(es, names, templates=("rules",))
    alerts.sync_rules(es, names, rules)
    return len(rules)
