"""The fingerprint of an article's body, and the similarity of two: MinHash and LSH bands.

Pure computation, numpy alone: the extraction workers (`ingest.extract.pool`) import this
module, and nothing of Elasticsearch or of the CLI comes with it.

The body is folded (NFKC, case, punctuation), cut into word tokens (one token per Han/kana
character, since Japanese and Chinese have no spaces) and into overlapping
`SHINGLE_SIZE`-token shingles. A MinHash of `NUM_PERM` permutations summarises the shingle
set; it is cut into `BANDS` bands of `ROWS` values, and each band is hashed into a short
key. The keys are indexed on the article (`lsh_bands`, keyword) and the signature kept in
`_source` (`minhash`, binary). Two bodies are near copies when their signatures agree on at
least `THRESHOLD` of their values (the MinHash estimate of the shingles' Jaccard similarity).

Parameters, chosen with `benchmarks/near_duplicates.py` (`--grid` for the search) on
syndication edits built from the shared corpus (a new headline, a dropped or added paragraph,
other boilerplate, a local intro, trims to 2/3 and to 1/2, copy-edits, all at once) and
same-topic non-duplicates (two halves of one report, a follow-up quoting the lead as
background, two real reports of one earthquake):

    SHINGLE_SIZE = 4 words (8 characters in text without spaces)
    NUM_PERM = 128, BANDS x ROWS = 42 x 3 (126 of the 128 values), THRESHOLD = 0.30

    pairs: 826 copies, 10,817 non-duplicates (49 on the same topic)
        precision 1.000, recall 1.000
    clusters (every copy streamed in random order through `matching.assign`, 5 orders):
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
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BANDS",
    "NUM_PERM",
    "PARAMS",
    "ROWS",
    "SHINGLE_SIZE",
    "THRESHOLD",
    "Fingerprint",
    "MinHashParams",
    "band_keys",
    "fingerprint",
    "fingerprint_of",
    "is_near_copy",
    "minhash_values",
    "shared_band",
    "shingles",
    "signature",
    "signature_values",
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
