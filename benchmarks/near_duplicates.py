"""Near-duplicate detection: precision and recall on syndication edits of the shared corpus.

    .venv/bin/python benchmarks/near_duplicates.py            # the parameters in ingest.stories
    .venv/bin/python benchmarks/near_duplicates.py --grid     # and a grid search over them
    .venv/bin/python benchmarks/near_duplicates.py --dump pairs.jsonl   # the labelled pairs

The labelled set is built at run time from `../shared/corpus/pages.jsonl` (25 real articles
in 13 languages) and the Dutch seed article, with a fixed random seed; nothing of it is
committed, since the pages are their publishers' content.

- **Copies** (duplicates of their original), as an outlet carrying an agency story makes them:
  a new headline; typographic reformatting; a dropped paragraph; an added paragraph; other
  boilerplate (a dateline, a copyright line, a newsletter plug); a local intro; copy-edits
  (a word in 25 replaced, a sentence cut); a trim to the first two thirds; a trim to the
  first half; and all of headline, intro, dropped paragraph, boilerplate and edits at once.
- **Same-topic non-duplicates**: the first and second halves of one report (same names and
  vocabulary, different text, as two outlets' own reports of an event); a follow-up that
  quotes the earlier report's lead paragraph as background; and the two real Japanese
  reports of the 13 January 2025 Hyuganada earthquake (Asahi and Chunichi).
- **Other non-duplicates**: every pair of different articles, originals and copies.

An "added paragraph" or "local intro" is new text in the article's own language: the words of
one of its paragraphs in a new order (the same vocabulary, none of its phrasing).

Two measures, both with the pipeline's own code (`ingest.stories`):

- *pairs*: a pair is judged a duplicate when the two share an LSH band and their MinHash
  estimate reaches the threshold, or when their content hashes are equal;
- *clusters*: every document is streamed, in random order, through `stories.assign` as the
  pipeline does; pairwise precision and recall of the resulting stories against the truth.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ingest import stories  # noqa: E402
from ingest.identity import content_hash  # noqa: E402
from ingest.stories import CandidatePool, Fingerprint, MinHashParams, StoryMember  # noqa: E402

SEED = 20211116
console = Console()


@dataclass(frozen=True)
class Doc:
    """One article of the evaluation: `group` is its true story."""

    id: str
    group: str
    kind: str  # "original", the edit that made a copy, or the non-duplicate construction
    lang: str
    title: str
    paragraphs: tuple[str, ...]

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)


@dataclass(frozen=True)
class Pair:
    a: Doc
    b: Doc
    duplicate: bool
    kind: str  # the edit (copies), or "same_topic:*", or "other"


# -- the originals ------------------------------------------------------------------------


def load_originals(shared: Path) -> list[Doc]:
    """The corpus articles (expected bodies) and the Dutch seed article."""
    docs = []
    for line in (shared / "corpus" / "pages.jsonl").read_text().splitlines():
        page = json.loads(line)
        name = Path(page["file"]).name.removesuffix(".html.gz")
        paragraphs = tuple(p.strip() for p in page["body"].split("\n\n") if p.strip())
        docs.append(Doc(name, name, "original", page["lang"], page["title"], paragraphs))
    seed_lines = (shared / "seed" / "border-crisis-nl-2021-11.txt").read_text().splitlines()
    seed_paragraphs = tuple(line.strip() for line in seed_lines[1:] if line.strip())
    docs.append(Doc("nl-seed", "nl-seed", "original", "nl", seed_lines[0], seed_paragraphs))
    return docs


# -- copies: the edits syndication makes --------------------------------------------------

BOILERPLATE_TAIL = (
    "© {year} {agency}. All rights reserved. This material may not be published, broadcast, "
    "rewritten or redistributed.",
    "Sign up for our morning newsletter and get the day's news in your inbox.",
)
AGENCIES = ("AP", "Reuters", "AFP", "dpa", "ANP", "APA")


def fresh_paragraph(rng: random.Random, doc: Doc) -> str:
    """New text in the article's language: one of its paragraphs' words, in a new order."""
    source = rng.choice([p for p in doc.paragraphs if len(p) > 40] or list(doc.paragraphs))
    words = source.split() if " " in source else list(source)
    rng.shuffle(words)
    return (" " if " " in source else "").join(words)


def new_headline(rng: random.Random, doc: Doc) -> Doc:
    return replace(doc, title=f"{doc.title.split(':')[-1].strip()} — live")


def reformatted(rng: random.Random, doc: Doc) -> Doc:
    """Straight quotes and hyphens, doubled spaces, two paragraphs run together."""
    table = str.maketrans({"“": '"', "”": '"', "„": '"', "’": "'", "–": "-", "—": "-"})
    paragraphs = [p.translate(table).replace(". ", ".  ") for p in doc.paragraphs]
    if len(paragraphs) > 2:
        paragraphs[0:2] = [paragraphs[0] + " " + paragraphs[1]]
    return replace(doc, paragraphs=tuple(paragraphs))


def dropped_paragraph(rng: random.Random, doc: Doc) -> Doc:
    if len(doc.paragraphs) < 3:
        return doc
    drop = rng.randrange(1, len(doc.paragraphs))
    return replace(doc, paragraphs=doc.paragraphs[:drop] + doc.paragraphs[drop + 1 :])


def added_paragraph(rng: random.Random, doc: Doc) -> Doc:
    at = rng.randrange(1, len(doc.paragraphs) + 1)
    paragraphs = list(doc.paragraphs)
    paragraphs.insert(at, fresh_paragraph(rng, doc))
    return replace(doc, paragraphs=tuple(paragraphs))


def boilerplate(rng: random.Random, doc: Doc) -> Doc:
    agency = rng.choice(AGENCIES)
    tail = tuple(line.format(year=2025, agency=agency) for line in BOILERPLATE_TAIL)
    first = f"BRUSSELS ({agency}) — {doc.paragraphs[0]}"
    return replace(doc, paragraphs=(first, *doc.paragraphs[1:], *tail))


def local_intro(rng: random.Random, doc: Doc) -> Doc:
    return new_headline(rng, replace(doc, paragraphs=(fresh_paragraph(rng, doc), *doc.paragraphs)))


def copyedited(rng: random.Random, doc: Doc) -> Doc:
    """About one word in 25 replaced by another word of the article; one sentence cut."""
    vocabulary = " ".join(doc.paragraphs).split() or ["."]
    paragraphs = []
    for paragraph in doc.paragraphs:
        words = paragraph.split(" ")
        words = [rng.choice(vocabulary) if rng.random() < 0.04 else w for w in words]
        paragraphs.append(" ".join(words))
    longest = max(range(len(paragraphs)), key=lambda i: len(paragraphs[i]))
    sentences = re.split(r"(?<=[.!?。])\s*", paragraphs[longest])
    if len(sentences) > 2:
        del sentences[rng.randrange(len(sentences) - 1)]
        paragraphs[longest] = " ".join(s for s in sentences if s)
    return replace(doc, paragraphs=tuple(paragraphs))


def trimmed(rng: random.Random, doc: Doc) -> Doc:
    keep = max(2, round(len(doc.paragraphs) * 2 / 3))
    return replace(doc, paragraphs=doc.paragraphs[:keep])


def trimmed_to_half(rng: random.Random, doc: Doc) -> Doc:
    keep = max(1, round(len(doc.paragraphs) / 2))
    return replace(doc, paragraphs=doc.paragraphs[:keep])


def rewritten(rng: random.Random, doc: Doc) -> Doc:
    """Everything a busy desk does at once."""
    for edit in (dropped_paragraph, copyedited, boilerplate, local_intro):
        doc = edit(rng, doc)
    return doc


EDITS: dict[str, Callable[[random.Random, Doc], Doc]] = {
    "new_headline": new_headline,
    "reformatted": reformatted,
    "dropped_paragraph": dropped_paragraph,
    "added_paragraph": added_paragraph,
    "boilerplate": boilerplate,
    "local_intro": local_intro,
    "copyedited": copyedited,
    "trimmed_2/3": trimmed,
    "trimmed_1/2": trimmed_to_half,
    "rewritten": rewritten,
}


def copies_of(doc: Doc, rng: random.Random) -> list[Doc]:
    return [
        replace(edit(rng, doc), id=f"{doc.id}~{name}", kind=name) for name, edit in EDITS.items()
    ]


# -- same-topic non-duplicates -------------------------------------------------------------


def same_topic_pairs(originals: list[Doc]) -> Iterator[Pair]:
    """Halves of one report; a follow-up quoting the lead; two real reports of one event."""
    for doc in originals:
        if len(doc.paragraphs) < 6:
            continue
        middle = len(doc.paragraphs) // 2
        first = replace(
            doc,
            id=f"{doc.id}#1",
            group=f"{doc.id}#1",
            kind="first_half",
            paragraphs=doc.paragraphs[:middle],
        )
        second = replace(
            doc,
            id=f"{doc.id}#2",
            group=f"{doc.id}#2",
            kind="second_half",
            paragraphs=doc.paragraphs[middle:],
        )
        follow_up = replace(
            doc,
            id=f"{doc.id}#f",
            group=f"{doc.id}#f",
            kind="follow_up",
            paragraphs=(*doc.paragraphs[middle:], doc.paragraphs[0]),
        )
        yield Pair(first, second, False, "same_topic:halves")
        yield Pair(first, follow_up, False, "same_topic:follow_up")
    quake = [d for d in originals if d.lang == "ja"]
    for a, b in itertools.combinations(quake, 2):
        yield Pair(a, b, False, "same_topic:same_event")


def _distinct(doc: Doc, rng: random.Random, seeds: int) -> list[Doc]:
    """The copies of `seeds` draws, each text once (some edits are not random at all)."""
    seen: set[tuple[str, str]] = set()
    distinct = []
    for n in range(seeds):
        for copy in copies_of(doc, rng):
            if (copy.title, copy.body) not in seen:
                seen.add((copy.title, copy.body))
                distinct.append(replace(copy, id=f"{copy.id}@{n}"))
    return distinct


def labelled_pairs(originals: list[Doc], seeds: int = 1) -> list[Pair]:
    """Copies made with `seeds` independent draws of the random edits (ids tell them apart)."""
    rng = random.Random(SEED)
    copies = {doc.id: _distinct(doc, rng, seeds) for doc in originals}
    pairs = [Pair(doc, c, True, c.kind) for doc in originals for c in copies[doc.id]]
    pairs += list(same_topic_pairs(originals))
    for a, b in itertools.combinations(originals, 2):
        pairs.append(Pair(a, b, False, "other"))
        pairs += [Pair(c, b, False, "other") for c in copies[a.id]]
    return pairs


# -- scoring ------------------------------------------------------------------------------


class Fingerprints:
    """Fingerprints per document for one parameter setting; signatures cached across bands."""

    def __init__(self) -> None:
        self._signatures: dict[tuple[str, int, int], np.ndarray | None] = {}

    def signature(self, doc: Doc, params: MinHashParams) -> np.ndarray | None:
        key = (doc.body, params.shingle_size, params.num_perm)
        if key not in self._signatures:
            self._signatures[key] = stories.signature(doc.body, params)
        return self._signatures[key]

    def get(self, doc: Doc, params: MinHashParams) -> Fingerprint | None:
        values = self.signature(doc, params)
        if values is None:
            return None
        return stories.fingerprint_of(values, params)


@dataclass
class Scores:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    candidates: int = 0  # non-duplicate pairs the band look-up brought together
    by_kind: Counter[str] = field(default_factory=Counter)  # "kind:right" / "kind:wrong"

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def judged_duplicate(a: Doc, b: Doc, params: MinHashParams, prints: Fingerprints) -> bool:
    """The pipeline's decision for two articles (see `stories.CandidatePool.best_match`)."""
    pool = CandidatePool(params)
    pool.add(_member(a, params, prints))
    return pool.best_match(content_hash(b.body), prints.get(b, params)) is not None


