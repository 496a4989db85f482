"""Which language analyzer an article's text goes through, and the mappings that follow.

The article mapping (`mappings/articles.json`) analyses `title`, `summary` and `body` the
language-neutral way, and gives each a subfield per analysed language (`title.nl`,
`body.de`, `body.cjk`...). An article is only ever matched through the neutral fields and
its own language's subfields, so running every language's analyzer over it is waste, and
measured it was most of Elasticsearch's CPU per article (bulk indexing 10.8 ms per article
with all 15 subfields, 1.7 with only its own). So articles are stored in one index per
month *and language group*, whose mapping keeps only that group's subfields, and the rules'
percolation indices are split the same way: `title.*` in a query expands to what the index
has, so one query means the same in search, in `mediamon rules test` and when percolating.

A group is a subfield's name (`nl`, `de`, `cjk`...), or `neutral` for the languages with no
analyzer of their own (pl, und...), which are indexed the neutral way only.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["CJK_LANGUAGES", "NEUTRAL", "group_of", "groups_of_mapping", "narrowed_to_group"]

NEUTRAL = "neutral"
CJK_LANGUAGES = frozenset({"ja", "ko", "zh"})  # analysed by the `cjk` subfield


def groups_of_mapping(properties: Mapping[str, Any]) -> list[str]:
    """The language subfields of an article mapping's `properties`, sorted, and `neutral`."""
    subfields = {name for spec in properties.values() for name in spec.get("fields", {})}
    return [*sorted(subfields), NEUTRAL]


def group_of(language: str | None, groups: Sequence[str]) -> str:
    """The group whose analyzer reads text in `language` (an ISO 639-1 code)."""
    if language and language in groups and language != NEUTRAL:
        return language
    if language in CJK_LANGUAGES and "cjk" in groups:
        return "cjk"
    return NEUTRAL


def narrowed_to_group(properties: Mapping[str, Any], group: str) -> dict[str, Any]:
    """A copy of a mapping's `properties` whose text fields keep only `group`'s subfield
    (`neutral`: none)."""
    narrowed = copy.deepcopy(dict(properties))
    for spec in narrowed.values():
        if "fields" in spec:
            spec["fields"] = {name: sub for name, sub in spec["fields"].items() if name == group}
            if not spec["fields"]:
                del spec["fields"]
    return narrowed
