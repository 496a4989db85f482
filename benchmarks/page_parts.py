"""What a page costs in a worker beyond trafilatura's own extraction (issue #20).

`python -m benchmarks.page_parts [--shared DIR] [--rounds N] [--profile FILE] [--outputs FILE]`

Over the shared corpus's pages (as `benchmarks.bound` and the site serve them) and the demo
corpus's pages (every article's first-pass page), in one process, CPU time
(`time.process_time`) per page, median of `--rounds` passes, the parts interleaved within
each pass so that drift hits them alike:

    trafilatura     trafilatura.extract with mediamon's options (the bound's extractor)
    extract_page    ingest.extract.page.extract_page: parse, metadata and dates, the cascade
    tag_language    ingest.extract.language.tag_language on "title\\nbody", as analyse_page calls it
    fingerprint     ingest.stories.minhash.fingerprint of the body
    analyse_page    ingest.extract.pool.analyse_page: all of the above in one call

and `beyond` = analyse_page - trafilatura, the figure this benchmark exists to drive down
(`extract_beyond` = extract_page - trafilatura), each the median of the passes' own
differences.
`--against DIR --part PART` times one part (extract_page, tag_language or fingerprint) as
this checkout has it against the same function of the ingest package in DIR (another
checkout of the same layout, loaded under another name), on the same inputs, alternating
call by call (which goes first changes every round), and prints both medians and their
ratio: an A/B that the machine's other load moves alike. Both must give equal results on every page.
`--profile FILE` writes a cProfile of analyse_page over the pages (one pass) and prints its
top entries; `--outputs FILE` writes every page's stored fields (title, body, dates,
language, minhash, band keys...) as JSON lines, to compare two versions of ingest for
equality (`cmp` the files).
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.bound import _trafilatura_as_mediamon
from benchmarks.site import load_corpus
from ingest import stories
from ingest.demo.corpus import load_corpus as load_demo
from ingest.demo.pages import render_page
from ingest.errors import ExtractionError
from ingest.extract.language import tag_language
from ingest.extract.page import extract_page
from ingest.extract.pool import analyse_page, warm_up
from ingest.models import LanguageHint

Page = tuple[str, str, str]  # set name, html, url


def pages(shared: Path | None) -> list[Page]:
    """The shared corpus's pages (if `shared` holds one) and the demo corpus's pages, those
    with article text (a page without any raises before the language and fingerprint)."""
    found: list[Page] = []
    if shared is not None and (shared / "corpus" / "pages.jsonl").exists():
        out = Path(tempfile.gettempdir()) / f"page_parts-{os.getuid()}"
        for page in load_corpus(shared, out):
            found.append(("shared", page.html_path.read_text(encoding="utf-8"), page.url))
    demo = load_demo()
    base = "http://127.0.0.1:8000"
    for article in demo.articles:
        if article.in_pass(1):
            html = render_page(article, demo, 1, base).decode(article.charset)
            found.append(("demo", html, f"{base}/{article.id}"))
    return [page for page in found if _has_text(*page)]


def _has_text(_set: str, html: str, url: str) -> bool:
    try:
        extract_page(html, url)
    except ExtractionError:
        return False
    return True


def _parts(html: str, url: str) -> dict[str, Callable[[], object]]:
    """The calls to time for one page (the language and fingerprint on extract_page's output,
    computed once beforehand, as analyse_page would pass them)."""
    extraction = extract_page(html, url)
    declared = LanguageHint(extraction.html_lang, "page") if extraction.html_lang else None
    text = f"{extraction.title}\n{extraction.body}"
    return {
        "trafilatura": lambda: _trafilatura_as_mediamon(html, url),
        "extract_page": lambda: extract_page(html, url),
        "tag_language": lambda: tag_language(text, declared),
        "fingerprint": lambda: stories.fingerprint(extraction.body),
        "analyse_page": lambda: analyse_page(html, url),
    }


def measure(found: list[Page], rounds: int) -> dict[str, dict[str, Any]]:
    """Per set ("shared", "demo", "all"): median CPU ms per page of each part."""
    calls = [(name, _parts(html, url)) for name, html, url in found]
    names = list(calls[0][1])
    times: dict[str, dict[str, list[float]]] = {}
    for _ in range(rounds):
        spent = {(s, n): 0.0 for s in ("shared", "demo") for n in names}
        for set_name, parts in calls:
            for name, call in parts.items():
                started = time.process_time()
                call()
                spent[set_name, name] += time.process_time() - started
        counts = {s: sum(1 for n, _ in calls if n == s) for s in ("shared", "demo")}
        counts["all"] = len(calls)
        for set_name in ("shared", "demo", "all"):
            if not counts[set_name]:
                continue
            row = times.setdefault(set_name, {n: [] for n in [*names, "extract_beyond", "beyond"]})
            for name in names:
                total = sum(spent[s, name] for s in ("shared", "demo") if set_name in (s, "all"))
                row[name].append(total * 1000 / counts[set_name])
            row["extract_beyond"].append(row["extract_page"][-1] - row["trafilatura"][-1])
            row["beyond"].append(row["analyse_page"][-1] - row["trafilatura"][-1])
    return {
        set_name: {
            "pages": sum(1 for n, _ in calls if set_name in (n, "all")),
            **{name: round(statistics.median(v), 3) for name, v in row.items()},
        }
        for set_name, row in times.items()
    }


_PART_MODULES = {
    "extract_page": "extract/page.py",
    "tag_language": "extract/language.py",
    "fingerprint": "stories/minhash.py",
}


def against(found: list[Page], other: Path, part: str, rounds: int) -> dict[str, float]:
    """CPU ms per page of `part` here and in the checkout `other`, alternating per call."""
    spec = importlib.util.spec_from_file_location(
        f"_other_{part}", other / "ingest" / _PART_MODULES[part]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    theirs = getattr(module, part)
    ours = {"extract_page": extract_page, "tag_language": tag_language}.get(
        part, stories.fingerprint
    )
    inputs: list[tuple[Any, ...]] = []
    for _, html, url in found:
        if part == "extract_page":
            inputs.append((html, url))
            continue
        extraction = extract_page(html, url)
        if part == "fingerprint":
            inputs.append((extraction.body,))
        else:
            hint = LanguageHint(extraction.html_lang, "page") if extraction.html_lang else None
            inputs.append((f"{extraction.title}\n{extraction.body}", hint))
    for args in inputs:  # warm up both, and check that they agree
        assert repr(ours(*args)) == repr(theirs(*args)), args[-1]  # classes of two modules
    spent: dict[str, list[float]] = {"here": [], "there": []}
    pair = [("here", ours), ("there", theirs)]
    for _ in range(rounds):
        totals = {"here": 0.0, "there": 0.0}
        pair.reverse()  # each goes first in every other round
        for args in inputs:
            for name, call in pair:
                started = time.process_time()
                call(*args)
                totals[name] += time.process_time() - started
        for name, total in totals.items():
            spent[name].append(total * 1000 / len(inputs))
    here, there = (statistics.median(spent[name]) for name in ("here", "there"))
    return {"here": round(here, 3), "there": round(there, 3), "ratio": round(here / there, 3)}


def outputs(found: list[Page], path: Path) -> None:
    """Every page's stored fields, one JSON line per page, in page order."""
    with path.open("w", encoding="utf-8") as out:
        for _, html, url in found:
            extraction, language = analyse_page(html, url)
            record = {"url": url, "extraction": asdict(extraction), "language": asdict(language)}
            out.write(json.dumps(record, default=str, ensure_ascii=False, sort_keys=True) + "\n")


def profile(found: list[Page], path: Path) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _, html, url in found:
        analyse_page(html, url)
    profiler.disable()
    profiler.dump_stats(path)
    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.page_parts", description=__doc__)
    parser.add_argument("--shared", type=Path, help="the shared folder holding corpus/")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the pages")
    parser.add_argument("--profile", type=Path, metavar="FILE", help="cProfile of analyse_page")
    parser.add_argument("--outputs", type=Path, metavar="FILE", help="every page's fields")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    parser.add_argument("--against", type=Path, metavar="DIR", help="another checkout")
    parser.add_argument("--part", choices=sorted(_PART_MODULES), default="extract_page")
    parser.add_argument("--only", choices=["shared", "demo"], help="one set of pages alone")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    found = [page for page in pages(args.shared) if args.only in (None, page[0])]
    warm_up()
    if args.outputs:
        outputs(found, args.outputs)
    if args.against:
        print(args.part, against(found, args.against, args.part, args.rounds))
        return 0
    if args.profile:
        profile(found, args.profile)
        return 0
    result = measure(found, args.rounds)
    for set_name, row in result.items():
        print(f"{set_name:7}", "  ".join(f"{k} {v}" for k, v in row.items()))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