def score_pairs(pairs: list[Pair], params: MinHashParams, prints: Fingerprints) -> Scores:
    scores = Scores()
    for pair in pairs:
        said = judged_duplicate(pair.a, pair.b, params, prints)
        fa, fb = prints.get(pair.a, params), prints.get(pair.b, params)
        if not pair.duplicate and fa and fb and stories.shared_band(fa.bands, fb.bands):
            scores.candidates += 1
        if pair.duplicate:
            scores.tp += said
            scores.fn += not said
        else:
            scores.fp += said
            scores.tn += not said
        scores.by_kind[f"{pair.kind}:{'right' if said == pair.duplicate else 'wrong'}"] += 1
    return scores


def _member(doc: Doc, params: MinHashParams, prints: Fingerprints) -> StoryMember:
    return StoryMember(doc.id, doc.id, doc.group, content_hash(doc.body), prints.get(doc, params))


def score_clusters(
    originals: list[Doc], params: MinHashParams, prints: Fingerprints, rounds: int = 5
) -> tuple[float, float]:
    """Pairwise precision and recall of the stories the streaming assignment builds."""
    rng = random.Random(SEED)
    copies = [c for doc in originals for c in copies_of(doc, rng)]
    # Each kind of same-topic pair in a stream of its own: a half *is* a copy of its
    # original, and a follow-up one of the second half it extends.
    streams: dict[str, list[Doc]] = {"copies": [*originals, *copies]}
    for pair in same_topic_pairs(originals):
        streams.setdefault(pair.kind, []).extend((pair.a, pair.b))
    tp = predicted = true = 0
    for round_ in range(rounds):
        for docs in streams.values():
            order = list(docs)
            random.Random(SEED + round_).shuffle(order)
            pool = CandidatePool(params)
            story_of = {}
            for doc in order:
                member = _member(doc, params, prints)
                stories.assign(pool, member)
                story_of[doc.id] = member.story_id
            for a, b in itertools.combinations(order, 2):
                same_story, same_group = story_of[a.id] == story_of[b.id], a.group == b.group
                tp += same_story and same_group
                predicted += same_story
                true += same_group
    return (tp / predicted if predicted else 1.0), (tp / true if true else 1.0)


