"""Extraction quality on development sets: shingle precision, recall and F1 of the body.

    .venv/bin/python benchmarks/extraction_quality.py                        # ../shared corpus
    .venv/bin/python benchmarks/extraction_quality.py --readability DIR      # + readability's pages
    .venv/bin/python benchmarks/extraction_quality.py --json FILE

Development sets (pages with the article text a reader should get), never the held-out
evaluation sets that the README's "Extraction" section names:

- `--shared DIR` (default `MEDIAMON_SHARED` or `../shared`): `corpus/pages.jsonl`, 25 news
  pages in 13 languages with their expected bodies;
- `--readability DIR`: mozilla/readability's `test/test-pages` layout (`NAME/source.html`,
  `NAME/expected.html`), e.g. from a clone of that repository, kept outside this one. Only
  the article pages are taken: an expected text of at least 150 words from a source page of
  at least 15 kB (the others are unit tests of single HTML features).

For each set it prints, for mediamon's extraction (the cascade of `extract.EXTRACTION_PASSES`),
its first pass alone and trafilatura's `extract` with its defaults: mean precision, recall and
F1 of word 4-grams (Han and kana characters are tokens of their own), pages without any text,
mean and 95th percentile ms per page, and which pass produced each body. The cascade's
thresholds were chosen on these sets only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ingest.errors import ExtractionError  # noqa: E402
from ingest.extract.page import EXTRACTION_PASSES, clean_text, extract_page  # noqa: E402

# Japanese and Chinese are written without spaces: each Han or kana character is a token.
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|\w+")


@dataclass(frozen=True)
class DevPage:
    name: str
    url: str
    html: str
    expected: str  # the article's text, paragraphs separated by blank lines


@dataclass
class Scores:
    precision: float
    recall: float
    f1: float
    empty: int  # pages where nothing was extracted
    mean_ms: float
    p95_ms: float
    methods: Counter[str] = field(default_factory=Counter)
    pages: int = 0


def shingles(text: str, n: int) -> set[tuple[str, ...]]:
    tokens = _TOKEN.findall(text.casefold())
    return {tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1))}


def shingle_scores(expected: str, got: str, n: int = 4) -> tuple[float, float, float]:
    """Precision, recall and F1 of `got`'s word n-grams against `expected`'s."""
    want, have = shingles(expected, n), shingles(got, n) if got.strip() else set()
    common = len(want & have)
    precision, recall = common / max(1, len(have)), common / max(1, len(want))
    f1 = 2 * precision * recall / (precision + recall) if common else 0.0
    return precision, recall, f1


def shared_pages(shared: Path) -> Iterator[DevPage]:
    corpus = shared / "corpus"
    for line in (corpus / "pages.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        html = gzip.decompress((corpus / row["file"]).read_bytes()).decode("utf-8")
        yield DevPage(
            Path(row["file"]).name.removesuffix(".html.gz"), row["url"], html, row["body"]
        )


def readability_pages(root: Path) -> Iterator[DevPage]:
    from lxml.html import fromstring

    for folder in sorted(p for p in root.iterdir() if (p / "expected.html").exists()):
        source = folder / "source.html"
        if not source.exists() or source.stat().st_size < 15_000:
            continue
        expected_tree = fromstring((folder / "expected.html").read_text(encoding="utf-8"))
        expected = clean_text("\n".join(expected_tree.itertext()))
        if len(_TOKEN.findall(expected)) < 150:
            continue
        html = source.read_text(encoding="utf-8", errors="replace")
        yield DevPage(folder.name, f"http://fakehost/{folder.name}/", html, expected)


Extractor = Callable[[DevPage], tuple[str, str]]  # -> (body, method)


def mediamon(page: DevPage) -> tuple[str, str]:
    try:
        extraction = extract_page(page.html, page.url)
    except ExtractionError as exc:
        return "", exc.reason
    return extraction.body, extraction.method


def first_pass_only(page: DevPage) -> tuple[str, str]:
    try:
        extraction = extract_page(page.html, page.url, passes=EXTRACTION_PASSES[:1])
    except ExtractionError as exc:
        return "", exc.reason
    return extraction.body, extraction.method


def trafilatura_defaults(page: DevPage) -> tuple[str, str]:
    import trafilatura

    return clean_text(trafilatura.extract(page.html, url=page.url) or ""), "default"


EXTRACTORS: dict[str, Extractor] = {
    "mediamon (cascade)": mediamon,
    "first pass only": first_pass_only,
    "trafilatura defaults": trafilatura_defaults,
}


def evaluate(pages: list[DevPage], extractor: Extractor) -> Scores:
    rows, times, methods = [], [], Counter[str]()
    for page in pages:
        began = time.perf_counter()
        body, method = extractor(page)
        times.append((time.perf_counter() - began) * 1000)
        methods[method] += 1
        rows.append(shingle_scores(page.expected, body))
    ordered = sorted(times)
    return Scores(
        precision=statistics.mean(r[0] for r in rows),
        recall=statistics.mean(r[1] for r in rows),
        f1=statistics.mean(r[2] for r in rows),
        empty=sum(1 for r in rows if r[0] == r[1] == 0),
        mean_ms=statistics.mean(times),
        p95_ms=ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        methods=methods,
        pages=len(pages),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_shared = Path(os.environ.get("MEDIAMON_SHARED", REPO.parent / "shared"))
    parser.add_argument("--shared", type=Path, default=default_shared)
    parser.add_argument("--readability", type=Path, help="mozilla/readability's test-pages")
    parser.add_argument("--json", type=Path, help="Also write every figure to this file.")
    args = parser.parse_args()

    sets: dict[str, list[DevPage]] = {}
    if (args.shared / "corpus" / "pages.jsonl").exists():
        sets["shared corpus"] = list(shared_pages(args.shared))
    if args.readability:
        sets["readability test pages"] = list(readability_pages(args.readability))
    if not sets:
        sys.exit("no development set: give --shared or --readability")
    figures: dict[str, dict[str, object]] = {}
    for set_name, pages in sets.items():
        print(f"\n{set_name}: {len(pages)} pages")
        print(f"  {'extractor':22} {'P':>6} {'R':>6} {'F1':>6} {'empty':>5} {'ms':>6} {'p95':>6}")
        for name, extractor in EXTRACTORS.items():
            scores = evaluate(pages, extractor)
            print(
                f"  {name:22} {scores.precision:6.3f} {scores.recall:6.3f} {scores.f1:6.3f} "
                f"{scores.empty:5d} {scores.mean_ms:6.1f} {scores.p95_ms:6.1f}  "
                f"{dict(scores.methods)}"
            )
            figures[f"{set_name} / {name}"] = {**scores.__dict__, "methods": dict(scores.methods)}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
