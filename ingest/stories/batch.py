"""A batch's articles assigned to stories against the index, before and after its write.

mediamon finds an article's copies as it is ingested, without in-memory state beyond the
run, so it works across runs and across any number of workers. The extraction worker has
fingerprinted each body (`ingest.stories.minhash`); then, per batch:

1. **Look-up** (`lookup_candidates`, one Elasticsearch query per batch): a `terms` query on
   `lsh_bands` for every key of the batch, plus `content_hash` for exact re-posts, returns
   the indexed articles that share at least one band with a new article: its candidates.
2. **Verify and assign** (`assign_stories`, with `ingest.stories.matching`): the best match
   becomes `duplicate_of` and its story becomes the article's `story_id`; an article without
   a match starts a story of its own (`story_id` = its id). Articles of the same batch are
   candidates for the ones after them, since two copies can arrive together.
3. **Count** (`after_indexing`): the first article of a story (its root) keeps `story_size`
   and `story_sources`/`story_outlets` (how many outlets carried it), updated by a partial
   update when a copy joins. `Unrefreshed` keeps the run's written articles findable until
   their indices are refreshed.

Known limits: a story is never merged with another after the fact (two copies indexed at
the same moment by two workers may start two stories); the root is the first article
*indexed*, which is the earliest published one unless feeds deliver out of order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.models import Article
from ingest.store import Client, IndexNames, bulk_write, find_known
from ingest.stories.matching import CandidatePool, Match, StoryMember, assign
from ingest.stories.minhash import PARAMS, Fingerprint, MinHashParams

__all__ = [
    "CANDIDATE_LIMIT",
    "UNREFRESHED_LIMIT",
    "StoryOutcome",
    "Unrefreshed",
    "after_indexing",
    "assign_stories",
    "lookup_candidates",
]


# Enough for the copies of a batch's stories; more are counted, not fetched (see lookup).
CANDIDATE_LIMIT = 2000
# Written articles held as candidates until their indices are refreshed (`Unrefreshed`):
# five batches of the default size.
UNREFRESHED_LIMIT = 1000
_CANDIDATE_FIELDS = ["story_id", "source", "content_hash", "minhash", "lsh_bands"]
# Roots and lone articles first, then the oldest: if a huge story fills the limit, what is
# left out are copies, whose roots are still there to match.
_CANDIDATE_ORDER: list[dict[str, Any]] = [
    {"duplicate_of": {"order": "asc", "missing": "_first"}},
    {"first_seen_at": "asc"},
]

# Adds the outlets of new copies to a story's root and counts them, in one partial update.
# `story_size` is 1 on a root that predates the counters.
_JOIN_STORY = """
if (ctx._source.story_sources == null) { ctx._source.story_sources = new ArrayList(); }
for (s in params.sources) {
  if (!ctx._source.story_sources.contains(s)) { ctx._source.story_sources.add(s); }
}
Collections.sort(ctx._source.story_sources);
ctx._source.story_outlets = ctx._source.story_sources.size();
int size = ctx._source.story_size == null ? 1 : ctx._source.story_size;
ctx._source.story_size = size + params.added;
"""


@dataclass
class StoryOutcome:
    """What story assignment did to a batch; `joins` are the roots indexed earlier."""

    new_stories: int = 0
    near_copies: int = 0
    exact_copies: int = 0
    candidates: int = 0  # indexed articles the look-up returned
    candidates_left_out: int = 0  # beyond CANDIDATE_LIMIT: a copy of those may be missed
    # root id -> (id, source) of each copy in this batch, for roots indexed earlier
    joins: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    root_index: dict[str, str] = field(default_factory=dict)  # root id -> its index, if known

    def counts(self) -> dict[str, int]:
        """For the run report."""
        counts = {
            "stories.new": self.new_stories,
            "stories.near_copies": self.near_copies,
            "stories.exact_copies": self.exact_copies,
        }
        if self.candidates_left_out:
            counts["stories.candidates_left_out"] = self.candidates_left_out
        return counts


def assign_stories(
    es: Client,
    names: IndexNames,
    articles: Sequence[Article],
    params: MinHashParams = PARAMS,
    unrefreshed: Unrefreshed | None = None,
) -> StoryOutcome:
    """Set `story_id`, `duplicate_of` and the story counters of a batch, before indexing.

    Candidates are the indexed articles sharing a band key or the content hash with one of
    the batch (those searches see, and those in `unrefreshed`), then the batch's own
    articles in order. Roots in the batch get their counters here; roots indexed earlier
    are listed in `joins` for `record_joins` after the write.
    """
    outcome = StoryOutcome()
    pool = CandidatePool(params)
    batch_ids = {a.id for a in articles}
    for member in lookup_candidates(es, names, articles, outcome, unrefreshed):
        if member.id not in batch_ids:  # indexed meanwhile by another worker: not a copy
            pool.add(member)
    in_batch = {a.id: a for a in articles}
    for article in articles:
        match = assign(pool, _member_of(article))
        _apply(article, match, outcome)
        if match:
            root = in_batch.get(match.member.story_id)
            if root is not None:
                root.story_size = (root.story_size or 1) + 1
                root.story_sources = sorted({*root.story_sources, article.source})
            else:
                copy = (article.id, article.source)
                outcome.joins.setdefault(match.member.story_id, []).append(copy)
                if match.member.id == match.member.story_id and match.member.index:
                    outcome.root_index[match.member.id] = match.member.index
    return outcome


def _member_of(article: Article) -> StoryMember:
    fp = _fingerprint_of(article)
    return StoryMember(article.id, article.id, article.source, article.content_hash, fp)


def _fingerprint_of(article: Article) -> Fingerprint | None:
    return Fingerprint(article.minhash, tuple(article.lsh_bands)) if article.minhash else None


def _apply(article: Article, match: Match | None, outcome: StoryOutcome) -> None:
    if match is None:
        article.story_id, article.duplicate_of = article.id, None
        article.story_size, article.story_sources = 1, [article.source]
        outcome.new_stories += 1
        return
    article.story_id = match.member.story_id
    article.duplicate_of = match.member.id
    article.duplicate_similarity = round(match.similarity, 3)
    article.story_size, article.story_sources = None, []
    if match.exact:
        outcome.exact_copies += 1
    else:
        outcome.near_copies += 1


def lookup_candidates(
    es: Client,
    names: IndexNames,
    articles: Sequence[Article],
    outcome: StoryOutcome,
    unrefreshed: Unrefreshed | None = None,
) -> list[StoryMember]:
    """Indexed articles the batch's articles may copy, in the order matching prefers.

    Two look-ups at most. First the exact copies: for each content hash of the batch, the
    first indexed article with it (roots and lone articles first, then the oldest), which is
    the match `CandidatePool.best_match` picks for an article with that hash, since nothing
    beats an exact copy. Then, for the articles with no exact copy indexed, the indexed
    articles sharing a band key with them. Wire copy reprinted word for word is common in
    news, and all of a story's copies share its bands: without the first step, each batch
    with one more reprint fetched every earlier copy (up to `CANDIDATE_LIMIT`) to match it
    to the first. The articles of this run that searches may not see yet come from
    `unrefreshed`, merged into the same order.
    """
    hashes = sorted({a.content_hash for a in articles if a.content_hash})
    exact, _ = _search_candidates(es, names, "content_hash", hashes, collapse=True)
    copied = {hit["_source"].get("content_hash") for hit in exact}
    keys = sorted({key for a in articles if a.content_hash not in copied for key in a.lsh_bands})
    near, matching = _search_candidates(es, names, "lsh_bands", keys, collapse=False)
    found = {hit["_id"]: (_order(*hit["sort"]), _member_from_hit(hit)) for hit in [*near, *exact]}
    outcome.candidates = len(found)
    outcome.candidates_left_out = matching - len(near)
    if unrefreshed is not None:
        for order, member in unrefreshed.sharing(articles):
            found.setdefault(member.id, (order, member))  # a refresh may have shown it already
    return [member for _, member in sorted(found.values(), key=lambda pair: pair[0])]


def _search_candidates(
    es: Client, names: IndexNames, field: str, values: list[str], *, collapse: bool
) -> tuple[list[dict[str, Any]], int]:
    """Indexed articles with one of `values` in `field`, in `_CANDIDATE_ORDER` (with
    `collapse`, only the first of each value), and how many there are in all."""
    if not values:
        return [], 0
    response = es.options(ignore_status=404).search(
        index=names.articles,
        query={"terms": {field: values}},
        sort=_CANDIDATE_ORDER,
        size=len(values) if collapse else CANDIDATE_LIMIT,
        collapse={"field": field} if collapse else None,
        source_includes=_CANDIDATE_FIELDS,
        track_total_hits=not collapse,
    )
    hits = response.get("hits", {})
    return hits.get("hits", []), hits.get("total", {}).get("value", 0)


_LAST = 2**63 - 1  # where Elasticsearch sorts a missing date in ascending order
_Order = tuple[bool, str, int]


def _order(duplicate_of: str | None, first_seen_ms: int | None) -> _Order:
    """A candidate's place in `_CANDIDATE_ORDER`, to merge hits with `Unrefreshed` members:
    from a hit's sort values, or from an article (first seen in epoch milliseconds, as
    Elasticsearch sorts dates)."""
    last = _LAST if first_seen_ms is None else first_seen_ms
    return duplicate_of is not None, duplicate_of or "", last


def _member_from_hit(hit: dict[str, Any]) -> StoryMember:
    source = hit["_source"]
    minhash, bands = source.get("minhash"), source.get("lsh_bands") or []
    return StoryMember(
        id=hit["_id"],
        story_id=source.get("story_id") or hit["_id"],
        source=source.get("source", ""),
        content_hash=source.get("content_hash"),
        fingerprint=Fingerprint(minhash, tuple(bands)) if minhash else None,
        index=hit["_index"],
    )


def after_indexing(
    es: Client,
    names: IndexNames,
    outcome: StoryOutcome,
    articles: Sequence[Article],
    written: Mapping[str, str],
    failed: Iterable[str] = (),
    unrefreshed: Unrefreshed | None = None,
) -> Counter[str]:
    """Count this batch's copies on their roots indexed earlier; make the batch findable.

    `written` maps the ids the bulk write stored to their index, `failed` are the ids it
    could not store: those copies are not counted. The next batch's look-up must find this
    batch's articles (copies of one story often come in consecutive batches): they go into
    `unrefreshed`, which refreshes their indices once it holds enough; without one, their
    indices are refreshed now. Returns failures by reason.
    """
    failures = _record_joins(es, names, outcome, set(failed))
    if unrefreshed is None:
        unrefreshed = Unrefreshed(limit=0)
    unrefreshed.add([a for a in articles if a.id in written], written)
    unrefreshed.refresh_if_full(es)
    return failures


class Unrefreshed:
    """This run's written articles that searches may not see yet, as story candidates.

    Elasticsearch makes a write searchable at the index's next refresh (every 5 s for the
    article indices, `mappings/articles.json`). Refreshing the batch's indices after each
    batch, so that the next look-up would see it, was half of Elasticsearch's CPU on the
    benchmark (a segment per index per batch, then their merges): the look-up takes them
    from here instead, and their indices are refreshed once `limit` articles are held, which
    bounds the memory (a member is ~4 KB). The run refreshes everything at its end. Other
    runs (the DAG's concurrent batches) see these articles after the interval, which is
    why it stays short: a copy arriving in another run within it starts a story of its own.
    """

    def __init__(self, limit: int = UNREFRESHED_LIMIT) -> None:
        self.limit = limit
        self._pool = CandidatePool()  # only its index by key: matching happens elsewhere
        self._orders: dict[str, _Order] = {}  # member id -> its place in `_CANDIDATE_ORDER`
        self._indices: set[str] = set()

    def __len__(self) -> int:
        return len(self._pool)

    def add(self, articles: Iterable[Article], written: Mapping[str, str]) -> None:
        """Remember `articles` (story assigned, written to `written[article.id]`)."""
        for article in articles:
            member = _member_of(article)
            member.story_id, member.index = article.story_id or article.id, written[article.id]
            first_seen_ms = int(article.first_seen_at.timestamp() * 1000)
            self._orders[member.id] = _order(article.duplicate_of, first_seen_ms)
            self._pool.add(member)
            self._indices.add(member.index)

    def sharing(self, articles: Iterable[Article]) -> list[tuple[_Order, StoryMember]]:
        """The members sharing a band key or the content hash with one of `articles`."""
        found = {
            member.id: member
            for article in articles
            for member in self._pool.sharing(article.content_hash, _fingerprint_of(article))
        }
        return [(self._orders[doc_id], member) for doc_id, member in found.items()]

    def refresh_if_full(self, es: Client) -> None:
        if len(self) < self.limit or not self._indices:
            return
        es.indices.refresh(index=",".join(sorted(self._indices)), ignore_unavailable=True)
        self._pool, self._orders, self._indices = CandidatePool(), {}, set()


def _record_joins(
    es: Client, names: IndexNames, outcome: StoryOutcome, failed: set[str]
) -> Counter[str]:
    joins = {
        root: [source for doc_id, source in copies if doc_id not in failed]
        for root, copies in outcome.joins.items()
    }
    joins = {root: sources for root, sources in joins.items() if sources}
    if not joins:
        return Counter()
    where = dict(outcome.root_index)
    where.update(find_known(es, names, [root for root in joins if root not in where]))
    actions = (
        {
            "_op_type": "update",
            "_index": where[root],
            "_id": root,
            "retry_on_conflict": 5,  # copies of one story indexed by several workers at once
            "script": {
                "source": _JOIN_STORY,
                "params": {"sources": sorted(set(sources)), "added": len(sources)},
            },
        }
        for root, sources in joins.items()
        if root in where
    )
    failures = bulk_write(es, actions).failures
    lost = sum(root not in where for root in joins)
    if lost:  # the root was deleted (retention) since its copy was matched
        failures["story:root_missing"] += lost
    return failures
