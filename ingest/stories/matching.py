"""Which earlier article a new one copies: the same code for the pipeline and the evaluation.

Pure, like `ingest.stories.minhash`: `ingest.stories.batch` fills a `CandidatePool` from
Elasticsearch, `benchmarks/near_duplicates.py` from its corpus, and both call `assign`. A
candidate with the same `content_hash` is an exact copy (similarity 1); one whose signature
agrees on at least the threshold's share of values is a near copy. The best match gives the
article its story; an article without a match starts a story of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.stories.minhash import PARAMS, Fingerprint, MinHashParams, similarity

__all__ = ["CandidatePool", "Match", "StoryMember", "assign"]


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