# -- output -------------------------------------------------------------------------------


def report(pairs: list[Pair], originals: list[Doc], params: MinHashParams) -> None:
    prints = Fingerprints()
    scores = score_pairs(pairs, params, prints)
    cluster_p, cluster_r = score_clusters(originals, params, prints)
    copies = sum(p.duplicate for p in pairs)
    same_topic = sum(p.kind.startswith("same_topic") for p in pairs)
    console.print(
        f"[bold]{params}[/]\n"
        f"pairs: {copies} copies, {len(pairs) - copies} non-duplicates ({same_topic} same topic)\n"
        f"[bold]pairs    precision {scores.precision:.3f}  recall {scores.recall:.3f}  "
        f"F1 {scores.f1:.3f}[/]  (tp {scores.tp}, fp {scores.fp}, fn {scores.fn})\n"
        f"[bold]clusters precision {cluster_p:.3f}  recall {cluster_r:.3f}[/]\n"
        f"non-duplicate pairs that share a band (look-up cost): {scores.candidates}"
    )
    table = Table("kind", "pairs", "judged right", title="By kind", title_justify="left")
    kinds = sorted({k.rsplit(":", 1)[0] for k in scores.by_kind})
    for kind in kinds:
        right, wrong = scores.by_kind[f"{kind}:right"], scores.by_kind[f"{kind}:wrong"]
        share = f"{right / (right + wrong):.3f}"
        table.add_row(kind, str(right + wrong), f"[yellow]{share}[/]" if wrong else share)
    console.print(table)
    similarities = Table(
        "kind", "min", "median", "max", title="Estimated similarity", title_justify="left"
    )
    for kind in kinds:
        values = [
            stories.similarity(fa.minhash, fb.minhash)
            for p in pairs
            if p.kind == kind
            and (fa := prints.get(p.a, params))
            and (fb := prints.get(p.b, params))
        ]
        if values and kind != "other":
            similarities.add_row(kind, *(f"{v:.2f}" for v in np.percentile(values, [0, 50, 100])))
    console.print(similarities)


