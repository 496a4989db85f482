"""Stories: near-duplicate articles across outlets, clustered at ingest.

An agency story is carried by many outlets, each with its own headline, intro, boilerplate
and cuts. The extraction worker fingerprints each body; before a batch is indexed, one
look-up finds the indexed articles it may copy, the most similar above the threshold becomes
an article's `duplicate_of` and gives it its `story_id`; after the write, each story's first
article (its root) counts the copies and their outlets.

- `minhash`: a body's fingerprint (tokens, shingles, MinHash values, LSH band keys) and the
  similarity of two; pure, numpy alone, imported by the extraction workers.
- `matching`: which earlier article a new one copies (`CandidatePool`, `assign`); pure, the
  same code for the pipeline and `benchmarks/near_duplicates.py`.
- `batch`: a batch's articles assigned to stories against Elasticsearch (`assign_stories`),
  then the roots' counters after the write (`after_indexing`, `Unrefreshed`).
- `related`: an article's story and related coverage, for `mediamon related`
  (its rendering is `ingest.cli.render.stories`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ingest.stories.matching import CandidatePool, Match, StoryMember, assign
from ingest.stories.minhash import (
    BANDS,
    NUM_PERM,
    PARAMS,
    ROWS,
    SHINGLE_SIZE,
    THRESHOLD,
    Fingerprint,
    MinHashParams,
    band_keys,
    fingerprint,
    fingerprint_of,
    is_near_copy,
    minhash_values,
    shared_band,
    shingles,
    signature,
    signature_values,
    similarity,
    tokens,
)

# `batch` and `related` query Elasticsearch (through `ingest.store`, which imports the client).
# The extraction workers import this package for `minhash` alone, and importing a submodule
# runs this file first: were these two imported here, every worker would load the
# Elasticsearch client it never uses. So their names are imported on first use (PEP 562's
# module `__getattr__`); type checkers see them as plain imports.
if TYPE_CHECKING:
    from ingest.stories.batch import (
        CANDIDATE_LIMIT,
        UNREFRESHED_LIMIT,
        StoryOutcome,
        Unrefreshed,
        after_indexing,
        assign_stories,
        lookup_candidates,
    )
    from ingest.stories.related import Coverage, RelatedCoverage, mlt_fields, related_coverage

_LAZY = {
    **dict.fromkeys(
        [
            "CANDIDATE_LIMIT",
            "UNREFRESHED_LIMIT",
            "StoryOutcome",
            "Unrefreshed",
            "after_indexing",
            "assign_stories",
            "lookup_candidates",
        ],
        "batch",
    ),
    **dict.fromkeys(["Coverage", "RelatedCoverage", "mlt_fields", "related_coverage"], "related"),
}


def __getattr__(name: str) -> Any:
    """`batch`'s and `related`'s names, imported when first asked for (see above)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "BANDS",
    "CANDIDATE_LIMIT",
    "NUM_PERM",
    "PARAMS",
    "ROWS",
    "SHINGLE_SIZE",
    "THRESHOLD",
    "UNREFRESHED_LIMIT",
    "CandidatePool",
    "Coverage",
    "Fingerprint",
    "Match",
    "MinHashParams",
    "RelatedCoverage",
    "StoryMember",
    "StoryOutcome",
    "Unrefreshed",
    "after_indexing",
    "assign",
    "assign_stories",
    "band_keys",
    "fingerprint",
    "fingerprint_of",
    "is_near_copy",
    "lookup_candidates",
    "minhash_values",
    "mlt_fields",
    "related_coverage",
    "shared_band",
    "shingles",
    "signature",
    "signature_values",
    "similarity",
    "tokens",
]
