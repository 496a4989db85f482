"""The index templates, and the indices they make.

The templates are the JSON files in `mappings/`; this module loads them, fills in the index
prefix and installs them, creates the fixed-name indices and the first article index behind
the write alias, and gives indices made earlier the fields added since. `refresh` and
`delete_all` act on every index under a prefix.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

from elasticsearch import Elasticsearch

from ingest.config import REPOSITORY
from ingest.errors import StoreError
from ingest.store.language_fields import groups_of_mapping
from ingest.store.names import IndexNames

__all__ = [
    "LEGACY_GROUPS",
    "MAPPINGS_DIR",
    "TEMPLATES",
    "article_groups",
    "delete_all",
    "ensure_write_index",
    "install_templates",
    "load_template",
    "refresh",
]


MAPPINGS_DIR = REPOSITORY / "mappings"
TEMPLATES = ("articles", "feeds", "runs", "rules", "alerts", "revisions", "dead_letters")


def load_template(name: str, names: IndexNames) -> dict[str, Any]:
    """The index template `mappings/<name>.json` with the prefix filled in."""
    template: dict[str, Any] = json.loads((MAPPINGS_DIR / f"{name}.json").read_text())
    template["index_patterns"] = [
        p.replace("{prefix}", names.prefix) for p in template["index_patterns"]
    ]
    aliases = template["template"].get("aliases", {})
    template["template"]["aliases"] = {
        k.replace("{prefix}", names.prefix): v for k, v in aliases.items()
    }
    base = template.get("_meta", {}).get("include_fields_of")
    if base:
        _include_fields(template, load_template(base, names))
    return template


@functools.cache
def article_groups() -> tuple[str, ...]:
    """The language groups of the article mapping (`ingest.store.language_fields`)."""
    properties = load_template("articles", IndexNames())["template"]["mappings"]["properties"]
    return tuple(groups_of_mapping(properties))


def _include_fields(template: dict[str, Any], base: dict[str, Any]) -> None:
    """Add `base`'s field mapping and analyzers to `template` (rules.json takes the article
    fields from articles.json this way, so they are written down once)."""
    properties = template["template"]["mappings"]["properties"]
    clash = set(properties) & set(base["template"]["mappings"]["properties"])
    if clash:
        raise StoreError(f"template fields {sorted(clash)} are also in the included template")
    properties.update(base["template"]["mappings"]["properties"])
    analysis = base["template"].get("settings", {}).get("analysis")
    if analysis:
        template["template"].setdefault("settings", {})["analysis"] = analysis


LEGACY_GROUPS = (
    *("cjk", "cs", "da", "de", "en", "es", "fi", "fr", "it", "nl", "no", "pt", "ru", "sv", "tr"),
    "neutral",
)
# Mapping versions 1-3 kept articles in one index per publication month (and, from version
# 3, per language group), under templates of these names; `mediamon migrate` moves them.
_LEGACY_ARTICLE_TEMPLATES = ("articles", *(f"articles-{group}" for group in LEGACY_GROUPS))


def install_templates(
    es: Elasticsearch, names: IndexNames, templates: Iterable[str] = TEMPLATES
) -> list[str]:
    """Install (or upgrade) the index templates and create the fixed-name indices and the
    first article index behind the write alias. Idempotent."""
    installed = []
    for name in templates:
        if name == "articles":
            # The legacy templates' patterns overlap this one's at the same priority.
            for legacy in _LEGACY_ARTICLE_TEMPLATES:
                es.options(ignore_status=404).indices.delete_index_template(
                    name=f"{names.prefix}-{legacy}"
                )
        body = load_template(name, names)
        es.indices.put_index_template(name=f"{names.prefix}-{name}", **body)
        _add_new_fields(es, body)
        installed.append(f"{names.prefix}-{name}")
    for index in (
        names.feeds,
        names.runs,
        names.rules,
        names.alerts,
        names.revisions,
        names.dead_letters,
    ):
        if not es.indices.exists(index=index):
            es.options(ignore_status=400).indices.create(index=index)  # 400: created meanwhile
    if "articles" in templates:
        ensure_write_index(es, names)
    return installed


def ensure_write_index(es: Elasticsearch, names: IndexNames) -> None:
    """Create the first backing index with the write alias, unless the alias exists."""
    if es.indices.exists_alias(name=names.articles_write):
        return
    # 400: another worker created it meanwhile (the read alias comes from the template).
    es.options(ignore_status=400).indices.create(
        index=names.first_article_index,
        aliases={names.articles_write: {"is_write_index": True}},
    )


def _add_new_fields(es: Elasticsearch, template: dict[str, Any]) -> None:
    """Give indices the template created earlier the fields added to it since.

    A template applies to new indices only, and the indices are `dynamic: strict`: without
    this, the current month's index would refuse articles carrying a new field. Mappings
    only grow (fields are added, never renamed), so this is safe to repeat.
    """
    properties = template["template"]["mappings"]["properties"]
    for pattern in template["index_patterns"]:
        es.options(ignore_status=404).indices.put_mapping(
            index=pattern, properties=properties, allow_no_indices=True
        )


def refresh(es: Elasticsearch, names: IndexNames) -> None:
    """Make recent writes searchable (tests and the demo; runs do not need it)."""
    es.options(ignore_status=404).indices.refresh(index=f"{names.prefix}-*")


def delete_all(es: Elasticsearch, names: IndexNames) -> None:
    """Remove every index and template under this prefix (tests clean up with it)."""
    es.options(ignore_status=404).indices.delete(index=f"{names.prefix}-*", expand_wildcards="all")
    for name in TEMPLATES:
        es.options(ignore_status=404).indices.delete_index_template(name=f"{names.prefix}-{name}")