def grid(pairs: list[Pair]) -> None:
    """Every setting scored from each pair's per-value agreement, computed once per signature.

    The same decision as `judged_duplicate` (equal content hash, or a shared band and an
    estimate at the threshold), vectorised: a band is shared when all its rows agree.
    """
    prints = Fingerprints()
    exact = np.array([content_hash(p.a.body) == content_hash(p.b.body) for p in pairs])
    truth = np.array([p.duplicate for p in pairs])
    results = []
    for shingle_size, num_perm in itertools.product((2, 3, 4, 5), (64, 128, 256)):
        base = MinHashParams(shingle_size, num_perm, bands=num_perm)
        agree = np.zeros((len(pairs), num_perm), dtype=bool)
        for i, pair in enumerate(pairs):
            sa, sb = prints.signature(pair.a, base), prints.signature(pair.b, base)
            if sa is not None and sb is not None:
                agree[i] = sa == sb
        estimate = agree.mean(axis=1)
        for rows in (2, 3, 4, 5, 6, 8):
            bands = num_perm // rows
            by_band = agree[:, : bands * rows].reshape(len(pairs), bands, rows)
            shared = by_band.all(axis=2).any(axis=1)
            for threshold in (0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6):
                said = exact | (shared & (estimate >= threshold))
                scores = Scores(
                    tp=int((said & truth).sum()),
                    fp=int((said & ~truth).sum()),
                    fn=int((~said & truth).sum()),
                    tn=int((~said & ~truth).sum()),
                    candidates=int((shared & ~truth).sum()),
                )
                params = MinHashParams(shingle_size, num_perm, bands, threshold)
                results.append((scores.f1, scores.precision, -scores.candidates, params, scores))
    results.sort(key=lambda r: r[:3], reverse=True)
    table = Table(
        "shingle",
        "perm",
        "bands×rows",
        "threshold",
        "precision",
        "recall",
        "F1",
        "band-sharing non-dups",
        title="Grid (best 30 by F1)",
        title_justify="left",
    )
    for f1, precision, _, params, scores in results[:30]:
        table.add_row(
            str(params.shingle_size),
            str(params.num_perm),
            f"{params.bands}×{params.rows}",
            f"{params.threshold:.2f}",
            f"{precision:.3f}",
            f"{scores.recall:.3f}",
            f"{f1:.3f}",
            str(scores.candidates),
        )
    console.print(table)


def dump(pairs: list[Pair], path: Path) -> None:
    with path.open("w") as out:
        for p in pairs:
            row = {
                "a": p.a.id,
                "b": p.b.id,
                "duplicate": p.duplicate,
                "kind": p.kind,
                "a_body": p.a.body,
                "b_body": p.b.body,
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    console.print(f"{len(pairs)} labelled pairs written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--grid", action="store_true", help="also search the parameter grid")
    parser.add_argument("--dump", type=Path, help="write the labelled pairs as JSON lines")
    parser.add_argument(
        "--seeds", type=int, default=5, help="independent draws of the random edits per original"
    )
    args = parser.parse_args()
    if not (args.shared / "corpus" / "pages.jsonl").exists():
        sys.exit(f"no corpus under {args.shared}: pass --shared")
    originals = load_originals(args.shared)
    pairs = labelled_pairs(originals, args.seeds)
    if args.dump:
        dump(pairs, args.dump)
    report(pairs, originals, stories.PARAMS)
    if args.grid:
        grid(pairs)


if __name__ == "__main__":
    main()
