"""Which language analyzer an article's text goes through, and the fields that carry it.

The article mapping (`mappings/articles.json`) analyses `title`, `summary` and `body` the
language-neutral way for every article, and has an object per analysed language under
`text` (`text.nl.title`, `text.de.body`, `text.cjk.summary`...). An article fills only its
own language's object, so Elasticsearch runs the neutral analyzer and that one language's
analyzer over it, never all fifteen: measured, all fifteen were most of Elasticsearch's CPU
per article (bulk indexing 10.8 ms per article with all 15 subfields, 1.7 with only its
own). Unlike multi-fields (which every document fills), this needs no index per language:
one index holds every language, and the rules index percolates every language too, since
a percolated document is analysed only through the fields it has.

A group is the name of a `text` object (`nl`, `de`, `cjk`...), or `neutral` for the
languages with no analyzer of their own (pl, und...), which get the neutral fields only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "ANALYSED_FIELDS",
    "CJK_LANGUAGES",
    "NEUTRAL",
    "group_of",
    "groups_of_mapping",
    "language_fields",
]

NEUTRAL = "neutral"
CJK_LANGUAGES = frozenset({"ja", "ko", "zh"})  # analysed by the `cjk` object
ANALYSED_FIELDS = ("title", "summary", "body")  # copied into the article's language object


def groups_of_mapping(properties: Mapping[str, Any]) -> list[str]:
    """The language objects under `text` in an article mapping's `properties`, sorted, and
    `neutral`."""
    return [*sorted(properties.get("text", {}).get("properties", {})), NEUTRAL]


def group_of(language: str | None, groups: Sequence[str]) -> str:
    """The group whose analyzer reads text in `language` (an ISO 639-1 code)."""
    if language and language in groups and language != NEUTRAL:
        return language
    if language in CJK_LANGUAGES and "cjk" in groups:
        return "cjk"
    return NEUTRAL


def language_fields(document: Mapping[str, Any], groups: Sequence[str]) -> dict[str, Any]:
    """The `text` object of an article document: its title, summary and body under its own
    language's group (`{"nl": {"title": ...}}`), or nothing for a `neutral` language."""
    group = group_of(document.get("language"), groups)
    if group == NEUTRAL:
        return {}
    return {group: {name: document.get(name) or "" for name in ANALYSED_FIELDS}}
