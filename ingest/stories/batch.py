"""Stories: near-duplicate articles across outlets, clustered at ingest.

An agency story is carried by many outlets, each with its own headline, intro, boilerplate
and cuts. mediamon finds those copies as each article is ingested, without in-memory state,
so it works across runs and across any number of workers:

1. **Fingerprint** (CPU work, in the extraction worker): the body is folded (NFKC, case,
   punctuation), cut into word tokens (one token per Han/kana character, since Japanese and
   Chinese have no spaces) and into overlapping `SHINGLE_SIZE`-token shingles. A MinHash of
   `NUM_PERM` permutations summarises the shingle set; it is cut into `BANDS` bands of
   `ROWS` values, and each band is hashed into a short key. The keys are indexed on the
   article (`lsh_bands`, keyword) and the signature kept in `_source` (`minhash`, binary).
2. **Look-up** (one Elasticsearch query per batch): a `terms` query on `lsh_bands` for every
   key of the batch, plus `content_hash` for exact re-posts, returns the indexed articles
   that share at least one band with a new article: its candidates.
3. **Verify and assign**: a candidate is a near-copy when the two signatures agree on at
   least `THRESHOLD` of their values (the MinHash estimate of the shingles' Jaccard
   similarity); a candidate with the same `content_hash` is an exact copy (similarity 1).
   The best match becomes `duplicate_of` and its story becomes the article's `story_id`;
   an article without a match starts a story of its own (`story_id` = its id). Articles of
   the same batch are candidates for the ones after them, since two copies can arrive
   together.
4. **Count**: the first article of a story (its root) keeps `story_size` and
   `story_sources`/`story_outlets` (how many outlets carried it), updated by a partial
   update when a copy joins.

Parameters, chosen with `benchmarks/near_duplicates.py` (`--grid` for the search) on
syndication edits built from the shared corpus (a new headline, a dropped or added paragraph,
other boilerplate, a local intro, trims to 2/3 and to 1/2, copy-edits, all at once) and
same-topic non-duplicates (two halves of one report, a follow-up quoting the lead as
background, two real reports of one earthquake):

    SHINGLE_SIZE = 4 words (8 characters in text without spaces)
    NUM_PERM = 128, BANDS x ROWS = 42 x 3 (126 of the 128 values), THRESHOLD = 0.30

    pairs: 826 copies, 10,817 non-duplicates (49 on the same topic)
        precision 1.000, recall 1.000
    clusters (every copy streamed in random order through `assign`, 5 orders):
        pairwise precision 1.000, recall 0.996

The margins are what to watch, not the perfect scores on a small set: the lowest copy
(trimmed to half its length) estimates at 0.30, the highest same-topic non-duplicate (a
short report and a follow-up quoting its long lead) at 0.24. Measured with 256 permutations:
3-word shingles let unrelated pairs reach 0.07, 5-word ones brought copy-edited copies down
to 0.55, 4 words keep them apart (unrelated ≤ 0.012, copy-edits ≥ 0.67). In Japanese,
shingles of 3 characters put two unrelated reports at 0.12, of 8 at 0.01. Two bodies of
similarity s share a band with probability
1 - (1 - s^3)^42: 0.68 at s = 0.3, 0.94 at 0.4, 0.996 at 0.5, but 0.04 at 0.1 and 0.0003
at 0.02, so the look-up returns few candidates that the verification must then drop.

Known limits: a story is never merged with another after the fact (two copies indexed at
the same moment by two workers may start two stories); the root is the first article
*indexed*, which is the earliest published one unless feeds deliver out of order.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from elasticsearch import Elasticsearch
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from ingest.models import Article
from ingest.store import IndexNames, StoredArticle, article_groups, bulk_write, find_known
from ingest.store.language_fields import NEUTRAL, group_of

__all__ = [
    "BANDS",
    "NUM_PERM",
    "ROWS",
    "SHINGLE_SIZE",
    "THRESHOLD",
    "Fingerprint",
    "MinHashParams",
    "fingerprint",
    "shingles",
    "similarity",
    "tokens",
]


@dataclass(frozen=True)
class MinHashParams:
    """The knobs of near-duplicate detection (the evaluation varies them; ingest uses PARAMS)."""

    shingle_size: int = 4
    num_perm: int = 128
    bands: int = 42
    threshold: float = 0.30
    min_shingles: int = 8  # fewer shingles than this: too short to judge, exact copies only

    @property
    def rows(self) -> int:
        return self.num_perm // self.bands

    @property
    def scheme(self) -> str:
        """Tag of everything that makes two signatures comparable, put in every band key.

        Change a parameter (or the MinHash scheme) and old and new keys never meet, so an
        article is never compared with a signature it cannot be compared with.
        """
        return f"m{self.shingle_size}.{self.num_perm}.{self.bands}"


PARAMS = MinHashParams()
SHINGLE_SIZE, NUM_PERM, BANDS, ROWS, THRESHOLD = (
    PARAMS.shingle_size,
    PARAMS.num_perm,
    PARAMS.bands,
    PARAMS.rows,
    PARAMS.threshold,
)
# The signatures stored are datasketch 2.x's affine32 scheme with this seed (which fixes the
# permutations); `minhash_values` computes the same values without importing datasketch.
_MINHASH_SEED = 1

# Han and kana are written without spaces: each character is a token of its own.
_UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_UNSPACED}]|[^\W_{_UNSPACED}]+")
_UNSPACED_CHAR = re.compile(rf"[{_UNSPACED}]")


@dataclass(frozen=True)
class Fingerprint:
    """A body's MinHash signature (base64 of little-endian uint32s) and its LSH band keys.

    Plain strings, so that it crosses the process pool cheaply and goes into `_source` as is.
    """

    minhash: str
    bands: tuple[str, ...]


def tokens(text: str) -> list[str]:
    """Word tokens of `text` with case, width and punctuation folded away."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def shingles(text: str, size: int = SHINGLE_SIZE) -> set[bytes]:
    """The set of `size`-word shingles of `text` (one shingle if it is shorter than that).

    In text written without spaces a token is one character, about half a word (the rule
    `language.count_words` follows too), so its shingles are twice as many tokens long:
    three characters would be common to many unrelated Japanese reports.
    """
    words = tokens(text)
    if _mostly_unspaced(words):
        size *= 2
    if len(words) <= size:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


def _mostly_unspaced(words: list[str]) -> bool:
    unspaced = sum(len(w) == 1 and _UNSPACED_CHAR.match(w) is not None for w in words)
    return unspaced * 2 > len(words)


def fingerprint(text: str, params: MinHashParams = PARAMS) -> Fingerprint | None:
    """The fingerprint of a body, or None when it is too short for near-duplicate matching."""
    values = signature(text, params)
    return None if values is None else fingerprint_of(values, params)


def signature(text: str, params: MinHashParams = PARAMS) -> np.ndarray | None:
    """The MinHash values (uint32) of a body's shingles, or None when it is too short."""
    shingle_set = shingles(text, params.shingle_size)
    if len(shingle_set) < params.min_shingles:
        return None
    return minhash_values(shingle_set, params.num_perm)


def minhash_values(shingle_set: Iterable[bytes], num_perm: int) -> np.ndarray:
    """datasketch's `MinHash(num_perm, seed=1, scheme="affine32")` values of a set, bit for
    bit (tests/test_stories.py compares them), in numpy alone.

    datasketch's package imports scipy (~50 MB and a second per process) for classes the
    pipeline does not use, and every extraction worker fingerprints; the values are those of
    datasketch 2.x: SHA-1's first 4 bytes (little-endian), MurmurHash3's 32-bit finalizer,
    then `a * h + b` modulo 2^32 per permutation, the minimum kept.
    """
    digests = b"".join(hashlib.sha1(shingle).digest()[:4] for shingle in shingle_set)
    if not digests:  # datasketch's empty MinHash: every value at its maximum
        return np.full(num_perm, np.iinfo(np.uint32).max, dtype="<u4")
    hashed = _fmix32(np.frombuffer(digests, dtype="<u4").astype(np.uint32))
    a, b = _permutations(num_perm, _MINHASH_SEED)
    values: np.ndarray = (hashed[:, np.newaxis] * a + b).min(axis=0)
    return values.astype("<u4")


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (uint32 arithmetic wraps, as the hash wants)."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    mixed: np.ndarray = values ^ (values >> np.uint32(16))
    return mixed


@functools.cache
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The affine32 permutations' (odd a, b), drawn as datasketch draws them from `seed`."""
    generator = np.random.RandomState(seed)
    a = generator.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = generator.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def fingerprint_of(values: np.ndarray, params: MinHashParams = PARAMS) -> Fingerprint:
    return Fingerprint(_encode(values), band_keys(values, params))


def signature_values(minhash: str) -> np.ndarray:
    """The uint32 values of a stored signature (`Fingerprint.minhash`)."""
    return np.frombuffer(base64.b64decode(minhash), dtype="<u4")


def band_keys(values: np.ndarray, params: MinHashParams = PARAMS) -> tuple[str, ...]:
    """One key per band: the band's number and a hash of its `rows` values.

    Two signatures share a key only if they agree on every value of that band; the band
    number keeps equal values in different bands from meeting.
    """
    keys = []
    for band in range(params.bands):
        chunk = values[band * params.rows : (band + 1) * params.rows].tobytes()
        digest = hashlib.blake2b(chunk, digest_size=8).hexdigest()
        keys.append(f"{params.scheme}:{band:02d}:{digest}")
    return tuple(keys)


def similarity(a: str, b: str) -> float:
    """Estimated Jaccard similarity of two bodies: the share of equal signature values."""
    left, right = signature_values(a), signature_values(b)
    if left.shape != right.shape:  # signatures of other parameters: not comparable
        return 0.0
    return float(np.mean(left == right))


def shared_band(a: Iterable[str], b: Iterable[str]) -> bool:
    """Would the LSH look-up bring these two together (at least one band key in common)?"""
    return not set(a).isdisjoint(b)


def is_near_copy(a: Fingerprint, b: Fingerprint, params: MinHashParams = PARAMS) -> bool:
    """The decision the pipeline makes: found by a band, and similar enough."""
    return shared_band(a.bands, b.bands) and similarity(a.minhash, b.minhash) >= params.threshold


def _encode(values: np.ndarray) -> str:
    return base64.b64encode(values.astype("<u4").tobytes()).decode("ascii")


# -- matching: the same code for the pipeline and the evaluation --------------------------


@dataclass
class StoryMember:
    """What matching needs to know of an article that a newer one may copy."""

    id: str
    story_id: str
    source: str
    content_hash: str | None
    fingerprint: Fingerprint | None
    index: str | None = None  # its Elasticsearch index; None while it is in the current batch


@dataclass(frozen=True)
class Match:
    """The article a new one copies, how similar they are, and whether word for word.

    `exact` means the same content hash (similarity 1.0); a near copy can also estimate at
    1.0 when its changes fall outside the signature, so the flag is kept apart.
    """

    member: StoryMember
    similarity: float
    exact: bool = False

    def beats(self, other: Match | None) -> bool:
        """More similar, or as similar and exact; the earlier candidate wins a tie."""
        return other is None or (self.similarity, self.exact) > (other.similarity, other.exact)


class CandidatePool:
    """Articles a new one may copy, found by band key or content hash, earliest first.

    The pipeline fills it with one Elasticsearch look-up per batch, then adds each article of
    the batch once it is assigned, so that two copies in one batch find each other.
    """

    def __init__(self, params: MinHashParams = PARAMS) -> None:
        self.params = params
        self._members: list[StoryMember] = []
        self._by_key: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return len(self._members)

    def get(self, doc_id: str) -> StoryMember | None:
        return next((m for m in self._members if m.id == doc_id), None)

    def add(self, member: StoryMember) -> None:
        position = len(self._members)
        self._members.append(member)
        for key in _lookup_keys(member.content_hash, member.fingerprint):
            self._by_key.setdefault(key, []).append(position)

    def best_match(self, content_hash: str | None, fp: Fingerprint | None) -> Match | None:
        """The most similar candidate at or above the threshold; the earliest among equals."""
        best: Match | None = None
        for member in self.sharing(content_hash, fp):
            match = _match(member, content_hash, fp, self.params)
            if match is not None and match.beats(best):
                best = match
        return best

    def sharing(self, content_hash: str | None, fp: Fingerprint | None) -> list[StoryMember]:
        """The members sharing the content hash or a band key, in the order they were added."""
        found: set[int] = set()
        for key in _lookup_keys(content_hash, fp):
            found.update(self._by_key.get(key, ()))
        return [self._members[position] for position in sorted(found)]


def _lookup_keys(content_hash: str | None, fp: Fingerprint | None) -> list[str]:
    keys = [f"hash:{content_hash}"] if content_hash else []
    return keys + list(fp.bands if fp else ())


def _match(
    member: StoryMember, content_hash: str | None, fp: Fingerprint | None, params: MinHashParams
) -> Match | None:
    """`member` as an exact copy, a near copy (estimate at the threshold), or neither."""
    if content_hash and member.content_hash == content_hash:
        return Match(member, 1.0, exact=True)
    if fp is None or member.fingerprint is None:
        return None
    score = similarity(fp.minhash, member.fingerprint.minhash)
    return Match(member, score) if score >= params.threshold else None


def assign(pool: CandidatePool, member: StoryMember) -> Match | None:
    """Give `member` its story (its best match's, else its own) and add it to the pool."""
    match = pool.best_match(member.content_hash, member.fingerprint)
    member.story_id = match.member.story_id if match else member.id
    pool.add(member)
    return match


# -- at ingest: one look-up per batch, then the story counters of the roots ---------------

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
    es: Elasticsearch,
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
    es: Elasticsearch,
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
    es: Elasticsearch, names: IndexNames, field: str, values: list[str], *, collapse: bool
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
    es: Elasticsearch,
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

    def refresh_if_full(self, es: Elasticsearch) -> None:
        if len(self) < self.limit or not self._indices:
            return
        es.indices.refresh(index=",".join(sorted(self._indices)), ignore_unavailable=True)
        self._pool, self._orders, self._indices = CandidatePool(), {}, set()


def _record_joins(
    es: Elasticsearch, names: IndexNames, outcome: StoryOutcome, failed: set[str]
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


# -- related coverage: `mediamon related` ------------------------------------------------

_LISTED_FIELDS = [
    "title",
    "source",
    "language",
    "published_at",
    "first_seen_at",
    "url",
    "story_id",
    "duplicate_of",
    "duplicate_similarity",
]
# Puts articles in the language of the one asked about first; the score orders within each.
_SAME_LANGUAGE_FIRST = (
    "doc['language'].size() > 0 && doc['language'].value == params.language ? 1 : 0"
)


@dataclass(frozen=True)
class Coverage:
    """One article in a listing of related coverage."""

    id: str
    title: str
    source: str
    language: str
    published_at: str
    url: str
    relation: str  # "original", "exact copy", "near copy (0.82)", "related"
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RelatedCoverage:
    """The story an article belongs to (the other copies) and other articles like it."""

    article: Coverage
    story_id: str
    story: list[Coverage]  # the other articles of its story, oldest first
    sources: list[str]  # every outlet that carried the story, this article's included
    related: list[Coverage]  # more_like_this, same language first, the story left out

    def to_dict(self) -> dict[str, Any]:
        return {
            "article": self.article.to_dict(),
            "story": {
                "id": self.story_id,
                "size": len(self.story) + 1,
                "outlets": len(self.sources),
                "sources": self.sources,
                "articles": [c.to_dict() for c in self.story],
            },
            "related": [c.to_dict() for c in self.related],
        }


def related_coverage(
    es: Elasticsearch, names: IndexNames, article: StoredArticle, limit: int = 10
) -> RelatedCoverage:
    """Its story's other articles, with their sources and dates, and related articles."""
    source = article.source
    story_id = source.get("story_id") or article.id
    story = _story_members(es, names, story_id, article.id)
    sources = sorted({str(source.get("source", "")), *(c.source for c in story)} - {""})
    related = _more_like_this(es, names, article, story_id, limit)
    return RelatedCoverage(_coverage(article.id, source), story_id, story, sources, related)


def _story_members(
    es: Elasticsearch, names: IndexNames, story_id: str, exclude: str
) -> list[Coverage]:
    response = es.search(
        index=names.articles,
        query={
            "bool": {
                "filter": [{"term": {"story_id": story_id}}],
                "must_not": [{"ids": {"values": [exclude]}}],
            }
        },
        sort=[{"first_seen_at": "asc"}, {"published_at": "asc"}],
        size=500,
        source_includes=_LISTED_FIELDS,
    )
    return [_coverage(hit["_id"], hit["_source"]) for hit in response["hits"]["hits"]]


def _more_like_this(
    es: Elasticsearch, names: IndexNames, article: StoredArticle, story_id: str, limit: int
) -> list[Coverage]:
    """more_like_this over the article's text; copies of the same story are listed apart.

    Articles in the same language are compared through that language's analyzer; articles
    in other languages (which lack its `text.<group>`, see `ingest.store.language_fields`)
    through the neutral fields, e.g. a report in English quoting a Dutch one at length.
    """
    language = str(article.source.get("language", ""))
    like = {
        "bool": {
            "should": [_mlt_query(article, fields) for fields in mlt_fields(language)],
            "minimum_should_match": 1,
        }
    }
    response = es.search(
        index=names.articles,
        query={
            "bool": {
                "must": [like],
                "must_not": [{"ids": {"values": [article.id]}}, {"term": {"story_id": story_id}}],
            }
        },
        sort=[
            {
                "_script": {
                    "type": "number",
                    "order": "desc",
                    "script": {"source": _SAME_LANGUAGE_FIRST, "params": {"language": language}},
                }
            },
            "_score",
        ],
        track_scores=True,
        size=limit,
        source_includes=_LISTED_FIELDS,
    )
    return [
        replace(_coverage(hit["_id"], hit["_source"], "related"), score=hit.get("_score"))
        for hit in response["hits"]["hits"]
    ]


def _mlt_query(article: StoredArticle, fields: list[str]) -> dict[str, Any]:
    return {
        "more_like_this": {
            "fields": fields,
            "like": [{"_index": article.index, "_id": article.id}],
            "min_term_freq": 1,
            # A term must occur in another article too, or it cannot find one.
            "min_doc_freq": 2,
            "max_query_terms": 40,
            "minimum_should_match": "30%",
        }
    }


_NEUTRAL_FIELDS = ["title", "summary", "body"]


def mlt_fields(language: str) -> list[list[str]]:
    """The fields to compare an article in `language` with others through: title, summary
    and body as analysed for its language (only articles in its language group have them),
    and the language-neutral ones (every article has them).

    The language's own analyzer drops its stop words and stems; the neutral fields find
    other languages' articles that share many of its words (a quoted passage). The summary
    counts for articles kept from their feed only (no body).
    """
    group = group_of(language, article_groups())
    if group == NEUTRAL:
        return [_NEUTRAL_FIELDS]
    return [[f"text.{group}.{field}" for field in _NEUTRAL_FIELDS], _NEUTRAL_FIELDS]


def _coverage(doc_id: str, source: dict[str, Any], relation: str | None = None) -> Coverage:
    return Coverage(
        id=doc_id,
        title=str(source.get("title", "")),
        source=str(source.get("source", "")),
        language=str(source.get("language", "")),
        published_at=str(source.get("published_at", "")),
        url=str(source.get("url", "")),
        relation=relation or _relation(doc_id, source),
    )


def _relation(doc_id: str, source: dict[str, Any]) -> str:
    if not source.get("duplicate_of"):
        return "original" if (source.get("story_id") or doc_id) == doc_id else "—"
    similarity = source.get("duplicate_similarity")
    if similarity is not None and similarity >= 1.0:
        return "exact copy"
    return f"near copy ({similarity:.2f})" if similarity is not None else "near copy"


def render_related(found: RelatedCoverage) -> list[RenderableType]:
    """`mediamon related`: the story (sources and dates), then related articles."""
    a = found.article
    head = Text.assemble(
        (a.title, "bold"), f"\n{a.source} · {a.language} · {a.published_at[:16]} · {a.relation}"
    )
    story = Table(
        "published",
        "source",
        "lang",
        "relation",
        "title",
        title_justify="left",
        title=f"Same story: {len(found.story) + 1} articles, {len(found.sources)} "
        f"outlet(s): {', '.join(found.sources)}",
    )
    for c in found.story:
        story.add_row(c.published_at[:16], c.source, c.language, c.relation, c.title)
    related = Table(
        "score",
        "published",
        "source",
        "lang",
        "title",
        title_justify="left",
        title="Related coverage (same language first)",
    )
    for c in found.related:
        related.add_row(f"{c.score or 0:.1f}", c.published_at[:16], c.source, c.language, c.title)
    parts: list[RenderableType] = [head]
    parts.append(story if found.story else Text("No other copy of this story.", style="dim"))
    parts.append(related if found.related else Text("No related article found.", style="dim"))
    return parts
